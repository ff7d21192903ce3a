"""The plan's heart: compare the desired world with the live one, decide what to change.

`diff` is a pure function of two normalized worlds and the options (docs/architecture.md
§Purity of the diff): no I/O, no clock, no globals, so a plan can be reviewed, saved,
recomputed from a snapshot and tested exhaustively. It decides *what* changes and whether
it is allowed (ownership, prune, `protected`, `max_deletions`: docs/architecture.md
§Ownership, §Deletions and guards); providers only carry changes out. The per-system
rules live in `diff_aws`, `diff_directory` and `diff_okta`, the shared ones in
`diff_common`; this module puts them together, links the front door's removals before
AWS deletions, orders the changes (`order`), applies the deletion guard and computes the
access delta reviewers read first.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from engine import access, simulate
from engine.diff_aws import diff_aws
from engine.diff_common import (
    DiffContext,
    effective_systems,
    managed_ous,
    role_of_directory_group,
)
from engine.diff_directory import diff_directory
from engine.diff_okta import diff_okta
from engine.model import (
    DirectoryGroup,
    DirectoryKind,
    GroupMember,
    OktaApp,
    OktaGroup,
    System,
    UserMember,
    World,
)
from engine.naming import NamingError, compile_group_filter
from engine.order import order
from engine.plan import (
    AccessChange,
    Action,
    Change,
    DisplayNames,
    Finding,
    FindingKind,
    Plan,
    PlanOptions,
    ResourceKind,
    change_id,
)
from engine.protection import unmapped_by_settings

__all__ = ["AccessPrediction", "access_unknown", "deletion_guard", "diff", "plan_access_delta"]


def diff(*, desired: World, live: World, options: PlanOptions) -> Plan:
    """The plan that takes `live` to `desired`, ordered, guarded, with its access delta.

    Pure: reads only its arguments, does no I/O and touches no global state; the same
    arguments always give the same plan.

    Only systems in both worlds' `systems` and in `options.systems` are compared; AWS
    resources of accounts outside `desired.accounts` are ignored. Live directory groups
    are taken to be the managed OUs' contents plus the adopted groups (`adopted=True`)
    read by DN. The caller fills in `target`, `live_fingerprint` and `desired_digest`.
    """
    systems = effective_systems(desired=desired, live=live, options=options)
    ctx = DiffContext(desired=desired, live=live, options=options, systems=systems)
    if System.AWS in systems:
        diff_aws(ctx)
    if System.DIRECTORY in systems:
        diff_directory(ctx)
    if System.OKTA in systems:
        diff_okta(ctx)
    _keep_protected_mapped(ctx)
    _close_front_door_first(ctx)
    changes = order(changes=ctx.changes)
    predicted = plan_access_delta(
        desired=desired, live=live, changes=changes, covered_ous=ctx.managed_ous
    )
    findings = list(ctx.findings)
    if predicted.pending_unlisted:
        waiting = sum(1 for c in changes if c.waits_for is not None)
        findings.append(
            Finding(
                FindingKind.PENDING_ACCESS,
                System.OKTA,
                f"{waiting} change(s) waiting for the directory import",
                f"once Okta imports the directory and the next apply makes them, "
                f"{predicted.pending_unlisted:,} more access changes follow (too many to "
                "list here; `okta-aws access` shows who holds what)",
            )
        )
    return Plan(
        changes=changes,
        findings=tuple(findings),
        access_delta=predicted.delta,
        options=options,
        guard=deletion_guard(changes=changes, max_deletions=options.max_deletions),
        names=DisplayNames.from_worlds(desired, live),
        access_unknown=access_unknown(desired=desired, live=live, options=options),
    )


_SYSTEM_NAMES = {System.AWS: "AWS", System.DIRECTORY: "the directory", System.OKTA: "Okta"}
_ACCOUNTS_NAMED = 5


def access_unknown(*, desired: World, live: World, options: PlanOptions) -> str | None:
    """Why the access delta cannot be complete, or None when it is.

    Access is decided by AWS (the role and its provider exist and trust each other),
    the directory (who is in which group; none with kind okta) and Okta (the app, its
    groups and assignments). The delta is `access(after) − access(now)` over the live
    world, so it is complete only when each of them was read whole: a system not read
    (`--only`, a read error) or an AWS account not read leaves changes unseen; so does a
    group name the group filter could not be evaluated on in time (it maps to nothing
    here, to a role maybe in Okta). The plan then says so instead of showing a delta
    that may read "none". Call it after the delta is computed (which evaluates the
    filter on every name that matters).
    """
    kind = desired.directory_kind or live.directory_kind
    deciding = [s for s in System if s is not System.DIRECTORY or kind is not DirectoryKind.OKTA]
    missing = [s for s in deciding if s not in live.systems]
    parts = []
    if missing:
        names = [_SYSTEM_NAMES[s] for s in missing]
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        verb = "was" if len(names) == 1 else "were"
        asked = sorted(s.value for s in options.systems)
        only = (
            f" (--only {','.join(asked)})" if any(s not in options.systems for s in missing) else ""
        )
        parts.append(f"{listed} {verb} not read{only}")
    if System.AWS in live.systems:
        unread = sorted(desired.accounts - live.accounts)
        if unread:
            shown = ", ".join(unread[:_ACCOUNTS_NAMED])
            more = (
                f" and {len(unread) - _ACCOUNTS_NAMED} more"
                if len(unread) > _ACCOUNTS_NAMED
                else ""
            )
            s = "" if len(unread) == 1 else "s"
            parts.append(
                f"AWS account{s} {shown}{more} {'was' if len(unread) == 1 else 'were'} not read"
            )
    slow = _filter_timeouts(desired=desired, live=live)
    if slow:
        parts.append(
            f"the group filter ran past its time limit on {slow} group name"
            f"{'' if slow == 1 else 's'}, so whether {'it maps' if slow == 1 else 'they map'} "
            "to a role is not known"
        )
    return "; ".join(parts) or None


def _filter_timeouts(*, desired: World, live: World) -> int:
    """How many group names a group filter (the desired or the live app's) timed out on."""
    filters = []
    for app in (desired.okta_app, live.okta_app):
        if app is not None:
            try:
                filters.append(compile_group_filter(app.settings.group_filter))
            except NamingError:
                continue
    if not filters:
        return 0
    names = {g.name for world in (desired, live) for g in world.okta_groups.values()}
    names |= {g.name for world in (desired, live) for g in world.directory_groups.values()}
    return sum(1 for name in names if any(f.timed_out(name) for f in filters))


def deletion_guard(*, changes: tuple[Change, ...], max_deletions: int) -> str | None:
    """Why apply must refuse this many destructive changes, or None if it need not."""
    count = sum(1 for c in changes if c.destructive)
    if count <= max_deletions:
        return None
    return (
        f"{count} destructive changes exceed max_deletions ({max_deletions}); review "
        f"them, then run apply with --max-deletions {count} (or raise "
        "settings.safety.max_deletions) to proceed"
    )


@dataclass(frozen=True)
class AccessPrediction:
    """The access delta, and how many changes waiting for the import would add to it
    but were too many to list (0 when every one is listed)."""

    delta: tuple[AccessChange, ...]
    pending_unlisted: int = 0


# Beyond this many, access changes that wait for the import are counted, not listed:
# a whole org's first plan would list every entitlement (771,751 at reference size).
PENDING_ACCESS_LISTED = 2000


def plan_access_delta(
    *,
    desired: World,
    live: World,
    changes: tuple[Change, ...],
    covered_ous: frozenset[str] | None = None,
) -> AccessPrediction:
    """Who gains or loses what once `changes` are applied to `live` (and imported).

    The live side uses Okta's groups as read (an import lag shows honestly); the after
    side predicts the next directory import from the directory as it will be, over
    `covered_ous` (default: the OUs our groups live in).
    """
    if covered_ous is None:
        covered_ous = managed_ous(desired=desired, live=live)
    kind = desired.directory_kind or live.directory_kind
    predict = (
        kind is not None and kind is not DirectoryKind.OKTA and System.DIRECTORY in live.systems
    )
    after = simulate.apply_changes(world=live, changes=changes)
    # Indexes, not Entitlement sets: a large org has millions of entitlements, and
    # comparing whole (account, role) slots keeps a converged plan from building them.
    import_source = kind.okta_source if predict and kind is not None else None
    aliases = {**live.account_aliases, **desired.account_aliases}
    before = access.access_index(world=live)
    now = access.access_index(world=after, import_source=import_source, covered_ous=covered_ous)
    delta = access.index_delta(before=before, after=now, aliases=aliases)
    waiting = sorted({c.waits_for for c in changes if c.waits_for is not None})
    if not waiting or import_source is None:
        return AccessPrediction(delta=delta)
    # What the assignments waiting for the import will grant (or take) once the next
    # apply makes them: shown now, marked, so the plan that adds a management group
    # shows who will get its roles; a reviewer must never first see that access in a
    # later, unreviewed apply.
    eventual = access.access_index(
        world=simulate.apply_changes(world=live, changes=changes, include_waiting=True),
        import_source=import_source,
        covered_ous=covered_ous,
    )
    later, count = access.pending_delta(
        before=before,
        now=now,
        eventual=eventual,
        aliases=aliases,
        waits_for=", ".join(waiting),
        limit=PENDING_ACCESS_LISTED,
    )
    merged = tuple(sorted((*delta, *later), key=access.access_order))
    return AccessPrediction(delta=merged, pending_unlisted=0 if later else count)


def _keep_protected_mapped(ctx: DiffContext) -> None:
    """Block a settings change that would stop Okta mapping a protected role group to
    its role: the app has one set of settings, so this cannot be skipped like a
    deletion (`engine.protection`)."""
    update = ctx.find(
        change_id(ResourceKind.OKTA_APP, (ctx.desired.okta_app.label,), Action.UPDATE)
        if ctx.desired.okta_app is not None
        else ""
    )
    if update is None or not isinstance(update.before, OktaApp):
        return
    if not isinstance(update.after, OktaApp):
        return
    for name, why in unmapped_by_settings(
        protection=ctx.protection,
        live=ctx.live,
        before=update.before.settings,
        after=update.after.settings,
    ):
        ctx.finding(
            FindingKind.CONFLICT,
            System.OKTA,
            f"protected role group {name}",
            f"the desired app settings would take its access away ({why}); it is "
            "protected (settings.safety.protected): keep the settings that map it, or "
            "remove it from settings.safety.protected",
        )


def _close_front_door_first(ctx: DiffContext) -> None:
    """AWS deletions depend on removing the Okta/directory access that used them.

    A role is deleted only after its role group (or that group's links) is gone, and a
    SAML provider only after every change to the roles of its account and to the app's
    settings, so a failure at the front door stops the deletion behind it.
    """
    live_groups = ctx.live.directory_groups
    by_role: dict[tuple[str, str], list[str]] = defaultdict(list)
    for change in ctx.changes:
        if not change.destructive or change.system is System.AWS:
            continue
        resource = change.resource
        slot: tuple[str, str] | None = None
        if isinstance(resource, DirectoryGroup):
            slot = role_of_directory_group(resource) or ctx.role_of_group_name(resource.name)
        elif isinstance(resource, GroupMember):
            group = live_groups.get(resource.group_dn)
            if group is not None:
                slot = role_of_directory_group(group) or ctx.role_of_group_name(group.name)
        elif isinstance(resource, OktaGroup):
            slot = ctx.role_of_group_name(resource.name)
        elif change.kind is ResourceKind.OKTA_GROUP_MEMBER and isinstance(resource, UserMember):
            slot = ctx.role_of_group_name(resource.group)
        if slot is not None:
            by_role[slot].append(change.id)
    per_account: dict[str, list[str]] = defaultdict(list)
    settings_changes = [c.id for c in ctx.changes if c.kind is ResourceKind.OKTA_APP]
    for change in ctx.changes:
        if change.kind is ResourceKind.ROLE:
            per_account[change.key[0]].append(change.id)
            if change.action is Action.DELETE:
                ctx.add_depends(change.id, by_role.get((change.key[0], change.key[1]), ()))
    for change in list(ctx.changes):
        if change.kind is ResourceKind.SAML_PROVIDER and change.action is Action.DELETE:
            ctx.add_depends(change.id, [*per_account.get(change.key[0], ()), *settings_changes])
