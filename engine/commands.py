"""What each CLI command does, wired from the stages; the CLI only parses arguments.

This (with `commands_apply` for `apply`, and `commands_session` for what every command
that reads a target shares) is where core stages (load, validate, compile, diff, order,
render, access) meet the outside world (files, terminals, providers), so every command
reads as its data flow. Every problem a
user can cause (a flag, a file, the environment, a damaged sandbox) is printed as one
line and an exit code, never raised.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from engine.commands_comments import CommentFlags, check_comment_flags, write_comment_outputs
from engine.commands_session import (
    SESSION_ERRORS,
    calls_summary,
    observe,
    open_session,
    read_whole_world,
)
from engine.compile import compile_world, with_role_group_sources
from engine.diff import diff
from engine.exit_codes import ExitCode
from engine.load import LoadError, load
from engine.lock import NOT_SERIALISED, shared_lock_setting
from engine.model import System, World
from engine.plan import Plan, PlanOptions
from engine.providers.live import (
    missing_group_findings,
)
from engine.render import render_json, render_markdown, render_text
from engine.snapshot import SnapshotError, load_snapshot, write_snapshot
from engine.snapshot import fingerprint as snapshot_fingerprint
from engine.spec import DesiredState, Problem, Severity
from engine.validate import validate as semantic_problems


def _print_problems(problems: list[Problem], err: TextIO) -> None:
    for problem in sorted(problems):
        print(problem, file=err)


def load_valid(*, directory: Path, err: TextIO) -> DesiredState | None:
    """Load and validate; print every problem; None when there are errors."""
    state: DesiredState | None
    try:
        state = load(directory=directory)
    except LoadError as exc:
        state = None
        problems = list(exc.problems)
        if exc.partial is not None:
            # The semantic checks on what could be built, so one run lists everything;
            # a line the schema already faulted is not reported twice.
            faulted = {(p.loc.file, p.loc.line) for p in problems}
            problems += [
                p
                for p in semantic_problems(state=exc.partial)
                if (p.loc.file, p.loc.line) not in faulted
            ]
    else:
        # The loader's warnings (a SAML certificate about to expire) with the semantic ones.
        warnings = [n for n in state.notes if n.severity is Severity.WARNING]
        problems = [*semantic_problems(state=state), *warnings]
    _print_problems(problems, err)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if state is None or errors:
        print(f"{len(errors)} problem(s) in {directory}", file=err)
        return None
    return state


def validate(
    *,
    directory: Path,
    target: str | None = None,
    only: frozenset[System] = frozenset(System),
    out: TextIO,
    err: TextIO,
) -> int:
    """Check the desired state; `only` is taken like every command's and changes nothing:
    the desired state is checked whole."""
    del only
    state = load_valid(directory=directory, err=err)
    if state is None:
        return ExitCode.ERROR
    print(
        f"{directory}: valid ({len(state.accounts)} accounts, {len(state.roles)} roles, "
        f"{len(state.management_groups)} management groups; "
        f"target {target or state.settings.target.value})",
        file=out,
    )
    for note in state.notes:  # e.g. the SAML signing certificate's notAfter
        if note.severity is Severity.INFO:
            print(note, file=out)
    return ExitCode.OK


def _snapshot_world(path: Path, err: TextIO) -> World | None:
    """The world of a `--live-snapshot` file, or None with the reason printed."""
    try:
        return load_snapshot(path=path).world
    except SnapshotError as exc:
        print(f"error: --live-snapshot {exc}", file=err)
        return None


def _writable(path: Path, *, flag: str, err: TextIO) -> bool:
    """Whether `path` can be written to (its folder exists), checked before any reading
    so a typo costs no live read; else the reason is printed."""
    folder = path.parent
    if not folder.is_dir():
        print(f"error: {flag} {path}: the folder {folder} does not exist", file=err)
        return False
    if path.is_dir():
        print(f"error: {flag} {path} is a folder, not a file", file=err)
        return False
    return True


def written(path: Path, write: Callable[[Path], object], *, flag: str, err: TextIO) -> bool:
    """Whether `write(path)` succeeded; else the one-line reason is printed (a full disk,
    no permission), naming the flag that gave the path."""
    try:
        write(path)
    except OSError as exc:
        print(f"error: {flag} {path}: cannot write it ({exc.strerror or exc})", file=err)
        return False
    return True


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
    only: frozenset[System] = frozenset(System),
    full_read: bool = False,
) -> int:
    """Who can assume which role. `only` is taken like every command's and changes
    nothing: access through a role needs all three systems, so all are read."""
    del only
    from engine.access import desired_access, effective_access
    from engine.access_report import access_rows, render_access

    state = load_valid(directory=directory, err=err)
    if state is None:
        return ExitCode.ERROR
    target_name = target or state.settings.target.value
    aliases = {a.id: a.alias for a in state.accounts}
    if live_snapshot is not None:
        world = _snapshot_world(live_snapshot, err)
        if world is None:
            return ExitCode.ERROR
        entitlements = effective_access(world=world)
        title = f"Access (live snapshot {live_snapshot}, target {target_name})"
    elif live:
        read = read_whole_world(
            state=state,
            target=target,
            only=frozenset(System),
            refusal="live access not reported",
            err=err,
            full_read=full_read,
        )
        if read is None:
            return ExitCode.ERROR
        # Live access is what Okta has imported now, as AWS has it now.
        entitlements = effective_access(world=read[0])
        title = f"Access (live, target {target_name})"
    else:
        entitlements = desired_access(state=state)
        title = f"Access (desired state {directory}, target {target_name})"
    rows = access_rows(entitlements=entitlements, aliases=aliases, user=user, account=account)
    out.write(render_access(rows=rows, fmt=fmt, title=title))
    return ExitCode.OK


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
    full_read: bool = False,
    comments_dir: Path | None = None,
    comment_limit: int | None = None,
    summary_file: Path | None = None,
) -> int:
    state = load_valid(directory=directory, err=err)
    if state is None:
        return ExitCode.ERROR
    if out_file is not None and not _writable(out_file, flag="--out", err=err):
        return ExitCode.ERROR
    comments = CommentFlags(out_dir=comments_dir, limit=comment_limit, summary_file=summary_file)
    if not check_comment_flags(comments, fmt=fmt, err=err):
        return ExitCode.ERROR
    options = plan_options(state=state, prune=prune, max_deletions=max_deletions, only=only)
    target_name = target or state.settings.target.value
    if live_snapshot is not None:
        world = _snapshot_world(live_snapshot, err)
        if world is None:
            return ExitCode.ERROR
        desired = compile_world(state=state)
        # As a live read would: the desired state at hand (not the one the snapshot was
        # taken with) says which groups stand behind an Okta role group, and which
        # owner-managed groups Okta must have.
        world = with_role_group_sources(live=world, desired=desired)
        planned = diff(desired=desired, live=world, options=options)
        result = replace(
            planned,
            findings=(*missing_group_findings(state, world), *planned.findings),
            target=f"{target_name} (snapshot {live_snapshot})",
            live_fingerprint=snapshot_fingerprint(world),
            desired_digest=state.digest,
        )
        summary = ""
    else:
        try:
            session = open_session(
                state=state, target=target, only=only, err=err, full_read=full_read
            )
            with session as (_, providers):
                result = observe(
                    state=state, providers=providers, options=options, target=target_name, err=err
                ).plan
                summary = calls_summary(providers)
        except SESSION_ERRORS as exc:
            print(f"error: {exc}", file=err)
            return ExitCode.ERROR
    if out_file is not None and not written(
        out_file,
        lambda p: p.write_text(render_json(result), encoding="utf-8"),
        flag="--out",
        err=err,
    ):
        return ExitCode.ERROR
    if not write_comment_outputs(comments, plan=result, out=out, err=err):
        return ExitCode.ERROR
    if comments_dir is None:  # with --out-dir the comments are the plan's markdown
        out.write(render_plan(result, fmt=fmt, color=wants_color(out)))
    if summary:
        print(summary, file=err)
        lock = shared_lock_setting(spec=state.settings.lock, env=os.environ)
        if target_name == "live" and lock is None:  # after the plan: errors stay one line
            print(NOT_SERIALISED, file=err)
    if result.blocked:
        return ExitCode.ERROR
    if detailed_exitcode and not result.empty:
        return ExitCode.CHANGES
    return ExitCode.OK


def snapshot(
    *,
    directory: Path,
    target: str | None,
    only: frozenset[System],
    out_file: Path,
    out: TextIO,
    err: TextIO,
    full_read: bool = False,
) -> int:
    state = load_valid(directory=directory, err=err)
    if state is None:
        return ExitCode.ERROR
    if not _writable(out_file, flag="--out", err=err):
        return ExitCode.ERROR
    target_name = target or state.settings.target.value
    read = read_whole_world(
        state=state,
        target=target,
        only=only,
        refusal="snapshot not written",
        err=err,
        full_read=full_read,
    )
    if read is None:
        return ExitCode.ERROR
    world, summary = read
    if not written(
        out_file,
        lambda p: write_snapshot(world=world, path=p, target=target_name),
        flag="--out",
        err=err,
    ):
        return ExitCode.ERROR
    print(f"wrote {out_file} (target {target_name}); {summary}", file=out)
    return ExitCode.OK
