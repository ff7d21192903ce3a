"""One apply at a time per target: an OS file lock with the holder written inside, and
which lock serialises applies across machines.

`fcntl.flock` is released by the kernel when the holding process dies, so a crashed
apply never leaves a lock that blocks the next run (no stale locks to clean by hand);
the holder's description (pid, host, user, command, start time) is written into the file
so a refused run can say who holds it. That lock is local to the machine running the
applies, and a hosted CI runner is a fresh machine for every job: applies to target
live also take the S3 lock (`engine.providers.s3_lock`) named by `settings.lock.s3` or
OKTA_AWS_LOCK_URL, which `shared_lock_setting` resolves here, free of any provider.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from engine.spec import LockSpec

LOCK_URL_ENV = "OKTA_AWS_LOCK_URL"
NOT_SERIALISED = (
    "note: applies to target live are serialised on this machine only; set "
    f"settings.lock.s3 or {LOCK_URL_ENV} to serialise them across machines (CI runners)"
)


class LockHeld(Exception):
    """Another apply holds the lock; the message names the holder."""


class LockUnavailable(Exception):
    """The lock file cannot be made (an unwritable folder); the message says which."""


def _holder_text(handle: IO[str]) -> str:
    handle.seek(0)
    try:
        holder = json.loads(handle.read() or "{}")
    except json.JSONDecodeError:
        return "an unknown holder"
    started = holder.get("started")
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(started)) + " UTC" if started else "?"
    return (
        f"pid {holder.get('pid', '?')} on {holder.get('host', '?')} "
        f"(user {holder.get('user', '?')}, {holder.get('command', 'apply')}, since {since})"
    )


@contextmanager
def apply_lock(
    *, path: Path, command: str, wait_seconds: float = 0.0, holder: str = "apply"
) -> Iterator[None]:
    """Hold the lock for the body; raise LockHeld if another process holds it.

    With `wait_seconds` > 0 the lock is retried until then before giving up. `holder`
    names what holds such a lock, for the refusal message.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+", encoding="utf-8")
    except OSError as error:
        raise LockUnavailable(
            f"cannot create the lock {path} ({error.strerror or error}): set "
            "OKTA_AWS_LOCK_DIR to a writable folder"
        ) from None
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockHeld(
                        f"another {holder} holds the lock {path}: {_holder_text(handle)}"
                    ) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "user": getpass.getuser(),
                    "command": command,
                    "started": time.time(),
                }
            )
        )
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


@dataclass(frozen=True)
class SharedLockSetting:
    """The S3 lock to take: its URL as written, where it was written (for errors), and
    the lease."""

    url: str
    where: str
    lease_seconds: int


def shared_lock_setting(*, spec: LockSpec, env: Mapping[str, str]) -> SharedLockSetting | None:
    """The variable wins over the setting (CI sets it per repository); None: neither."""
    from_env = env.get(LOCK_URL_ENV, "").strip()
    if from_env:
        return SharedLockSetting(url=from_env, where=LOCK_URL_ENV, lease_seconds=spec.lease_seconds)
    if spec.s3:
        return SharedLockSetting(
            url=spec.s3, where=f"{spec.loc}: settings.lock.s3", lease_seconds=spec.lease_seconds
        )
    return None
