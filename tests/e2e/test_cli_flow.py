"""The whole job through the CLI against `sandbox serve`: a real Samba AD DC, and slapd.

This is issue 7's "done when": a user's brownfield org (the sandbox reset), the
production code path (`--target live` with the environment `serve` printed), and the
Terraform-like loop: plan → apply → Okta imports the directory → apply → `plan
--detailed-exitcode` exits 0 → another apply writes nothing (asserted from moto's
request recorder, the emulator's request counts and the directory's change markers,
not from the engine's own tally) → live access equals desired access → the world, read by
the independent observer (`observer.py`), is the desired one → drift made by hand in
every system is healed by one apply, and the observer agrees.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ldap3 import MODIFY_DELETE
from ldap3.utils.conv import escape_filter_chars

from engine.compile import compile_world
from engine.load import load
from engine.sandbox.directory_servers import DirectoryKind
from tests.directory_fixtures import require_directory
from tests.e2e.harness import Run, Workspace, ldap_flavour, plan_json
from tests.e2e.inventory import assert_exactly_desired
from tests.e2e.live_systems import Live, write_marks

WAITS = re.compile(r"^\s+\+ assign (.+?)\s+\(waits for directory import\)$")


def waiting_in_text(run: Run) -> set[str]:
    return {m.group(1) for line in run.out.splitlines() if (m := WAITS.match(line))}


def not_yet_imported(workspace: Workspace, live: Live) -> set[str]:
    """Desired app assignments whose group Okta does not have yet (from Okta's API)."""
    desired = compile_world(state=load(directory=workspace.desired))
    in_okta = {
        g["profile"]["name"].lower()
        for g in live.okta_all("/api/v1/groups")
        if g["type"] == "APP_GROUP"
    }
    return {
        a.group_name
        for a in desired.app_assignments.values()
        if a.group_name.lower() not in in_okta
    }


DRIFTED_ACCOUNT, DRIFTED_ROLE = "314159265358", "Admin"  # prod-payments, converged at reset
UNNESTED = "aws#dev-sandbox#Admin#141421356237"  # DevOps Sys Admins is Member Of it


def drift_by_hand(live: Live) -> None:
    """An administrator's edits, through each system's own API."""
    iam = live.iam(DRIFTED_ACCOUNT)
    iam.detach_role_policy(
        RoleName=DRIFTED_ROLE, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"
    )
    iam.attach_role_policy(
        RoleName=DRIFTED_ROLE, PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    )
    # Another role: an update of the same role would rewrite its policies anyway.
    iam.update_role(RoleName="ReadOnly", Description="edited by hand")
    connection = live.ldap()
    try:
        base = live.meta.base_dn
        connection.search(base, f"(cn={escape_filter_chars(UNNESTED)})", attributes=["member"])
        [entry] = [e for e in connection.response if e.get("type") == "searchResEntry"]
        nested = [m for m in entry["attributes"]["member"] if "devops sys admins" in m.lower()]
        assert nested, entry
        assert connection.modify(entry["dn"], {"member": [(MODIFY_DELETE, nested)]})
    finally:
        connection.unbind()
    app = live.okta("GET", f"/api/v1/apps/{live.app_id()}")
    app["settings"]["app"].update({"joinAllRoles": True, "sessionDuration": 7200})
    live.okta("PUT", f"/api/v1/apps/{app['id']}", app)


@pytest.mark.parametrize(
    "directory",
    [
        pytest.param("samba", marks=pytest.mark.samba),
        pytest.param("slapd", marks=pytest.mark.slapd),
    ],
)
def test_brownfield_converges_through_the_cli(
    directory: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if directory == "samba":
        require_directory(DirectoryKind.ACTIVE_DIRECTORY)
        workspace = Workspace(tmp_path)
        workspace.use_samba_template(request.getfixturevalue("samba_template"))
    else:
        require_directory(DirectoryKind.LDAP)
        workspace = Workspace(tmp_path, edits=[ldap_flavour])
    workspace.env["MOTO_RECORDER_FILEPATH"] = str(tmp_path / "moto-recording.jsonl")
    served = workspace.serve(directory=directory)
    live = served.live
    live.record_aws()
    try:
        # 1. The first plan: the brownfield's drift, and assignments of groups Okta lacks.
        lagging = not_yet_imported(workspace, live)
        assert lagging, "the brownfield must have management groups Okta has not imported"
        first = workspace.live_cli("plan", "--detailed-exitcode")
        assert first.code == 2, first
        assert waiting_in_text(first) == lagging, first
        assert "rogue group" in first.out and "Target: live" in first.out, first

        # 2. apply: everything but the waiting assignments; converged apart from them.
        untouched = write_marks(live)
        applied = workspace.live_cli("apply", "--auto-approve")
        assert applied.code == 0, applied
        # Each system's write marker moves when it is written (so step 6 means something).
        moved = write_marks(live)
        assert moved.okta_writes > untouched.okta_writes, applied
        assert moved.aws_writes > untouched.aws_writes, applied
        assert moved.directory != untouched.directory, applied
        outcomes = applied.outcomes()
        assert not [o for o in outcomes if o[0] in ("failed", "skipped")], applied
        waited = {cid for outcome, cid in outcomes if outcome == "waiting"}
        assert len(waited) == len(lagging), applied
        assert f"Converged (target live), except {len(waited)} change(s) waiting" in applied.out

        # 3. Until Okta imports the directory, a plan still says the assignments wait.
        before_import = plan_json(workspace)
        assert before_import["changes"], before_import
        assert all(c["waits_for"] == "directory import" for c in before_import["changes"])
        assert {c["id"] for c in before_import["changes"]} == waited

        # 4. Okta's agent runs: the new groups appear in Okta.
        imported = live.import_directory()
        assert imported["created_groups"], imported
        assert not not_yet_imported(workspace, live)

        # 5. The run after the import completes the job; the plan is then empty.
        final = workspace.live_cli("apply", "--auto-approve")
        assert final.code == 0, final
        assert sorted(final.outcomes()) == sorted(("created", cid) for cid in waited), final
        assert "Converged (target live): the re-plan is empty." in final.out, final
        empty = workspace.live_cli("plan", "--detailed-exitcode")
        assert empty.code == 0, empty
        assert "No changes." in empty.out, empty

        # 6. A second apply makes 0 writes, as every system counts them.
        marks = write_marks(live)
        again = workspace.live_cli("apply", "--auto-approve")
        assert again.code == 0, again
        assert "Converged (target live)." in again.out and not again.outcomes(), again
        calls = again.calls()
        assert set(calls) == {"aws", "directory", "okta"}, again
        assert all(total > 0 and writes == 0 for total, writes, _ in calls.values()), calls
        assert write_marks(live) == marks

        # 7. Live access is the desired access, plus only what comes through groups whose
        # membership the desired state leaves to the directory (members omitted); live
        # state is exactly the desired one.
        desired_access = workspace.cli("access", "--format", "json")
        live_access = workspace.live_cli("access", "--live", "--format", "json")
        assert desired_access.code == live_access.code == 0, (desired_access, live_access)
        wanted = {json.dumps(row, sort_keys=True) for row in json.loads(desired_access.out)}
        found = {json.dumps(row, sort_keys=True) for row in json.loads(live_access.out)}
        assert wanted and wanted <= found, wanted - found
        unmanaged = {
            g.name for g in load(directory=workspace.desired).management_groups if g.members is None
        }
        extra = [json.loads(row) for row in found - wanted]
        assert all(set(row["via"]) <= unmanaged for row in extra), extra
        assert_exactly_desired(workspace.desired, live)

        # 8. Drift by hand in every system (a policy detached and a foreign one attached,
        # a description edited, a Member Of link removed, the app's settings edited): one
        # apply puts it all back, as the re-plan and the independent observer both see.
        drift_by_hand(live)
        assert workspace.live_cli("plan", "--detailed-exitcode").code == 2
        healed = workspace.live_cli("apply", "--auto-approve")
        assert healed.code == 0, healed
        assert "Converged (target live): the re-plan is empty." in healed.out, healed
        assert workspace.live_cli("plan", "--detailed-exitcode").code == 0
        assert_exactly_desired(workspace.desired, live)
    finally:
        assert served.stop() == 0
