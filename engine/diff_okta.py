"""The Okta part of the diff: the AWS app's settings, its group assignments, and (with
`directory.kind: okta`) the Okta groups that stand in for a directory.

Okta is where access is granted at the front door, and where hand-made state is most
common, so this part is the most careful about what it owns:
- assignments: we add those of management groups with grants; we remove an assignment
  only of a group we own (one the desired state still names, which is an authoritative
  removal, or one in our managed OUs / named like a role group, which needs `--prune`);
  every other assignment was made by hand and is reported as UNMANAGED, never touched;
- a desired assignment whose imported group Okta has not seen yet waits for the next
  directory import rather than failing;
- groups that look like role groups but come from a source outside the app filter are
  reported as rogue (a change of app filter would silently grant AWS access through them);
- kind okta: a role group's members are the union of its management groups' (Okta cannot
  nest), taking an owner-managed group's (members omitted) from Okta as read now, so each
  reconcile follows its owners; anyone else in a role group is drift and is removed.

Pure: no I/O, no globals.
"""

from __future__ import annotations

from engine.diff_common import IMPORT_PENDING, DiffContext, Why, desired_app_settings
from engine.diff_rogue import filter_timeouts
from engine.dn import dn_is_under
from engine.model import (
    AppAssignment,
    DirectoryKind,
    GroupRole,
    OktaGroup,
    OktaGroupType,
    System,
    UserMember,
)
from engine.naming import parse_group_name
from engine.plan import Action, FindingKind, Reason, ResourceKind, change_id, reason_args

OKTA_SOURCE = DirectoryKind.OKTA.okta_source


def diff_okta(ctx: DiffContext) -> None:
    """App settings, Okta groups (kind okta), assignments, then rogue-group findings."""
    app_ready, app_deps = _diff_app(ctx)
    if ctx.desired.directory_kind is DirectoryKind.OKTA:
        _diff_groups(ctx)
    if app_ready:
        _diff_assignments(ctx, app_deps)
    _rogue_groups(ctx)
    filter_timeouts(ctx, names=(g.name for g in ctx.live.okta_groups.values()), system=System.OKTA)


def _diff_app(ctx: DiffContext) -> tuple[bool, tuple[str, ...]]:
    """Plan the app itself; say whether assignments can be planned, and on what."""
    want, have = ctx.desired.okta_app, ctx.live.okta_app
    if want is None:
        return have is not None, ()
    key = (want.label,)
    if have is None:
        if not ctx.options.create_app:
            ctx.finding(
                FindingKind.READ_ERROR,
                System.OKTA,
                f"app {want.label}",
                "the AWS Account Federation app was not found in Okta; add it from the "
                "Okta Integration Network (Applications → Browse App Catalog → AWS "
                "Account Federation) and name it in okta.app_label / okta.app_id, or set "
                "okta.create_app: true to let okta-aws create it",
            )
            return False, ()
        change = ctx.create(ResourceKind.OKTA_APP, key, want, reason=Reason.CREATE_APP)
        return True, (change.id,)
    ctx.update_if_differs(
        ResourceKind.OKTA_APP,
        key,
        have,
        want,
        reason=Reason.APP_SETTINGS_DIFFER,
        # Settings that can unmap groups take access away: they count as deletions.
        destructive=have.settings.unmaps_groups(want.settings),
    )
    return True, ()


def _is_role_group(ctx: DiffContext, name: str) -> bool:
    return ctx.role_of_group_name(name) is not None


def _ours(group: OktaGroup) -> bool:
    return group.source == OKTA_SOURCE and group.type is OktaGroupType.OKTA_GROUP


def _diff_groups(ctx: DiffContext) -> None:
    """Kind okta: our OKTA_GROUPs (role and management groups) and their members."""
    desired = {k: g for k, g in ctx.desired.okta_groups.items() if g.source == OKTA_SOURCE}
    live = {k: g for k, g in ctx.live.okta_groups.items() if _ours(g)}
    for key in sorted(desired.keys() | live.keys()):
        want, have = desired.get(key), live.get(key)
        if want is None:
            assert have is not None
            # Without a directory OU, a role-group name is our only mark of ownership;
            # a management group dropped from the desired state is indistinguishable
            # from any other Okta group, so it is left alone.
            if _is_role_group(ctx, have.name):
                ctx.delete_or_skip(
                    ResourceKind.OKTA_GROUP,
                    key,
                    have,
                    name=have.name,
                    subject=f"okta group {have.name}",
                    depends_on=ctx.existing(
                        change_id(ResourceKind.APP_ASSIGNMENT, key, Action.DELETE)
                    ),
                )
            continue
        if have is None:
            reason = Reason.OKTA_GROUP_IN_DESIRED_STATE
            ctx.create(ResourceKind.OKTA_GROUP, key, want, reason=reason)
        elif want.description or _is_role_group(ctx, want.name):
            # A management group's description is compared only when one is asked for:
            # never blank out what an admin wrote on a pre-existing group.
            reason = Reason.DESCRIPTION_DIFFERS
            ctx.update_if_differs(ResourceKind.OKTA_GROUP, key, have, want, reason=reason)
        _diff_members(ctx, key=key, want=want, have=have)


def _diff_members(
    ctx: DiffContext, *, key: tuple[str, str], want: OktaGroup, have: OktaGroup | None
) -> None:
    if want.members is None:
        return  # owner-managed: its members are read, never compared
    wanted, known = _wanted_members(ctx, want)
    created = ctx.existing(change_id(ResourceKind.OKTA_GROUP, key, Action.CREATE))

    def why(login: str, action: Action) -> Why:
        if action is Action.CREATE:
            return wanted[login]
        if want.member_groups:
            return Reason.MEMBER_NOT_GRANTED, reason_args(group=want.name)
        return Reason.MEMBER_NOT_LISTED, ()

    ctx.edges(
        ResourceKind.OKTA_GROUP_MEMBER,
        key[1],
        wanted=wanted.keys(),
        present=frozenset(u.lower() for u in (have.members or ())) if have else frozenset(),
        edge=lambda login: UserMember(group=want.name, login=login),
        why=why,
        depends_on=lambda login: created,
        # An owner-managed group's members were not read: extras may be theirs.
        removals=known,
    )


def _wanted_members(ctx: DiffContext, want: OktaGroup) -> tuple[dict[str, Why], bool]:
    """Who belongs in `want` → why (the management groups putting them in, those whose
    members their owners run in Okta named apart); and whether that is fully known.

    A group's listed members (`want.members`: for a role group of kind okta, compile's
    union of its listed management groups' members), plus, for a role group, the members
    in Okta now of each management group granted it whose members are left to its
    owners, so every reconcile follows what those owners do. An owner-managed group Okta
    does not have contributes no one (the live read reports it as a blocking finding);
    one whose members were not read makes the union unknown (no removals then).
    """
    why: dict[str, list[str]] = {login.lower(): [] for login in want.members or ()}
    owner_managed: set[str] = set()
    known = True
    for name in sorted(want.member_groups, key=str.casefold):
        group_key = (OKTA_SOURCE, name.lower())
        contributor = ctx.desired.okta_groups.get(group_key)
        if contributor is None:
            continue
        if contributor.members is not None:
            # Already in `want.members`; looked at only to say where each comes from.
            logins = contributor.members & why.keys()
        else:
            live = ctx.live.okta_groups.get(group_key)
            if live is not None and live.members is None:
                known = False
            logins = (live.members or frozenset()) if live is not None else frozenset()
            owner_managed.add(contributor.name)
        for login in logins:
            why.setdefault(login.lower(), []).append(contributor.name)
    wanted = {login: _via(groups, owner_managed) for login, groups in why.items()}
    return wanted, known


def _via(groups: list[str], owner_managed: set[str]) -> Why:
    """A member listed in the desired state, or put in by these management groups."""
    if not groups:
        return Reason.MEMBER_LISTED, ()
    owners = tuple(g for g in groups if g in owner_managed)
    return Reason.MEMBER_VIA, reason_args(via=tuple(groups), owner_managed=owners)


def _desired_group_keys(ctx: DiffContext) -> frozenset[tuple[str, str]]:
    """Okta keys of the groups the desired state names (ours, assigned or not)."""
    kind = ctx.desired.directory_kind
    keys = set(ctx.desired.okta_groups)
    if kind is not None and kind is not DirectoryKind.OKTA:
        keys.update(
            (kind.okta_source, g.name.lower())
            for g in ctx.desired.directory_groups.values()
            if g.role is GroupRole.MANAGEMENT
        )
    return frozenset(keys)


def _owned_by_location(ctx: DiffContext, assignment: AppAssignment) -> bool:
    """A group we created: in our managed OUs, or (kind okta) named like a role group."""
    group = ctx.live.okta_groups.get(assignment.key)
    dn = group.dn if group is not None else None
    if dn is not None and any(dn_is_under(dn, base=ou) for ou in ctx.managed_ous):
        return True
    return (
        ctx.desired.directory_kind is DirectoryKind.OKTA
        and assignment.group_source == OKTA_SOURCE
        and _is_role_group(ctx, assignment.group_name)
    )


def _diff_assignments(ctx: DiffContext, app_deps: tuple[str, ...]) -> None:
    desired, live = ctx.desired.app_assignments, ctx.live.app_assignments
    for key in sorted(desired.keys() - live.keys()):
        want = desired[key]
        created = ctx.existing(change_id(ResourceKind.OKTA_GROUP, key, Action.CREATE))
        waits = key not in ctx.live.okta_groups and not created
        ctx.create(
            ResourceKind.APP_ASSIGNMENT,
            key,
            want,
            reason=Reason.HAS_GRANTS,
            args=reason_args(group=want.group_name),
            depends_on=(*app_deps, *created),
            waits_for=IMPORT_PENDING if waits else None,
        )
    named = _desired_group_keys(ctx)
    for key in sorted(live.keys() - desired.keys()):
        have = live[key]
        subject = f"assignment of {have.group_name} ({have.group_source})"
        # One the desired state names but grants nothing goes without --prune (the
        # desired state decided); one only our OUs or names say is ours, with --prune.
        authoritative = key in named
        if authoritative or _owned_by_location(ctx, have):
            ctx.delete_or_skip(
                ResourceKind.APP_ASSIGNMENT,
                key,
                have,
                name=have.group_name,
                subject=subject,
                reason=Reason.HAS_NO_GRANTS if authoritative else Reason.PRUNED,
                args=reason_args(group=have.group_name) if authoritative else (),
                authoritative=authoritative,
            )
        else:
            ctx.finding(
                FindingKind.UNMANAGED,
                System.OKTA,
                subject,
                "assigned to the app outside okta-aws (not a group okta-aws manages); left alone",
            )


def _rogue_groups(ctx: DiffContext) -> None:
    """Look-alikes of role groups: from outside the app filter, or imported from outside
    our OUs (the worse case: such a group grants AWS access today)."""
    settings, pattern = desired_app_settings(ctx), ctx.group_filter
    if settings is None or pattern is None:
        return
    sources = settings.app_sources()
    for key in sorted(ctx.live.okta_groups):
        group = ctx.live.okta_groups[key]
        if parse_group_name(name=group.name, group_filter=pattern) is None:
            continue
        subject = f"okta group {group.name} (source {group.source})"
        if group.source not in sources:
            ctx.finding(
                FindingKind.ROGUE_GROUP,
                System.OKTA,
                subject,
                f"matches the group filter but its source is not in the app filter "
                f"({settings.app_filter}); it grants nothing today, but widening the app "
                "filter would grant AWS access through it. okta-aws never touches it: find "
                "out who made it",
            )
        elif _imported_from_elsewhere(ctx, group):
            ctx.finding(
                FindingKind.ROGUE_GROUP,
                System.OKTA,
                subject,
                f"matches the group filter and comes from {group.source}, but from "
                f"{group.dn!r}, outside the OUs okta-aws manages: it grants AWS access "
                "that no desired state describes. okta-aws never touches it: find out who "
                "made it",
            )


def _imported_from_elsewhere(ctx: DiffContext, group: OktaGroup) -> bool:
    if group.dn is None or group.source == OKTA_SOURCE:
        return False
    if group.dn in ctx.live.directory_groups or group.dn in ctx.desired.directory_groups:
        return False
    return not any(dn_is_under(group.dn, base=ou) for ou in ctx.managed_ous)
