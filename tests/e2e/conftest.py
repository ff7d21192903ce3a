"""The end-to-end harness: the sandbox served as real endpoints, the CLI run as a user runs it.

Unit and provider tests prove the parts; these prove the product. So nothing here stands
in for a system: `okta-aws sandbox serve` runs in a subprocess (moto over HTTP, the Okta
emulator, a real slapd or Samba AD DC), its printed `export …` lines become the
environment of `python -m engine … --target live` subprocesses (the production code
path), and the tests look at the result through each system's own API: boto3, ldap3,
Okta's REST API. Write counts come from the systems, not from the engine's own tally:
moto's request recorder, the emulator's request counts, the directory's change markers.

Okta's directory import (the AD agent's schedule) is played by the test through the
emulator's admin API with records read from the served directory over LDAP, so each test
decides exactly when Okta catches up with the directory (the import-lag case).
"""

from __future__ import annotations

import base64
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
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import ldap3
import pytest
import requests
import yaml

from engine.sandbox.directory_servers import DirectoryKind
from engine.sandbox.directory_store import canonical_records
from engine.sandbox.okta_emulator import records_from_ldap3
from engine.sandbox.persist import Flavor, SandboxMeta, read_meta
from engine.sandbox.serve import READY_LINE
from engine.sandbox.world import SAMBA_TEMPLATE_DIR
from tests.directory_fixtures import require_directory

REPO = Path(__file__).resolve().parents[2]
DESIRED = REPO / "desired-state"
# "  created   role:…:+" or "  waiting   app_assignment:…/break glass admins:+  waits for …"
OUTCOME_LINE = re.compile(
    r"^  (created|updated|deleted|unchanged|waiting|failed|skipped) +(\S.*?)(?:  .*)?$"
)
_SUMMARY_PART = re.compile(r"(aws|directory|okta) (\d+) \((\d+) writes(?:, (\d+) retried)?\)")
# Variables of the outer shell that must not leak into the engine under test.
_ISOLATED_PREFIXES = ("AWS_", "OKTA_", "LDAP_", "MOTO_")
_AWS_READS = re.compile(r"^(Get|List|AssumeRole$|GetCallerIdentity$)")

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

    def __str__(self) -> str:
        return f"okta-aws {' '.join(self.args)} → exit {self.code}\n{self.out}\n{self.err}"

    def outcomes(self) -> list[tuple[str, str]]:
        """(outcome, change id) per executed change, in printed order."""
        return [
            (m.group(1), m.group(2)) for line in self.out.splitlines() if (m := OUTCOME_LINE.match(line))
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
            "AWS_CONFIG_FILE": "/nonexistent/okta-aws-e2e-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/okta-aws-e2e-credentials",
        }

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "engine", *args]

    def cli(self, *args: str, timeout: float = 300.0) -> Run:
        done = subprocess.run(
            self.command(*args),
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Run(args=args, code=done.returncode, out=done.stdout, err=done.stderr)

    def spawn(self, *args: str) -> tuple[subprocess.Popen[str], Lines]:
        process = subprocess.Popen(
            self.command(*args),
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return process, Lines(process)

    def use_samba_template(self, template: Path) -> None:
        """Share the session's provisioned Samba (start_samba copies it, never writes it)."""
        self.sandbox.mkdir(parents=True, exist_ok=True)
        (self.sandbox / SAMBA_TEMPLATE_DIR).symlink_to(template, target_is_directory=True)

    def serve(self, *, directory: str) -> Served:
        reset = self.cli("sandbox", "reset")
        assert reset.code == 0, reset
        process, lines = self.spawn("sandbox", "serve", "--directory", directory)
        if not lines.wait_for(lambda seen: READY_LINE in seen, timeout=240.0):
            process.wait(timeout=60)
            raise AssertionError(f"serve failed: {lines.seen}\n{process.stderr.read()}")  # type: ignore[union-attr]
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


# --- the served systems, seen through their own APIs -------------------------------------------


class Live:
    """Clients of the served systems, built from the printed environment only."""

    def __init__(self, *, env: dict[str, str], meta: SandboxMeta) -> None:
        self.env = env
        self.meta = meta
        self.aws = boto3.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )
        self._http = requests.Session()
        self._http.headers.update(
            {"Authorization": f"SSWS {env['OKTA_API_TOKEN']}", "Accept": "application/json"}
        )

    # Okta
    def okta(self, method: str, path: str, body: Any = None) -> Any:
        response = self._http.request(
            method, self.env["OKTA_ORG_URL"] + path, json=body, timeout=30
        )
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def okta_all(self, path: str) -> list[Any]:
        """Every item of an Okta listing, following `Link: rel="next"` as clients must."""
        url: str | None = self.env["OKTA_ORG_URL"] + path
        items: list[Any] = []
        while url is not None:
            response = self._http.get(url, timeout=30)
            assert response.status_code == 200, response.text
            items.extend(response.json())
            url = response.links.get("next", {}).get("url")
        return items

    def okta_requests(self) -> Counter[tuple[str, str]]:
        counts = self.okta("GET", "/_emulator/requests")["counts"]
        return Counter({(c["method"], c["route"]): c["count"] for c in counts})

    def okta_writes(self) -> int:
        """API requests other than GET the emulator has received (failed attempts too)."""
        return sum(n for (method, _), n in self.okta_requests().items() if method != "GET")

    def app_id(self) -> str:
        apps = [a for a in self.okta_all("/api/v1/apps") if a["name"] == "amazon_aws"]
        assert len(apps) == 1, apps
        return str(apps[0]["id"])

    def assigned_group_names(self) -> list[str]:
        assigned = self.okta_all(f"/api/v1/apps/{self.app_id()}/groups?limit=200")
        groups = {g["id"]: g["profile"]["name"] for g in self.okta_all("/api/v1/groups")}
        return [groups[a["id"]] for a in assigned]

    def import_directory(self) -> dict[str, Any]:
        """Okta's directory agent, now: read the imported OUs over LDAP, post the records."""
        apps = [a for a in self.okta_all("/api/v1/apps") if a["name"] == self.meta.okta_directory_app]
        assert len(apps) == 1, apps
        connection = self.ldap()
        try:
            records = canonical_records(
                records_from_ldap3(connection, base_dns=list(self.meta.imported_ous)),
                flavor=self.meta.flavor,
            )
        finally:
            connection.unbind()
        body = {
            "sourceAppId": apps[0]["id"],
            "importedOuDns": list(self.meta.imported_ous),
            "groups": [
                {
                    "dn": g.dn,
                    "name": g.name,
                    "description": g.description,
                    "memberDns": list(g.member_dns),
                }
                for g in records.groups
            ],
            "users": [
                {
                    "dn": u.dn,
                    "login": u.login,
                    "email": u.email,
                    "firstName": u.first_name,
                    "lastName": u.last_name,
                }
                for u in records.users
            ],
        }
        result: dict[str, Any] = self.okta("POST", "/_emulator/import", body)
        return result

    # Directory
    def ldap(self) -> ldap3.Connection:
        server = ldap3.Server(self.env["LDAP_URL"], get_info=ldap3.NONE)
        return ldap3.Connection(
            server, self.env["LDAP_BIND_DN"], self.env["LDAP_PASSWORD"], auto_bind=True
        )

    def directory_marker(self) -> Any:
        """Changes whenever anything in the directory is written (AD: the highest committed
        USN; slapd: every entry's entryCSN, which also shows additions and deletions)."""
        connection = self.ldap()
        try:
            if self.meta.flavor is Flavor.ACTIVE_DIRECTORY:
                connection.search("", "(objectClass=*)", ldap3.BASE, attributes=["highestCommittedUSN"])
                return connection.response[0]["attributes"]["highestCommittedUSN"]
            connection.search(
                self.meta.base_dn, "(objectClass=*)", ldap3.SUBTREE, attributes=["entryCSN"]
            )
            return frozenset(
                (e["dn"].lower(), tuple(e["attributes"].get("entryCSN") or ()))
                for e in connection.response
                if e.get("type") == "searchResEntry"
            )
        finally:
            connection.unbind()

    def group_names(self, ou: str) -> list[str]:
        connection = self.ldap()
        try:
            connection.search(
                ou, "(|(objectClass=group)(objectClass=groupOfNames))", ldap3.SUBTREE, attributes=["cn"]
            )
            return [
                str(e["attributes"]["cn"][0])
                for e in connection.response
                if e.get("type") == "searchResEntry"
            ]
        finally:
            connection.unbind()

    # AWS
    def iam(self, account_id: str) -> Any:
        sts = self.aws.client("sts", endpoint_url=self.env["AWS_ENDPOINT_URL"])
        credentials = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/{self.meta.access_role}",
            RoleSessionName="okta-aws-e2e",
        )["Credentials"]
        return self.aws.client(
            "iam",
            endpoint_url=self.env["AWS_ENDPOINT_URL"],
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    def role_names(self, account_id: str) -> list[str]:
        pages = self.iam(account_id).get_paginator("list_roles").paginate()
        return [role["RoleName"] for page in pages for role in page["Roles"]]

    def saml_provider_names(self, account_id: str) -> list[str]:
        listed = self.iam(account_id).list_saml_providers()["SAMLProviderList"]
        return [p["Arn"].rsplit("/", 1)[1] for p in listed]

    def record_aws(self) -> None:
        """Start moto's request recorder afresh (it sees every request, retries too)."""
        for action in ("reset-recording", "start-recording"):
            requests.post(f"{self.env['AWS_ENDPOINT_URL']}/moto-api/recorder/{action}", timeout=30)

    def aws_actions(self) -> Counter[str]:
        """IAM/STS actions moto received since `record_aws` (by the Action parameter)."""
        text = requests.get(
            f"{self.env['AWS_ENDPOINT_URL']}/moto-api/recorder/download-recording", timeout=30
        ).text
        actions: Counter[str] = Counter()
        for line in text.splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            body = entry.get("body") or ""
            if entry.get("body_encoded"):
                body = base64.b64decode(body).decode()
            action = urllib.parse.parse_qs(body).get("Action", ["?"])[0]
            actions[action] += 1
        return actions

    def aws_writes(self) -> int:
        return sum(n for action, n in self.aws_actions().items() if not _AWS_READS.match(action))


@dataclass(frozen=True)
class WriteMarks:
    """Where every system's writes stood at one moment (from the systems themselves)."""

    okta_writes: int
    aws_writes: int
    directory: Any


def write_marks(live: Live) -> WriteMarks:
    return WriteMarks(
        okta_writes=live.okta_writes(),
        aws_writes=live.aws_writes(),
        directory=live.directory_marker(),
    )


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def ldap_served(tmp_path: Path) -> Iterator[tuple[Workspace, Served]]:
    """A fresh brownfield sandbox (LDAP flavour) served with a real slapd; moto recording."""
    require_directory(DirectoryKind.LDAP)
    workspace = Workspace(tmp_path, edits=[ldap_flavour])
    workspace.env["MOTO_RECORDER_FILEPATH"] = str(tmp_path / "moto-recording.jsonl")
    served = workspace.serve(directory="slapd")
    served.live.record_aws()
    try:
        yield workspace, served
    finally:
        assert served.stop() == 0
