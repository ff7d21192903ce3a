"""The brownfield directory: entries in the AD or LDAP flavour, derived from the desired state.

Part of the recipe documented in `engine/sandbox/brownfield.py` (which items exist and
why); this module only knows how to spell them as directory entries, and takes every
difference between AD and LDAP (classes, naming, a group's required attributes) from the
directory provider's table, `engine/providers/directory_flavor.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine.dn import normalize_dn, parent_dn, parse_rdns
from engine.model import DirectoryGroup, DirectoryKind, GroupRole, World
from engine.providers.directory_flavor import flavor_for
from engine.sandbox.directory_store import DirEntry, MockDirectory
from engine.spec import DesiredState

EXTRA_USERS = ("walter", "wendy", "xavier", "yvonne", "zoe")
STALE_MEMBER = "xavier"
ADOPTED_GROUP_MEMBERS = ("walter", "wendy")
UNMANAGED_MEMBERS = ("yvonne", "zoe")
HAND_ADDED_ROLE_GROUP_MEMBER = "zoe"


class _Entries:
    """Builds entries in the flavour's schema, remembering each user's DN."""

    def __init__(self, *, flavor: DirectoryKind, users_base: str, baseline: frozenset[str]) -> None:
        self.flavor = flavor_for(flavor)
        self.users_base = users_base
        self.baseline = baseline
        self.entries: dict[str, DirEntry] = {}
        self.user_dns: dict[str, str] = {}

    def container(self, dn: str) -> None:
        """`dn` and its missing ancestors (down to the naming context)."""
        chain = []
        current = dn
        while len(parse_rdns(current)) > 1 and normalize_dn(current) not in self.baseline:
            chain.append(current)
            current = parent_dn(current)
        for item in reversed(chain):
            kind, value = parse_rdns(item)[0][0]
            if kind == "ou":
                entry = DirEntry(item, "organizationalUnit", {"ou": (value,)})
            else:
                entry = DirEntry(item, self.flavor.container_class, {"cn": (value,)})
            self.entries.setdefault(normalize_dn(item), entry)

    def user(self, login: str) -> None:
        if login in self.user_dns:
            return
        given = login.capitalize()
        dn = self.flavor.user_dn(login=login, parent=self.users_base)
        attributes = {
            "cn": (f"{given} Example",),  # AD: the naming attribute, the login (below)
            "givenName": (given,),
            "sn": ("Example",),
            "displayName": (f"{given} Example",),
            self.flavor.login_attribute: (login,),
            self.flavor.user_rdn: (login,),
        }
        self.entries[normalize_dn(dn)] = DirEntry(dn, self.flavor.user_class, attributes)
        self.user_dns[login] = dn

    def group(self, *, dn: str, name: str, description: str, members: Iterable[str]) -> None:
        """A group as the provider would create it (AD: sAMAccountName, groupType), with
        `members` instead of LDAP's placeholder when there are any."""
        made = self.flavor.group_attributes(cn=name, description=description)
        if tuple(members):
            made["member"] = list(members)
        attributes = {
            key: tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)
            for key, value in made.items()
        }
        self.entries[normalize_dn(dn)] = DirEntry(dn, self.flavor.group_class, attributes)


@dataclass(frozen=True)
class _DirectoryPlan:
    """Which management groups exist in the brownfield, name → (dn, member logins)."""

    management: dict[str, tuple[str, tuple[str, ...]]]
    stale_group: str | None
    role_groups: dict[str, tuple[DirectoryGroup, tuple[str, ...]]]  # name → (group, member DNs)


def plan_directory(*, state: DesiredState, world: World, converged: set[str]) -> _DirectoryPlan:
    groups = {g.name: g for g in world.directory_groups.values() if g.role is GroupRole.MANAGEMENT}
    management: dict[str, tuple[str, tuple[str, ...]]] = {}
    stale_group = None
    unmanaged_done = False
    for spec in state.management_groups:
        group = groups.get(spec.name)
        if group is None:
            continue
        if group.adopted:
            management[spec.name] = (group.dn, ADOPTED_GROUP_MEMBERS)
        elif spec.members and stale_group is None:
            stale_group = spec.name
            management[spec.name] = (group.dn, (*spec.members[:-1], STALE_MEMBER))
        elif spec.members is None and not unmanaged_done:
            unmanaged_done = True
            management[spec.name] = (group.dn, UNMANAGED_MEMBERS)
    existing = {normalize_dn(dn): dn for dn, _ in management.values()}
    role_groups: dict[str, tuple[DirectoryGroup, tuple[str, ...]]] = {}
    for group in world.directory_groups.values():
        if group.role is not GroupRole.ROLE or group.account_id not in converged:
            continue
        nested = tuple(sorted(existing[k] for k in group.member_groups if k in existing))
        if nested:
            role_groups[group.name] = (group, nested)
    return _DirectoryPlan(management=management, stale_group=stale_group, role_groups=role_groups)


def build_directory(
    *, state: DesiredState, world: World, flavor: DirectoryKind, base_dn: str, converged: set[str]
) -> tuple[DirEntry, ...]:
    directory = state.settings.directory
    mock = MockDirectory(flavor=flavor, base_dn=base_dn)
    out = _Entries(flavor=flavor, users_base=directory.users_base, baseline=mock.baseline)
    layout = plan_directory(state=state, world=world, converged=converged)
    for ou in (directory.role_groups_ou, directory.management_groups_ou, directory.users_base):
        out.container(ou)
    for dn, _ in layout.management.values():
        out.container(parent_dn(dn))
    logins = [m for g in state.management_groups for m in (g.members or ())]
    for login in [*logins, *EXTRA_USERS]:
        out.user(login)
    for spec in state.management_groups:
        if spec.name in layout.management:
            dn, members = layout.management[spec.name]
            out.group(
                dn=dn,
                name=spec.name,
                description=spec.description,
                members=[out.user_dns[m] for m in members],
            )
    for index, (group, nested) in enumerate(sorted(layout.role_groups.items())):
        role_group, member_dns = nested
        users = [out.user_dns[HAND_ADDED_ROLE_GROUP_MEMBER]] if index == 0 else []
        out.group(
            dn=role_group.dn,
            name=group,
            description=role_group.description,
            members=[*member_dns, *users],
        )
    return tuple(out.entries.values())


def imported_ous(*, state: DesiredState, world: World) -> tuple[str, ...]:
    directory = state.settings.directory
    ous = [directory.role_groups_ou, directory.management_groups_ou]
    for group in world.directory_groups.values():
        if group.adopted:
            ous.append(parent_dn(group.dn))
    unique: dict[str, str] = {}
    for ou in ous:
        unique.setdefault(normalize_dn(ou), ou)
    return tuple(unique.values())
