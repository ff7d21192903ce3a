"""Rules of `engine/diff.py` that surviving mutants showed no test pinned down
(`make mutate`, tests/README.md "Mutation testing")."""

from __future__ import annotations

import dataclasses

import pytest

from engine.diff import diff
from engine.plan import PlanOptions
from tests.unit.worlds import (
    DEVOPS,
    PROD,
    converged_live,
    desired_world,
    edit_group,
    plan_for,
)


def test_five_unread_accounts_are_named_and_the_rest_counted() -> None:
    desired = desired_world()
    live = converged_live(desired)
    extra = [f"{300000000001 + i:012d}" for i in range(6)]
    desired = dataclasses.replace(desired, accounts=desired.accounts | frozenset(extra))
    plan = diff(desired=desired, live=live, options=PlanOptions())
    assert plan.access_unknown == (f"AWS accounts {', '.join(extra[:5])} and 1 more were not read")


@pytest.mark.parametrize("live_kind_known", [True, False])
def test_a_user_added_to_a_management_group_gains_its_roles_in_the_delta(
    live_kind_known: bool,
) -> None:
    # A live world that does not say its directory kind is predicted with the desired one.
    desired = desired_world()
    live = converged_live(desired)
    if not live_kind_known:
        live = dataclasses.replace(live, directory_kind=None)
    key = next(k for k, g in desired.directory_groups.items() if g.name == DEVOPS)
    users = desired.directory_groups[key].member_users or frozenset()
    desired = edit_group(desired, key, member_users=users | {"carol"})
    plan = plan_for(desired=desired, live=live)
    # carol (Finance: dev/ReadOnly already) gains DevOps's prod roles.
    assert {(a.user, a.account_id, a.role, a.gained) for a in plan.access_delta} == {
        ("carol", PROD, "Admin", True),
        ("carol", PROD, "ReadOnly", True),
    }
