"""What `settings.safety.protected` keeps: the whole path that makes a role work.

A protected name is a promise that the access behind it survives a plan. A role group
kept on its own protects nothing: sign-in also needs the IAM role its name maps to,
the SAML provider that role trusts, the management groups that are Member Of it and
their assignments to the AWS app (users get the app only through those). So a
protected role group, or a protected role name (every role group of that role), keeps
all of them, as long as the desired state no longer describes the role group (while it
does, its links and members follow the desired state, like every grant):
- the role group itself and the IAM role of its (account, role);
- the SAML provider a kept role trusts (`diff_aws` keeps every provider a staying role
  trusts);
- each management group Member Of a kept role group, and its app assignment (kind
  okta, which cannot nest: the assignment of any group sharing a user with the role
  group). Only management groups: anything else in a role group is a rogue way in
  (`diff_rogue`), never kept.
Each skipped deletion is a PRUNE_SKIPPED finding naming the protected name. What
cannot be kept that way, a change of the app's settings that would stop Okta mapping a
protected role group to its role, blocks the plan with a conflict saying why.

Pure: no I/O, no globals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from engine.model import (
    DirectoryGroup,
    DirectoryKind,
    GroupRole,
    OktaAppSettings,
    OktaGroup,
    Role,
    World,
)
from engine.naming import (
    GroupFilter,
    NamingError,
    compile_group_filter,
    expand_role_value,
    parse_group_name,
    split_role_arn,
)
from engine.plan import Resource, ResourceKind

Slot = tuple[str, str]
"""(account id, case-folded role name)."""

SlotOf = Callable[[str], "tuple[str, str] | None"]
"""A group name → the (account id, lower-cased role) the group filter maps it to."""

_SETTING = "settings.safety.protected"


def _slot(account_id: str, role: str) -> Slot:
    return (account_id, role.casefold())


@dataclass(frozen=True)
class Protection:
    """Protected names and everything they keep, each with the protected name behind it."""

    names: Mapping[str, str]  # case-folded → as written
    slots: Mapping[Slot, str]  # role of a protected role group → that group's name
    groups: Mapping[str, str]  # normalized DN of a kept management group → role group
    assignments: Mapping[tuple[str, str], str]  # Okta group key → role group it serves

    def covers(self, slot: Slot, *, group_name: str = "") -> str | None:
        """The protected name that protects the role `slot` (or a role group named
        `group_name` of it): the role group's own name, its role's, or that of another
        protected role group of the same role."""
        for name in (group_name, slot[1]):
            if name and name.casefold() in self.names:
                return self.names[name.casefold()]
        return self.slots.get(slot)

    def keeps(
        self,
        *,
        kind: ResourceKind,
        key: tuple[str, ...],
        resource: Resource,
        name: str,
        slot_of: SlotOf,
    ) -> str | None:
        """Why deleting `resource` (called `name`) must be skipped, as a finding's
        message; None if it may go."""
        if name.casefold() in self.names:
            return (
                f"protected ({_SETTING}): never deleted, although the desired state no "
                "longer has it"
            )
        found: str | None = None
        if isinstance(resource, Role):
            found = self.covers(_slot(resource.account_id, resource.name))
            if found is not None:
                return _needed(found, "its IAM role")
        if isinstance(resource, DirectoryGroup | OktaGroup):
            slot = _group_slot(resource, slot_of)
            if slot is not None:
                found = self.covers(slot, group_name=resource.name)
                if found is not None:
                    return _needed(found, "its role group")
        if kind is ResourceKind.DIRECTORY_GROUP and key[0] in self.groups:
            return _needed(self.groups[key[0]], "a management group Member Of it")
        if kind is ResourceKind.APP_ASSIGNMENT and (key[0], key[1]) in self.assignments:
            return _needed(
                self.assignments[(key[0], key[1])],
                "the app assignment through which its members get the app",
            )
        return None

    def keeps_role(self, role: Role) -> bool:
        return self.covers(_slot(role.account_id, role.name)) is not None


def _needed(protected: str, what: str) -> str:
    return (
        f"kept although the desired state no longer has it: {protected} is protected "
        f"({_SETTING}) and needs {what} to keep its access working"
    )


def _group_slot(group: DirectoryGroup | OktaGroup, slot_of: SlotOf) -> Slot | None:
    if isinstance(group, DirectoryGroup):
        if group.role is not GroupRole.ROLE:
            return None
        if group.account_id is not None and group.role_name is not None:
            return _slot(group.account_id, group.role_name)
    found = slot_of(group.name)
    return None if found is None else _slot(*found)


def _manages(desired: World, group: DirectoryGroup) -> bool:
    """Whether `group` may be Member Of role groups: a management group the desired
    state declares, or one okta-aws made (in its OU)."""
    declared = desired.directory_groups.get(group.key)
    if declared is not None:
        return declared.role is GroupRole.MANAGEMENT
    return group.role is GroupRole.MANAGEMENT and not group.adopted


def build_protection(
    *, protected: frozenset[str], desired: World, live: World, slot_of: SlotOf
) -> Protection:
    """What `protected` keeps, given the two worlds (see the module docstring)."""
    names = {p.casefold(): p for p in sorted(protected)}
    if not names:
        return Protection(names=names, slots={}, groups={}, assignments={})
    # The roles of protected role groups: by the group filter (so even a plan that did
    # not read the directory keeps the IAM role), and as the groups themselves say.
    slots: dict[Slot, str] = {}
    for name in names.values():
        found = slot_of(name)
        if found is not None:
            slots.setdefault(_slot(*found), name)
    for world in (live, desired):
        groups: list[DirectoryGroup | OktaGroup] = [
            *world.directory_groups.values(),
            *world.okta_groups.values(),
        ]
        for group in groups:
            protected_name = names.get(group.name.casefold())
            slot = _group_slot(group, slot_of) if protected_name is not None else None
            if slot is not None and protected_name is not None:
                slots.setdefault(slot, protected_name)
    empty = Protection(names=names, slots=slots, groups={}, assignments={})
    kind = desired.directory_kind or live.directory_kind
    kept_groups: dict[str, str] = {}
    assignments: dict[tuple[str, str], str] = {}
    if kind is not None and kind is not DirectoryKind.OKTA:
        for key, group in sorted(live.directory_groups.items()):
            slot = _group_slot(group, slot_of)
            if slot is None or key in desired.directory_groups:
                continue
            if empty.covers(slot, group_name=group.name) is None:
                continue
            for member in sorted(group.member_groups):
                nested = live.directory_groups.get(member)
                if nested is None or not _manages(desired, nested):
                    continue  # a rogue way in is never kept (see `diff_rogue`)
                kept_groups.setdefault(member, group.name)
                assignments.setdefault((kind.okta_source, nested.name.lower()), group.name)
    elif kind is DirectoryKind.OKTA:
        for okta_key, okta_group in sorted(live.okta_groups.items()):
            slot = _group_slot(okta_group, slot_of)
            if slot is None or okta_key in desired.okta_groups or not okta_group.members:
                continue
            if empty.covers(slot, group_name=okta_group.name) is None:
                continue
            for assigned in sorted(live.app_assignments):
                other = live.okta_groups.get(assigned)
                if other is not None and other.members and other.members & okta_group.members:
                    assignments.setdefault(assigned, okta_group.name)
    return Protection(names=names, slots=slots, groups=kept_groups, assignments=assignments)


def unmapped_by_settings(
    *,
    protection: Protection,
    live: World,
    before: OktaAppSettings,
    after: OktaAppSettings,
) -> list[tuple[str, str]]:
    """(protected role group, why) for each live Okta group that maps to a protected
    role under the `before` settings but would not map to the same role under `after`."""
    if not protection.names:
        return []
    old, new = _Mapper(before), _Mapper(after)
    found = []
    for key in sorted(live.okta_groups):
        group = live.okta_groups[key]
        slot = old(group)
        if slot is None or protection.covers(slot, group_name=group.name) is None:
            continue
        why = new.why_not(group, slot)
        if why is not None:
            found.append((group.name, why))
    return found


class _Mapper:
    """The role one app's settings map an Okta group to, as Okta decides it (the string
    rules only: `access` also checks the role exists in AWS)."""

    def __init__(self, settings: OktaAppSettings) -> None:
        self.settings = settings
        try:
            self.group_filter: GroupFilter | None = compile_group_filter(settings.group_filter)
        except NamingError:
            self.group_filter = None

    def __call__(self, group: OktaGroup) -> Slot | None:
        slot, _ = self.target(group)
        return slot

    def target(self, group: OktaGroup) -> tuple[Slot | None, str]:
        """(the role it maps to, "") or (None, why it maps to none)."""
        settings = self.settings
        if not settings.use_group_mapping:
            return None, "group mapping would be turned off"
        if group.source not in settings.app_sources():
            return None, f"its source {group.source} would leave the app filter"
        ref = (
            parse_group_name(name=group.name, group_filter=self.group_filter)
            if self.group_filter is not None
            else None
        )
        if ref is None:
            return None, "the group filter would no longer match its name"
        value = expand_role_value(
            pattern=settings.role_value_pattern, account_id=ref.account_id, role=ref.role
        )
        parts = split_role_arn(value.role_arn) if value is not None else None
        if parts is None:
            return None, "the role value pattern would no longer give a role"
        return _slot(*parts), ""

    def why_not(self, group: OktaGroup, slot: Slot) -> str | None:
        """Why `group` would not map to `slot`; None if it would."""
        mapped, why = self.target(group)
        if mapped is None:
            return why
        if mapped != slot:
            return f"it would map to role {mapped[1]} in {mapped[0]} instead"
        return None
