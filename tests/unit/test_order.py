"""Execution order: back door first when creating, front door first when removing."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import order as order_module
from engine.model import System
from engine.order import PlanCycleError, SortKey, order, sort_key, stages
from engine.plan import Action, Change, ResourceKind
from tests.unit.change_strategies import change_graphs

K = ResourceKind
CREATION_ORDER = [
    K.SAML_PROVIDER,
    K.ROLE,
    K.DIRECTORY_GROUP,
    K.GROUP_MEMBER,
    K.USER_MEMBER,
    K.OKTA_APP,
    K.APP_ASSIGNMENT,
]


def change(
    kind: ResourceKind,
    action: Action = Action.CREATE,
    key: str = "k",
    *,
    depends_on: tuple[str, ...] = (),
    destructive: bool | None = None,
) -> Change:
    return Change(
        kind=kind,
        action=action,
        key=(key,),
        destructive=action is Action.DELETE if destructive is None else destructive,
        depends_on=depends_on,
    )


def shuffled(items: list[Change], seed: int = 7) -> list[Change]:
    copy = list(items)
    random.Random(seed).shuffle(copy)
    return copy


def test_creations_go_from_the_back_door_to_the_front() -> None:
    changes = [change(k) for k in CREATION_ORDER]
    assert [c.kind for c in order(changes=shuffled(changes))] == CREATION_ORDER


def test_removals_go_the_other_way_after_creations() -> None:
    creations = [change(k) for k in CREATION_ORDER]
    removals = [change(k, Action.DELETE) for k in CREATION_ORDER]
    result = order(changes=shuffled(creations + removals))
    assert [c.kind for c in result] == CREATION_ORDER + CREATION_ORDER[::-1]


def test_updates_run_with_creations() -> None:
    result = order(
        changes=[change(K.ROLE, Action.DELETE), change(K.OKTA_APP, Action.UPDATE), change(K.ROLE)]
    )
    assert [(c.kind, c.action) for c in result] == [
        (K.ROLE, Action.CREATE),
        (K.OKTA_APP, Action.UPDATE),
        (K.ROLE, Action.DELETE),
    ]


def test_okta_only_kinds_go_from_the_back_door_to_the_front_too() -> None:
    """directory.kind okta: groups, then their members, then settings, then assignments
    (each kind keyed alike, so only the rank, not the id's spelling, can order them)."""
    kinds = [K.SAML_PROVIDER, K.ROLE, K.OKTA_GROUP, K.OKTA_GROUP_MEMBER, K.OKTA_APP]
    kinds.append(K.APP_ASSIGNMENT)
    changes = [change(k) for k in kinds]
    assert [c.kind for c in order(changes=shuffled(changes))] == kinds
    removals = [change(k, Action.DELETE) for k in kinds]
    assert [c.kind for c in order(changes=shuffled(removals))] == kinds[::-1]


def test_an_update_runs_before_any_removal() -> None:
    """Make before break: an update (even of a role) precedes the removal of an
    assignment, which the reversed rank alone would run first."""
    update = change(K.ROLE, Action.UPDATE)
    unassign = change(K.APP_ASSIGNMENT, Action.DELETE)
    assert order(changes=[unassign, update]) == (update, unassign)


def test_ties_break_by_key() -> None:
    changes = [change(K.ROLE, key=k) for k in ("b", "c", "a")]
    assert [c.key for c in order(changes=changes)] == [("a",), ("b",), ("c",)]


def test_explicit_dependency_beats_rank() -> None:
    assign = change(K.APP_ASSIGNMENT)
    provider = change(K.SAML_PROVIDER, depends_on=(assign.id,))
    assert order(changes=[provider, assign]) == (assign, provider)


def test_unknown_dependencies_are_ignored() -> None:
    role = change(K.ROLE, depends_on=("saml_provider:elsewhere:+",))
    assert order(changes=[role]) == (role,)


def test_cycle_is_a_bug() -> None:
    a = change(K.ROLE, key="a", depends_on=("role:b:+",))
    b = change(K.ROLE, key="b", depends_on=(a.id,))
    with pytest.raises(PlanCycleError, match="cycle among changes") as raised:
        order(changes=[a, b])
    assert a.id in str(raised.value) and b.id in str(raised.value)


def test_front_door_rule_is_a_hard_constraint() -> None:
    """An Okta removal that would need an AWS deletion first contradicts the rule: a cycle."""
    role_deletion = change(K.ROLE, Action.DELETE)
    unassign = change(K.APP_ASSIGNMENT, Action.DELETE, depends_on=(role_deletion.id,))
    with pytest.raises(PlanCycleError):
        order(changes=[role_deletion, unassign])
    # Without the destructive Okta change there is no front door to close first.
    harmless = change(K.APP_ASSIGNMENT, Action.UPDATE, depends_on=(role_deletion.id,))
    assert order(changes=[harmless, role_deletion]) == (role_deletion, harmless)


def test_duplicate_ids_are_rejected() -> None:
    once, twice = change(K.OKTA_APP), change(K.ROLE)
    with pytest.raises(ValueError) as raised:
        order(changes=[twice, once, twice])
    assert str(raised.value) == f"duplicate change ids: {twice.id}"


def test_stages_group_independent_changes_of_a_kind() -> None:
    providers = [change(K.SAML_PROVIDER, key=k) for k in "ab"]
    roles = [change(K.ROLE, key=k, depends_on=(providers[0].id,)) for k in "xy"]
    links = [
        change(K.GROUP_MEMBER, key="l1"),
        change(K.GROUP_MEMBER, key="l2", depends_on=("group_member:l1:+",)),
    ]
    result = stages(changes=shuffled(providers + roles + links))
    assert [[c.id for c in s] for s in result] == [
        [p.id for p in providers],
        [r.id for r in roles],
        [links[0].id],
        [links[1].id],
    ]


# --- properties --------------------------------------------------------------------------


@given(change_graphs(), st.randoms(use_true_random=False))
def test_order_respects_every_constraint(changes: list[Change], rnd: random.Random) -> None:
    result = order(changes=changes)
    assert sorted(c.id for c in result) == sorted(c.id for c in changes)
    position = {c.id: i for i, c in enumerate(result)}
    for c in result:
        assert all(position[d] < position[c.id] for d in c.depends_on)
    front_door = [position[c.id] for c in result if c.destructive and c.system is not System.AWS]
    aws_deletions = [
        position[c.id] for c in result if c.system is System.AWS and c.action is Action.DELETE
    ]
    if front_door and aws_deletions:
        assert max(front_door) < min(aws_deletions)
    mixed = list(changes)
    rnd.shuffle(mixed)
    assert order(changes=mixed) == result  # deterministic, whatever the input order


@given(change_graphs())
def test_stages_are_the_order_cut_into_independent_groups(changes: list[Change]) -> None:
    ordered = order(changes=changes)
    result = stages(changes=changes)
    assert [c for s in result for c in s] == list(ordered)
    assert all(result)
    for stage in result:
        ids = {c.id for c in stage}
        for c in stage:
            assert not (set(c.depends_on) & ids), "a stage holds a change and its dependency"
        assert len({sort_key(c)[:2] for c in stage}) == 1, "one phase and kind rank per stage"


def _adversarial_key(rnd: random.Random) -> Callable[..., SortKey]:
    """A tie-break that runs AWS deletions as early as it may and the rest at random: if
    the front-door rule rested on `sort_key` alone, this would break it."""
    priority: dict[str, float] = {}

    def key(change: Change, change_id: str | None = None) -> SortKey:
        node = change_id or change.id
        first = change.system is System.AWS and change.action is Action.DELETE
        value = priority.setdefault(node, rnd.random())
        return (0 if first else 1, int(value * 1_000_000), (), node)

    return key


def test_the_front_door_rule_does_not_rest_on_the_tie_break() -> None:
    """The tie-break alone already orders these rightly (removals by reversed kind
    rank), so only a hostile tie-break shows whether the rule is a hard constraint."""
    role_deletion = change(K.ROLE, Action.DELETE, key="role")
    unassign = change(K.APP_ASSIGNMENT, Action.DELETE, key="assignment")
    narrowed = change(K.OKTA_APP, Action.UPDATE, key="settings", destructive=True)
    assert [c.id for c in order(changes=[role_deletion, unassign, narrowed])][-1] == (
        role_deletion.id
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(order_module, "sort_key", _adversarial_key(random.Random(1)))
        result = order(changes=[role_deletion, unassign, narrowed])
    assert result[-1] == role_deletion, [c.id for c in result]


@given(change_graphs(), st.randoms(use_true_random=False))
def test_order_keeps_the_front_door_rule_whatever_the_tie_break(
    changes: list[Change], rnd: random.Random
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(order_module, "sort_key", _adversarial_key(rnd))
        result = order(changes=changes)
    position = {c.id: i for i, c in enumerate(result)}
    for c in result:
        assert all(position[d] < position[c.id] for d in c.depends_on if d in position)
    front_door = [position[c.id] for c in result if c.destructive and c.system is not System.AWS]
    aws_deletions = [
        position[c.id] for c in result if c.system is System.AWS and c.action is Action.DELETE
    ]
    if front_door and aws_deletions:
        assert max(front_door) < min(aws_deletions)
