"""The emulator's own control API under `/_emulator/…` (never under `/api`).

Lets a process that only has the URL (the sandbox CLI, a benchmark in another process)
schedule faults, read request counts and trigger a directory import, exactly as the
Python API on `OktaEmulator` does.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from engine.sandbox.okta_emulator import errors
from engine.sandbox.okta_emulator.api import ApiRequest, ApiResponse
from engine.sandbox.okta_emulator.faults import FaultKind, FaultRule, Faults, RateLimitPolicy
from engine.sandbox.okta_emulator.importer import (
    DirectoryGroupRecord,
    DirectoryUserRecord,
    import_directory,
)
from engine.sandbox.okta_emulator.state import OktaState

PREFIX = "/_emulator"


def _opt_int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int):
        raise errors.validation_failed(field=key, causes=(f"{key}: must be an integer",))
    return value


def _rule(body: dict[str, Any]) -> FaultRule:
    try:
        kind = FaultKind(body.get("kind", FaultKind.RATE_LIMIT.value))
    except ValueError:
        raise errors.validation_failed(field="kind", causes=("kind: unknown fault kind",)) from None
    default_status = 429 if kind is FaultKind.RATE_LIMIT else 503
    # 0 is a valid resetIn (the SDK then waits 1 s per retry), not "unset".
    reset_in = _opt_int(body, "resetIn")
    try:
        return FaultRule(
            kind=kind,
            status=_opt_int(body, "status") or default_status,
            count=_opt_int(body, "count"),
            every=_opt_int(body, "every"),
            method=body.get("method"),
            path_prefix=body.get("pathPrefix"),
            reset_in=1 if reset_in is None else reset_in,
        )
    except ValueError as exc:
        raise errors.validation_failed(field="fault", causes=(str(exc),)) from None


def _import(state: OktaState, body: dict[str, Any]) -> dict[str, Any]:
    try:
        groups = [
            DirectoryGroupRecord(
                dn=g["dn"],
                name=g["name"],
                description=g.get("description"),
                member_dns=tuple(g.get("memberDns", ())),
            )
            for g in body.get("groups", [])
        ]
        users = [
            DirectoryUserRecord(
                dn=u["dn"],
                login=u["login"],
                email=u.get("email", u["login"]),
                first_name=u.get("firstName", ""),
                last_name=u.get("lastName", ""),
            )
            for u in body.get("users", [])
        ]
        source_app_id = str(body["sourceAppId"])
        ous = [str(ou) for ou in body["importedOuDns"]]
    except (KeyError, TypeError) as exc:
        raise errors.validation_failed(field="import", causes=(f"missing field {exc}",)) from None
    result = import_directory(
        state, source_app_id=source_app_id, imported_ou_dns=ous, groups=groups, users=users
    )
    return {
        k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(result).items()
    }


def _set_limits(faults: Faults, body: dict[str, Any]) -> None:
    """{"enforce": bool, "limits": {family: n}}: Okta's defaults for families not named."""
    limits = body.get("limits") or {}
    if not isinstance(limits, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in limits.values()
    ):
        raise errors.validation_failed(field="limits", causes=("limits: family → count > 0",))
    defaults = RateLimitPolicy()
    faults.set_policy(
        RateLimitPolicy(
            limits={**defaults.limits, **{str(k): int(v) for k, v in limits.items()}},
            enforce=bool(body.get("enforce", True)),
        )
    )


def handle_admin(state: OktaState, faults: Faults, request: ApiRequest) -> ApiResponse:
    route = (request.method, request.path.removeprefix(PREFIX))
    body = request.body if isinstance(request.body, dict) else {}
    if route == ("GET", "/requests"):
        counts = faults.request_counts()
        return ApiResponse(
            200,
            {
                "total": sum(counts.values()),
                "rateLimited": faults.rate_limited(),
                "peakShare": faults.peak_share(),
                "counts": [
                    {"method": m, "route": r, "count": n} for (m, r), n in sorted(counts.items())
                ],
            },
        )
    if route == ("POST", "/faults"):
        faults.add_rule(_rule(body))
        return ApiResponse(204)
    if route == ("POST", "/latency"):
        seconds = body.get("seconds", 0)
        if not isinstance(seconds, int | float) or seconds < 0:
            raise errors.validation_failed(field="seconds", causes=("seconds: must be >= 0",))
        faults.set_latency(float(seconds), path_prefix=body.get("pathPrefix"))
        return ApiResponse(204)
    if route == ("POST", "/clock"):
        # {"advance": seconds}: move the org's clock (timestamps, Date, rate windows).
        seconds = body.get("advance", 0)
        if not isinstance(seconds, int | float) or isinstance(seconds, bool):
            raise errors.validation_failed(field="advance", causes=("advance: a number",))
        faults.clock.advance(float(seconds))
        return ApiResponse(200, {"time": faults.clock.time()})
    if route == ("POST", "/members"):
        # {"groupId": id, "userIds": [...]}: replace a group's members as an import
        # would, without the import's cost (benchmarks change a few of 5,400 groups).
        group_id, user_ids = body.get("groupId"), body.get("userIds")
        if not isinstance(group_id, str) or not isinstance(user_ids, list):
            raise errors.validation_failed(field="members", causes=("groupId and userIds",))
        state.get_group(group_id)
        state.set_members(group_id=group_id, user_ids={str(u) for u in user_ids})
        return ApiResponse(204)
    if route == ("POST", "/rate-limits"):
        _set_limits(faults, body)
        return ApiResponse(204)
    if route == ("POST", "/reset"):
        faults.reset()
        return ApiResponse(204)
    if route == ("GET", "/state"):
        return ApiResponse(200, json.loads(state.to_json()))
    if route == ("POST", "/import"):
        return ApiResponse(200, _import(state, body))
    raise errors.not_found(resource_id=request.path, resource_type="Endpoint")
