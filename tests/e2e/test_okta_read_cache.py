"""The Okta read cache through the CLI, on a served sandbox: a plan after a full read
reuses every member list, a directory import makes only the groups it changed read
again, `--full-read` reads them all, and every plan is the one a full read gives."""

from __future__ import annotations

import re
from urllib.parse import quote

import ldap3
import pytest

from tests.e2e.harness import Served, Workspace, finish

Sandbox = tuple[Workspace, Served]
INCREMENTAL = re.compile(r"okta members: incremental read, (\d+) lists unchanged .*?, (\d+) read")
MANAGEMENT_OU = "ou=aws management groups,dc=example,dc=test"  # harness.ldap_flavour
FULL = re.compile(r"okta members: full read \(([^)]*)\), (\d+) lists read")


def plan_text(workspace: Workspace, *args: str) -> tuple[str, str]:
    """The plan (stdout) and the summary line about the Okta read."""
    run = workspace.live_cli("plan", *args)
    assert run.code == 0, run
    summary = next(line for line in run.err.splitlines() if "API calls:" in line)
    return run.out, summary


def membership_stamps(served: Served) -> dict[str, str]:
    state = served.live.okta("GET", "/_emulator/state")
    return {g["id"]: g["last_membership_updated"] for g in state["groups"]}


def okta_logins(served: Served, name: str) -> set[str]:
    """The local parts of the logins Okta lists as members of the group named `name`."""
    found = [
        g
        for g in served.live.okta_all(f"/api/v1/groups?q={quote(name)}")
        if g["profile"]["name"].lower() == name.lower()
    ]
    if len(found) != 1:
        return set()
    users = served.live.okta_all(f"/api/v1/groups/{found[0]['id']}/users")
    return {u["profile"]["login"].split("@")[0].lower() for u in users}


def drop_one_user_member(served: Served) -> str:
    """Remove from one imported management group a user Okta has in it; the group's DN."""
    connection = served.live.ldap()
    try:
        connection.search(
            served.live.meta.base_dn,
            "(|(objectClass=group)(objectClass=groupOfNames))",
            ldap3.SUBTREE,
            attributes=["member", "cn"],
        )
        groups = {
            e["dn"].lower(): (
                str(e["attributes"]["cn"][0]),
                [str(m) for m in e["attributes"].get("member") or ()],
            )
            for e in connection.response
            if e.get("type") == "searchResEntry"
        }
        for dn, (name, members) in sorted(groups.items()):
            if not dn.endswith(MANAGEMENT_OU) or len(members) < 2:
                continue
            in_okta = okta_logins(served, name)
            users = [
                m
                for m in members
                if m.lower() not in groups and m.split(",")[0].split("=")[1].lower() in in_okta
            ]
            if users:
                connection.modify(dn, {"member": [(ldap3.MODIFY_DELETE, [users[0]])]})
                assert connection.result["result"] == 0, connection.result
                return str(dn)
        raise AssertionError("no management group with a user member Okta knows")
    finally:
        connection.unbind()


@pytest.mark.slapd
def test_plans_reuse_unchanged_member_lists_and_read_what_an_import_changed(
    ldap_served: Sandbox,
) -> None:
    workspace, served = ldap_served
    finish(workspace, served)  # converged: apply, import, apply, plan
    # Five minutes on: every list's last change is older than the overlap window.
    served.live.okta("POST", "/_emulator/clock", {"advance": 300})
    full_plan, full = plan_text(workspace, "--full-read")
    forced = FULL.search(full)
    assert forced is not None and forced.group(1) == "--full-read", full
    lists = int(forced.group(2))
    assert lists > 0

    warm_plan, warm = plan_text(workspace)
    reused = INCREMENTAL.search(warm)
    assert reused is not None and (int(reused.group(1)), int(reused.group(2))) == (lists, 0), warm
    assert warm_plan == full_plan

    before = membership_stamps(served)
    drop_one_user_member(served)
    served.live.import_directory()  # Okta's agent catches up with the directory
    changed = {g for g, stamp in membership_stamps(served).items() if before.get(g) != stamp}
    assert changed
    after_import, summary = plan_text(workspace)
    again = INCREMENTAL.search(summary)
    assert again is not None, summary
    read_again = int(again.group(2))
    assert 0 < read_again <= len(changed) and int(again.group(1)) == lists - read_again
    assert after_import == plan_text(workspace, "--full-read")[0]
