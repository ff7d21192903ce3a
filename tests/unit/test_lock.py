"""The apply lock: one holder at a time, a named holder, no stale lock after a crash; which
S3 lock an apply takes (the variable wins over the setting); a lost lock stops an apply."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.apply import apply_changes
from engine.cli import main
from engine.load import LoadError, load
from engine.lock import (
    LOCK_URL_ENV,
    LockHeld,
    LockUnavailable,
    SharedLockSetting,
    apply_lock,
    shared_lock_setting,
)
from engine.model import System
from engine.plan import Outcome
from engine.spec import DEFAULT_LOCK_LEASE_SECONDS, Location, LockSpec
from tests.unit.test_apply import ScriptedExecutor, provider_change

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


# --- which S3 lock, and how an apply stops when it loses it ------------------------------

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("spec", "env", "expected"),
    [
        (LockSpec(), {}, None),
        (LockSpec(), {LOCK_URL_ENV: "  "}, None),
        (
            LockSpec(s3="s3://b/k", lease_seconds=60, loc=Location("s.yaml", 7)),
            {},
            SharedLockSetting(url="s3://b/k", where="s.yaml:7: settings.lock.s3", lease_seconds=60),
        ),
        (
            LockSpec(s3="s3://b/k", lease_seconds=60),
            {LOCK_URL_ENV: "s3://ci/lock"},
            SharedLockSetting(url="s3://ci/lock", where=LOCK_URL_ENV, lease_seconds=60),
        ),
        (
            LockSpec(),
            {LOCK_URL_ENV: "s3://ci/lock"},
            SharedLockSetting(url="s3://ci/lock", where=LOCK_URL_ENV, lease_seconds=1800),
        ),
    ],
)
def test_the_variable_wins_over_the_setting(
    spec: LockSpec, env: dict[str, str], expected: SharedLockSetting | None
) -> None:
    assert shared_lock_setting(spec=spec, env=env) == expected


def _desired_with_lock(root: Path, lock: dict[str, Any]) -> Path:
    folder = root / "desired-state"
    shutil.copytree(REPO / "desired-state", folder)
    path = folder / "settings.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["settings"]["lock"] = lock
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return folder


def test_settings_lock_is_loaded_with_where_it_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = _desired_with_lock(
        tmp_path, {"s3": "s3://acme-locks/prod/apply.lock", "lease_seconds": 90}
    )
    spec = load(directory=folder).settings.lock
    assert (spec.s3, spec.lease_seconds) == ("s3://acme-locks/prod/apply.lock", 90)
    setting = shared_lock_setting(spec=spec, env={})
    assert setting is not None
    assert setting.where.startswith("desired-state/settings.yaml:")
    assert setting.where.endswith(": settings.lock.s3")
    empty = load(directory=_desired_with_lock(tmp_path / "b", {})).settings.lock
    assert (empty.s3, empty.lease_seconds) == (None, DEFAULT_LOCK_LEASE_SECONDS)


@pytest.mark.parametrize(
    "lock",
    [
        {"s3": "https://acme-locks/prod/apply.lock"},
        {"s3": "s3://acme-locks/"},
        {"s3": "s3://acme-locks/prod/"},
        {"s3": "s3://acme-locks/k", "lease_seconds": 1},
        {"s3": "s3://acme-locks/k", "dynamodb_table": "locks"},
    ],
)
def test_a_bad_lock_setting_is_a_problem_at_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lock: dict[str, Any]
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LoadError) as failed:
        load(directory=_desired_with_lock(tmp_path, lock))
    problems = [str(p) for p in failed.value.problems]
    assert problems and all(p.startswith("desired-state/settings.yaml:") for p in problems)
    assert any("lock" in p for p in problems), problems


def test_a_lost_lock_stops_the_apply_before_its_next_stage() -> None:
    first = [provider_change("111111111111"), provider_change("222222222222")]
    second = [provider_change("333333333333")]
    third = [provider_change("444444444444")]
    executor = ScriptedExecutor()
    answers = iter([None, "lost the apply lock: taken over"])
    asked: list[int] = []

    def before_stage() -> str | None:
        asked.append(len(executor.created))
        return next(answers)

    report = apply_changes(
        stages=[first, second, third], executors={System.AWS: executor}, before_stage=before_stage
    )
    assert asked == [0, 2]  # asked before each stage, with the first stage's writes done
    assert report.stopped == "lost the apply lock: taken over" and not report.interrupted
    assert set(executor.created) == {c.id for c in first}
    assert {r.change.id for r in report.not_started} == {second[0].id, third[0].id}
    assert all(
        r.outcome is Outcome.SKIPPED and r.message == "not started: lost the apply lock: taken over"
        for r in report.not_started
    )


def test_an_apply_whose_lock_holds_runs_every_stage() -> None:
    executor = ScriptedExecutor()
    report = apply_changes(
        stages=[[provider_change("1" * 12)], [provider_change("2" * 12)]],
        executors={System.AWS: executor},
        before_stage=lambda: None,
    )
    assert report.writes == 2 and not report.stopped and not report.not_started


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["force-unlock"], "the following arguments are required: LOCK_ID"),
        (["lock"], "the following arguments are required: action"),
        (["lock", "release"], "invalid choice: 'release'"),
    ],
)
def test_lock_commands_bad_arguments_are_one_line_exit_1(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err


def test_lock_status_without_a_lock_anywhere_names_both_ways_to_set_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(LOCK_URL_ENV, raising=False)
    shutil.copytree(REPO / "desired-state", tmp_path / "desired-state")
    assert main(["lock", "status"]) == 1
    assert capsys.readouterr().err == (
        "error: no S3 apply lock is configured: set settings.lock.s3 in desired-state "
        f"or {LOCK_URL_ENV}\n"
    )
