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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.text import Text

from engine.dn import InvalidDnError, rdn_value
from engine.escape import json_safe, md_code, md_text, printable, printable_many
from engine.model import (
    AppAssignment,
    DirectoryGroup,
    GroupMember,
    OktaApp,
    OktaGroup,
    Role,
    SamlProvider,
    System,
    UserMember,
)
from engine.plan import (
    AccessChange,
    Action,
    Change,
    Finding,
    FindingKind,
    Plan,
    Resource,
    ResourceKind,
)
from engine.saved_plan import plan_to_json

__all__ = ["render_json", "render_markdown", "render_text"]

NO_CHANGES = "No changes. Live state matches the desired state."
_STYLE = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.DELETE: "red"}
_SYSTEM_TITLE = {System.AWS: "AWS", System.DIRECTORY: "Directory", System.OKTA: "Okta"}


@dataclass(frozen=True)
class _Detail:
    """`<marker> <path>: <old> → <new>`; `+`/`-` details have one side only."""

    marker: str
    path: str
    old: str = ""
    new: str = ""


@dataclass(frozen=True)
class _Entry:
    """One rendered change: `<sign> <body>  <old> → <new>   (<note>)`, details below."""

    sign: Action
    body: str
    note: str = ""
    details: tuple[_Detail, ...] = ()
    inline: tuple[str, str] | None = None  # an attribute change shown on the head line
    sep: str = "  "  # between body and inline change


@dataclass(frozen=True)
class _Section:
    system: System
    title: str
    entries: list[_Entry] = field(default_factory=list)


# --- Values and names ------------------------------------------------------------------


def _value(value: Any) -> str:
    """A detail value as a reviewer reads it: strings quoted but not JSON-escaped (a
    group filter's backslashes stay single) unless they hold quotes or control chars."""
    if isinstance(value, str):
        if '"' in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
            return json.dumps(value, ensure_ascii=False)
        return f'"{value}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_value(str(k))}: {_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _short_digests(before: str, after: str) -> tuple[str, str]:
    # Four hex digits (docs/cli.md §Plan output), more only when needed to tell them apart.
    n = 4
    while n < min(len(before), len(after)) and before[:n] == after[:n]:
        n += 1
    return before[:n] + "…", after[:n] + "…"


class _Names:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.aliases = {a.account_id: a.account_alias for a in plan.access_delta}
        self.aliases.update({k: v for k, v in plan.names.accounts.items() if v})

    def account(self, account_id: str) -> str:
        alias = self.aliases.get(account_id)
        return f"{alias} ({account_id})" if alias else account_id

    def group(self, dn: str) -> str:
        name = self.plan.names.groups.get(dn)
        if name:
            return name
        try:
            return rdn_value(dn)
        except InvalidDnError:
            return dn

    def okta_app(self) -> str:
        if self.plan.names.okta_app:
            return self.plan.names.okta_app
        apps = [c.resource for c in self.plan.changes if isinstance(c.resource, OktaApp)]
        return apps[0].label if apps else ""


# --- Changes ---------------------------------------------------------------------------


def _details(change: Change, *, skip: frozenset[str] = frozenset()) -> tuple[_Detail, ...]:
    # The diff reports an item added to (removed from) a list against the list's path
    # with the other side None: that reads as `+ path: item` (`- path: item`).
    out = []
    for d in change.details:
        if d.path in skip:
            continue
        if d.before is None and d.after is not None:
            out.append(_Detail("+", d.path, new=_value(d.after)))
        elif d.after is None and d.before is not None:
            out.append(_Detail("-", d.path, old=_value(d.before)))
        else:
            out.append(_Detail("~", d.path, _value(d.before), _value(d.after)))
    return tuple(out)


def _note(change: Change) -> str:
    notes = []
    if change.waits_for:
        notes.append(f"waits for {change.waits_for}")
    before, after = change.before, change.after
    if (
        isinstance(before, Role | SamlProvider)
        and isinstance(after, Role | SamlProvider)
        and not before.managed
        and after.managed
    ):
        notes.append("adopt: add managed tag")
    if change.destructive and change.action is Action.UPDATE:
        notes.append("destructive")
    if change.kind is ResourceKind.OKTA_GROUP_MEMBER and change.reason:
        # Kind okta: which management group puts a user into a role group (Okta cannot
        # nest, so the plan is the only place a reviewer sees it).
        notes.append(change.reason)
    return "; ".join(notes)


def _subject(resource: Resource, names: _Names) -> str:
    if isinstance(resource, SamlProvider):
        return f"saml-provider {resource.name}"
    if isinstance(resource, Role):
        return f"role {resource.name}"
    if isinstance(resource, DirectoryGroup | OktaGroup):
        return f"group {resource.name}"
    if isinstance(resource, GroupMember):
        return f"member {names.group(resource.member_dn)} → {names.group(resource.group_dn)}"
    if isinstance(resource, UserMember):
        return f"user {resource.login} → {names.group(resource.group)}"
    if isinstance(resource, AppAssignment):
        return f"assign {resource.group_name}"
    return f"app {resource.label}"


def _entries(change: Change, names: _Names) -> list[_Entry]:
    resource, note = change.resource, _note(change)
    if isinstance(resource, OktaApp) and change.action is Action.UPDATE and change.details:
        # Each setting is its own line, as Okta's admin console shows them.
        return [
            _Entry(Action.UPDATE, d.path, note, inline=(_value(d.before), _value(d.after)))
            for d in change.details
        ]
    body = _subject(resource, names)
    skip: frozenset[str] = frozenset()
    inline = None
    before, after = change.before, change.after
    if isinstance(before, SamlProvider) and isinstance(after, SamlProvider):
        if before.metadata_sha256 != after.metadata_sha256:
            inline = _short_digests(before.metadata_sha256, after.metadata_sha256)
            body += "  metadata sha256"
        skip = frozenset({"metadata_sha256"})
    return [_Entry(change.action, body, note, _details(change, skip=skip), inline, sep=" ")]


def _sections(plan: Plan, names: _Names) -> list[_Section]:
    by_account: dict[str, _Section] = {}
    directory = _Section(System.DIRECTORY, "Directory")
    okta_app = names.okta_app()
    okta = _Section(System.OKTA, f"Okta ({okta_app})" if okta_app else "Okta")
    for change in plan.changes:
        resource = change.resource
        if isinstance(resource, SamlProvider | Role):
            account = resource.account_id
            section = by_account.setdefault(
                account, _Section(System.AWS, f"AWS {names.account(account)}")
            )
        elif change.system is System.AWS:
            section = by_account.setdefault("", _Section(System.AWS, "AWS"))
        else:
            section = directory if change.system is System.DIRECTORY else okta
        section.entries.extend(_entries(change, names))
    aws = [by_account[k] for k in sorted(by_account)]
    return [s for s in [*aws, directory, okta] if s.entries]


# --- Access, findings, summary ---------------------------------------------------------


def _access_rows(plan: Plan, names: _Names) -> list[tuple[AccessChange, str]]:
    return [(a, f"{names.account(a.account_id)} / {a.role}") for a in plan.access_delta]


def _ranked_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Security first, then what blocks the plan, then notes; plan order within each."""

    def rank(f: Finding) -> int:
        return 0 if f.kind is FindingKind.ROGUE_GROUP else 1 if f.blocking else 2

    return sorted(findings, key=rank)


def _finding_label(f: Finding) -> tuple[str, str, str]:
    """(marker, label, style)."""
    label = f.kind.value.replace("_", " ")
    if f.kind is FindingKind.ROGUE_GROUP:
        return "!!", f"SECURITY {label}", "bold red"
    if f.blocking:
        return "! ", label, "red"
    return "· ", label, "dim"


def _summary(plan: Plan) -> str:
    if plan.empty:
        if plan.blocked:
            return "No changes can be planned until the blocking findings are resolved."
        return NO_CHANGES
    counts = plan.counts()
    return (
        f"Plan: {counts[Action.CREATE]} to add, {counts[Action.UPDATE]} to change, "
        f"{counts[Action.DELETE]} to destroy."
    )


def _refusal(plan: Plan) -> str | None:
    if plan.guard:
        return f"Apply will refuse: {plan.guard}"
    blocking = sum(1 for f in plan.findings if f.blocking)
    if blocking:
        s = "" if blocking == 1 else "s"
        return f"Apply will refuse: {blocking} blocking finding{s} (see Findings)."
    return None


def _target(plan: Plan) -> str:
    line = f"Target: {plan.target}"
    if plan.options.systems != frozenset(System):
        only = ", ".join(sorted(s.value for s in plan.options.systems))
        line += f" (only {only}; other systems were not planned)"
    return line


# --- Text ------------------------------------------------------------------------------


def _entry_lines(entry: _Entry, *, width: int, sign: str) -> list[tuple[str, str]]:
    """(text, style) lines of one entry. A change too wide for one line is split into
    its old and new value on lines of their own, never cut: reviewers must see it all."""
    # Escaped before measuring: the width is that of what the terminal will show.
    note = f"   ({printable(entry.note)})" if entry.note else ""
    body = printable(entry.body)
    style = _STYLE[entry.sign]
    lines: list[tuple[str, str]] = []
    if entry.inline is None:
        lines.append((f"{sign} {body}{note}", style))
    else:
        old, new = (printable(v) for v in entry.inline)
        head = f"{sign} {body}{entry.sep}{old} → {new}{note}"
        if len(head) <= width:
            lines.append((head, style))
        else:
            lines += [(f"{sign} {body}{note}", style)]
            lines += [(f"      - {old}", "red"), (f"      + {new}", "green")]
    for d in entry.details:
        path, old, new = printable(d.path), printable(d.old), printable(d.new)
        if d.marker != "~":
            value = new if d.marker == "+" else old
            lines.append((f"    {d.marker} {path}: {value}", _STYLE[Action(d.marker)]))
            continue
        line = f"    ~ {path}: {old} → {new}"
        if len(line) <= width:
            lines.append((line, ""))
        else:
            lines += [(f"    ~ {path}:", ""), (f"        - {old}", "red")]
            lines.append((f"        + {new}", "green"))
    return lines


def _removal_label(change: Change, names: _Names) -> str:
    """A change that can take access away, on one line: `- role Admin in prod (1111…)`."""
    resource = change.resource
    label = f"{change.action.value} {_subject(resource, names)}"
    if isinstance(resource, Role | SamlProvider):
        label += f" in {names.account(resource.account_id)}"
    if change.action is Action.UPDATE:
        label += " (destructive)"
    return label


ACCESS_SEEN = "As far as the systems read show:"
ACCESS_CHECK = "Changes that can take access away (check who loses what by hand):"
ACCESS_NO_REMOVALS = "No change in this plan takes access away."


_PENDING_LATER = " until the directory import; then many do (see the pending access finding)"


def _pending_unlisted(plan: Plan) -> bool:
    """Whether access changes too many to list follow the directory import: an empty
    delta must not read as "none" then."""
    return any(f.kind is FindingKind.PENDING_ACCESS for f in plan.findings)


def _access_text(plan: Plan, names: _Names) -> list[tuple[str, str]]:
    """The access section: the delta, or (when it cannot be complete) why, what the
    systems read show, and the changes that can take access away. Never "none" then."""
    out: list[tuple[str, str]] = []
    pairs = _access_rows(plan, names)
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
    elif _pending_unlisted(plan):
        out.append((f"Access changes: no user gains or loses access{_PENDING_LATER}", "bold"))
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
            out += [(f"    {printable(_removal_label(c, names))}", "red") for c in removals]
        else:
            out.append((f"  {ACCESS_NO_REMOVALS}", ""))
    return out


def _text_lines(plan: Plan, *, width: int) -> list[tuple[str, str]]:
    names = _Names(plan)
    out = _access_text(plan, names)
    for section in _sections(plan, names):
        out.append((printable(section.title), "bold"))
        for entry in section.entries:
            for text, style in _entry_lines(entry, width=width - 2, sign=entry.sign.value):
                out.append(("  " + text, style))
    if plan.findings:
        out.append(("Findings", "bold"))
        for f in _ranked_findings(plan.findings):
            marker, label, style = _finding_label(f)
            said = printable(f"{f.subject}: {f.message}")
            out.append((f"  {marker} {label} [{f.system.value}] {said}", style))
    out.append((_summary(plan), "bold"))
    refusal = _refusal(plan)
    if refusal:
        out.append((printable(refusal), "bold red"))
    out.append((printable(_target(plan)), "dim"))
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

_MD_SIGN = {Action.CREATE: "+", Action.UPDATE: "!", Action.DELETE: "-"}
_md, _md_code = md_text, md_code


def _md_block(lines: Sequence[str]) -> list[str]:
    lines = [printable(line) for line in lines]
    runs = [len(r) for line in lines for r in re.findall(r"`{3,}", line)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return [f"{fence}diff", *lines, fence]


# Beyond this many access lines, a pull-request comment (GitHub: 65,536 characters)
# shows one line per (account, role) with its users counted; text and JSON list them all.
MARKDOWN_ACCESS_LINES = 300
_NAMED_USERS = 5


def _markdown_access_by_slot(rows: list[tuple[AccessChange, str]]) -> list[str]:
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


def _access_markdown(plan: Plan, names: _Names) -> list[str]:
    """The access section in markdown; as `_access_text` says."""
    rows = _access_rows(plan, names)
    if not rows and plan.empty and not plan.access_unknown:
        return []
    out = ["", "#### Access changes", ""]
    if plan.access_unknown:
        out += ["> [!WARNING]", f"> **Unknown:** {_md(plan.access_unknown)}", ""]
        if rows:
            out += [ACCESS_SEEN, ""]
    if len(rows) > MARKDOWN_ACCESS_LINES:
        out += _markdown_access_by_slot(rows)
    else:
        for a, what in rows:
            sign, verb = ("➕", "gains") if a.gained else ("➖", "loses")
            via = f" via {', '.join(_md_code(v) for v in a.via)}" if a.via else ""
            later = f" _(after the {_md(a.waits_for)})_" if a.waits_for else ""
            out.append(f"- {sign} **{_md(a.user)}** {verb} {_md_code(what)}{via}{later}")
    if not plan.access_unknown:
        if not rows:
            out.append(
                "No user gains or loses access"
                + (_PENDING_LATER if _pending_unlisted(plan) else "")
                + "."
            )
        return out
    removals = plan.access_removals
    if rows:
        out.append("")
    if removals:
        out += [ACCESS_CHECK, ""]
        out += [f"- {_md_code(_removal_label(c, names))}" for c in removals]
    else:
        out.append(ACCESS_NO_REMOVALS)
    return out


def render_markdown(plan: Plan) -> str:
    """The plan for a pull-request comment: summary line, access delta, one collapsible
    ```diff section per system, findings, target."""
    names = _Names(plan)
    out = [f"**{_summary(plan)}**"]
    refusal = _refusal(plan)
    if refusal:
        out += ["", "> [!CAUTION]", f"> {_md(refusal)}"]
    out += _access_markdown(plan, names)
    by_system: dict[System, list[_Section]] = {}
    for section in _sections(plan, names):
        by_system.setdefault(section.system, []).append(section)
    for system, sections in by_system.items():
        lines: list[str] = []
        for section in sections:
            if system is System.AWS or system is System.OKTA:
                lines.append(f"@@ {section.title} @@")
            for entry in section.entries:
                sign = _MD_SIGN[entry.sign]
                lines += [text for text, _ in _entry_lines(entry, width=100, sign=sign)]
        count = sum(1 for c in plan.changes if c.system is system)
        s = "" if count == 1 else "s"
        out += ["", f"<details><summary>{_SYSTEM_TITLE[system]} ({count} change{s})</summary>", ""]
        out += [*_md_block(lines), "", "</details>"]
    if plan.findings:
        out += ["", "#### Findings", ""]
        for f in _ranked_findings(plan.findings):
            _, label, _ = _finding_label(f)
            icon = "🚨" if f.kind is FindingKind.ROGUE_GROUP else "⛔" if f.blocking else "ℹ️"
            out.append(
                f"- {icon} **{label}** ({f.system.value}) {_md_code(f.subject)}: {_md(f.message)}"
            )
    out += ["", _md(_target(plan))]
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
