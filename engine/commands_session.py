"""How a command meets its target: open it, connect the providers, read the live world.

`plan`, `apply`, `access --live`, `snapshot` and `import` all open a target (`targets`),
connect the providers for the systems in scope (`providers.live`), read the live world
with a progress display, and report the API calls made; `plan` and `apply` then diff it
(`observe`) and `apply` executes the changes stage by stage (`execute_plan`). That
shared path lives here, once, so `commands` and `commands_apply` read as their own
flow.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TextIO

from engine.apply import ApplyReport, ChangeResult, apply_changes, one_line
from engine.compile import compile_world
from engine.diff import diff
from engine.escape import printable
from engine.lock import LockHeld, LockUnavailable
from engine.model import System, World
from engine.order import stages
from engine.plan import Finding, FindingKind, Plan, PlanOptions
from engine.providers.live import Connection, ConnectionProblem, Providers, connect, read_live
from engine.saml_metadata import check_metadata
from engine.sandbox.persist import SandboxError
from engine.snapshot import fingerprint as snapshot_fingerprint
from engine.spec import DesiredState, Severity
from engine.targets import Target, open_target

# What opening a target and reading it may raise, each a one-line reason: a connection
# setting, the apply lock or sandbox session held by another command (or its file not
# writable), a damaged or unwritable sandbox.
SESSION_ERRORS = (ConnectionProblem, LockHeld, LockUnavailable, SandboxError)


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


def fetched_metadata_findings(*, document: str, now: datetime) -> tuple[Finding, ...]:
    """The Okta app's IdP metadata (no `metadata_file`) is checked like a file's before
    it is uploaded to every account: what fails blocks the plan."""
    report = check_metadata(document=document, now=now)
    return tuple(
        Finding(
            FindingKind.CONFLICT,
            System.AWS,
            "SAML metadata of the Okta app",
            f"{f.message}{'' if f.line is None else f' (line {f.line})'}; it is not uploaded",
        )
        for f in report.findings
        if f.severity is Severity.ERROR
    )


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
    refused: tuple[Finding, ...] = ()
    if read.metadata is not None:
        desired = compile_world(state=state, metadata=read.metadata)
        refused = fetched_metadata_findings(document=read.metadata, now=datetime.now(UTC))
    plan = diff(desired=desired, live=read.world, options=options)
    plan = replace(
        plan,
        findings=(
            *outside_only(findings=read.findings, only=options.systems),
            *refused,
            *plan.findings,
        ),
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


def read_whole_world(
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


def confirmed(question: str, *, inp: TextIO, out: TextIO) -> bool:
    """Whether `yes` was typed at a terminal to `question` (apply, force-unlock); a
    pipe or a CI job never confirms, whatever it holds."""
    if not inp.isatty():
        return False
    out.write(f"\n{question} Only 'yes' is accepted: ")
    out.flush()
    return inp.readline().strip() == "yes"
