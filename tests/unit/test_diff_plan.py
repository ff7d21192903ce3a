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
from engine.dn import normalize_dn
from engine.model import System, World
from engine.plan import AccessChange, Action, FindingKind, Plan, PlanOptions, ResourceKind
from engine.render import render_json, render_markdown, render_text
from engine.render_parts import reason_text
from tests.unit.strategies import as_read
from tests.unit.worlds import (
    AUDITORS,
    DEV,
    DEVOPS,
    FINANCE_DN,
    OKTA,
    PROD,
    assignment,
    by_id,
    converged_live,
    desired_world,
    drop,
    edit_app,
    edit_group,
    management_group,
    mgmt_dn,
    okta_group,
    plan_for,
    put,
    role,
    role_group,
    role_group_dn,
    role_group_name,
)

FINANCE_DN_KEY = normalize_dn(FINANCE_DN)


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
    # The empty delta does not read "none": access changes follow the import.
    text = render_text(plan)
    assert "Access changes: none" not in text
    assert (
        "Access changes: no user gains or loses access until the directory import; then "
        "many do (see the pending access finding)"
    ) in text.splitlines()
    assert "No user gains or loses access until the directory import" in render_markdown(plan)


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


# --- an access delta that never says "none" while access changes -----------------------

ADMIN_DROPPED = drop(desired_world(), role(PROD, "Admin"), role_group(PROD, "Admin"))
ADMIN_LOSSES = {("alice", PROD, "Admin", False), ("bob", PROD, "Admin", False)}


def _seen(world: World, systems: set[System]) -> World:
    """`world` as `--only systems` reads it (the other systems' parts left out)."""
    return as_read(world, systems=frozenset(systems), failed=frozenset())


def _losses(plan: Plan) -> set[tuple[str, str, str, bool]]:
    return {(a.user, a.account_id, a.role, a.gained) for a in plan.access_delta}


def test_only_aws_says_access_is_unknown_and_lists_the_role_it_deletes() -> None:
    """`plan --prune --only aws` after dropping Admin from prod: Okta and the directory
    were not read, so the plan cannot say who loses Admin; it says so, never "none"."""
    live = _seen(converged_live(desired_world()), {System.AWS})
    plan = diff(
        desired=ADMIN_DROPPED,
        live=live,
        options=PlanOptions(prune=True, systems=frozenset({System.AWS})),
    )
    assert [c.id for c in plan.changes] == [f"role:{PROD}/admin:-"]
    assert plan.access_unknown == "the directory and Okta were not read (--only aws)"
    assert [c.id for c in plan.access_removals] == [f"role:{PROD}/admin:-"]
    text = render_text(plan)
    assert "Access changes: none" not in text
    assert text.splitlines()[:3] == [
        "Access changes: unknown: the directory and Okta were not read (--only aws)",
        "  Changes that can take access away (check who loses what by hand):",
        f"    - role Admin in prod ({PROD})",
    ]


def test_a_partial_plan_over_a_whole_read_shows_who_loses_what() -> None:
    plan = diff(
        desired=ADMIN_DROPPED,
        live=converged_live(desired_world()),
        options=PlanOptions(prune=True, systems=frozenset({System.AWS})),
    )
    assert plan.access_unknown is None
    assert [c.id for c in plan.changes] == [f"role:{PROD}/admin:-"]
    assert _losses(plan) == ADMIN_LOSSES


@pytest.mark.parametrize(
    ("read", "only", "reason"),
    [
        ({System.DIRECTORY, System.OKTA}, set(System), "AWS was not read"),
        ({System.AWS}, set(System), "the directory and Okta were not read"),
        (
            {System.AWS},
            {System.AWS, System.OKTA},
            "the directory and Okta were not read (--only aws,okta)",
        ),
        (
            {System.AWS, System.OKTA},
            {System.AWS, System.OKTA},
            "the directory was not read (--only aws,okta)",
        ),
        (set(), set(System), "AWS, the directory and Okta were not read"),
    ],
)
def test_access_unknown_names_what_was_not_read(
    read: set[System], only: set[System], reason: str
) -> None:
    desired = desired_world()
    plan = diff(
        desired=desired,
        live=_seen(converged_live(desired), read),
        options=PlanOptions(systems=frozenset(only)),
    )
    assert plan.access_unknown == reason


def test_kind_okta_has_no_directory_to_read() -> None:
    desired = desired_world(kind=OKTA)
    live = _seen(converged_live(desired), {System.AWS, System.OKTA})
    assert System.DIRECTORY in live.systems  # Okta's groups are the directory
    plan = diff(desired=desired, live=live, options=PlanOptions())
    assert plan.access_unknown is None


def test_unread_accounts_get_no_changes_only_a_blocking_finding() -> None:
    """The AWS read of prod failed: its roles and provider look missing, but nothing is
    created for it (they exist); the plan is blocked and its access delta unknown."""
    desired = desired_world()
    live = as_read(converged_live(desired), systems=frozenset(System), failed=frozenset({PROD}))
    plan = diff(desired=desired, live=live, options=PlanOptions())
    assert plan.changes == ()
    [finding] = [f for f in plan.findings if f.kind is FindingKind.READ_ERROR]
    assert finding.subject == f"account prod ({PROD})"
    assert finding.message.startswith("not read, so nothing is planned for it")
    assert plan.blocked and not plan.complete
    assert plan.access_unknown == f"AWS account {PROD} was not read"


def test_every_read_failing_plans_nothing() -> None:
    desired = desired_world()
    live = as_read(World(), systems=frozenset({System.AWS}), failed=frozenset())
    plan = diff(desired=desired, live=live, options=PlanOptions())
    assert plan.changes == ()
    assert [f.subject for f in plan.findings if f.kind is FindingKind.READ_ERROR] == [
        f"accounts prod ({PROD}), dev ({DEV})"
    ]


# --- protected: what makes access work end to end --------------------------------------

PROTECTED_CASES = {
    # protected name, desired world, what must be kept
    "role group": (role_group_name(PROD, "Admin"), ADMIN_DROPPED),
    "role name": ("admin", ADMIN_DROPPED),
}


@pytest.mark.parametrize("case", list(PROTECTED_CASES))
def test_a_protected_role_group_keeps_its_role(case: str) -> None:
    """Its IAM role is kept with it (it was deleted under --prune, and access lost)."""
    protected, desired = PROTECTED_CASES[case]
    plan = plan_for(
        desired=desired,
        live=converged_live(desired_world()),
        prune=True,
        protected=frozenset({protected}),
    )
    assert plan.changes == () and plan.access_delta == ()
    subjects = {f.subject: f.message for f in plan.findings if f.kind is FindingKind.PRUNE_SKIPPED}
    assert f"role Admin in prod ({PROD})" in subjects
    assert any(s.endswith(role_group_name(PROD, "Admin")) for s in subjects)


def test_a_protected_role_group_keeps_its_management_groups_and_their_assignments() -> None:
    """DevOps (in the protected role group) is dropped from the desired state: it stays,
    in the role group and assigned to the app, so its members keep prod/Admin; they lose
    only what DevOps was granted elsewhere."""
    desired = drop(ADMIN_DROPPED, management_group(DEVOPS), assignment(DEVOPS))
    desired = edit_group(desired, role_group_dn(PROD, "ReadOnly"), member_groups=frozenset())
    desired = edit_group(
        desired, role_group_dn(DEV, "ReadOnly"), member_groups=frozenset({FINANCE_DN_KEY})
    )
    protected = role_group_name(PROD, "Admin")
    plan = plan_for(
        desired=desired,
        live=converged_live(desired_world()),
        prune=True,
        protected=frozenset({protected}),
    )
    ids = {c.id for c in plan.changes}
    assert f"directory_group:{mgmt_dn(DEVOPS)}:-" not in ids
    assert "app_assignment:active_directory/devops:-" not in ids
    assert f"role:{PROD}/admin:-" not in ids
    kept = {f.subject: f.message for f in plan.findings if f.kind is FindingKind.PRUNE_SKIPPED}
    assert protected in kept[f"management group {DEVOPS}"]
    assert protected in kept[f"assignment of {DEVOPS} (active_directory)"]
    assert not any(a.role == "Admin" for a in plan.access_delta)
    assert _losses(plan) == {
        (user, account, "ReadOnly", False) for user in ("alice", "bob") for account in (PROD, DEV)
    }


def test_kind_okta_a_protected_role_group_keeps_the_assignment_of_its_members() -> None:
    desired = drop(
        desired_world(kind=OKTA),
        role(PROD, "Admin"),
        okta_group(role_group_name(PROD, "Admin"), source="okta"),
        okta_group(DEVOPS, source="okta"),
        assignment(DEVOPS, source="okta"),
    )
    plan = plan_for(
        desired=desired,
        live=converged_live(desired_world(kind=OKTA)),
        prune=True,
        protected=frozenset({role_group_name(PROD, "Admin")}),
    )
    assert "app_assignment:okta/devops:-" not in {c.id for c in plan.changes}
    assert not any(a.role == "Admin" for a in plan.access_delta)


def test_app_settings_that_would_unmap_a_protected_role_group_block_the_plan() -> None:
    live = converged_live(desired_world())
    assert live.okta_app is not None
    desired = edit_app(
        desired_world(), group_filter=r"^team#(?{{role}}\w+)#(?{{accountid}}\d{12})$"
    )
    protected = role_group_name(PROD, "Admin")
    plan = plan_for(desired=desired, live=live, protected=frozenset({protected}))
    [conflict] = [f for f in plan.findings if f.kind is FindingKind.CONFLICT]
    assert conflict.subject == f"protected role group {protected}"
    assert "the group filter would no longer match its name" in conflict.message
    assert plan.blocked
    unprotected = plan_for(desired=desired, live=live)
    assert not unprotected.blocked


# --- a management group dropped without --prune -----------------------------------------


def test_a_management_group_dropped_without_prune_says_it_leaves_its_role_groups_now() -> None:
    """Its Member Of links go (the role groups are authoritative) but the group stays:
    the plan says both, on the finding and on each link's removal."""
    desired = drop(desired_world(), management_group(AUDITORS), assignment(AUDITORS))
    desired = edit_group(desired, role_group_dn(PROD, "Audit"), member_groups=frozenset())
    plan = plan_for(desired=desired, live=converged_live(desired_world()))
    [finding] = [f for f in plan.findings if f.subject == f"management group {AUDITORS}"]
    assert "would be deleted with --prune" in finding.message
    assert (
        f"it leaves the role groups the desired state keeps ({role_group_name(PROD, 'Audit')}) now"
        in finding.message
    )
    [link] = [c for c in plan.changes if c.kind is ResourceKind.GROUP_MEMBER]
    assert reason_text(link) == (
        f"{AUDITORS} is no longer in the desired state, so it leaves "
        f"{role_group_name(PROD, 'Audit')}; the group itself stays until --prune deletes it"
    )
    pruned = plan_for(desired=desired, live=converged_live(desired_world()), prune=True)
    [link] = [c for c in pruned.changes if c.kind is ResourceKind.GROUP_MEMBER]
    assert "stays" not in reason_text(link)


def test_a_group_name_the_filter_times_out_on_makes_access_unknown() -> None:
    """Such a name maps to no role here, maybe to one in Okta: who holds it is unknown."""
    backtracking = r"^(?{{role}}(a|aa)+)#(?{{accountid}}\d{12})$"
    desired = edit_app(desired_world(), group_filter=backtracking)
    live = put(
        edit_app(converged_live(desired_world()), group_filter=backtracking),
        okta_group("a" * 60 + "#12345678901x", members={"alice"}),
    )
    plan = plan_for(desired=desired, live=live)
    assert plan.access_unknown == (
        "the group filter ran past its time limit on 1 group name, so whether it maps to a "
        "role is not known"
    )
    assert (
        plan_for(desired=desired_world(), live=converged_live(desired_world())).access_unknown
        is None
    )
