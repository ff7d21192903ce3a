"""Reading the directory part of the world in as few requests as the data allows.

A plan over a big directory must not cost one search per user (the N+1 lookups users of
the anchors complain about). So the reader makes:

- one paged search per managed OU (one level: only groups placed directly in the OU
  are ours; a sub-OU someone made there is not) — `pages(G) = max(1, ceil(G / page))`,
  plus one empty page when G is an exact multiple on servers that send a last cookie
  (Samba does, slapd does not);
- AD only: `ceil(m / 1500) - 1` more requests for each group with m > 1500 members, as
  `member` is always requested in explicit `member;range=` windows (Samba would return
  everything at once, Windows AD cuts at 1,500: the loop must really run);
- `ceil(A / batch)` searches for the A adopted groups outside the managed OUs, an OR
  filter on the DN attribute (`distinguishedName` / `entryDN`) under their common parent
  (a base search when a batch holds one DN);
- `ceil(U / batch)` searches for the U listed logins, an OR filter on the login;
- `ceil(X / batch)` searches for the X member DNs that are neither a group read above
  nor a user found above (hand-added users, nested foreign groups, contacts), resolved
  the same way as adopted groups.

Member values are read as DNs and normalized, never as GUIDs or SIDs, so what we write
is what we read back (terraform-provider-ad #94). A member that is neither a user nor a
group, or names no entry, stays in `member_groups` (a role group's list is authoritative:
the diff removes it) and is reported in `unresolved`, never silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import ldap3
from ldap3.utils.conv import escape_filter_chars

from engine.dn import dn_is_under, escape_rdn_value, normalize_dn, parse_rdns, rdn_value
from engine.model import DirectoryGroup, DirectoryUser, GroupRole
from engine.naming import GroupFilter, compile_group_filter, parse_group_name
from engine.providers.directory_flavor import Flavor
from engine.providers.directory_ldap import DirectoryError, Entry, Ldap

__all__ = ["Layout", "ReadResult", "Reader", "UnresolvedMember", "wire_dn"]

RANGE_WINDOW = 1500  # AD's MaxValRange default; the server may answer with less
_RANGE = re.compile(r"member;range=(\d+)-(\d+|\*)\Z")


def wire_dn(dn: str) -> str:
    """`dn` as ldap3 will accept and send it: canonical escaping, case kept.

    ldap3 refuses `cn=a, ou=b` and rewrites `cn=a ,ou=b`; a DN from YAML goes through
    this before any request. (A normalized DN would do for lookups, but it is
    case-folded, and `ß` folded to `ss` names another entry.)
    """
    return ",".join(
        "+".join(f"{attr}={escape_rdn_value(value)}" for attr, value in rdn)
        for rdn in parse_rdns(dn)
    )


@dataclass(frozen=True)
class Layout:
    """Where our groups and the users live (settings.directory), in wire form."""

    role_groups_ou: str
    management_groups_ou: str
    users_base: str

    @staticmethod
    def of(*, role_groups_ou: str, management_groups_ou: str, users_base: str) -> Layout:
        return Layout(wire_dn(role_groups_ou), wire_dn(management_groups_ou), wire_dn(users_base))

    @property
    def managed_ous(self) -> tuple[str, ...]:
        """The managed OUs, once each (both settings may name the same OU)."""
        if normalize_dn(self.role_groups_ou) == normalize_dn(self.management_groups_ou):
            return (self.role_groups_ou,)
        return (self.role_groups_ou, self.management_groups_ou)

    def managed_ou_of(self, dn: str) -> str | None:
        """The managed OU `dn` sits directly in, or None."""
        rdns = parse_rdns(dn)
        if len(rdns) < 2:
            return None
        parent = normalize_dn(wire_dn_of(rdns[1:]))
        return next((ou for ou in self.managed_ous if normalize_dn(ou) == parent), None)


def wire_dn_of(rdns: Sequence[tuple[tuple[str, str], ...]]) -> str:
    return ",".join(
        "+".join(f"{attr}={escape_rdn_value(value)}" for attr, value in rdn) for rdn in rdns
    )


@dataclass(frozen=True)
class UnresolvedMember:
    """A member DN that is neither a user nor a group: kept visible, never dropped."""

    group_dn: str  # normalized
    member_dn: str  # normalized
    why: str


@dataclass(frozen=True)
class ReadResult:
    groups: tuple[DirectoryGroup, ...]
    users: tuple[DirectoryUser, ...]
    missing_logins: frozenset[str]
    unresolved: tuple[UnresolvedMember, ...]
    wire: dict[str, str]  # normalized DN → DN as the server spells it (for writes)


@dataclass
class _Group:
    entry: Entry
    role: GroupRole
    adopted: bool
    members: list[str]  # member DNs as read (placeholder and self removed)


class Reader:
    """One read of the directory; keep it for a single `read()` call."""

    def __init__(
        self, *, ldap: Ldap, flavor: Flavor, layout: Layout, page_size: int, batch_size: int
    ) -> None:
        self.ldap = ldap
        self.flavor = flavor
        self.layout = layout
        self.page_size = page_size
        self.batch_size = batch_size
        mock = ldap.is_mock
        # ldap3's mock neither cuts `member` into ranges nor fills distinguishedName, and
        # with a schema loaded (the sandbox's) it refuses entryDN: look DNs up one by one.
        self.ranged = flavor.range_retrieval and not mock
        self.dn_attribute: str | None = None if mock else flavor.dn_attribute
        self.user_wire: dict[str, str] = {}  # user key → DN as the server spells it

    # --- the steps ---------------------------------------------------------------------

    def read(
        self, *, adopted_dns: Iterable[str], logins: Iterable[str], group_filter: str
    ) -> ReadResult:
        pattern = compile_group_filter(group_filter)
        groups: dict[str, _Group] = {}
        shared_ou = len(self.layout.managed_ous) == 1
        for ou in self.layout.managed_ous:
            for entry in self._groups_in(ou):
                if shared_ou:
                    name = rdn_value(entry.dn)
                    matches = parse_group_name(name=name, group_filter=pattern) is not None
                    role = GroupRole.ROLE if matches else GroupRole.MANAGEMENT
                elif ou == self.layout.role_groups_ou:
                    role = GroupRole.ROLE
                else:
                    role = GroupRole.MANAGEMENT
                groups[normalize_dn(entry.dn)] = _Group(entry, role, False, self._members(entry))

        adopted = {normalize_dn(dn): wire_dn(dn) for dn in adopted_dns}
        for key in adopted.keys() & groups.keys():  # adopted inside a managed OU
            groups[key].role, groups[key].adopted = GroupRole.MANAGEMENT, True
        outside = [adopted[k] for k in sorted(adopted.keys() - groups.keys())]
        attributes = [*self._group_attributes(), "objectClass"]
        for entry in self._by_dn(outside, attributes, "search adopted groups"):
            key = normalize_dn(entry.dn)
            # Only the entry asked for: an alias object at an adopted dn is dereferenced
            # by the search and would hand back another group (say a role group) as
            # "adopted". The adopted dn then names no group, which the plan reports.
            if key in adopted and self.flavor.is_group(entry.values("objectClass")):
                groups[key] = _Group(entry, GroupRole.MANAGEMENT, True, self._members(entry))

        wanted = sorted({login.lower() for login in logins})
        users = {u.dn: u for u in self._users(wanted)}
        found = {u.login for u in users.values()}
        member_keys, unresolved = self._resolve_members(groups, users)
        return ReadResult(
            groups=tuple(
                self._group(key, group, member_keys, users, pattern)
                for key, group in sorted(groups.items())
            ),
            users=tuple(sorted(users.values(), key=lambda u: u.login)),
            missing_logins=frozenset(wanted) - found,
            unresolved=tuple(unresolved),
            wire=self.user_wire | {key: group.entry.dn for key, group in groups.items()},
        )

    def _group_attributes(self) -> list[str]:
        member = f"member;range=0-{RANGE_WINDOW - 1}" if self.ranged else "member"
        return ["cn", "description", member]

    def _groups_in(self, ou: str) -> list[Entry]:
        return self.ldap.search(
            base=ou,
            search_filter=self.flavor.group_search,
            scope=ldap3.LEVEL,
            attributes=self._group_attributes(),
            operation="search groups",
            page_size=self.page_size,
        )

    def _members(self, entry: Entry) -> list[str]:
        """Every member DN of a group, following `member;range=` windows to the end."""
        values, next_start = _member_chunk(entry)
        members = list(values)
        while next_start is not None:
            window = f"member;range={next_start}-{next_start + RANGE_WINDOW - 1}"
            found = self.ldap.search(
                base=entry.dn,
                search_filter="(objectClass=*)",
                scope=ldap3.BASE,
                attributes=[window],
                operation="search member range",
            )
            if not found:
                raise DirectoryError(f"{entry.dn} disappeared while its members were read")
            values, following = _member_chunk(found[0])
            members.extend(values)
            if following is not None and following <= next_start:
                raise DirectoryError(f"{entry.dn}: member ranges do not advance")
            next_start = following
        own = normalize_dn(entry.dn)
        skip = {own} | (
            {normalize_dn(self.flavor.placeholder)} if self.flavor.placeholder else set()
        )
        return [m for m in members if normalize_dn(m) not in skip]

    def _users(self, logins: list[str]) -> Iterator[DirectoryUser]:
        attr = self.flavor.login_attribute
        for batch in _batches(logins, self.batch_size):
            alternatives = "".join(f"({attr}={escape_filter_chars(login)})" for login in batch)
            for entry in self.ldap.search(
                base=self.layout.users_base,
                search_filter=f"(&{self.flavor.user_search}(|{alternatives}))",
                scope=ldap3.SUBTREE,
                attributes=[attr, "objectClass"],
                operation="search users",
            ):
                user = self._listed_user(entry)
                if user is not None:
                    self.user_wire[user.dn] = entry.dn
                    yield user

    def _listed_user(self, entry: Entry) -> DirectoryUser | None:
        """The user a listed login names, or None if the entry is no user under users_base.

        A login is put into management groups, so it must never name anything else: a
        group or computer carrying the login attribute, or an entry outside users_base
        that a search returned through an alias object. Such a login counts as missing.
        """
        if not self.flavor.is_user(entry.values("objectClass")):
            return None
        if not dn_is_under(entry.dn, base=self.layout.users_base):
            return None
        return _user(entry, self.flavor.login_attribute)

    def _by_dn(self, dns: list[str], attributes: list[str], operation: str) -> list[Entry]:
        """Entries by DN, `batch_size` per request; DNs naming no entry are left out."""
        found: list[Entry] = []
        for batch in _batches(dns, self.batch_size):
            base = _common_parent(batch)
            if len(batch) == 1 or not base or self.dn_attribute is None:
                for dn in batch:
                    found += self.ldap.search(
                        base=dn,
                        search_filter="(objectClass=*)",
                        scope=ldap3.BASE,
                        attributes=attributes,
                        operation=operation,
                    )
                continue
            alternatives = "".join(
                f"({self.dn_attribute}={escape_filter_chars(dn)})" for dn in batch
            )
            found += self.ldap.search(
                base=base,
                search_filter=f"(|{alternatives})",
                scope=ldap3.SUBTREE,
                attributes=attributes,
                operation=operation,
            )
        return found

    def _resolve_members(
        self, groups: dict[str, _Group], users: dict[str, DirectoryUser]
    ) -> tuple[dict[str, str], list[UnresolvedMember]]:
        """Member DN key → "group" / "user"; resolves DNs neither read nor found."""
        kinds: dict[str, str] = dict.fromkeys(groups, "group") | dict.fromkeys(users, "user")
        unknown: dict[str, str] = {}
        for group in groups.values():
            for member in group.members:
                key = normalize_dn(member)
                if key not in kinds:
                    unknown.setdefault(key, member)
        why: dict[str, str] = {}
        attributes = ["objectClass", self.flavor.login_attribute]
        entries = self._by_dn(sorted(unknown.values()), attributes, "search members")
        for entry in entries:
            key = normalize_dn(entry.dn)
            classes = entry.values("objectClass")
            user = _user(entry, self.flavor.login_attribute)
            if self.flavor.is_user(classes) and user is not None:
                kinds[key] = "user"
                users[key] = user
                self.user_wire[key] = entry.dn
            elif self.flavor.is_group(classes):
                kinds[key] = "group"
            else:
                why[key] = f"neither a user nor a group ({', '.join(classes) or 'no class'})"
        unresolved: list[UnresolvedMember] = []
        for key in sorted(unknown):
            if key not in kinds:
                kinds[key] = "other"
                why.setdefault(key, "no such entry")
        for group_key, group in sorted(groups.items()):
            for member in group.members:
                key = normalize_dn(member)
                if kinds[key] == "other":
                    unresolved.append(UnresolvedMember(group_key, key, why[key]))
        return kinds, unresolved

    def _group(
        self,
        key: str,
        group: _Group,
        kinds: dict[str, str],
        users: dict[str, DirectoryUser],
        pattern: GroupFilter,
    ) -> DirectoryGroup:
        name = rdn_value(group.entry.dn)
        ref = (
            parse_group_name(name=name, group_filter=pattern)
            if group.role is GroupRole.ROLE
            else None
        )
        member_keys = {normalize_dn(m) for m in group.members}
        return DirectoryGroup(
            dn=group.entry.dn,
            name=name,
            role=group.role,
            description=_single(group.entry.values("description")),
            member_groups=frozenset(k for k in member_keys if kinds[k] != "user"),
            member_users=frozenset(users[k].login for k in member_keys if kinds[k] == "user"),
            adopted=group.adopted,
            account_id=ref.account_id if ref else None,
            role_name=ref.role if ref else None,
        )


def _member_chunk(entry: Entry) -> tuple[tuple[str, ...], int | None]:
    """The member values in this answer and where the next window starts (None: done)."""
    for name, values in entry.attributes.items():
        if name == "member":
            return values, None
        match = _RANGE.match(name)
        if match:
            end = match.group(2)
            return values, None if end == "*" else int(end) + 1
    return (), None  # no members, or a window past the end


def _user(entry: Entry, attribute: str) -> DirectoryUser | None:
    login = entry.first(attribute)
    return None if not login else DirectoryUser(login=login.lower(), dn=normalize_dn(entry.dn))


def _single(values: tuple[str, ...]) -> str:
    # `description` is multi-valued in both schemas; we write at most one value.
    return "\n".join(sorted(values))


def _batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _common_parent(dns: Sequence[str]) -> str:
    """The deepest DN that all of `dns` lie below (wire form), or "" if only the root."""
    parsed = [parse_rdns(dn) for dn in dns]
    shortest = min(len(rdns) for rdns in parsed) - 1  # strictly below: keep one RDN each
    common = 0
    while common < shortest:
        tails = {normalize_dn(wire_dn_of([rdns[-common - 1]])) for rdns in parsed}
        if len(tails) != 1:
            break
        common += 1
    return wire_dn_of(parsed[0][len(parsed[0]) - common :]) if common else ""
