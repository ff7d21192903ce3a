"""The S3 apply lock against moto's S3 over HTTP (conditional writes as S3 has them)."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from engine.commands_lock import force_unlock as force_unlock_command
from engine.commands_lock import lock_status, shared_apply_lock
from engine.lock import LOCK_URL_ENV, LockHeld
from engine.providers.s3_lock import (
    LockError,
    LockLost,
    LockUrl,
    Renewal,
    S3Lock,
    force_unlock,
    run_url,
    s3_apply_lock,
)
from engine.sandbox.moto_server import MotoServer
from engine.spec import DesiredState, LockSpec, Settings

BUCKET = "okta-aws-locks"
URL = LockUrl(bucket=BUCKET, key="prod/apply.lock")


@pytest.fixture
def s3(aws_env: MotoServer) -> Any:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


def _lock(s3: Any, *, lease: int = 1800, env: dict[str, str] | None = None) -> S3Lock:
    return S3Lock(client=s3, url=URL, target="live", lease_seconds=lease, env=env or {})


def test_one_holder_at_a_time_and_the_refusal_names_it(s3: Any) -> None:
    github = {
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/access",
        "GITHUB_RUN_ID": "42",
    }
    first = _lock(s3, env=github)
    assert first.acquire() is None
    with pytest.raises(LockHeld) as refused:
        _lock(s3).acquire()
    message = str(refused.value)
    assert first.info.id in message
    assert "https://github.com/acme/access/actions/runs/42" in message
    assert first.info.holder in message
    assert first.release() is None
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    second = _lock(s3)
    assert second.acquire() is None
    second.release()


def test_racing_runners_exactly_one_wins(s3: Any) -> None:
    results: list[str] = []
    barrier = threading.Barrier(6)

    def runner() -> None:
        lock = _lock(s3)
        barrier.wait()
        try:
            lock.acquire()
            results.append("held")
        except LockHeld:
            results.append("refused")

    threads = [threading.Thread(target=runner) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["held"] + ["refused"] * 5


def test_expired_lease_is_taken_over_and_the_stale_holder_cannot_delete_it(s3: Any) -> None:
    stale = _lock(s3, lease=1)
    stale.acquire()
    time.sleep(2.2)  # S3's LastModified has one-second resolution
    fresh = _lock(s3)
    notice = fresh.acquire()
    assert notice is not None and stale.info.id in notice and "ran out" in notice
    # The crashed run comes back: its release must not delete the new holder's lock.
    assert stale.release() is not None
    with pytest.raises(LockLost):
        stale.etag = "stale"
        stale.renew()
    seen = fresh.read()
    assert seen is not None and seen.info.id == fresh.info.id
    fresh.release()


def test_renewal_keeps_a_slow_apply_locked(s3: Any) -> None:
    holder = _lock(s3, lease=2)
    with s3_apply_lock(holder, notify=lambda _: None) as renewal:
        time.sleep(3.5)  # longer than the lease: only renewals keep it
        with pytest.raises(LockHeld):
            _lock(s3).acquire()
        renewal.check()
    assert holder.read() is None  # released at the end


def test_a_run_whose_lock_was_taken_over_stops(s3: Any) -> None:
    holder = _lock(s3, lease=1)
    holder.acquire()
    # Another run takes the lock over (as after an expiry) while this one still runs.
    time.sleep(2.2)
    _lock(s3).acquire()
    renewal = Renewal(holder)
    with renewal:
        deadline = time.monotonic() + 5
        while renewal.lost is None and time.monotonic() < deadline:
            time.sleep(0.05)
    with pytest.raises(LockLost, match="stopped before the next write"):
        renewal.check()


def test_force_unlock_needs_the_right_id(s3: Any) -> None:
    holder = _lock(s3)
    holder.acquire()
    operator = _lock(s3)
    with pytest.raises(LockError, match="nothing removed"):
        force_unlock(lock=operator, lock_id="0" * 32)
    assert operator.read() is not None
    info = force_unlock(lock=operator, lock_id=holder.info.id)
    assert info.id == holder.info.id
    assert operator.read() is None


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        (lambda s3: s3.delete_bucket(Bucket=BUCKET), "cannot write the apply lock"),
        (
            lambda s3: s3.put_object(Bucket=BUCKET, Key=URL.key, Body=b"not json"),
            "does not hold an okta-aws lock",
        ),
    ],
)
def test_unusable_lock_is_an_error_never_a_pass(
    s3: Any, break_it: Callable[[Any], None], expected: str
) -> None:
    break_it(s3)
    with pytest.raises(LockError, match=expected):
        _lock(s3).acquire()


def _unreachable_client() -> Any:
    return boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",  # the discard port: connection refused
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(connect_timeout=1, retries={"max_attempts": 1}),
    )


def test_unreachable_s3_is_an_error() -> None:
    with pytest.raises(LockError, match="cannot write the apply lock"):
        S3Lock(client=_unreachable_client(), url=URL, target="live", env={}).acquire()


@pytest.mark.parametrize(
    "url", ["s3://bucket", "s3://bucket/", "https://bucket/key", "bucket/key", "s3:///key"]
)
def test_lock_url_must_name_an_object(url: str) -> None:
    with pytest.raises(LockError, match="OKTA_AWS_LOCK_URL"):
        LockUrl.parse(url, where="OKTA_AWS_LOCK_URL")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ""),
        (
            {"CI_JOB_URL": "https://gitlab.example/acme/-/jobs/7"},
            "https://gitlab.example/acme/-/jobs/7",
        ),
        (
            {
                "GITHUB_SERVER_URL": "https://ghe.example/",
                "GITHUB_REPOSITORY": "a/b",
                "GITHUB_RUN_ID": "9",
            },
            "https://ghe.example/a/b/actions/runs/9",
        ),
    ],
)
def test_run_url(env: dict[str, str], expected: str) -> None:
    assert run_url(env) == expected


def test_a_failed_release_is_said_and_names_how_the_lock_goes_away(s3: Any) -> None:
    holder = _lock(s3)
    notices: list[str] = []
    with s3_apply_lock(holder, notify=notices.append):
        holder.client = _unreachable_client()  # S3 gone by the end of the apply
    assert len(notices) == 1
    assert notices[0].startswith("warning: cannot release the apply lock")
    assert f"okta-aws force-unlock {holder.info.id}" in notices[0]
    seen = _lock(s3).read()
    assert seen is not None and seen.info.id == holder.info.id and not seen.expired


def test_lease_descriptions(s3: Any) -> None:
    holder = _lock(s3, lease=1)
    holder.acquire()
    seen = holder.read()
    assert seen is not None and not seen.expired
    assert "live for" in seen.describe_lease()
    time.sleep(2.2)
    seen = holder.read()
    assert seen is not None and seen.expired
    assert "EXPIRED" in seen.describe_lease()


# --- the commands: apply's lock, lock status, force-unlock ---------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _state(*, s3_url: str | None = None, lease: int = 1800) -> DesiredState:
    return DesiredState(
        root=Path("desired-state"),
        settings=Settings(lock=LockSpec(s3=s3_url, lease_seconds=lease)),
        digest="d" * 64,
    )


def test_apply_lock_is_taken_for_live_only_and_refuses_a_second_apply(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(LOCK_URL_ENV, raising=False)
    state = _state(s3_url=str(URL))
    err = io.StringIO()
    with shared_apply_lock(state=state, target="live", err=err) as check:
        assert check is not None and check() is None
        seen = _lock(s3).read()
        assert seen is not None and seen.info.desired_digest == state.digest
        with (
            pytest.raises(LockHeld, match=seen.info.id),
            shared_apply_lock(state=state, target="live", err=io.StringIO()),
        ):
            pytest.fail("two applies held the lock")
        with shared_apply_lock(state=state, target="sandbox", err=err) as sandbox_check:
            assert sandbox_check is None  # one machine's folder: the local lock serialises
    assert _lock(s3).read() is None
    assert err.getvalue() == ""


def test_without_an_s3_lock_a_live_apply_takes_only_the_local_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(LOCK_URL_ENV, raising=False)
    err = io.StringIO()
    with shared_apply_lock(state=_state(), target="live", err=err) as check:
        assert check is None
    assert err.getvalue() == ""  # a refusal or error that follows stays one line


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://no-such-bucket/apply.lock", "cannot write the apply lock s3://no-such-bucket/"),
        ("s3://okta-aws-locks", f"{LOCK_URL_ENV}: 's3://okta-aws-locks' is not an S3 object URL"),
    ],
)
def test_an_apply_lock_that_cannot_be_taken_is_an_error(
    s3: Any, monkeypatch: pytest.MonkeyPatch, url: str, expected: str
) -> None:
    monkeypatch.setenv(LOCK_URL_ENV, url)  # wins over the setting
    with (
        pytest.raises(LockError, match=expected),
        shared_apply_lock(state=_state(s3_url=str(URL)), target="live", err=io.StringIO()),
    ):
        pytest.fail("an apply proceeded unlocked")
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def _run(command: Callable[..., int], **kwargs: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = command(directory=Path("no-such-folder"), out=out, err=err, **kwargs)
    return code, out.getvalue(), err.getvalue()


def test_lock_status_and_force_unlock(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOCK_URL_ENV, str(URL))  # no desired state needed then
    assert _run(lock_status) == (0, f"{URL}: no lock (no apply holds it)\n", "")

    holder = _lock(s3, env={"CI_JOB_URL": "https://gitlab.example/j/1"})
    holder.acquire()
    code, out, _ = _run(lock_status)
    assert code == 0
    assert holder.info.id in out and "https://gitlab.example/j/1" in out and "live for" in out

    # The wrong id, an unanswered prompt, a 'no': all refused, the lock stays.
    code, _, err = _run(force_unlock_command, lock_id="0" * 32, auto_approve=True)
    assert code == 3 and "nothing removed" in err and holder.info.id in err
    code, _, err = _run(
        force_unlock_command, lock_id=holder.info.id, auto_approve=False, inp=io.StringIO()
    )
    assert code == 3 and "not confirmed" in err
    code, _, _ = _run(
        force_unlock_command, lock_id=holder.info.id, auto_approve=False, inp=_Terminal("no\n")
    )
    assert code == 3
    assert holder.read() is not None

    code, out, _ = _run(
        force_unlock_command, lock_id=holder.info.id, auto_approve=False, inp=_Terminal("yes\n")
    )
    assert code == 0 and f"Removed apply lock {holder.info.id}" in out
    assert holder.read() is None
    code, _, err = _run(force_unlock_command, lock_id=holder.info.id, auto_approve=True)
    assert code == 1 and "holds no lock" in err
    # The removed holder's own release later deletes nothing (its ETag is gone).
    assert holder.release() is not None


def test_lock_status_when_s3_cannot_be_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOCK_URL_ENV, str(URL))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    code, out, err = _run(lock_status)
    assert (code, out) == (1, "")
    assert err.startswith(f"error: cannot read the apply lock {URL}: ") and err.count("\n") == 1


def test_renewals_failing_for_a_whole_lease_lose_the_lock(s3: Any) -> None:
    holder = _lock(s3, lease=1)
    holder.acquire()
    holder.client = _unreachable_client()
    renewal = Renewal(holder)
    with renewal:
        deadline = time.monotonic() + 10
        while renewal.lost is None and time.monotonic() < deadline:
            time.sleep(0.05)
    reason = renewal.stop_reason()
    assert reason is not None and "for longer than the lease" in reason
    assert "stopped before the next write" in reason


def test_a_renewal_that_fails_once_keeps_the_lock(s3: Any) -> None:
    holder = _lock(s3, lease=3)
    holder.acquire()
    working = holder.client
    holder.client = _unreachable_client()
    renewal = Renewal(holder)
    with renewal:
        time.sleep(1.5)  # one renewal (every second) fails
        holder.client = working
        time.sleep(1.5)  # the next succeeds, within the lease
        assert renewal.stop_reason() is None
        renewal.check()
    seen = _lock(s3).read()
    assert seen is not None and seen.info.id == holder.info.id


# --- the IAM policy the README gives is enough, and less is denied -----------------------------

README_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]


def _client_allowed(s3: Any, *, name: str, actions: list[str]) -> Any:
    """An S3 client for a new IAM user allowed `actions` on the lock key only."""
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName=name)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": actions,
                "Resource": f"arn:aws:s3:::{BUCKET}/{URL.key}",
            }
        ],
    }
    iam.put_user_policy(UserName=name, PolicyName="lock", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.fixture
def iam_user(s3: Any, aws_env: MotoServer) -> Iterator[Callable[..., Any]]:
    """Makes IAM users' S3 clients; moto checks IAM policies once `_enforce` is called
    (it does not by default), until the test ends."""

    def allowed(*, name: str, actions: list[str]) -> Any:
        return _client_allowed(s3, name=name, actions=actions)

    yield allowed
    requests.post(f"{aws_env.endpoint_url}/moto-api/reset-auth", data="inf", timeout=10)


def _enforce(server: MotoServer) -> None:
    requests.post(f"{server.endpoint_url}/moto-api/reset-auth", data="0", timeout=10)


def test_the_readme_policy_is_enough_and_less_is_denied(
    aws_env: MotoServer, iam_user: Callable[..., Any]
) -> None:
    operator = iam_user(name="apply", actions=README_ACTIONS)
    reader = iam_user(name="reader", actions=["s3:GetObject"])
    _enforce(aws_env)
    with pytest.raises(LockError, match=r"cannot write the apply lock .*AccessDenied"):
        S3Lock(client=reader, url=URL, target="live", env={}).acquire()
    holder = S3Lock(client=operator, url=URL, target="live", lease_seconds=30, env={})
    with s3_apply_lock(holder, notify=pytest.fail) as renewal:
        holder.renew()
        with pytest.raises(LockHeld):
            S3Lock(client=operator, url=URL, target="live", env={}).acquire()
        renewal.check()
    assert holder.read() is None
