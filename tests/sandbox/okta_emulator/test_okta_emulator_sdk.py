"""The real okta SDK (3.4.6, async) driven against the emulator: its models must parse every
response, its pagination and 429 retries must work as they do against Okta.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest

from engine.sandbox.okta_emulator import OktaEmulator, aws_settings_app

T = TypeVar("T")


def run(coroutine: Awaitable[T]) -> T:
    async def wrapper() -> T:
        return await coroutine

    return asyncio.run(wrapper())


def _next_cursor(resp: Any) -> str | None:
    from okta.pagination import PaginationHelper

    cursor: str | None = PaginationHelper.extract_next_cursor(resp.headers)
    return cursor


async def _all_pages(call: Any, **kwargs: Any) -> tuple[list[Any], int]:
    items: list[Any] = []
    after: str | None = None
    pages = 0
    while True:
        data, resp, err = await call(after=after, **kwargs)
        assert err is None, err
        items.extend(data)
        pages += 1
        after = _next_cursor(resp)
        if after is None:
            return items, pages


def test_search_groups_across_pages(emulator: OktaEmulator, sdk: Any) -> None:
    for index in range(250):
        emulator.state.add_group(name=f"aws#acct{index}#Admin#{index:012d}", description=None)
    emulator.state.add_group(name="not-aws", description=None)
    groups, pages = run(_all_pages(sdk.list_groups, search='profile.name sw "aws#"', limit=100))
    assert pages == 3
    names = [g.profile.actual_instance.name for g in groups]
    assert len(names) == len(set(names)) == 250
    assert all(name.startswith("aws#") for name in names)
    assert emulator.request_counts()[("GET", "/api/v1/groups")] == 3


def test_app_group_assignments_across_pages(emulator: OktaEmulator, sdk: Any) -> None:
    app = emulator.aws_app()
    wanted = set()
    for index in range(45):
        group = emulator.state.add_group(name=f"g{index}", description=None)
        emulator.state.assign_group(app_id=app.id, group_id=group.id, priority=None)
        wanted.add(group.id)
    assignments, pages = run(
        _all_pages(sdk.list_application_group_assignments, app_id=app.id, limit=20)
    )
    assert pages == 3
    assert {a.id for a in assignments} == wanted


def test_assign_and_unassign_group(emulator: OktaEmulator, sdk: Any) -> None:
    from okta.models.application_group_assignment import ApplicationGroupAssignment

    app = emulator.aws_app()
    group = emulator.state.add_group(name="DevOps", description=None)

    async def scenario() -> tuple[Any, Any, list[Any]]:
        assigned, _, err = await sdk.assign_group_to_application(
            app.id, group.id, ApplicationGroupAssignment(priority=5)
        )
        assert err is None, err
        again, _, err = await sdk.assign_group_to_application(app.id, group.id)
        assert err is None, err
        listed, _, err = await sdk.list_application_group_assignments(app.id)
        assert err is None, err
        _, _, err = await sdk.unassign_application_from_group(app.id, group.id)
        assert err is None, err
        after, _, err = await sdk.list_application_group_assignments(app.id)
        assert err is None, err
        assert after == []
        return assigned, again, listed

    assigned, again, listed = run(scenario())
    assert (assigned.id, assigned.priority) == (group.id, 5)
    assert (again.id, again.priority) == (group.id, 5)  # idempotent: priority kept
    assert [a.id for a in listed] == [group.id]
    assert emulator.state.assignments[app.id] == {}


def test_typed_app_model_drops_settings_app_but_raw_body_has_it(
    emulator: OktaEmulator, sdk: Any
) -> None:
    app = emulator.aws_app()
    data, resp, err = run(sdk.get_application(app.id))
    assert err is None, err
    assert type(data).__name__ == "SamlApplication"
    assert not hasattr(data.settings, "app")
    assert json.loads(resp.raw_data)["settings"]["app"] == aws_settings_app()


def test_settings_app_written_through_request_executor_keeps_nulls(
    emulator: OktaEmulator, sdk: Any
) -> None:
    app = emulator.aws_app()

    async def scenario() -> Any:
        _, resp, _ = await sdk.get_application(app.id)
        body = json.loads(resp.raw_data)
        settings_app = {**body["settings"]["app"], "useGroupMapping": True, "appFilter": None}
        put = {
            "name": body["name"],
            "label": body["label"],
            "signOnMode": body["signOnMode"],
            "settings": {**body["settings"], "app": settings_app},
        }
        executor = sdk.get_request_executor()
        request, error = await executor.create_request(
            "PUT", f"/api/v1/apps/{app.id}", put, {}, keep_empty_params=True
        )
        assert error is None, error
        _, response, _, error = await executor.fire_request(request)
        assert error is None, error
        assert response.status == 200
        return settings_app

    settings_app = run(scenario())
    stored = emulator.state.apps[app.id].body["settings"]["app"]
    assert stored == settings_app
    assert stored["appFilter"] is None


def test_not_found_surfaces_as_okta_error(emulator: OktaEmulator, sdk: Any) -> None:
    data, _, err = run(sdk.get_group("00g00000000000000000"))
    assert data is None
    assert err.error_code == "E0000007"
    assert "(UserGroup)" in err.error_summary


@pytest.mark.parametrize(
    ("storm", "succeeds"),
    [(1, True), (2, True), (3, False)],
    ids=["one-429", "maxRetries-429s", "beyond-maxRetries"],
)
def test_sdk_retries_429_storm(
    emulator: OktaEmulator, sdk: Any, storm: int, succeeds: bool
) -> None:
    emulator.state.add_group(name="target", description=None)
    # reset_in=0: Reset equals Date, so the SDK waits the minimum (1 s) per retry.
    emulator.inject_429(count=storm, path_prefix="/api/v1/groups", reset_in=0)
    data, _, err = run(sdk.list_groups(q="target"))
    if succeeds:
        assert err is None, err
        assert [g.profile.actual_instance.name for g in data] == ["target"]
    else:
        assert data is None
        assert err.error_code == "E0000047"
    # maxRetries=2: at most three attempts reach the emulator.
    assert emulator.request_counts()[("GET", "/api/v1/groups")] == min(storm + 1, 3)


def test_sdk_retries_503_without_waiting(emulator: OktaEmulator, sdk: Any) -> None:
    emulator.inject_5xx(status=503, count=1)
    data, _, err = run(sdk.get_application(emulator.aws_app().id))
    assert err is None, err
    assert data.label == "Amazon Web Services"


def test_users_parse_and_search_by_logins(emulator: OktaEmulator, sdk: Any) -> None:
    for name in ("alice", "bob", "carol"):
        emulator.state.add_user(
            login=f"{name}@example.test",
            email=f"{name}@example.test",
            first_name=name,
            last_name="T",
        )
    search = 'profile.login eq "alice@example.test" or profile.login eq "carol@example.test"'
    data, _, err = run(sdk.list_users(search=search))
    assert err is None, err
    assert sorted(u.profile.login for u in data) == ["alice@example.test", "carol@example.test"]
