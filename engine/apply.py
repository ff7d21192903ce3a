"""Execute a plan: in dependency order, one idempotent change at a time, every outcome kept.

An apply must never half-work silently. Each change gets an outcome; a failed change
(an executor that returns FAILED or raises anything) stops the changes that depend on it
(they are SKIPPED, with the reason) but not unrelated work; changes waiting for
something outside our control (a directory import), and those that depend on them, are
reported as WAITING. The caller then re-reads live state and re-diffs: only an empty
re-plan is "converged" (controller-runtime's level-based reconcile).

An interrupt (SIGINT) is a clean stop: the calls already running finish (each is one
idempotent change, so nothing is left half-made), nothing new starts, and the report
says which changes were done and which were not started.

Executors are passed in per system, so this module stays free of provider imports;
`SystemRead` is the read side's counterpart, what every provider's read returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from engine.model import System, World
from engine.plan import Change, Finding, Outcome

SUCCESS = frozenset({Outcome.CREATED, Outcome.UPDATED, Outcome.DELETED, Outcome.UNCHANGED})
WRITES = frozenset({Outcome.CREATED, Outcome.UPDATED, Outcome.DELETED})


class Executor(Protocol):
    """Carries out one change against one live system; idempotent."""

    def execute(self, change: Change) -> Outcome: ...


class SystemRead(Protocol):
    """What one provider's read of its system found, as the live read merges it. (The
    reads themselves take what each system needs: AWS the accounts, the directory the
    DNs and logins, Okta the desired world.)"""

    @property
    def call_count(self) -> int: ...

    def findings(self) -> tuple[Finding, ...]:
        """Each read problem (READ_ERROR, blocking) and what was found but left alone."""
        ...

    def to_world(self) -> World:
        """The system's part of the live world; an incomplete read claims no system."""
        ...


@dataclass(frozen=True)
class ChangeResult:
    change: Change
    outcome: Outcome
    message: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome in SUCCESS


NOT_STARTED = "not started: the apply was interrupted"


@dataclass(frozen=True)
class ApplyReport:
    results: tuple[ChangeResult, ...] = ()
    interrupted: bool = False  # SIGINT: the changes not started are SKIPPED (NOT_STARTED)
    # Why `before_stage` stopped the apply (e.g. it lost its lock); the changes of the
    # stages not started are SKIPPED, "not started: <why>". "" when it was not stopped.
    stopped: str = ""

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)

    @property
    def failed(self) -> tuple[ChangeResult, ...]:
        return tuple(r for r in self.results if r.outcome in (Outcome.FAILED, Outcome.SKIPPED))

    @property
    def writes(self) -> int:
        return sum(1 for r in self.results if r.outcome in WRITES)

    @property
    def not_started(self) -> tuple[ChangeResult, ...]:
        stopped = f"not started: {self.stopped}"
        return tuple(r for r in self.results if r.message in (NOT_STARTED, stopped))


@dataclass
class _Progress:
    """Shared bookkeeping while stages run; outcomes by change id."""

    outcomes: dict[str, ChangeResult] = field(default_factory=dict)


def _blocked_by(change: Change, progress: _Progress) -> ChangeResult | None:
    for dependency in change.depends_on:
        result = progress.outcomes.get(dependency)
        if result is not None and not result.ok:
            return result
    return None


def _run_one(
    change: Change,
    executors: Mapping[System, Executor],
    progress: _Progress,
) -> ChangeResult:
    blocker = _blocked_by(change, progress)
    if blocker is not None:
        if blocker.outcome is Outcome.WAITING:  # not an error: it waits too
            return ChangeResult(change, Outcome.WAITING, f"waits for {blocker.change.id}")
        return ChangeResult(change, Outcome.SKIPPED, f"depends on failed {blocker.change.id}")
    if change.waits_for:
        return ChangeResult(change, Outcome.WAITING, f"waits for {change.waits_for}")
    executor = executors.get(change.system)
    if executor is None:
        return ChangeResult(change, Outcome.SKIPPED, f"{change.system.value} is not being applied")
    started = time.monotonic()
    try:
        outcome = executor.execute(change)
    except Exception as exc:  # any failure is reported against this change, never hidden
        return ChangeResult(change, Outcome.FAILED, one_line(exc), time.monotonic() - started)
    if not isinstance(outcome, Outcome):  # an executor bug must not pass for a success
        message = f"the executor returned {outcome!r}, not an outcome"
        return ChangeResult(change, Outcome.FAILED, message, time.monotonic() - started)
    return ChangeResult(change, outcome, "", time.monotonic() - started)


def one_line(error: BaseException, limit: int = 500) -> str:
    """An exception as one line of bounded length (a server's multi-line error body
    must not break the one-outcome-per-line report)."""
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def apply_changes(
    *,
    stages: Sequence[Sequence[Change]],
    executors: Mapping[System, Executor],
    concurrency: int = 8,
    on_result: Callable[[ChangeResult], None] | None = None,
    before_stage: Callable[[], str | None] | None = None,
) -> ApplyReport:
    """Run the stages in order; changes within a stage are independent and may overlap.

    `on_result` is called (from the calling thread) with each result as it is known, so
    the CLI can print progress. `before_stage` is asked before each stage starts; a
    reason it returns stops the apply there (the apply lock was lost: another run may be
    writing), and the report says which changes were not started and why. Nothing
    raises for a failed change: read the report.
    A KeyboardInterrupt stops cleanly (see the module docstring); a second one while the
    running calls finish is not caught.
    """
    progress = _Progress()
    results: list[ChangeResult] = []

    def record(result: ChangeResult) -> None:
        if result.change.id in progress.outcomes:
            return
        progress.outcomes[result.change.id] = result
        results.append(result)
        if on_result is not None:
            on_result(result)

    interrupted = False
    stopped = ""
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
    futures: list[Future[ChangeResult]] = []
    try:
        for stage in stages:
            if before_stage is not None and (reason := before_stage()) is not None:
                stopped = reason
                break
            futures = []  # filled one by one: an interrupt mid-way still sees each submitted
            for change in stage:
                futures.append(pool.submit(_run_one, change, executors, progress))
            for future in futures:
                record(future.result())
    except KeyboardInterrupt:
        interrupted = True
        for future in futures:
            future.cancel()  # only those not yet running
        for future in futures:
            if not future.cancelled():
                record(future.result())  # what is running finishes: never half a change
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if interrupted or stopped:
        why = NOT_STARTED if interrupted else f"not started: {stopped}"
        results.extend(
            ChangeResult(change, Outcome.SKIPPED, why)
            for stage in stages
            for change in stage
            if change.id not in progress.outcomes
        )
    return ApplyReport(results=tuple(results), interrupted=interrupted, stopped=stopped)
