"""Plan comments at reference size: the first plan's parts fit, destruction first, ≤ 2 s.

The reference org's first plan (`core.Scenario.FIRST_PLAN`: nothing exists but the AWS
app) is megabytes of markdown; `render_comments.comment_parts` cuts it into GitHub
comments (65,536 characters). The benchmark records the number of parts, their sizes
and the time to render them (target ≤ 2 s of CPU, issue 12), and checks what a reviewer
relies on: every part within the limit, and every destructive change and access loss
in the parts before the first non-destructive change. The smoke variant runs the same
code on the tiny org and checks the same, never how long it took.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest

from engine.compile import compile_world
from engine.diff import diff
from engine.escape import md_code
from engine.plan import Plan
from engine.render import MARKDOWN_ACCESS_LINES, MD_SIGN
from engine.render_comments import DEFAULT_COMMENT_LIMIT, comment_parts, job_summary
from engine.render_parts import Names, access_rows, entry_lines, sections_of
from tests.bench.core import OPTIONS, Scenario, live_world
from tests.bench.orgs import REFERENCE, TINY, OrgSize, reference_state
from tests.bench.results import Recorder

TIME_LIMIT_S = 2.0
REPS = 3


def _first_plan(size: OrgSize) -> Plan:
    desired = compile_world(state=reference_state(size=size))
    return diff(desired=desired, live=live_world(desired, Scenario.FIRST_PLAN), options=OPTIONS)


def _members_removed_plan(size: OrgSize) -> Plan:
    """Converged, then every tenth management group drops half its members: user
    removals (destructive) and the access they lose, at scale, amid no other change."""
    state = reference_state(size=size)
    live = live_world(compile_world(state=state), Scenario.CONVERGED)
    groups = tuple(
        dataclasses.replace(g, members=g.members[: len(g.members) // 2])
        if j % 10 == 0 and g.members
        else g
        for j, g in enumerate(state.management_groups)
    )
    desired = compile_world(state=dataclasses.replace(state, management_groups=groups))
    return diff(desired=desired, live=live, options=OPTIONS)


def _measure(plan: Plan) -> tuple[list[str], dict[str, Any]]:
    runs = []
    parts: list[str] = []
    for _ in range(REPS):
        cpu, wall = time.process_time(), time.perf_counter()
        parts = comment_parts(plan=plan, limit=DEFAULT_COMMENT_LIMIT)
        runs.append((time.process_time() - cpu, time.perf_counter() - wall))
    cpu_s, wall_s = sorted(runs)[len(runs) // 2]
    start = time.perf_counter()
    summary = job_summary(plan=plan)
    summary_s = time.perf_counter() - start
    figures = {
        "changes": len(plan.changes),
        "destructive_changes": len(plan.access_removals),
        "access_changes": len(plan.access_delta),
        "access_losses": sum(1 for a in plan.access_delta if not a.gained),
        "parts": len(parts),
        "part_chars": [len(p) for p in parts],
        "total_chars": sum(len(p) for p in parts),
        "render_cpu_s": round(cpu_s, 4),
        "render_wall_s": round(wall_s, 4),
        "all_cpu_s": [round(c, 4) for c, _ in runs],
        "job_summary_bytes": len(summary.encode()),
        "job_summary_s": round(summary_s, 4),
    }
    return parts, figures


def _check_order(plan: Plan, parts: list[str]) -> int:
    """The part (1-based) holding the last destructive change or loss, checked to come
    before every non-destructive change; 0 when there is none."""
    names = Names(plan)
    removals = {c.id for c in plan.access_removals}
    changes = tuple(c for c in plan.changes if c.id in removals)
    heads = [
        entry_lines(entry, width=100, sign=MD_SIGN[entry.sign])[0][0]
        for section in sections_of(Plan(changes=changes), names)
        for entry in section.entries
    ]
    lost = [(a, what) for a, what in access_rows(plan, names) if not a.gained]
    # Past MARKDOWN_ACCESS_LINES losses a comment has one line per account role.
    by_slot = len(lost) > MARKDOWN_ACCESS_LINES
    losses = sorted({md_code(what) if by_slot else f"**{a.user}** loses" for a, what in lost})
    if not heads and not losses:
        return 0
    last_part = 0
    for text in heads + losses:
        holding = [k for k, part in enumerate(parts, start=1) if text in part]
        assert holding, f"lost: {text}"
        last_part = max(last_part, holding[0])
    first_rest = min(
        (k for k, part in enumerate(parts, start=1) if "<details>" in part), default=len(parts)
    )
    assert last_part <= first_rest
    return last_part


@pytest.mark.bench
def test_comment_parts_of_the_first_plan_at_reference_size(results_dir: Path) -> None:
    plan = _first_plan(REFERENCE)
    parts, figures = _measure(plan)
    record = Recorder(name="comments", directory=results_dir)
    figures["last_part_with_destruction"] = _check_order(plan, parts)
    record.figure("first_plan", figures)
    # Not a target: losses and deletions at scale, to show they fill the first parts.
    removed = _members_removed_plan(REFERENCE)
    removed_parts, removed_figures = _measure(removed)
    removed_figures["last_part_with_destruction"] = _check_order(removed, removed_parts)
    record.figure("members_removed (recorded, not a target)", removed_figures)
    assert removed_figures["access_losses"] > 0 and removed_figures["destructive_changes"] > 0
    assert all(n <= DEFAULT_COMMENT_LIMIT for n in removed_figures["part_chars"])
    record.target(
        "first plan: render the comment parts, CPU seconds",
        value=figures["render_cpu_s"],
        limit=TIME_LIMIT_S,
        note=f"{figures['parts']} parts, wall {figures['render_wall_s']} s",
    )
    record.target(
        "first plan: largest part, characters",
        value=max(figures["part_chars"]),
        limit=DEFAULT_COMMENT_LIMIT,
    )
    record.save()
    assert figures["parts"] > 1
    record.assert_targets()


@pytest.mark.bench_smoke
def test_smoke_comment_parts_on_a_tiny_org(results_dir: Path) -> None:
    plan = _first_plan(TINY)
    parts = comment_parts(plan=plan, limit=2_000)
    assert len(parts) > 1 and all(len(p) <= 2_000 for p in parts)
    _check_order(plan, parts)
    removed = _members_removed_plan(TINY)
    assert removed.access_removals and any(not a.gained for a in removed.access_delta)
    _check_order(removed, comment_parts(plan=removed, limit=2_000))
    _, figures = _measure(plan)
    record = Recorder(name="comments_smoke", directory=results_dir)
    record.figure("first_plan", figures)
    assert record.save().exists()
