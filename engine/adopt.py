"""`import`'s decisions: the desired state that says what is live, and what it cannot say.

Adoption runs the compiler backwards. Every item it writes must compile back to what is
live, or a plan right after the import would change something; every live item the
model cannot express is named in a finding, never dropped silently:
- LEFT_OUT: not written; a plan leaves it alone (an account without the SAML provider,
  a role whose trust is not the SAML trust or that has inline policies);
- WILL_CHANGE: written as the model can say it, so the next plan changes the live item
  (a user directly in a role group, a member that is no group, app settings the model
  always sets);
- ADOPTED: an untagged role or provider, taken over with `adopt: true` (the plan tags it);
- NOTE: written exactly, but a choice was made (grants inferred from membership, a
  second definition of a role written as its own catalogue entry).

Pure: the live `World` (as `providers.live` reads it for the scope `adopt_discover`
found) in, an `Adoption` out; `adopt_render` writes it as YAML.
"""

from __future__ import annotations

import dataclasses

from engine.adopt_discover import Discovery, common_parent, most_common, syntax_pattern
from engine.adopt_groups import adopt_groups
from engine.adopt_model import (
    AccountEntry,
    Adoption,
    Effect,
    Findings,
    ImportOptions,
    SettingsEntry,
    Slot,
)
from engine.adopt_roles import adopt_roles, description_template
from engine.compile import DEFAULT_ROLE_GROUP_DESCRIPTION, app_settings_as_written
from engine.dn import normalize_dn, parent_dn
from engine.model import (
    DirectoryKind,
    GroupRole,
    World,
    canonical_metadata,
    normalize_app_filter,
)
from engine.naming import derive_group_filter, derive_role_value_pattern


def adopt(*, world: World, discovery: Discovery, options: ImportOptions) -> Adoption:
    """The desired state that compiles to `world`, and what it leaves out or changes."""
    found = Findings()
    for subject, why in discovery.unparsed:
        found.add(Effect.LEFT_OUT, subject, why)
    kind = discovery.kind
    slots = _slots(world=world, discovery=discovery, found=found)
    slots = _with_providers(
        world=world, discovery=discovery, slots=slots, options=options, found=found
    )
    metadata, provider_adopt = _metadata(world=world, discovery=discovery, slots=slots, found=found)
    roles, slots, adopt_by_account = adopt_roles(
        world=world,
        slots=slots,
        provider=discovery.provider_name,
        found=found,
    )
    template = description_template(slots=slots, found=found)
    groups, users = adopt_groups(
        world=world,
        discovery=discovery,
        slots=slots,
        members=options.members,
        unresolved=options.unresolved,
        found=found,
        account_tags=options.account_tags,
    )
    aliases = {s.account_id: s.alias for s in slots}
    accounts = tuple(
        AccountEntry(
            id=account_id,
            alias=aliases[account_id],
            roles=tuple(sorted({s.catalogue_entry for s in slots if s.account_id == account_id})),
            adopt_roles=tuple(sorted(adopt_by_account.get(account_id, ()))),
            tags=tuple(options.account_tags.get(account_id, ())),
            comment=(
                "The alias is made up: the role-group names carry none. Rename it freely."
                if aliases[account_id] == f"account-{account_id}"
                else ""
            ),
        )
        for account_id in sorted(aliases, key=lambda a: (aliases[a], a))
    )
    settings = _settings(
        discovery=discovery,
        options=options,
        metadata=metadata,
        provider_adopt=provider_adopt,
        template=template,
        users_base=common_parent(users) if users else discovery.users_base,
        found=found,
    )
    if kind is not DirectoryKind.OKTA:
        role_ou = _spelled(world, settings.role_groups_ou)
        settings = dataclasses.replace(
            settings,
            role_groups_ou=role_ou,
            management_groups_ou=_spelled(world, settings.management_groups_ou) or role_ou,
        )
    return Adoption(
        settings=settings,
        roles=roles,
        accounts=accounts,
        groups=groups,
        findings=tuple(sorted(set(found.items))),
        metadata_file=options.metadata_file,
    )


def _spelled(world: World, ou: str) -> str:
    """An OU as the directory spells it (Okta and keys hold DNs lower-cased)."""
    if not ou:
        return ou
    wanted = normalize_dn(ou)
    for group in world.directory_groups.values():
        if normalize_dn(parent_dn(group.dn)) == wanted:
            return parent_dn(group.dn)
    return ou


def _slots(*, world: World, discovery: Discovery, found: Findings) -> list[Slot]:
    """Every role group whose name the syntax renders, with its (account, role, alias)."""
    names = syntax_pattern(discovery.syntax)
    candidates: list[tuple[str, str | None, str | None, str, str]] = []  # name, acct, role…
    if discovery.kind is DirectoryKind.OKTA:
        by_name = {g.name.lower(): g for g in discovery.role_groups}
        for okta_key, okta_group in sorted(world.okta_groups.items()):
            ref = by_name.get(okta_group.name.lower())
            if ref is not None and okta_key[0] == DirectoryKind.OKTA.okta_source:
                candidates.append(
                    (okta_group.name, ref.account_id, ref.role, okta_key[1], okta_group.description)
                )
    else:
        for key, group in sorted(world.directory_groups.items()):
            if group.role is GroupRole.ROLE:
                candidates.append(
                    (group.name, group.account_id, group.role_name, key, group.description)
                )
    slots: list[Slot] = []
    seen: set[tuple[str, str]] = set()
    for name, account_id, role, key, description in candidates:
        if account_id is None or role is None:
            found.add(
                Effect.LEFT_OUT,
                f"group {name}",
                "in the role-groups OU, but the group filter maps it to no role",
            )
            continue
        match = names.match(name)
        if match is None or (match.group("account_id"), match.group("role")) != (account_id, role):
            found.add(
                Effect.LEFT_OUT,
                f"role group {name}",
                f"its name does not follow the role-group syntax {discovery.syntax!r} "
                "(give the syntax with --role-group-name)",
            )
            continue
        if (account_id, role.lower()) in seen:
            found.add(
                Effect.LEFT_OUT,
                f"role group {name}",
                f"a second role group for role {role} in {account_id}",
            )
            continue
        seen.add((account_id, role.lower()))
        alias = match.groupdict().get("alias") or world.account_aliases.get(account_id)
        slots.append(
            Slot(
                account_id=account_id,
                role=role,
                alias=alias or f"account-{account_id}",
                group_key=key,
                group_name=name,
                description=description,
            )
        )
    return _one_alias(slots, found)


def _one_alias(slots: list[Slot], found: Findings) -> list[Slot]:
    """An account has one alias: role groups naming another are left out."""
    chosen = {
        account_id: most_common(s.alias for s in slots if s.account_id == account_id) or ""
        for account_id in {s.account_id for s in slots}
    }
    kept = []
    for slot in slots:
        if slot.alias != chosen[slot.account_id]:
            found.add(
                Effect.LEFT_OUT,
                f"role group {slot.group_name}",
                f"names account {slot.account_id} {slot.alias!r}, while its other role "
                f"groups name it {chosen[slot.account_id]!r}",
            )
            continue
        kept.append(slot)
    return kept


def _with_providers(
    *,
    world: World,
    discovery: Discovery,
    slots: list[Slot],
    options: ImportOptions,
    found: Findings,
) -> list[Slot]:
    """Slots of accounts that were read and have the SAML provider the app names."""
    kept = []
    reported: set[str] = set()
    for slot in slots:
        account_id = slot.account_id
        why = options.unreadable.get(account_id)
        if why is None and account_id not in world.accounts:
            why = (
                f"role group {slot.group_name} is in the directory but not in Okta yet, so "
                "AWS was not read there: import again after Okta's next directory import"
            )
        if why is None and (account_id, discovery.provider_name) not in world.saml_providers:
            why = (
                f"has role groups but no SAML provider {discovery.provider_name!r}; "
                "importing it would create one"
            )
        if why is not None:
            if account_id not in reported:
                reported.add(account_id)
                found.add(Effect.LEFT_OUT, f"account {account_id}", why)
            continue
        kept.append(slot)
    return kept


def _metadata(
    *, world: World, discovery: Discovery, slots: list[Slot], found: Findings
) -> tuple[str | None, bool]:
    """The document the providers hold (the most common one), and whether to adopt."""
    providers = [
        world.saml_providers[(a, discovery.provider_name)]
        for a in sorted({s.account_id for s in slots})
    ]
    if not providers:
        return None, False
    docs = {p.account_id: canonical_metadata(p.metadata) for p in providers}
    chosen = most_common(docs.values())
    for provider in providers:
        if docs[provider.account_id] != chosen:
            found.add(
                Effect.WILL_CHANGE,
                f"saml-provider {provider.name} in {provider.account_id}",
                "its metadata differs from the other accounts' (one document for all "
                "accounts): the plan updates it",
            )
    adopt_it = any(not p.managed for p in providers)
    for provider in providers:
        if not provider.managed:
            found.add(
                Effect.ADOPTED,
                f"saml-provider {provider.name} in {provider.account_id}",
                "untagged: imported with saml_provider.adopt (the plan tags it as ours)",
            )
    return chosen, adopt_it


def _settings(
    *,
    discovery: Discovery,
    options: ImportOptions,
    metadata: str | None,
    provider_adopt: bool,
    template: str | None,
    users_base: str,
    found: Findings,
) -> SettingsEntry:
    app = discovery.app
    live = app.settings
    subject = f"okta app {app.label}"
    source = discovery.kind.okta_source
    app_filter = live.app_filter
    if source not in live.app_sources():
        app_filter = normalize_app_filter(f"{app_filter},{source}")
        found.add(
            Effect.WILL_CHANGE,
            subject,
            f"appFilter {live.app_filter!r} lacks {source!r}, the source of the role groups: "
            f"the plan sets {app_filter!r}",
        )
    if not live.use_group_mapping:
        found.add(
            Effect.WILL_CHANGE,
            subject,
            "useGroupMapping is off (the model always maps groups to roles): the plan turns it on",
        )
    group_filter = discovery.write_group_filter
    if live.group_filter != (group_filter or derive_group_filter(syntax=discovery.syntax)):
        found.add(
            Effect.WILL_CHANGE,
            subject,
            f"groupFilter {live.group_filter!r} recognises no role group: the plan derives it "
            f"from role_group_name {discovery.syntax!r}",
        )
    pattern = discovery.write_role_value_pattern
    derived = derive_role_value_pattern(saml_provider_name=discovery.provider_name)
    if pattern is not None and not pattern.strip():
        found.add(
            Effect.WILL_CHANGE,
            subject,
            f"roleValuePattern is empty: the plan sets {derived!r}",
        )
        pattern = None
    return SettingsEntry(
        target=options.target,
        provider_name=discovery.provider_name,
        provider_adopt=provider_adopt,
        metadata=metadata,
        kind=discovery.kind,
        role_groups_ou=discovery.role_groups_ou,
        management_groups_ou=discovery.management_groups_ou,
        users_base=normalize_dn(users_base) if users_base else "",
        role_group_name=discovery.syntax,
        role_group_description=(
            None if template in (None, DEFAULT_ROLE_GROUP_DESCRIPTION) else template
        ),
        app_label=app.label,
        app_id=app.id if options.app_id else None,
        app_filter=app_filter,
        group_filter=group_filter,
        role_value_pattern=pattern,
        okta_as_written=tuple((name, getattr(live, name)) for name in app_settings_as_written()),
        aws=options.aws,
    )
