"""What reaches a role group other than through a management group, found in the diff.

Access to a role must come from a grant: a management group the desired state declares,
Member Of the role group. Anything else among a role group's members gives AWS access
that no reviewed line describes: a group nested by hand, a role group nested in another
(its members gain this role too), a user added directly (what adopting a role group by
`dn` used to do). Each is reported as a ROGUE_GROUP security finding, so the reviewer
sees who put it there, and its link is removed as drift of a group we own: by
`diff_directory` for the role groups the desired state has (their member lists are
authoritative), here for those it no longer has (kept until `--prune`, but not as a way
in for someone else meanwhile). Management groups okta-aws created and the desired state
dropped are its own, not rogue: their links go with the usual prune rules.

The same holds one level down: a group nested by hand in a management group whose
members the desired state lists. Okta's import flattens nesting, so the nested group's
users would hold the management group's roles without being listed; it is reported and
its link removed like a user who is not listed. (A management group whose members are
left to its owners is theirs to nest in.)

A live group name the group filter could not be evaluated on within its time limit
(`naming.MATCH_TIMEOUT`) is reported as a blocking conflict: nobody can say whether it
maps to a role, so the access delta could not be complete.

Pure: no I/O.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from engine.diff_common import DiffContext, Why
from engine.model import DirectoryGroup, GroupMember, GroupRole, System, UserMember
from engine.naming import MATCH_TIMEOUT, NamingError, compile_group_filter, parse_group_name
from engine.plan import Action, FindingKind, Reason, ResourceKind, change_id, reason_args

__all__ = ["filter_timeouts", "rogue_members"]


def rogue_members(ctx: DiffContext) -> None:
    """A ROGUE_GROUP finding per group or user in a live role group other than a
    management group; removal of such links from role groups the desired state dropped."""
    managers = _management_groups(ctx)
    for key in sorted(ctx.live.directory_groups):
        group = ctx.live.directory_groups[key]
        if group.role is not GroupRole.ROLE or group.adopted:
            continue
        what = _grants(group)
        # A role group the desired state dropped keeps its links until --prune deletes
        # it; the rogue ones go now. (One the desired state has loses them in
        # diff_directory, one being deleted loses them with it.)
        deleted = change_id(ResourceKind.DIRECTORY_GROUP, (key,), Action.DELETE)
        kept = key not in ctx.desired.directory_groups and ctx.find(deleted) is None
        for member in sorted({ctx.dn_key(m) for m in group.member_groups} - managers):
            name = _name_of(ctx, member)
            ctx.finding(
                FindingKind.ROGUE_GROUP,
                System.DIRECTORY,
                f"{name} in role group {group.name}",
                f"{member!r} is Member Of role group {group.name} without being a management "
                f"group of the desired state: its members hold {what} through no grant. "
                "okta-aws removes the link; find out who made it",
            )
            if kept:
                _remove_link(ctx, key=key, member=member, role_group=group.name)
        for login in sorted(group.member_users or ()):
            ctx.finding(
                FindingKind.ROGUE_GROUP,
                System.DIRECTORY,
                f"user {login} in role group {group.name}",
                f"a direct member of role group {group.name}: holds {what} through no grant "
                "(users join management groups, never role groups). okta-aws removes them "
                "from it; find out who added them",
            )
            if kept:
                _remove_user(ctx, key=key, login=login, role_group=group.name)
    _nested_in_listed(ctx)
    filter_timeouts(
        ctx, names=(g.name for g in ctx.live.directory_groups.values()), system=System.DIRECTORY
    )


def _nested_in_listed(ctx: DiffContext) -> None:
    """A ROGUE_GROUP finding and the link's removal per group nested in a management
    group of the desired state whose member list is ours."""
    for key in sorted(ctx.desired.directory_groups):
        want = ctx.desired.directory_groups[key]
        have = ctx.live.directory_groups.get(key)
        if want.role is not GroupRole.MANAGEMENT or want.member_users is None or have is None:
            continue
        wanted = {ctx.dn_key(m) for m in want.member_groups}
        for member in sorted({ctx.dn_key(m) for m in have.member_groups} - wanted):
            name = _name_of(ctx, member)
            ctx.finding(
                FindingKind.ROGUE_GROUP,
                System.DIRECTORY,
                f"{name} in management group {want.name}",
                f"{member!r} is nested in management group {want.name}, whose members the "
                "desired state lists: Okta's import flattens nesting, so its members would "
                "hold that group's roles without being listed. okta-aws removes the link; "
                "list the users instead, or find out who made it",
            )
            args = reason_args(group=name, management_group=want.name)
            before = GroupMember(group_dn=key, member_dn=member)
            _remove_once(ctx, before, (key, member), why=(Reason.NESTED_GROUP, args))


def filter_timeouts(ctx: DiffContext, *, names: Iterable[str], system: System) -> None:
    """A blocking finding per name a group filter could not be evaluated on in time: the
    one we converge to, and the one Okta holds now (live access is computed with it)."""
    filters = [ctx.group_filter]
    if ctx.live.okta_app is not None:
        with contextlib.suppress(NamingError):  # a live filter that cannot work maps nothing
            filters.append(compile_group_filter(ctx.live.okta_app.settings.group_filter))
    ordered = sorted(set(names))
    for group_filter in dict.fromkeys(f for f in filters if f is not None):
        for name in ordered:
            parse_group_name(name=name, group_filter=group_filter)  # decides and remembers
            if not group_filter.timed_out(name):
                continue
            ctx.finding(
                FindingKind.CONFLICT,
                system,
                f"{system.value} group {name}",
                f"the group filter '{group_filter.text}' took longer than {MATCH_TIMEOUT} s "
                "on this name, so whether it maps to a role (and who holds that role "
                "through it) is unknown; simplify the filter (okta.group_filter), or "
                "rename the group",
            )


def _management_groups(ctx: DiffContext) -> frozenset[str]:
    """Keys of the groups that may be Member Of role groups: the desired state's
    management groups (adopted ones too) and those okta-aws made (in its OU)."""
    desired = {
        key
        for key, group in ctx.desired.directory_groups.items()
        if group.role is GroupRole.MANAGEMENT
    }
    ours = {
        key
        for key, group in ctx.live.directory_groups.items()
        if group.role is GroupRole.MANAGEMENT and not group.adopted
    }
    return frozenset(desired | ours)


def _grants(group: DirectoryGroup) -> str:
    if group.account_id is None or group.role_name is None:
        return "whatever role Okta maps this group to"
    return f"{group.role_name} in {group.account_id}"


def _name_of(ctx: DiffContext, dn: str) -> str:
    group = ctx.live.directory_groups.get(dn) or ctx.desired.directory_groups.get(dn)
    return group.name if group is not None else dn


def _remove_link(ctx: DiffContext, *, key: str, member: str, role_group: str) -> None:
    args = reason_args(group=_name_of(ctx, member), role_group=role_group)
    before = GroupMember(group_dn=key, member_dn=member)
    _remove_once(ctx, before, (key, member), why=(Reason.NOT_A_MANAGEMENT_GROUP, args))


def _remove_user(ctx: DiffContext, *, key: str, login: str, role_group: str) -> None:
    args = reason_args(login=login, role_group=role_group)
    before = UserMember(group=key, login=login)
    _remove_once(ctx, before, (key, login), why=(Reason.DIRECT_MEMBER, args))


def _remove_once(
    ctx: DiffContext,
    before: GroupMember | UserMember,
    key: tuple[str, str],
    *,
    why: Why,
) -> None:
    kind = (
        ResourceKind.GROUP_MEMBER if isinstance(before, GroupMember) else ResourceKind.USER_MEMBER
    )
    if ctx.find(change_id(kind, key, Action.DELETE)) is None:  # not already planned
        ctx.delete(kind, key, before, reason=why[0], args=why[1])
