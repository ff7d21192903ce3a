"""The apply lock: one holder at a time, a named holder, no stale lock after a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.lock import LockHeld, LockUnavailable, apply_lock

HOLDER = """
import sys, time
from pathlib import Path
from engine.lock import apply_lock
with apply_lock(path=Path(sys.argv[1]), command="apply --auto-approve"):
    print("held", flush=True)
    time.sleep(60)
"""


def start_holder(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_apply_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    path = tmp_path / "apply.lock"
    proc = start_holder(path)
    try:
        with pytest.raises(LockHeld) as refused, apply_lock(path=path, command="apply"):
            pytest.fail("the lock must not be granted twice")
        assert f"pid {proc.pid}" in str(refused.value)
        assert "apply --auto-approve" in str(refused.value)
    finally:
        proc.kill()
        proc.wait()


def test_lock_of_a_killed_process_is_free_at_once(tmp_path: Path) -> None:
    path = tmp_path / "apply.lock"
    proc = start_holder(path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with apply_lock(path=path, command="apply"):
        assert str(os.getpid()) in path.read_text()


def test_waiting_acquires_once_the_holder_finishes(tmp_path: Path) -> None:
    path = tmp_path / "apply.lock"
    proc = start_holder(path)
    proc.terminate()
    with apply_lock(path=path, command="apply", wait_seconds=30):
        assert str(os.getpid()) in path.read_text()
    proc.wait()


def test_sequential_use_in_one_process(tmp_path: Path) -> None:
    path = tmp_path / "apply.lock"
    for _ in range(2):
        with apply_lock(path=path, command="apply"):
            pass
    assert path.read_text() == ""


def test_a_lock_that_cannot_be_created_says_which_variable_to_set(tmp_path: Path) -> None:
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("")
    with (
        pytest.raises(LockUnavailable, match="set OKTA_AWS_LOCK_DIR to a writable folder"),
        apply_lock(path=a_file / "apply.lock", command="apply"),
    ):
        pass
