"""What apply must refuse (exit 3): a stale saved plan, too many deletions, a second apply.

A reviewed plan is a promise about what will change; if the world or the desired state
moved since, applying it would change things nobody reviewed. A plan that deletes more
than `max_deletions` is more likely a bad merge than an intent. Two applies at once
would race each other's writes. Each refusal is checked where it matters: in the systems,
which must see no write at all (moto's recorder, the emulator's counts, the directory's
change markers), and in the message, which must say why (and name the lock's holder).

The stale-plan, snapshot and max-deletions tests share one served sandbox (its desired state has
`max_deletions: 2`, below the brownfield's destructive changes): the stale-plan and snapshot
tests never write, and only the max-deletions test (last in this file) converges the world.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import (
    Served,
    Workspace,
    add_member,
    desired_copy,
    finish,
    ldap_flavour,
    ldap_sandbox,
    max_deletions,
    plan_json,
)
from tests.e2e.live_systems import Live, write_marks

Sandbox = tuple[Workspace, Served]
pytestmark = pytest.mark.slapd  # every test here serves the sandbox with a real slapd
MANAGEMENT_OU = "ou=AWS Management Groups,dc=example,dc=test"
PEOPLE = "ou=people,dc=example,dc=test"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with ldap_sandbox(tmp_path_factory.mktemp("refusals"), edits=[max_deletions(2)]) as sandbox:
        yield sandbox


# --- drift made by hand between `plan --out` and `apply --plan` -------------------------------


def member_added_in_the_directory(live: Live, _: Path) -> list[str]:
    connection = live.ldap()
    try:
        group = f"cn=DevOps Sys Admins,{MANAGEMENT_OU}"
        user = f"uid=walter,{PEOPLE}"
        assert connection.modify(group, {"member": [("MODIFY_ADD", [user])]}), connection.result
    finally:
        connection.unbind()
    return []


def group_assigned_in_okta(live: Live, _: Path) -> list[str]:
    app = live.app_id()
    assigned = {g["id"] for g in live.okta_all(f"/api/v1/apps/{app}/groups")}
    group = next(
        g
        for g in live.okta_all("/api/v1/groups")
        if g["type"] == "APP_GROUP" and g["id"] not in assigned
    )
    live.okta("PUT", f"/api/v1/apps/{app}/groups/{group['id']}", {})
    return []


def role_edited_in_aws(live: Live, _: Path) -> list[str]:
    first_account = "314159265358"  # prod-payments: converged at reset, its roles tagged
    live.iam(first_account).update_role(RoleName="Admin", Description="edited by hand")
    return []


def desired_state_edited(_: Live, root: Path) -> list[str]:
    edited = desired_copy(
        root / "edited",
        edits=[ldap_flavour, max_deletions(2), add_member("DevOps Sys Admins", "walter")],
    )
    return ["-d", str(edited)]


Drift = Callable[[Live, Path], list[str]]


@pytest.mark.parametrize(
    ("drift", "why"),
    [
        (member_added_in_the_directory, "the live state changed"),
        (group_assigned_in_okta, "the live state changed"),
        (role_edited_in_aws, "the live state changed"),
        (desired_state_edited, "the desired state changed"),
    ],
    ids=["directory", "okta", "aws", "desired-state"],
)
def test_a_stale_saved_plan_is_refused_and_writes_nothing(
    drift: Drift, why: str, shared: Sandbox, tmp_path: Path
) -> None:
    workspace, served = shared
    saved = tmp_path / "plan.json"
    planned = workspace.live_cli("plan", "--out", str(saved))
    assert planned.code == 0 and saved.exists(), planned

    extra = drift(served.live, tmp_path)
    marks = write_marks(served.live)
    refused = workspace.live_cli("apply", "--plan", str(saved), "--auto-approve", *extra)
    assert refused.code == 3, refused
    assert "refused: the saved plan is stale" in refused.err and why in refused.err, refused
    assert "Applying:" not in refused.out and not refused.outcomes(), refused
    assert write_marks(served.live) == marks


def test_a_snapshot_plans_offline_as_live_and_an_incomplete_read_writes_none(
    shared: Sandbox, tmp_path: Path
) -> None:
    """`snapshot` is the live world on disk: planning against it gives the live plan; a
    read that could not see one system must not leave a partial world behind."""
    workspace, served = shared
    marks = write_marks(served.live)
    snapshot = tmp_path / "live.json"
    taken = workspace.live_cli("snapshot", "--out", str(snapshot))
    assert taken.code == 0 and snapshot.is_file(), taken
    assert f"wrote {snapshot} (target live); API calls: aws " in taken.out, taken
    live = plan_json(workspace)
    offline = workspace.cli("plan", "--format", "json", "--live-snapshot", str(snapshot))
    assert offline.code == 0, offline
    document = json.loads(offline.out)
    assert live["changes"] and document["changes"] == live["changes"]
    assert document["access_delta"] == live["access_delta"]
    assert document["live_fingerprint"] == live["live_fingerprint"]

    ldap_url = workspace.env["LDAP_URL"]
    workspace.env["LDAP_URL"] = "ldap://127.0.0.1:9"  # nothing listens on discard
    try:
        partial = tmp_path / "partial.json"
        refused = workspace.live_cli("snapshot", "--out", str(partial))
    finally:
        workspace.env["LDAP_URL"] = ldap_url
    assert refused.code == 1, refused
    assert "127.0.0.1:9" in refused.err and not partial.exists(), refused
    assert write_marks(served.live) == marks


def test_a_plan_over_max_deletions_is_refused_unless_overridden(
    shared: Sandbox, tmp_path: Path
) -> None:
    workspace, served = shared
    planned = plan_json(workspace)
    destructive = planned["summary"]["destructive"]
    assert destructive > 2 and planned["guard"], planned["summary"]

    marks = write_marks(served.live)
    refused = workspace.live_cli("apply", "--auto-approve")
    assert refused.code == 3, refused
    assert f"refused: {destructive} destructive changes exceed max_deletions (2)" in refused.err
    assert "Applying:" not in refused.out and not refused.outcomes(), refused
    assert write_marks(served.live) == marks

    # Reviewed: the saved plan is applied with an explicit override, deletions and all.
    saved = tmp_path / "plan.json"
    assert workspace.live_cli("plan", "--out", str(saved)).code == 0
    applied = workspace.live_cli(
        "apply", "--plan", str(saved), "--max-deletions", str(destructive), "--auto-approve"
    )
    assert applied.code == 0, applied
    done = [outcome for outcome, _ in applied.outcomes()]
    assert done.count("deleted") + done.count("updated") >= destructive, applied
    assert "Converged (target live)" in applied.out, applied


def test_two_concurrent_applies_never_both_write(tmp_path: Path) -> None:
    with ldap_sandbox(tmp_path) as (workspace, served):
        live = served.live
        planned = plan_json(workspace)
        roles_to_create = sum(
            1 for c in planned["changes"] if c["kind"] == "role" and c["action"] == "+"
        )
        assert roles_to_create > 0

        first, lines = workspace.spawn("apply", "--target", "live", "--auto-approve")
        assert lines.wait_for(lambda seen: "Applying:" in seen), lines.seen
        # Slow Okta's app endpoints from now on, so the first apply (its Okta writes and
        # its re-read are still ahead) holds the lock well past the second one's attempt.
        live.okta("POST", "/_emulator/latency", {"seconds": 2, "pathPrefix": "/api/v1/apps"})
        second = workspace.live_cli("apply", "--auto-approve")
        overlapped = first.poll() is None
        assert first.wait(timeout=300) == 0, lines.rest()
        live.okta("POST", "/_emulator/latency", {"seconds": 0})

        assert overlapped, "the first apply ended before the second tried: no overlap tested"
        assert second.code == 3, second
        assert "refused: another apply holds the lock" in second.err, second
        assert f"pid {first.pid} " in second.err, second
        assert "Applying:" not in second.out and not second.outcomes(), second

        # Every write was made once, by the first apply.
        assert live.aws_actions()["CreateRole"] == roles_to_create
        okta = live.okta_requests()
        assert okta[("PUT", "/api/v1/apps/{appId}")] == 1, okta
        finish(workspace, served)
