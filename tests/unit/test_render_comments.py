"""Plan comments that fit (`engine.render_comments`): golden parts, the limit, the order.

Golden files `tests/unit/golden/plan-comment-<case>-<k>.md` are the parts of the
hand-built plans of `test_render.py` at a small limit, so a split shows in them
(regenerate on purpose with `UPDATE_GOLDEN=1`, then read the diff). The properties run
over random plans (the diff of `strategies.world_pairs`): every part within the limit,
no line lost, nothing destructive after something that is not, no unclosed fence.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cli import main
from engine.commands_comments import (
    PART_FILE,
    CommentFlags,
    check_comment_flags,
    parse_comment_limit,
    write_comment_outputs,
)
from engine.diff import diff
from engine.plan import AccessChange, Plan
from engine.render import MD_SIGN
from engine.render_comments import (
    CUT_MARKER,
    CommentLimitTooSmallError,
    comment_parts,
    job_summary,
    minimum_limit,
)
from engine.render_parts import Names, entry_lines, removal_label, sections_of
from tests.unit.strategies import plan_options, world_pairs
from tests.unit.test_cli import DESIRED, EMPTY_WORLD
from tests.unit.test_render import empty_plan, representative_plan, unknown_access_plan

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
HEADER = re.compile(r"^_okta-aws plan, part (\d+) of (\d+)_\n\n")

# (case, plan, limit, parts expected)
GOLDEN_CASES = [
    ("representative", representative_plan, 700, 4),
    ("representative-whole", representative_plan, 65_536, 1),
    ("unknown", unknown_access_plan, 400, 2),
    ("empty", empty_plan, 300, 1),
]


@pytest.mark.parametrize(("case", "make", "limit", "count"), GOLDEN_CASES)
def test_golden_parts(case: str, make: object, limit: int, count: int) -> None:
    assert callable(make)
    parts = comment_parts(plan=make(), limit=limit)
    assert len(parts) == count
    for k, part in enumerate(parts, start=1):
        path = GOLDEN / f"plan-comment-{case}-{k}.md"
        if UPDATE:
            path.write_text(part, encoding="utf-8")
        assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1 and review it"
        assert part == path.read_text(encoding="utf-8")
    assert not (GOLDEN / f"plan-comment-{case}-{count + 1}.md").exists()


def _body(part: str) -> str:
    return HEADER.sub("", part)


def _fences_closed(part: str) -> bool:
    """Every ``` fence opened in the part is closed in it, and <details> likewise."""
    fence: str | None = None
    for line in part.splitlines():
        run = re.match(r"^(`{3,})", line)
        if run and fence is None:
            fence = run.group(1)
        elif run and fence is not None and line == fence:
            fence = None
    return fence is None and part.count("<details>") == part.count("</details>")


def _destructive_lines(plan: Plan) -> list[str]:
    """The head line of every destructive change, as it appears in a diff block."""
    names = Names(plan)
    removal = {c.id for c in plan.access_removals}
    changes = tuple(c for c in plan.changes if c.id in removal)
    out = []
    for section in sections_of(Plan(changes=changes, names=plan.names), names):
        for entry in section.entries:
            out.append(entry_lines(entry, width=100, sign=MD_SIGN[entry.sign])[0][0])
    return out


def test_part_one_opens_with_what_can_hurt() -> None:
    parts = comment_parts(plan=representative_plan(), limit=700)
    first = parts[0]
    assert first.startswith("_okta-aws plan, part 1 of 4_\n\n**Plan: 8 to add")
    # The refusal, the security and blocking findings and the loss come before any gain.
    order = ["Apply will refuse", "SECURITY rogue group", "conflict", "carol** loses"]
    positions = [first.index(text) for text in order]
    assert positions == sorted(positions)
    assert "gains" not in first and "prune skipped" not in first
    # Every destructive change comes before the first non-destructive one.
    joined = "".join(_body(p) for p in parts)
    last_destructive = max(joined.index(line) for line in _destructive_lines(representative_plan()))
    assert last_destructive < joined.index("+ role Admin")


def test_unknown_access_warns_first_and_lists_the_removals() -> None:
    (part,) = comment_parts(plan=unknown_access_plan())
    assert part.index("**Unknown:**") < part.index("Destructive changes (2)")
    assert "check who loses what by hand" in part
    assert part.index("- role Admin") < part.index("+ role Audit")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("github", 65_536), ("gitlab", 1_000_000), ("65000", 65_000), ("1,048,576", 1_048_576)],
)
def test_comment_limit_values(value: str, expected: int) -> None:
    assert parse_comment_limit(value) == expected


@pytest.mark.parametrize("value", ["0", "-5", "many", "gitlab.com", ""])
def test_bad_comment_limit_is_one_line(value: str) -> None:
    with pytest.raises(ValueError, match=r"^[^\n]+$"):
        parse_comment_limit(value)


def test_a_limit_below_the_minimum_names_it() -> None:
    plan = representative_plan()
    minimum = minimum_limit(plan)
    assert comment_parts(plan=plan, limit=minimum)  # the minimum itself works
    with pytest.raises(CommentLimitTooSmallError) as raised:
        comment_parts(plan=plan, limit=minimum - 1)
    assert f"at least {minimum} characters" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_line_longer_than_the_limit_is_cut_visibly_never_inside_an_escape() -> None:
    user = "eve" + "\x1b" * 400  # printable writes each ESC as \x1b
    plan = Plan(
        access_delta=(AccessChange(user=user, account_id="1" * 12, role="R", gained=False),)
    )
    limit = minimum_limit(plan)
    parts = comment_parts(plan=plan, limit=limit)
    cut = [line for p in parts for line in p.splitlines() if line.endswith(CUT_MARKER)]
    assert len(cut) == 1
    kept = cut[0].removesuffix(CUT_MARKER)
    # Markdown escapes printable's backslash: each ESC reads \\x1b, kept whole.
    assert re.fullmatch(r"- ➖ \*\*eve(\\\\x1b)+", kept), kept
    assert all(len(p) <= limit for p in parts)


def test_output_is_deterministic() -> None:
    assert comment_parts(plan=representative_plan(), limit=500) == comment_parts(
        plan=representative_plan(), limit=500
    )


def test_job_summary_is_part_one_and_says_the_plan_goes_on() -> None:
    plan = representative_plan()
    whole = job_summary(plan=plan)
    assert whole == comment_parts(plan=plan)[0]
    small = job_summary(plan=plan, limit_bytes=800)
    assert len(small.encode()) <= 800
    assert small.startswith("**Plan: 8 to add") and "goes on beyond" in small


def test_files_written_and_stale_parts_removed(tmp_path: Path) -> None:
    out_dir = tmp_path / "comments"
    out_dir.mkdir()
    (out_dir / PART_FILE.format(k=9)).write_text("an older plan's part 9")
    (out_dir / "notes.txt").write_text("not ours")
    flags = CommentFlags(out_dir=out_dir, limit=700, summary_file=tmp_path / "summary.txt")
    out, err = io.StringIO(), io.StringIO()
    assert write_comment_outputs(flags, plan=representative_plan(), out=out, err=err)
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == ["notes.txt", *(PART_FILE.format(k=k) for k in range(1, 5))]
    assert "Wrote 4 comments" in out.getvalue() and not err.getvalue()
    assert (tmp_path / "summary.txt").read_text(encoding="utf-8").startswith("**Plan:")


@pytest.mark.parametrize(
    ("flags", "fmt", "says"),
    [
        (CommentFlags(limit=1000), "markdown", "--comment-limit needs --out-dir"),
        (CommentFlags(out_dir=Path("x")), "text", "add --format markdown"),
        (CommentFlags(out_dir=Path("/nonexistent/x")), "markdown", "does not exist"),
        (CommentFlags(summary_file=Path("/nonexistent/summary")), "text", "does not exist"),
    ],
)
def test_bad_flag_combinations_are_one_line(flags: CommentFlags, fmt: str, says: str) -> None:
    err = io.StringIO()
    assert not check_comment_flags(flags, fmt=fmt, err=err)
    assert says in err.getvalue() and err.getvalue().count("\n") == 1


@st.composite
def random_plans(draw: st.DrawFn) -> Plan:
    desired, live = draw(world_pairs())
    return diff(desired=desired, live=live, options=draw(plan_options(desired)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=random_plans(), limit=st.integers(min_value=0, max_value=3_000))
def test_parts_fit_lose_nothing_and_put_destruction_first(plan: Plan, limit: int) -> None:
    limit += minimum_limit(plan)
    parts = comment_parts(plan=plan, limit=limit)
    assert parts and all(len(p) <= limit for p in parts)
    assert all(_fences_closed(p) for p in parts)
    if len(parts) > 1:
        assert [HEADER.match(p).groups() for p in parts] == [  # type: ignore[union-attr]
            (str(k), str(len(parts))) for k in range(1, len(parts) + 1)
        ]
    joined = "".join(_body(p) for p in parts)
    whole = comment_parts(plan=plan, limit=10**9)[0]
    # Nothing lost: every line of the unsplit comment is in the parts, as often, or (a
    # line longer than a part holds, at limits near the minimum) cut visibly.
    lines = [line for line in joined.splitlines() if line]
    cut = [line.removesuffix(CUT_MARKER) for line in lines if line.endswith(CUT_MARKER)]
    for line in {line for line in whole.splitlines() if line}:
        kept = lines.count(line) + sum(1 for prefix in cut if line.startswith(prefix))
        assert kept >= whole.splitlines().count(line), line
        if len(line) + 1 + 200 < limit - minimum_limit(plan):
            assert line in lines, line  # short enough: never cut
    # Destructive changes (and losses) come before any non-destructive change.
    destructive = _destructive_lines(plan)
    if destructive:
        names = Names(plan)
        for change in plan.access_removals:
            assert removal_label(change, names)  # every removal has a label to check
        last = max(joined.index(line) for line in destructive)
        details = joined.find("<details>")
        assert details == -1 or last < details
        gains = joined.find("#### Access gains")
        assert gains == -1 or last < gains


def test_the_command_line_writes_the_parts_or_names_the_minimum(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through `okta-aws plan`: against the empty world the plan is blocked (exit 1) and
    its parts are still written, none over the limit; the markdown is not printed too."""
    base = ["plan", "-d", str(DESIRED), "--live-snapshot", str(EMPTY_WORLD)]
    out_dir, summary = tmp_path / "comments", tmp_path / "summary"
    summary.write_text("earlier step\n")
    markdown = [*base, "--format", "markdown", "--out-dir", str(out_dir)]
    code = main([*markdown, "--comment-limit", "2000", "--summary-file", str(summary)])
    out = capsys.readouterr().out
    parts = sorted(out_dir.iterdir(), key=lambda p: int(re.sub(r"\D", "", p.name)))
    assert code == 1 and len(parts) > 1
    assert all(len(p.read_text(encoding="utf-8")) <= 2000 for p in parts)
    assert "Apply will refuse" in parts[0].read_text(encoding="utf-8")
    assert f"Wrote {len(parts)} comments of at most 2,000 characters" in out
    assert "<details>" not in out
    assert summary.read_text(encoding="utf-8").startswith("earlier step\n**Plan:")

    code = main([*markdown, "--comment-limit", "100"])
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if "comment-limit" in line]
    assert code == 1 and re.fullmatch(
        r"error: --comment-limit 100 is too small for this plan: a part needs at least "
        r"\d+ characters \(its header, a section's frame and one line\)",
        line,
    )
    assert len(list(out_dir.iterdir())) == len(parts)  # nothing written or removed

    with pytest.raises(SystemExit) as exited:
        main([*markdown, "--comment-limit", "lots"])
    assert exited.value.code == 1
    assert capsys.readouterr().err.count("\n") == 1
