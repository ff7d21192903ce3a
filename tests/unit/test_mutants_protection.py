"""Rules of `engine/protection.py` that surviving mutants showed no test pinned down
(`make mutate`, tests/README.md "Mutation testing")."""

from __future__ import annotations

import dataclasses

import pytest

from engine.compile import compile_world
from engine.model import DirectoryKind
from engine.plan import FindingKind
from engine.spec import DesiredState
from tests.unit.worlds import (
    DEVOPS,
    FINANCE,
    PROD,
    converged_live,
    desired_world,
    edit_app,
    plan_for,
    role_group_name,
    small_state,
)

PROVIDER = "arn:aws:iam::${accountid}:saml-provider/OKTA"


def without_prod_admin(kind: DirectoryKind, *grantless: str) -> DesiredState:
    """small_state without prod's Admin role (its role group dropped) and with the
    management groups `grantless` declared but granted nothing."""
    state = small_state(kind=kind)
    return dataclasses.replace(
        state,
        management_groups=tuple(
            dataclasses.replace(g, grants=()) if g.name in grantless else g
            for g in state.management_groups
        ),
        accounts=tuple(
            dataclasses.replace(a, roles=tuple(r for r in a.roles if r != "Admin"))
            if a.id == PROD
            else a
            for a in state.accounts
        ),
    )


@pytest.mark.parametrize("prefix", ["Z", "A"], ids=["sorts after", "sorts before"])
def test_app_settings_mapping_a_protected_role_group_to_another_role_block_the_plan(
    prefix: str,
) -> None:
    # Another role, whichever way its name sorts, is not the role the group protects.
    live = converged_live(desired_world())
    pattern = f"{PROVIDER},arn:aws:iam::${{accountid}}:role/{prefix}${{role}}"
    desired = edit_app(desired_world(), role_value_pattern=pattern)
    protected = role_group_name(PROD, "Admin")
    plan = plan_for(desired=desired, live=live, protected=frozenset({protected}))
    [conflict] = [f for f in plan.findings if f.kind is FindingKind.CONFLICT]
    assert conflict.subject == f"protected role group {protected}"
    assert f"it would map to role {prefix.lower()}admin in {PROD} instead" in conflict.message


def test_kind_okta_a_protected_role_group_keeps_the_assignment_of_a_group_sharing_its_users() -> (
    None
):
    """Okta cannot nest: the users of a protected (dropped) role group sign in through
    the assignment of a management group that shares them. DevOps keeps no grant, so
    --prune would remove its assignment and alice and bob would lose the protected Admin
    too; protection keeps it (the kind-okta branch of build_protection, which the
    mutation run found untested). Finance, also without grants, shares no user: its
    assignment goes."""
    desired = compile_world(state=without_prod_admin(DirectoryKind.OKTA, DEVOPS, FINANCE))
    live = converged_live(desired_world(kind=DirectoryKind.OKTA))
    removal = "app_assignment:okta/devops:-"

    unprotected = plan_for(desired=desired, live=live, prune=True)
    assert removal in {c.id for c in unprotected.changes}
    assert {(a.user, a.role) for a in unprotected.access_delta if a.account_id == PROD} >= {
        ("alice", "Admin"),
        ("bob", "Admin"),
    }

    protected = role_group_name(PROD, "Admin")
    plan = plan_for(desired=desired, live=live, prune=True, protected=frozenset({protected}))
    assert removal not in {c.id for c in plan.changes}
    assert (FindingKind.PRUNE_SKIPPED, "assignment of DevOps (okta)") in {
        (f.kind, f.subject) for f in plan.findings
    }
    assert not any(a.role == "Admin" for a in plan.access_delta)
    # Finance (carol) shares no user with it: its assignment goes all the same.
    assert "app_assignment:okta/finance:-" in {c.id for c in plan.changes}


@pytest.mark.parametrize("live_says_kind", [True, False], ids=["kind read", "kind unknown"])
def test_a_declared_management_group_in_a_protected_role_group_keeps_its_assignment(
    live_says_kind: bool,
) -> None:
    """DevOps stays declared but keeps no grant, and prod's Admin role group is dropped
    and protected: DevOps is still Member Of it, so its assignment is what lets alice and
    bob sign in to the protected role; --prune keeps it (`_manages` must take a declared
    management group for one: `is MANAGEMENT` mutated to `> MANAGEMENT` dropped it)."""
    live = converged_live(desired_world())
    if not live_says_kind:  # a live world that does not say its kind: the desired one's
        live = dataclasses.replace(live, directory_kind=None)
    protected = role_group_name(PROD, "Admin")
    plan = plan_for(
        desired=compile_world(state=without_prod_admin(DirectoryKind.ACTIVE_DIRECTORY, DEVOPS)),
        live=live,
        prune=True,
        protected=frozenset({protected}),
    )
    assert "app_assignment:active_directory/devops:-" not in {c.id for c in plan.changes}
    assert (FindingKind.PRUNE_SKIPPED, "assignment of DevOps (active_directory)") in {
        (f.kind, f.subject) for f in plan.findings
    }
    assert not any(a.role == "Admin" for a in plan.access_delta)


def test_a_live_group_filter_that_does_not_compile_is_repaired_not_a_crash() -> None:
    """The live app's filter is whatever someone typed in Okta's console: one our regex
    dialect cannot compile maps no group, so nothing protected is unmapped by the fix
    (`_Mapper` swallowing NamingError; replacing that handler crashed the plan)."""
    live = edit_app(converged_live(desired_world()), group_filter="(unclosed")
    protected = role_group_name(PROD, "Admin")
    plan = plan_for(desired=desired_world(), live=live, protected=frozenset({protected}))
    assert not plan.blocked and plan.findings == ()
    assert [c.id for c in plan.changes] == ["okta_app:Amazon Web Services:~"]
