"""One apply at a time across machines: the S3 lock between separate runners, end to end.

Each runner is its own `python -m engine` process with its own HOME and its own local
lock folder (OKTA_AWS_LOCK_DIR), as two CI jobs on two fresh VMs would be: nothing but
the lock object in S3 (moto's S3, served by `sandbox serve`) can keep them apart. The
systems are read through their own APIs, so "no write" means none reached them.

One served sandbox (slapd) is shared, in file order: the refusals first (they write
nothing), a run that loses its lock mid-way, then the crash taken over after its lease,
then the crash removed by force-unlock.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.harness import (
    OUTCOME_LINE,
    Run,
    Served,
    Workspace,
    desired_copy,
    ldap_flavour,
    ldap_sandbox,
)
from tests.e2e.inventory import assert_exactly_desired
from tests.e2e.live_systems import Live

pytestmark = pytest.mark.slapd
BUCKET = "okta-aws-e2e-locks"
LOCK_URL = f"s3://{BUCKET}/live/apply.lock"
LEASE = 12  # seconds: short, so a crashed holder's lock runs out within the test
# "lock 0123…ef held by user@host (pid 42" in refusals and `lock status`
HOLDER = re.compile(r"lock ([0-9a-f]{32}) held by \S+ \(pid (\d+)")
PROD_PAYMENTS = "314159265358"  # converged at reset: its roles exist, tagged as ours
_AWS_READS = re.compile(r"^(Get|List|AssumeRole$|GetCallerIdentity$)")

Sandbox = tuple[Workspace, Served]


def with_lock(files: dict[str, Any]) -> None:
    files["settings.yaml"]["settings"]["lock"] = {"s3": LOCK_URL, "lease_seconds": LEASE}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with ldap_sandbox(tmp_path_factory.mktemp("s3lock"), edits=[with_lock]) as (workspace, served):
        s3(served.live).create_bucket(Bucket=BUCKET)
        yield workspace, served


def s3(live: Live) -> Any:
    return live.aws.client("s3", endpoint_url=live.env["AWS_ENDPOINT_URL"])


def runner(workspace: Workspace, name: str, **env: str) -> Workspace:
    """Another machine: the same desired state and systems, its own HOME and local lock."""
    other = copy.copy(workspace)
    home = workspace.root / "runners" / name
    (home / "locks").mkdir(parents=True, exist_ok=True)
    other.env = {
        **workspace.env,
        "HOME": str(home),
        "OKTA_AWS_LOCK_DIR": str(home / "locks"),
        **env,
    }
    return other


def recorded(live: Live) -> list[dict[str, Any]]:
    text = requests.get(
        f"{live.env['AWS_ENDPOINT_URL']}/moto-api/recorder/download-recording", timeout=30
    ).text
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def iam_writes(live: Live) -> int:
    """IAM/STS write actions moto received (S3 requests carry no Action: not counted)."""
    actions: Counter[str] = Counter()
    for entry in recorded(live):
        body = entry.get("body") or ""
        if entry.get("body_encoded"):
            body = base64.b64decode(body).decode(errors="replace")
        match = re.search(r"(?:^|&)Action=([A-Za-z]+)", body)
        if match:
            actions[match.group(1)] += 1
    return sum(n for action, n in actions.items() if not _AWS_READS.match(action))


def lock_requests(live: Live) -> Counter[str]:
    """Requests on the lock object moto received, by HTTP method."""
    return Counter(
        str(entry.get("method"))
        for entry in recorded(live)
        if f"/{BUCKET}/live/apply.lock" in str(entry.get("url", ""))
    )


def marks(live: Live) -> tuple[int, int, Any]:
    return live.okta_writes(), iam_writes(live), live.directory_marker()


def holder_in(text: str) -> tuple[str, int]:
    match = HOLDER.search(text)
    assert match, text
    return match.group(1), int(match.group(2))


def refused_by(run: Run, pid: int) -> str:
    """The refusal's lock id, after checking it is S3's and names the holder `pid`."""
    assert run.code == 3, run
    assert f"refused: another apply holds {LOCK_URL}: lock " in run.err, run
    lock_id, holder_pid = holder_in(run.err)
    assert holder_pid == pid, run
    assert "Applying:" not in run.out and not run.outcomes(), run
    return lock_id


def slow_okta(live: Live, seconds: float) -> None:
    live.okta("POST", "/_emulator/latency", {"seconds": seconds, "pathPrefix": "/api/v1/apps"})


# --- refusals: nothing is written ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"OKTA_AWS_LOCK_URL": f"s3://no-such-bucket-{BUCKET}/apply.lock"}, "NoSuchBucket"),
        ({"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9"}, "Could not connect"),
        ({"OKTA_AWS_LOCK_URL": f"https://{BUCKET}/apply.lock"}, "is not an S3 object URL"),
    ],
    ids=["bucket-missing", "endpoint-refuses", "not-an-s3-url"],
)
def test_a_lock_that_cannot_be_taken_refuses_the_apply_and_nothing_is_written(
    shared: Sandbox, env: dict[str, str], expected: str
) -> None:
    workspace, served = shared
    before = marks(served.live)
    run = runner(workspace, "unlucky", **env).live_cli("apply", "--auto-approve")
    assert run.code == 1, run
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run
    assert expected in lines[0] and "Traceback" not in run.err, run
    assert "Applying:" not in run.out, run
    assert marks(served.live) == before


def test_plan_says_when_applies_are_serialised_on_one_machine_only(
    shared: Sandbox, tmp_path: Path
) -> None:
    workspace, _ = shared
    unlocked = desired_copy(tmp_path, edits=[ldap_flavour])
    run = runner(workspace, "planner").live_cli("plan", "-d", str(unlocked))
    assert run.code == 0, run
    assert "note: applies to target live are serialised on this machine only" in run.err, run


# --- a run that loses its lock stops --------------------------------------------------------------


def test_a_run_whose_lock_is_taken_stops_before_its_next_write_stage(shared: Sandbox) -> None:
    workspace, served = shared
    live = served.live
    holder, lines = runner(workspace, "loser").spawn("apply", "--target", "live", "--auto-approve")
    foreign = {
        "kind": "okta-aws/lock",
        "id": "f" * 32,
        "holder": "someone@elsewhere",
        "pid": 1,
        "lease_seconds": LEASE,
    }
    try:
        assert lines.wait_for(lambda seen: "Applying:" in seen), lines.seen
        slow_okta(live, 2)  # its Okta stages are ahead and slow: stage boundaries to come
        # Another run's lock where ours was (as after a takeover): the next renewal fails.
        s3(live).put_object(Bucket=BUCKET, Key="live/apply.lock", Body=json.dumps(foreign))
        assert holder.wait(timeout=120) == 1, lines.rest()
    finally:
        if holder.poll() is None:
            holder.kill()
        slow_okta(live, 0)
    output = lines.rest()
    assert f"error: lost the apply lock: another run took the apply lock {LOCK_URL} over" in output
    stopped = re.search(r"(\d+) were not started", output)
    assert stopped and int(stopped.group(1)) > 0, output
    assert "Converged" not in output and "NOT converged" not in output  # no re-plan
    assert f"the apply lock {LOCK_URL} was no longer ours; left it as it is" in output
    body = s3(live).get_object(Bucket=BUCKET, Key="live/apply.lock")["Body"].read()
    assert json.loads(body)["id"] == foreign["id"]  # the other run's lock is left alone
    s3(live).delete_object(Bucket=BUCKET, Key="live/apply.lock")


# --- two runners, a crash, a takeover after the lease ------------------------------------------
# --- two runners, a crash, a takeover after the lease ------------------------------------------


def test_one_runner_writes_the_other_is_refused_even_after_the_lease_and_after_a_crash(
    shared: Sandbox,
) -> None:
    workspace, served = shared
    live = served.live
    first, second = runner(workspace, "first"), runner(workspace, "second")
    for role in ("Admin", "ReadOnly"):  # AWS writes for the holder to make before it crashes
        live.iam(PROD_PAYMENTS).update_role(RoleName=role, Description="edited by hand")

    holder, lines = first.spawn("apply", "--target", "live", "--auto-approve")
    try:
        assert lines.wait_for(lambda seen: "Applying:" in seen), lines.seen
        locked_by = time.monotonic()  # the lock was taken before the plan was made
        # Its next call to Okta's app (a write, or the re-plan's read) hangs for longer
        # than the test waits: the holder is alive and mid-apply until it is killed.
        slow_okta(live, 4 * LEASE)
        time.sleep(LEASE + 1)  # past the lease: only its renewals keep the lock
        refused = second.live_cli("apply", "--auto-approve")
        assert holder.poll() is None, "the holder ended before the second runner tried"
        assert time.monotonic() - locked_by > LEASE
        lock_id = refused_by(refused, holder.pid)

        holder.send_signal(signal.SIGKILL)  # mid-apply: no release, the lock stays
        holder.wait(timeout=30)
        killed_at = time.monotonic()
        slow_okta(live, 0)
        # Its last renewal was at most LEASE/3 before the kill: the lease still runs.
        again = second.live_cli("apply", "--auto-approve")
        assert refused_by(again, holder.pid) == lock_id, f"{again.seconds:.1f} s after the kill"
        status = second.cli("lock", "status")
        assert status.code == 0 and lock_id in status.out, status
    finally:
        if holder.poll() is None:
            holder.kill()
        slow_okta(live, 0)
    written = [m.group(1) for line in lines.rest().splitlines() if (m := OUTCOME_LINE.match(line))]

    # Once the lease has run out (S3's clock), the next apply takes the lock over.
    while "EXPIRED" not in (status := second.cli("lock", "status")).out:
        assert time.monotonic() - killed_at < 3 * LEASE, status
        time.sleep(1)
    took_over = second.live_cli("apply", "--auto-approve")
    assert took_over.code == 0, took_over
    assert f"took over the expired apply lock {LOCK_URL} (lock {lock_id}" in took_over.err
    assert s3(live).list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0  # released
    assert "updated" in written, "the crash came before any write"
    # Nothing lost: once Okta imports the directory, the live world is exactly the desired one.
    live.import_directory()
    final = second.live_cli("apply", "--auto-approve")
    assert "Converged (target live): the re-plan is empty." in final.out, final
    assert_exactly_desired(workspace.desired, live)


# --- a crash removed by force-unlock --------------------------------------------------------------


def test_force_unlock_removes_a_crashed_holders_lock_and_only_with_its_id(
    shared: Sandbox,
) -> None:
    workspace, served = shared
    live = served.live
    crashed, operator = runner(workspace, "crashed"), runner(workspace, "operator")
    drift = PROD_PAYMENTS  # a role edited by hand, for the apply to fix
    live.iam(drift).update_role(RoleName="Admin", Description="edited by hand")

    slow_okta(live, 5)  # the holder's read of the Okta app: it holds the lock meanwhile
    holder, lines = crashed.spawn("apply", "--target", "live", "--auto-approve")
    try:
        deadline = time.monotonic() + 60
        status = operator.cli("lock", "status")
        while f"(pid {holder.pid}" not in status.out and time.monotonic() < deadline:
            status = operator.cli("lock", "status")
        lock_id, pid = holder_in(status.out)
        assert pid == holder.pid and "live for" in status.out, status
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
        slow_okta(live, 0)
    assert "Applying:" not in lines.rest()  # it crashed while planning: nothing written

    wrong = operator.cli("force-unlock", "0" * 32, "--auto-approve")
    assert wrong.code == 3 and "nothing removed" in wrong.err and lock_id in wrong.err, wrong
    unconfirmed = operator.cli("force-unlock", lock_id)  # stdin is not a terminal
    assert unconfirmed.code == 3 and "not confirmed" in unconfirmed.err, unconfirmed
    assert operator.cli("lock", "status").out.count(lock_id) == 1

    removed = operator.cli("force-unlock", lock_id, "--auto-approve")
    assert removed.code == 0 and f"Removed apply lock {lock_id}" in removed.out, removed
    assert "no lock" in operator.cli("lock", "status").out

    live.record_aws()
    applied = operator.live_cli("apply", "--auto-approve")
    assert applied.code == 0, applied
    assert "took over" not in applied.err, applied
    assert any(o == "updated" and drift in c for o, c in applied.outcomes()), applied
    # The lock's own cost to this apply: one PUT to take it, one DELETE to release it
    # (a renewal PUT only every LEASE/3 seconds).
    calls = lock_requests(live)
    assert calls["DELETE"] == 1, calls
    assert 1 <= calls["PUT"] <= 1 + int(applied.seconds / (LEASE / 3)) + 1, calls
    assert calls["GET"] == 0, calls
