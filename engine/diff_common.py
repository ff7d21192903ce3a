"""What the per-system diffs share: the context they fill and the few rules they all follow.

The diff is split by system (`diff_aws`, `diff_directory`, `diff_okta`) to keep each
part readable, but ownership, prune, `protected` and attribute detail must be decided
the same way everywhere, or a reviewer could not trust one system's plan as they trust
another's. So those rules live here, once.

Pure: no I/O, no globals beyond constants.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from deepdiff import DeepDiff

from engine.dn import normalize_dn
from engine.model import DirectoryGroup, OktaApp, OktaAppSettings, OktaGroup, System, World
from engine.naming import GroupFilter, NamingError, compile_group_filter, parse_group_name
from engine.plan import (
    Action,
    AttributeChange,
    Change,
    Finding,
    FindingKind,
    PlanOptions,
    Reason,
    ReasonArgs,
    Resource,
    ResourceKind,
)
from engine.protection import Protection, build_protection

IMPORT_PENDING = "directory import"

Why = tuple[Reason, ReasonArgs]  # why a change is planned: a reason code and its arguments


@dataclass
class DiffContext:
    """The two worlds, the options, and the changes and findings found so far."""

    desired: World
    live: World
    options: PlanOptions
    systems: frozenset[System]
    changes: list[Change] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    _position: dict[str, int] = field(default_factory=dict)  # change id → index in changes

    def add(self, change: Change) -> Change:
        if change.id in self._position:
            raise ValueError(f"the diff produced {change.id} twice (a bug)")
        self._position[change.id] = len(self.changes)
        self.changes.append(change)
        return change

    def find(self, change_id: str) -> Change | None:
        position = self._position.get(change_id)
        return None if position is None else self.changes[position]

    def existing(self, *ids: str) -> tuple[str, ...]:
        """The ids among `ids` that are planned: dependencies only name real changes."""
        return tuple(dict.fromkeys(i for i in ids if i in self._position))

    def add_depends(self, target_id: str, ids: Iterable[str]) -> None:
        """Make the planned change `target_id` (if any) also depend on `ids`."""
        old = self.find(target_id)
        extra = [i for i in ids if i in self._position and i != target_id]
        if old is None or not extra:
            return
        new = replace(old, depends_on=tuple(dict.fromkeys((*old.depends_on, *extra))))
        self.changes[self._position[target_id]] = new

    # create/update/delete take the change's kind, key and resource(s) by position, in
    # the order of `Change`'s own fields: the diff names dozens of changes, and each call
    # then reads as one line of what it plans.

    def create(
        self,
        kind: ResourceKind,
        key: tuple[str, ...],
        after: Resource,
        /,
        *,
        reason: Reason,
        args: ReasonArgs = (),
        depends_on: tuple[str, ...] = (),
        waits_for: str | None = None,
    ) -> Change:
        """Plan the creation of `after`; `waits_for` when it cannot run yet."""
        change = Change(kind, Action.CREATE, key, after=after, waits_for=waits_for)
        return self._add(change, reason=reason, args=args, depends_on=depends_on)

    def update(
        self,
        kind: ResourceKind,
        key: tuple[str, ...],
        before: Resource,
        after: Resource,
        /,
        *,
        details: tuple[AttributeChange, ...],
        reason: Reason,
        args: ReasonArgs = (),
        destructive: bool = False,
        depends_on: tuple[str, ...] = (),
    ) -> Change:
        """Plan the update of `before` into `after`; `destructive` when it can take
        access away (it then counts as a deletion)."""
        change = Change(kind, Action.UPDATE, key, before, after, details, destructive)
        return self._add(change, reason=reason, args=args, depends_on=depends_on)

    def update_if_differs(
        self,
        kind: ResourceKind,
        key: tuple[str, ...],
        before: DirectoryGroup | OktaGroup | OktaApp,
        after: DirectoryGroup | OktaGroup | OktaApp,
        /,
        *,
        reason: Reason,
        destructive: bool = False,
    ) -> Change | None:
        """Plan the update of `before` into `after` if any attribute differs."""
        details = attribute_details(before.attributes(), after.attributes())
        if not details:
            return None
        return self.update(
            kind, key, before, after, details=details, reason=reason, destructive=destructive
        )

    def delete(
        self,
        kind: ResourceKind,
        key: tuple[str, ...],
        before: Resource,
        /,
        *,
        reason: Reason,
        args: ReasonArgs = (),
        depends_on: tuple[str, ...] = (),
    ) -> Change:
        """Plan the deletion of `before` now, without the prune and `protected` checks:
        for what the desired state decides on its own (an extra member of a group whose
        member list is ours). Whatever else goes through `delete_or_skip`."""
        change = Change(kind, Action.DELETE, key, before, destructive=True)
        return self._add(change, reason=reason, args=args, depends_on=depends_on)

    def edges(
        self,
        kind: ResourceKind,
        group: str,
        /,
        *,
        wanted: Collection[str],
        present: Collection[str],
        edge: Callable[[str], Resource],
        why: Callable[[str, Action], Why],
        depends_on: Callable[[str], tuple[str, ...]] = lambda member: (),
        removals: bool = True,
    ) -> None:
        """A member list diffed one edge at a time, keyed `(group, member)`: a creation
        per wanted member not present (after `depends_on(member)`), a deletion per
        present one not wanted (none when `removals` is off: extras that may not be
        ours), so each step is idempotent and the reviewer reads who joins and who
        leaves. `why(member, action)` says why."""
        for member in sorted(set(wanted) - set(present)):
            reason, args = why(member, Action.CREATE)
            after, needs = edge(member), depends_on(member)
            self.create(kind, (group, member), after, reason=reason, args=args, depends_on=needs)
        for member in sorted(set(present) - set(wanted)) if removals else ():
            reason, args = why(member, Action.DELETE)
            self.delete(kind, (group, member), edge(member), reason=reason, args=args)

    def _add(
        self, change: Change, *, reason: Reason, args: ReasonArgs, depends_on: tuple[str, ...]
    ) -> Change:
        return self.add(replace(change, reason=reason, reason_args=args, depends_on=depends_on))

    def finding(self, kind: FindingKind, system: System, subject: str, message: str) -> None:
        self.findings.append(Finding(kind=kind, system=system, subject=subject, message=message))

    @cached_property
    def protection(self) -> Protection:
        """What `protected` keeps (`engine.protection`): role names and directory cns
        are both case-insensitive where they live."""
        return build_protection(
            protected=self.options.protected,
            desired=self.desired,
            live=self.live,
            slot_of=self.role_of_group_name,
        )

    @cached_property
    def managed_ous(self) -> frozenset[str]:
        return managed_ous(desired=self.desired, live=self.live)

    @cached_property
    def _dn_cache(self) -> dict[str, str]:
        return {}

    def dn_key(self, dn: str) -> str:
        """normalize_dn, memoized: the same management groups recur in many role groups."""
        key = self._dn_cache.get(dn)
        if key is None:
            key = self._dn_cache[dn] = normalize_dn(dn)
        return key

    @cached_property
    def group_filter(self) -> GroupFilter | None:
        """The group filter we converge to (else live's), compiled; None if unusable."""
        settings = desired_app_settings(self)
        if settings is None:
            return None
        try:
            return compile_group_filter(settings.group_filter)
        except NamingError:
            return None

    def role_of_group_name(self, name: str) -> tuple[str, str] | None:
        """(account id, lower-cased role) a group name maps to under the group filter."""
        if self.group_filter is None:
            return None
        ref = parse_group_name(name=name, group_filter=self.group_filter)
        return None if ref is None else (ref.account_id, ref.role.lower())

    def delete_or_skip(
        self,
        kind: ResourceKind,
        key: tuple[str, ...],
        before: Resource,
        /,
        *,
        name: str,
        subject: str,
        depends_on: tuple[str, ...] = (),
        reason: Reason = Reason.PRUNED,
        args: ReasonArgs = (),
        authoritative: bool = False,
        kept_note: str = "",
    ) -> Change | None:
        """Delete an owned resource the desired state no longer mentions, if allowed.

        What `protected` keeps is never deleted (`engine.protection`), and nothing is
        deleted without `prune` unless `authoritative` (an extra in something the
        desired state does mention); both leave a PRUNE_SKIPPED finding so the reviewer
        sees what was left alone (`kept_note` adds what happens meanwhile).
        """
        kept = self.protection.keeps(
            kind=kind, key=key, resource=before, name=name, slot_of=self.role_of_group_name
        )
        if kept is not None:
            self.finding(FindingKind.PRUNE_SKIPPED, kind.system, subject, kept)
            return None
        if not self.options.prune and not authoritative:
            self.finding(
                FindingKind.PRUNE_SKIPPED,
                kind.system,
                subject,
                "no longer in the desired state; would be deleted with --prune" + kept_note,
            )
            return None
        return self.delete(kind, key, before, reason=reason, args=args, depends_on=depends_on)


def managed_ous(*, desired: World, live: World) -> frozenset[str]:
    """Containers holding groups we own (the two managed OUs, as far as the worlds show).

    The world does not carry the settings, so they are recovered from where our own
    (not adopted) groups live; a directory import prediction and assignment ownership
    both need them.
    """
    parents = {
        _parent_text(g.dn)
        for world in (desired, live)
        for g in world.directory_groups.values()
        if not g.adopted
    }
    # Parsing every DN would dominate a big plan; the parents are few, so only they are.
    return frozenset(normalize_dn(p) for p in parents if p)


_FIRST_RDN = re.compile(r"(?:[^\\,]|\\.)*,", re.DOTALL)


def _parent_text(dn: str) -> str:
    """The DN after its first RDN, as written (an escaped `\\,` is not a separator)."""
    match = _FIRST_RDN.match(dn)
    return dn[match.end() :] if match else ""


def effective_systems(*, desired: World, live: World, options: PlanOptions) -> frozenset[System]:
    """Systems both sides read and the user asked for: the others are not diffed at all."""
    return frozenset(desired.systems & live.systems & options.systems)


# --- attribute detail ------------------------------------------------------------------

_INDEX = re.compile(r"\[\d+\]$")


def _path(parts: list[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _plain(value: Any) -> Any:
    # deepdiff marks a missing side with a sentinel object; a plan holds plain data.
    return None if type(value).__name__ == "NotPresent" else value


def _is_set_like(value: Any) -> bool:
    return isinstance(value, list | tuple | frozenset | set) and all(
        isinstance(v, str) for v in value
    )


def attribute_details(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[AttributeChange, ...]:
    """One AttributeChange per differing leaf, paths like `trust_policy.Statement[0].Effect`.

    A top-level list of strings (policy ARNs) is a set: each added or removed item is
    reported against the attribute with the other side None, which reads as "+ item" /
    "- item" (deepdiff would pair unrelated ARNs up as "changed"). Everything else goes
    through deepdiff with order ignored (order is noise in every list we compare).
    """
    if before == after:
        return ()
    details: list[AttributeChange] = []
    rest_before, rest_after = dict(before), dict(after)
    for name in sorted(before.keys() & after.keys()):
        old, new = before[name], after[name]
        if _is_set_like(old) and _is_set_like(new):
            del rest_before[name], rest_after[name]
            details += [AttributeChange(name, item, None) for item in sorted(set(old) - set(new))]
            details += [AttributeChange(name, None, item) for item in sorted(set(new) - set(old))]
    tree = DeepDiff(rest_before, rest_after, ignore_order=True, view="tree")
    for report_type in sorted(tree):
        for level in tree[report_type]:
            path = _path(level.path(output_format="list"))
            if report_type.startswith("iterable_item"):
                path = _INDEX.sub("", path)
            details.append(
                AttributeChange(path=path, before=_plain(level.t1), after=_plain(level.t2))
            )
    details.sort(key=lambda d: (d.path, repr(d.before), repr(d.after)))
    return tuple(details)


# --- naming helpers --------------------------------------------------------------------


def desired_app_settings(ctx: DiffContext) -> OktaAppSettings | None:
    """The app settings we converge to (else those live has), for name → role mapping."""
    app = ctx.desired.okta_app or ctx.live.okta_app
    return app.settings if app is not None else None


def role_of_directory_group(group: DirectoryGroup) -> tuple[str, str] | None:
    """(account id, lower-cased role) of a role group, from what compile/the reader set."""
    if group.account_id is None or group.role_name is None:
        return None
    return (group.account_id, group.role_name.lower())
