"""Carrying out one directory change, idempotently and only where we own things.

Each change is stated as a goal ("this group exists with this description", "this DN is
a member of that group") and reaching an already-reached goal is success (UNCHANGED),
recognised from each server's result codes (Samba and slapd answer a redundant member
change differently; see `directory_flavor`). Ownership is checked again here, as
defence in depth behind the diff: a group is created, described or deleted only directly
inside a managed OU and never when adopted; Member Of links are only changed on groups
in a managed OU. Users of adopted groups may be changed (their `members` are listed).

The managed OUs are created as part of the first group create that finds its OU
missing (noSuchObject), so a plan needs no separate "ensure OU" step and a converged
directory pays nothing for the check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ldap3
from ldap3.utils.conv import escape_filter_chars

from engine.dn import dn_is_under, normalize_dn, parse_rdns
from engine.model import DirectoryGroup, GroupMember, UserMember
from engine.plan import Action, Change, Outcome, ResourceKind
from engine.providers.directory_flavor import ENTRY_ALREADY_EXISTS, Flavor
from engine.providers.directory_ldap import NO_SUCH_OBJECT, DirectoryError, Ldap
from engine.providers.directory_read import Layout, wire_dn, wire_dn_of

__all__ = ["Cache", "DirectoryRefused", "Writer"]

SAM_ATTEMPTS = 10  # alternative sAMAccountNames tried when another object holds ours


class DirectoryRefused(DirectoryError):
    """A change that would touch something that is not ours (defence in depth)."""


@dataclass
class Cache:
    """What a read learned that writes need: server spellings of DNs, users' DNs."""

    wire: dict[str, str] = field(default_factory=dict)  # normalized DN → server's DN
    user_dns: dict[str, str] = field(default_factory=dict)  # login → server's DN
    adopted: set[str] = field(default_factory=set)  # normalized DNs of adopted groups


class Writer:
    def __init__(self, *, ldap: Ldap, flavor: Flavor, layout: Layout, cache: Cache) -> None:
        self.ldap = ldap
        self.flavor = flavor
        self.layout = layout
        self.cache = cache

    def execute(self, change: Change) -> Outcome:
        resource = change.resource
        if change.kind is ResourceKind.DIRECTORY_GROUP and isinstance(resource, DirectoryGroup):
            if change.action is Action.CREATE:
                return self.create_group(resource)
            if change.action is Action.UPDATE:
                before = change.before if isinstance(change.before, DirectoryGroup) else None
                return self.update_description(resource, before=before)
            return self.delete_group(resource)
        if change.kind is ResourceKind.GROUP_MEMBER and isinstance(resource, GroupMember):
            self._owned(resource.group_dn, what="change the Member Of links of")
            member = self._wire(resource.member_dn)
            return self._member(resource.group_dn, member, add=change.action is Action.CREATE)
        if change.kind is ResourceKind.USER_MEMBER and isinstance(resource, UserMember):
            user = self._user_dn(resource.login)
            if user is None:
                if change.action is Action.DELETE:
                    return Outcome.UNCHANGED  # no such user: it is a member of nothing
                raise DirectoryError(
                    f"user {resource.login!r} not found under {self.layout.users_base}"
                )
            if change.action is Action.CREATE and not dn_is_under(
                user, base=self.layout.users_base
            ):
                # The read also learns users found elsewhere as members (to remove them).
                raise DirectoryError(
                    f"user {resource.login!r} is {user!r}, not under "
                    f"{self.layout.users_base}: only users there are put into groups"
                )
            return self._member(resource.group, user, add=change.action is Action.CREATE)
        raise DirectoryError(f"not a directory change: {change.id}")

    # --- groups ------------------------------------------------------------------------

    def create_group(self, group: DirectoryGroup) -> Outcome:
        dn = wire_dn(group.dn)
        if group.adopted:
            raise DirectoryRefused(f"{group.name}: adopted groups are never created")
        ou = self._owned(dn, what="create")
        attempt, made_ou = 0, False
        while attempt < SAM_ATTEMPTS:
            attributes = self.flavor.group_attributes(
                cn=group.name, description=group.description, attempt=attempt
            )
            result = self.ldap.add(
                dn, self.flavor.group_class, attributes, ok=(NO_SUCH_OBJECT, ENTRY_ALREADY_EXISTS)
            )
            if result.ok:
                self.cache.wire[normalize_dn(dn)] = dn
                return Outcome.CREATED
            if result.code == NO_SUCH_OBJECT and not made_ou:
                self._ensure_ou(ou)
                made_ou = True
                continue
            if result.code == ENTRY_ALREADY_EXISTS:
                if self._exists(dn):
                    # Already there (a retried apply): make it what was asked for.
                    self.cache.wire.setdefault(normalize_dn(dn), dn)
                    return self.update_description(group, before=None)
                attempt += 1  # AD: another object holds this sAMAccountName
                continue
            raise DirectoryError(f"creating group {group.name} ({dn}): {result}")
        raise DirectoryError(
            f"creating group {group.name} ({dn}): its sAMAccountName and {SAM_ATTEMPTS - 1} "
            "alternatives are all taken by other objects"
        )

    def update_description(
        self, group: DirectoryGroup, *, before: DirectoryGroup | None
    ) -> Outcome:
        dn = self._wire(group.key)
        if group.adopted or (before is not None and before.adopted):
            raise DirectoryRefused(f"{group.name}: an adopted group's description is not ours")
        self._owned(dn, what="change the description of")
        current = self._description(dn)
        if current is None:
            raise DirectoryError(f"group {group.name} ({dn}) does not exist")
        if current == group.description:
            return Outcome.UNCHANGED
        value = [group.description] if group.description else []
        result = self.ldap.modify(dn, {"description": [(ldap3.MODIFY_REPLACE, value)]})
        if not result.ok:
            raise DirectoryError(f"setting the description of {group.name} ({dn}): {result}")
        return Outcome.UPDATED

    def delete_group(self, group: DirectoryGroup) -> Outcome:
        dn = self._wire(group.key)
        if group.adopted or group.key in self.cache.adopted:
            raise DirectoryRefused(f"{group.name}: adopted groups are never deleted")
        self._owned(dn, what="delete")
        result = self.ldap.delete(dn, ok=(NO_SUCH_OBJECT,))
        if result.code == NO_SUCH_OBJECT:
            return Outcome.UNCHANGED
        if not result.ok:
            raise DirectoryError(f"deleting group {group.name} ({dn}): {result}")
        self.cache.wire.pop(group.key, None)
        return Outcome.DELETED

    def _ensure_ou(self, ou: str) -> None:
        """Create a managed OU (and missing parent OUs, never other containers)."""
        result = self.ldap.add(
            ou, "organizationalUnit", _ou_attributes(ou), ok=(NO_SUCH_OBJECT, ENTRY_ALREADY_EXISTS)
        )
        if result.code == NO_SUCH_OBJECT:
            rdns = parse_rdns(ou)
            parent = wire_dn_of(rdns[1:])
            if len(rdns) < 2 or rdns[1][0][0] != "ou":
                raise DirectoryError(
                    f"cannot create {ou}: its parent {parent or '(root)'} does not exist"
                )
            self._ensure_ou(parent)
            result = self.ldap.add(
                ou, "organizationalUnit", _ou_attributes(ou), ok=(ENTRY_ALREADY_EXISTS,)
            )
        if not result.ok and result.code != ENTRY_ALREADY_EXISTS:
            raise DirectoryError(f"creating {ou}: {result}")

    # --- members -----------------------------------------------------------------------

    def _member(self, group_key: str, member: str, *, add: bool) -> Outcome:
        group = self._wire(group_key)
        flavor = self.flavor
        if add:
            result = self.ldap.modify(
                group, {"member": [(ldap3.MODIFY_ADD, [member])]}, ok=flavor.already_member
            )
            if result.ok:
                return Outcome.CREATED
            if result.code in flavor.already_member:
                return Outcome.UNCHANGED
            raise DirectoryError(f"adding {member} to {group}: {result}")
        ok = flavor.not_member | flavor.last_member
        result = self.ldap.modify(group, {"member": [(ldap3.MODIFY_DELETE, [member])]}, ok=ok)
        if result.code in flavor.last_member and flavor.placeholder is not None:
            # groupOfNames may not be empty: swap the last member for the placeholder.
            result = self.ldap.modify(
                group,
                {
                    "member": [
                        (ldap3.MODIFY_ADD, [flavor.placeholder]),
                        (ldap3.MODIFY_DELETE, [member]),
                    ]
                },
                ok=flavor.not_member,
            )
        if result.ok:
            return Outcome.DELETED
        if result.code in flavor.not_member:
            return Outcome.UNCHANGED
        raise DirectoryError(f"removing {member} from {group}: {result}")

    # --- look-ups ----------------------------------------------------------------------

    def _wire(self, key: str) -> str:
        return self.cache.wire.get(normalize_dn(key)) or wire_dn(key)

    def _owned(self, dn: str, *, what: str) -> str:
        ou = self.layout.managed_ou_of(dn)
        if ou is None or normalize_dn(dn) in self.cache.adopted:
            raise DirectoryRefused(
                f"refusing to {what} {dn}: it is not directly in a managed OU "
                f"({' or '.join(self.layout.managed_ous)})"
            )
        return ou

    def _exists(self, dn: str) -> bool:
        return self._description(dn) is not None

    def _description(self, dn: str) -> str | None:
        """The group's description ("" if none), None if there is no such entry."""
        found = self.ldap.search(
            base=dn,
            search_filter="(objectClass=*)",
            scope=ldap3.BASE,
            attributes=["description"],
            operation="search group",
        )
        return "\n".join(sorted(found[0].values("description"))) if found else None

    def _user_dn(self, login: str) -> str | None:
        login = login.lower()
        known = self.cache.user_dns.get(login)
        if known is not None:
            return known
        attr = self.flavor.login_attribute
        found = self.ldap.search(
            base=self.layout.users_base,
            search_filter=f"(&{self.flavor.user_search}({attr}={escape_filter_chars(login)}))",
            scope=ldap3.SUBTREE,
            attributes=[attr, "objectClass"],
            operation="search users",
        )
        # Only a user under users_base (not a group or computer with this login, not an
        # entry elsewhere reached through an alias), and only one: never a guess.
        users = [
            entry
            for entry in found
            if self.flavor.is_user(entry.values("objectClass"))
            and dn_is_under(entry.dn, base=self.layout.users_base)
        ]
        if len(users) != 1:
            return None
        self.cache.user_dns[login] = users[0].dn
        return users[0].dn


def _ou_attributes(ou: str) -> dict[str, str]:
    rdns = parse_rdns(ou)
    return {"ou": rdns[0][0][1]} if rdns and rdns[0][0][0] == "ou" else {}
