"""Saved plans: a Plan as JSON (`plan --out plan.json`, `apply --plan plan.json`).

What a reviewer approved must be what runs, so a saved plan holds everything `apply`
executes (each change with its live `before` and desired `after` resource), the
fingerprint of the live world it was computed from and the digest of the desired state
it was computed for. `check_fresh` compares those with a fresh read before anything is
executed: a plan made against a world that has since moved is refused (exit 3), never
"mostly" applied.

The format is documented in `schemas/plan.schema.json` and versioned by
`engine.plan.PLAN_FORMAT_VERSION`. Resources are tagged with their model class name
(`{"type": "Role", "value": {...}}`) and encoded by the snapshot codec, so any resource
kind round-trips exactly. `summary`, each change's `id` and `system`, and each finding's
`blocking` are derived data written for readers of the JSON (CI scripts, `jq`); on
reading they are recomputed, and a change `id` that disagrees with its kind, key and
action is rejected because `depends_on` refers to changes by id.
"""

from __future__ import annotations

import json
from typing import Any, get_args

from engine.model import canonical_json
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
    Resource,
    ResourceKind,
)
from engine.snapshot import SnapshotError, from_jsonable, to_jsonable

PLAN_KIND = "okta-aws/plan"

__all__ = [
    "PLAN_KIND",
    "PlanFormatError",
    "check_fresh",
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
        "reason": change.reason,
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


def _change_from_json(data: Any, where: str) -> Change:
    raw = _object(data, where)
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
        reason=from_jsonable(str, raw.get("reason", ""), where=f"{where}.reason"),
        depends_on=from_jsonable(
            tuple[str, ...], raw.get("depends_on", []), where=f"{where}.depends_on"
        ),
        waits_for=from_jsonable(str | None, raw.get("waits_for"), where=f"{where}.waits_for"),
    )
    if change.before is None and change.after is None:
        raise PlanFormatError(f"{where}: a change has a before or an after")
    if raw.get("id", change.id) != change.id:
        raise PlanFormatError(f"{where}.id: {raw.get('id')!r} does not match {change.id!r}")
    return change


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
    except SnapshotError as error:
        raise PlanFormatError(str(error)) from None


def plan_from_text(text: str) -> Plan:
    """A saved plan from the text of its file."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
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
    if not plan.live_fingerprint:
        problems.append("the plan carries no live-state fingerprint")
    elif plan.live_fingerprint != live_fingerprint:
        problems.append(
            "the live state changed since the plan was made (fingerprint "
            f"{_short(plan.live_fingerprint)} → {_short(live_fingerprint)})"
        )
    if not plan.desired_digest:
        problems.append("the plan carries no desired-state digest")
    elif plan.desired_digest != desired_digest:
        problems.append(
            "the desired state changed since the plan was made (digest "
            f"{_short(plan.desired_digest)} → {_short(desired_digest)})"
        )
    if not problems:
        return None
    return "stale plan: " + "; ".join(problems) + ". Run plan again."
