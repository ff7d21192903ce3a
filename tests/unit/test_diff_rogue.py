"""What reaches a role group other than through a management group, and group names
the filter cannot be evaluated on in time: reported by the diff (issue 10)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.diff import diff
from engine.dn import build_dn, normalize_dn
from engine.model import GroupRole, World
from engine.plan import FindingKind, Plan, PlanOptions, ResourceKind
from engine.render_parts import reason_text
from engine.simulate import apply_changes
from tests.unit.strategies import plan_options, world_pairs
from tests.unit.worlds import (
    DEPT_OU,
    DEV,
    DEVOPS,
    FINANCE,
    FINANCE_DN,
    OUTSIDE,
    PROD,
    change_ids,
    converged_live,
    desired_world,
    edit_app,
    edit_group,
    finding_kinds,
    management_group,
    mgmt_dn,
    okta_group,
    plan_for,
    put,
    role_group,
    role_group_dn,
    role_group_name,
)

L = ResourceKind.GROUP_MEMBER.value
U = ResourceKind.USER_MEMBER.value
ADMIN_RG = role_group_dn(PROD, "Admin")
ADMIN_NAME = role_group_name(PROD, "Admin")
DEV_RO_RG = role_group_dn(DEV, "ReadOnly")
CONTRACTORS = normalize_dn(build_dn(cn="Contractors", parent=DEPT_OU))
# Exponential on a name that almost matches, without a nested quantifier.
BACKTRACKING_FILTER = r"^(?{{role}}(a|aa)+)#(?{{accountid}}\d{12})$"


def rogue(plan: Plan) -> list[str]:
    return [s for k, s in finding_kinds(plan) if k is FindingKind.ROGUE_GROUP]


def with_members(
    world: World,
    dn: str,
    *,
    groups: frozenset[str] = frozenset(),
    users: frozenset[str] = frozenset(),
) -> World:
    group = world.directory_groups[dn]
    return edit_group(
        world,
        dn,
        member_groups=group.member_groups | groups,
        member_users=(group.member_users or frozenset()) | users,
    )


def test_a_converged_world_with_an_adopted_management_group_has_no_rogue() -> None:
    desired = desired_world()
    live = converged_live(desired)
    # Finance is adopted by dn from outside our OUs and Member Of dev/ReadOnly.
    assert normalize_dn(FINANCE_DN) in live.directory_groups[DEV_RO_RG].member_groups
    plan = plan_for(desired=desired, live=live)
    assert plan.changes == () and rogue(plan) == []


def test_the_escalation_end_state_is_reported_and_undone() -> None:
    # What adopting a role group by dn did: zoe straight in the role group.
    desired = desired_world()
    live = with_members(converged_live(desired), ADMIN_RG, users=frozenset({"zoe"}))
    plan = plan_for(desired=desired, live=live)
    assert rogue(plan) == [f"user zoe in role group {ADMIN_NAME}"]
    assert change_ids(plan) == {f"{U}:{ADMIN_RG}/zoe:-"}
    finding = next(f for f in plan.findings if f.kind is FindingKind.ROGUE_GROUP)
    assert "holds Admin in 111111111111 through no grant" in finding.message


def test_a_role_group_nested_in_another_is_rogue() -> None:
    desired = desired_world()
    live = with_members(converged_live(desired), ADMIN_RG, groups=frozenset({DEV_RO_RG}))
    plan = plan_for(desired=desired, live=live)
    assert rogue(plan) == [f"{role_group_name(DEV, 'ReadOnly')} in role group {ADMIN_NAME}"]
    assert change_ids(plan) == {f"{L}:{ADMIN_RG}/{DEV_RO_RG}:-"}


def test_a_management_group_okta_aws_made_and_the_state_dropped_is_not_rogue() -> None:
    desired = desired_world()
    live = put(converged_live(desired), management_group("Old Team", users=frozenset()))
    live = with_members(live, ADMIN_RG, groups=frozenset({mgmt_dn("Old Team")}))
    plan = plan_for(desired=desired, live=live)
    assert rogue(plan) == []
    assert f"{L}:{ADMIN_RG}/{mgmt_dn('Old Team')}:-" in change_ids(plan)


def test_a_role_group_the_state_dropped_loses_rogue_links_now_and_keeps_the_rest() -> None:
    desired = desired_world()
    orphan = role_group(OUTSIDE, "Admin", members=[DEVOPS, CONTRACTORS], users=frozenset({"eve"}))
    live = put(converged_live(desired), orphan)
    plan = plan_for(desired=desired, live=live)
    assert sorted(rogue(plan)) == [
        f"{CONTRACTORS} in role group {orphan.name}",
        f"user eve in role group {orphan.name}",
    ]
    # The group and DevOps's link stay until --prune; the rogue link and user go now.
    assert change_ids(plan) == {f"{L}:{orphan.key}/{CONTRACTORS}:-", f"{U}:{orphan.key}/eve:-"}
    assert all(c.destructive for c in plan.changes)
    # With --prune the group goes, and its links with it.
    pruned = plan_for(desired=desired, live=live, prune=True)
    assert change_ids(pruned) == {f"{ResourceKind.DIRECTORY_GROUP.value}:{orphan.key}:-"}


def test_an_adopted_group_nested_by_hand_where_it_has_no_grant_is_removed_not_rogue() -> None:
    # Finance is a management group of the desired state: a link without a grant is
    # drift (removed), not a way in from outside.
    desired = desired_world()
    live = with_members(
        converged_live(desired), ADMIN_RG, groups=frozenset({normalize_dn(FINANCE_DN)})
    )
    plan = plan_for(desired=desired, live=live)
    assert rogue(plan) == []
    assert change_ids(plan) == {f"{L}:{ADMIN_RG}/{normalize_dn(FINANCE_DN)}:-"}
    assert FINANCE in reason_text(plan.changes[0])


def test_a_name_the_filter_times_out_on_blocks_the_plan_instead_of_hanging() -> None:
    desired = edit_app(desired_world(), group_filter=BACKTRACKING_FILTER)
    slow = "a" * 60 + "#12345678901x"
    live = edit_app(converged_live(desired_world()), group_filter=BACKTRACKING_FILTER)
    live = put(live, okta_group(slow, source="okta"))
    plan = plan_for(desired=desired, live=live)
    assert (FindingKind.CONFLICT, f"okta group {slow}") in finding_kinds(plan)
    assert plan.blocked
    message = next(f.message for f in plan.findings if f.subject == f"okta group {slow}")
    assert "took longer than" in message and "unknown" in message


@given(st.data())
def test_after_a_plan_is_applied_nothing_rogue_is_left_in_the_directory(
    data: st.DataObject,
) -> None:
    desired, live = data.draw(world_pairs())
    options: PlanOptions = data.draw(plan_options(desired))
    plan = diff(desired=desired, live=live, options=options)
    declared = {g.name for g in desired.directory_groups.values() if g.role is GroupRole.MANAGEMENT}
    assert not any(s.split(" in role group ")[0] in declared for s in rogue(plan))
    after = apply_changes(world=live, changes=plan.changes)
    replan = diff(desired=desired, live=after, options=options)
    leftover = [s for s in rogue(replan) if " in role group " in s]
    assert leftover == []


def test_a_name_the_live_filter_times_out_on_is_reported_too() -> None:
    # Okta holds a hand-set filter the plan replaces; live access is computed with it.
    desired = desired_world()
    slow = "a" * 60 + "#12345678901x"
    live = edit_app(converged_live(desired), group_filter=BACKTRACKING_FILTER)
    live = put(live, okta_group(slow, source="okta"))
    plan = plan_for(desired=desired, live=live)
    [finding] = [f for f in plan.findings if f.subject == f"okta group {slow}"]
    assert finding.kind is FindingKind.CONFLICT and BACKTRACKING_FILTER in finding.message
