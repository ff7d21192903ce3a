"""The sandbox's brownfield world, observed through the real protocols (mock directory).

One reset and one `running()` session per module (moto's backends are process-global, so
sessions are sequential). Everything is checked the way the engine will see it: boto3
against moto over HTTP, ldap3 against the directory, HTTP against the Okta emulator.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ldap3
import pytest
import requests
import yaml

from engine.dn import normalize_dn
from engine.load import load
from engine.lock import LockHeld
from engine.model import DirectoryKind, metadata_digest
from engine.naming import render_role_group_name
from engine.sandbox.brownfield import (
    EXTRA_USERS,
    HAND_MADE_EXTRA_POLICY,
    LEGACY_ROLE,
    PILOT_GROUP,
    ROGUE_USER,
    STALE_MEMBER,
    build_brownfield,
)
from engine.sandbox.command import sandbox
from engine.sandbox.directory_store import MockDirectory
from engine.sandbox.persist import DirectoryMode
from engine.sandbox.world import SandboxEndpoints, SandboxWorld
from engine.spec import DesiredState
from engine.targets import SANDBOX_ROOT_ENV
from tests.sandbox_iam import iam_client

DESIRED = Path(__file__).resolve().parents[2] / "desired-state"
MGMT_OU = "OU=AWS Management Groups,DC=example,DC=test"
ROLE_OU = "OU=AWS Role Groups,DC=example,DC=test"
USERS = "CN=Users,DC=example,DC=test"
PROD_PAYMENTS, PROD_LEDGER, STAGING_PAYMENTS, STAGING_LEDGER = (
    "314159265358",
    "271828182845",
    "161803398874",
    "282842712474",
)
DEV_SANDBOX, DATA_LAKE = "141421356237", "244948974278"


def edited_state(tmp: Path, edit: Callable[[dict[str, Any]], None]) -> DesiredState:
    """A copy of the example desired state with `edit` applied to its parsed files."""
    target = tmp / "desired-state"
    files: dict[str, Any] = {}
    for path in sorted(DESIRED.rglob("*")):
        relative = path.relative_to(DESIRED)
        if path.is_dir():
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".yaml":
            files[str(relative)] = yaml.safe_load(path.read_text())
        else:
            (target / relative).write_bytes(path.read_bytes())
    edit(files)
    for name, data in files.items():
        (target / name).write_text(yaml.safe_dump(data, sort_keys=False))
    return load(directory=target)


@pytest.fixture(scope="module")
def state() -> DesiredState:
    return load(directory=DESIRED)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, state: DesiredState) -> SandboxWorld:
    sandbox = SandboxWorld(tmp_path_factory.mktemp("world") / ".sandbox")
    sandbox.reset(state=state)
    return sandbox


@pytest.fixture(scope="module")
def ends(world: SandboxWorld) -> Iterator[SandboxEndpoints]:
    with world.running() as endpoints:
        yield endpoints


def iam(ends: SandboxEndpoints, account_id: str) -> Any:
    return iam_client(ends, account_id, session="sandbox-test")


def okta_get(ends: SandboxEndpoints, path: str, **params: str) -> Any:
    response = requests.get(
        ends.okta_org_url + path,
        params=params,
        headers={"Authorization": f"SSWS {ends.okta_token}", "Accept": "application/json"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def okta_group(ends: SandboxEndpoints, name: str, group_type: str) -> dict[str, Any]:
    groups = okta_get(ends, "/api/v1/groups", q=name)
    found = [g for g in groups if g["profile"]["name"] == name and g["type"] == group_type]
    assert len(found) == 1, f"{group_type} {name}: {[g['profile']['name'] for g in groups]}"
    return dict(found[0])


def okta_members(ends: SandboxEndpoints, group_id: str) -> set[str]:
    users = okta_get(ends, f"/api/v1/groups/{group_id}/users")
    return {u["profile"]["login"] for u in users}


def ldap_members(ends: SandboxEndpoints, dn: str) -> set[str]:
    assert ends.connection_factory is not None
    conn = ends.connection_factory()
    assert conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["member"]), conn.result
    return {normalize_dn(m) for m in conn.response[0]["attributes"].get("member", [])}


# --- AWS -------------------------------------------------------------------------------------


def provider(ends: SandboxEndpoints, account_id: str) -> dict[str, Any] | None:
    client = iam(ends, account_id)
    arns = [p["Arn"] for p in client.list_saml_providers()["SAMLProviderList"]]
    if not arns:
        return None
    assert arns == [f"arn:aws:iam::{account_id}:saml-provider/OKTA"]
    return dict(client.get_saml_provider(SAMLProviderArn=arns[0]))


@pytest.mark.parametrize(
    ("account_id", "expected"),
    [
        (PROD_PAYMENTS, "current"),
        (PROD_LEDGER, "current"),
        (STAGING_PAYMENTS, "current"),
        (STAGING_LEDGER, "old"),
        (DEV_SANDBOX, None),
        (DATA_LAKE, None),
    ],
)
def test_saml_providers_are_partly_rolled_out(
    ends: SandboxEndpoints, state: DesiredState, account_id: str, expected: str | None
) -> None:
    got = provider(ends, account_id)
    if expected is None:
        assert got is None
        return
    assert got is not None
    assert {t["Key"]: t["Value"] for t in got["Tags"]} == {"managed-by": "okta-aws"}
    desired = state.settings.saml_provider.metadata or ""
    same = metadata_digest(got["SAMLMetadataDocument"]) == metadata_digest(desired)
    assert same is (expected == "current")
    assert len(got["SAMLMetadataDocument"]) >= 1000


@pytest.mark.parametrize(
    ("account_id", "role", "tagged", "policies"),
    [
        (PROD_PAYMENTS, "Admin", True, {"arn:aws:iam::aws:policy/AdministratorAccess"}),
        (PROD_PAYMENTS, LEGACY_ROLE, True, {"arn:aws:iam::aws:policy/PowerUserAccess"}),
        (
            DATA_LAKE,
            "ReadOnly",
            False,
            {"arn:aws:iam::aws:policy/ReadOnlyAccess", HAND_MADE_EXTRA_POLICY},
        ),
        (
            DEV_SANDBOX,
            "OrganizationAccountAccessRole",
            False,
            {"arn:aws:iam::aws:policy/AdministratorAccess"},
        ),
    ],
)
def test_roles_tagged_untagged_and_adoptable(
    ends: SandboxEndpoints, account_id: str, role: str, tagged: bool, policies: set[str]
) -> None:
    client = iam(ends, account_id)
    tags = {t["Key"]: t["Value"] for t in client.list_role_tags(RoleName=role)["Tags"]}
    assert (tags.get("managed-by") == "okta-aws") is tagged
    attached = client.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert {p["PolicyArn"] for p in attached} == policies


def test_empty_accounts_hold_only_the_access_role(ends: SandboxEndpoints) -> None:
    roles = iam(ends, DEV_SANDBOX).list_roles()["Roles"]
    assert [r["RoleName"] for r in roles] == ["OrganizationAccountAccessRole"]


def test_old_metadata_account_has_a_drifted_role(ends: SandboxEndpoints) -> None:
    role = iam(ends, STAGING_LEDGER).get_role(RoleName="Admin")["Role"]
    assert role["MaxSessionDuration"] != 3600  # the desired Admin duration


# --- directory -------------------------------------------------------------------------------


def test_stale_member_in_existing_management_group(ends: SandboxEndpoints) -> None:
    members = ldap_members(ends, f"CN=DevOps Sys Admins,{MGMT_OU}")
    users = {normalize_dn(f"CN={u},{USERS}") for u in ("alice", "bob", "carol", STALE_MEMBER)}
    assert members == users  # victor (desired) missing, xavier stale


def test_adopted_department_group_exists_outside_the_managed_ous(ends: SandboxEndpoints) -> None:
    members = ldap_members(ends, "CN=Finance Department,OU=Departments,DC=example,DC=test")
    assert members == {normalize_dn(f"CN={u},{USERS}") for u in ("walter", "wendy")}


def test_role_group_nests_existing_management_group(ends: SandboxEndpoints) -> None:
    name = "aws#prod-payments#ReadOnly#314159265358"
    members = ldap_members(ends, f"CN={name},{ROLE_OU}")
    assert members == {normalize_dn(f"CN=DevOps Sys Admins,{MGMT_OU}")}


def test_every_desired_login_is_a_directory_user(
    ends: SandboxEndpoints, state: DesiredState
) -> None:
    assert ends.connection_factory is not None
    conn = ends.connection_factory()
    conn.search(USERS, "(objectClass=user)", attributes=["sAMAccountName"])
    logins = {str(e["attributes"]["sAMAccountName"]) for e in conn.response}
    wanted = {m for g in state.management_groups for m in (g.members or ())}
    assert wanted | set(EXTRA_USERS) <= logins


# --- Okta ------------------------------------------------------------------------------------


def test_aws_app_has_okta_defaults(ends: SandboxEndpoints) -> None:
    apps = okta_get(ends, "/api/v1/apps")
    aws = [a for a in apps if a["name"] == "amazon_aws"]
    assert [a["label"] for a in aws] == ["Amazon Web Services"]
    settings = aws[0]["settings"]["app"]
    assert settings["useGroupMapping"] is False
    assert settings["appFilter"] == "okta"
    assert "active_directory" in {a["name"] for a in apps}


def test_rogue_group_is_an_okta_group_named_like_a_role_group(ends: SandboxEndpoints) -> None:
    name = render_role_group_name(
        syntax="aws#{alias}#{role}#{account_id}",
        alias="prod-payments",
        role="Admin",
        account_id=PROD_PAYMENTS,
    )
    rogue = okta_group(ends, name, "OKTA_GROUP")
    assert okta_members(ends, rogue["id"]) == {ROGUE_USER}


def test_initial_import_flattens_nesting(ends: SandboxEndpoints) -> None:
    group = okta_group(ends, "aws#prod-payments#ReadOnly#314159265358", "APP_GROUP")
    assert okta_members(ends, group["id"]) == {"alice", "bob", "carol", STALE_MEMBER}


def test_assignments_include_a_hand_made_one(ends: SandboxEndpoints) -> None:
    apps = okta_get(ends, "/api/v1/apps")
    app_id = next(a["id"] for a in apps if a["name"] == "amazon_aws")
    assigned = okta_get(ends, f"/api/v1/apps/{app_id}/groups")
    names = {okta_get(ends, f"/api/v1/groups/{a['id']}")["profile"]["name"] for a in assigned}
    assert names == {PILOT_GROUP, "DevOps Sys Admins"}


def test_okta_already_mirrors_the_brownfield_directory(world: SandboxWorld) -> None:
    result = world.import_directory()
    assert result.created_groups == result.updated_groups == result.removed_groups == ()
    assert result.membership_changes == 0


def test_directory_writes_reach_okta_only_after_import(
    world: SandboxWorld, ends: SandboxEndpoints
) -> None:
    assert ends.connection_factory is not None
    conn = ends.connection_factory()
    name = "aws#dev-sandbox#ReadOnly#141421356237"
    dn = f"CN={name},{ROLE_OU}"
    nested = f"CN=Data Scientists,{MGMT_OU}"
    assert conn.add(dn, "group", {"cn": name, "groupType": -2147483646, "member": [nested]})
    before = okta_get(ends, "/api/v1/groups", q=name)
    assert before == []  # the agent has not run yet: Okta lags the directory
    result = world.import_directory()
    assert result.created_groups == (name,)
    group = okta_group(ends, name, "APP_GROUP")
    assert okta_members(ends, group["id"]) == {"yvonne", "zoe"}  # through the nesting
    assert world.import_directory().created_groups == ()


def test_env_names_every_variable_a_live_run_needs(ends: SandboxEndpoints) -> None:
    env = ends.env()
    assert env["AWS_ENDPOINT_URL"] == ends.aws_endpoint_url
    assert env["OKTA_ORG_URL"] == ends.okta_org_url
    assert env["OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"] == "true"
    assert "LDAP_URL" not in env  # the mock has no address
    assert ends.kind is DirectoryMode.MOCK


# --- show and the recipe ---------------------------------------------------------------------


def test_show_lists_each_system(world: SandboxWorld, ends: SandboxEndpoints) -> None:
    text = world.show(aliases={DATA_LAKE: "data-lake"})
    assert "data-lake (244948974278)" in text
    assert "role ReadOnly  UNTAGGED" in text
    assert "DevOps Sys Admins  4 members (0 groups, 4 users)" in text
    assert "settings.app.useGroupMapping: False" in text
    assert "assigned to Amazon Web Services: AWS Console Pilot, DevOps Sys Admins" in text


def _adopt(account: str, role: str) -> Callable[[dict[str, Any]], None]:
    def edit(files: dict[str, Any]) -> None:
        for entry in files["accounts.yaml"]["accounts"]:
            if entry["alias"] == account:
                entry["adopt_roles"] = [*entry.get("adopt_roles", []), role]

    return edit


@pytest.mark.parametrize(
    ("alias", "role", "account_id"),
    [("prod-payments", "PowerUser", PROD_PAYMENTS), ("sandbox-ml", "Admin", "264575131106")],
)
def test_every_adopted_role_gets_an_untagged_hand_made_twin(
    tmp_path: Path, alias: str, role: str, account_id: str
) -> None:
    state = edited_state(tmp_path, _adopt(alias, role))
    aws = build_brownfield(state=state, mode=DirectoryMode.MOCK).aws
    for account, name in ((account_id, role), (DATA_LAKE, "ReadOnly")):
        twins = [r for r in aws[account].roles if r.name == name]
        assert len(twins) == 1
        assert not twins[0].tags
        assert HAND_MADE_EXTRA_POLICY in twins[0].managed_policies


def _ldap_kind(files: dict[str, Any]) -> None:
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


def test_ldap_flavour_uses_ldap_schema_and_source(tmp_path: Path) -> None:
    state = edited_state(tmp_path, _ldap_kind)
    world = build_brownfield(state=state, mode=DirectoryMode.MOCK)
    assert world.meta.flavor is DirectoryKind.LDAP
    assert world.meta.okta_directory_app == "ldap_sun_one"
    classes = {e.object_class for e in world.entries}
    assert classes == {"inetOrgPerson", "groupOfNames", "organizationalUnit"}
    mock = MockDirectory(flavor=DirectoryKind.LDAP, base_dn=world.meta.base_dn)
    mock.load(world.entries)
    assert {normalize_dn(e.dn) for e in mock.dump()} == {normalize_dn(e.dn) for e in world.entries}
    sources = {a.name for a in world.okta.apps.values()}
    assert sources == {"amazon_aws", "ldap_sun_one"}


def _okta_kind(files: dict[str, Any]) -> None:
    settings = files["settings.yaml"]["settings"]
    settings["directory"] = {"kind": "okta"}
    settings["okta"]["app_filter"] = "okta"
    for group in files["groups/teams.yaml"]["management_groups"]:
        group.pop("dn", None)


def test_okta_kind_has_no_directory_and_no_rogue(tmp_path: Path) -> None:
    state = edited_state(tmp_path, _okta_kind)
    world = build_brownfield(state=state, mode=DirectoryMode.AUTO)
    assert world.meta.flavor is DirectoryKind.OKTA
    assert world.entries == ()
    okta = world.okta
    by_name = {g.name: g for g in okta.groups.values()}
    devops = by_name["DevOps Sys Admins"]
    logins = {okta.users[u].login for u in okta.members[devops.id]}
    assert logins == {"alice", "bob", "carol", STALE_MEMBER}
    # appFilter includes okta: an OKTA_GROUP named like a role group is legitimate here.
    assert all(
        okta.users[u].login != ROGUE_USER
        for g in by_name.values()
        if g.name.startswith("aws#")
        for u in okta.members[g.id]
    )
    assert json.loads(okta.to_json())["version"] == 1


def test_a_second_session_on_the_same_sandbox_is_refused(
    world: SandboxWorld, ends: SandboxEndpoints, state: DesiredState
) -> None:
    """Each session replays the persisted world and writes it back when it ends: a second
    one running at the same time (a plan during an apply, any command while `sandbox
    serve` runs) would overwrite the first one's writes. Only one runs; the refusal
    names the holder, and a reset cannot wipe the sandbox from under it either."""
    other = SandboxWorld(world.root)  # as another process would open it
    with pytest.raises(LockHeld) as refused, other.running():
        pass
    assert "another sandbox session holds the lock" in str(refused.value)
    assert f"pid {os.getpid()}" in str(refused.value)
    with pytest.raises(LockHeld):
        other.reset(state=state)
    assert world.exists() and ends.okta_org_url  # untouched, still serving


@pytest.mark.parametrize("action", ["import", "reset"])
def test_sandbox_commands_during_a_session_are_refused_with_the_way_out(
    world: SandboxWorld, ends: SandboxEndpoints, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    monkeypatch.setenv(SANDBOX_ROOT_ENV, str(world.root))
    out, err = io.StringIO(), io.StringIO()
    code = sandbox(
        action=action,
        directory=DESIRED,
        directory_mode="auto",
        import_every=None,
        out=out,
        err=err,
    )
    assert code == 1 and out.getvalue() == ""
    assert "another sandbox session holds the lock" in err.getvalue()
    assert "--import-every SECONDS" in err.getvalue()
    assert world.exists() and ends.okta_org_url
