"""Small worlds for tests: a desired state, the live world it converges to, and edits.

Shared by the diff, order, simulate and other engine tests, so the API is kept stable:
- `small_state(kind=...)` is a `spec.DesiredState` built in code (two accounts, three
  roles, three management groups including one adopted by dn, one with members not
  managed), and `desired_world(kind=...)` its compiled `World`;
- `converged_live(desired)` is the live world as the providers would read it once that
  desired world is applied and Okta has imported the directory. It is built here
  independently of `engine.simulate`, so tests of the diff are not circular;
- `put`, `drop` and `edit_*` return modified copies for table-driven cases;
- `plan_for`, `change_ids`, `by_id`, `finding_kinds` to run and inspect a diff;
- resource builders (`role`, `provider`, `role_group`, `management_group`,
  `okta_group`, `assignment`, `app`) with sensible defaults.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from engine.access import simulate_import
from engine.compile import compile_world
from engine.diff import diff
from engine.dn import build_dn, normalize_dn
from engine.model import (
    AppAssignment,
    DirectoryGroup,
    DirectoryKind,
    DirectoryUser,
    GroupRole,
    OktaApp,
    OktaAppSettings,
    OktaGroup,
    OktaGroupType,
    Role,
    SamlProvider,
    World,
    saml_trust_policy,
)
from engine.naming import (
    DEFAULT_ROLE_GROUP_NAME,
    derive_group_filter,
    derive_role_value_pattern,
    render_role_group_name,
)
from engine.plan import Change, FindingKind, Plan, PlanOptions
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

AD = DirectoryKind.ACTIVE_DIRECTORY
LDAP = DirectoryKind.LDAP
OKTA = DirectoryKind.OKTA

PROD, DEV = "111111111111", "222222222222"
OUTSIDE = "999999999999"  # an account the desired state does not list
ALIASES = {PROD: "prod", DEV: "dev"}
ROLE_OU = "OU=AWS Role Groups,DC=example,DC=test"
MGMT_OU = "OU=AWS Management Groups,DC=example,DC=test"
DEPT_OU = "OU=Departments,DC=example,DC=test"  # outside our OUs: adopted groups live here
USERS_BASE = "CN=Users,DC=example,DC=test"
PROVIDER = "OKTA"
APP_LABEL = "Amazon Web Services"
METADATA = '<EntityDescriptor entityID="http://www.okta.com/exk1"/>' + " " * 1000
ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
READONLY_POLICY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
AUDIT_POLICY = "arn:aws:iam::aws:policy/SecurityAudit"
LOGINS = ("alice", "bob", "carol", "dave", "erin")

DEVOPS, AUDITORS, FINANCE = "DevOps", "Auditors", "Finance"
FINANCE_DN = build_dn(cn=FINANCE, parent=DEPT_OU)


def small_state(*, kind: DirectoryKind = AD, create_app: bool = False) -> DesiredState:
    """prod: Admin, ReadOnly, Audit; dev: Admin, ReadOnly.

    DevOps (alice, bob): prod/Admin and */ReadOnly. Auditors (members not managed):
    prod/Audit. Finance (adopted by dn, carol): dev/ReadOnly.
    """
    return DesiredState(
        root=Path("."),
        settings=Settings(
            saml_provider=SamlProviderSpec(name=PROVIDER, metadata=METADATA),
            directory=DirectorySpec(
                kind=kind,
                role_groups_ou=ROLE_OU if kind is not OKTA else "",
                management_groups_ou=MGMT_OU if kind is not OKTA else "",
                users_base=USERS_BASE if kind is not OKTA else "",
            ),
            okta=OktaSpec(app_label=APP_LABEL, create_app=create_app),
        ),
        roles=(
            RoleSpec(name="Admin", managed_policies=(ADMIN_POLICY,), description="Admins"),
            RoleSpec(
                name="ReadOnly", managed_policies=(READONLY_POLICY,), max_session_duration=7200
            ),
            RoleSpec(name="Audit", managed_policies=(AUDIT_POLICY, READONLY_POLICY)),
        ),
        accounts=(
            AccountSpec(id=PROD, alias=ALIASES[PROD], roles=("Admin", "ReadOnly", "Audit")),
            AccountSpec(id=DEV, alias=ALIASES[DEV], roles=("Admin", "ReadOnly")),
        ),
        management_groups=(
            ManagementGroupSpec(
                name=DEVOPS,
                grants=(
                    GrantSpec(role="Admin", account="prod"),
                    GrantSpec(role="ReadOnly", account="*"),
                ),
                members=("alice", "bob"),
            ),
            ManagementGroupSpec(name=AUDITORS, grants=(GrantSpec(role="Audit", account="prod"),)),
            ManagementGroupSpec(
                name=FINANCE,
                dn=FINANCE_DN if kind is not OKTA else None,
                grants=(GrantSpec(role="ReadOnly", account="dev"),),
                members=("carol",),
            ),
        ),
    )


def desired_world(*, kind: DirectoryKind = AD) -> World:
    return compile_world(state=small_state(kind=kind))


def converged_live(desired: World, *, logins: Iterable[str] = LOGINS) -> World:
    """The live world once `desired` is applied and Okta has imported the directory.

    As a reader sees it: AWS resources tagged (adoption done), groups with definite
    member lists, directory users resolved, Okta groups imported (directory kinds) or
    created empty where membership is not managed (kind okta).
    """
    groups = {
        key: dataclasses.replace(
            g,
            member_users=g.member_users if g.member_users is not None else frozenset({"dave"}),
            description=g.description if not g.adopted else "Department group (not ours)",
        )
        for key, g in desired.directory_groups.items()
    }
    world = dataclasses.replace(
        desired,
        saml_providers={k: _owned(p) for k, p in desired.saml_providers.items()},
        roles={k: _owned(r) for k, r in desired.roles.items()},
        directory_groups=groups,
        directory_users={
            u: DirectoryUser(login=u, dn=normalize_dn(build_dn(cn=u, parent=USERS_BASE)))
            for u in logins
        },
        okta_app=dataclasses.replace(desired.okta_app, id="0oa1") if desired.okta_app else None,
        okta_groups={
            k: dataclasses.replace(g, members=g.members if g.members is not None else frozenset())
            for k, g in desired.okta_groups.items()
        },
    )
    kind = desired.directory_kind
    if kind is not None and kind is not OKTA:
        world = simulate_import(world=world, source=kind.okta_source)
    return world


def _owned(resource: Any) -> Any:
    return dataclasses.replace(resource, managed=True, adopt=False)


# --- resource builders -----------------------------------------------------------------


def provider(
    account: str = PROD, *, metadata: str = METADATA, managed: bool = True
) -> SamlProvider:
    return SamlProvider(account_id=account, name=PROVIDER, metadata=metadata, managed=managed)


def role(
    account: str = PROD,
    name: str = "Admin",
    *,
    policies: Iterable[str] = (ADMIN_POLICY,),
    max_session: int = 3600,
    description: str = "",
    managed: bool = True,
    adopt: bool = False,
    trust_policy: str | None = None,
) -> Role:
    return Role(
        account_id=account,
        name=name,
        trust_policy=trust_policy or saml_trust_policy(account_id=account, provider_name=PROVIDER),
        managed_policies=frozenset(policies),
        max_session_duration=max_session,
        description=description,
        managed=managed,
        adopt=adopt,
    )


def role_group_name(account: str, role_name: str) -> str:
    alias = ALIASES.get(account, "other")
    return render_role_group_name(
        syntax=DEFAULT_ROLE_GROUP_NAME, alias=alias, role=role_name, account_id=account
    )


def role_group_dn(account: str, role_name: str) -> str:
    """Normalized DN of the role group for (account, role)."""
    return normalize_dn(build_dn(cn=role_group_name(account, role_name), parent=ROLE_OU))


def mgmt_dn(name: str) -> str:
    """Normalized DN of a management group created in the management OU."""
    return normalize_dn(build_dn(cn=name, parent=MGMT_OU))


def role_group(
    account: str,
    role_name: str,
    *,
    members: Iterable[str] = (),
    users: frozenset[str] | None = frozenset(),
    description: str = "",
) -> DirectoryGroup:
    """A role group; `members` are management group names (in MGMT_OU) or DNs."""
    name = role_group_name(account, role_name)
    return DirectoryGroup(
        dn=build_dn(cn=name, parent=ROLE_OU),
        name=name,
        role=GroupRole.ROLE,
        description=description,
        member_groups=frozenset(m if "=" in m else mgmt_dn(m) for m in members),
        member_users=users,
        account_id=account,
        role_name=role_name,
    )


def management_group(
    name: str,
    *,
    users: frozenset[str] | None = None,
    dn: str | None = None,
    description: str = "",
) -> DirectoryGroup:
    """A management group in MGMT_OU, or adopted by `dn` when given."""
    return DirectoryGroup(
        dn=dn or build_dn(cn=name, parent=MGMT_OU),
        name=name,
        role=GroupRole.MANAGEMENT,
        description=description,
        member_users=users,
        adopted=dn is not None,
    )


def app_settings(*, kind: DirectoryKind = AD, **overrides: Any) -> OktaAppSettings:
    base = OktaAppSettings(
        use_group_mapping=True,
        app_filter=kind.okta_source,
        group_filter=derive_group_filter(syntax=DEFAULT_ROLE_GROUP_NAME),
        role_value_pattern=derive_role_value_pattern(saml_provider_name=PROVIDER),
    )
    return dataclasses.replace(base, **overrides)


def app(*, kind: DirectoryKind = AD, **overrides: Any) -> OktaApp:
    return OktaApp(label=APP_LABEL, settings=app_settings(kind=kind, **overrides), id="0oa1")


def okta_group(
    name: str,
    *,
    source: str = AD.okta_source,
    members: Iterable[str] | None = (),
    dn: str | None = None,
) -> OktaGroup:
    return OktaGroup(
        name=name,
        source=source,
        type=OktaGroupType.OKTA_GROUP if source == "okta" else OktaGroupType.APP_GROUP,
        dn=dn,
        members=None if members is None else frozenset(members),
    )


def assignment(name: str, *, source: str = AD.okta_source) -> AppAssignment:
    return AppAssignment(group_source=source, group_name=name)


# --- edits -----------------------------------------------------------------------------

_TABLES: dict[type, str] = {
    SamlProvider: "saml_providers",
    Role: "roles",
    DirectoryGroup: "directory_groups",
    DirectoryUser: "directory_users",
    OktaGroup: "okta_groups",
    AppAssignment: "app_assignments",
}


def _table(resource: Any) -> str:
    for kind, table in _TABLES.items():
        if isinstance(resource, kind):
            return table
    raise TypeError(f"not a world resource: {resource!r}")


def _key(resource: Any) -> Any:
    return resource.login if isinstance(resource, DirectoryUser) else resource.key


def put(world: World, *resources: Any) -> World:
    """`world` with `resources` added or replacing those with the same key."""
    for resource in resources:
        if isinstance(resource, OktaApp):
            world = dataclasses.replace(world, okta_app=resource)
            continue
        table = _table(resource)
        updates: dict[str, Any] = {table: {**getattr(world, table), _key(resource): resource}}
        world = dataclasses.replace(world, **updates)
    return world


def drop(world: World, *resources: Any) -> World:
    """`world` without the resources (matched by key; an OktaApp removes the app)."""
    for resource in resources:
        if isinstance(resource, OktaApp):
            world = dataclasses.replace(world, okta_app=None)
            continue
        table = _table(resource)
        remaining = {k: v for k, v in getattr(world, table).items() if k != _key(resource)}
        updates: dict[str, Any] = {table: remaining}
        world = dataclasses.replace(world, **updates)
    return world


def edit_role(world: World, account: str, name: str, **changes: Any) -> World:
    return put(world, dataclasses.replace(world.roles[(account, name.lower())], **changes))


def edit_group(world: World, dn: str, **changes: Any) -> World:
    """Change the directory group with normalized DN `dn`."""
    return put(world, dataclasses.replace(world.directory_groups[dn], **changes))


def edit_app(world: World, **settings: Any) -> World:
    assert world.okta_app is not None
    new = dataclasses.replace(world.okta_app.settings, **settings)
    return dataclasses.replace(world, okta_app=dataclasses.replace(world.okta_app, settings=new))


WorldEdit = Callable[[World], World]


# --- plans -----------------------------------------------------------------------------


def plan_for(
    *, desired: World, live: World, prune: bool = False, max_deletions: int = 100, **options: Any
) -> Plan:
    """diff() with test-friendly defaults (a high max_deletions so the guard stays out)."""
    return diff(
        desired=desired,
        live=live,
        options=PlanOptions(prune=prune, max_deletions=max_deletions, **options),
    )


def change_ids(plan: Plan) -> set[str]:
    return {c.id for c in plan.changes}


def by_id(plan: Plan) -> dict[str, Change]:
    return {c.id: c for c in plan.changes}


def finding_kinds(plan: Plan) -> list[tuple[FindingKind, str]]:
    """(kind, subject) of each finding, in plan order."""
    return [(f.kind, f.subject) for f in plan.findings]
