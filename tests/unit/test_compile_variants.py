"""Role variants: catalogue entries whose `iam_name` creates the same IAM role differently.

`import` writes a role defined differently across accounts as distinct catalogue entries
(`Admin` and `Admin-12h`, both creating the IAM role `Admin`). Everything derived from
the role's name (the IAM role, its role group's name and description, the directory
group's role, hence the Okta role value and the access report) must use the IAM name,
while grants and account role lists keep naming the catalogue key; and switching an
account to a variant converges to an empty plan.
"""

from __future__ import annotations

import dataclasses

import pytest

from engine.access import access_delta, effective_access
from engine.compile import compile_world
from engine.diff import diff
from engine.model import DirectoryKind, GroupRole, World
from engine.plan import Action, PlanOptions, ResourceKind
from engine.simulate import apply_changes
from engine.spec import DesiredState, GrantSpec, RoleSpec
from tests.unit.strategies import imported
from tests.unit.worlds import (
    AD,
    ADMIN_POLICY,
    DEV,
    DEVOPS,
    OKTA,
    PROD,
    converged_live,
    desired_world,
    role_group_name,
    small_state,
)

ADMIN_12H = RoleSpec(
    name="Admin-12h",
    iam_name="Admin",
    managed_policies=(ADMIN_POLICY,),
    max_session_duration=43200,
    description="Admins",
)


def with_variant(kind: DirectoryKind = AD) -> DesiredState:
    """`small_state` with dev's Admin swapped for the 12-hour variant, granted to DevOps."""
    state = small_state(kind=kind)
    prod, dev = state.accounts
    devops, *others = state.management_groups
    return dataclasses.replace(
        state,
        roles=(*state.roles, ADMIN_12H),
        accounts=(prod, dataclasses.replace(dev, roles=("Admin-12h", "ReadOnly"))),
        management_groups=(
            dataclasses.replace(
                devops, grants=(*devops.grants, GrantSpec(role="Admin-12h", account="*"))
            ),
            *others,
        ),
    )


def test_iam_name_defaults_to_the_catalogue_key() -> None:
    assert RoleSpec(name="Admin").iam_role_name == "Admin"
    assert ADMIN_12H.iam_role_name == "Admin"


def test_a_variant_creates_the_iam_role_and_role_group_under_its_iam_name() -> None:
    world = compile_world(state=with_variant())
    dev_admin = world.roles[(DEV, "admin")]
    assert (dev_admin.name, dev_admin.max_session_duration) == ("Admin", 43200)
    assert world.roles[(PROD, "admin")].max_session_duration == 3600
    assert not any(r.name == "Admin-12h" for r in world.roles.values())
    role_groups = {g.name: g for g in world.directory_groups.values() if g.role is GroupRole.ROLE}
    dev_group = role_groups[role_group_name(DEV, "Admin")]
    assert (dev_group.account_id, dev_group.role_name) == (DEV, "Admin")
    assert "AWS role Admin in dev" in dev_group.description
    assert not any("Admin-12h" in name for name in role_groups)
    # The grant names the key: `"*"` reaches only the accounts listing Admin-12h.
    devops = next(g for g in world.directory_groups.values() if g.name == DEVOPS)
    holders = {g.name for g in role_groups.values() if devops.key in g.member_groups}
    assert role_group_name(DEV, "Admin") in holders


def test_kind_okta_role_group_uses_the_iam_name() -> None:
    world = compile_world(state=with_variant(kind=OKTA))
    names = {g.name for g in world.okta_groups.values()}
    assert role_group_name(DEV, "Admin") in names
    assert not any("Admin-12h" in name for name in names)


@pytest.mark.parametrize("kind", [AD, OKTA])
def test_switching_an_account_to_a_variant_updates_the_role_in_place_and_converges(
    kind: DirectoryKind,
) -> None:
    desired = compile_world(state=with_variant(kind=kind))
    live = converged_live(desired_world(kind=kind))
    options = PlanOptions(prune=True, max_deletions=100)
    plan = diff(desired=desired, live=live, options=options)
    roles = [c for c in plan.changes if c.kind is ResourceKind.ROLE]
    # Same IAM role, longer session: one update, never a delete and create.
    assert [(c.action, c.key) for c in roles] == [(Action.UPDATE, (DEV, "admin"))]
    assert not [c for c in plan.changes if c.action is Action.DELETE]
    # DevOps gains Admin in dev, under the IAM name.
    delta = access_delta(
        before=effective_access(world=live),
        after=effective_access(world=_converge(desired, live, options)),
        aliases=desired.account_aliases,
    )
    assert {(a.user, a.account_id, a.role, a.gained) for a in delta} == {
        ("alice", DEV, "Admin", True),
        ("bob", DEV, "Admin", True),
    }


def _converge(desired: World, live: World, options: PlanOptions) -> World:
    """`live` after apply, Okta's directory import and the apply of what waited for it;
    a plan against the result is empty."""
    world = live
    for _ in range(2):
        world = imported(
            apply_changes(
                world=world, changes=diff(desired=desired, live=world, options=options).changes
            )
        )
    assert diff(desired=desired, live=world, options=options).changes == ()
    return world
