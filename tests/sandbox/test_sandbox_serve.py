"""`sandbox serve`: real local endpoints that plain boto3, ldap3 and HTTP clients can use.

`serve` runs in a subprocess, exactly as a user runs it: the test reads the printed
`export` lines, talks to each system with nothing but that environment, watches the
scheduled directory import bring a new group into Okta, then stops the server with
SIGTERM and checks the world was saved. slapd is required (skipped locally when it is
missing, a failure under CI).
"""

from __future__ import annotations

import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import ldap3
import pytest
import requests
import yaml

from engine.dn import normalize_dn
from engine.load import load
from engine.sandbox.directory_servers import DirectoryKind
from engine.sandbox.directory_store import load_entries
from engine.sandbox.persist import SandboxError
from engine.sandbox.serve import READY_LINE
from engine.sandbox.world import SandboxWorld
from engine.spec import DesiredState
from tests.directory_fixtures import require_directory

REPO = Path(__file__).resolve().parents[2]
DESIRED = REPO / "desired-state"
MGMT_OU = "ou=AWS Management Groups,dc=example,dc=test"
PROD_PAYMENTS = "314159265358"
NEW_GROUP = "Release Managers"
SERVE = """
import sys
from pathlib import Path
from engine.sandbox.world import SandboxWorld
SandboxWorld(Path(sys.argv[1])).serve(directory=sys.argv[2], import_every=float(sys.argv[3]))
"""


def ldap_state(tmp: Path) -> DesiredState:
    """The example desired state moved to an OpenLDAP directory (dc=example,dc=test)."""
    target = tmp / "desired-state"
    for path in DESIRED.rglob("*"):
        if path.is_file():
            out = target / path.relative_to(DESIRED)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(path.read_bytes())
    settings_file = target / "settings.yaml"
    data = yaml.safe_load(settings_file.read_text())
    data["settings"]["directory"] = {
        "kind": "ldap",
        "role_groups_ou": "ou=AWS Role Groups,dc=example,dc=test",
        "management_groups_ou": MGMT_OU,
        "users_base": "ou=people,dc=example,dc=test",
    }
    data["settings"]["okta"]["app_filter"] = "ldap_sun_one"
    settings_file.write_text(yaml.safe_dump(data))
    teams = target / "groups" / "teams.yaml"
    groups = yaml.safe_load(teams.read_text())
    for group in groups["management_groups"]:
        if group.get("dn"):
            group["dn"] = "cn=Finance Department,ou=Departments,dc=example,dc=test"
    teams.write_text(yaml.safe_dump(groups))
    return load(directory=target)


class Served:
    """A `serve` subprocess and the lines it prints (read by a thread, never blocking)."""

    def __init__(self, root: Path, *, directory: str, import_every: float) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        command = [sys.executable, "-c", SERVE, str(root), directory, str(import_every)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, predicate: Any, *, timeout: float = 60.0) -> list[str]:
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            seen.append(line)
            if predicate(line):
                return seen
        stderr = self.process.stderr.read() if self.process.poll() is not None else ""  # type: ignore[union-attr]
        raise AssertionError(f"serve never printed the expected line; saw {seen}\n{stderr}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


def exported(lines: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in lines:
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = shlex.split(value)[0]
    return env


def test_serve_exposes_every_system_until_sigterm(tmp_path: Path) -> None:
    require_directory(DirectoryKind.LDAP)
    root = tmp_path / ".sandbox"
    SandboxWorld(root).reset(state=ldap_state(tmp_path))
    served = Served(root, directory="slapd", import_every=0.3)
    try:
        env = exported(served.wait_for(lambda line: line == READY_LINE))
        assert {
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_DEFAULT_REGION",
            "OKTA_ORG_URL",
            "OKTA_API_TOKEN",
            "OKTA_TESTING_TESTINGDISABLEHTTPSCHECK",
            "LDAP_URL",
            "LDAP_BIND_DN",
            "LDAP_PASSWORD",
        } <= env.keys()

        session = boto3.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )
        creds = session.client("sts", endpoint_url=env["AWS_ENDPOINT_URL"]).assume_role(
            RoleArn=f"arn:aws:iam::{PROD_PAYMENTS}:role/OrganizationAccountAccessRole",
            RoleSessionName="serve-test",
        )["Credentials"]
        iam = session.client(
            "iam",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        assert "Admin" in {r["RoleName"] for r in iam.list_roles()["Roles"]}

        conn = ldap3.Connection(
            env["LDAP_URL"], env["LDAP_BIND_DN"], env["LDAP_PASSWORD"], auto_bind=True
        )
        alice = "uid=alice,ou=people,dc=example,dc=test"
        assert conn.add(
            f"cn={NEW_GROUP},{MGMT_OU}", "groupOfNames", {"cn": NEW_GROUP, "member": [alice]}
        ), conn.result

        served.wait_for(lambda line: line.startswith("# directory import: 1 groups created,"))
        headers = {"Authorization": f"SSWS {env['OKTA_API_TOKEN']}"}
        groups = requests.get(
            f"{env['OKTA_ORG_URL']}/api/v1/groups",
            params={"q": NEW_GROUP},
            headers=headers,
            timeout=10,
        ).json()
        assert [(g["profile"]["name"], g["type"]) for g in groups] == [(NEW_GROUP, "APP_GROUP")]
        apps = requests.get(f"{env['OKTA_ORG_URL']}/api/v1/apps", headers=headers, timeout=10)
        assert "ldap_sun_one" in {a["name"] for a in apps.json()}
    finally:
        code = served.stop()
    assert code == 0
    saved = {normalize_dn(e.dn) for e in load_entries(root)}
    assert normalize_dn(f"cn={NEW_GROUP},{MGMT_OU}") in saved


def test_serve_refuses_the_mock_directory(tmp_path: Path) -> None:
    world = SandboxWorld(tmp_path / ".sandbox")
    world.reset(state=load(directory=DESIRED))
    with pytest.raises(SandboxError, match="serve needs a directory with an address"):
        world.serve(directory="mock")
