"""The default target, the embedded sandbox, through the CLI across separate invocations.

What `make demo` does, as a test `make test` runs: no `sandbox serve`, no `--target
live`; every command starts the emulated systems, replays `.sandbox/` into them and
writes it back. Along the way: apply without a terminal and without `--auto-approve`
writes nothing, `--only aws` touches AWS alone, and a plan with a blocking conflict is
refused at apply (exit 3).

The commands run on the sandbox's default directory, ldap3's in-process mock, on
purpose: that is what a user without Samba or slapd gets, and what is checked here is
the persistence between invocations, not directory behaviour (the Samba and slapd
flows are `test_cli_flow.py`'s). The end state is then judged on a real server: the
persisted sandbox (the example in its OpenLDAP flavour) is served with slapd, the
entries moving into it, and the independent observer reads every system there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.sandbox.directory_servers import DirectoryKind
from tests.directory_fixtures import require_directory
from tests.e2e.harness import Run, Workspace, ldap_flavour
from tests.e2e.inventory import assert_exactly_desired


def plan_document(workspace: Workspace, *args: str) -> dict[str, Any]:
    run = workspace.cli("plan", "--format", "json", *args)
    assert run.code == 0, run
    document: dict[str, Any] = json.loads(run.out)
    return document


def systems_changed(document: dict[str, Any]) -> set[str]:
    return {c["system"] for c in document["changes"]}


def ok(run: Run) -> Run:
    assert run.code == 0, run
    return run


@pytest.mark.slapd
def test_the_embedded_sandbox_converges_across_invocations(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path, edits=[ldap_flavour])
    first = plan_document(workspace)
    assert systems_changed(first) == {"aws", "directory", "okta"}
    assert (tmp_path / ".sandbox" / "sandbox.json").exists()

    unconfirmed = workspace.cli("apply")
    assert unconfirmed.code == 3, unconfirmed
    assert "not confirmed" in unconfirmed.err and not unconfirmed.outcomes(), unconfirmed
    assert plan_document(workspace)["changes"] == first["changes"]

    only_aws = ok(workspace.cli("apply", "--only", "aws", "--auto-approve"))
    assert only_aws.outcomes() and "Converged" in only_aws.out, only_aws
    after_aws = plan_document(workspace)
    assert systems_changed(after_aws) == {"directory", "okta"}
    not_aws = [c for c in first["changes"] if c["system"] != "aws"]
    assert after_aws["changes"] == not_aws

    ok(workspace.cli("apply", "--auto-approve"))
    ok(workspace.cli("sandbox", "import"))
    ok(workspace.cli("apply", "--auto-approve"))
    assert workspace.cli("plan", "--detailed-exitcode").code == 0
    shown = ok(workspace.cli("sandbox", "show"))
    assert "aws" in shown.out.lower() and "okta" in shown.out.lower()

    # The persisted world, served on a real slapd, is the desired one.
    require_directory(DirectoryKind.LDAP)
    served = workspace.serve(directory="slapd", reset=False)
    try:
        assert_exactly_desired(workspace.desired, served.live)
    finally:
        assert served.stop() == 0


def test_a_blocked_plan_is_refused_at_apply(tmp_path: Path) -> None:
    """The brownfield's hand-made role, no longer adopted once the sandbox exists: a
    conflict that blocks the plan (exit 1) and the apply (exit 3), which writes nothing."""
    workspace = Workspace(tmp_path)
    ok(workspace.cli("sandbox", "reset"))
    accounts = workspace.desired / "accounts.yaml"
    document = yaml.safe_load(accounts.read_text(encoding="utf-8"))
    adopting = [a for a in document["accounts"] if a.pop("adopt_roles", None)]
    assert adopting
    accounts.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")

    planned = workspace.cli("plan")
    assert planned.code == 1 and "conflict" in planned.out, planned
    refused = workspace.cli("apply", "--auto-approve")
    assert refused.code == 3, refused
    assert "refused" in refused.err and not refused.outcomes(), refused
    assert workspace.cli("plan").out == planned.out
