"""Properties of the diff over random worlds: idempotence, convergence, order, safety.

The central one is convergence: apply a plan to the live world (in memory) and the
re-plan is empty, except for assignments that honestly wait for Okta's next directory
import; after that import, one more plan creates exactly those, and then nothing is left.
"""

from __future__ import annotations

import dataclasses
import random

from hypothesis import given
from hypothesis import strategies as st

from engine.diff import diff
from engine.model import System, World
from engine.plan import Action, Plan, PlanOptions, ResourceKind
from engine.simulate import apply_changes
from tests.unit.strategies import (
    desired_worlds,
    drifted_live,
    imported,
    plan_options,
    world_pairs,
)

EVERYTHING = PlanOptions(prune=True, max_deletions=10_000)


def waiting(plan: Plan) -> set[str]:
    return {c.id for c in plan.changes if c.waits_for is not None}


@given(desired_worlds())
def test_a_desired_world_against_itself_is_empty(world: World) -> None:
    assert diff(desired=world, live=world, options=EVERYTHING).changes == ()


@given(world_pairs())
def test_a_live_world_against_itself_is_empty(pair: tuple[World, World]) -> None:
    _, live = pair
    assert diff(desired=live, live=live, options=EVERYTHING).changes == ()


@given(st.data())
def test_applying_a_plan_converges(data: st.DataObject) -> None:
    desired, live = data.draw(world_pairs())
    options = data.draw(plan_options(desired))
    plan = diff(desired=desired, live=live, options=options)

    after = apply_changes(world=live, changes=plan.changes)
    replan = diff(desired=desired, live=after, options=options)
    assert {c.id for c in replan.changes} == waiting(plan), "only import waits may remain"
    assert waiting(replan) == waiting(plan)
    assert all(
        c.kind is ResourceKind.APP_ASSIGNMENT and c.action is Action.CREATE for c in replan.changes
    )

    # Okta imports the directory; the waiting assignments can now be made, then done.
    after_import = imported(after)
    second = diff(desired=desired, live=after_import, options=options)
    assert {c.id for c in second.changes} == waiting(plan)
    assert waiting(second) == set()
    final = apply_changes(world=after_import, changes=second.changes)
    assert diff(desired=desired, live=final, options=options).changes == ()


@given(world_pairs(), st.booleans())
def test_plan_order_respects_dependencies(pair: tuple[World, World], prune: bool) -> None:
    desired, live = pair
    plan = diff(desired=desired, live=live, options=PlanOptions(prune=prune))
    position = {c.id: i for i, c in enumerate(plan.changes)}
    assert len(position) == len(plan.changes)
    for change in plan.changes:
        for dependency in change.depends_on:
            assert dependency in position, f"{change.id} depends on an unplanned change"
            assert position[dependency] < position[change.id]
    front_door = [
        position[c.id] for c in plan.changes if c.destructive and c.system is not System.AWS
    ]
    aws_deletions = [
        position[c.id] for c in plan.changes if c.system is System.AWS and c.action is Action.DELETE
    ]
    if front_door and aws_deletions:
        assert max(front_door) < min(aws_deletions)


def _shuffled(world: World, seed: int) -> World:
    rng = random.Random(seed)

    def mix(mapping: dict[object, object]) -> dict[object, object]:
        items = list(mapping.items())
        rng.shuffle(items)
        return dict(items)

    return dataclasses.replace(
        world,
        **{
            name: mix(dict(getattr(world, name)))
            for name in (
                "saml_providers",
                "roles",
                "directory_groups",
                "okta_groups",
                "app_assignments",
            )
        },  # type: ignore[arg-type]
    )


@given(world_pairs(), st.integers(min_value=0, max_value=1000))
def test_diff_is_deterministic(pair: tuple[World, World], seed: int) -> None:
    desired, live = pair
    plan = diff(desired=desired, live=live, options=EVERYTHING)
    assert diff(desired=desired, live=live, options=EVERYTHING) == plan
    again = diff(
        desired=_shuffled(desired, seed), live=_shuffled(live, seed + 1), options=EVERYTHING
    )
    assert again == plan


@given(st.data())
def test_safety_rules_hold(data: st.DataObject) -> None:
    desired, live = data.draw(world_pairs())
    options = data.draw(plan_options(desired))
    plan = diff(desired=desired, live=live, options=options)
    protected = {p.casefold() for p in options.protected}
    source = desired.directory_kind.okta_source if desired.directory_kind else "okta"
    owned_by_desired = set(desired.okta_groups) | {
        (source, g.name.lower()) for g in desired.directory_groups.values()
    }
    planned = {c.id for c in plan.changes}
    for change in plan.changes:
        resource = change.resource
        if change.action is Action.DELETE:
            assert change.destructive
            name = getattr(resource, "name", None) or getattr(resource, "group_name", None)
            if name is not None:
                assert name.casefold() not in protected, f"deleted protected {name}"
            if not options.prune:
                # Only extras in things the desired state mentions go without --prune.
                assert change.kind in (
                    ResourceKind.GROUP_MEMBER,
                    ResourceKind.USER_MEMBER,
                    ResourceKind.OKTA_GROUP_MEMBER,
                    ResourceKind.APP_ASSIGNMENT,
                ), change.id
                if change.kind is ResourceKind.APP_ASSIGNMENT:
                    assert change.key in owned_by_desired
        if change.system is System.AWS:
            account = change.key[0]
            assert account in desired.accounts, "never touches an account not listed"
            before = change.before
            if before is not None and not getattr(before, "managed", True):
                assert change.after is not None and getattr(change.after, "adopt", False)
        if change.kind is ResourceKind.APP_ASSIGNMENT and change.action is Action.CREATE:
            created = f"{ResourceKind.OKTA_GROUP.value}:{'/'.join(change.key)}:+"
            pending = change.key not in live.okta_groups and created not in planned
            assert (change.waits_for is not None) == pending, change.id
        if change.kind is ResourceKind.DIRECTORY_GROUP:
            assert not getattr(resource, "adopted", False), "adopted groups are not ours"
            live_group = live.directory_groups.get(change.key[0])
            assert live_group is None or not live_group.adopted


@given(st.data())
def test_prune_off_never_deletes_resources(data: st.DataObject) -> None:
    desired = data.draw(desired_worlds())
    live = data.draw(drifted_live(desired))
    plan = diff(desired=desired, live=live, options=PlanOptions(max_deletions=10_000))
    deleted_kinds = {c.kind for c in plan.changes if c.action is Action.DELETE}
    assert not deleted_kinds & {
        ResourceKind.SAML_PROVIDER,
        ResourceKind.ROLE,
        ResourceKind.DIRECTORY_GROUP,
        ResourceKind.OKTA_GROUP,
    }
