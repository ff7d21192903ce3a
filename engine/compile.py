"""The desired state, compiled into the same normalized `World` the providers read.

`diff` only ever compares two worlds, so everything the user means by a few lines of
YAML has to be spelled out here: one SAML provider and one IAM role per (account,
role), one role group per (account, role) named by the role-group syntax, the
management groups and their Member Of links (grants with `"*"` and `account_tags`
expanded), the Okta app's settings and its group assignments. With
`directory.kind: okta` there is no directory: the groups become Okta groups and, since
Okta cannot nest, a role group's members are the union of its management groups'. That
union is only half known here: a management group whose `members` are omitted is run by
its owners in Okta, so compile records every contributing group (`member_groups`) and the
listed members it knows (`members`); the diff adds the owner-managed groups' live members
(`diff_okta`), and compile stays a pure function of the YAML.

Compile assumes `validate` passed. Entries validation reports (a grant naming an
unknown account, or an account that lacks the role; a role missing from the
catalogue) are skipped here, never guessed at, so a compiled world only holds what the
user unambiguously asked for.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from engine.dn import build_dn, normalize_dn
from engine.model import (
    AppAssignment,
    DirectoryGroup,
    DirectoryKind,
    GroupRole,
    OktaApp,
    OktaAppSettings,
    OktaGroup,
    OktaGroupType,
    Role,
    SamlProvider,
    World,
    normalize_app_filter,
    saml_trust_policy,
)
from engine.naming import (
    derive_group_filter,
    derive_role_value_pattern,
    render_description,
    render_role_group_name,
)
from engine.spec import AccountSpec, DesiredState, GrantSpec, ManagementGroupSpec

DEFAULT_ROLE_GROUP_DESCRIPTION = "AWS role {role} in {alias} ({account_id}); managed by okta-aws"
# The Okta app settings compile works out (from the directory kind, role_group_name and
# the SAML provider's name); every other field of `model.OktaAppSettings` is the
# `spec.OktaSpec` field of the same name, as written (a model field with neither fails
# `compile_world` loudly).
DERIVED_APP_SETTINGS = ("use_group_mapping", "app_filter", "group_filter", "role_value_pattern")


def app_settings_as_written() -> tuple[str, ...]:
    """The app settings the YAML states as they are (`okta.session_duration`…), in the
    model's field order: what `compile` copies and what `import` writes back."""
    return tuple(
        f.name for f in dataclasses.fields(OktaAppSettings) if f.name not in DERIVED_APP_SETTINGS
    )


RoleSlot = tuple[str, str]
"""(account id, catalogue key): one IAM role, one role group, both named by the entry's
`iam_role_name` (the key unless `iam_name` says otherwise)."""


def compile_world(*, state: DesiredState, metadata: str | None = None) -> World:
    """The world `state` asks for.

    `metadata` is the SAML metadata document to put in every account's provider. When
    given it wins over the spec's `metadata_file` (the caller fetched it, e.g. from the
    Okta app because the spec names no file); when neither exists the providers carry
    `""` and the caller must fill it in before diffing.
    """
    settings = state.settings
    kind = settings.directory.kind
    slots = _role_slots(state)
    iam = _iam_names(state)
    granted = _expand_grants(state=state, slots=frozenset(slots))

    doc = metadata if metadata is not None else (settings.saml_provider.metadata or "")
    providers = [
        SamlProvider(
            account_id=account.id,
            name=settings.saml_provider.name,
            metadata=doc,
            adopt=settings.saml_provider.adopt,
        )
        for account in state.accounts
    ]
    roles = [_role(state=state, account=slots[slot], key=slot[1]) for slot in slots]

    # Role group per slot: name and the management groups granted it.
    role_group_names = {
        slot: render_role_group_name(
            syntax=settings.role_group_name,
            alias=slots[slot].alias,
            role=iam[slot[1]],
            account_id=slot[0],
        )
        for slot in slots
    }
    grantees: dict[RoleSlot, list[ManagementGroupSpec]] = defaultdict(list)
    for group in state.management_groups:
        for slot in granted[group.name]:
            grantees[slot].append(group)
    assigned = [g for g in state.management_groups if granted[g.name]]

    directory_groups: list[DirectoryGroup] = []
    okta_groups: list[OktaGroup] = []
    if kind is DirectoryKind.OKTA:
        okta_groups = [
            OktaGroup(
                name=role_group_names[slot],
                source=kind.okta_source,
                type=OktaGroupType.OKTA_GROUP,
                description=_role_group_description(
                    state=state, account_id=slot[0], role=iam[slot[1]], alias=account.alias
                ),
                members=_listed_members(grantees[slot]),
                member_groups=frozenset(g.name for g in grantees[slot]),
            )
            for slot, account in slots.items()
        ] + [
            OktaGroup(
                name=group.name,
                source=kind.okta_source,
                type=OktaGroupType.OKTA_GROUP,
                description=group.description,
                members=_logins(group),
            )
            for group in state.management_groups
        ]
    else:
        mgmt_dn = {
            g.name: _management_group_dn(state=state, group=g) for g in state.management_groups
        }
        mgmt_key = {name: normalize_dn(dn) for name, dn in mgmt_dn.items()}
        directory_groups = [
            DirectoryGroup(
                dn=build_dn(cn=role_group_names[slot], parent=settings.directory.role_groups_ou),
                name=role_group_names[slot],
                role=GroupRole.ROLE,
                description=_role_group_description(
                    state=state, account_id=slot[0], role=iam[slot[1]], alias=account.alias
                ),
                member_groups=frozenset(mgmt_key[g.name] for g in grantees[slot]),
                # Users join management groups, never role groups: a role group's user
                # list is ours and empty, so a hand-added user shows up as drift.
                member_users=frozenset(),
                account_id=slot[0],
                role_name=iam[slot[1]],
            )
            for slot, account in slots.items()
        ] + [
            DirectoryGroup(
                dn=mgmt_dn[group.name],
                name=group.name,
                role=GroupRole.MANAGEMENT,
                description=group.description,
                member_users=_logins(group),
                adopted=group.dn is not None,
            )
            for group in state.management_groups
        ]

    okta = settings.okta
    derived: dict[str, Any] = {
        "use_group_mapping": True,
        "app_filter": normalize_app_filter(okta.app_filter or kind.okta_source),
        "group_filter": okta.group_filter or derive_group_filter(syntax=settings.role_group_name),
        "role_value_pattern": okta.role_value_pattern
        or derive_role_value_pattern(saml_provider_name=settings.saml_provider.name),
    }
    assert set(derived) == set(DERIVED_APP_SETTINGS)
    as_written = {name: getattr(okta, name) for name in app_settings_as_written()}
    app = OktaApp(
        label=okta.app_label if okta.app_label is not None else (okta.app_id or ""),
        id=okta.app_id,
        settings=OktaAppSettings(**derived, **as_written),
    )
    return World.build(
        saml_providers=providers,
        roles=roles,
        directory_groups=directory_groups,
        okta_app=app,
        okta_groups=okta_groups,
        app_assignments=[
            AppAssignment(group_source=kind.okta_source, group_name=g.name) for g in assigned
        ],
        accounts=[a.id for a in state.accounts],
        account_aliases={a.id: a.alias for a in state.accounts},
        directory_kind=kind,
    )


def with_role_group_sources(*, live: World, desired: World) -> World:
    """`live` with its Okta role groups (kind okta) naming the management groups that stand
    behind them, as `desired` says (`OktaGroup.member_groups`).

    Okta keeps no link between a role group and the groups whose members fill it (it
    cannot nest): that link is okta-aws's rule, written in the grants. Readers attach it
    so that live access names the management groups as `via`, as the directory kinds
    do, rather than the role group itself.
    """
    if desired.directory_kind is not DirectoryKind.OKTA:
        return live
    groups = dict(live.okta_groups)
    for key, want in desired.okta_groups.items():
        have = groups.get(key)
        if have is not None and have.member_groups != want.member_groups:
            groups[key] = dataclasses.replace(have, member_groups=want.member_groups)
    return dataclasses.replace(live, okta_groups=groups)


def _role_slots(state: DesiredState) -> dict[RoleSlot, AccountSpec]:
    """Every (account, role) the spec asks for whose role is in the catalogue, in order."""
    catalogue = {r.name for r in state.roles}
    return {
        (account.id, role): account
        for account in state.accounts
        for role in account.roles
        if role in catalogue
    }


def _iam_names(state: DesiredState) -> dict[str, str]:
    """Catalogue key → the IAM role name it creates (the first entry of a key defined
    twice, as `DesiredState.role` finds it; validation reports the second)."""
    names: dict[str, str] = {}
    for role in state.roles:
        names.setdefault(role.name, role.iam_role_name)
    return names


def _role(*, state: DesiredState, account: AccountSpec, key: str) -> Role:
    spec = state.role(key)
    assert spec is not None, "slots only hold catalogued roles"
    return Role(
        account_id=account.id,
        name=spec.iam_role_name,
        trust_policy=saml_trust_policy(
            account_id=account.id, provider_name=state.settings.saml_provider.name
        ),
        managed_policies=frozenset(spec.managed_policies),
        max_session_duration=spec.max_session_duration,
        description=spec.description,
        managed=True,
        adopt=spec.adopt or key in account.adopt_roles,
    )


def _grant_targets(
    *,
    state: DesiredState,
    by_ref: dict[str, AccountSpec],
    grant: GrantSpec,
    slots: frozenset[RoleSlot],
) -> Iterator[RoleSlot]:
    """The (account, role) slots one grant reaches; accounts without the role are skipped.

    `"*"` and `account_tags` mean "every (matching) account that has this role"; a
    specific account without the role, or an unknown one, reaches nothing (validation
    reports it).
    """
    if grant.account_tags is not None:
        wanted = grant.account_tags
        accounts = [a for a in state.accounts if all(t in a.tags for t in wanted)]
    elif grant.account == "*":
        accounts = list(state.accounts)
    else:
        found = by_ref.get(grant.account or "")
        accounts = [found] if found is not None else []
    for account in accounts:
        if (account.id, grant.role) in slots:
            yield (account.id, grant.role)


def _expand_grants(
    *, state: DesiredState, slots: frozenset[RoleSlot]
) -> dict[str, tuple[RoleSlot, ...]]:
    """Management group name → the slots its grants reach (deduplicated, in order)."""
    # Grants name accounts by alias or id; an org has thousands of grants: index once.
    by_ref = {a.alias: a for a in state.accounts} | {a.id: a for a in state.accounts}
    result: dict[str, tuple[RoleSlot, ...]] = {}
    for group in state.management_groups:
        reached = {
            slot: None
            for grant in group.grants
            for slot in _grant_targets(state=state, by_ref=by_ref, grant=grant, slots=slots)
        }
        result[group.name] = tuple(reached)
    return result


def _management_group_dn(*, state: DesiredState, group: ManagementGroupSpec) -> str:
    if group.dn is not None:
        return group.dn
    return build_dn(cn=group.name, parent=state.settings.directory.management_groups_ou)


def _role_group_description(*, state: DesiredState, account_id: str, role: str, alias: str) -> str:
    template = state.settings.role_group_description or DEFAULT_ROLE_GROUP_DESCRIPTION
    return render_description(template=template, alias=alias, role=role, account_id=account_id)


def _logins(group: ManagementGroupSpec) -> frozenset[str] | None:
    return None if group.members is None else frozenset(m.lower() for m in group.members)


def _listed_members(groups: list[ManagementGroupSpec]) -> frozenset[str]:
    """The users an Okta role group (kind okta) gets from the management groups whose
    members are listed. Owner-managed groups' members are not known here: the diff takes
    them from Okta (`diff_okta`). Leaving the role group unmanaged instead would drop
    every other group's grant of the same role (issue 16)."""
    members: set[str] = set()
    for group in groups:
        members |= _logins(group) or frozenset()
    return frozenset(members)
