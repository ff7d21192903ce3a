"""`import`, management groups: who is Member Of which role group, written as grants.

A management group is a group that is Member Of role groups (directory kinds). Okta
cannot nest, so with `directory.kind: okta` a role group's members are the union of
its management groups' members: the grants are inferred, an assigned group granting
each role group whose members include all of its own (a NOTE says so, since two
groups with the same people cannot be told apart). Grants are written compactly:
`account: "*"` when the group holds the role in every imported account that has it,
else `account_tags` when the accounts' tags (`import --account-tags`, `adopt_tags`)
select exactly the accounts where it holds it, else one grant per account. Pure.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping

from engine.adopt_discover import Discovery
from engine.adopt_model import Effect, Findings, GrantEntry, GroupEntry, Slot
from engine.adopt_tags import Tags, tag_selector
from engine.dn import normalize_dn, parent_dn
from engine.model import DirectoryKind, GroupRole, World

Grantees = dict[str, list[Slot]]
"""Management group key (normalized DN, or lower-cased Okta name) → the slots it holds."""


def adopt_groups(
    *,
    world: World,
    discovery: Discovery,
    slots: list[Slot],
    members: bool,
    unresolved: Mapping[str, str],
    found: Findings,
    account_tags: Mapping[str, Tags] | None = None,
) -> tuple[tuple[GroupEntry, ...], list[str]]:
    """(management groups, the DNs of the users they list: users_base must hold them)."""
    tags = account_tags or {}
    if discovery.kind is DirectoryKind.OKTA:
        return _okta_groups(world=world, slots=slots, members=members, tags=tags, found=found), []
    grantees = _directory_grantees(world=world, slots=slots, unresolved=unresolved, found=found)
    mgmt_ou = normalize_dn(discovery.management_groups_ou) if discovery.management_groups_ou else ""
    entries: list[GroupEntry] = []
    user_dns: list[str] = []
    names: set[str] = set()
    by_login = {u.login: u.dn for u in world.directory_users.values()}
    # A group read by a DN we only know lower-cased may come back so spelled: Okta's
    # copy of it keeps the name's case.
    okta_names = {g.dn: g.name for g in world.okta_groups.values() if g.dn}
    for key in sorted(grantees, key=lambda k: (world.directory_groups[k].name.lower(), k)):
        group = world.directory_groups[key]
        if group.name == group.name.lower() and okta_names.get(key, "").lower() == group.name:
            group = dataclasses.replace(group, name=okta_names[key])
        if group.name.lower() in names:
            found.add(
                Effect.WILL_CHANGE,
                f"group {group.dn}",
                f"another management group is named {group.name!r} (names are unique in "
                "the model): the plan removes its Member Of links",
            )
            continue
        names.add(group.name.lower())
        adopted = parent_dn(key) != mgmt_ou
        listed: tuple[str, ...] | None = None
        comment = ""
        if adopted:
            comment = (
                "outside the management OU: adopted by dn (okta-aws never creates or "
                "deletes it; with members omitted they stay with its owners)"
            )
            found.add(Effect.NOTE, f"group {group.name}", comment)
        if members:
            listed = tuple(sorted(group.member_users or ()))
            user_dns += [by_login[login] for login in listed if login in by_login]
        nested = sorted(group.member_groups)
        if nested and listed is not None:
            # Listed members are the whole list: the plan takes nested groups out (their
            # users would hold the roles unlisted once Okta flattens the nesting).
            found.add(
                Effect.WILL_CHANGE,
                f"group {group.name}",
                f"has nested groups ({', '.join(nested)}) whose members get its roles too; "
                "the model lists users only, so the plan removes them (list their users, "
                "or import with --no-members to leave membership to the group's owners)",
            )
        elif nested:
            found.add(
                Effect.NOTE,
                f"group {group.name}",
                f"has nested groups ({', '.join(nested)}) whose members get its roles too; "
                "its members stay with its owners (--no-members)",
            )
        entries.append(
            GroupEntry(
                name=group.name,
                description=group.description,
                grants=_grants(grantees[key], slots, tags),
                members=listed,
                dn=group.dn if adopted else None,
                comment=comment,
            )
        )
        _check_assigned(world=world, discovery=discovery, name=group.name, found=found)
    _leftover_groups(world=world, grantees=grantees, mgmt_ou=mgmt_ou, found=found)
    _left_out_role_groups(
        world=world,
        slots=slots,
        imported={normalize_dn(e.dn) for e in entries if e.dn}
        | {k for k in grantees if parent_dn(k) == mgmt_ou},
        found=found,
    )
    _stray_assignments(
        world=world, imported={e.name.lower() for e in entries}, slots=slots, found=found
    )
    return tuple(entries), user_dns


def _directory_grantees(
    *, world: World, slots: list[Slot], unresolved: Mapping[str, str], found: Findings
) -> Grantees:
    grantees: Grantees = defaultdict(list)
    for slot in slots:
        role_group = world.directory_groups[slot.group_key]
        direct = sorted(role_group.member_users or ())
        if direct:
            found.add(
                Effect.WILL_CHANGE,
                f"role group {slot.group_name}",
                f"users {', '.join(direct)} are in it directly (the model puts users in "
                "management groups only): the plan removes them",
            )
        for member in sorted(role_group.member_groups):
            group = world.directory_groups.get(member)
            why = None
            if member in unresolved:
                why = f"is {unresolved[member]}"
            elif group is None:
                why = "is no group the read reached"
            elif group.role is GroupRole.ROLE:
                why = "is itself a role group"
            if why is not None:
                found.add(
                    Effect.WILL_CHANGE,
                    f"role group {slot.group_name}",
                    f"its member {member} {why}: the model cannot express it, and the plan "
                    "removes it",
                )
                continue
            grantees[member].append(slot)
    return grantees


def _grants(
    held: list[Slot], slots: list[Slot], tags: Mapping[str, Tags]
) -> tuple[GrantEntry, ...]:
    """`"*"` for a role held in every imported account that has it, else the tags that
    select exactly the accounts where it is held, else one grant per alias."""
    having: dict[str, set[str]] = defaultdict(set)
    for slot in slots:
        having[slot.catalogue_entry].add(slot.account_id)
    by_role: dict[str, list[Slot]] = defaultdict(list)
    for slot in held:
        by_role[slot.catalogue_entry].append(slot)
    grants: list[GrantEntry] = []
    for role in sorted(by_role):
        accounts = {s.account_id for s in by_role[role]}
        if accounts == having[role] and len(accounts) > 1:
            grants.append(GrantEntry(role=role, account="*"))
            continue
        selector = tag_selector(held=accounts, having=having[role], tags=tags)
        if selector is not None:
            grants.append(GrantEntry(role=role, account=None, account_tags=selector))
            continue
        grants += [
            GrantEntry(role=role, account=a) for a in sorted({s.alias for s in by_role[role]})
        ]
    return tuple(grants)


def _check_assigned(*, world: World, discovery: Discovery, name: str, found: Findings) -> None:
    """A management group with grants is assigned to the app; say when it is not yet."""
    key = (discovery.kind.okta_source, name.lower())
    if key in world.app_assignments:
        return
    if key in world.okta_groups:
        why = "is not assigned to the Okta app: the plan assigns it"
    else:
        why = "is not in Okta yet: the plan assigns it after Okta's next directory import"
    found.add(Effect.WILL_CHANGE, f"group {name}", why)


def _leftover_groups(*, world: World, grantees: Grantees, mgmt_ou: str, found: Findings) -> None:
    nested = {
        member
        for group in world.directory_groups.values()
        if group.role is GroupRole.ROLE
        for member in group.member_groups
    }
    for key, group in sorted(world.directory_groups.items()):
        if group.role is not GroupRole.MANAGEMENT or key in grantees:
            continue
        if key in nested:
            why = "Member Of role groups that were left out only: not imported"
        elif parent_dn(key) == mgmt_ou:
            why = "in the management OU but Member Of no role group: not imported"
        else:
            continue
        if parent_dn(key) == mgmt_ou:
            why += " (a plan lists it among what --prune would delete)"
        found.add(Effect.LEFT_OUT, f"group {group.name}", why)


def _left_out_role_groups(
    *, world: World, slots: list[Slot], imported: set[str], found: Findings
) -> None:
    """A role group left out stays until --prune, but the plan removes from it what is no
    management group of the import (and none okta-aws made): say so, it is access."""
    kept = {s.group_key for s in slots}
    for key, group in sorted(world.directory_groups.items()):
        if group.role is not GroupRole.ROLE or key in kept or group.adopted:
            continue
        for member in sorted(group.member_groups):
            ours = world.directory_groups.get(member)
            made_by_us = ours is not None and ours.role is GroupRole.MANAGEMENT and not ours.adopted
            if member in imported or made_by_us:
                continue
            found.add(
                Effect.WILL_CHANGE,
                f"role group {group.name}",
                f"left out, but its member {member} is no management group of the import: "
                "the plan removes it",
            )
        for login in sorted(group.member_users or ()):
            found.add(
                Effect.WILL_CHANGE,
                f"role group {group.name}",
                f"left out, but user {login} is in it directly: the plan removes them",
            )


def _stray_assignments(
    *, world: World, imported: set[str], slots: list[Slot], found: Findings
) -> None:
    role_groups = {s.group_name.lower() for s in slots}
    for key, assignment in sorted(world.app_assignments.items()):
        if key[1] in imported or key[1] in role_groups:
            continue
        found.add(
            Effect.LEFT_OUT,
            f"assignment of {assignment.group_name} ({assignment.group_source})",
            "assigned to the app, but the group is not a management group (it fills no "
            "role group): left alone",
        )


def _okta_groups(
    *, world: World, slots: list[Slot], members: bool, tags: Mapping[str, Tags], found: Findings
) -> tuple[GroupEntry, ...]:
    """Kind okta: assigned groups whose members all sit in a role group grant it."""
    source = DirectoryKind.OKTA.okta_source
    role_keys = {s.group_key for s in slots}
    candidates = {
        key[1]: world.okta_groups[key]
        for key in sorted(world.app_assignments)
        if key[0] == source and key[1] not in role_keys and key in world.okta_groups
    }
    grantees: Grantees = defaultdict(list)
    for slot in slots:
        role_group = world.okta_groups[(source, slot.group_key)]
        in_role = role_group.members or frozenset()
        covered: set[str] = set()
        for name, group in candidates.items():
            own = group.members or frozenset()
            if own and own <= in_role:
                grantees[name].append(slot)
                covered |= own
        direct = sorted(in_role - covered)
        if direct:
            found.add(
                Effect.WILL_CHANGE,
                f"role group {slot.group_name}",
                f"users {', '.join(direct)} are in it through no assigned group: the plan "
                "removes them",
            )
    entries: list[GroupEntry] = []
    for name, group in candidates.items():
        if name not in grantees:
            found.add(
                Effect.LEFT_OUT,
                f"assignment of {group.name} ({source})",
                "assigned to the app, but its members fill no role group (an empty group "
                "tells nothing): left alone",
            )
            continue
        comment = "grants inferred from membership: its members are all in these role groups"
        found.add(Effect.NOTE, f"group {group.name}", comment)
        entries.append(
            GroupEntry(
                name=group.name,
                description=group.description,
                grants=_grants(grantees[name], slots, tags),
                members=tuple(sorted(group.members or ())) if members else None,
                comment=comment,
            )
        )
    return tuple(sorted(entries, key=lambda e: e.name.lower()))
