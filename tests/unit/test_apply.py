"""Apply's scheduling: order kept, failures isolated to their dependents, nothing hidden."""

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
    assert [r.outcome for r in report.results] == [Outcome.WAITING, Outcome.SKIPPED]
    assert "waits for" in report.results[1].message
    assert executor.created == {}


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
