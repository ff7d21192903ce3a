"""Directory import: APP_GROUPs for the imported OUs, nesting flattened, changes visible
only after the next import (the lag the engine's plan must account for)."""

from __future__ import annotations

from typing import Any

import pytest
from ldap3 import MOCK_SYNC, OFFLINE_AD_2012_R2, Connection, Server

from engine.sandbox.okta_emulator import (
    DirectoryGroupRecord,
    DirectoryUserRecord,
    GroupType,
    OktaEmulator,
    OktaState,
    add_directory_app,
    import_directory,
    records_from_ldap3,
)

ROLES = "OU=AWS Role Groups,DC=example,DC=test"
MGMT = "OU=AWS Management Groups,DC=example,DC=test"
DEPTS = "OU=Departments,DC=example,DC=test"
USERS = "CN=Users,DC=example,DC=test"


def user(name: str) -> DirectoryUserRecord:
    return DirectoryUserRecord(
        dn=f"CN={name},{USERS}",
        login=f"{name}@example.test",
        email=f"{name}@example.test",
        first_name=name.title(),
        last_name="Tester",
    )


def group(name: str, ou: str, *members: str) -> DirectoryGroupRecord:
    return DirectoryGroupRecord(
        dn=f"CN={name},{ou}", name=name, description=None, member_dns=members
    )


ALICE, BOB, CAROL = user("alice"), user("bob"), user("carol")
ROLE = "aws#prod#Admin#111111111111"


def directory(*, devops_members: tuple[str, ...]) -> list[DirectoryGroupRecord]:
    """Two levels of nesting: role ← DevOps (mgmt) ← Platform (department, not imported)."""
    platform = group("Platform", DEPTS, CAROL.dn)
    devops = group("DevOps", MGMT, *devops_members, platform.dn)
    role = group(ROLE, ROLES, devops.dn)
    return [role, devops, platform]


def members_by_name(state: OktaState) -> dict[str, set[str]]:
    return {
        g.name: {state.users[u].login.split("@")[0] for u in state.members[g.id]}
        for g in state.groups.values()
        if g.type is GroupType.APP_GROUP
    }


@pytest.fixture
def state_and_source() -> tuple[OktaState, str]:
    state = OktaState(seed=3)
    ad = add_directory_app(state, name="active_directory", label="example.test")
    return state, ad.id


def test_nesting_is_flattened_two_levels(state_and_source: tuple[OktaState, str]) -> None:
    state, source = state_and_source
    result = import_directory(
        state,
        source_app_id=source,
        imported_ou_dns=[ROLES, MGMT],
        groups=directory(devops_members=(ALICE.dn, BOB.dn)),
        users=[ALICE, BOB, CAROL],
    )
    assert members_by_name(state) == {
        ROLE: {"alice", "bob", "carol"},
        "DevOps": {"alice", "bob", "carol"},
    }
    assert sorted(result.created_groups) == sorted([ROLE, "DevOps"])
    assert sorted(result.created_users) == sorted(u.login for u in (ALICE, BOB, CAROL))
    for g in state.groups.values():
        if g.type is GroupType.APP_GROUP:
            assert g.source_app_id == source
            assert g.object_class == ("okta:windows_security_principal",)
            assert g.profile["windowsDomainQualifiedName"] == f"EXAMPLE\\{g.name}"


def test_removal_shows_only_after_next_import(state_and_source: tuple[OktaState, str]) -> None:
    state, source = state_and_source
    users = [ALICE, BOB, CAROL]
    import_directory(
        state,
        source_app_id=source,
        imported_ou_dns=[ROLES, MGMT],
        groups=directory(devops_members=(ALICE.dn, BOB.dn)),
        users=users,
    )
    role_id = next(g.id for g in state.groups.values() if g.name == ROLE)
    changed_directory = directory(devops_members=(ALICE.dn,))  # bob leaves DevOps
    # The directory changed, but Okta has not imported yet: bob still has the role.
    assert "bob" in members_by_name(state)[ROLE]
    result = import_directory(
        state,
        source_app_id=source,
        imported_ou_dns=[ROLES, MGMT],
        groups=changed_directory,
        users=users,
    )
    assert members_by_name(state)[ROLE] == {"alice", "carol"}
    assert result.membership_changes == 2  # bob left the role group and DevOps
    # Same group, same id: assignments made to it survive imports.
    assert next(g.id for g in state.groups.values() if g.name == ROLE) == role_id
    assert result.created_groups == ()


def test_groups_leaving_scope_are_removed_with_their_assignments(
    state_and_source: tuple[OktaState, str],
) -> None:
    state, source = state_and_source
    aws = state.add_app(name="amazon_aws", label="AWS", sign_on_mode="SAML_2_0", body={})
    groups = directory(devops_members=(ALICE.dn,))
    import_directory(
        state,
        source_app_id=source,
        imported_ou_dns=[ROLES, MGMT],
        groups=groups,
        users=[ALICE, CAROL],
    )
    role = next(g for g in state.groups.values() if g.name == ROLE)
    state.assign_group(app_id=aws.id, group_id=role.id, priority=None)
    result = import_directory(
        state,
        source_app_id=source,
        imported_ou_dns=[ROLES, MGMT],
        groups=[g for g in groups if g.name != ROLE],
        users=[ALICE, CAROL],
    )
    assert result.removed_groups == (ROLE,)
    assert role.id not in state.groups
    assert state.assignments[aws.id] == {}


def test_dns_match_however_they_are_spelled(state_and_source: tuple[OktaState, str]) -> None:
    """A member DN, an OU to import and a group DN may each be spelled differently from
    the entry's own DN (escapes, spacing, case); the agent matches them as the directory
    does. Splitting on ',' would lose the member whose name holds an escaped comma."""
    state, source = state_and_source
    smith = DirectoryUserRecord(
        dn=f"CN=Smith\\, Jo,{USERS}",
        login="jsmith@example.test",
        email="jsmith@example.test",
        first_name="Jo",
        last_name="Smith",
    )
    spelled = "cn=smith\\2c jo, cn=users, dc=EXAMPLE, dc=test"
    devops = group("DevOps", MGMT, spelled, ALICE.dn.lower())
    role = group(ROLE, ROLES, f"cn=devops , {MGMT.lower()}")
    import_directory(
        state,
        source_app_id=source,
        imported_ou_dns=["ou=aws role groups, dc=example,dc=test", MGMT],
        groups=[role, devops],
        users=[ALICE, smith],
    )
    assert members_by_name(state) == {ROLE: {"alice", "jsmith"}, "DevOps": {"alice", "jsmith"}}


def test_import_cycle_terminates(state_and_source: tuple[OktaState, str]) -> None:
    state, source = state_and_source
    a = group("A", ROLES, ALICE.dn, f"CN=B,{ROLES}")
    b = group("B", ROLES, a.dn)
    import_directory(
        state, source_app_id=source, imported_ou_dns=[ROLES], groups=[a, b], users=[ALICE]
    )
    assert members_by_name(state) == {"A": {"alice"}, "B": {"alice"}}


def test_existing_users_are_matched_by_login(state_and_source: tuple[OktaState, str]) -> None:
    state, source = state_and_source
    existing = state.add_user(
        login="ALICE@example.test", email="alice@example.test", first_name="A", last_name="T"
    )
    result = import_directory(
        state,
        source_app_id=source,
        imported_ou_dns=[ROLES],
        groups=[group(ROLE, ROLES, ALICE.dn)],
        users=[ALICE],
    )
    assert result.created_users == ()
    role = next(g for g in state.groups.values() if g.name == ROLE)
    assert state.members[role.id] == {existing.id}


def _mock_directory() -> Connection:
    server = Server("mock-ad", get_info=OFFLINE_AD_2012_R2)
    connection = Connection(
        server, user="CN=admin,DC=example,DC=test", password="x", client_strategy=MOCK_SYNC
    )
    connection.bind()
    for person in (ALICE, BOB, CAROL):
        name = person.dn.split(",")[0][3:]
        connection.strategy.add_entry(
            person.dn,
            {
                "objectClass": ["top", "person", "organizationalPerson", "user"],
                "cn": name,
                "userPrincipalName": person.login,
                "mail": person.email,
                "givenName": person.first_name,
                "sn": person.last_name,
            },
        )
    for record in directory(devops_members=(ALICE.dn, BOB.dn)):
        connection.strategy.add_entry(
            record.dn,
            {
                "objectClass": ["top", "group"],
                "cn": record.name,
                "member": list(record.member_dns),
            },
        )
    return connection


def test_records_from_ldap3_follow_nesting_outside_base_dns() -> None:
    records = records_from_ldap3(_mock_directory(), base_dns=[ROLES, MGMT])
    assert sorted(g.name for g in records.groups) == sorted([ROLE, "DevOps", "Platform"])
    assert sorted(u.login for u in records.users) == sorted(u.login for u in (ALICE, BOB, CAROL))
    carol = next(u for u in records.users if u.login == CAROL.login)
    assert (carol.first_name, carol.last_name, carol.email) == ("Carol", "Tester", CAROL.email)


def test_import_over_http_from_ldap3_records(emulator: OktaEmulator, api: Any) -> None:
    source = emulator.directory_app()
    records = records_from_ldap3(_mock_directory(), base_dns=[ROLES, MGMT])
    body = {
        "sourceAppId": source.id,
        "importedOuDns": [ROLES, MGMT],
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
    response = api.call("POST", "/_emulator/import", body=body)
    assert response.status_code == 200, response.text
    assert sorted(response.json()["created_groups"]) == sorted([ROLE, "DevOps"])
    listed = api.call(
        "GET",
        "/api/v1/groups",
        params={"search": f'source.id eq "{source.id}" and type eq "APP_GROUP"'},
    ).json()
    role = next(g for g in listed if g["profile"]["name"] == ROLE)
    logins = {
        u["profile"]["login"] for u in api.call("GET", f"/api/v1/groups/{role['id']}/users").json()
    }
    assert logins == {ALICE.login, BOB.login, CAROL.login}
