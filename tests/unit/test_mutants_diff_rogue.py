"""Rules of `engine/diff_rogue.py` that surviving mutants showed no test pinned down
(`make mutate`, tests/README.md "Mutation testing")."""

from __future__ import annotations

import dataclasses

from engine.dn import build_dn, normalize_dn
from engine.plan import FindingKind, Reason, ResourceKind
from engine.render_parts import reason_text
from tests.unit.worlds import (
    DEPT_OU,
    DEVOPS,
    OUTSIDE,
    PROD,
    converged_live,
    desired_world,
    plan_for,
    put,
    role_group,
)

CONTRACTORS = normalize_dn(build_dn(cn="Contractors", parent=DEPT_OU))


def test_links_removed_from_a_dropped_role_group_say_why_each_goes() -> None:
    # Each removal carries its own reason: a rogue group is "not a management group", a
    # user is "a direct member"; the reviewer reads these words in the plan.
    orphan = role_group(OUTSIDE, "Admin", members=[DEVOPS, CONTRACTORS], users=frozenset({"eve"}))
    plan = plan_for(desired=desired_world(), live=put(converged_live(desired_world()), orphan))
    reasons = {c.kind: c.reason for c in plan.changes}
    assert reasons == {
        ResourceKind.GROUP_MEMBER: Reason.NOT_A_MANAGEMENT_GROUP,
        ResourceKind.USER_MEMBER: Reason.DIRECT_MEMBER,
    }
    texts = {c.kind: reason_text(c) for c in plan.changes}
    assert texts[ResourceKind.GROUP_MEMBER].startswith(f"{CONTRACTORS} is no management group")
    assert "eve" in texts[ResourceKind.USER_MEMBER]
    assert texts[ResourceKind.USER_MEMBER] != texts[ResourceKind.GROUP_MEMBER]


def test_a_rogue_finding_names_the_role_only_when_both_account_and_role_are_known() -> None:
    # A role group whose name gave an account but no role (or the reverse) must not be
    # reported as granting "None in <account>".
    for account_id, role_name in ((OUTSIDE, None), (None, "Admin")):
        orphan = dataclasses.replace(
            role_group(OUTSIDE, "Admin", users=frozenset({"eve"})),
            account_id=account_id,
            role_name=role_name,
        )
        plan = plan_for(desired=desired_world(), live=put(converged_live(desired_world()), orphan))
        [message] = [f.message for f in plan.findings if f.kind is FindingKind.ROGUE_GROUP]
        assert "holds whatever role Okta maps this group to through no grant" in message


def test_a_rogue_group_only_the_live_directory_has_is_named_not_shown_as_a_dn() -> None:
    # A leftover role group of an account the state no longer lists, nested by hand in a
    # role group of the desired state: the finding names it by its cn.
    desired = desired_world()
    leftover = role_group(OUTSIDE, "ReadOnly")
    live = put(converged_live(desired), leftover)
    admin = next(
        g for g in live.directory_groups.values() if g.name == role_group(PROD, "Admin").name
    )
    live = put(live, dataclasses.replace(admin, member_groups=admin.member_groups | {leftover.key}))
    plan = plan_for(desired=desired, live=live)
    subjects = [f.subject for f in plan.findings if f.kind is FindingKind.ROGUE_GROUP]
    assert subjects == [f"{leftover.name} in role group {admin.name}"]
