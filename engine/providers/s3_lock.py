"""One apply at a time across machines: a lock object in S3, taken with conditional writes.

The OS file lock (`engine.lock`) protects one machine, and a hosted CI runner is a fresh
VM for every job: an apply on merge, a scheduled reconcile and a person at a laptop can
otherwise write the same accounts at once. Like Terraform's S3 backend since 1.10
(`use_lockfile`), the lock is one object:

- taken with `PutObject` + `If-None-Match: *`, which S3 refuses (412) when the key exists,
  so exactly one runner creates it;
- renewed by overwriting it with `If-Match` on the ETag we last wrote, so a runner that
  lost the lock (taken over after its lease ran out) learns it instead of renewing
  someone else's lock;
- released with a conditional `DeleteObject` (`If-Match`), so no run ever deletes a lock
  it does not hold;
- taken over once its lease has expired, again with `If-Match` on the stale object's
  ETag, so two runners racing for an expired lock cannot both win.

Expiry is judged on S3's clock (the object's `LastModified` against the `Date` of the
response that read it), never on a runner's, whose clock may be off by minutes. A lock
that cannot be read, written or reached is an error: an apply never proceeds unlocked.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from engine.lock import LockHeld
from engine.spec import DEFAULT_LOCK_LEASE_SECONDS

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOCK_KIND = "okta-aws/lock"
DEFAULT_LEASE_SECONDS = DEFAULT_LOCK_LEASE_SECONDS
DEFAULT_REGION = "us-east-1"  # S3 redirects a client signing for the wrong region
# An unreachable S3 must refuse the apply in seconds, not minutes: short connect
# timeouts, and botocore's standard retries (3 attempts, backoff, throttling handled).
_CLIENT_CONFIG = Config(
    connect_timeout=5,
    read_timeout=20,
    retries={"mode": "standard", "max_attempts": 3},
)
# Renew well before the lease runs out: three tries per lease survive two failed ones.
RENEWALS_PER_LEASE = 3
_PRECONDITION_FAILED = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict"})
_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})


class LockError(Exception):
    """The lock could not be read, taken or released (S3 unreachable, access denied, a
    damaged lock object, a wrong id): the message says what and what to do."""


class LockLost(Exception):
    """The lease could not be renewed, or another run took the lock over."""


class LockMismatch(LockError):
    """force-unlock named a lock that is not the one held (a refusal, not a failure)."""


def s3_client() -> S3Client:
    """An S3 client from the standard credential chain and endpoint variables
    (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3), as every other AWS call of okta-aws."""
    try:
        session = boto3.session.Session()
        return session.client(
            "s3", region_name=session.region_name or DEFAULT_REGION, config=_CLIENT_CONFIG
        )
    except (BotoCoreError, ValueError) as exc:
        raise LockError(f"cannot make an S3 client for the apply lock: {exc}") from None


@dataclass(frozen=True)
class LockUrl:
    bucket: str
    key: str

    @staticmethod
    def parse(url: str, *, where: str) -> LockUrl:
        """`s3://BUCKET/KEY`; `where` names the setting or variable for the error."""
        parsed = urlparse(url.strip())
        key = parsed.path.lstrip("/")
        if parsed.scheme != "s3" or not parsed.netloc or not key or key.endswith("/"):
            raise LockError(f"{where}: {url!r} is not an S3 object URL like s3://BUCKET/KEY")
        return LockUrl(bucket=parsed.netloc, key=key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class LockInfo:
    """What the lock object holds: enough for a refused run to say who holds it."""

    id: str
    holder: str  # user@host
    pid: int
    run_url: str  # the CI run, when known; "" otherwise
    target: str
    desired_digest: str
    taken_at: str  # ISO 8601, UTC, by the taking runner's clock (for people to read)
    lease_seconds: int

    def to_json(self) -> bytes:
        return json.dumps({"kind": LOCK_KIND, **asdict(self)}, sort_keys=True).encode()

    @staticmethod
    def from_json(body: bytes, *, url: LockUrl) -> LockInfo:
        try:
            data = json.loads(body)
            if not isinstance(data, dict) or data.get("kind") != LOCK_KIND:
                raise ValueError("not an okta-aws lock")
            return LockInfo(
                id=str(data["id"]),
                holder=str(data["holder"]),
                pid=int(data["pid"]),
                run_url=str(data.get("run_url", "")),
                target=str(data.get("target", "")),
                desired_digest=str(data.get("desired_digest", "")),
                taken_at=str(data.get("taken_at", "")),
                lease_seconds=int(data["lease_seconds"]),
            )
        except (ValueError, KeyError, TypeError):
            raise LockError(
                f"{url} does not hold an okta-aws lock (damaged or foreign object); "
                "inspect it, then delete it by hand if it is stale"
            ) from None

    def describe(self) -> str:
        run = f", run {self.run_url}" if self.run_url else ""
        return (
            f"lock {self.id} held by {self.holder} (pid {self.pid}{run}) for target "
            f"{self.target}, since {self.taken_at}"
        )


def run_url(env: Mapping[str, str]) -> str:
    """The CI run's address: GitHub Actions' or GitLab's, else ""."""
    server, repo, run = (
        env.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if server and repo and run:
        return f"{server.rstrip('/')}/{repo}/actions/runs/{run}"
    return env.get("CI_JOB_URL", "")


@dataclass(frozen=True)
class Seen:
    """A lock object as read: its content, ETag, and how long ago it was last written
    (taken or renewed) by S3's clock; None when S3 did not say."""

    info: LockInfo
    etag: str
    age_seconds: float | None

    @property
    def expired(self) -> bool:
        return self.age_seconds is not None and self.age_seconds > self.info.lease_seconds

    def describe_lease(self) -> str:
        lease = self.info.lease_seconds
        if self.age_seconds is None:
            return f"lease {lease} s (its age is unknown)"
        age = int(self.age_seconds)
        if self.expired:
            return (
                f"lease {lease} s, EXPIRED (last renewed {age} s ago): the next apply takes it over"
            )
        return f"lease {lease} s, last renewed {age} s ago, live for {lease - age} s more"


def _code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(error.get("Code") or status or "")


def _server_time(response: Mapping[str, Any]) -> datetime | None:
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        return parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        return None


class S3Lock:
    """The lock at `url` for one run. `client` is a boto3 S3 client."""

    def __init__(
        self,
        *,
        client: S3Client,
        url: LockUrl,
        target: str,
        desired_digest: str = "",
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        env: Mapping[str, str] | None = None,
    ) -> None:
        source = os.environ if env is None else env
        self.client = client
        self.url = url
        self.info = LockInfo(
            id=uuid.uuid4().hex,
            holder=f"{_user()}@{socket.gethostname()}",
            pid=os.getpid(),
            run_url=run_url(source),
            target=target,
            desired_digest=desired_digest,
            taken_at=datetime.now(UTC).isoformat(timespec="seconds"),
            lease_seconds=lease_seconds,
        )
        self.etag: str | None = None

    # --- S3 calls, each translating failures into LockError -----------------------------

    def _call(self, what: str, call: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return call(Bucket=self.url.bucket, Key=self.url.key, **kwargs)
        except ClientError:
            raise
        except BotoCoreError as exc:
            raise LockError(f"cannot {what} the apply lock {self.url}: {exc}") from None

    def read(self) -> Seen | None:
        """The lock object as it is now, or None when there is none."""
        try:
            response = self._call("read", self.client.get_object)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                return None
            raise LockError(f"cannot read the apply lock {self.url}: {exc}") from None
        info = LockInfo.from_json(response["Body"].read(), url=self.url)
        now = _server_time(response)
        modified = response.get("LastModified")
        age = (now - modified).total_seconds() if now is not None and modified else None
        return Seen(info=info, etag=str(response["ETag"]), age_seconds=age)

    def _put(self, **condition: str) -> bool:
        """Write our lock object under `condition`; False when the condition failed."""
        try:
            response = self._call(
                "write",
                self.client.put_object,
                Body=self.info.to_json(),
                ContentType="application/json",
                **condition,
            )
        except ClientError as exc:
            if _code(exc) in _PRECONDITION_FAILED:
                return False
            raise LockError(f"cannot write the apply lock {self.url}: {exc}") from None
        self.etag = str(response["ETag"])
        return True

    # --- The lock's life ----------------------------------------------------------------

    def acquire(self) -> str | None:
        """Take the lock; a notice when an expired lock was taken over, else None.

        Raises LockHeld (naming the holder) when another run holds a live lease, and
        LockError when S3 cannot be used."""
        for _ in range(3):  # the holder may release between our write and our read
            if self._put(IfNoneMatch="*"):
                return None
            seen = self.read()
            if seen is None:
                continue
            if not seen.expired:
                raise LockHeld(f"another apply holds {self.url}: {seen.info.describe()}")
            if self._put(IfMatch=seen.etag):
                return (
                    f"took over the expired apply lock {self.url} "
                    f"({seen.info.describe()}; its lease of {seen.info.lease_seconds} s ran out)"
                )
        raise LockHeld(f"another apply keeps taking {self.url}; try again")

    def renew(self) -> None:
        """Extend the lease; LockLost when the lock is no longer ours, LockError when S3
        could not be reached this time."""
        if self.etag is None:
            raise LockLost(f"the apply lock {self.url} was never taken")
        if not self._put(IfMatch=self.etag):
            raise LockLost(f"another run took the apply lock {self.url} over")

    def release(self) -> str | None:
        """Delete the lock if it is still ours; a notice when it was not."""
        if self.etag is None:
            return None
        try:
            self._call("release", self.client.delete_object, IfMatch=self.etag)
        except ClientError as exc:
            if _code(exc) in _PRECONDITION_FAILED or _code(exc) in _NOT_FOUND:
                return f"the apply lock {self.url} was no longer ours; left it as it is"
            raise LockError(f"cannot release the apply lock {self.url}: {exc}") from None
        finally:
            self.etag = None
        return None


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


class Renewal:
    """Renews a held lock in the background; `check()` before each write stage."""

    def __init__(self, lock: S3Lock) -> None:
        self.lock = lock
        self.interval = max(lock.info.lease_seconds / RENEWALS_PER_LEASE, 0.05)
        self.stopped = threading.Event()
        self.lost: str | None = None
        self.thread = threading.Thread(target=self._run, name="okta-aws-lock-renewal", daemon=True)

    def _run(self) -> None:
        last_success = time.monotonic()
        while not self.stopped.wait(self.interval):
            try:
                self.lock.renew()
                last_success = time.monotonic()
            except LockLost as exc:  # someone else's lock now: it never comes back
                self.lost = str(exc)
                return
            except Exception as exc:  # S3 briefly away: may pass while the lease lasts
                # (anything else too: a renewal thread that died unnoticed would let the
                # lease run out under a running apply)
                if time.monotonic() - last_success >= self.lock.info.lease_seconds:
                    self.lost = f"{exc} (for longer than the lease)"
                    return

    def check(self) -> None:
        if self.lost is not None:
            raise LockLost(self.stop_reason())

    def stop_reason(self) -> str | None:
        """Why the apply must stop before its next write stage; None while the lock holds
        (`engine.apply.apply_changes`'s `before_stage`)."""
        if self.lost is None:
            return None
        return f"lost the apply lock: {self.lost}; stopped before the next write"

    def __enter__(self) -> Renewal:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        self.thread.join()


@contextmanager
def s3_apply_lock(lock: S3Lock, *, notify: Callable[[str], None]) -> Iterator[Renewal]:
    """Hold `lock` for the body, renewing it; release it at the end, whatever happens.

    A release that fails (S3 gone at the end) does not undo what the body did: it is
    said, with how the lock goes away (its lease, or force-unlock)."""
    notice = lock.acquire()
    if notice:
        notify(notice)
    try:
        with Renewal(lock) as renewal:
            yield renewal
    finally:
        try:
            notice = lock.release()
        except LockError as exc:
            notice = (
                f"warning: {exc}; it stays until its lease of {lock.info.lease_seconds} s "
                f"runs out, or okta-aws force-unlock {lock.info.id} removes it"
            )
        if notice:
            notify(notice)


def held_lock(*, lock: S3Lock, lock_id: str) -> Seen:
    """The lock object if it is lock `lock_id`; LockError when there is none,
    LockMismatch when another lock is held."""
    seen = lock.read()
    if seen is None:
        raise LockError(f"{lock.url} holds no lock; nothing to remove")
    if seen.info.id != lock_id:
        raise LockMismatch(
            f"{lock.url} holds {seen.info.describe()}, not lock {lock_id}; nothing removed"
        )
    return seen


def remove(*, lock: S3Lock, seen: Seen) -> None:
    """Delete the lock object as it was `seen`, and only if it is still so."""
    lock.etag = seen.etag
    if lock.release() is not None:
        raise LockMismatch(f"{lock.url} changed since it was read; nothing removed")


def force_unlock(*, lock: S3Lock, lock_id: str) -> LockInfo:
    """Delete the lock whose id is `lock_id` (and only it); the info it held."""
    seen = held_lock(lock=lock, lock_id=lock_id)
    remove(lock=lock, seen=seen)
    return seen.info
