"""`okta-aws import` end to end (issue 14): on a real Samba AD DC, on slapd, and with
Okta's own groups (kind okta), through the CLI.

- The raw brownfield sandbox: import writes a folder that validates; the plan of that
  folder against the same world changes only what the import's findings said it would
  (app settings the model always sets, a user directly in a role group, an assignment
  Okta lacks), and the rest of the world (roles, role groups, links, members) is exactly
  as imported.
- The converged world (the demo's, after apply, Okta's import, apply): import, then
  `plan --detailed-exitcode` exits 0, and the imported folder's access report equals
  the original's live access, row for row (user, account, role, via).
- A role with an inline policy (put into moto, read back from GAAD) is named `left out`
  with its policy; a role defined differently in one account becomes its own catalogue
  entry (`iam_name`), and the plan right after is empty (kind okta: no directory server).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from engine.sandbox.directory_servers import DirectoryKind
from tests.directory_fixtures import require_directory
from tests.e2e.harness import Run, Workspace, ldap_flavour
from tests.e2e.test_okta_mode import okta_flavour

SETTINGS_CHANGES = ("useGroupMapping", "groupFilter", "appFilter")


def ok(run: Run) -> Run:
    assert run.code == 0, run
    return run


def rows(run: Run) -> list[tuple[str, str, str, str]]:
    ok(run)
    return sorted(
        (r["user"], r["account_id"], r["role"], ",".join(r["via"])) for r in json.loads(run.out)
    )


def api_calls(stderr: str) -> dict[str, int]:
    """System → calls, from the `API calls: aws 45 (0 writes), okta 47 …` line."""
    line = next(x for x in stderr.splitlines() if x.startswith("API calls:"))
    found = re.findall(r"(aws|directory|okta) (\d+)", line)
    return {system: int(count) for system, count in found}


def workspace_for(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Workspace:
    if kind == "samba":
        require_directory(DirectoryKind.ACTIVE_DIRECTORY)
        workspace = Workspace(tmp_path)
        workspace.use_samba_template(request.getfixturevalue("samba_template"))
        return workspace
    if kind == "slapd":
        require_directory(DirectoryKind.LDAP)
        return Workspace(tmp_path, edits=[ldap_flavour])
    return Workspace(tmp_path, edits=[okta_flavour])


def explained(change: dict[str, Any], findings: str) -> bool:
    """Whether the import's findings announced this change."""
    text = json.dumps(change)
    if change["kind"] == "okta_app":
        return any(f"{name} " in findings and name in text for name in SETTINGS_CHANGES)
    names = [str(part) for part in change["key"] if isinstance(part, str)]
    lowered = findings.lower()
    return any(name.split(",")[0].removeprefix("cn=").lower() in lowered for name in names)


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("samba", marks=pytest.mark.samba),
        pytest.param("slapd", marks=pytest.mark.slapd),
        pytest.param("okta"),
    ],
)
def test_import_of_the_brownfield_and_of_the_converged_world(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    workspace = workspace_for(kind, tmp_path, request)
    served = None
    if kind == "okta":
        ok(workspace.cli("sandbox", "reset"))
        run = workspace.cli
    else:
        served = workspace.serve(directory=kind)
        run = workspace.live_cli
    try:
        # The raw brownfield: every change of the next plan was announced.
        brown = run("import", "--out", str(tmp_path / "brown"))
        ok(brown)
        assert "wrote " in brown.out, brown
        plan = json.loads(ok(run("plan", "-d", str(tmp_path / "brown"), "--format", "json")).out)
        changing = "\n".join(
            line for line in brown.err.splitlines() if line.startswith(("will change:", "adopted:"))
        )
        unexplained = [c["id"] for c in plan["changes"] if not explained(c, changing)]
        assert unexplained == [], (unexplained, brown.err)
        assert not [c for c in plan["changes"] if c["kind"] in ("role", "saml_provider")], plan

        # Converge the original, as the demo does.
        ok(run("apply", "--auto-approve"))
        if served is not None:
            served.live.import_directory()
        else:
            ok(workspace.cli("sandbox", "import"))
        ok(run("apply", "--auto-approve"))
        assert run("plan", "--detailed-exitcode").code == 0

        imported = tmp_path / "imported"
        done = ok(run("import", "--out", str(imported)))
        assert "0 the next plan changes" in done.out, done
        again = run("plan", "-d", str(imported), "--detailed-exitcode")
        assert again.code == 0, again
        assert "No changes." in again.out, again
        # The import reads with the plan's readers in the plan's scope.
        spent, planned = api_calls(done.err), api_calls(again.err)
        print(f"[import {kind}] API calls: import {spent}, plan {planned}")
        assert spent == planned, (spent, planned)
        live = rows(run("access", "--live", "--format", "json"))
        written = rows(workspace.cli("access", "-d", str(imported), "--format", "json"))
        if kind == "okta":
            # Okta cannot nest: which group fills a role group is inferred from
            # membership (a NOTE on each), so `via` may name another group with the
            # same people; who holds what is the same.
            live = sorted({(*r[:3], "") for r in live})
            written = sorted({(*r[:3], "") for r in written})
            assert "grants inferred from membership" in done.err, done
        assert written == live and live, (len(written), len(live))

        # The same world gives byte-identical files; a non-empty folder is refused.
        twice = tmp_path / "twice"
        ok(run("import", "--out", str(twice)))
        for path in sorted(imported.rglob("*")):
            if path.is_file():
                assert (twice / path.relative_to(imported)).read_bytes() == path.read_bytes()
        refused = run("import", "--out", str(imported))
        assert refused.code == 1 and "is not empty" in refused.err, refused
    finally:
        if served is not None:
            assert served.stop() == 0


def test_a_role_with_an_inline_policy_is_left_out_by_name(tmp_path: Path) -> None:
    """The inline policy reaches moto by put_role_policy (the sandbox replays it) and is
    read back from GetAccountAuthorizationDetails, in the plan's number of calls: import
    names the role and the policy, and writes neither the role nor its account entry."""
    workspace = Workspace(tmp_path, edits=[okta_flavour])
    ok(workspace.cli("sandbox", "reset"))
    state_file = workspace.sandbox / "aws.json"
    state = json.loads(state_file.read_text(encoding="utf-8"))
    account_id = "271828182845"  # prod-ledger: PowerUser and ReadOnly
    [role] = [r for r in state["accounts"][account_id]["roles"] if r["name"] == "PowerUser"]
    role["inline_policies"] = {
        "s3-extra": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
        }
    }
    state_file.write_text(json.dumps(state), encoding="utf-8")

    done = ok(workspace.cli("import", "--out", str(tmp_path / "imported")))

    expected = (
        f"left out: role PowerUser in {account_id}: has inline policies (s3-extra), which the "
        "model cannot express (importing it would keep them unseen)"
    )
    assert expected in done.err.splitlines(), done
    accounts = (tmp_path / "imported" / "accounts.yaml").read_text(encoding="utf-8")
    block = accounts.split(f"id: {json.dumps(account_id)}")[1].split("- id:")[0]
    assert "PowerUser" not in block and "ReadOnly" in block, accounts
    plan = json.loads(
        ok(workspace.cli("plan", "-d", str(tmp_path / "imported"), "--format", "json")).out
    )
    touched = [c["id"] for c in plan["changes"] if account_id in json.dumps(c["key"])]
    assert not [c for c in touched if "PowerUser" in c], touched
    planned = api_calls(ok(workspace.cli("plan", "-d", str(tmp_path / "imported"))).err)
    assert api_calls(done.err)["aws"] == planned["aws"], (done.err, planned)


def test_a_role_defined_differently_in_one_account_imports_to_an_empty_plan(
    tmp_path: Path,
) -> None:
    """On the converged world (kind okta), one account's ReadOnly edited by hand to a
    2-hour session: import writes it as its own entry with iam_name ReadOnly, that
    account lists it, and the plan right after is empty (moto holds the roles)."""
    workspace = Workspace(tmp_path, edits=[okta_flavour])
    ok(workspace.cli("sandbox", "reset"))
    ok(workspace.cli("apply", "--auto-approve"))
    ok(workspace.cli("sandbox", "import"))
    ok(workspace.cli("apply", "--auto-approve"))
    state_file = workspace.sandbox / "aws.json"
    state = json.loads(state_file.read_text(encoding="utf-8"))
    account_id = "271828182845"
    [role] = [r for r in state["accounts"][account_id]["roles"] if r["name"] == "ReadOnly"]
    assert role["max_session_duration"] != 7200
    role["max_session_duration"] = 7200
    state_file.write_text(json.dumps(state), encoding="utf-8")

    imported = tmp_path / "imported"
    done = ok(workspace.cli("import", "--out", str(imported)))

    assert "0 the next plan changes" in done.out, done
    assert "written as entry 'ReadOnly-2h' (iam_name 'ReadOnly')" in done.err, done
    roles = (imported / "roles.yaml").read_text(encoding="utf-8")
    assert "  ReadOnly-2h:\n" in roles and "    iam_name: ReadOnly\n" in roles, roles
    accounts = (imported / "accounts.yaml").read_text(encoding="utf-8")
    block = accounts.split(f"id: {json.dumps(account_id)}")[1].split("- id:")[0]
    assert "ReadOnly-2h" in block, accounts
    again = workspace.cli("plan", "-d", str(imported), "--detailed-exitcode")
    assert again.code == 0 and "No changes." in again.out, again
