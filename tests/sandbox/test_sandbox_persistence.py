"""The sandbox survives between CLI invocations: two `running()` sessions, one world.

Writes made in one session through the real protocols (boto3 to moto, ldap3 to the
directory, HTTP to the Okta emulator) must be visible in the next, for the mock
directory and for a real Samba AD DC; files are versioned and refused when foreign.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ldap3
import pytest
import requests
import yaml

from engine.dn import normalize_dn
from engine.load import load
from engine.model import DirectoryKind, saml_trust_policy
from engine.sandbox.persist import (
    AWS_FILE,
    DIRECTORY_FILE,
    META_FILE,
    OKTA_FILE,
    DirectoryMode,
    SandboxError,
    check_state_files,
    read_json,
    write_json,
)
from engine.sandbox.world import SAMBA_TEMPLATE_DIR, SESSION_LOCK, SandboxEndpoints, SandboxWorld
from engine.spec import DesiredState
from engine.targets import SANDBOX_ROOT_ENV, open_target
from tests.sandbox_iam import iam_client

DESIRED = Path(__file__).resolve().parents[2] / "desired-state"
DEV_SANDBOX, PROD_PAYMENTS = "141421356237", "314159265358"
MGMT_OU = "OU=AWS Management Groups,DC=example,DC=test"
NEW_GROUP = "Release Managers"


@pytest.fixture(scope="module")
def state() -> DesiredState:
    return load(directory=DESIRED)


def iam(ends: SandboxEndpoints, account_id: str) -> Any:
    return iam_client(ends, account_id, session="sandbox-test")


def okta(ends: SandboxEndpoints, method: str, path: str, **params: str) -> Any:
    response = requests.request(
        method,
        ends.okta_org_url + path,
        params=params,
        headers={"Authorization": f"SSWS {ends.okta_token}", "Accept": "application/json"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json() if response.content else None


def connect(ends: SandboxEndpoints) -> ldap3.Connection:
    if ends.connection_factory is not None:
        return ends.connection_factory()
    assert ends.ldap_url is not None
    return ldap3.Connection(ends.ldap_url, ends.bind_dn, ends.password, auto_bind=True)


def aws_app_and_group(ends: SandboxEndpoints, name: str) -> tuple[str, str]:
    app_id = next(a["id"] for a in okta(ends, "GET", "/api/v1/apps") if a["name"] == "amazon_aws")
    group_id = next(g["id"] for g in okta(ends, "GET", "/api/v1/groups", q=name))
    return app_id, group_id


def write_in_session_one(ends: SandboxEndpoints) -> None:
    client = iam(ends, DEV_SANDBOX)
    client.create_role(
        RoleName="Admin",
        AssumeRolePolicyDocument=saml_trust_policy(account_id=DEV_SANDBOX, provider_name="OKTA"),
        Tags=[{"Key": "managed-by", "Value": "okta-aws"}],
        MaxSessionDuration=7200,
    )
    client.attach_role_policy(
        RoleName="Admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"
    )
    legacy = iam(ends, PROD_PAYMENTS)
    legacy.detach_role_policy(
        RoleName="LegacyDeployer", PolicyArn="arn:aws:iam::aws:policy/PowerUserAccess"
    )
    legacy.delete_role(RoleName="LegacyDeployer")
    conn = connect(ends)
    attributes = {"cn": NEW_GROUP, "sAMAccountName": "release-managers", "groupType": -2147483646}
    assert conn.add(f"CN={NEW_GROUP},{MGMT_OU}", "group", attributes), conn.result
    alice = "CN=alice,CN=Users,DC=example,DC=test"
    assert conn.modify(f"CN={NEW_GROUP},{MGMT_OU}", {"member": [(ldap3.MODIFY_ADD, [alice])]})
    app_id, group_id = aws_app_and_group(ends, "Finance Department")
    okta(ends, "PUT", f"/api/v1/apps/{app_id}/groups/{group_id}")


def check_in_session_two(ends: SandboxEndpoints) -> None:
    client = iam(ends, DEV_SANDBOX)
    role = client.get_role(RoleName="Admin")["Role"]
    assert role["MaxSessionDuration"] == 7200
    tags = client.list_role_tags(RoleName="Admin")["Tags"]
    assert tags == [{"Key": "managed-by", "Value": "okta-aws"}]
    attached = client.list_attached_role_policies(RoleName="Admin")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == ["arn:aws:iam::aws:policy/AdministratorAccess"]
    names = {r["RoleName"] for r in iam(ends, PROD_PAYMENTS).list_roles()["Roles"]}
    assert "LegacyDeployer" not in names and "Admin" in names
    conn = connect(ends)
    assert conn.search(
        f"CN={NEW_GROUP},{MGMT_OU}", "(objectClass=group)", ldap3.BASE, attributes=["member"]
    )
    members = {normalize_dn(str(m)) for m in conn.response[0]["attributes"]["member"]}
    assert members == {normalize_dn("CN=alice,CN=Users,DC=example,DC=test")}
    app_id, group_id = aws_app_and_group(ends, "Finance Department")
    assigned = {a["id"] for a in okta(ends, "GET", f"/api/v1/apps/{app_id}/groups")}
    assert group_id in assigned


def test_mock_world_persists_across_sessions(tmp_path: Path, state: DesiredState) -> None:
    world = SandboxWorld(tmp_path / ".sandbox")
    world.reset(state=state)
    with world.running() as ends:
        write_in_session_one(ends)
    with world.running() as ends:
        assert ends.kind is DirectoryMode.MOCK
        check_in_session_two(ends)
    document = json.loads((tmp_path / ".sandbox" / AWS_FILE).read_text())
    assert document["version"] == 1
    assert not list((tmp_path / ".sandbox").glob(".*.tmp*"))  # atomic writes left nothing


def test_samba_world_persists_across_sessions(
    tmp_path: Path, state: DesiredState, samba_template: Path
) -> None:
    root = tmp_path / ".sandbox"
    root.mkdir()
    # The session's provisioned template (resolve() finds the original, as start_samba needs).
    (root / SAMBA_TEMPLATE_DIR).symlink_to(samba_template, target_is_directory=True)
    world = SandboxWorld(root)
    world.reset(state=state, directory="samba")
    assert (root / SAMBA_TEMPLATE_DIR).exists()  # reset keeps the template cache
    with world.running() as ends:
        assert ends.kind is DirectoryMode.SAMBA
        assert ends.ldap_url is not None and ends.ldap_url.startswith("ldap://127.")
        assert "LDAP_PASSWORD" in ends.env()
        write_in_session_one(ends)
        result = world.import_directory()
        # Samba spells DNs its own way; the import still matches every brownfield group.
        assert result.created_groups == (NEW_GROUP,)
        assert result.updated_groups == result.removed_groups == ()
    with world.running() as ends:
        check_in_session_two(ends)
        stale = connect(ends)
        stale.search(
            f"CN=DevOps Sys Admins,{MGMT_OU}", "(objectClass=group)", attributes=["member"]
        )
        members = {normalize_dn(str(m)) for m in stale.response[0]["attributes"]["member"]}
        assert normalize_dn("CN=xavier,CN=Users,DC=example,DC=test") in members


def test_mock_and_real_directories_share_one_entry_format(
    tmp_path: Path, state: DesiredState, samba_template: Path
) -> None:
    """A mock-made sandbox can be served by Samba: the same entries come back."""
    root = tmp_path / ".sandbox"
    root.mkdir()
    (root / SAMBA_TEMPLATE_DIR).symlink_to(samba_template, target_is_directory=True)
    world = SandboxWorld(root)
    world.reset(state=state)
    before = read_json(root / DIRECTORY_FILE, format_name="okta-aws-sandbox-directory")
    with world.running(directory="samba"):
        pass
    after = read_json(root / DIRECTORY_FILE, format_name="okta-aws-sandbox-directory")

    def keyed(document: dict[str, Any]) -> dict[str, tuple[str, set[str]]]:
        return {
            normalize_dn(e["dn"]): (
                e["objectClass"],
                {normalize_dn(m) for m in e["attributes"].get("member", [])},
            )
            for e in document["entries"]
        }

    assert keyed(after) == keyed(before)


def _edit(files: Path, change: Callable[[dict[str, Any]], None]) -> DesiredState:
    target = files / "desired-state"
    target.mkdir()
    for path in DESIRED.rglob("*"):
        if path.is_file():
            out = target / path.relative_to(DESIRED)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(path.read_bytes())
    settings_file = target / "settings.yaml"
    data = yaml.safe_load(settings_file.read_text())
    change(data["settings"])
    settings_file.write_text(yaml.safe_dump(data))
    return load(directory=target)


def _kind_okta(settings: dict[str, Any]) -> None:
    settings["directory"] = {"kind": "okta"}


@pytest.mark.parametrize(
    ("kind_okta", "requested", "message"),
    [
        (False, "slapd", "slapd cannot host a active_directory directory"),
        (False, "none", "needs a directory"),
        (True, "mock", "has no directory"),
        (False, "ldap", "is not a valid DirectoryMode"),
    ],
)
def test_reset_refuses_a_directory_that_cannot_host_the_state(
    tmp_path: Path, state: DesiredState, kind_okta: bool, requested: str, message: str
) -> None:
    desired = _edit(tmp_path, _kind_okta) if kind_okta else state
    world = SandboxWorld(tmp_path / ".sandbox")
    with pytest.raises((SandboxError, ValueError), match=message):
        world.reset(state=desired, directory=requested)
    assert not (tmp_path / ".sandbox" / META_FILE).exists()


def test_running_without_reset_says_what_to_run(tmp_path: Path) -> None:
    world = SandboxWorld(tmp_path / ".sandbox")
    with pytest.raises(SandboxError, match="sandbox reset"), world.running():
        pass


def test_a_file_of_another_version_is_refused(tmp_path: Path, state: DesiredState) -> None:
    world = SandboxWorld(tmp_path / ".sandbox")
    world.reset(state=state)
    path = tmp_path / ".sandbox" / AWS_FILE
    document = json.loads(path.read_text())
    document["version"] = 99
    path.write_text(json.dumps(document))
    with pytest.raises(SandboxError, match="format version 99"), world.running():
        pass


def test_reset_wipes_everything_but_the_samba_template(tmp_path: Path, state: DesiredState) -> None:
    root = tmp_path / ".sandbox"
    (root / SAMBA_TEMPLATE_DIR).mkdir(parents=True)
    (root / SAMBA_TEMPLATE_DIR / "marker").write_text("x")
    (root / "stray.json").write_text("{}")
    SandboxWorld(root).reset(state=state)
    assert (root / SAMBA_TEMPLATE_DIR / "marker").exists()
    assert not (root / "stray.json").exists()
    assert {p.name for p in root.iterdir()} == {
        SAMBA_TEMPLATE_DIR,
        META_FILE,
        AWS_FILE,
        DIRECTORY_FILE,
        "okta.json",
        SESSION_LOCK,  # the reset held it; kept so a waiting process locks the same file
    }


def test_okta_kind_sessions_have_no_directory(tmp_path: Path) -> None:
    desired = _edit(tmp_path, _kind_okta)
    world = SandboxWorld(tmp_path / ".sandbox")
    world.reset(state=desired)
    with world.running() as ends:
        assert ends.kind is DirectoryMode.NONE
        assert ends.connection_factory is None and ends.ldap_url is None
        assert world.import_directory().created_groups == ()
        groups = okta(ends, "GET", "/api/v1/groups", q="DevOps")
        assert [g["type"] for g in groups] == ["OKTA_GROUP"]
    assert world.meta().flavor is DirectoryKind.OKTA
    # A kind-okta sandbox.json from before the one directory-kind enum said "none".
    meta = json.loads((world.root / META_FILE).read_text(encoding="utf-8"))
    assert meta["flavor"] == "okta"
    meta["flavor"] = "none"
    (world.root / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    assert world.meta().flavor is DirectoryKind.OKTA


def test_write_json_is_atomic_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    write_json(path, format_name="fmt", body={"a": 1})
    write_json(path, format_name="fmt", body={"a": 2})
    assert read_json(path, format_name="fmt")["a"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
    with pytest.raises(SandboxError, match="not a sandbox other file"):
        read_json(path, format_name="other")


DAMAGES: list[tuple[str, Callable[[bytes], bytes], str]] = [
    ("truncated", lambda text: text[: len(text) // 2], "is not valid JSON"),
    ("empty", lambda _: b"", "is not valid JSON"),
    ("a list", lambda _: b"[]", "is damaged (a JSON list, not an object)"),
    ("a string", lambda _: b'"x"', "is damaged (a JSON str, not an object)"),
    ("not UTF-8", lambda _: b"\xff\xfe{", "is not valid JSON ('utf-8' codec can't decode"),
]


@pytest.mark.parametrize("name", [META_FILE, AWS_FILE, DIRECTORY_FILE, OKTA_FILE])
@pytest.mark.parametrize(("damage", "says"), [d[1:] for d in DAMAGES], ids=[d[0] for d in DAMAGES])
def test_a_damaged_state_file_is_named_with_what_to_run(
    tmp_path: Path, state: DesiredState, name: str, damage: Callable[[bytes], bytes], says: str
) -> None:
    """What the CLI prints as its one line (the e2e test runs the commands)."""
    root = tmp_path / ".sandbox"
    SandboxWorld(root).reset(state=state)
    check_state_files(root)  # a fresh sandbox passes
    path = root / name
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(SandboxError) as raised:
        check_state_files(root)
    message = str(raised.value)
    assert message.startswith(f"{path} ") and says in message, message
    assert message.endswith("run `okta-aws sandbox reset` (it starts the sandbox over)")
    assert "\n" not in message


def test_an_unusable_okta_state_is_damage_when_a_command_opens_the_sandbox(
    tmp_path: Path, state: DesiredState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An object the emulator cannot load (past the JSON check) is reported as damage
    by `open_target`, which every command starts the sandbox through."""
    root = tmp_path / ".sandbox"
    SandboxWorld(root).reset(state=state)
    (root / OKTA_FILE).write_text('{"version": 1}', encoding="utf-8")
    before = {p.name: p.read_bytes() for p in root.glob("*.json")}
    check_state_files(root)  # a JSON object: the emulator finds what is missing
    monkeypatch.setenv(SANDBOX_ROOT_ENV, str(root))
    with (
        pytest.raises(SandboxError) as raised,
        open_target(name="sandbox", state=state, err=io.StringIO()),
    ):
        pass
    assert str(raised.value) == (
        f"the sandbox in {root}/ is damaged (KeyError while loading it): "
        "run `okta-aws sandbox reset` (it starts the sandbox over)"
    )
    assert {p.name: p.read_bytes() for p in root.glob("*.json")} == before  # not overwritten
