"""The plan as a whole: guard, --only, ordering across systems, access delta, determinism."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Mapping
from typing import TypeVar

import pytest

import engine.diff
from engine.diff import diff
from engine.model import System, World
from engine.plan import AccessChange, Action, FindingKind, PlanOptions, ResourceKind
from engine.render import render_json, render_text
from tests.unit.worlds import (
    AUDITORS,
    DEV,
    DEVOPS,
    OKTA,
    PROD,
    assignment,
    by_id,
    converged_live,
    desired_world,
    drop,
    edit_group,
    mgmt_dn,
    okta_group,
    plan_for,
    put,
    role,
    role_group,
    role_group_dn,
)


def _many_legacy_roles(count: int) -> tuple[World, World]:
    desired = desired_world()
    live = put(converged_live(desired), *(role(PROD, f"Legacy{i}") for i in range(count)))
    return desired, live


@pytest.mark.parametrize(
    ("count", "limit", "guarded"),
    [(3, 3, False), (4, 3, True), (1, 0, True), (0, 0, False)],
)
def test_max_deletions_guard(count: int, limit: int, guarded: bool) -> None:
    desired, live = _many_legacy_roles(count)
    plan = diff(desired=desired, live=live, options=PlanOptions(prune=True, max_deletions=limit))
    assert plan.deletions == count
    assert (plan.guard is not None) == guarded
    assert plan.applyable is not guarded
    if guarded:
        assert plan.guard is not None
        assert f"{count} destructive changes" in plan.guard
        assert f"--max-deletions {count}" in plan.guard


def test_guard_counts_authoritative_removals_too() -> None:
    desired = desired_world()
    live = edit_group(converged_live(desired), mgmt_dn(DEVOPS), member_users=frozenset())
    live = edit_group(live, mgmt_dn(DEVOPS), member_users=frozenset({"x", "y"}))
    plan = diff(desired=desired, live=live, options=PlanOptions(max_deletions=1))
    assert plan.deletions == 2 and plan.guard is not None


@pytest.mark.parametrize(
    ("only", "expected_systems"),
    [
        (frozenset({System.AWS}), {System.AWS}),
        (frozenset({System.DIRECTORY}), {System.DIRECTORY}),
        (frozenset({System.OKTA}), {System.OKTA}),
        (frozenset(System), set(System)),
    ],
)
def test_only_diffs_the_systems_asked_for(
    only: frozenset[System], expected_systems: set[System]
) -> None:
    desired = desired_world()
    live = drop(
        converged_live(desired),
        role(PROD, "Admin"),
        role_group(DEV, "Admin"),
        assignment(AUDITORS),
    )
    plan = diff(desired=desired, live=live, options=PlanOptions(systems=only))
    assert {c.system for c in plan.changes} == expected_systems


def test_role_is_deleted_after_the_front_door_closes() -> None:
    desired = drop(
        desired_world(), role(PROD, "Audit"), role_group(PROD, "Audit"), assignment(AUDITORS)
    )
    live = converged_live(desired_world())
    plan = plan_for(desired=desired, live=live, prune=True)
    ids = [c.id for c in plan.changes]
    role_id = f"{ResourceKind.ROLE.value}:{PROD}/audit:-"
    group_id = f"{ResourceKind.DIRECTORY_GROUP.value}:{role_group_dn(PROD, 'Audit')}:-"
    assignment_id = f"{ResourceKind.APP_ASSIGNMENT.value}:active_directory/auditors:-"
    assert set(ids) == {role_id, group_id, assignment_id}
    assert ids.index(assignment_id) < ids.index(group_id) < ids.index(role_id)
    assert by_id(plan)[role_id].depends_on == (group_id,)


def test_access_delta_of_a_revoked_grant() -> None:
    desired = desired_world()
    desired = edit_group(
        desired, role_group_dn(PROD, "Admin"), member_groups=frozenset()
    )  # DevOps no longer granted prod/Admin
    plan = plan_for(desired=desired, live=converged_live(desired_world()))
    assert plan.access_delta == (
        AccessChange("alice", PROD, "Admin", False, "prod", (DEVOPS,)),
        AccessChange("bob", PROD, "Admin", False, "prod", (DEVOPS,)),
    )


def test_access_delta_of_a_new_member_predicts_the_import() -> None:
    desired = edit_group(
        desired_world(), mgmt_dn(DEVOPS), member_users=frozenset({"alice", "bob", "erin"})
    )
    plan = plan_for(desired=desired, live=converged_live(desired_world()))
    assert [c.id for c in plan.changes] == [
        f"{ResourceKind.USER_MEMBER.value}:{mgmt_dn(DEVOPS)}/erin:{Action.CREATE.value}"
    ]
    assert {(a.user, a.account_id, a.role, a.gained) for a in plan.access_delta} == {
        ("erin", PROD, "Admin", True),
        ("erin", PROD, "ReadOnly", True),
        ("erin", DEV, "ReadOnly", True),
    }


def test_waiting_assignment_shows_its_access_marked_as_after_the_import() -> None:
    """Honest delta both ways: an assignment that waits for the import is not counted as
    done by this apply, and the access it will grant is still shown for review, marked."""
    desired = desired_world()
    live = drop(converged_live(desired), assignment(AUDITORS), okta_group(AUDITORS))
    plan = plan_for(desired=desired, live=live)
    assert [c.waits_for for c in plan.changes] == ["directory import"]
    assert [(a.user, a.role, a.gained, a.waits_for) for a in plan.access_delta] == [
        ("dave", "Audit", True, "directory import")
    ]
    text = render_text(plan)
    assert "dave" in text and "(after the directory import)" in text


def test_too_many_waiting_access_changes_are_counted_in_a_finding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A whole org's first plan would list every entitlement as pending: beyond the
    limit the plan says how many, in one finding, instead of listing them."""
    monkeypatch.setattr(engine.diff, "PENDING_ACCESS_LISTED", 0)
    desired = desired_world()
    live = drop(converged_live(desired), assignment(AUDITORS), okta_group(AUDITORS))
    plan = plan_for(desired=desired, live=live)
    assert plan.access_delta == ()
    [finding] = [f for f in plan.findings if f.kind is FindingKind.PENDING_ACCESS]
    assert finding.subject == "1 change(s) waiting for the directory import"
    assert "1 more access changes follow" in finding.message and not finding.blocking
    assert plan.applyable


def test_access_this_apply_grants_is_not_marked_as_waiting() -> None:
    desired = desired_world()
    live = drop(converged_live(desired), assignment(AUDITORS), okta_group(AUDITORS))
    live = drop(live, assignment(DEVOPS))
    plan = plan_for(desired=desired, live=live)
    marked = {(a.user, a.waits_for) for a in plan.access_delta}
    assert ("dave", "directory import") in marked
    assert all(w is None for u, w in marked if u != "dave")
    assert any(u != "dave" for u, _ in marked)


def test_access_delta_kind_okta() -> None:
    desired = desired_world(kind=OKTA)
    key = ("okta", "devops")
    live = converged_live(desired)
    live = put(live, dataclasses.replace(live.okta_groups[key], members=frozenset({"alice"})))
    rg = ("okta", f"aws#dev#readonly#{DEV}")
    live = put(
        live, dataclasses.replace(live.okta_groups[rg], members=frozenset({"alice", "carol"}))
    )
    plan = plan_for(desired=desired, live=live)
    # bob left DevOps (the group assigned to the app): rejoining gives everything back.
    assert {(a.user, a.account_id, a.role, a.gained) for a in plan.access_delta} == {
        ("bob", PROD, "Admin", True),
        ("bob", PROD, "ReadOnly", True),
        ("bob", DEV, "ReadOnly", True),
    }


K = TypeVar("K")
V = TypeVar("V")


def _shuffled(world: World, seed: int) -> World:
    rng = random.Random(seed)

    def mix(mapping: Mapping[K, V]) -> dict[K, V]:
        items = list(mapping.items())
        rng.shuffle(items)
        return dict(items)

    return dataclasses.replace(
        world,
        saml_providers=mix(world.saml_providers),
        roles=mix(world.roles),
        directory_groups=mix(world.directory_groups),
        okta_groups=mix(world.okta_groups),
        app_assignments=mix(world.app_assignments),
    )


@pytest.mark.parametrize("seed", range(3))
def test_plan_does_not_depend_on_insertion_order(seed: int) -> None:
    desired = desired_world()
    live = put(
        drop(converged_live(desired), role(DEV, "Admin"), role_group(PROD, "Admin")),
        role(PROD, "Legacy"),
        role_group(PROD, "Legacy"),
    )
    options = PlanOptions(prune=True)
    plan = diff(desired=desired, live=live, options=options)
    again = diff(desired=_shuffled(desired, seed), live=_shuffled(live, seed + 10), options=options)
    assert plan == again
    assert len(plan.changes) == 5


def test_a_plan_says_whether_it_saw_everything() -> None:
    """A read error (here: no AWS app in Okta) makes the plan incomplete and blocked;
    the JSON summary says both, for tools deciding whether to trust an empty plan."""
    desired = desired_world()
    whole = plan_for(desired=desired, live=converged_live(desired))
    assert whole.complete and not whole.blocked
    partial = plan_for(
        desired=desired, live=dataclasses.replace(converged_live(desired), okta_app=None)
    )
    assert not partial.complete and partial.blocked and not partial.applyable
    assert json.loads(render_json(partial))["summary"]["complete"] is False
