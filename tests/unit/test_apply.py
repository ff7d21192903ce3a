"""Apply's scheduling: order kept, failures isolated to their dependents, nothing hidden,
and an interrupt stops cleanly with every change accounted for."""

from __future__ import annotations

import threading

import pytest

from engine.apply import ChangeResult, apply_changes
from engine.model import SamlProvider, System
from engine.plan import Action, Change, Outcome, ResourceKind

METADATA = "<EntityDescriptor/>" * 60


def provider_change(
    account: str, *, depends_on: tuple[str, ...] = (), waits: str | None = None
) -> Change:
    return Change(
        kind=ResourceKind.SAML_PROVIDER,
        action=Action.CREATE,
        key=(account, "OKTA"),
        after=SamlProvider(account_id=account, name="OKTA", metadata=METADATA),
        depends_on=depends_on,
        waits_for=waits,
    )


class ScriptedExecutor:
    """Executes by creating into a dict; fails the keys it is told to fail."""

    def __init__(self, *, fail: frozenset[str] = frozenset()) -> None:
        self.fail = fail
        self.created: dict[str, Change] = {}
        self.lock = threading.Lock()

    def execute(self, change: Change) -> Outcome:
        if change.key[0] in self.fail:
            raise RuntimeError(f"boom in {change.key[0]}")
        with self.lock:
            if change.id in self.created:
                return Outcome.UNCHANGED
            self.created[change.id] = change
        return Outcome.CREATED


def test_all_succeed_in_stage_order() -> None:
    a, b = provider_change("111111111111"), provider_change("222222222222")
    c = provider_change("333333333333", depends_on=(a.id, b.id))
    executor = ScriptedExecutor()
    seen: list[ChangeResult] = []
    report = apply_changes(
        stages=[[a, b], [c]], executors={System.AWS: executor}, on_result=seen.append
    )
    assert [r.outcome for r in report.results] == [Outcome.CREATED] * 3
    assert [r.change.id for r in seen] == [a.id, b.id, c.id]
    assert report.writes == 3 and not report.failed


def test_failure_skips_dependents_transitively_but_not_unrelated_work() -> None:
    a, b = provider_change("111111111111"), provider_change("222222222222")
    c = provider_change("333333333333", depends_on=(a.id,))
    d = provider_change("444444444444", depends_on=(c.id,))
    e = provider_change("555555555555", depends_on=(b.id,))
    executor = ScriptedExecutor(fail=frozenset({"111111111111"}))
    report = apply_changes(stages=[[a, b], [c, e], [d]], executors={System.AWS: executor})
    by_id = {r.change.id: r for r in report.results}
    assert by_id[a.id].outcome is Outcome.FAILED
    assert "boom in 111111111111" in by_id[a.id].message
    assert by_id[c.id].outcome is Outcome.SKIPPED and a.id in by_id[c.id].message
    assert by_id[d.id].outcome is Outcome.SKIPPED and c.id in by_id[d.id].message
    assert by_id[b.id].outcome is Outcome.CREATED
    assert by_id[e.id].outcome is Outcome.CREATED
    assert {r.change.id for r in report.failed} == {a.id, c.id, d.id}


def test_waiting_change_is_not_executed_and_holds_back_dependents() -> None:
    a = provider_change("111111111111", waits="directory import")
    b = provider_change("222222222222", depends_on=(a.id,))
    executor = ScriptedExecutor()
    report = apply_changes(stages=[[a], [b]], executors={System.AWS: executor})
    # Waiting is not failing: the dependent waits too, and the report has no failure.
    assert [r.outcome for r in report.results] == [Outcome.WAITING, Outcome.WAITING]
    assert f"waits for {a.id}" in report.results[1].message
    assert executor.created == {} and not report.failed


@pytest.mark.parametrize("concurrency", [1, 4])
def test_rerun_is_idempotent(concurrency: int) -> None:
    changes = [provider_change(f"{i:012d}") for i in range(1, 9)]
    executor = ScriptedExecutor()
    first = apply_changes(
        stages=[changes], executors={System.AWS: executor}, concurrency=concurrency
    )
    second = apply_changes(
        stages=[changes], executors={System.AWS: executor}, concurrency=concurrency
    )
    assert first.count(Outcome.CREATED) == 8
    assert second.count(Outcome.UNCHANGED) == 8 and second.writes == 0


def test_system_without_executor_is_skipped_not_dropped() -> None:
    a = provider_change("111111111111")
    report = apply_changes(stages=[[a]], executors={})
    assert report.results[0].outcome is Outcome.SKIPPED
    assert "aws is not being applied" in report.results[0].message


class OddExecutor:
    """An executor with a bug of each kind apply must survive."""

    def execute(self, change: Change) -> Outcome:
        account = change.key[0]
        if account == "111111111111":
            raise ValueError("line one\nline two\n\tthree")
        if account == "222222222222":
            raise KeyError("x" * 2000)
        return None  # type: ignore[return-value]  # the bug: no outcome at all


def test_an_executor_that_raises_or_returns_nothing_fails_that_change_in_one_line() -> None:
    changes = [provider_change(f"{i}" * 12) for i in (1, 2, 3)]
    report = apply_changes(stages=[changes], executors={System.AWS: OddExecutor()})
    assert [r.outcome for r in report.results] == [Outcome.FAILED] * 3
    messages = [r.message for r in report.results]
    assert messages[0] == "ValueError: line one line two three"
    assert messages[1].startswith("KeyError: 'xxx") and len(messages[1]) == 500
    assert messages[2] == "the executor returned None, not an outcome"
    assert all("\n" not in m for m in messages) and len(report.failed) == 3


class Interrupt:
    """The terminal's Ctrl-C: a KeyboardInterrupt in the calling thread once `after`
    results have been printed (where a real SIGINT lands: the main thread)."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.seen: list[ChangeResult] = []

    def __call__(self, result: ChangeResult) -> None:
        self.seen.append(result)
        if len(self.seen) == self.after:
            raise KeyboardInterrupt


@pytest.mark.parametrize("concurrency", [1, 4])
def test_an_interrupt_finishes_what_runs_starts_nothing_and_accounts_for_everything(
    concurrency: int,
) -> None:
    first = [provider_change(f"{i:012d}") for i in range(1, 5)]
    second = [provider_change(f"{i:012d}") for i in range(5, 9)]
    executor = ScriptedExecutor()
    interrupt = Interrupt(after=2)
    report = apply_changes(
        stages=[first, second],
        executors={System.AWS: executor},
        concurrency=concurrency,
        on_result=interrupt,
    )
    assert report.interrupted
    # Every change has exactly one result; the second stage never started.
    assert sorted(r.change.id for r in report.results) == sorted(c.id for c in first + second)
    assert {r.change.id for r in report.not_started} >= {c.id for c in second}
    assert not any(c.id in executor.created for c in second)
    # What ran is reported as done, what was not started is not claimed.
    done = {r.change.id for r in report.results if r.ok}
    assert done == set(executor.created) and len(done) >= 2
    assert all(r.outcome is Outcome.SKIPPED for r in report.not_started)
    assert {r.change.id for r in interrupt.seen} == done  # every done change was printed


def test_an_uninterrupted_apply_has_nothing_not_started() -> None:
    report = apply_changes(
        stages=[[provider_change("1" * 12)]], executors={System.AWS: ScriptedExecutor()}
    )
    assert not report.interrupted and not report.not_started
