"""Hypothesis strategies for worlds: random small desired states and drifted live worlds.

A desired world is compiled from a random `spec.DesiredState` (so it has exactly the
shape `compile` gives). A live world is what an *earlier* random desired state
converged to (`worlds.converged_live`), then drifted: resources dropped, member lists
edited by hand, Okta's import lagging, hand-made assignments, look-alike (rogue)
groups, untagged roles, resources in an account the desired state does not list.

Live worlds respect ownership as a real org would after okta-aws ran: an untagged
role or provider that bears a desired name is one the desired state adopts (anything
else is a conflict, tested separately), and a group adopted by dn exists. Names that
may be adopted (FINANCE, DATA) are never created in the management OU and vice versa,
so Okta never holds two groups of one name from one source.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import strategies as st

from engine.access import simulate_import
from engine.compile import compile_world
from engine.dn import build_dn, normalize_dn
from engine.model import DirectoryKind, System, World
from engine.naming import DEFAULT_ROLE_GROUP_NAME, render_role_group_name
from engine.plan import PlanOptions
from engine.spec import (
    AccountSpec,
    DesiredState,
    DirectorySpec,
    GrantSpec,
    ManagementGroupSpec,
    OktaSpec,
    RoleSpec,
    SamlProviderSpec,
    Settings,
)
from tests.unit.worlds import (
    ADMIN_POLICY,
    APP_LABEL,
    AUDIT_POLICY,
    DEPT_OU,
    LOGINS,
    METADATA,
    MGMT_OU,
    OUTSIDE,
    PROVIDER,
    READONLY_POLICY,
    ROLE_OU,
    USERS_BASE,
    assignment,
    converged_live,
    okta_group,
    put,
    role,
)

ACCOUNTS = {"111111111111": "prod", "222222222222": "dev", "333333333333": "lab"}
ROLE_NAMES = ("Admin", "ReadOnly", "Audit", "Ops")
POLICIES = (ADMIN_POLICY, READONLY_POLICY, AUDIT_POLICY)
OWN_GROUPS = ("DevOps", "Auditors", "Ops Team")
ADOPTABLE = ("Finance", "Data")  # always adopted by dn (directory kinds)
KINDS = tuple(DirectoryKind)
K = TypeVar("K")
V = TypeVar("V")


def rendered_role_group(account_id: str, role_name: str) -> str:
    return render_role_group_name(
        syntax=DEFAULT_ROLE_GROUP_NAME,
        alias=ACCOUNTS[account_id],
        role=role_name,
        account_id=account_id,
    )


def adopted_dn(name: str) -> str:
    return build_dn(cn=name, parent=DEPT_OU)


def _subset(items: tuple[str, ...], *, min_size: int = 0) -> st.SearchStrategy[tuple[str, ...]]:
    if not items:
        return st.just(())
    return st.lists(st.sampled_from(items), min_size=min_size, unique=True).map(
        lambda chosen: tuple(i for i in items if i in chosen)  # stable order
    )


def _often(draw: st.DrawFn) -> int:
    """A minimum size of 1 three times in four (0 otherwise, and when shrinking)."""
    return 1 if draw(st.integers(min_value=0, max_value=3)) else 0


@st.composite
def desired_states(draw: st.DrawFn, kind: DirectoryKind | None = None) -> DesiredState:
    """A random valid desired state over small pools of accounts, roles, groups, users."""
    kind = kind or draw(st.sampled_from(KINDS))
    roles = tuple(
        RoleSpec(
            name=name,
            managed_policies=draw(_subset(POLICIES, min_size=1)),
            max_session_duration=draw(st.sampled_from((3600, 7200))),
            description=draw(st.sampled_from(("", f"{name} access"))),
            adopt=draw(st.booleans()),
        )
        for name in draw(_subset(ROLE_NAMES, min_size=1))
    )
    role_names = tuple(r.name for r in roles)
    accounts = tuple(
        AccountSpec(
            id=account_id,
            alias=ACCOUNTS[account_id],
            roles=(chosen := draw(_subset(role_names))),
            adopt_roles=draw(_subset(chosen)),
        )
        for account_id in draw(_subset(tuple(ACCOUNTS), min_size=1))
    )
    names = OWN_GROUPS + (ADOPTABLE if kind is not DirectoryKind.OKTA else ())
    grant = st.builds(
        GrantSpec,
        role=st.sampled_from(role_names),
        account=st.sampled_from(("*", *(a.alias for a in accounts))),
    )
    # Most groups grant something and have members: access is what the plan shows
    # reviewers first, so most random worlds should grant some.
    groups = tuple(
        ManagementGroupSpec(
            name=name,
            dn=adopted_dn(name) if name in ADOPTABLE else None,
            description=draw(st.sampled_from(("", f"{name} people"))),
            grants=tuple(draw(st.lists(grant, min_size=_often(draw), max_size=3))),
            members=draw(st.none() | _subset(LOGINS, min_size=_often(draw))),
        )
        for name in draw(_subset(names, min_size=_often(draw)))
    )
    directory = (
        DirectorySpec(kind=kind)
        if kind is DirectoryKind.OKTA
        else DirectorySpec(
            kind=kind, role_groups_ou=ROLE_OU, management_groups_ou=MGMT_OU, users_base=USERS_BASE
        )
    )
    return DesiredState(
        root=Path("."),
        settings=Settings(
            saml_provider=SamlProviderSpec(
                name=PROVIDER, metadata=METADATA, adopt=draw(st.booleans())
            ),
            directory=directory,
            okta=OktaSpec(
                app_label=APP_LABEL,
                session_duration=draw(st.sampled_from((3600, 43200))),
                join_all_roles=draw(st.booleans()),
            ),
        ),
        roles=roles,
        accounts=accounts,
        management_groups=groups,
    )


def desired_worlds(kind: DirectoryKind | None = None) -> st.SearchStrategy[World]:
    return desired_states(kind).map(lambda state: compile_world(state=state))


def _pick(draw: st.DrawFn, mapping: Mapping[K, Any], *, max_size: int) -> list[K]:
    """Up to `max_size` keys of `mapping`, drawn in a stable order."""
    keys = sorted(mapping, key=repr)
    if not keys:
        return []
    return draw(st.lists(st.sampled_from(keys), unique=True, max_size=max_size))


def _drop_some(draw: st.DrawFn, mapping: Mapping[K, V]) -> dict[K, V]:
    # One kind of resource in three drifts: with every kind drifting at once, hardly
    # any random live world would still grant access to anyone.
    if draw(st.integers(min_value=0, max_value=2)) < 2:
        return dict(mapping)
    gone = set(_pick(draw, mapping, max_size=3))
    return {k: v for k, v in mapping.items() if k not in gone}


@st.composite
def drifted_live(draw: st.DrawFn, desired: World) -> World:
    """The live world an earlier desired state left, drifted, seen against `desired`."""
    kind = desired.directory_kind or DirectoryKind.ACTIVE_DIRECTORY
    earlier = compile_world(state=draw(desired_states(kind)))
    live = _converged(earlier, kind)
    live = dataclasses.replace(
        live,
        saml_providers=_drop_some(draw, live.saml_providers),
        roles=_drop_some(draw, live.roles),
        directory_groups=_drop_some(draw, live.directory_groups),
        okta_groups=_drop_some(draw, live.okta_groups),
        app_assignments=_drop_some(draw, live.app_assignments),
    )
    # Hand edits of member lists.
    groups = dict(live.directory_groups)
    for key in _pick(draw, groups, max_size=3):
        groups[key] = dataclasses.replace(
            groups[key],
            member_users=frozenset(draw(_subset(LOGINS))),
            member_groups=groups[key].member_groups
            | ({normalize_dn(adopted_dn("Contractors"))} if draw(st.booleans()) else frozenset()),
        )
    live = dataclasses.replace(live, directory_groups=groups)
    okta = dict(live.okta_groups)
    for okta_key in _pick(draw, okta, max_size=2):
        okta[okta_key] = dataclasses.replace(
            okta[okta_key], members=frozenset(draw(_subset(LOGINS)))
        )
    # An inline policy added by hand: live only, never compared (the model has none).
    roles = dict(live.roles)
    for role_key in _pick(draw, roles, max_size=1):
        roles[role_key] = dataclasses.replace(roles[role_key], inline_policies=frozenset({"extra"}))
    live = dataclasses.replace(live, okta_groups=okta, roles=roles)
    # Unrelated things that must be left alone, or only reported.
    extras: list[Any] = []
    if draw(st.booleans()):
        extras += [role(OUTSIDE, "Admin"), role(OUTSIDE, "Stray", managed=False)]
    if draw(st.booleans()):
        account = draw(st.sampled_from(sorted(ACCOUNTS)))
        extras.append(role(account, "HandMade", managed=False))
    if draw(st.booleans()):
        extras += [okta_group("Everyone", source="okta"), assignment("Everyone", source="okta")]
    if draw(st.booleans()):
        rogue = rendered_role_group("111111111111", "Admin")
        source = "ldap_sun_one" if kind is not DirectoryKind.LDAP else "okta"
        extras.append(okta_group(rogue, source=source, members={"mallory"}))
    if draw(st.booleans()) and live.okta_app is not None:
        settings = dataclasses.replace(live.okta_app.settings, session_duration=900)
        live = dataclasses.replace(
            live, okta_app=dataclasses.replace(live.okta_app, settings=settings)
        )
    live = put(live, *extras)
    return respect_ownership(desired=desired, live=live, draw=draw)


def _converged(earlier: World, kind: DirectoryKind) -> World:
    live = converged_live(earlier)
    return dataclasses.replace(live, accounts=frozenset(ACCOUNTS) | {OUTSIDE})


def respect_ownership(*, desired: World, live: World, draw: st.DrawFn) -> World:
    """Make `live` one okta-aws could have left: no conflicts, adopted groups exist.

    An untagged AWS resource bearing a desired name is one the desired state adopts;
    some of those are left untagged (adoption pending), the rest tagged.
    """
    roles = {}
    for key, r in live.roles.items():
        want = desired.roles.get(key)
        if want is not None and not r.managed and not want.adopt:
            r = dataclasses.replace(r, managed=True)
        elif want is not None and want.adopt and draw(st.booleans()):
            r = dataclasses.replace(r, managed=False)
        roles[key] = r
    providers = {}
    for key, p in live.saml_providers.items():
        want_p = desired.saml_providers.get(key)
        if want_p is not None and want_p.adopt and draw(st.booleans()):
            p = dataclasses.replace(p, managed=False)
        providers[key] = p
    groups = dict(live.directory_groups)
    for dn, g in desired.directory_groups.items():
        if g.adopted and dn not in groups:
            groups[dn] = dataclasses.replace(
                g,
                member_users=frozenset(draw(_subset(LOGINS))),
                description="department",
            )
    live = dataclasses.replace(live, roles=roles, saml_providers=providers, directory_groups=groups)
    return live


@st.composite
def world_pairs(draw: st.DrawFn) -> tuple[World, World]:
    """(desired, live) of one directory kind."""
    desired = draw(desired_worlds())
    return desired, draw(drifted_live(desired))


@st.composite
def plan_options(draw: st.DrawFn, desired: World) -> PlanOptions:
    """Random prune and protected names (roles and role groups); no guard in the way."""
    names = sorted({r.name for r in desired.roles.values()} | {"Admin", "Legacy"})
    names += [rendered_role_group(a, r) for a in ACCOUNTS for r in ROLE_NAMES]
    return PlanOptions(
        prune=draw(st.booleans()),
        max_deletions=10_000,
        protected=frozenset(draw(st.lists(st.sampled_from(names), max_size=3))),
    )


def imported(world: World, *, covered_ous: tuple[str, ...] = (ROLE_OU, MGMT_OU)) -> World:
    """`world` after Okta's next directory import (nothing changes for kind okta)."""
    kind = world.directory_kind
    if kind is None or kind is DirectoryKind.OKTA:
        return world
    return simulate_import(world=world, source=kind.okta_source, covered_ous=covered_ous)


def systems_subsets(*, min_size: int = 1) -> st.SearchStrategy[frozenset[System]]:
    """Any `--only` selection."""
    return st.sets(st.sampled_from(tuple(System)), min_size=min_size).map(frozenset)


def as_read(world: World, *, systems: frozenset[System], failed: frozenset[str]) -> World:
    """`world` as a read of `systems` leaves it, with the AWS accounts `failed` unread.

    As `providers.live` merges a read: a system not read has no part in the world and is
    not in `systems` (with kind okta, Okta's groups are the directory: both or neither);
    an account whose read failed is not in `accounts` and none of its resources are.
    """
    read = set(systems)
    if world.directory_kind is DirectoryKind.OKTA:
        read.discard(System.DIRECTORY)
        if System.OKTA in read:
            read.add(System.DIRECTORY)
    aws, directory, okta = (s in read for s in (System.AWS, System.DIRECTORY, System.OKTA))
    if world.directory_kind is DirectoryKind.OKTA:
        directory = False  # no directory provider: nothing of Okta's is read by it
    return dataclasses.replace(
        world,
        saml_providers={
            k: p for k, p in world.saml_providers.items() if aws and p.account_id not in failed
        },
        roles={k: r for k, r in world.roles.items() if aws and r.account_id not in failed},
        accounts=world.accounts - failed if aws else frozenset(),
        directory_groups=dict(world.directory_groups) if directory else {},
        directory_users=dict(world.directory_users) if directory else {},
        okta_app=world.okta_app if okta else None,
        okta_groups=dict(world.okta_groups) if okta else {},
        app_assignments=dict(world.app_assignments) if okta else {},
        systems=frozenset(read),
    )
