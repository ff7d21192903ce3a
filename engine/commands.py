"""What each CLI command does, wired from the stages; the CLI only parses arguments.

This (with `commands_apply` for `apply`, which builds on the helpers here) is where core
stages (load, validate, compile, diff, order, render, access) meet the outside world
(files, terminals, providers), so every command reads as its data flow. Every problem a
user can cause (a flag, a file, the environment, a damaged sandbox) is printed as one
line and an exit code, never raised.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from engine.apply import ApplyReport, ChangeResult, apply_changes, one_line
from engine.compile import compile_world, with_role_group_sources
from engine.diff import diff
from engine.escape import printable
from engine.exit_codes import ExitCode
from engine.load import LoadError, load
from engine.lock import NOT_SERIALISED, LockHeld, LockUnavailable, shared_lock_setting
from engine.model import System, World
from engine.order import stages
from engine.plan import Finding, FindingKind, Plan, PlanOptions
from engine.providers.live import (
    Connection,
    ConnectionProblem,
    Providers,
    connect,
    missing_group_findings,
    read_live,
)
from engine.render import render_json, render_markdown, render_text
from engine.sandbox.persist import SandboxError
from engine.snapshot import SnapshotError, load_snapshot, write_snapshot
from engine.snapshot import fingerprint as snapshot_fingerprint
from engine.spec import DesiredState, Problem, Severity
from engine.targets import Target, open_target
from engine.validate import validate as semantic_problems

# What opening a target and reading it may raise, each a one-line reason: a connection
# setting, the apply lock or sandbox session held by another command (or its file not
# writable), a damaged or unwritable sandbox.
SESSION_ERRORS = (ConnectionProblem, LockHeld, LockUnavailable, SandboxError)


def _print_problems(problems: list[Problem], err: TextIO) -> None:
    for problem in sorted(problems):
        print(problem, file=err)


def load_valid(*, directory: Path, err: TextIO) -> DesiredState | None:
    """Load and validate; print every problem; None when there are errors."""
    try:
        state = load(directory=directory)
    except LoadError as exc:
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
        _print_problems(problems, err)
        errors = [p for p in problems if p.severity is Severity.ERROR]
        print(f"{len(errors)} problem(s) in {directory}", file=err)
        return None
    # The loader's warnings (a SAML certificate about to expire) with the semantic ones.
    warnings = [n for n in state.notes if n.severity is Severity.WARNING]
    problems = [*semantic_problems(state=state), *warnings]
    _print_problems(problems, err)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors:
        print(f"{len(errors)} problem(s) in {directory}", file=err)
        return None
    return state


def validate(*, directory: Path, target: str | None = None, out: TextIO, err: TextIO) -> int:
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


def _write(path: Path, text: str, *, flag: str, err: TextIO) -> bool:
    try:
        path.write_text(text, encoding="utf-8")
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
    full_read: bool = False,
) -> int:
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
        read = _read_whole_world(
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


@dataclass(frozen=True)
class Observation:
    """One look at the world: the desired world, the live world, and the plan between."""

    desired: World
    live: World
    plan: Plan


@contextmanager
def reading_progress(
    *, err: TextIO, systems: frozenset[System], providers: Providers | None = None
) -> Iterator[Callable[[System], None]]:
    """A live spinner naming the systems still being read, on a terminal only; elsewhere
    (CI logs) the one-line API-call summary after the plan says what was read. Okta's
    rate-limit pacing waits show in the spinner, or as a line each off a terminal."""
    okta = providers.okta if providers is not None else None
    if not err.isatty():
        if okta is not None:
            okta.set_wait_listener(lambda text: print(text, file=err, flush=True))
        try:
            yield lambda system: None
        finally:
            if okta is not None:
                okta.set_wait_listener(None)
        return
    from rich.console import Console

    pending = set(systems)
    waiting: list[str] = []
    console = Console(file=err)

    def label() -> str:
        names = ", ".join(sorted(s.value for s in pending)) or "done"
        wait = f" ({waiting[-1]})" if waiting and System.OKTA in pending else ""
        return f"Reading live state: {names}{wait}"

    with console.status(label()) as status:

        def done(system: System) -> None:
            pending.discard(system)
            status.update(label())

        def on_wait(text: str) -> None:
            waiting.append(text)
            status.update(label())

        if okta is not None:
            okta.set_wait_listener(on_wait)
        try:
            yield done
        finally:
            if okta is not None:
                okta.set_wait_listener(None)


def observe(
    *,
    state: DesiredState,
    providers: Providers,
    options: PlanOptions,
    target: str,
    err: TextIO | None = None,
) -> Observation:
    """Read live, compile desired (with the Okta app's metadata if needed), diff."""
    desired = compile_world(state=state)
    with reading_progress(
        err=err or sys.stderr, systems=options.systems, providers=providers
    ) as on_read:
        read = read_live(state=state, desired=desired, providers=providers, on_read=on_read)
    if read.metadata is not None:
        desired = compile_world(state=state, metadata=read.metadata)
    plan = diff(desired=desired, live=read.world, options=options)
    plan = replace(
        plan,
        findings=(*outside_only(findings=read.findings, only=options.systems), *plan.findings),
        target=target,
        live_fingerprint=snapshot_fingerprint(read.world),
        desired_digest=state.digest,
    )
    return Observation(desired=desired, live=read.world, plan=plan)


def calls_summary(providers: Providers) -> str:
    parts = []
    for system in System:
        total = providers.calls.total(system=system.value)
        if total:
            retries = providers.calls.retries(system=system.value)
            writes = providers.calls.writes(system=system.value)
            extra = f", {retries} retried" if retries else ""
            parts.append(f"{system.value} {total} ({writes} writes{extra})")
    line = "API calls: " + (", ".join(parts) if parts else "none")
    if providers.okta is not None and providers.okta.last_cache is not None:
        line += f"; {providers.okta.last_cache.describe()}"
    return line


@contextmanager
def open_session(
    *,
    state: DesiredState,
    target: str | None,
    only: frozenset[System],
    err: TextIO,
    full_read: bool = False,
    read_all: bool = True,
) -> Iterator[tuple[Target, Providers]]:
    """The target's providers; `full_read` (--full-read) reads every Okta member list
    instead of reusing the read cache, and rewrites the cache. With `read_all`, systems
    outside `only` are read too where they can be (see `_connect_for_access`)."""
    name = target or state.settings.target.value
    with open_target(name=name, state=state, err=err) as opened:
        connection = opened.connection
        if full_read:
            connection = replace(connection, okta_full_read=True)
        wanted = frozenset(System) if read_all else only
        with _connect_for_access(
            state=state, only=only, wanted=wanted, connection=connection
        ) as providers:
            yield opened, providers


@contextmanager
def _connect_for_access(
    *,
    state: DesiredState,
    only: frozenset[System],
    wanted: frozenset[System],
    connection: Connection,
) -> Iterator[Providers]:
    """Providers for every system that can be reached, changes for `only` alone.

    Who may sign in is decided by AWS, the directory and Okta together, so a plan that
    changes one of them (`--only aws`) still needs the others read for its access delta
    to be complete. A system outside `only` that is not configured here is simply not
    read; the plan then says its access delta is unknown rather than "none".
    """
    with ExitStack() as stack:
        providers: Providers | None = None
        if wanted != only:
            try:
                providers = stack.enter_context(
                    connect(state=state, systems=wanted | only, connection=connection)
                )
            except ConnectionProblem:
                providers = None
        if providers is None:
            providers = stack.enter_context(
                connect(state=state, systems=only, connection=connection)
            )
        yield providers


def outside_only(*, findings: tuple[Finding, ...], only: frozenset[System]) -> tuple[Finding, ...]:
    """Read problems of systems `--only` leaves out inform, never block: the plan changes
    nothing there (its access delta says what it could not see)."""
    return tuple(
        Finding(
            FindingKind.UNMANAGED,
            f.system,
            f"{f.subject} (outside --only)",
            f"{f.kind.value}: {f.message}",
        )
        if f.blocking and f.system not in only
        else f
        for f in findings
    )


def _read_whole_world(
    *,
    state: DesiredState,
    target: str | None,
    only: frozenset[System],
    refusal: str,
    err: TextIO,
    full_read: bool = False,
) -> tuple[World, str] | None:
    """The live world and the API-call summary, or None (reasons printed) when the read
    failed or was incomplete: a partial world would misreport access or snapshot a lie."""
    session = open_session(
        state=state, target=target, only=only, err=err, full_read=full_read, read_all=False
    )
    try:
        with session as (_, providers):
            read = read_live(state=state, desired=compile_world(state=state), providers=providers)
            summary = calls_summary(providers)
    except SESSION_ERRORS as exc:
        print(f"error: {exc}", file=err)
        return None
    for finding in read.findings:
        print(printable(f"{finding.kind.value}: {finding.subject}: {finding.message}"), file=err)
    if not read.complete:
        print(f"{refusal}: the live read was incomplete", file=err)
        return None
    return read.world, summary


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
) -> int:
    state = load_valid(directory=directory, err=err)
    if state is None:
        return ExitCode.ERROR
    if out_file is not None and not _writable(out_file, flag="--out", err=err):
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
    if out_file is not None and not _write(out_file, render_json(result), flag="--out", err=err):
        return ExitCode.ERROR
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
    read = _read_whole_world(
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
    try:
        write_snapshot(world=world, path=out_file, target=target_name)
    except OSError as exc:
        print(f"error: --out {out_file}: cannot write it ({exc.strerror or exc})", file=err)
        return ExitCode.ERROR
    print(f"wrote {out_file} (target {target_name}); {summary}", file=out)
    return ExitCode.OK


def execute_plan(
    *,
    plan: Plan,
    providers: Providers,
    out: TextIO,
    state: DesiredState,
    before_stage: Callable[[], str | None] | None = None,
) -> ApplyReport:
    """Run the plan's changes stage by stage, printing each outcome as it is known;
    `before_stage` may stop it before a stage (see `apply_changes`)."""
    if providers.okta is not None:
        try:
            providers.okta.prepare(plan.changes)
        except Exception as exc:  # a speed-up only: each change then looks up on its own
            print(f"(Okta lookups not batched: {one_line(exc)})", file=out)

    def show(result: ChangeResult) -> None:
        note = f"  {result.message}" if result.message else ""
        print(printable(f"  {result.outcome.value:<9} {result.change.id}{note}"), file=out)

    print("\nApplying:", file=out)
    return apply_changes(
        stages=stages(changes=plan.changes),
        executors=providers.executors(),
        concurrency=state.settings.aws.concurrency,
        on_result=show,
        before_stage=before_stage,
    )
