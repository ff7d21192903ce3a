"""The markdown plan cut into pull-request comments that fit, what matters most first.

GitHub refuses a comment over 65,536 characters and a first plan of a large org is
megabytes of markdown, so `plan --out-dir DIR` writes it as parts (`plan-comment-<k>.md`
for k = 1, 2, …), each at most `limit` characters including its `part k of n` header. A reviewer
who reads only part 1 must not miss a deletion, so the parts are not the markdown plan
cut in slices: they open with what can hurt — the summary line, why apply would refuse,
the warning that access could not be seen (`Plan.access_unknown`), every security or
blocking finding, every access loss and every destructive change — and only then give
the rest (access gains, the other changes per system, notes, the target) in plan order.
Each item appears once: concatenated, the parts hold everything.

Parts are cut at line boundaries only. A section cut between two parts is closed at the
end of one (its code fence, its `<details>`) and reopened, marked continued, at the start
of the next, with the `@@ account @@` line the cut fell under; no part ever holds an
unclosed fence. A single line longer than a part can hold is cut visibly (`CUT_MARKER`),
never inside an escape (`\\x1b`, `\\u202e`, `\\*`). Lengths are Python `len` of the text
(code points), which GitHub's limit is counted in for every name okta-aws writes; the
CI templates keep a margin below the limit for their marker line anyway.

`job_summary` is the variant for `$GITHUB_STEP_SUMMARY`, whose limit (1 MiB) is in
UTF-8 bytes: part 1 of a split at that size, and a note when more would follow.

Pure: formatting only, every decision was made by `diff` and is read from the Plan.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from engine.escape import md_text
from engine.model import System
from engine.plan import AccessChange, Change, FindingKind, Plan
from engine.render import (
    MARKDOWN_ACCESS_LINES,
    MD_SIGN,
    markdown_access_by_slot,
    markdown_access_line,
    markdown_finding_line,
    md_block,
)
from engine.render_parts import (
    ACCESS_CHECK,
    ACCESS_NO_REMOVALS,
    ACCESS_SEEN,
    PENDING_LATER,
    SYSTEM_TITLE,
    Names,
    access_rows,
    entry_lines,
    pending_unlisted,
    ranked_findings,
    refusal_line,
    sections_of,
    summary_line,
    target_line,
)

__all__ = [
    "COMMENT_LIMITS",
    "CUT_MARKER",
    "DEFAULT_COMMENT_LIMIT",
    "SUMMARY_LIMIT_BYTES",
    "CommentLimitTooSmallError",
    "comment_parts",
    "job_summary",
    "minimum_limit",
]

# A comment's limit by forge, in characters; `--comment-limit` takes these names too.
COMMENT_LIMITS = {"github": 65_536, "gitlab": 1_000_000}
DEFAULT_COMMENT_LIMIT = COMMENT_LIMITS["github"]
SUMMARY_LIMIT_BYTES = 1_048_576  # GitHub's job summary, per step, in UTF-8 bytes
CUT_MARKER = " … [line cut: longer than a comment holds; the text or JSON plan has all of it]"
SUMMARY_MORE = (
    "\n> [!NOTE]\n> The plan goes on beyond what a job summary holds (1 MiB): the plan "
    "comments and the JSON plan have all of it.\n"
)
_FEWEST_KEPT = 20  # characters of a cut line that are always kept
# One token of escaped text: `printable`'s \xHH and \uHHHH (in markdown text their
# backslash is escaped too: \\xHH), markdown's \c, or one character.
_TOKEN = re.compile(
    r"\\?\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4})|\\.|.",
    re.S,
)

Cost = Callable[[str], int]


class CommentLimitTooSmallError(ValueError):
    """The limit cannot hold one part's header, a section's frame and one line."""

    def __init__(self, *, limit: int, minimum: int) -> None:
        super().__init__(
            f"--comment-limit {limit} is too small for this plan: a part needs at least "
            f"{minimum} characters (its header, a section's frame and one line)"
        )
        self.limit = limit
        self.minimum = minimum


@dataclass(frozen=True)
class _Block:
    """Lines that belong together (a heading and its list, a system's diff): cut between
    parts, it is closed at the end of one and opened again with `reopener`."""

    lines: tuple[str, ...]
    opener: tuple[str, ...] = ()
    reopener: tuple[str, ...] = ()
    closer: tuple[str, ...] = ()
    context: str | None = None  # lines starting so are repeated after a reopener


def _heading(title: str, lines: Iterable[str]) -> _Block:
    return _Block(
        lines=tuple(lines),
        opener=("", f"#### {title}", ""),
        reopener=("", f"#### {title} (continued)", ""),
    )


def _diff_lines(plan: Plan, changes: Sequence[Change], names: Names) -> dict[System, list[str]]:
    """Each system's diff lines for `changes`, `@@ section @@` before each section."""
    out: dict[System, list[str]] = {}
    for section in sections_of(replace(plan, changes=tuple(changes)), names):
        lines = out.setdefault(section.system, [])
        lines.append(f"@@ {section.title} @@")
        for entry in section.entries:
            lines += [text for text, _ in entry_lines(entry, width=100, sign=MD_SIGN[entry.sign])]
    return out


def _access_lines(rows: list[tuple[AccessChange, str]]) -> list[str]:
    if len(rows) > MARKDOWN_ACCESS_LINES:
        return markdown_access_by_slot(rows)
    return [markdown_access_line(a, what) for a, what in rows]


def _blocks(plan: Plan) -> list[_Block]:
    names = Names(plan)
    rows = access_rows(plan, names)
    losses = [(a, what) for a, what in rows if not a.gained]
    gains = [(a, what) for a, what in rows if a.gained]
    removals = plan.access_removals
    removal_ids = {c.id for c in removals}
    blocks = [_Block(lines=(f"**{summary_line(plan)}**",))]
    refusal = refusal_line(plan)
    if refusal:
        blocks.append(_Block(lines=("", f"> [!CAUTION]\n> {md_text(refusal)}")))
    # First: whatever can hurt, so part 1 always shows it.
    if plan.access_unknown:
        warning = f"> [!WARNING]\n> **Unknown:** {md_text(plan.access_unknown)}"
        blocks.append(_heading("Access changes", [warning]))
    urgent = [f for f in ranked_findings(plan.findings) if f.blocking or _security(f.kind)]
    blocks.append(_heading("Security and blocking findings", map(markdown_finding_line, urgent)))
    if losses:
        seen = [ACCESS_SEEN, ""] if plan.access_unknown else []
        blocks.append(_heading("Access losses", seen + _access_lines(losses)))
    elif not rows and not plan.access_unknown and not plan.empty:
        later = PENDING_LATER if pending_unlisted(plan) else ""
        blocks.append(_heading("Access changes", [f"No user gains or loses access{later}."]))
    if plan.access_unknown and not removals:
        blocks.append(_Block(lines=("", ACCESS_NO_REMOVALS)))
    if removals:
        # Without the access delta, these are what the reviewer checks by hand.
        check = (ACCESS_CHECK, "") if plan.access_unknown else ()
        lines = [line for ls in _diff_lines(plan, removals, names).values() for line in ls]
        fenced = md_block(lines)
        blocks.append(
            _Block(
                lines=tuple(fenced[1:-1]),
                opener=("", f"#### Destructive changes ({len(removals)})", "", *check, fenced[0]),
                reopener=("", "#### Destructive changes (continued)", "", fenced[0]),
                closer=(fenced[-1],),
                context="@@ ",
            )
        )
    # Then the rest, in plan order.
    if gains:
        blocks.append(_heading("Access gains", _access_lines(gains)))
    rest = [c for c in plan.changes if c.id not in removal_ids]
    for system, lines in _diff_lines(plan, rest, names).items():
        count = sum(1 for c in rest if c.system is system)
        what = f"{SYSTEM_TITLE[system]} ({count} change{'' if count == 1 else 's'}"
        fenced = md_block(lines)
        blocks.append(
            _Block(
                lines=tuple(fenced[1:-1]),
                opener=("", f"<details><summary>{what})</summary>", "", fenced[0]),
                reopener=("", f"<details><summary>{what}, continued)</summary>", "", fenced[0]),
                closer=(fenced[-1], "", "</details>"),
                context="@@ ",
            )
        )
    notes = [f for f in ranked_findings(plan.findings) if not (f.blocking or _security(f.kind))]
    blocks.append(_heading("Findings", map(markdown_finding_line, notes)))
    blocks.append(_Block(lines=("", md_text(target_line(plan)))))
    return [b for b in blocks if b.lines]


def _security(kind: FindingKind) -> bool:
    return kind is FindingKind.ROGUE_GROUP


def _lines_cost(lines: Sequence[str], cost: Cost) -> int:
    return sum(cost(line) + 1 for line in lines)  # each line ends with "\n"


def _cut(line: str, room: int, cost: Cost) -> str:
    """`line` if it fits in `room`, else its longest prefix of whole escape tokens that
    fits with `CUT_MARKER` after it."""
    if cost(line) <= room:
        return line
    room -= cost(CUT_MARKER)
    end = used = 0
    for token in _TOKEN.finditer(line):
        used += cost(token.group())  # both costs (characters, UTF-8 bytes) add up
        if used > room:
            break
        end = token.end()
    return line[:end] + CUT_MARKER


def _header(k: int, n: int) -> str:
    return f"_okta-aws plan, part {k} of {n}_\n\n"


def _header_room(n: int, cost: Cost) -> int:
    """What a header costs in a split into `n` parts, for any k (k ≤ n)."""
    return 0 if n <= 1 else cost(_header(n, n))


def _frame(block: _Block, cost: Cost) -> int:
    contexts = [line for line in block.lines if block.context and line.startswith(block.context)]
    longest = max((cost(line) + 1 for line in contexts), default=0)
    opening = max(_lines_cost(block.opener, cost), _lines_cost(block.reopener, cost) + longest)
    return opening + _lines_cost(block.closer, cost)


def _minimum(blocks: list[_Block], *, cost: Cost, headed: bool) -> int:
    lines = sum(len(b.lines) for b in blocks)
    header = _header_room(lines + 1, cost) if headed else 0  # at most one part per line
    frame = max(_frame(b, cost) for b in blocks)
    return header + frame + cost(CUT_MARKER) + _FEWEST_KEPT + 1


def minimum_limit(plan: Plan) -> int:
    """The smallest `--comment-limit` this plan can be cut at."""
    return _minimum(_blocks(plan), cost=len, headed=True)


def _pack(blocks: list[_Block], *, room: int, cost: Cost) -> list[list[str]]:
    """Lines of each part, no part over `room` (headers aside), cut at line boundaries."""
    parts: list[list[str]] = []
    current: list[str] = []
    used = 0
    for block in blocks:
        is_open = False
        context: str | None = None
        closer = _lines_cost(block.closer, cost)
        for index, line in enumerate(block.lines):
            while True:
                if is_open:
                    opening: list[str] = []
                elif index == 0:
                    opening = list(block.opener)
                else:
                    repeat = [context] if context is not None and context != line else []
                    opening = [*block.reopener, *repeat]
                extra = 0 if is_open else _lines_cost(opening, cost) + closer
                need = extra + cost(line) + 1
                # A section's `@@` line never ends a part: the line after it comes along.
                heads = block.context is not None and line.startswith(block.context)
                follows = index + 1 < len(block.lines) and heads and bool(current)
                ahead = cost(block.lines[index + 1]) + 1 if follows else 0
                if used + need + ahead <= room:
                    current += [*opening, line]
                    used += need
                    is_open = True
                    break
                if current:
                    if is_open:
                        current += block.closer
                    parts.append(current)
                    current, used, is_open = [], 0, False
                    continue
                # Alone in an empty part and still too long: cut it visibly (the
                # minimum limit leaves room for the marker and a few characters).
                line = _cut(line, room - extra - 1, cost)
                if cost(line) + 1 + extra > room:
                    raise AssertionError("a part cannot hold a section's frame")
            if block.context and line.startswith(block.context):
                context = line
        if is_open:
            current += block.closer
    if current:
        parts.append(current)
    return parts


def _texts(parts: list[list[str]]) -> list[str]:
    out = []
    for lines in parts:
        while lines and not lines[0]:
            lines = lines[1:]  # a part starts with its content, not a blank line
        out.append("".join(line + "\n" for line in lines))
    return out


def comment_parts(*, plan: Plan, limit: int = DEFAULT_COMMENT_LIMIT) -> list[str]:
    """The plan as markdown comments of at most `limit` characters each (header
    included); one part, without a header, when it fits. Raises
    `CommentLimitTooSmallError` when `limit` is below `minimum_limit(plan)`."""
    blocks = _blocks(plan)
    minimum = _minimum(blocks, cost=len, headed=True)
    if limit < minimum:
        raise CommentLimitTooSmallError(limit=limit, minimum=minimum)
    parts = _pack(blocks, room=limit, cost=len)
    n = 1
    while len(parts) > 1 and _header_room(len(parts), len) > _header_room(n, len):
        # Room for a header as long as the last part's number needs; more parts need
        # longer numbers only when the count gains a digit, so this ends.
        n = len(parts)
        parts = _pack(blocks, room=limit - _header_room(n, len), cost=len)
    texts = _texts(parts)
    if len(texts) == 1:
        return texts
    return [_header(k, len(texts)) + text for k, text in enumerate(texts, start=1)]


def _utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def job_summary(*, plan: Plan, limit_bytes: int = SUMMARY_LIMIT_BYTES) -> str:
    """The plan for a CI job summary: at most `limit_bytes` UTF-8 bytes, what matters
    most first (as part 1 of `comment_parts`), and a note when the plan goes on."""
    blocks = _blocks(plan)
    room = limit_bytes - _utf8(SUMMARY_MORE)
    minimum = _minimum(blocks, cost=_utf8, headed=False) + _utf8(SUMMARY_MORE)
    if limit_bytes < minimum:
        raise CommentLimitTooSmallError(limit=limit_bytes, minimum=minimum)
    parts = _texts(_pack(blocks, room=room, cost=_utf8))
    return parts[0] + (SUMMARY_MORE if len(parts) > 1 else "")
