"""The S3 apply lock as the commands meet it: holding it around an apply, `lock status`,
`force-unlock`.

Which lock: `OKTA_AWS_LOCK_URL` (a CI repository variable) wins over `settings.lock.s3`
(`engine.lock.shared_lock_setting`). It guards applies to target live only: the sandbox
lives in one folder on one machine, where the local lock already serialises it. A lock
that cannot be taken (S3 unreachable, access denied, a wrong URL) refuses the apply;
it never proceeds unlocked. force-unlock deletes only the lock whose id it is given, and
only as it was read (a conditional delete), after a typed `yes` or --auto-approve.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from engine.commands import load_valid
from engine.commands_session import confirmed
from engine.exit_codes import ExitCode
from engine.lock import LOCK_URL_ENV, SharedLockSetting, shared_lock_setting
from engine.providers.s3_lock import (
    LockError,
    LockMismatch,
    LockUrl,
    S3Lock,
    Seen,
    held_lock,
    remove,
    s3_apply_lock,
    s3_client,
)
from engine.spec import DesiredState, LockSpec

StopCheck = Callable[[], str | None]


def _s3_lock(setting: SharedLockSetting, *, target: str, digest: str = "") -> S3Lock:
    url = LockUrl.parse(setting.url, where=setting.where)
    return S3Lock(
        client=s3_client(),
        url=url,
        target=target,
        desired_digest=digest,
        lease_seconds=setting.lease_seconds,
    )


@contextmanager
def shared_apply_lock(
    *, state: DesiredState, target: str, err: TextIO
) -> Iterator[StopCheck | None]:
    """Hold the S3 lock for an apply to `target`, if one is configured; yields the check
    to run before each write stage (None without an S3 lock: `plan` says so, an apply
    keeps its refusals and errors to one line). Raises LockHeld when another apply
    holds it, LockError when it cannot be taken."""
    if target != "live":
        yield None
        return
    setting = shared_lock_setting(spec=state.settings.lock, env=os.environ)
    if setting is None:
        yield None
        return
    lock = _s3_lock(setting, target=target, digest=state.digest)
    with s3_apply_lock(lock, notify=lambda message: print(message, file=err)) as renewal:
        yield renewal.stop_reason


def _configured(*, directory: Path, err: TextIO) -> S3Lock | None:
    """The lock the lock commands act on: the variable's, else the desired state's."""
    if os.environ.get(LOCK_URL_ENV, "").strip():
        spec = LockSpec()  # the variable alone names it; no desired state needed
    else:
        state = load_valid(directory=directory, err=err)
        if state is None:
            return None
        spec = state.settings.lock
    setting = shared_lock_setting(spec=spec, env=os.environ)
    if setting is None:
        print(
            f"error: no S3 apply lock is configured: set settings.lock.s3 in {directory} "
            f"or {LOCK_URL_ENV}",
            file=err,
        )
        return None
    return _s3_lock(setting, target="live")


def lock(*, action: str, directory: Path, out: TextIO, err: TextIO) -> int:
    """`okta-aws lock ACTION`: `status` is its one action so far."""
    actions = {"status": lock_status}
    return actions[action](directory=directory, out=out, err=err)


def _describe(lock: S3Lock, seen: Seen) -> str:
    return f"{lock.url}: {seen.info.describe()}; {seen.describe_lease()}"


def _on_lock(*, directory: Path, err: TextIO, act: Callable[[S3Lock], int]) -> int:
    """`act` on the configured lock; what S3 says (or a lock not configured) is one line:
    a mismatch (the lock changed since it was read) a refusal, else an error."""
    try:
        lock = _configured(directory=directory, err=err)
        if lock is None:
            return ExitCode.ERROR
        return act(lock)
    except LockMismatch as exc:
        print(f"refused: {exc}", file=err)
        return ExitCode.REFUSED
    except LockError as exc:
        print(f"error: {exc}", file=err)
        return ExitCode.ERROR


def lock_status(*, directory: Path, out: TextIO, err: TextIO) -> int:
    """Who holds the lock, since when, and whether its lease has run out (S3's clock)."""

    def status(lock: S3Lock) -> int:
        seen = lock.read()
        if seen is None:
            print(f"{lock.url}: no lock (no apply holds it)", file=out)
            return ExitCode.OK
        print(_describe(lock, seen), file=out)
        if seen.info.desired_digest:
            print(f"  desired state {seen.info.desired_digest[:16]}", file=out)
        return ExitCode.OK

    return _on_lock(directory=directory, err=err, act=status)


def force_unlock(
    *,
    directory: Path,
    lock_id: str,
    auto_approve: bool,
    out: TextIO,
    err: TextIO,
    inp: TextIO = sys.stdin,
) -> int:
    """Remove lock `lock_id` (a crashed apply's, whose lease has not run out yet)."""

    def unlock(lock: S3Lock) -> int:
        seen = held_lock(lock=lock, lock_id=lock_id)
        print(_describe(lock, seen), file=out)
        question = f"Remove apply lock {lock_id}?"
        if not auto_approve and not confirmed(question, inp=inp, out=out):
            print("refused: not confirmed (answer 'yes', or pass --auto-approve)", file=err)
            return ExitCode.REFUSED
        remove(lock=lock, seen=seen)
        print(f"Removed apply lock {lock_id} from {lock.url}.", file=out)
        return ExitCode.OK

    return _on_lock(directory=directory, err=err, act=unlock)
