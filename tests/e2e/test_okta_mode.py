"""`directory.kind: okta` end to end: role groups filled from management groups (issue 16).

Okta cannot nest groups, so okta-aws fills each role group with the members of the
management groups granted it, reading those of groups left to their owners (members
omitted) from Okta on every run. Here through the CLI on the embedded sandbox, as a new
user tries it: the example desired state switched to kind okta. The owners' and admins'
hand edits go through Okta's REST API (the emulator, in process between two commands).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
import yaml

from engine.sandbox.world import SandboxWorld
from tests.e2e.harness import Run, Workspace

DATA_LAKE = "aws#data-lake#ReadOnly#244948974278"
ML_POWER = "aws#sandbox-ml#PowerUser#264575131106"
OWNERS = "Data Scientists (members managed in Okta)"


def okta_flavour(files: dict[str, Any]) -> None:
    """The example with Okta's own groups for a directory: no OUs, the app filter `okta`,
    and the HR department group no longer adopted by DN (there is no directory)."""
    settings = files["settings.yaml"]["settings"]
    settings["directory"] = {"kind": "okta"}
    settings["okta"]["app_filter"] = "okta"
    for group in files["groups/teams.yaml"]["management_groups"]:
        group.pop("dn", None)


def ok(run: Run) -> Run:
    assert run.code == 0, run
    return run


def access(workspace: Workspace, *args: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(
        ok(workspace.cli("access", "--format", "json", *args)).out
    )
    return rows


def read_only(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {r["account_alias"]: r["via"] for r in rows if r["role"] == "ReadOnly"}


class Okta:
    """Okta's REST API, as an admin or a group's owner uses it."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"SSWS {token}"

    def _id(self, kind: str, query: str) -> str:
        found = self.http.get(f"{self.base}/api/v1/{kind}?{query}", timeout=10).json()
        assert len(found) == 1, found
        return str(found[0]["id"])

    def group(self, name: str) -> str:
        return self._id("groups", "search=" + quote(f'profile.name eq "{name}"'))

    def user(self, login: str) -> str:
        return self._id("users", "search=" + quote(f'profile.login eq "{login}"'))

    def add(self, group: str, login: str) -> None:
        url = f"{self.base}/api/v1/groups/{self.group(group)}/users/{self.user(login)}"
        self.http.put(url, timeout=10).raise_for_status()

    def remove(self, group: str, login: str) -> None:
        url = f"{self.base}/api/v1/groups/{self.group(group)}/users/{self.user(login)}"
        self.http.delete(url, timeout=10).raise_for_status()


@contextmanager
def okta_api(workspace: Workspace) -> Iterator[Okta]:
    """The sandbox's Okta served in this process between two commands (saved on exit)."""
    with SandboxWorld(workspace.sandbox).running() as ends:
        yield Okta(ends.okta_org_url, ends.okta_token)


def test_a_grant_shared_with_an_owner_managed_group_reaches_everyone(tmp_path: Path) -> None:
    """The issue's reproduction: dave (Cloud Engineering Read Only, `account: "*"`) has
    ReadOnly in all 9 accounts, data-lake included, although Data Scientists (members
    left to the data team's leads) grants data-lake's ReadOnly too; desired and live."""
    workspace = Workspace(tmp_path, edits=[okta_flavour])
    ok(workspace.cli("sandbox", "reset"))
    desired = read_only(access(workspace, "--user", "dave"))
    assert len(desired) == 9 and desired["data-lake"] == ["Cloud Engineering Read Only"]

    applied = ok(workspace.cli("apply", "--auto-approve"))
    lines = [" ".join(line.split()) for line in applied.out.splitlines()]
    # The owners' members join the role group, named as coming from their group.
    assert f"+ user yvonne → {DATA_LAKE} (via {OWNERS})" in lines, applied
    assert "+ yvonne gains data-lake (244948974278) / ReadOnly via Data Scientists" in lines
    assert "Converged (target sandbox): the re-plan is empty." in applied.out, applied
    assert read_only(access(workspace, "--live", "--user", "dave")) == desired

    # The data team's leads change Data Scientists; an admin edits the role group by hand.
    with okta_api(workspace) as okta:
        okta.add("Data Scientists", "walter")
        okta.remove("Data Scientists", "yvonne")
        okta.add(DATA_LAKE, "mallory")  # in no management group
        okta.remove(DATA_LAKE, "dave")
    document = json.loads(ok(workspace.cli("plan", "--format", "json")).out)
    members = {
        (c["action"], c["key"][0].split("#")[1], c["key"][1], c["reason"])
        for c in document["changes"]
        if c["kind"] == "okta_group_member"
    }
    gone = f"in no management group granting {DATA_LAKE}"
    assert members == {
        ("+", "data-lake", "walter", f"via {OWNERS}"),
        ("-", "data-lake", "yvonne", gone),
        ("-", "data-lake", "mallory", gone),
        ("+", "data-lake", "dave", "via Cloud Engineering Read Only"),
        # Data Scientists' other grant follows too.
        ("+", "sandbox-ml", "walter", f"via {OWNERS}"),
        ("-", "sandbox-ml", "yvonne", gone.replace(DATA_LAKE, ML_POWER)),
    }
    assert len(document["changes"]) == len(members), document["changes"]
    applied = ok(workspace.cli("apply", "--auto-approve"))
    assert "Converged (target sandbox): the re-plan is empty." in applied.out, applied
    lake = {r["user"]: r["via"] for r in access(workspace, "--live", "--account", "data-lake")}
    # Live `via` names the management groups, as with a directory.
    assert lake["walter"] == lake["zoe"] == ["Data Scientists"]
    assert lake["dave"] == ["Cloud Engineering Read Only"]
    assert lake["alice"] == ["DevOps Sys Admins"]
    assert "yvonne" not in lake and "mallory" not in lake


def test_an_owner_managed_group_okta_does_not_have_blocks_the_plan(tmp_path: Path) -> None:
    """Its members cannot be read: one blocking finding at its file:line, and nothing is
    applied (it used to be created empty, and the grant reached nobody)."""
    workspace = Workspace(tmp_path, edits=[okta_flavour])
    ok(workspace.cli("sandbox", "reset"))
    teams = workspace.desired / "groups" / "teams.yaml"
    document = yaml.safe_load(teams.read_text(encoding="utf-8"))
    document["management_groups"].append(
        {"name": "Ghost Team", "grants": [{"account": "data-lake", "role": "Admin"}]}
    )
    text = yaml.safe_dump(document, sort_keys=False)
    teams.write_text(text, encoding="utf-8")
    line = text.splitlines().index("- name: Ghost Team") + 1

    planned = workspace.cli("plan")
    assert planned.code == 1, planned
    found = [ln for ln in planned.out.splitlines() if "'Ghost Team' leaves its members" in ln]
    assert len(found) == 1, planned
    assert f"groups/teams.yaml:{line}: 'Ghost Team' leaves its members" in found[0], planned
    refused = workspace.cli("apply", "--auto-approve")
    assert refused.code == 3 and not refused.outcomes(), refused
