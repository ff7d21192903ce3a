"""The in-memory executor: the world as it will be after a plan's changes.

Two things need to know the future without touching anything: the plan's access delta
(who will gain or lose what once the plan is applied) and the tests' convergence
property (apply the plan to the live world, re-plan, nothing is left). Both use this
module, which executes each change the way the providers do, on a copy of the world:
- owned AWS resources carry the managed tag after a create or an adopt;
- a created group starts empty (its links and members are separate changes);
- deleting a directory group removes it from the groups it was Member Of, as AD's
  link integrity and slapd's refint overlay do; deleting an Okta group removes its app
  assignment, as Okta does;
- a change waiting for something (a directory import) is not applied: that is what
  "waiting" means (unless asked for: the access delta also shows the world after the
  import and the next apply). Okta's view of directory groups only moves with an
  import, which is `access.simulate_import`'s business, not this module's.

A change whose target is missing (e.g. a link into a group that does not exist) is a
no-op here; on a live system it would fail, which apply reports.

Pure: no I/O, no globals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from engine.model import (
    AppAssignment,
    DirectoryGroup,
    DirectoryKind,
    GroupMember,
    OktaApp,
    OktaGroup,
    Role,
    SamlProvider,
    UserMember,
    World,
)
from engine.plan import Action, Change, ResourceKind

_OKTA_SOURCE = DirectoryKind.OKTA.okta_source
K = TypeVar("K")  # a group's key
R = TypeVar("R", SamlProvider, Role)


class _Draft:
    """Mutable copies of the world's mappings while changes are applied.

    Member lists are edited in mutable overlays and frozen once at the end: a plan that
    fills thousands of groups must not copy a group per member.
    """

    def __init__(self, world: World) -> None:
        self.world = world
        self.saml_providers = dict(world.saml_providers)
        self.roles = dict(world.roles)
        self.directory_groups = dict(world.directory_groups)
        self.okta_groups = dict(world.okta_groups)
        self.app_assignments = dict(world.app_assignments)
        self.okta_app = world.okta_app
        self.links: dict[str, set[str]] = {}  # directory group DN → nested group DNs
        self.users: dict[str, set[str]] = {}  # directory group DN → logins
        self.okta_members: dict[tuple[str, str], set[str]] = {}

    # The member sets being drafted, each started from the group's own when first
    # touched; None when there is no such group.

    def group_links(self, dn: str) -> set[str] | None:
        group = self.directory_groups.get(dn)
        return _drafted(self.links, dn, group.member_groups if group else None)

    def group_users(self, dn: str) -> set[str] | None:
        group = self.directory_groups.get(dn)
        return _drafted(self.users, dn, (group.member_users or ()) if group else None)

    def members_of(self, key: tuple[str, str]) -> set[str] | None:
        group = self.okta_groups.get(key)
        return _drafted(self.okta_members, key, (group.members or ()) if group else None)

    def freeze(self) -> World:
        groups = self.directory_groups
        for dn in self.links.keys() | self.users.keys():
            group = groups.get(dn)
            if group is None:
                continue
            links, users = self.links.get(dn), self.users.get(dn)
            groups[dn] = dataclasses.replace(
                group,
                member_groups=group.member_groups if links is None else frozenset(links),
                member_users=group.member_users if users is None else frozenset(users),
            )
        for key, members in self.okta_members.items():
            okta_group = self.okta_groups.get(key)
            if okta_group is not None:
                self.okta_groups[key] = dataclasses.replace(okta_group, members=frozenset(members))
        return dataclasses.replace(
            self.world,
            saml_providers=self.saml_providers,
            roles=self.roles,
            directory_groups=groups,
            okta_groups=self.okta_groups,
            app_assignments=self.app_assignments,
            okta_app=self.okta_app,
        )


def apply_changes(
    *, world: World, changes: Iterable[Change], include_waiting: bool = False
) -> World:
    """`world` after executing `changes` in the given order. Changes waiting for a
    directory import are skipped, unless `include_waiting`: the world as it will be
    once the import came and the next apply made them too."""
    draft = _Draft(world)
    for change in changes:
        if change.waits_for is None or include_waiting:
            _APPLY[change.kind](draft, change)
    return draft.freeze()


def _key(change: Change) -> Any:
    return change.resource.key


def _tagged(held: dict[tuple[str, str], R], change: Change, after: R | None) -> None:
    """An AWS resource made, updated or adopted carries the managed tag afterwards."""
    if change.action is Action.DELETE:
        held.pop(_key(change), None)
    elif after is not None:
        held[after.key] = dataclasses.replace(after, managed=True, adopt=False)


def _saml_provider(draft: _Draft, change: Change) -> None:
    after = change.after
    assert after is None or isinstance(after, SamlProvider)
    _tagged(draft.saml_providers, change, after)


def _role(draft: _Draft, change: Change) -> None:
    after = change.after
    assert after is None or isinstance(after, Role)
    _tagged(draft.roles, change, after)


def _directory_group(draft: _Draft, change: Change) -> None:
    groups = draft.directory_groups
    if change.action is Action.DELETE:
        key = _key(change)
        if groups.pop(key, None) is not None:
            draft.links.pop(key, None)
            draft.users.pop(key, None)
            for dn in groups:  # link integrity: it leaves every group it was in
                links = draft.links.get(dn)
                if links is not None:
                    links.discard(key)
                elif key in groups[dn].member_groups:
                    draft.links[dn] = set(groups[dn].member_groups) - {key}
        return
    after = change.after
    assert isinstance(after, DirectoryGroup)
    existing = groups.get(after.key)
    if change.action is Action.CREATE or existing is None:
        groups[after.key] = dataclasses.replace(
            after, member_groups=frozenset(), member_users=frozenset()
        )
        draft.links.pop(after.key, None)
        draft.users.pop(after.key, None)
    else:
        groups[after.key] = dataclasses.replace(existing, description=after.description)


def _drafted(drafts: dict[K, set[str]], key: K, current: Iterable[str] | None) -> set[str] | None:
    if key not in drafts:
        if current is None:
            return None
        drafts[key] = set(current)
    return drafts[key]


def _edge(members: set[str] | None, member: str, action: Action) -> None:
    """Add or remove one member of a group's drafted member set (None: no such group)."""
    if members is None:
        return
    if action is Action.DELETE:
        members.discard(member)
    else:
        members.add(member)


def _group_member(draft: _Draft, change: Change) -> None:
    link = change.resource
    assert isinstance(link, GroupMember)
    _edge(draft.group_links(link.group_dn), link.member_dn, change.action)


def _user_member(draft: _Draft, change: Change) -> None:
    link = change.resource
    assert isinstance(link, UserMember)
    _edge(draft.group_users(link.group), link.login, change.action)


def _okta_app(draft: _Draft, change: Change) -> None:
    if change.action is Action.DELETE:
        draft.okta_app = None
        return
    after = change.after
    assert isinstance(after, OktaApp)
    previous_id = draft.okta_app.id if draft.okta_app is not None else None
    draft.okta_app = dataclasses.replace(after, id=previous_id or after.id)


def _okta_group(draft: _Draft, change: Change) -> None:
    groups = draft.okta_groups
    if change.action is Action.DELETE:
        key = _key(change)
        groups.pop(key, None)
        draft.okta_members.pop(key, None)
        draft.app_assignments.pop(key, None)  # Okta drops a deleted group's assignment
        return
    after = change.after
    assert isinstance(after, OktaGroup)
    existing = groups.get(after.key)
    if change.action is Action.CREATE or existing is None:
        groups[after.key] = dataclasses.replace(after, members=frozenset())
        draft.okta_members.pop(after.key, None)
    else:
        groups[after.key] = dataclasses.replace(existing, description=after.description)


def _okta_group_member(draft: _Draft, change: Change) -> None:
    link = change.resource
    assert isinstance(link, UserMember)
    _edge(draft.members_of((_OKTA_SOURCE, link.group.lower())), link.login, change.action)


def _app_assignment(draft: _Draft, change: Change) -> None:
    assignment = change.resource
    assert isinstance(assignment, AppAssignment)
    if change.action is Action.DELETE:
        draft.app_assignments.pop(assignment.key, None)
    else:
        draft.app_assignments[assignment.key] = assignment


_APPLY: dict[ResourceKind, Callable[[_Draft, Change], None]] = {
    ResourceKind.SAML_PROVIDER: _saml_provider,
    ResourceKind.ROLE: _role,
    ResourceKind.DIRECTORY_GROUP: _directory_group,
    ResourceKind.GROUP_MEMBER: _group_member,
    ResourceKind.USER_MEMBER: _user_member,
    ResourceKind.OKTA_APP: _okta_app,
    ResourceKind.OKTA_GROUP: _okta_group,
    ResourceKind.OKTA_GROUP_MEMBER: _okta_group_member,
    ResourceKind.APP_ASSIGNMENT: _app_assignment,
}
