"""The S3 apply lock against moto's S3 over HTTP (conditional writes as S3 has them)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config

from engine.lock import LockHeld
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


def test_unreachable_s3_is_an_error() -> None:
    client = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(connect_timeout=1, retries={"max_attempts": 1}),
    )
    with pytest.raises(LockError, match="cannot write the apply lock"):
        S3Lock(client=client, url=URL, target="live", env={}).acquire()


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
