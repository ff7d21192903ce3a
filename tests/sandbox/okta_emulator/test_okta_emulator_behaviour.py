"""Okta semantics the engine relies on: pagination edges, read-only imported groups,
search, fault injection and accounting, persistence, the standalone entry point."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from engine.sandbox.okta_emulator import (
    DirectoryGroupRecord,
    DirectoryUserRecord,
    GroupType,
    OktaEmulator,
    OktaState,
    add_aws_app,
    render,
)
from engine.sandbox.okta_emulator.scim import FilterSyntaxError, evaluate, matcher, parse_filter
from engine.sandbox.okta_emulator.state import IdPrefix

NEXT = re.compile(r'<([^>]+)>; rel="next"')


def _pages(api: Any, path: str, params: dict[str, Any]) -> list[list[dict[str, Any]]]:
    pages = []
    url: str | None = api.emulator.url + path
    query: dict[str, Any] | None = params
    while url:
        response = api.session.get(url, params=query, timeout=30)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        links = response.raw.headers.get_all("Link")
        assert 'rel="self"' in links[0]
        nexts = [m.group(1) for link in links[1:] if (m := NEXT.match(link))]
        url, query = (nexts[0], None) if nexts else (None, None)
    return pages


@pytest.mark.parametrize(
    ("count", "limit", "sizes"),
    [
        (0, 100, [0]),
        (100, 100, [100]),
        (200, 200, [200]),
        (201, 200, [200, 1]),
        (250, 100, [100, 100, 50]),
    ],
)
def test_group_pagination_edges(
    emulator: OktaEmulator, api: Any, count: int, limit: int, sizes: list[int]
) -> None:
    for index in range(count):
        emulator.state.add_group(name=f"aws#a{index}", description=None)
    pages = _pages(api, "/api/v1/groups", {"search": 'type eq "OKTA_GROUP"', "limit": limit})
    assert [len(p) for p in pages] == sizes
    ids = [g["id"] for page in pages for g in page]
    assert len(ids) == len(set(ids)) == count


@pytest.mark.parametrize(("count", "sizes"), [(0, [0]), (20, [20]), (21, [20, 1])])
def test_app_group_default_limit_is_20(
    emulator: OktaEmulator, api: Any, count: int, sizes: list[int]
) -> None:
    app = emulator.aws_app()
    for index in range(count):
        group = emulator.state.add_group(name=f"g{index}", description=None)
        emulator.state.assign_group(app_id=app.id, group_id=group.id, priority=None)
    pages = _pages(api, f"/api/v1/apps/{app.id}/groups", {})
    assert [len(p) for p in pages] == sizes


@pytest.mark.parametrize(
    ("path", "limit", "effective"),
    [("/api/v1/apps", 500, 200), ("/api/v1/groups", 20000, 10000), ("/api/v1/users", 999, 200)],
)
def test_limit_above_maximum_is_clamped(api: Any, path: str, limit: int, effective: int) -> None:
    response = api.call("GET", path, params={"limit": limit})
    assert response.status_code == 200
    assert f"limit={effective}>" in response.headers["Link"]


def test_query_on_groups_is_one_page_without_next(emulator: OktaEmulator, api: Any) -> None:
    for index in range(305):
        emulator.state.add_group(name=f"team{index}", description=None)
    response = api.call("GET", "/api/v1/groups", params={"q": "team"})
    assert len(response.json()) == 300
    assert len(response.raw.headers.get_all("Link")) == 1


def _imported(emulator: OktaEmulator) -> tuple[str, str]:
    ad = emulator.directory_app()
    member = DirectoryUserRecord(
        dn="CN=a,DC=example,DC=test",
        login="a@example.test",
        email="a@example.test",
        first_name="A",
        last_name="T",
    )
    emulator.import_directory(
        source_app_id=ad.id,
        imported_ou_dns=["OU=R,DC=example,DC=test"],
        groups=[DirectoryGroupRecord("CN=r,OU=R,DC=example,DC=test", "r", None, (member.dn,))],
        users=[member],
    )
    group = next(g for g in emulator.state.groups.values() if g.type is GroupType.APP_GROUP)
    return group.id, emulator.state.members[group.id].copy().pop()


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PUT", "", {"profile": {"name": "renamed"}}),
        ("PUT", "/users/{user}", None),
        ("DELETE", "/users/{user}", None),
    ],
)
def test_app_group_is_read_only(
    emulator: OktaEmulator, api: Any, method: str, suffix: str, body: Any
) -> None:
    group_id, user_id = _imported(emulator)
    before = (emulator.state.groups[group_id], set(emulator.state.members[group_id]))
    outsider = emulator.state.add_user(
        login="o@x.test", email="o@x.test", first_name="O", last_name="X"
    )
    target_user = outsider.id if method == "PUT" else user_id
    path = f"/api/v1/groups/{group_id}" + suffix.format(user=target_user)
    response = api.call(method, path, body=body)
    assert response.status_code == 403
    assert response.json()["errorCode"] == "E0000006"
    assert (emulator.state.groups[group_id], emulator.state.members[group_id]) == before


def test_builtin_everyone_cannot_be_deleted_and_lists_every_user(
    emulator: OktaEmulator, api: Any
) -> None:
    everyone = emulator.state.everyone()
    emulator.state.add_user(login="u@x.test", email="u@x.test", first_name="U", last_name="X")
    assert api.call("DELETE", f"/api/v1/groups/{everyone.id}").status_code == 403
    users = api.call("GET", f"/api/v1/groups/{everyone.id}/users").json()
    assert [u["profile"]["login"] for u in users] == ["u@x.test"]


def test_duplicate_okta_group_name_is_a_validation_error(api: Any) -> None:
    first = api.call("POST", "/api/v1/groups", body={"profile": {"name": "Ops"}})
    second = api.call("POST", "/api/v1/groups", body={"profile": {"name": "ops"}})
    assert first.status_code == 200
    assert second.status_code == 400
    assert second.json()["errorCode"] == "E0000001"
    assert second.json()["errorCauses"][0]["errorSummary"].startswith("name:")


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ('type eq "APP_GROUP"', {"r"}),
        ('type eq "OKTA_GROUP"', {"aws#x#Admin#1", "other"}),
        ('profile.name eq "OTHER"', {"other"}),
        ('profile.name sw "aws#"', {"aws#x#Admin#1"}),
        (
            'type eq "OKTA_GROUP" and (profile.name sw "aws" or profile.name eq "r")',
            {"aws#x#Admin#1"},
        ),
        ('type eq "APP_GROUP" or profile.name eq "other"', {"r", "other"}),
        ('not (type eq "OKTA_GROUP") and type ne "BUILT_IN"', {"r"}),
    ],
)
def test_group_search(emulator: OktaEmulator, api: Any, search: str, expected: set[str]) -> None:
    _imported(emulator)
    emulator.state.add_group(name="aws#x#Admin#1", description=None)
    emulator.state.add_group(name="other", description=None)
    found = api.call("GET", "/api/v1/groups", params={"search": search}).json()
    assert {g["profile"]["name"] for g in found} == expected


def test_search_by_source_and_id(emulator: OktaEmulator, api: Any) -> None:
    group_id, _ = _imported(emulator)
    source = emulator.directory_app().id
    by_source = api.call("GET", "/api/v1/groups", params={"search": f'source.id eq "{source}"'})
    by_id = api.call("GET", "/api/v1/groups", params={"search": f'id eq "{group_id}"'})
    assert [g["id"] for g in by_source.json()] == [group_id]
    assert [g["id"] for g in by_id.json()] == [group_id]


@pytest.mark.parametrize(
    "bad", ["type eq", 'profile.name xx "a"', '(type eq "A"', 'type eq "A" and']
)
def test_malformed_search_is_e0000031(api: Any, bad: str) -> None:
    response = api.call("GET", "/api/v1/groups", params={"search": bad})
    assert response.status_code == 400
    assert response.json()["errorCode"] == "E0000031"


@given(name=st.text(min_size=0, max_size=12), prefix=st.text(min_size=0, max_size=4))
def test_sw_filter_agrees_with_casefolded_startswith(name: str, prefix: str) -> None:
    literal = json.dumps(prefix)
    expression = parse_filter(f"profile.name sw {literal}")
    got = evaluate(expression, lambda attr: name if attr == "profile.name" else None)
    assert got == name.casefold().startswith(prefix.casefold())


_NAMES = st.text(alphabet="aAbB#ẞß", max_size=4)
_ATTRIBUTES = st.sampled_from(["profile.name", "type", "id"])


@given(
    terms=st.lists(st.tuples(_ATTRIBUTES, st.sampled_from(["eq", "sw", "ne"]), _NAMES), min_size=1),
    joins=st.lists(st.sampled_from(["or", "and"]), min_size=10, max_size=10),
    document=st.fixed_dictionaries({"profile.name": _NAMES | st.lists(_NAMES), "type": _NAMES}),
)
def test_the_fast_matcher_agrees_with_evaluate(
    terms: list[tuple[str, str, str]], joins: list[str], document: dict[str, Any]
) -> None:
    """`matcher` takes a set lookup for `or`-chains of `eq`; any filter must get the same
    answer from it as from `evaluate`."""
    text = f"{terms[0][0]} {terms[0][1]} {json.dumps(terms[0][2])}"
    for index, (attribute, operator, value) in enumerate(terms[1:]):
        text += f" {joins[index % len(joins)]} {attribute} {operator} {json.dumps(value)}"
    expression = parse_filter(text)
    resolve = document.get
    assert matcher(expression)(resolve) == evaluate(expression, resolve)


@given(names=st.lists(_NAMES, min_size=1, max_size=40), name=_NAMES | st.lists(_NAMES))
def test_the_fast_matcher_agrees_on_long_eq_chains(names: list[str], name: Any) -> None:
    expression = parse_filter(" or ".join(f"profile.name eq {json.dumps(n)}" for n in names))
    resolve = {"profile.name": name}.get
    assert matcher(expression)(resolve) == evaluate(expression, resolve)


@given(st.text(max_size=30))
def test_parser_rejects_garbage_only_with_filter_syntax_error(text: str) -> None:
    # Any other exception would surface to clients as a 500 instead of Okta's E0000031.
    with contextlib.suppress(FilterSyntaxError):
        parse_filter(text)


@pytest.mark.parametrize(
    ("schedule", "statuses"),
    [
        ({"count": 2}, [429, 429, 200, 200, 200, 200]),
        ({"count": None, "every": 3}, [200, 200, 429, 200, 200, 429]),
        ({"count": 1, "every": 2}, [200, 429, 200, 200, 200, 200]),
        ({"count": 2, "method": "PUT"}, [200, 200, 200, 200, 200, 200]),
        ({"count": 2, "path_prefix": "/api/v1/apps"}, [200, 200, 200, 200, 200, 200]),
    ],
)
def test_429_schedules(
    emulator: OktaEmulator, api: Any, schedule: dict[str, Any], statuses: list[int]
) -> None:
    emulator.inject_429(**schedule)
    got = [api.call("GET", "/api/v1/groups").status_code for _ in statuses]
    assert got == statuses
    assert emulator.request_counts()[("GET", "/api/v1/groups")] == len(statuses)


def test_429_headers_let_a_client_compute_the_wait(emulator: OktaEmulator, api: Any) -> None:
    from email.utils import parsedate_to_datetime

    emulator.inject_429(count=1, reset_in=1)
    response = api.call("GET", "/api/v1/users")
    date = parsedate_to_datetime(response.headers["Date"]).timestamp()
    reset = int(response.headers["X-Rate-Limit-Reset"])
    assert 0 <= reset - date <= 2
    assert response.headers["X-Rate-Limit-Remaining"] == "0"


def test_5xx_injection_and_admin_api(emulator: OktaEmulator, api: Any) -> None:
    fault = {"kind": "server_error", "status": 500, "count": 1, "pathPrefix": "/api/v1/apps"}
    assert api.call("POST", "/_emulator/faults", body=fault).status_code == 204
    assert api.call("GET", "/api/v1/groups").status_code == 200
    failed = api.call("GET", "/api/v1/apps")
    assert failed.status_code == 500
    assert failed.json()["errorCode"] == "E0000009"
    assert api.call("GET", "/api/v1/apps").status_code == 200
    counts = api.call("GET", "/_emulator/requests").json()
    assert counts["total"] == 3
    assert {"method": "GET", "route": "/api/v1/apps", "count": 2} in counts["counts"]
    assert api.call("POST", "/_emulator/latency", body={"seconds": 0.01}).status_code == 204
    assert emulator.faults.latency_for("/api/v1/groups") == 0.01
    assert api.call("POST", "/_emulator/reset").status_code == 204
    assert emulator.total_requests() == 0
    assert emulator.faults.latency_for("/api/v1/groups") == 0.0


def test_counts_use_route_templates(emulator: OktaEmulator, api: Any) -> None:
    app = emulator.aws_app()
    group = emulator.state.add_group(name="g", description=None)
    api.call("PUT", f"/api/v1/apps/{app.id}/groups/{group.id}")
    api.call("DELETE", f"/api/v1/apps/{app.id}/groups/{group.id}")
    api.call("GET", f"/api/v1/groups/{group.id}")
    assert emulator.request_counts() == {
        ("PUT", "/api/v1/apps/{appId}/groups/{groupId}"): 1,
        ("DELETE", "/api/v1/apps/{appId}/groups/{groupId}"): 1,
        ("GET", "/api/v1/groups/{groupId}"): 1,
    }


def test_admin_api_needs_the_token(emulator: OktaEmulator) -> None:
    response = requests.get(emulator.url + "/_emulator/requests", timeout=10)
    assert response.status_code == 401


def test_state_round_trips_through_json(tmp_path: Path) -> None:
    state = OktaState(seed=11)
    aws = add_aws_app(state)
    group = state.add_group(name="g", description="d")
    user = state.add_user(login="u@x.test", email="u@x.test", first_name="U", last_name="X")
    state.add_member(group_id=group.id, user_id=user.id)
    state.assign_group(app_id=aws.id, group_id=group.id, priority=4)
    state.save(tmp_path / "okta.json")
    loaded = OktaState.load(tmp_path / "okta.json")
    assert loaded.to_json() == state.to_json()
    assert loaded.groups == state.groups and loaded.apps == state.apps
    # Both continue the same deterministic id sequence.
    assert loaded.new_id(IdPrefix.GROUP) == state.new_id(IdPrefix.GROUP)


@pytest.mark.parametrize("seed", [1, 2])
def test_ids_are_seedable_and_okta_shaped(seed: int) -> None:
    first, second = OktaState(seed=seed), OktaState(seed=seed)
    made = [first.add_group(name=f"g{i}", description=None).id for i in range(5)]
    assert made == [second.add_group(name=f"g{i}", description=None).id for i in range(5)]
    assert all(re.fullmatch(r"00g[0-9A-Za-z]{17}", i) for i in made)
    user = first.add_user(login="u@x.test", email="u@x.test", first_name="U", last_name="X")
    assert re.fullmatch(r"00u[0-9A-Za-z]{17}", user.id)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", user.created)


def test_writes_persist_across_emulator_restarts(tmp_path: Path) -> None:
    path = tmp_path / "sandbox" / "okta.json"
    with OktaEmulator.start(token="t", state_path=path, seed_aws_app=True) as first:
        session = requests.Session()
        session.headers["Authorization"] = "SSWS t"
        created = session.post(
            first.url + "/api/v1/groups", json={"profile": {"name": "kept"}}, timeout=10
        )
        assert created.status_code == 200
    with OktaEmulator.start(token="t", state_path=path, seed_aws_app=True) as second:
        names = {g.name for g in second.state.groups.values()}
        assert "kept" in names
        assert len(list(second.state.apps_named("amazon_aws"))) == 1


def test_standalone_entry_point_serves_until_interrupted(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine.sandbox.okta_emulator",
            "--token",
            "cli-token",
            "--seed-aws-app",
            "--state",
            str(tmp_path / "state.json"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        response = requests.get(
            url + "/api/v1/apps",
            params={"filter": 'name eq "amazon_aws"'},
            headers={"Authorization": "SSWS cli-token"},
            timeout=10,
        )
        assert [a["name"] for a in response.json()] == ["amazon_aws"]
        assert "cli-token" not in url
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    assert (tmp_path / "state.json").exists()


def test_cached_user_text_follows_every_change_of_the_user() -> None:
    """User pages are built from cached JSON text per user; a changed user (a new frozen
    object in the state) must never be served from the old text."""
    state = OktaState(seed=1)
    user = state.add_user(
        login="a@example.test", email="a@example.test", first_name="A", last_name="B"
    )
    base = "http://127.0.0.1:1"
    first = render.user_json_text(user, base_url=base)
    assert json.loads(first) == render.user_json(user, base_url=base)
    assert render.user_json_text(user, base_url=base) is first
    renamed = dataclasses.replace(user, profile={**user.profile, "firstName": "Renamed"})
    assert json.loads(render.user_json_text(renamed, base_url=base))["profile"]["firstName"] == (
        "Renamed"
    )
    elsewhere = json.loads(render.user_json_text(renamed, base_url="http://other"))
    assert elsewhere["_links"]["self"]["href"].startswith("http://other/")
