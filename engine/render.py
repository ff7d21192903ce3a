"""Plan renderings: text for terminals, markdown for pull-request comments, JSON for tools.

Formatting only: every decision (what changes, in which order, what blocks) was made by
`diff` and `order` and is read from the Plan. Reviewers read the access delta first
(who gains or loses which role: what no other tool shows), then one section per system
with the plan's own order kept inside each section, then findings, the summary line
and the target. Output is deterministic: the same plan always renders the same bytes,
so renderings can be golden-tested and diffed between runs.

Text is plain unless `color=True` (the CLI passes whether stdout is a TTY): then rich
colours it (green +, yellow ~, red -, security findings bold red). Markdown wraps each
system's lines in a collapsible ```diff block, writing `~` as `!` so GitHub highlights
updates. Names come from live systems and pull requests: every output escapes control
characters, and markdown escapes formatting, HTML and mentions (`engine.escape`).

When the plan could not see everything that decides access (`Plan.access_unknown`),
the access section says so, never "none", and lists the changes that can take access
away for the reviewer to check by hand.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from engine.escape import json_safe, md_code, md_text, printable, printable_many
from engine.model import System
from engine.plan import AccessChange, Action, Finding, FindingKind, Plan
from engine.render_parts import (
    ACCESS_CHECK,
    ACCESS_NO_REMOVALS,
    ACCESS_SEEN,
    NO_CHANGES,
    PENDING_LATER,
    SYSTEM_TITLE,
    Names,
    Section,
    access_rows,
    entry_lines,
    finding_label,
    pending_unlisted,
    ranked_findings,
    refusal_line,
    removal_label,
    sections_of,
    summary_line,
    target_line,
)
from engine.saved_plan import plan_to_json

__all__ = [
    "MARKDOWN_ACCESS_LINES",
    "MD_SIGN",
    "NO_CHANGES",
    "markdown_access_by_slot",
    "markdown_access_line",
    "markdown_finding_line",
    "md_block",
    "render_json",
    "render_markdown",
    "render_text",
]


def _access_text(plan: Plan, names: Names) -> list[tuple[str, str]]:
    """The access section: the delta, or (when it cannot be complete) why, what the
    systems read show, and the changes that can take access away. Never "none" then."""
    out: list[tuple[str, str]] = []
    pairs = access_rows(plan, names)
    # A whole org's first plan has ~770,000 rows: names are checked in one pass.
    users = printable_many([a.user for a, _ in pairs])
    whats = printable_many([what for _, what in pairs])
    vias = printable_many([", ".join(a.via) for a, _ in pairs])
    rows = list(zip((a for a, _ in pairs), users, whats, vias, strict=True))
    if plan.access_unknown:
        out.append((f"Access changes: unknown: {printable(plan.access_unknown)}", "bold yellow"))
        if rows:
            out.append((f"  {ACCESS_SEEN}", ""))
    elif rows:
        out.append(("Access changes", "bold"))
    elif pending_unlisted(plan):
        out.append((f"Access changes: no user gains or loses access{PENDING_LATER}", "bold"))
    elif not plan.empty:
        out.append(("Access changes: none", "bold"))
    if rows:
        user_w = max(len(user) for _, user, _, _ in rows)
        what_w = max(len(what) for _, _, what, _ in rows)
        for a, user, what, via_names in rows:
            sign, verb = ("+", "gains") if a.gained else ("-", "loses")
            line = f"  {sign} {user:<{user_w}}   {verb}  {what:<{what_w}}"
            via = f"   via {via_names}" if a.via else ""
            later = f"   (after the {printable(a.waits_for)})" if a.waits_for else ""
            out.append(((line + via + later).rstrip(), "green" if a.gained else "red"))
    if plan.access_unknown:
        removals = plan.access_removals
        if removals:
            out.append((f"  {ACCESS_CHECK}", "bold"))
            out += [(f"    {printable(removal_label(c, names))}", "red") for c in removals]
        else:
            out.append((f"  {ACCESS_NO_REMOVALS}", ""))
    return out


def _text_lines(plan: Plan, *, width: int) -> list[tuple[str, str]]:
    names = Names(plan)
    out = _access_text(plan, names)
    for section in sections_of(plan, names):
        out.append((printable(section.title), "bold"))
        for entry in section.entries:
            for text, style in entry_lines(entry, width=width - 2, sign=entry.sign.value):
                out.append(("  " + text, style))
    if plan.findings:
        out.append(("Findings", "bold"))
        for f in ranked_findings(plan.findings):
            marker, label, style = finding_label(f)
            said = printable(f"{f.subject}: {f.message}")
            out.append((f"  {marker} {label} [{f.system.value}] {said}", style))
    out.append((summary_line(plan), "bold"))
    refusal = refusal_line(plan)
    if refusal:
        out.append((printable(refusal), "bold red"))
    out.append((printable(target_line(plan)), "dim"))
    return out


def render_text(plan: Plan, *, color: bool = False, width: int = 100) -> str:
    """The plan for a terminal (docs/cli.md §Plan output). `width` decides when an attribute detail
    is split over lines; nothing is ever truncated."""
    lines = _text_lines(plan, width=width)
    if not color:
        return "".join(text + "\n" for text, _ in lines)
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=True,
        color_system="standard",
        no_color=False,
        width=max(width, 20),
        soft_wrap=True,
        highlight=False,
        emoji=False,
        markup=False,
        legacy_windows=False,
    )
    for text, style in lines:
        console.print(Text(text, style=style))
    return buffer.getvalue()


# --- Markdown --------------------------------------------------------------------------

MD_SIGN = {Action.CREATE: "+", Action.UPDATE: "!", Action.DELETE: "-"}
_md, _md_code = md_text, md_code


def md_block(lines: Sequence[str]) -> list[str]:
    lines = [printable(line) for line in lines]
    runs = [len(r) for line in lines for r in re.findall(r"`{3,}", line)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return [f"{fence}diff", *lines, fence]


# Beyond this many access lines, a pull-request comment (GitHub: 65,536 characters)
# shows one line per (account, role) with its users counted; text and JSON list them all.
MARKDOWN_ACCESS_LINES = 300
_NAMED_USERS = 5


def markdown_access_by_slot(rows: list[tuple[AccessChange, str]]) -> list[str]:
    slots: dict[tuple[str, bool, str | None], list[AccessChange]] = {}
    for a, what in rows:
        slots.setdefault((what, a.gained, a.waits_for), []).append(a)
    out = [
        f"_{len(rows):,} access changes in {len(slots):,} account roles, one line per account "
        "role here; `okta-aws plan` (text or JSON) lists every user._",
        "",
    ]
    for (what, gained, waits_for), changes in sorted(
        slots.items(), key=lambda item: (item[0][0], not item[0][1], item[0][2] or "")
    ):
        users = sorted({a.user for a in changes})
        one = len(users) == 1
        sign, verb = (
            ("➕", "gains" if one else "gain") if gained else ("➖", "loses" if one else "lose")
        )
        named = ", ".join(_md(u) for u in users[:_NAMED_USERS])
        more = f", … {len(users) - _NAMED_USERS:,} more" if len(users) > _NAMED_USERS else ""
        via = sorted({v for a in changes for v in a.via})
        via_text = f" via {', '.join(_md_code(v) for v in via)}" if via else ""
        later = f" _(after the {_md(waits_for)})_" if waits_for else ""
        out.append(
            f"- {sign} **{len(users):,} user{'' if one else 's'}** {verb} {_md_code(what)}"
            f"{via_text}{later}: "
            f"{named}{more}"
        )
    return out


def markdown_access_line(a: AccessChange, what: str) -> str:
    """One access change as a markdown list item (`what` is `account / role`)."""
    sign, verb = ("➕", "gains") if a.gained else ("➖", "loses")
    via = f" via {', '.join(_md_code(v) for v in a.via)}" if a.via else ""
    later = f" _(after the {_md(a.waits_for)})_" if a.waits_for else ""
    return f"- {sign} **{_md(a.user)}** {verb} {_md_code(what)}{via}{later}"


def _access_markdown(plan: Plan, names: Names) -> list[str]:
    """The access section in markdown; as `_access_text` says."""
    rows = access_rows(plan, names)
    if not rows and plan.empty and not plan.access_unknown:
        return []
    out = ["", "#### Access changes", ""]
    if plan.access_unknown:
        out += ["> [!WARNING]", f"> **Unknown:** {_md(plan.access_unknown)}", ""]
        if rows:
            out += [ACCESS_SEEN, ""]
    if len(rows) > MARKDOWN_ACCESS_LINES:
        out += markdown_access_by_slot(rows)
    else:
        out += [markdown_access_line(a, what) for a, what in rows]
    if not plan.access_unknown:
        if not rows:
            out.append(
                "No user gains or loses access"
                + (PENDING_LATER if pending_unlisted(plan) else "")
                + "."
            )
        return out
    removals = plan.access_removals
    if rows:
        out.append("")
    if removals:
        out += [ACCESS_CHECK, ""]
        out += [f"- {_md_code(removal_label(c, names))}" for c in removals]
    else:
        out.append(ACCESS_NO_REMOVALS)
    return out


def markdown_finding_line(f: Finding) -> str:
    """One finding as a markdown list item: 🚨 security, ⛔ blocking, ℹ️ a note."""
    _, label, _ = finding_label(f)
    icon = "🚨" if f.kind is FindingKind.ROGUE_GROUP else "⛔" if f.blocking else "ℹ️"
    return f"- {icon} **{label}** ({f.system.value}) {_md_code(f.subject)}: {_md(f.message)}"


def render_markdown(plan: Plan) -> str:
    """The plan for a pull-request comment: summary line, access delta, one collapsible
    ```diff section per system, findings, target."""
    names = Names(plan)
    out = [f"**{summary_line(plan)}**"]
    refusal = refusal_line(plan)
    if refusal:
        out += ["", "> [!CAUTION]", f"> {_md(refusal)}"]
    out += _access_markdown(plan, names)
    by_system: dict[System, list[Section]] = {}
    for section in sections_of(plan, names):
        by_system.setdefault(section.system, []).append(section)
    for system, sections in by_system.items():
        lines: list[str] = []
        for section in sections:
            if system is System.AWS or system is System.OKTA:
                lines.append(f"@@ {section.title} @@")
            for entry in section.entries:
                sign = MD_SIGN[entry.sign]
                lines += [text for text, _ in entry_lines(entry, width=100, sign=sign)]
        count = sum(1 for c in plan.changes if c.system is system)
        s = "" if count == 1 else "s"
        out += ["", f"<details><summary>{SYSTEM_TITLE[system]} ({count} change{s})</summary>", ""]
        out += [*md_block(lines), "", "</details>"]
    if plan.findings:
        out += ["", "#### Findings", ""]
        out += [markdown_finding_line(f) for f in ranked_findings(plan.findings)]
    out += ["", _md(target_line(plan))]
    return "\n".join(out) + "\n"


# --- JSON ------------------------------------------------------------------------------


def render_json(plan: Plan) -> str:
    """The saved-plan document (`schemas/plan.schema.json`), as `plan --out` writes it.

    One top-level key per line and one list item (change, access line, finding) per
    line: reviewers can grep and diff it line by line, and it stays on CPython's C
    encoder (`indent` switches `json.dumps` to the pure-Python one, which was half the
    time of a 60,000-change first plan).
    """
    fields = list(plan_to_json(plan).items())
    lines = ["{"]
    for position, (key, value) in enumerate(fields):
        comma = "," if position < len(fields) - 1 else ""
        if isinstance(value, list) and value:
            items = ",\n".join(f"    {_json(item)}" for item in value)
            lines.append(f"  {_json(key)}: [\n{items}\n  ]{comma}")
        else:
            lines.append(f"  {_json(key)}: {_json(value)}{comma}")
    lines.append("}")
    return json_safe("\n".join(lines) + "\n")


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
