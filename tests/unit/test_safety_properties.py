"""Each safety rule as a property, not only an example.

- A failed change stops everything that depends on it, directly or not, and nothing
  else (apply over any acyclic plan, any set of failures).
- An account id listed twice, in any desired state, is reported at the second entry.
- `max_deletions`: a plan is guarded exactly when its destructive changes exceed it.
- Protected names: no plan, with or without `--prune`, deletes a protected role group or
  role (`test_diff_properties.test_safety_rules_hold` and
  `test_protected_role_groups_keep_what_makes_them_work` hold the rest of the rule).
- The front door: `test_order.test_order_keeps_the_front_door_rule_whatever_the_tie_break`
  and the provider rename in `test_front_door.py`.
"""

from __future__ import annotations

import dataclasses
import functools
import threading

from hypothesis import given
from hypothesis import strategies as st

from engine.apply import apply_changes
from engine.diff import diff
from engine.model import DirectoryGroup, GroupRole, Role, System, World
from engine.order import stages
from engine.plan import Action, Change, Outcome, PlanOptions, ResourceKind
from engine.spec import DesiredState
from engine.validate import validate
from tests.unit.change_strategies import change_graphs
from tests.unit.strategies import desired_states, world_pairs


class Failing:
    """Executes every change; those in `fail` raise. Records what it was asked to run."""

    def __init__(self, fail: frozenset[str]) -> None:
        self.fail = fail
        self.ran: set[str] = set()
        self.lock = threading.Lock()

    def execute(self, change: Change) -> Outcome:
        with self.lock:
            self.ran.add(change.id)
        if change.id in self.fail:
            raise RuntimeError("boom")
        return Outcome.UPDATED


@given(st.data())
def test_a_failed_change_stops_exactly_its_dependants(data: st.DataObject) -> None:
    changes = data.draw(change_graphs())
    ids = [c.id for c in changes]
    fail = frozenset(data.draw(st.lists(st.sampled_from(ids), unique=True)) if ids else ())
    executor = Failing(fail)
    report = apply_changes(
        stages=stages(changes=changes), executors={system: executor for system in System}
    )
    outcome = {r.change.id: r.outcome for r in report.results}
    assert sorted(outcome) == sorted(ids), "every change is accounted for"
    by_id = {c.id: c for c in changes}

    @functools.cache
    def doomed(change_id: str) -> bool:
        """Some dependency, however far back, failed (and then blocks what follows it)."""
        return any(d in fail or doomed(d) for d in by_id[change_id].depends_on if d in by_id)

    for change_id in ids:
        if doomed(change_id):
            assert outcome[change_id] is Outcome.SKIPPED, change_id
            assert change_id not in executor.ran, f"{change_id} ran after a failure it needs"
        else:
            assert change_id in executor.ran, f"{change_id} was held back for nothing"
            expected = Outcome.FAILED if change_id in fail else Outcome.UPDATED
            assert outcome[change_id] is expected, change_id


@given(desired_states(), st.data())
def test_an_account_id_listed_twice_is_reported_at_the_second_entry(
    state: DesiredState, data: st.DataObject
) -> None:
    assert not [p for p in validate(state=state) if "listed again" in p.message]
    original = data.draw(st.sampled_from(state.accounts))
    copy = dataclasses.replace(original, alias=f"{original.alias}-again", roles=())
    position = data.draw(st.integers(min_value=0, max_value=len(state.accounts)))
    # The copy goes after the original wherever it is drawn: the first one listed wins.
    accounts = list(state.accounts)
    accounts.insert(max(position, accounts.index(original) + 1), copy)
    twice = dataclasses.replace(state, accounts=tuple(accounts))
    reported = [p for p in validate(state=twice) if "listed again" in p.message]
    assert len(reported) == 1, reported
    assert reported[0].message.startswith(f"account id {original.id} is listed again")
    assert f"alias {original.alias}" in reported[0].message


@given(world_pairs(), st.booleans(), st.integers(min_value=0, max_value=12))
def test_the_deletion_guard_holds_exactly_beyond_max_deletions(
    pair: tuple[World, World], prune: bool, limit: int
) -> None:
    desired, live = pair
    plan = diff(
        desired=desired,
        live=live,
        options=PlanOptions(prune=prune, max_deletions=limit),
    )
    destructive = sum(1 for c in plan.changes if c.destructive)
    assert (plan.guard is not None) == (destructive > limit), (destructive, limit, plan.guard)
    if plan.guard is not None:
        assert f"--max-deletions {destructive}" in plan.guard
    # Every deletion counts.
    assert all(c.destructive for c in plan.changes if c.action is Action.DELETE)


@given(world_pairs(), st.data())
def test_a_protected_name_is_never_deleted(pair: tuple[World, World], data: st.DataObject) -> None:
    desired, live = pair
    live_roles = list(live.roles.values())
    live_groups = [g for g in live.directory_groups.values() if g.role is GroupRole.ROLE]
    names = [r.name for r in live_roles] + [g.name for g in live_groups]
    if not names:
        return
    protected = frozenset(data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3)))
    # Protection is case-insensitive: draw the spelling too.
    spelled = frozenset(n.upper() if data.draw(st.booleans()) else n for n in protected)
    plan = diff(
        desired=desired,
        live=live,
        options=PlanOptions(prune=True, max_deletions=10_000, protected=spelled),
    )
    folded = {n.casefold() for n in protected}
    for change in plan.changes:
        if change.action is not Action.DELETE:
            continue
        resource = change.before
        if change.kind is ResourceKind.ROLE:
            assert isinstance(resource, Role)
            assert resource.name.casefold() not in folded, change.id
        if change.kind is ResourceKind.DIRECTORY_GROUP:
            assert isinstance(resource, DirectoryGroup)
            assert resource.name.casefold() not in folded, change.id
