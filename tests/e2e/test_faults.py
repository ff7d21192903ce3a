"""Faults during apply: a killed process, failing Okta writes, a throttling storm.

An apply is many writes to three systems with no transaction around them, so the only
safe design is level-based: whatever state a failure leaves, the next run reads it and
finishes the job. Each test here breaks an apply of the brownfield sandbox for real
(SIGKILL to the `python -m engine apply` process once it has printed k outcomes;
HTTP 500s from the Okta emulator; 429s from Okta and `Throttling` from AWS), then runs
the CLI again and checks the end state through each system's own API: exactly the
desired resources, each once, and an empty re-plan.
"""

from __future__ import annotations

import os
import signal
from email.utils import parsedate_to_datetime

import pytest
import requests

from engine.sandbox.okta_emulator import OktaEmulator
from tests.e2e.harness import OUTCOME_LINE, Served, Workspace, findings, finish, plan_json
from tests.e2e.throttle_proxy import ThrottlingProxy

Sandbox = tuple[Workspace, Served]


def kill_after(workspace: Workspace, k: int) -> list[str]:
    """Run apply and SIGKILL it once it has printed k outcomes; the ids it printed."""
    process, lines = workspace.spawn("apply", "--target", "live", "--auto-approve")
    try:
        reached = lines.wait_for(lambda seen: sum(bool(OUTCOME_LINE.match(s)) for s in seen) >= k)
    finally:
        os.kill(process.pid, signal.SIGKILL)
    assert reached, lines.seen
    assert process.wait(timeout=60) == -signal.SIGKILL
    assert not any(line.startswith("Applied:") for line in lines.seen), "killed too late"
    return [m.group(2) for s in lines.seen if (m := OUTCOME_LINE.match(s))]


@pytest.mark.slapd
def test_applies_killed_after_k_changes_then_a_rerun_converges(ldap_served: Sandbox) -> None:
    """Killed three times in a row, after the 1st, the 20th and the 60th outcome of what
    was left, landing in the AWS, directory-group and membership stages."""
    workspace, served = ldap_served
    before = plan_json(workspace)
    for k in (1, 20, 60):
        planned = {c["id"] for c in before["changes"]}
        assert len(planned) > k + 15, "k must fall well inside the apply"
        done = kill_after(workspace, k)
        assert len(done) >= k
        # What the kill left: a part of the same plan, nothing new (no duplicate to
        # remove, no new finding such as a stray group); the kernel freed the lock.
        after = plan_json(workspace)
        remaining = {c["id"] for c in after["changes"]}
        assert remaining < planned, remaining - planned
        assert not remaining & {d for d in done if not d.startswith("app_assignment:")}
        assert findings(after) == findings(before)
        before = after
    finish(workspace, served)


@pytest.mark.slapd
def test_failing_okta_writes_stop_only_their_dependents(ldap_served: Sandbox) -> None:
    workspace, served = ldap_served
    live = served.live
    # Okta's writes to the app (its settings, then the assignments) answer 500.
    prefix = f"/api/v1/apps/{live.app_id()}"
    live.okta(
        "POST",
        "/_emulator/faults",
        {"kind": "server_error", "status": 500, "method": "PUT", "pathPrefix": prefix},
    )
    broken = workspace.live_cli("apply", "--auto-approve")
    assert broken.code == 1, broken
    assert "NOT converged" in broken.err, broken
    outcomes = broken.outcomes()
    okta = {cid: o for o, cid in outcomes if cid.startswith(("okta_app:", "app_assignment:"))}
    assert [o for cid, o in okta.items() if cid.startswith("okta_app:")] == ["failed"], broken
    assert set(okta.values()) <= {"failed", "skipped", "waiting"}, broken
    # AWS and the directory were not held up by Okta's failures.
    others = [o for o, cid in outcomes if cid not in okta]
    assert others and set(others) <= {"created", "updated", "deleted"}, broken
    left = plan_json(workspace)["changes"]
    assert left and all(c["system"] == "okta" for c in left), left

    live.okta("POST", "/_emulator/reset")  # the outage is over
    finish(workspace, served)


@pytest.mark.slapd
def test_a_throttling_storm_during_apply_converges(ldap_served: Sandbox) -> None:
    workspace, served = ldap_served
    live = served.live
    # Okta: every 2nd API request answers 429 (resetIn 0: the SDK waits 1 s) until 6 have.
    live.okta(
        "POST", "/_emulator/faults", {"kind": "rate_limit", "every": 2, "count": 6, "resetIn": 0}
    )
    # AWS: every 3rd first attempt answers Throttling, 15 in all, at the engine's endpoint.
    with ThrottlingProxy(upstream=live.env["AWS_ENDPOINT_URL"], every=3, budget=15) as proxy:
        workspace.env["AWS_ENDPOINT_URL"] = proxy.url
        applied = workspace.live_cli("apply", "--auto-approve")
        assert applied.code == 0, applied
        assert not [o for o in applied.outcomes() if o[0] in ("failed", "skipped")], applied
        calls = applied.calls()
        # The storm happened and the engine saw every throttled attempt as a retry.
        assert proxy.throttled == 15
        assert calls["aws"][2] == proxy.throttled, calls
        assert calls["okta"][2] == 6, calls
        finish(workspace, served)
        assert proxy.forwarded > 0


def test_the_emulator_admin_api_honours_reset_in_zero() -> None:
    """Found by the storm test: `resetIn: 0` over HTTP was taken as 1 (`or 1`), so every
    429 cost the SDK 2 s instead of the 1 s the Python API's reset_in=0 gives."""
    with OktaEmulator.start(token="e2e-token") as emulator:
        headers = {"Authorization": "SSWS e2e-token"}
        posted = requests.post(
            f"{emulator.url}/_emulator/faults",
            json={"kind": "rate_limit", "count": 1, "resetIn": 0},
            headers=headers,
            timeout=10,
        )
        assert posted.status_code == 204, posted.text
        limited = requests.get(f"{emulator.url}/api/v1/groups", headers=headers, timeout=10)
    assert limited.status_code == 429
    sent = parsedate_to_datetime(limited.headers["Date"]).timestamp()
    assert int(limited.headers["X-Rate-Limit-Reset"]) <= sent
