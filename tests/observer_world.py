"""The observer's judge over simulated worlds: the diff's property tests' own witness.

The convergence properties apply a plan to an in-memory live world; an empty re-diff
then only says the engine sees nothing left, which a diff blind to some attribute (say,
managed policies) says too. This module lets `tests/observer_judge.py`, the judge the
end-to-end tests use, decide instead: the random `spec.DesiredState` is written out as
the YAML documents it stands for (so `tests/observer_expect.py` expands it, not
`compile`), and the world after the plan is laid out as the raw holdings a reader of
each system would see (role tags, member DNs, Okta's `settings.app` under Okta's own
names, groups by id). The engine's model classes are used only as data containers.
"""

from __future__ import annotations

from typing import Any

from engine.model import World
from engine.spec import DesiredState
from tests.observer_expect import desired_from_documents
from tests.observer_judge import Leftovers, judge
from tests.observer_views import LiveAccount, LiveDirectory, LiveGroup, LiveRole, OktaView
from tests.observer_views import normalized_dn as dn_key

# Okta's names for the app's `settings.app` fields (Okta's API, not the engine's table).
OKTA_APP_FIELDS = {
    "useGroupMapping": "use_group_mapping",
    "appFilter": "app_filter",
    "groupFilter": "group_filter",
    "roleValuePattern": "role_value_pattern",
    "sessionDuration": "session_duration",
    "joinAllRoles": "join_all_roles",
    "loginURL": "login_url",
}


def spec_documents(state: DesiredState) -> list[dict[str, Any]]:
    """The YAML documents (as `yaml.safe_load` reads them) `state` was loaded from."""
    s = state.settings
    settings = {
        "saml_provider": {"name": s.saml_provider.name, "adopt": s.saml_provider.adopt},
        "aws": {"access_role": s.aws.access_role, "managed_tag": dict([s.aws.managed_tag])},
        "directory": {
            "kind": str(s.directory.kind),
            "role_groups_ou": s.directory.role_groups_ou,
            "management_groups_ou": s.directory.management_groups_ou,
            "users_base": s.directory.users_base,
        },
        "role_group_name": s.role_group_name,
        "role_group_description": s.role_group_description,
        "okta": {
            "app_label": s.okta.app_label,
            "app_filter": s.okta.app_filter,
            "group_filter": s.okta.group_filter,
            "role_value_pattern": s.okta.role_value_pattern,
            "session_duration": s.okta.session_duration,
            "join_all_roles": s.okta.join_all_roles,
            "login_url": s.okta.login_url,
        },
    }
    roles = {
        r.name: {
            "managed_policies": list(r.managed_policies),
            "max_session_duration": r.max_session_duration,
            "description": r.description,
            "adopt": r.adopt,
        }
        for r in state.roles
    }
    accounts = [
        {
            "id": a.id,
            "alias": a.alias,
            "roles": list(a.roles),
            "tags": dict(a.tags),
            "adopt_roles": list(a.adopt_roles),
        }
        for a in state.accounts
    ]
    groups = [
        {
            "name": g.name,
            "dn": g.dn,
            "description": g.description,
            "grants": [
                {"role": grant.role, "account": grant.account}
                if grant.account_tags is None
                else {"role": grant.role, "account_tags": dict(grant.account_tags)}
                for grant in g.grants
            ],
            "members": None if g.members is None else list(g.members),
        }
        for g in state.management_groups
    ]
    return [
        {"settings": settings},
        {"roles": roles},
        {"accounts": accounts},
        {"management_groups": groups},
    ]


def _aws(world: World, tag: dict[str, str]) -> dict[str, LiveAccount]:
    accounts = {a: LiveAccount() for a in world.accounts}
    for r in world.roles.values():
        accounts.setdefault(r.account_id, LiveAccount()).roles[r.name] = LiveRole(
            trust=r.trust_policy,
            policies=set(r.managed_policies),
            max_session=r.max_session_duration,
            description=r.description,
            tags=dict(tag) if r.managed else {},
        )
    for p in world.saml_providers.values():
        accounts.setdefault(p.account_id, LiveAccount()).providers[p.name] = (
            p.metadata,
            dict(tag) if p.managed else {},
        )
    return accounts


def _directory(world: World) -> LiveDirectory:
    users = {dn_key(u.dn): u.login for u in world.directory_users.values()}
    user_dn = {login: dn for dn, login in users.items()}
    groups: dict[str, LiveGroup] = {}
    for g in world.directory_groups.values():
        logins = g.member_users or frozenset()
        for login in logins - set(user_dn):  # a login no entry has: a DN nothing resolves
            user_dn[login] = f"uid={login},ou=unresolved"
        groups[dn_key(g.dn)] = LiveGroup(
            dn=g.dn,
            name=g.name,
            description=g.description,
            member_dns={dn_key(m) for m in g.member_groups} | {user_dn[u] for u in logins},
            member_of=set(),
        )
    for key, group in groups.items():  # memberOf as a server answers it: who holds it
        for member in group.member_dns:
            if member in groups:
                groups[member].member_of.add(key)
    return LiveDirectory(groups=groups, users=users, member_of_kept=True)


def _okta(world: World) -> OktaView:
    app = world.okta_app
    settings = (
        {} if app is None else {o: getattr(app.settings, f) for o, f in OKTA_APP_FIELDS.items()}
    )
    groups: dict[str, dict[str, Any]] = {}
    sources: dict[str, str] = {}
    members: dict[str, set[str]] = {}
    for key, g in world.okta_groups.items():
        gid = "/".join(key)
        groups[gid] = {
            "profile": {"name": g.name, "description": g.description},
            "type": str(g.type),
        }
        sources[gid] = g.source
        if g.members is not None:
            members[gid] = set(g.members)
    # Okta deletes a group's assignments with it (an import dropping a group the
    # directory lost does too); the simulation keeps them, Okta would not show them.
    assigned = {"/".join(key) for key in world.app_assignments} & set(groups)
    return OktaView(
        app={"settings": {"app": settings}},
        metadata="",
        assigned=assigned,
        groups=groups,
        sources=sources,
        members=members,
    )


def world_differences(
    *, state: DesiredState, world: World, prune: bool, leftovers: Leftovers
) -> list[str]:
    """Every way `world` differs from what `state`'s YAML asks for (empty: converged)."""
    want = desired_from_documents(
        spec_documents(state), metadata=state.settings.saml_provider.metadata
    )
    tag = dict([state.settings.aws.managed_tag])
    return judge(
        want=want,
        aws=_aws(world, tag),
        directory=None if want.kind == "okta" else _directory(world),
        okta=_okta(world),
        prune=prune,
        leftovers=leftovers,
    )


def everything_but_desired(live: World) -> Leftovers:
    """Leftovers: whatever `live` holds, for a plan that may keep any of it (no prune, or
    a protected name among it). What the desired state asks for is judged all the same."""
    assigned = {a.group_name for a in live.app_assignments.values()} | {
        live.okta_groups[k].name for k in live.app_assignments if k in live.okta_groups
    }
    return Leftovers(
        roles=frozenset((r.account_id, r.name) for r in live.roles.values()),
        assignments=frozenset(assigned),
        groups=frozenset(g.name for g in live.directory_groups.values()),
        slots=frozenset((r.account_id, r.name) for r in live.roles.values()),
    )
