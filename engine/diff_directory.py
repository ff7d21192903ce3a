"""The directory part of the diff: role groups, management groups and their links.

Groups in the two managed OUs are ours; a management group adopted by `dn` is somebody
else's group that we only link (Member Of role groups) and, if the desired state lists
members, fill. Links and user lists are diffed one edge at a time so a reviewer sees
"+ member DevOps → aws#prod#Admin#…" rather than a rewritten member attribute, and so
each step stays idempotent. A role group's member list is authoritative (we created
the group for exactly this purpose): extra nested groups or users are removed without
`--prune`, as destructive changes.

Pure: no I/O, no globals.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.diff_common import DiffContext, Why
from engine.diff_rogue import rogue_members
from engine.model import DirectoryGroup, GroupMember, GroupRole, System, UserMember
from engine.plan import Action, FindingKind, Reason, ResourceKind, change_id, reason_args

_GROUP = ResourceKind.DIRECTORY_GROUP


def _dns(ctx: DiffContext, values: Iterable[str]) -> frozenset[str]:
    # Readers normalize, but a DN spelled another way must never look like a new link.
    return frozenset(ctx.dn_key(v) for v in values)


def _describe(group: DirectoryGroup) -> str:
    if group.role is GroupRole.ROLE:
        where = f" for {group.account_id} / {group.role_name}" if group.account_id else ""
        return f"role group{where}"
    return "management group"


def _created(group: DirectoryGroup) -> Why:
    """Why a group is created: a role group names its slot (when compile set it)."""
    if group.role is not GroupRole.ROLE:
        return Reason.MANAGEMENT_GROUP_IN_DESIRED_STATE, ()
    if group.account_id is None or group.role_name is None:
        return Reason.IN_DESIRED_STATE, ()
    args = reason_args(account=group.account_id, role=group.role_name)
    return Reason.ROLE_GROUP_IN_DESIRED_STATE, args


def _name_of(ctx: DiffContext, dn: str) -> str:
    group = ctx.desired.directory_groups.get(dn) or ctx.live.directory_groups.get(dn)
    return group.name if group is not None else dn


def diff_directory(ctx: DiffContext) -> None:
    """Groups, then Member Of links, then users (each depends on the groups it touches)."""
    _diff_groups(ctx)
    _diff_links(ctx)
    _diff_users(ctx)
    rogue_members(ctx)  # whatever else reaches a role group: reported (and removed)


def _diff_groups(ctx: DiffContext) -> None:
    desired, live = ctx.desired.directory_groups, ctx.live.directory_groups
    dropping: dict[str, list[str]] | None = None  # built once, if a group was dropped
    for key in sorted(desired.keys() | live.keys()):
        want, have = desired.get(key), live.get(key)
        if want is None:
            assert have is not None
            if not have.adopted:  # in a managed OU: ours
                if dropping is None:
                    dropping = _role_groups_dropping(ctx)
                ctx.delete_or_skip(
                    _GROUP,
                    (key,),
                    have,
                    name=have.name,
                    subject=f"{_describe(have)} {have.name}",
                    kept_note=_leaves_now(dropping, key),
                )
            continue
        if have is None:
            if want.adopted:
                ctx.finding(
                    FindingKind.CONFLICT,
                    System.DIRECTORY,
                    f"management group {want.name}",
                    f"adopted by dn {want.dn!r}, which names no group in the directory (no "
                    "entry, or one that is not a group, such as a user); fix the dn, or drop "
                    "it to let okta-aws create the group",
                )
                continue
            reason, args = _created(want)
            ctx.create(_GROUP, (key,), want, reason=reason, args=args)
            continue
        if want.adopted or have.adopted:
            continue  # an adopted group's name, description and existence are not ours
        reason = Reason.DESCRIPTION_DIFFERS
        ctx.update_if_differs(_GROUP, (key,), have, want, reason=reason)


def _role_groups_dropping(ctx: DiffContext) -> dict[str, list[str]]:
    """Group key → names of the role groups the desired state keeps that it is in now:
    their member lists are ours, so a group the desired state dropped leaves them."""
    live = ctx.live.directory_groups
    found: dict[str, list[str]] = {}
    for key in sorted(ctx.desired.directory_groups):
        want, have = ctx.desired.directory_groups[key], live.get(key)
        if want.role is not GroupRole.ROLE or want.adopted or have is None or have.adopted:
            continue
        for member in _dns(ctx, have.member_groups):
            found.setdefault(member, []).append(want.name)
    return found


def _leaves_now(dropping: dict[str, list[str]], member: str) -> str:
    """For a management group kept until --prune: the access it loses meanwhile."""
    if not dropping.get(member):
        return ""
    return (
        ". Meanwhile it leaves the role groups the desired state keeps "
        f"({', '.join(sorted(dropping[member]))}) now, so its members lose that access"
    )


def _link_removal_reason(ctx: DiffContext, member: str) -> Reason:
    if member in ctx.desired.directory_groups:
        return Reason.NOT_GRANTED
    return Reason.GROUP_DROPPED if ctx.options.prune else Reason.GROUP_DROPPED_KEPT


def _diff_links(ctx: DiffContext) -> None:
    """Member Of links of our role groups: desired vs live, one change per link."""
    live = ctx.live.directory_groups
    for key in sorted(ctx.desired.directory_groups):
        want = ctx.desired.directory_groups[key]
        if want.role is not GroupRole.ROLE or want.adopted:
            continue
        have = live.get(key)
        if have is not None and have.adopted:
            continue
        _diff_links_of(ctx, key, want=want, have=have)
    _delete_groups_after_their_links(ctx)


def _diff_links_of(
    ctx: DiffContext, key: str, *, want: DirectoryGroup, have: DirectoryGroup | None
) -> None:
    def why(member: str, action: Action) -> Why:
        reason = Reason.GRANTED if action is Action.CREATE else _link_removal_reason(ctx, member)
        return reason, reason_args(group=_name_of(ctx, member), role_group=want.name)

    ctx.edges(
        ResourceKind.GROUP_MEMBER,
        key,
        wanted=_dns(ctx, want.member_groups),
        present=_dns(ctx, have.member_groups) if have is not None else frozenset(),
        edge=lambda member: GroupMember(group_dn=key, member_dn=member),
        why=why,
        # A link waits for its role group and its management group, if they are created.
        depends_on=lambda member: ctx.existing(
            change_id(_GROUP, (key,), Action.CREATE), change_id(_GROUP, (member,), Action.CREATE)
        ),
    )


def _delete_groups_after_their_links(ctx: DiffContext) -> None:
    """A pruned management group leaves the role groups first (access goes explicitly)."""
    removed_links: dict[str, list[str]] = {}
    for change in ctx.changes:
        if change.kind is ResourceKind.GROUP_MEMBER and change.action is Action.DELETE:
            removed_links.setdefault(change.key[1], []).append(change.id)
    for member, ids in removed_links.items():
        ctx.add_depends(change_id(_GROUP, (member,), Action.DELETE), ids)


def _diff_users(ctx: DiffContext) -> None:
    """Users of groups whose desired member list is known (None: not managed here)."""
    live = ctx.live.directory_groups
    for key in sorted(ctx.desired.directory_groups):
        want = ctx.desired.directory_groups[key]
        if want.member_users is None:
            continue
        have = live.get(key)
        if have is None and want.adopted:
            continue  # reported as a conflict: there is no group to fill
        _diff_users_of(ctx, key, want=want, have=have)


def _diff_users_of(
    ctx: DiffContext, key: str, *, want: DirectoryGroup, have: DirectoryGroup | None
) -> None:
    created = ctx.existing(change_id(_GROUP, (key,), Action.CREATE))

    def why(login: str, action: Action) -> Why:
        reason = Reason.USER_LISTED if action is Action.CREATE else Reason.USER_NOT_LISTED
        return reason, reason_args(login=login, group=want.name)

    ctx.edges(
        ResourceKind.USER_MEMBER,
        key,
        wanted=frozenset(u.lower() for u in want.member_users or ()),
        present=frozenset(u.lower() for u in (have.member_users or ())) if have else frozenset(),
        edge=lambda login: UserMember(group=key, login=login),
        why=why,
        depends_on=lambda login: created,
    )
