"""Issue 10's access-delta reproductions, through the CLI, on the embedded sandbox.

The example org is converged (apply, Okta imports the directory, apply), then Admin is
dropped from dev-sandbox, where the four DevOps Sys Admins hold it:
- `plan --prune --only aws` changes AWS alone but reads every system, so it names the
  four users who lose Admin (it used to read "none"); where the others cannot be read
  (not configured), it says the delta is unknown and lists the role's deletion;
- the whole plan names the four users;
- with the role group in `safety.protected`, its IAM role stays and nobody loses Admin
  (the role used to be deleted under `--prune` with the group kept);
- a management group dropped without `--prune` leaves its role groups now, and the
  plan says the group itself stays until `--prune`.
And with every live read failing, the plan creates nothing for what it could not read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.harness import Run, Workspace

DEV_SANDBOX = "141421356237"
ADMIN_GROUP = f"aws#dev-sandbox#Admin#{DEV_SANDBOX}"
DEVOPS = {"alice", "bob", "carol", "victor"}


def ok(run: Run) -> Run:
    assert run.code == 0, run
    return run


def edit(path: Path, change: Any) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def drop_dev_admin(document: dict[str, Any]) -> None:
    for account in document.get("accounts", []):
        if account["id"] == DEV_SANDBOX:
            account["roles"].remove("Admin")
    for group in document.get("management_groups", []):
        group["grants"] = [
            g for g in group["grants"] if (g.get("account"), g["role"]) != ("dev-sandbox", "Admin")
        ]


def plan_document(workspace: Workspace, *args: str) -> dict[str, Any]:
    run = workspace.cli("plan", "--format", "json", *args)
    assert run.code in (0, 1), run
    document: dict[str, Any] = json.loads(run.out)
    return document


def admin_losses(document: dict[str, Any]) -> set[str]:
    return {
        a["user"]
        for a in document["access_delta"]
        if not a["gained"] and a["account_id"] == DEV_SANDBOX and a["role"] == "Admin"
    }


def test_the_access_delta_never_reads_none_while_access_is_lost(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    ok(workspace.cli("apply", "--auto-approve"))
    ok(workspace.cli("sandbox", "import"))
    ok(workspace.cli("apply", "--auto-approve"))
    desired = workspace.desired
    edit(desired / "accounts.yaml", drop_dev_admin)
    edit(desired / "groups" / "platform.yaml", drop_dev_admin)

    # --only aws changes AWS alone but still reads the directory and Okta, which decide
    # who signs in: the delta is complete (it used to read "none").
    only_aws = plan_document(workspace, "--prune", "--only", "aws")
    assert only_aws["access_unknown"] is None
    assert admin_losses(only_aws) == DEVOPS
    assert {c["system"] for c in only_aws["changes"]} == {"aws"}
    assert f"role:{DEV_SANDBOX}/admin:-" in {c["id"] for c in only_aws["changes"]}

    whole = plan_document(workspace, "--prune")
    assert whole["access_unknown"] is None
    assert admin_losses(whole) == DEVOPS
    assert f"role:{DEV_SANDBOX}/admin:-" in {c["id"] for c in whole["changes"]}

    def protect(document: dict[str, Any]) -> None:
        document["settings"]["safety"]["protected"].append(ADMIN_GROUP)

    edit(desired / "settings.yaml", protect)
    protected = plan_document(workspace, "--prune")
    assert admin_losses(protected) == set()
    ids = {c["id"] for c in protected["changes"]}
    assert f"role:{DEV_SANDBOX}/admin:-" not in ids
    kept = {f["subject"]: f["message"] for f in protected["findings"]}
    assert ADMIN_GROUP in kept[f"role Admin in dev-sandbox ({DEV_SANDBOX})"]

    def drop_security(document: dict[str, Any]) -> None:
        document["management_groups"] = [
            g for g in document["management_groups"] if g["name"] != "Security Engineering"
        ]

    edit(desired / "groups" / "platform.yaml", drop_security)
    dropped = plan_document(workspace)
    [finding] = [
        f for f in dropped["findings"] if f["subject"] == "management group Security Engineering"
    ]
    assert "would be deleted with --prune" in finding["message"]
    assert "Meanwhile it leaves the role groups the desired state keeps" in finding["message"]
    links = [
        c
        for c in dropped["changes"]
        if c["kind"] == "group_member" and "security engineering" in c["id"]
    ]
    assert links and all("stays until --prune" in c["reason"] for c in links)
    assert {a["user"] for a in dropped["access_delta"] if not a["gained"]} >= {"heidi", "uma"}


def test_a_plan_whose_reads_all_fail_creates_nothing(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    closed = "127.0.0.1:9"  # nothing listens there
    workspace.env.update(
        {
            "AWS_ENDPOINT_URL": f"http://{closed}",
            "AWS_ACCESS_KEY_ID": "e2e",
            "AWS_SECRET_ACCESS_KEY": "e2e",
            "AWS_MAX_ATTEMPTS": "1",
            "OKTA_ORG_URL": f"https://{closed}",
            "OKTA_API_TOKEN": "e2e",
            "OKTA_CLIENT_RATELIMIT_MAXRETRIES": "0",
            "LDAP_URL": f"ldap://{closed}",
            "LDAP_BIND_DN": "cn=e2e",
            "LDAP_PASSWORD": "e2e",
        }
    )
    run = workspace.cli("plan", "--target", "live", "--format", "json")
    assert run.code == 1, run
    document = json.loads(run.out)
    assert document["changes"] == []
    assert document["summary"]["blocked"] and not document["summary"]["complete"]
    assert document["access_unknown"].startswith("the directory and Okta were not read")
    text = workspace.cli("plan", "--target", "live")
    assert "Access changes: unknown: " in text.out and "+ " not in text.out, text


def test_only_aws_without_the_other_systems_says_the_delta_is_unknown(tmp_path: Path) -> None:
    """Only AWS configured (no LDAP_URL, no OKTA_ORG_URL): the directory and Okta cannot
    be read, so the plan cannot know who loses what and says so, never "none"."""
    workspace = Workspace(tmp_path)
    workspace.env.update(
        {
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # nothing listens there
            "AWS_ACCESS_KEY_ID": "e2e",
            "AWS_SECRET_ACCESS_KEY": "e2e",
            "AWS_MAX_ATTEMPTS": "1",
        }
    )
    for name in ("LDAP_URL", "OKTA_ORG_URL", "OKTA_API_TOKEN"):
        workspace.env.pop(name, None)
    run = workspace.cli("plan", "--target", "live", "--only", "aws", "--format", "json")
    assert run.code == 1, run
    document = json.loads(run.out)
    assert "the directory and Okta were not read (--only aws)" in document["access_unknown"]
    text = workspace.cli("plan", "--target", "live", "--only", "aws")
    assert "Access changes: unknown: " in text.out and "Access changes: none" not in text.out
