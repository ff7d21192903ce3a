"""The end-to-end harness: the sandbox served as real endpoints, the CLI run as a user runs it.

Unit and provider tests prove the parts; these prove the product. So nothing here stands
in for a system: `okta-aws sandbox serve` runs in a subprocess (moto over HTTP, the Okta
emulator, a real slapd or Samba AD DC), its printed `export …` lines become the
environment of `python -m engine … --target live` subprocesses (the production code
path), and the tests look at the result through each system's own API: boto3, ldap3,
Okta's REST API (`live_systems`). Write counts come from the systems, not from the
engine's own tally: moto's request recorder, the emulator's request counts, the
directory's change markers.

Okta's directory import (the AD agent's schedule) is played by the test through the
emulator's admin API with records read from the served directory over LDAP, so each test
decides exactly when Okta catches up with the directory (the import-lag case).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine.sandbox.directory_servers import DirectoryKind
from engine.sandbox.persist import read_meta
from engine.sandbox.serve import READY_LINE
from engine.sandbox.world import SAMBA_TEMPLATE_DIR
from tests.directory_fixtures import require_directory
from tests.e2e.inventory import assert_exactly_desired
from tests.e2e.live_systems import Live

REPO = Path(__file__).resolve().parents[2]
DESIRED = REPO / "desired-state"
# "  created   role:…:+" or "  waiting   app_assignment:…/break glass admins:+  waits for …"
OUTCOME_LINE = re.compile(
    r"^  (created|updated|deleted|unchanged|waiting|failed|skipped) +(\S.*?)(?:  .*)?$"
)
_SUMMARY_PART = re.compile(r"(aws|directory|okta) (\d+) \((\d+) writes(?:, (\d+) retried)?\)")
# Variables of the outer shell that must not leak into the engine under test.
_ISOLATED_PREFIXES = ("AWS_", "OKTA_", "LDAP_", "MOTO_")

Edit = Callable[[dict[str, Any]], None]


# --- the desired state ------------------------------------------------------------------------


def desired_copy(dest: Path, *, edits: Sequence[Edit] = ()) -> Path:
    """desired-state/ copied to `dest/desired-state`, each edit applied to the parsed YAML
    files (a dict: relative path → document)."""
    target = dest / "desired-state"
    files: dict[str, Any] = {}
    for path in sorted(DESIRED.rglob("*")):
        if path.is_dir():
            continue
        relative = path.relative_to(DESIRED)
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".yaml":
            files[str(relative)] = yaml.safe_load(path.read_text(encoding="utf-8"))
        else:
            (target / relative).write_bytes(path.read_bytes())
    for edit in edits:
        edit(files)
    for name, data in files.items():
        (target / name).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target


def ldap_flavour(files: dict[str, Any]) -> None:
    """The example moved to an OpenLDAP directory under dc=example,dc=test (slapd's base)."""
    settings = files["settings.yaml"]["settings"]
    settings["directory"] = {
        "kind": "ldap",
        "role_groups_ou": "ou=AWS Role Groups,dc=example,dc=test",
        "management_groups_ou": "ou=AWS Management Groups,dc=example,dc=test",
        "users_base": "ou=people,dc=example,dc=test",
    }
    settings["okta"]["app_filter"] = "ldap_sun_one"
    for group in files["groups/teams.yaml"]["management_groups"]:
        if group.get("dn"):
            group["dn"] = "cn=Finance Department,ou=Departments,dc=example,dc=test"


def max_deletions(limit: int) -> Edit:
    def edit(files: dict[str, Any]) -> None:
        files["settings.yaml"]["settings"]["safety"]["max_deletions"] = limit

    return edit


def add_member(group: str, login: str) -> Edit:
    def edit(files: dict[str, Any]) -> None:
        for name in ("groups/platform.yaml", "groups/teams.yaml"):
            for entry in files[name]["management_groups"]:
                if entry["name"] == group:
                    entry.setdefault("members", []).append(login)

    return edit


# --- one CLI run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """A finished `python -m engine …`: exit code and both streams."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str
    seconds: float = 0.0

    def __str__(self) -> str:
        return (
            f"okta-aws {' '.join(self.args)} → exit {self.code} after {self.seconds:.1f} s\n"
            f"{self.out}\n{self.err}"
        )

    def outcomes(self) -> list[tuple[str, str]]:
        """(outcome, change id) per executed change, in printed order."""
        return [
            (m.group(1), m.group(2))
            for line in self.out.splitlines()
            if (m := OUTCOME_LINE.match(line))
        ]

    def calls(self) -> dict[str, tuple[int, int, int]]:
        """The engine's last `API calls:` summary: system → (calls, writes, retried)."""
        lines = [ln for ln in (self.out + "\n" + self.err).splitlines() if "API calls:" in ln]
        assert lines, f"no API-call summary in\n{self}"
        return {
            m.group(1): (int(m.group(2)), int(m.group(3)), int(m.group(4) or 0))
            for m in _SUMMARY_PART.finditer(lines[-1].split("API calls:", 1)[1])
        }


class Lines:
    """A running process's stdout, line by line, read by a thread so reads never block."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, predicate: Callable[[list[str]], bool], *, timeout: float = 120.0) -> bool:
        """Read until `predicate(lines so far)` holds (True) or the output ends (False)."""
        deadline = time.monotonic() + timeout
        while not predicate(self.seen):
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"timed out; output so far: {self.seen}") from None
            if line is None:
                return predicate(self.seen)
            self.seen.append(line)
        return True

    def rest(self) -> str:
        """Everything printed, once the process has ended."""
        self.wait_for(lambda _: False)
        return "\n".join(self.seen)


class Workspace:
    """A temp working directory holding a desired-state copy and its `.sandbox/`."""

    def __init__(self, root: Path, *, edits: Sequence[Edit] = ()) -> None:
        self.root = root
        self.desired = desired_copy(root, edits=edits)
        self.sandbox = root / ".sandbox"
        self.env: dict[str, str] = {
            **{k: v for k, v in os.environ.items() if not k.startswith(_ISOLATED_PREFIXES)},
            "PYTHONPATH": str(REPO),
            "PYTHONUNBUFFERED": "1",  # outcome lines as they happen (the kill tests read them)
            "NO_COLOR": "1",
            "OKTA_AWS_SANDBOX": str(self.sandbox),
            "OKTA_AWS_LOCK_DIR": str(root / "locks"),
            "OKTA_AWS_CACHE_DIR": str(root / "okta-read-cache"),  # never the real home's
            "AWS_CONFIG_FILE": "/nonexistent/okta-aws-e2e-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/okta-aws-e2e-credentials",
        }

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "engine", *args]

    def cli(self, *args: str, timeout: float = 300.0) -> Run:
        started = time.monotonic()
        done = subprocess.run(
            self.command(*args),
            cwd=self.root,
            env=self.env,
            stdin=subprocess.DEVNULL,  # never a terminal: apply must not wait for an answer
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        run = Run(
            args=args,
            code=done.returncode,
            out=done.stdout,
            err=done.stderr,
            seconds=time.monotonic() - started,
        )
        if os.environ.get("OKTA_AWS_E2E_TRACE"):
            print(f"[e2e] {run.seconds:6.1f} s  exit {run.code}  {' '.join(args)}", flush=True)
        return run

    def spawn(self, *args: str) -> tuple[subprocess.Popen[str], Lines]:
        """Start a command; its stdout and stderr, merged (one pipe, always drained)."""
        process = subprocess.Popen(
            self.command(*args),
            cwd=self.root,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        return process, Lines(process)

    def use_samba_template(self, template: Path) -> None:
        """Share the session's provisioned Samba (start_samba copies it, never writes it)."""
        self.sandbox.mkdir(parents=True, exist_ok=True)
        (self.sandbox / SAMBA_TEMPLATE_DIR).symlink_to(template, target_is_directory=True)

    def serve(self, *, directory: str, reset: bool = True) -> Served:
        """`sandbox serve` on a fresh brownfield (or, with reset=False, on the sandbox as
        earlier commands left it: its entries move into the chosen server)."""
        if reset:
            done = self.cli("sandbox", "reset")
            assert done.code == 0, done
        process, lines = self.spawn("sandbox", "serve", "--directory", directory)
        if not lines.wait_for(lambda seen: READY_LINE in seen, timeout=240.0):
            process.wait(timeout=60)
            raise AssertionError("serve failed:\n" + "\n".join(lines.seen))
        exported: dict[str, str] = {}
        for line in lines.seen:
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                exported[name] = shlex.split(value)[0]
        self.env.update(exported)
        return Served(process=process, live=Live(env=exported, meta=read_meta(self.sandbox)))

    def live_cli(self, *args: str, timeout: float = 300.0) -> Run:
        """A command with `--target live` (the environment `serve` printed)."""
        return self.cli(*args, "--target", "live", timeout=timeout)


@dataclass
class Served:
    process: subprocess.Popen[str]
    live: Live

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=120)


# --- the operator's moves -----------------------------------------------------------------------


def plan_json(workspace: Workspace, *args: str) -> dict[str, Any]:
    run = workspace.live_cli("plan", "--format", "json", *args)
    assert run.code == 0, run
    document: dict[str, Any] = json.loads(run.out)
    return document


def findings(plan: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["kind"], f["subject"]) for f in plan["findings"]}


def finish(workspace: Workspace, served: Served) -> None:
    """What an operator does after a broken apply: apply, let Okta import, apply, plan;
    then the live world must be exactly the desired one."""
    rerun = workspace.live_cli("apply", "--auto-approve")
    assert rerun.code == 0, rerun
    assert not [o for o in rerun.outcomes() if o[0] in ("failed", "skipped")], rerun
    served.live.import_directory()
    final = workspace.live_cli("apply", "--auto-approve")
    assert final.code == 0, final
    assert "Converged (target live): the re-plan is empty." in final.out, final
    empty = workspace.live_cli("plan", "--detailed-exitcode")
    assert empty.code == 0, empty
    assert_exactly_desired(workspace.desired, served.live)


@contextmanager
def ldap_sandbox(root: Path, *, edits: Sequence[Edit] = ()) -> Iterator[tuple[Workspace, Served]]:
    """A fresh brownfield sandbox (LDAP flavour) served with a real slapd; moto recording."""
    require_directory(DirectoryKind.LDAP)
    workspace = Workspace(root, edits=[ldap_flavour, *edits])
    workspace.env["MOTO_RECORDER_FILEPATH"] = str(root / "moto-recording.jsonl")
    served = workspace.serve(directory="slapd")
    served.live.record_aws()
    try:
        yield workspace, served
    finally:
        assert served.stop() == 0
