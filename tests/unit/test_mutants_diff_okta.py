"""Rules of `engine/diff_okta.py` that surviving mutants showed no test pinned down
(`make mutate`, tests/README.md "Mutation testing")."""

from __future__ import annotations

from engine.model import DirectoryKind
from engine.plan import FindingKind, Reason, ResourceKind
from tests.unit.worlds import (
    DEVOPS,
    PROD,
    assignment,
    converged_live,
    desired_world,
    drop,
    management_group,
    okta_group,
    plan_for,
    put,
    role,
    role_group_name,
)

OKTA = DirectoryKind.OKTA

DEVOPS_ASSIGNMENT = "app_assignment:active_directory/devops:-"


def test_an_assignment_removal_says_whether_the_state_decided_or_prune_did() -> None:
    live = converged_live(desired_world())
    # DevOps stays in the desired state but is no longer assigned: it grants nothing.
    unassigned = drop(desired_world(), assignment(DEVOPS))
    plan = plan_for(desired=unassigned, live=live)
    reasons = {c.id: c.reason for c in plan.changes}
    assert reasons[DEVOPS_ASSIGNMENT] is Reason.HAS_NO_GRANTS
    # DevOps is dropped altogether: its assignment is ours by location, gone with --prune.
    dropped = drop(desired_world(), management_group(DEVOPS), assignment(DEVOPS))
    plan = plan_for(desired=dropped, live=live, prune=True)
    reasons = {c.id: c.reason for c in plan.changes}
    assert reasons[DEVOPS_ASSIGNMENT] is Reason.PRUNED


def test_with_a_directory_an_okta_group_named_like_a_role_group_is_not_ours() -> None:
    # Only kind okta makes role-group-like Okta groups ours; with a directory, an
    # Okta-sourced look-alike assigned to the app is left alone, even with --prune.
    name = role_group_name(PROD, "Admin")
    live = put(
        converged_live(desired_world()),
        okta_group(name, source="okta"),
        assignment(name, source="okta"),
    )
    plan = plan_for(desired=desired_world(), live=live, prune=True)
    assert not [c for c in plan.changes if c.kind is ResourceKind.APP_ASSIGNMENT]
    assert (FindingKind.UNMANAGED, f"assignment of {name} (okta)") in {
        (f.kind, f.subject) for f in plan.findings
    }


def test_kind_okta_a_directory_sourced_group_named_like_a_role_group_is_not_ours() -> None:
    # Kind okta owns the role-group-like groups Okta itself holds (source okta); one a
    # directory agent imported under that name is someone else's, even with --prune.
    name = role_group_name(PROD, "Admin")
    dropped = drop(desired_world(kind=OKTA), role(PROD, "Admin"), okta_group(name, source="okta"))
    live = put(
        converged_live(dropped),
        okta_group(name, source="active_directory"),
        assignment(name, source="active_directory"),
    )
    plan = plan_for(desired=dropped, live=live, prune=True)
    assert f"app_assignment:active_directory/{name.lower()}:-" not in {c.id for c in plan.changes}
    assert (FindingKind.UNMANAGED, f"assignment of {name} (active_directory)") in {
        (f.kind, f.subject) for f in plan.findings
    }


def test_a_role_group_assigned_to_the_app_by_hand_goes_only_with_prune() -> None:
    # A role group is ours by location but no management group: its assignment is not
    # one the desired state asks for, and removing it is a deletion (--prune). Counting
    # role groups among the desired groups (`is MANAGEMENT`→`>=`) removed it without.
    name = role_group_name(PROD, "Admin")
    live = put(converged_live(desired_world()), assignment(name))
    removal = f"app_assignment:active_directory/{name.lower()}:-"
    kept = plan_for(desired=desired_world(), live=live)
    assert removal not in {c.id for c in kept.changes}
    assert (FindingKind.PRUNE_SKIPPED, f"assignment of {name} (active_directory)") in {
        (f.kind, f.subject) for f in kept.findings
    }
    pruned = plan_for(desired=desired_world(), live=live, prune=True)
    assert {c.id: c.reason for c in pruned.changes}[removal] is Reason.PRUNED
