"""Who can assume which role: entitlements computed exactly as Okta and AWS decide them.

Reviewers approve access, not LDAP writes, so the plan leads with the access delta and
`okta-aws access` answers "who can get into prod?". Both must predict what really
happens at sign-in, which is a chain of string rules and lookups where any weak link
silently drops a role: the user must be assigned to the app; be in an Okta group from
an app-filter source whose name the group filter maps to (account, role); the role
value pattern must expand to a provider and a role ARN; and, where AWS is known, the
role must exist and trust that provider, which must exist too. A directory's groups
reach Okta only through an import that flattens nesting; `simulate_import` predicts it.

Sized for 20,000 users × 5,000 role groups × 400 management groups: every step walks
group membership lists (indexed by group) with set operations, never users × groups,
so the work is proportional to the memberships plus the entitlements produced. A
large org has millions of entitlements; `access_index` keeps them grouped per (account,
role) and `index_delta` compares whole slots, so a plan pays per changed role group
rather than per entitlement.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from engine.compile import compile_world
from engine.dn import dn_is_under
from engine.model import (
    DirectoryGroup,
    DirectoryKind,
    Entitlement,
    OktaGroup,
    OktaGroupType,
    System,
    World,
    trusted_saml_providers,
)
from engine.naming import (
    NamingError,
    compile_group_filter,
    expand_role_value,
    parse_group_name,
    split_provider_arn,
    split_role_arn,
)
from engine.plan import AccessChange
from engine.spec import DesiredState

Slot = tuple[str, str]
"""(account id, role name)."""

AccessIndex = Mapping[Slot, Mapping[str, frozenset[str]]]
"""Per (account, role): each user who may assume it → `via`. The compact form of a set
of entitlements; whole slots compare at C speed, which is what makes a plan's access
delta cheap when most role groups did not change."""


class _Nesting:
    """Flattened user membership of directory groups, memoized, safe with cycles."""

    def __init__(self, groups: Mapping[str, DirectoryGroup]) -> None:
        self.groups = groups
        self.memo: dict[str, frozenset[str]] = {}

    def users(self, dn: str) -> frozenset[str]:
        """Every login in group `dn` directly or through nested groups (unknown: none).

        A group whose membership is unknown (`member_users` None) or that the world
        does not hold contributes no users: we predict only what we know.
        """
        if dn in self.memo:
            return self.memo[dn]
        found: set[str] = set()
        seen = {dn}
        stack = [dn]
        while stack:
            current = stack.pop()
            done = self.memo.get(current)
            if done is not None:
                found |= done
                continue
            group = self.groups.get(current)
            if group is None:
                continue
            if group.member_users:
                found |= group.member_users
            for child in group.member_groups:
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        result = frozenset(found)
        self.memo[dn] = result
        return result


def simulate_import(*, world: World, source: str, covered_ous: Iterable[str] = ()) -> World:
    """`world` with the Okta groups a directory import would produce from its directory.

    Each directory group becomes an APP_GROUP of `source` with the same name, its
    normalized DN, and its users flattened through nesting (as Okta's AD/LDAP agents
    do). They replace Okta groups of the same key (keeping server ids); other Okta
    groups are kept. `covered_ous` names containers the world's directory holds in
    full: an imported group of `source` under one of them that the directory no longer
    has is gone after the import, so it is dropped.
    """
    nesting = _Nesting(world.directory_groups)
    groups = dict(world.okta_groups)
    ous = tuple(covered_ous)
    if ous:
        for key, group in list(groups.items()):
            if (
                group.source == source
                and group.dn is not None
                and group.dn not in world.directory_groups
                and any(dn_is_under(group.dn, base=ou) for ou in ous)
            ):
                del groups[key]
    for dn, directory_group in world.directory_groups.items():
        imported = OktaGroup(
            name=directory_group.name,
            source=source,
            type=OktaGroupType.APP_GROUP,
            dn=dn,
            description=directory_group.description,
            members=nesting.users(dn),
        )
        existing = groups.get(imported.key)
        if existing is not None:
            imported = dataclasses.replace(imported, id=existing.id, source_id=existing.source_id)
        groups[imported.key] = imported
    return dataclasses.replace(world, okta_groups=groups)


def access_index(
    *, world: World, import_source: str | None = None, covered_ous: Iterable[str] = ()
) -> AccessIndex:
    """The world's entitlements grouped by (account, role); see `effective_access`."""
    if import_source is not None:
        world = simulate_import(world=world, source=import_source, covered_ous=covered_ous)
    app = world.okta_app
    if app is None or not app.settings.use_group_mapping:
        return {}
    try:
        group_filter = compile_group_filter(app.settings.group_filter)
    except NamingError:
        return {}  # Okta maps nothing through a filter that cannot work
    sources = app.settings.app_sources()
    assigned = _assigned_users(world)
    resolve = _Resolver(world=world, pattern=app.settings.role_value_pattern)
    vias = _Vias(world)

    index: dict[Slot, dict[str, frozenset[str]]] = {}
    for group in world.okta_groups.values():
        if group.source not in sources or not group.members:
            continue
        ref = parse_group_name(name=group.name, group_filter=group_filter)
        if ref is None:
            continue
        target = resolve(account_id=ref.account_id, role=ref.role)
        if target is None:
            continue
        found = vias.of(group, users=group.members & assigned)
        if not found:
            continue
        slot = index.get(target)
        if slot is None:
            index[target] = found
            continue
        # Two Okta groups can map to the same role (e.g. from two sources, or a
        # hand-made filter matching two names).
        for user, through in found.items():
            known = slot.get(user)
            slot[user] = through if known is None else vias.merge(known, through)
    return index


def effective_access(
    *, world: World, import_source: str | None = None, covered_ous: Iterable[str] = ()
) -> frozenset[Entitlement]:
    """Every (user, account, role) the world lets someone assume, with `via`.

    With `import_source`, the Okta groups are first predicted from the directory
    (`simulate_import`; `covered_ous` as there). A world without the Okta app grants
    nothing: sign-in goes through it. `via` holds the management groups through which
    the user is in the role group (from directory nesting when the world knows it, or
    with kind okta from the groups whose members fill the role group), else the Okta
    group itself (a user put into it by hand).
    """
    return entitlements_of(
        access_index(world=world, import_source=import_source, covered_ous=covered_ous)
    )


def entitlements_of(index: AccessIndex) -> frozenset[Entitlement]:
    """The entitlements an index holds."""
    with _gc_paused():
        return frozenset(
            Entitlement(user=user, account_id=account_id, role=role, via=via)
            for (account_id, role), users in index.items()
            for user, via in users.items()
        )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Millions of new acyclic objects make the cyclic collector rescan the heap over
    and over (half the time of a large org); none of them can form a cycle."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _assigned_users(world: World) -> frozenset[str]:
    """Users in some Okta group assigned to the app: the only ones who get the app."""
    users: set[str] = set()
    for key in world.app_assignments:
        group = world.okta_groups.get(key)
        if group is not None and group.members:
            users |= group.members
    return frozenset(users)


class _Vias:
    """For an Okta group: each member and the groups it is a member through.

    The `via` sets are shared objects (one per management group, one per combination
    seen), since millions of entitlements carry the same few.
    """

    def __init__(self, world: World) -> None:
        self.groups = world.directory_groups
        self.okta_groups = world.okta_groups
        self.nesting = _Nesting(world.directory_groups)
        self.singletons: dict[str, frozenset[str]] = {}
        self.unions: dict[frozenset[str], frozenset[str]] = {}

    def merge(self, a: frozenset[str], b: frozenset[str]) -> frozenset[str]:
        if b <= a:
            return a
        union = a | b
        return self.unions.setdefault(union, union)

    def _one(self, name: str) -> frozenset[str]:
        return self.singletons.setdefault(name, frozenset((name,)))

    def of(self, group: OktaGroup, *, users: frozenset[str]) -> dict[str, frozenset[str]]:
        """`users` (members of `group`) → the groups each is a member through.

        Through the directory's nesting when the world knows the group's DN; with kind
        okta, through the management groups whose members fill the role group
        (`member_groups`), as far as this world knows their members.
        """
        by_user: dict[str, frozenset[str]] = {}
        for name, reached in self._contributors(group):
            through = self._one(name)
            reached = reached & users
            overlap = reached & by_user.keys()
            # Set operations over whole groups, not a Python loop per user.
            by_user.update(dict.fromkeys(reached - overlap, through))
            for user in overlap:
                by_user[user] = self.merge(by_user[user], through)
        # Direct members, or a directory out of step with Okta: the Okta group itself.
        direct = users - by_user.keys()
        if direct:
            by_user.update(dict.fromkeys(direct, self._one(group.name)))
        return by_user

    def _contributors(self, group: OktaGroup) -> Iterator[tuple[str, frozenset[str]]]:
        """(name, users) of each group that puts its users into `group`."""
        directory_group = self.groups.get(group.dn) if group.dn is not None else None
        for child_dn in directory_group.member_groups if directory_group is not None else ():
            child = self.groups.get(child_dn)
            if child is not None:
                yield child.name, self.nesting.users(child_dn)
        for name in group.member_groups:
            contributor = self.okta_groups.get((group.source, name.lower()))
            if contributor is not None and contributor.members:
                yield contributor.name, contributor.members


class _Resolver:
    """Role value pattern and AWS checks for one (account, role) Okta extracted."""

    def __init__(self, *, world: World, pattern: str) -> None:
        self.world = world
        self.pattern = pattern
        self.check_aws = System.AWS in world.systems
        self.trusts: dict[tuple[str, str], frozenset[str]] = {}

    def __call__(self, *, account_id: str, role: str) -> tuple[str, str] | None:
        """(account id, role name) the user can assume, or None if sign-in would fail."""
        value = expand_role_value(pattern=self.pattern, account_id=account_id, role=role)
        if value is None:
            return None
        role_parts = split_role_arn(value.role_arn)
        provider_parts = split_provider_arn(value.provider_arn)
        if role_parts is None or provider_parts is None:
            return None
        role_account, role_name = role_parts
        if not self.check_aws or role_account not in self.world.accounts:
            return role_parts  # AWS not known here: Okta's side decides alone
        aws_role = self.world.roles.get((role_account, role_name.lower()))
        if aws_role is None:
            return None
        trusted = self.trusts.get(aws_role.key)
        if trusted is None:
            trusted = trusted_saml_providers(aws_role.trust_policy)
            self.trusts[aws_role.key] = trusted
        if value.provider_arn not in trusted:
            return None
        # A role can only trust a SAML provider of its own account.
        if provider_parts[0] != role_account or provider_parts not in self.world.saml_providers:
            return None
        return role_parts


def access_delta(
    *,
    before: frozenset[Entitlement],
    after: frozenset[Entitlement],
    aliases: Mapping[str, str],
) -> tuple[AccessChange, ...]:
    """Who gains and who loses what, sorted by (user, account, role).

    `via` of a gain comes from `after` (how they will get it), of a loss from `before`
    (what granted it until now). A change of `via` alone is no change of access.
    """
    return index_delta(before=_index_of(before), after=_index_of(after), aliases=aliases)


def index_delta(
    *, before: AccessIndex, after: AccessIndex, aliases: Mapping[str, str]
) -> tuple[AccessChange, ...]:
    """`access_delta` over indexes: slots equal on both sides are skipped whole."""
    found: list[tuple[Slot, str, bool, frozenset[str]]] = []
    empty: Mapping[str, frozenset[str]] = {}
    for slot in before.keys() | after.keys():
        old, new = before.get(slot, empty), after.get(slot, empty)
        if old == new:
            continue
        for gained, side, other in ((True, new, old), (False, old, new)):
            found += [(slot, user, gained, side[user]) for user in side.keys() - other.keys()]
    return _access_changes(found, aliases=aliases)


def pending_delta(
    *,
    before: AccessIndex,
    now: AccessIndex,
    eventual: AccessIndex,
    aliases: Mapping[str, str],
    waits_for: str,
    limit: int,
) -> tuple[tuple[AccessChange, ...], int]:
    """Access changes that happen only in `eventual` (once waiting changes are made),
    not already by `now`, marked `waits_for`; and how many there are. Only counted, not
    listed, beyond `limit` (a whole org's first plan would list every entitlement)."""
    empty: Mapping[str, frozenset[str]] = {}
    found: list[tuple[Slot, str, bool, frozenset[str]]] = []
    count = 0
    for slot in eventual.keys() | now.keys():
        later, sooner = eventual.get(slot, empty), now.get(slot, empty)
        if later == sooner:
            continue
        old = before.get(slot, empty)
        gains = [u for u in later.keys() - old.keys() if u not in sooner]
        losses = [u for u in old.keys() - later.keys() if u in sooner]
        count += len(gains) + len(losses)
        if count <= limit:
            found += [(slot, u, True, later[u]) for u in gains]
            found += [(slot, u, False, old[u]) for u in losses]
    if count > limit:
        return (), count
    return _access_changes(found, aliases=aliases, waits_for=waits_for), count


def access_order(change: AccessChange) -> tuple[str, str, str]:
    """How access deltas are sorted: by user, then account, then role."""
    return (change.user, change.account_id, change.role)


def _access_changes(
    found: Iterable[tuple[Slot, str, bool, frozenset[str]]],
    *,
    aliases: Mapping[str, str],
    waits_for: str | None = None,
) -> tuple[AccessChange, ...]:
    changes = [
        AccessChange(
            user=user,
            account_id=slot[0],
            role=slot[1],
            gained=gained,
            account_alias=aliases.get(slot[0], ""),
            via=tuple(sorted(via)),
            waits_for=waits_for,
        )
        for slot, user, gained, via in found
    ]
    return tuple(sorted(changes, key=access_order))


def _index_of(entitlements: Iterable[Entitlement]) -> AccessIndex:
    index: dict[Slot, dict[str, frozenset[str]]] = {}
    for e in entitlements:
        index.setdefault((e.account_id, e.role), {})[e.user] = e.via
    return index


def desired_access(*, state: DesiredState) -> frozenset[Entitlement]:
    """The entitlements the desired state grants, once applied and imported into Okta."""
    world = compile_world(state=state)
    kind = state.settings.directory.kind
    # Okta groups of kind okta are compiled directly; a directory's arrive by import.
    import_source = None if kind is DirectoryKind.OKTA else kind.okta_source
    return effective_access(world=world, import_source=import_source)
