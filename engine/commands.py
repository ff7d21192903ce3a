"""What each CLI command does, wired from the stages; the CLI only parses arguments.

This is the one place that connects core stages (load, validate, compile, diff, order,
render, access) to the outside world (files, terminals, providers), so every command
reads as its data flow.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from engine.compile import compile_world
from engine.diff import diff
from engine.load import LoadError, load
from engine.model import System
from engine.plan import Plan, PlanOptions
from engine.render import render_json, render_markdown, render_text
from engine.snapshot import fingerprint as snapshot_fingerprint
from engine.snapshot import load_snapshot
from engine.spec import DesiredState, Problem, Severity
from engine.validate import validate as semantic_problems

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_REFUSED = 3


def _print_problems(problems: list[Problem], err: TextIO) -> None:
    for problem in sorted(problems):
        print(problem, file=err)


def load_valid(*, directory: Path, err: TextIO) -> DesiredState | None:
    """Load and validate; print every problem; None when there are errors."""
    try:
        state = load(directory=directory)
    except LoadError as exc:
        _print_problems(exc.problems, err)
        print(f"{len(exc.problems)} problem(s) in {directory}", file=err)
        return None
    problems = semantic_problems(state=state)
    _print_problems(problems, err)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors:
        print(f"{len(errors)} problem(s) in {directory}", file=err)
        return None
    return state


def validate(*, directory: Path, out: TextIO, err: TextIO) -> int:
    state = load_valid(directory=directory, err=err)
    if state is None:
        return EXIT_ERROR
    print(
        f"{directory}: valid ({len(state.accounts)} accounts, {len(state.roles)} roles, "
        f"{len(state.management_groups)} management groups; "
        f"target {state.settings.target.value})",
        file=out,
    )
    return EXIT_OK


def access(
    *,
    directory: Path,
    target: str | None,
    live: bool,
    live_snapshot: Path | None,
    user: str | None,
    account: str | None,
    fmt: str,
    out: TextIO,
    err: TextIO,
) -> int:
    from engine.access import desired_access, effective_access
    from engine.access_report import access_rows, render_access

    state = load_valid(directory=directory, err=err)
    if state is None:
        return EXIT_ERROR
    target_name = target or state.settings.target.value
    aliases = {a.id: a.alias for a in state.accounts}
    if live or live_snapshot is not None:
        if live_snapshot is None:
            print("live access needs a live read: pass --live-snapshot FILE", file=err)
            return EXIT_ERROR
        from engine.snapshot import read_snapshot

        world = read_snapshot(path=live_snapshot)
        entitlements = effective_access(world=world)
        title = f"Access (live snapshot {live_snapshot}, target {target_name})"
    else:
        entitlements = desired_access(state=state)
        title = f"Access (desired state {directory}, target {target_name})"
    rows = access_rows(entitlements=entitlements, aliases=aliases, user=user, account=account)
    out.write(render_access(rows=rows, fmt=fmt, title=title))
    return EXIT_OK


def plan_options(
    *, state: DesiredState, prune: bool, max_deletions: int | None, only: frozenset[System]
) -> PlanOptions:
    """PlanOptions from settings, with command-line overrides."""
    safety = state.settings.safety
    return PlanOptions(
        prune=prune,
        max_deletions=safety.max_deletions if max_deletions is None else max_deletions,
        protected=safety.protected,
        systems=only,
        create_app=state.settings.okta.create_app,
    )


def render_plan(plan: Plan, *, fmt: str, color: bool) -> str:
    if fmt == "json":
        return render_json(plan)
    if fmt == "markdown":
        return render_markdown(plan)
    return render_text(plan, color=color)


def wants_color(stream: TextIO) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR")


def plan(
    *,
    directory: Path,
    target: str | None,
    only: frozenset[System],
    live_snapshot: Path | None,
    out_file: Path | None,
    fmt: str,
    detailed_exitcode: bool,
    prune: bool,
    max_deletions: int | None,
    out: TextIO,
    err: TextIO,
) -> int:
    state = load_valid(directory=directory, err=err)
    if state is None:
        return EXIT_ERROR
    target_name = target or state.settings.target.value
    if live_snapshot is None:
        print("plan needs a live world: pass --live-snapshot FILE", file=err)
        return EXIT_ERROR
    snapshot = load_snapshot(path=live_snapshot)
    live = snapshot.world
    desired = compile_world(state=state)
    options = plan_options(state=state, prune=prune, max_deletions=max_deletions, only=only)
    result = replace(
        diff(desired=desired, live=live, options=options),
        target=target_name,
        live_fingerprint=snapshot_fingerprint(live),
        desired_digest=state.digest,
    )
    if out_file is not None:
        out_file.write_text(render_json(result), encoding="utf-8")
    out.write(render_plan(result, fmt=fmt, color=wants_color(out)))
    if result.blocked:
        return EXIT_ERROR
    if detailed_exitcode and not result.empty:
        return EXIT_CHANGES
    return EXIT_OK
