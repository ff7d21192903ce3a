"""Saved plans: a Plan as JSON (`plan --out plan.json`, `apply --plan plan.json`).

What a reviewer approved must be what runs. A saved plan is an artifact handed from one
CI job to another, so it is not trusted: `apply --plan` never executes the file's
changes. It plans afresh and runs that plan only when the file says exactly the same
thing. `check_fresh` compares the file's live-world fingerprint, desired-state digest
and target with the fresh read (a plan made against a world that has since moved is
stale); `check_same` then compares the file's changes, access delta and findings with
the fresh plan's. The diff is pure and deterministic, so equal inputs give an equal
plan: this comparison, not a signature, is the defence against a tampered artifact (an
edited `after`, an injected deletion). Either refusal is exit 3; nothing is "mostly"
applied.

The format is documented in `schemas/plan.schema.json` and versioned by
`engine.plan.PLAN_FORMAT_VERSION`. Resources are tagged with their model class name
(`{"type": "Role", "value": {...}}`) and encoded by `engine.codec`, so any resource
kind round-trips exactly. `summary`, each change's `id`, `system` and `reason` (the words
of its `reason_code` and `reason_args`), and each finding's `blocking` are derived data
written for readers of the JSON (CI scripts, `jq`); on reading they are recomputed, and
a change whose `id` or `reason` disagrees with what it is derived from is rejected (its
`depends_on` refers to changes by id; its reason is what a reviewer read); so is a
`depends_on` that names its own change, a change not in the plan, or forms a cycle.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields
from typing import Any, get_args

from engine.codec import CodecError, from_jsonable, to_jsonable
from engine.model import canonical_json
from engine.order import PlanCycleError, order
from engine.plan import (
    PLAN_FORMAT_VERSION,
    AccessChange,
    Action,
    AttributeChange,
    Change,
    DisplayNames,
    Finding,
    Plan,
    PlanOptions,
    Reason,
    ReasonArg,
    ReasonArgs,
    Resource,
    ResourceKind,
)
from engine.render_parts import reason_text

PLAN_KIND = "okta-aws/plan"

__all__ = [
    "PLAN_KIND",
    "PlanFormatError",
    "check_fresh",
    "check_options",
    "check_same",
    "plan_from_json",
    "plan_from_text",
    "plan_to_json",
]

# Resource classes by name: the tag written next to each before/after.
RESOURCE_TYPES: dict[str, type] = {cls.__name__: cls for cls in get_args(Resource)}


class PlanFormatError(ValueError):
    """The JSON is not a saved plan this engine can read."""


def _json_value(value: Any) -> Any:
    """Attribute-detail values are JSON data already (from `attributes()`); sets and
    tuples, should a diff produce them, are written as lists."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, frozenset | set):
        return sorted((_json_value(v) for v in value), key=canonical_json)
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    raise TypeError(f"attribute detail value of type {type(value).__name__} has no JSON form")


def _resource_to_json(resource: Resource | None) -> dict[str, Any] | None:
    if resource is None:
        return None
    return {"type": type(resource).__name__, "value": to_jsonable(resource)}


def _change_to_json(change: Change) -> dict[str, Any]:
    return {
        "id": change.id,
        "system": change.system.value,
        "kind": change.kind.value,
        "action": change.action.value,
        "key": list(change.key),
        "before": _resource_to_json(change.before),
        "after": _resource_to_json(change.after),
        "details": [
            {"path": d.path, "before": _json_value(d.before), "after": _json_value(d.after)}
            for d in change.details
        ],
        "destructive": change.destructive,
        "reason": reason_text(change),
        "reason_code": change.reason.value,
        "reason_args": {name: _json_value(value) for name, value in change.reason_args},
        "depends_on": list(change.depends_on),
        "waits_for": change.waits_for,
    }


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The saved-plan document (see `schemas/plan.schema.json`)."""
    counts = plan.counts()
    return {
        "kind": PLAN_KIND,
        "format_version": PLAN_FORMAT_VERSION,
        "target": plan.target,
        "live_fingerprint": plan.live_fingerprint,
        "desired_digest": plan.desired_digest,
        "options": to_jsonable(plan.options),
        "summary": {
            "add": counts[Action.CREATE],
            "change": counts[Action.UPDATE],
            "destroy": counts[Action.DELETE],
            "destructive": plan.deletions,
            "waiting": sum(1 for c in plan.changes if c.waits_for),
            "empty": plan.empty,
            "complete": plan.complete,
            "blocked": plan.blocked,
            "applyable": plan.applyable,
        },
        "guard": plan.guard,
        "access_unknown": plan.access_unknown,
        "access_delta": [to_jsonable(a) for a in plan.access_delta],
        "findings": [{**to_jsonable(f), "blocking": f.blocking} for f in plan.findings],
        "changes": [_change_to_json(c) for c in plan.changes],
        "names": to_jsonable(plan.names),
    }


# --- Reading ---------------------------------------------------------------------------


def _object(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise PlanFormatError(f"{where}: expected an object")
    return data


def _list(data: Any, where: str) -> list[Any]:
    if not isinstance(data, list):
        raise PlanFormatError(f"{where}: expected a list")
    return data


def _resource_from_json(data: Any, where: str) -> Resource | None:
    if data is None:
        return None
    tagged = _object(data, where)
    cls = RESOURCE_TYPES.get(tagged.get("type", ""))
    if cls is None:
        known = ", ".join(sorted(RESOURCE_TYPES))
        raise PlanFormatError(f"{where}.type: {tagged.get('type')!r} is not one of {known}")
    resource: Resource = from_jsonable(cls, tagged.get("value"), where=f"{where}.value")
    return resource


# Attribute details hold JSON values (a policy document is a few levels deep). A hostile
# file could nest them as deep as the JSON parser allows, and every later encoding (the
# comparison with the fresh plan) would then run out of stack.
MAX_DETAIL_DEPTH = 64


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in `value` (iterative: no recursion to exhaust)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


def _change_from_json(data: Any, where: str) -> Change:
    raw = _object(data, where)
    for i, detail in enumerate(_list(raw.get("details", []), f"{where}.details")):
        if _depth(detail) > MAX_DETAIL_DEPTH:
            raise PlanFormatError(
                f"{where}.details[{i}]: nested deeper than {MAX_DETAIL_DEPTH} levels"
            )
    details = tuple(
        AttributeChange(
            path=from_jsonable(str, _object(d, f"{where}.details[{i}]").get("path"), where=where),
            before=d.get("before"),
            after=d.get("after"),
        )
        for i, d in enumerate(_list(raw.get("details", []), f"{where}.details"))
    )
    change = Change(
        kind=from_jsonable(ResourceKind, raw.get("kind"), where=f"{where}.kind"),
        action=from_jsonable(Action, raw.get("action"), where=f"{where}.action"),
        key=from_jsonable(tuple[str, ...], raw.get("key"), where=f"{where}.key"),
        before=_resource_from_json(raw.get("before"), f"{where}.before"),
        after=_resource_from_json(raw.get("after"), f"{where}.after"),
        details=details,
        destructive=from_jsonable(bool, raw.get("destructive"), where=f"{where}.destructive"),
        reason=from_jsonable(Reason, raw.get("reason_code"), where=f"{where}.reason_code"),
        reason_args=_reason_args(raw.get("reason_args", {}), f"{where}.reason_args"),
        depends_on=from_jsonable(
            tuple[str, ...], raw.get("depends_on", []), where=f"{where}.depends_on"
        ),
        waits_for=from_jsonable(str | None, raw.get("waits_for"), where=f"{where}.waits_for"),
    )
    if change.before is None and change.after is None:
        raise PlanFormatError(f"{where}: a change has a before or an after")
    if raw.get("id", change.id) != change.id:
        raise PlanFormatError(f"{where}.id: {_quote(raw.get('id'))} does not match {change.id!r}")
    if raw.get("reason", "") != reason_text(change):
        raise PlanFormatError(
            f"{where}.reason: {_quote(raw.get('reason'))} is not what its reason_code and "
            "reason_args say"
        )
    return change


def _reason_args(data: Any, where: str) -> ReasonArgs:
    """`{"name": "text" | ["text", ...]}` → the sorted pairs `Change.reason_args` holds."""
    pairs: list[tuple[str, ReasonArg]] = []
    for name, value in sorted(_object(data, where).items()):
        if isinstance(value, list):
            pairs.append((name, from_jsonable(tuple[str, ...], value, where=f"{where}.{name}")))
        else:
            pairs.append((name, from_jsonable(str, value, where=f"{where}.{name}")))
    return tuple(pairs)


def _quote(value: Any, limit: int = 80) -> str:
    """A value from the file, for a message: repr (control characters escaped), cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_dependencies(changes: tuple[Change, ...]) -> None:
    """`depends_on` names other changes of this plan, without cycles; ids are unique.
    Anything else is a damaged or hand-edited file (the diff never writes it)."""
    known: set[str] = set()
    for i, change in enumerate(changes):
        if change.id in known:
            raise PlanFormatError(f"$.changes[{i}].id: {change.id!r} appears twice")
        known.add(change.id)
    for i, change in enumerate(changes):
        for j, dependency in enumerate(change.depends_on):
            where = f"$.changes[{i}].depends_on[{j}]"
            if dependency == change.id:
                raise PlanFormatError(f"{where}: change {change.id!r} depends on itself")
            if dependency not in known:
                raise PlanFormatError(f"{where}: {_quote(dependency)} is not a change of this plan")
    try:
        order(changes=changes)
    except PlanCycleError as error:
        raise PlanFormatError(f"$.changes: {error}") from None


def _finding_from_json(data: Any, where: str) -> Finding:
    fields = {k: v for k, v in _object(data, where).items() if k != "blocking"}
    finding: Finding = from_jsonable(Finding, fields, where=where)
    return finding


def plan_from_json(data: Any) -> Plan:
    """The Plan `plan_to_json` wrote. `PlanFormatError` if it is not one this engine
    reads (another format version, a damaged or hand-edited file)."""
    doc = _object(data, "$")
    if doc.get("kind") != PLAN_KIND:
        raise PlanFormatError(f"$: not an okta-aws plan (kind must be {PLAN_KIND!r})")
    if doc.get("format_version") != PLAN_FORMAT_VERSION:
        raise PlanFormatError(
            f"$.format_version: plan format {doc.get('format_version')!r} is not supported "
            f"(this engine reads {PLAN_FORMAT_VERSION}); run plan again"
        )
    try:
        changes = tuple(
            _change_from_json(c, f"$.changes[{i}]")
            for i, c in enumerate(_list(doc.get("changes"), "$.changes"))
        )
        _check_dependencies(changes)
        return Plan(
            changes=changes,
            findings=tuple(
                _finding_from_json(f, f"$.findings[{i}]")
                for i, f in enumerate(_list(doc.get("findings"), "$.findings"))
            ),
            access_delta=tuple(
                from_jsonable(AccessChange, a, where=f"$.access_delta[{i}]")
                for i, a in enumerate(_list(doc.get("access_delta"), "$.access_delta"))
            ),
            options=from_jsonable(PlanOptions, doc.get("options"), where="$.options"),
            target=from_jsonable(str, doc.get("target"), where="$.target"),
            live_fingerprint=from_jsonable(
                str, doc.get("live_fingerprint"), where="$.live_fingerprint"
            ),
            desired_digest=from_jsonable(str, doc.get("desired_digest"), where="$.desired_digest"),
            guard=from_jsonable(str | None, doc.get("guard"), where="$.guard"),
            access_unknown=from_jsonable(
                str | None, doc.get("access_unknown"), where="$.access_unknown"
            ),
            names=from_jsonable(DisplayNames, doc.get("names", {}), where="$.names"),
        )
    except CodecError as error:
        raise PlanFormatError(str(error)) from None


def plan_from_text(text: str) -> Plan:
    """A saved plan from the text of its file."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:  # RecursionError: nested too deep
        raise PlanFormatError(f"not JSON: {error}") from None
    return plan_from_json(data)


# --- Freshness -------------------------------------------------------------------------


def _short(digest: str) -> str:
    return digest[:12] + "…" if digest else "(none)"


def check_fresh(
    *,
    plan: Plan,
    live_fingerprint: str,
    desired_digest: str,
    target: str | None = None,
) -> str | None:
    """None when the saved plan still describes the world; else why it is stale.

    A plan that lacks a fingerprint or digest cannot be proved fresh and is stale too:
    refusing costs one re-plan, guessing could apply changes nobody reviewed.
    """
    problems: list[str] = []
    if target is not None and plan.target != target:
        problems.append(f"the plan was made for target {plan.target!r}, not {target!r}")
    for state, kind, saved, now in (
        ("live", "fingerprint", plan.live_fingerprint, live_fingerprint),
        ("desired", "digest", plan.desired_digest, desired_digest),
    ):
        if not saved:
            problems.append(f"the plan carries no {state}-state {kind}")
        elif saved != now:
            problems.append(
                f"the {state} state changed since the plan was made ({kind} "
                f"{_short(saved)} → {_short(now)})"
            )
    if not problems:
        return None
    return "the saved plan is stale: " + "; ".join(problems) + ". Run plan again."


def check_options(*, saved: PlanOptions, wanted: PlanOptions) -> str | None:
    """None when the saved plan was made with the options this apply runs with; else
    which differ (e.g. a plan made with `--prune` applied without it: the file alone never
    turns deletions on). `max_deletions` is not compared: an apply may accept more
    deletions than the plan's guard did (`apply --plan p.json --max-deletions N`), and
    the guard is computed on the fresh plan from the apply's own setting."""
    differing = [
        f"{f.name} (the plan: {_option(getattr(saved, f.name))}, this apply: "
        f"{_option(getattr(wanted, f.name))})"
        for f in fields(PlanOptions)
        if f.name != "max_deletions" and getattr(saved, f.name) != getattr(wanted, f.name)
    ]
    if not differing:
        return None
    return (
        "the saved plan was made with other options than this apply's: "
        + "; ".join(differing)
        + ". Apply it with the options it was made with, or plan again."
    )


def _option(value: Any) -> str:
    if isinstance(value, frozenset):
        return ",".join(sorted(str(v) for v in value)) or "(none)"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _change_label(item: dict[str, Any]) -> str:
    return f"change {_quote(item.get('id'))}"


def _access_label(item: dict[str, Any]) -> str:
    verb = "gains" if item.get("gained") else "loses"
    said = f"{item.get('user')} {verb} {item.get('role')} in {item.get('account_id')}"
    return f"access change {_quote(said)}"


def _finding_label(item: dict[str, Any]) -> str:
    return f"finding {_quote(str(item.get('kind')) + ': ' + str(item.get('subject')))}"


def _first_difference(
    saved: list[dict[str, Any]], fresh: list[dict[str, Any]], label: Callable[[dict[str, Any]], str]
) -> str | None:
    """Where two lists of saved-plan records first differ, in words; None when equal."""
    saved_text = [canonical_json(item) for item in saved]
    fresh_text = [canonical_json(item) for item in fresh]
    if saved_text == fresh_text:
        return None
    saved_set, fresh_set = set(saved_text), set(fresh_text)
    fresh_labels = {label(item) for item in fresh}
    for item, text in zip(saved, saved_text, strict=True):
        if text not in fresh_set:
            if label(item) in fresh_labels:
                return f"{label(item)} differs from the plan made now"
            return f"{label(item)} is not in the plan made now"
    for item, text in zip(fresh, fresh_text, strict=True):
        if text not in saved_set:
            return f"{label(item)} of the plan made now is missing from it"
    return "the same records are repeated or in another order"


# Compared record by record, to name the first difference.
_LISTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "changes": _change_label,
    "access_delta": _access_label,
    "findings": _finding_label,
}
# Not compared: checked by `check_fresh` (target, fingerprint, digest), chosen by the
# command line and the desired state (options, and the guard that follows from them:
# `apply --max-deletions` may accept what the plan's guard refused), derived (summary),
# or only for display (names). Every other part of the document, including any added
# later, must be equal.
_NOT_COMPARED = frozenset(
    {
        "kind",
        "format_version",
        "target",
        "live_fingerprint",
        "desired_digest",
        "options",
        "guard",
        "summary",
        "names",
    }
)


def check_same(*, saved: Plan, fresh: Plan) -> str | None:
    """None when the saved plan's changes, access delta and findings (and whatever else
    the plan says will happen) are exactly those of the plan made now, compared as the
    JSON both would be saved as; else a one-line reason naming the first difference.

    This is what makes a saved plan safe to pass between jobs: whatever the file says,
    only the fresh plan runs, and only when the file says the same.
    """
    saved_doc, fresh_doc = plan_to_json(saved), plan_to_json(fresh)
    difference: str | None = None
    others = sorted((set(saved_doc) | set(fresh_doc)) - set(_LISTS) - _NOT_COMPARED)
    for key in [*_LISTS, *others]:
        label = _LISTS.get(key)
        if label is not None:
            difference = _first_difference(saved_doc[key], fresh_doc[key], label)
        elif canonical_json(saved_doc.get(key)) != canonical_json(fresh_doc.get(key)):
            difference = f"its {key} differs from the plan made now's"
        if difference is not None:
            return (
                f"the saved plan is not the plan made now: {difference}; it was edited or "
                "made by another version. Run plan again and review it."
            )
    return None
