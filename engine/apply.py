"""Execute a plan: in dependency order, one idempotent change at a time, every outcome kept.

An apply must never half-work silently. Each change gets an outcome; a failed change
stops the changes that depend on it (they are SKIPPED, with the reason) but not
unrelated work; changes waiting for something outside our control (a directory import)
are reported as WAITING. The caller then re-reads live state and re-diffs: only an empty
re-plan is "converged" (controller-runtime's level-based reconcile).

Executors are passed in per system, so this module stays free of provider imports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from engine.model import System
from engine.plan import Change, Outcome

SUCCESS = frozenset({Outcome.CREATED, Outcome.UPDATED, Outcome.DELETED, Outcome.UNCHANGED})
WRITES = frozenset({Outcome.CREATED, Outcome.UPDATED, Outcome.DELETED})


class Executor(Protocol):
    """Carries out one change against one live system; idempotent."""

    def execute(self, change: Change) -> Outcome: ...


@dataclass(frozen=True)
class ChangeResult:
    change: Change
    outcome: Outcome
    message: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome in SUCCESS


@dataclass(frozen=True)
class ApplyReport:
    results: tuple[ChangeResult, ...] = ()

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)

    @property
    def failed(self) -> tuple[ChangeResult, ...]:
        return tuple(r for r in self.results if r.outcome in (Outcome.FAILED, Outcome.SKIPPED))

    @property
    def writes(self) -> int:
        return sum(1 for r in self.results if r.outcome in WRITES)


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
        why = "waits for" if blocker.outcome is Outcome.WAITING else "depends on failed"
        return ChangeResult(change, Outcome.SKIPPED, f"{why} {blocker.change.id}")
    if change.waits_for:
        return ChangeResult(change, Outcome.WAITING, f"waits for {change.waits_for}")
    executor = executors.get(change.system)
    if executor is None:
        return ChangeResult(change, Outcome.SKIPPED, f"{change.system.value} is not being applied")
    started = time.monotonic()
    try:
        outcome = executor.execute(change)
    except Exception as exc:  # any failure is reported against this change, never hidden
        return ChangeResult(
            change, Outcome.FAILED, f"{type(exc).__name__}: {exc}", time.monotonic() - started
        )
    return ChangeResult(change, outcome, "", time.monotonic() - started)


def apply_changes(
    *,
    stages: Sequence[Sequence[Change]],
    executors: Mapping[System, Executor],
    concurrency: int = 8,
    on_result: Callable[[ChangeResult], None] | None = None,
) -> ApplyReport:
    """Run the stages in order; changes within a stage are independent and may overlap.

    `on_result` is called (from the calling thread) with each result as it is known, so
    the CLI can print progress. Nothing raises for a failed change: read the report.
    """
    progress = _Progress()
    results: list[ChangeResult] = []
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for stage in stages:
            futures = [pool.submit(_run_one, change, executors, progress) for change in stage]
            for future in futures:
                result = future.result()
                progress.outcomes[result.change.id] = result
                results.append(result)
                if on_result is not None:
                    on_result(result)
    return ApplyReport(results=tuple(results))
