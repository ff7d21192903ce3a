"""Property: the directory kind does not change who gets what (issue 16).

With `directory.kind: okta` there is no directory to nest groups in, so okta-aws fills
each role group with the union of its management groups' members, reading the members of
groups left to their owners (members omitted) from Okta. With `kind: ldap` the directory
nests the management groups and Okta's import flattens them. For any desired state and
any membership the owners gave their groups, the two must grant exactly the same
(user, account, role), through the same management groups (`via`): desired, and live
once each has converged (in memory: `diff`, `simulate.apply_changes` and, for ldap,
Okta's import). The end-to-end version on slapd and the Okta emulator is
tests/e2e/test_okta_mode.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engine.access import desired_access, effective_access, simulate_import
from engine.compile import compile_world
from engine.diff import diff
from engine.dn import build_dn
from engine.model import (
    DirectoryGroup,
    DirectoryKind,
    DirectoryUser,
    GroupRole,
    OktaApp,
    OktaAppSettings,
    OktaGroup,
    World,
)
from engine.plan import PlanOptions
from engine.simulate import apply_changes
from engine.spec import DesiredState, DirectorySpec
from tests.unit.strategies import desired_states, imported
from tests.unit.worlds import LOGINS, MGMT_OU, ROLE_OU, USERS_BASE

OKTA, LDAP = DirectoryKind.OKTA, DirectoryKind.LDAP
PEOPLE = (*LOGINS, "yvonne", "zoe")  # owners may add people the desired state never names
EVERYTHING = PlanOptions(prune=True, max_deletions=10_000)
Memberships = Mapping[str, frozenset[str]]
Facts = frozenset[tuple[tuple[str, str, str], frozenset[str]]]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[DesiredState, Memberships]:
    """A desired state of kind okta, and the members owners gave each group whose
    members it omits."""
    state = draw(desired_states(OKTA))
    owned = [g.name for g in state.management_groups if g.members is None]
    people = st.frozensets(st.sampled_from(PEOPLE), max_size=4)
    return state, {name: draw(people) for name in owned}


def as_kind(state: DesiredState, kind: DirectoryKind) -> DesiredState:
    if kind is OKTA:
        return state
    directory = DirectorySpec(
        kind=kind, role_groups_ou=ROLE_OU, management_groups_ou=MGMT_OU, users_base=USERS_BASE
    )
    return dataclasses.replace(
        state, settings=dataclasses.replace(state.settings, directory=directory)
    )


def brownfield(desired: World, owned: Memberships) -> World:
    """Before okta-aws: nothing of ours in AWS, the app on Okta's defaults, people, and
    the owner-managed groups with their members (in the directory, imported; or in Okta)."""
    app = desired.okta_app
    assert app is not None
    live = World.build(
        okta_app=OktaApp(
            label=app.label, settings=OktaAppSettings(use_group_mapping=False), id="0oa1"
        ),
        accounts=desired.accounts,
        account_aliases=desired.account_aliases,
        directory_kind=desired.directory_kind,
    )
    if desired.directory_kind is OKTA:
        groups = [OktaGroup(name=n, source="okta", members=m) for n, m in owned.items()]
        return dataclasses.replace(live, okta_groups={g.key: g for g in groups})
    users = [DirectoryUser(login=u, dn=build_dn(cn=u, parent=USERS_BASE).lower()) for u in PEOPLE]
    directory = [
        DirectoryGroup(
            dn=build_dn(cn=n, parent=MGMT_OU), name=n, role=GroupRole.MANAGEMENT, member_users=m
        )
        for n, m in owned.items()
    ]
    live = dataclasses.replace(
        live,
        directory_groups={g.key: g for g in directory},
        directory_users={u.login: u for u in users},
    )
    assert desired.directory_kind is not None
    return simulate_import(world=live, source=desired.directory_kind.okta_source)


def converge(desired: World, live: World) -> World:
    """plan → apply → Okta's import (ldap), until the plan is empty."""
    for _ in range(3):
        plan = diff(desired=desired, live=live, options=EVERYTHING)
        if plan.empty:
            return live
        assert not plan.blocked, plan.findings
        live = imported(apply_changes(world=live, changes=plan.changes))
    assert diff(desired=desired, live=live, options=EVERYTHING).empty
    return live


def facts(world: World) -> Facts:
    return frozenset((e.key, e.via) for e in effective_access(world=world))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_the_directory_kind_does_not_change_who_gets_what(
    scenario: tuple[DesiredState, Memberships],
) -> None:
    state, owned = scenario
    found: dict[DirectoryKind, tuple[Facts, Facts]] = {}
    for kind in (LDAP, OKTA):
        spec = as_kind(state, kind)
        desired = compile_world(state=spec)
        live = converge(desired, brownfield(desired, owned))
        wanted = frozenset((e.key, e.via) for e in desired_access(state=spec))
        found[kind] = (wanted, facts(live))
    assert found[OKTA][0] == found[LDAP][0], "desired access differs"
    assert found[OKTA][1] == found[LDAP][1], "live access after apply differs"
    # Live access is desired access plus what the owners' groups grant.
    extra = found[OKTA][1] - found[OKTA][0]
    assert all(via & set(owned) for _, via in extra)
    event("owner-managed groups grant someone" if extra else "only listed members")
