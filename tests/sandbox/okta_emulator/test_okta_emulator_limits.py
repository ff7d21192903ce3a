"""The emulator's clock, its per-family rate limits (Okta's published defaults), the 429s
it counts, and the `search=lastMembershipUpdated gt "…"` filter Okta documents."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from engine.providers.okta_pacing import OKTA_DEFAULT_LIMITS
from engine.sandbox.okta_emulator import OktaEmulator, RateLimitPolicy
from engine.sandbox.okta_emulator.state import okta_timestamp

T0 = 1_900_000_000.0


def test_date_header_and_timestamps_follow_the_orgs_clock(emulator: OktaEmulator, api: Any) -> None:
    emulator.clock.freeze(T0)
    group = emulator.state.add_group(name="frozen", description=None)
    assert group.last_membership_updated == "2030-03-17T17:46:40.000Z"
    response = api.call("GET", "/api/v1/groups", params={"q": "frozen"})
    assert parsedate_to_datetime(response.headers["Date"]).timestamp() == T0
    assert response.json()[0]["lastMembershipUpdated"] == "2030-03-17T17:46:40.000Z"
    assert api.call("POST", "/_emulator/clock", body={"advance": 90}).json() == {"time": T0 + 90}
    later = api.call("GET", "/api/v1/groups", params={"q": "frozen"})
    assert parsedate_to_datetime(later.headers["Date"]).timestamp() == T0 + 90
    assert api.call("POST", "/_emulator/clock", body={"advance": "soon"}).status_code == 400


def test_membership_changes_move_last_membership_updated_only_when_members_change(
    emulator: OktaEmulator, api: Any
) -> None:
    emulator.clock.freeze(T0)
    group = emulator.state.add_group(name="g", description=None)
    user = emulator.state.add_user(
        login="u@example.test", email="u@example.test", first_name="U", last_name="T"
    )
    emulator.clock.advance(10)
    assert (
        api.call(
            "POST", "/_emulator/members", body={"groupId": group.id, "userIds": [user.id]}
        ).status_code
        == 204
    )
    stamped = emulator.state.get_group(group.id).last_membership_updated
    emulator.clock.advance(10)
    api.call("POST", "/_emulator/members", body={"groupId": group.id, "userIds": [user.id]})
    assert emulator.state.get_group(group.id).last_membership_updated == stamped  # unchanged
    assert stamped == "2030-03-17T17:46:50.000Z"


def test_search_by_last_membership_updated_as_okta_documents_it(
    emulator: OktaEmulator, api: Any
) -> None:
    """The spec's own example: `search=lastMembershipUpdated gt "…"` (groups changed since)."""
    emulator.clock.freeze(T0)
    old = emulator.state.add_group(name="old", description=None)
    emulator.clock.advance(60)
    new = emulator.state.add_group(name="new", description=None)
    since = okta_timestamp(datetime.fromtimestamp(T0 + 30, UTC))
    response = api.call(
        "GET", "/api/v1/groups", params={"search": f'lastMembershipUpdated gt "{since}"'}
    )
    api.validate(response)
    ids = {g["id"] for g in response.json()}
    assert new.id in ids and old.id not in ids


@pytest.mark.parametrize(
    ("method", "path", "limit"),
    [
        ("GET", "/api/v1/groups", 500),
        ("GET", "/api/v1/apps", 100),
        ("GET", "/api/v1/users", 600),
        ("GET", "/api/v1/users/nobody", 2000),
    ],
)
def test_each_family_announces_oktas_default_limit(
    emulator: OktaEmulator, api: Any, method: str, path: str, limit: int
) -> None:
    response = api.call(method, path)
    assert int(response.headers["X-Rate-Limit-Limit"]) == limit
    assert int(response.headers["X-Rate-Limit-Remaining"]) == limit - 1


def test_families_share_a_window_and_others_do_not(emulator: OktaEmulator, api: Any) -> None:
    group = emulator.state.add_group(name="g", description=None)
    api.call("GET", "/api/v1/groups")
    members = api.call("GET", f"/api/v1/groups/{group.id}/users")
    assert int(members.headers["X-Rate-Limit-Remaining"]) == 498  # same family as the listing
    single = api.call("GET", f"/api/v1/groups/{group.id}")
    assert int(single.headers["X-Rate-Limit-Remaining"]) == 999  # its own family


def test_enforced_limits_send_429s_and_count_them(emulator: OktaEmulator, api: Any) -> None:
    body = {"enforce": True, "limits": {"/api/v1/groups": 3}}
    assert api.call("POST", "/_emulator/rate-limits", body=body).status_code == 204
    statuses = [api.call("GET", "/api/v1/groups").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert api.call("GET", "/api/v1/apps").status_code == 200  # another family
    counts = api.call("GET", "/_emulator/requests").json()
    assert counts["rateLimited"] == {"/api/v1/groups": 2}
    assert counts["peakShare"]["/api/v1/groups"] == 5 / 3
    # The admin calls themselves count against no window.
    assert emulator.rate_limited() == {"/api/v1/groups": 2}
    emulator.clock.advance(61)
    assert api.call("GET", "/api/v1/groups").status_code == 200  # a new window
    bad = {"limits": {"/api/v1/groups": 0}}
    assert api.call("POST", "/_emulator/rate-limits", body=bad).status_code == 400


def test_a_policy_names_okta_defaults_for_families_it_does_not_set() -> None:
    policy = RateLimitPolicy(limits={"/api/v1/groups": 7})
    assert policy.limit_for("/api/v1/groups") == 7
    assert policy.limit_for("/api/v1/groups/{id}") == 1000
    assert policy.limit_for("/something/else") == OKTA_DEFAULT_LIMITS["/api/v1"]
