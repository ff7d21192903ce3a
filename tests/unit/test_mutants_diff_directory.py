"""Rules of `engine/diff_directory.py` that surviving mutants showed no test pinned down
(`make mutate`, tests/README.md "Mutation testing")."""

from __future__ import annotations

import dataclasses

from engine.plan import Action, FindingKind, Reason, ResourceKind
from tests.unit.worlds import (
    AUDITORS,
    DEVOPS,
    PROD,
    assignment,
    converged_live,
    desired_world,
    drop,
    edit_group,
    management_group,
    mgmt_dn,
    plan_for,
    put,
    role_group_name,
)


def test_each_user_membership_change_says_whether_the_user_is_listed() -> None:
    desired = desired_world()
    live = converged_live(desired)
    desired = edit_group(desired, mgmt_dn(DEVOPS), member_users=frozenset({"alice", "carol"}))
    plan = plan_for(desired=desired, live=live)
    reasons = {
        (c.key[1], c.action): c.reason for c in plan.changes if c.kind is ResourceKind.USER_MEMBER
    }
    assert reasons == {
        ("carol", Action.CREATE): Reason.USER_LISTED,
        ("bob", Action.DELETE): Reason.USER_NOT_LISTED,
    }


def test_groups_after_an_adopted_group_the_directory_lacks_are_still_created() -> None:
    # Finance is adopted by a dn that names nothing now: a conflict for it, and the
    # groups sorting after it are planned as usual.
    desired = put(desired_world(), management_group("Zeta", users=frozenset({"alice"})))
    finance = next(k for k, g in desired.directory_groups.items() if g.adopted)
    assert finance < mgmt_dn("Zeta")
    live = converged_live(desired_world())
    others = {k: g for k, g in live.directory_groups.items() if k != finance}
    live = dataclasses.replace(live, directory_groups=others)
    plan = plan_for(desired=desired, live=live)
    assert f"directory_group:{mgmt_dn('Zeta')}:+" in {c.id for c in plan.changes}


def test_a_dropped_group_is_said_to_leave_role_groups_only() -> None:
    # Auditors, dropped without --prune, is also nested by hand in DevOps: the finding
    # names the role groups it leaves now, not the management group it is nested in
    # (`want.role is not ROLE`→`> ROLE` counted DevOps among them).
    desired = drop(desired_world(), management_group(AUDITORS), assignment(AUDITORS))
    live = converged_live(desired_world())
    nested = live.directory_groups[mgmt_dn(DEVOPS)].member_groups | {mgmt_dn(AUDITORS)}
    live = edit_group(live, mgmt_dn(DEVOPS), member_groups=nested)
    plan = plan_for(desired=desired, live=live)
    [kept] = [
        f
        for f in plan.findings
        if f.kind is FindingKind.PRUNE_SKIPPED and f.subject == f"management group {AUDITORS}"
    ]
    assert kept.message.endswith(
        f"leaves the role groups the desired state keeps ({role_group_name(PROD, 'Audit')}) "
        "now, so its members lose that access"
    ), kept.message
