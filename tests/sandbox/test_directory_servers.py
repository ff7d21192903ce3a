"""Real Samba AD DC and slapd: the launchers work, and the server behaviour the directory
provider relies on (DN escaping, cn limit, member ranges, memberOf, error codes) holds."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap3
import pytest
from ldap3.utils.conv import escape_filter_chars

from engine.dn import build_dn, dn_is_under, normalize_dn, rdn_value
from engine.sandbox.directory_seed import add_entries, add_group, add_members, add_ous, add_users
from engine.sandbox.directory_servers import (
    DirectoryKind,
    DirectoryServer,
    DirectoryServerError,
    start_samba,
    start_slapd,
)
from tests import directory_fixtures
from tests.directory_fixtures import require_directory

AD = DirectoryKind.ACTIVE_DIRECTORY
IN_CHAIN = "1.2.840.113556.1.4.1941"  # AD's transitive-membership matching rule


@pytest.fixture
def conn(directory_server: DirectoryServer) -> Iterator[Any]:
    connection = directory_server.connection()
    yield connection
    connection.unbind()


def make_ou(server: DirectoryServer, name: str) -> str:
    dn = f"{'OU' if server.kind is AD else 'ou'}={name},{server.base_dn}"
    add_ous(server, dns=[dn])
    return dn


def group_dns_of(connection: Any, user_dn: str) -> set[str]:
    connection.search(user_dn, "(objectClass=*)", ldap3.BASE, attributes=["memberOf"])
    return {normalize_dn(dn) for dn in connection.response[0]["attributes"].get("memberOf", [])}


def members_of(connection: Any, group_dn: str) -> set[str]:
    connection.search(group_dn, "(objectClass=*)", ldap3.BASE, attributes=["member"])
    return {normalize_dn(dn) for dn in connection.response[0]["attributes"].get("member", [])}


def test_server_answers_and_binds(directory_server: DirectoryServer, conn: Any) -> None:
    assert conn.bound
    conn.search("", "(objectClass=*)", ldap3.BASE, attributes=["namingContexts"])
    contexts = {normalize_dn(c) for c in conn.response[0]["attributes"]["namingContexts"]}
    assert normalize_dn(directory_server.base_dn) in contexts


def test_wrong_password_is_refused(directory_server: DirectoryServer) -> None:
    server = ldap3.Server(directory_server.url, get_info=ldap3.NONE)
    connection = ldap3.Connection(server, user=directory_server.bind_dn, password="wrong")
    assert not connection.bind()
    assert connection.result["description"] == "invalidCredentials"


def test_ou_group_and_users_round_trip(directory_server: DirectoryServer, conn: Any) -> None:
    ou = make_ou(directory_server, "Round Trip")
    users = add_users(directory_server, logins=["alice", "bob"])
    group = build_dn(cn="aws#prod#Admin#111111111111", parent=ou)
    add_group(directory_server, dn=group, cn=rdn_value(group), members=users.values())

    assert members_of(conn, group) == {normalize_dn(dn) for dn in users.values()}
    for user_dn in users.values():
        assert normalize_dn(group) in group_dns_of(conn, user_dn)
    conn.search(ou, "(cn=aws#prod#*)", attributes=["cn"])
    assert [e["attributes"]["cn"] for e in conn.response] in (
        ["aws#prod#Admin#111111111111"],  # slapd: cn is multi-valued, ldap3 gives a list
        [["aws#prod#Admin#111111111111"]],
    )


SPECIAL_NAMES = [
    "aws#a,b+c#Admin#111111111111",
    "#aws#lead#Admin#111111111111",
    'aws#q"u<o>t;e=\\#R#111111111111',
    "aws#ünïcødé#Admin#111111111111",
    " aws#spaced#Admin#1 ",
]


@pytest.mark.parametrize("name", SPECIAL_NAMES)
def test_special_character_names_round_trip(
    directory_server: DirectoryServer, conn: Any, name: str
) -> None:
    ou = make_ou(directory_server, "Special")
    keeper = add_users(directory_server, logins=[f"k{SPECIAL_NAMES.index(name)}"])
    built = build_dn(cn=name, parent=ou)
    add_group(directory_server, dn=built, cn=name, members=keeper.values())

    conn.search(ou, f"(cn={escape_filter_chars(name)})", attributes=["cn"])
    assert len(conn.response) == 1
    returned = conn.response[0]["dn"]
    assert normalize_dn(returned) == normalize_dn(built)
    assert rdn_value(returned) == name
    assert dn_is_under(returned, base=ou)
    # The server also finds the entry by the DN exactly as we built it.
    assert conn.search(built, "(objectClass=*)", ldap3.BASE)
    assert normalize_dn(conn.response[0]["dn"]) == normalize_dn(built)


@pytest.mark.parametrize(("length", "accepted"), [(64, True), (65, False)])
def test_samba_enforces_cn_limit_when_cn_is_sent(
    samba_server: DirectoryServer, length: int, accepted: bool
) -> None:
    ou = make_ou(samba_server, "Limits")
    connection = samba_server.connection()
    name = "c" * length
    ok = connection.add(build_dn(cn=name, parent=ou), "group", {"cn": name})
    assert ok is accepted
    if not accepted:
        assert connection.result["description"] == "invalidAttributeSyntax"
    # Without `cn` among the attributes the same over-long name goes through unchecked.
    assert connection.add(build_dn(cn="x" * length, parent=ou), "group")
    connection.unbind()


def read_ranged_members(connection: Any, group_dn: str) -> tuple[list[str], list[str]]:
    """The range loop a provider needs for AD: returns members and the ranges seen."""
    members: list[str] = []
    ranges: list[str] = []
    low = 0
    while True:
        requested = f"member;range={low}-{low + 1499}"
        connection.search(group_dn, "(objectClass=*)", ldap3.BASE, attributes=[requested])
        raw = connection.response[0]["raw_attributes"]
        (key,) = [k for k in raw if k.lower().startswith("member;range=")]
        ranges.append(key.split("=", 1)[1])
        members.extend(value.decode() for value in raw[key] or [])
        high = key.rsplit("-", 1)[1]
        if high == "*":
            return members, ranges
        low = int(high) + 1


def test_samba_returns_member_ranges_when_asked(samba_server: DirectoryServer) -> None:
    ou = make_ou(samba_server, "Big")
    contacts = [f"CN=c{i},{ou}" for i in range(3000)]
    add_entries(samba_server, entries=[(dn, "contact", {}) for dn in contacts])
    group = build_dn(cn="aws#big#ReadOnly#111111111111", parent=ou)
    add_group(samba_server, dn=group, cn=rdn_value(group))
    add_members(samba_server, group_dn=group, member_dns=contacts, batch_size=1000)

    # ldap3's own auto_range breaks on Samba's empty last range, and with auto_range off
    # return_empty_attributes must be off too, or ldap3 raises KeyError('member').
    ranged = samba_server.connection(auto_range=False, return_empty_attributes=False)
    members, ranges = read_ranged_members(ranged, group)
    assert ranges == ["0-1499", "1500-*"]
    assert len(members) == 3000
    assert {normalize_dn(m) for m in members} == {normalize_dn(c) for c in contacts}
    # Unlike Windows AD, Samba returns every value when no range is named.
    ranged.search(group, "(objectClass=*)", ldap3.BASE, attributes=["member"])
    assert len(ranged.response[0]["raw_attributes"]["member"]) == 3000
    ranged.unbind()


def test_pipelined_adds_leave_no_thread_behind(directory_server: DirectoryServer) -> None:
    """ldap3's ASYNC receiver thread must end with its connection; a leaked one spins on
    the closed socket and starves every later test of the GIL."""
    ou = make_ou(directory_server, "Pipelined")
    naming = "CN" if directory_server.kind is AD else "ou"
    before = {t for t in threading.enumerate() if t.is_alive()}
    add_entries(
        directory_server,
        entries=[
            (f"{naming}=p{i},{ou}", "organizationalUnit" if naming == "ou" else "contact", {})
            for i in range(5)
        ],
    )
    deadline = time.monotonic() + 10
    while (leaked := {t for t in threading.enumerate() if t.is_alive()} - before) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert not leaked, [t.name for t in leaked]


def test_samba_in_chain_matching_rule_finds_nested_groups(samba_server: DirectoryServer) -> None:
    ou = make_ou(samba_server, "Nesting")
    user = add_users(samba_server, logins=["nested.user"])["nested.user"]
    management = build_dn(cn="DevOps Sys Admins", parent=ou)
    role = build_dn(cn="aws#prod#Admin#111111111111", parent=ou)
    add_group(samba_server, dn=management, cn=rdn_value(management), members=[user])
    add_group(samba_server, dn=role, cn=rdn_value(role), members=[management])
    connection = samba_server.connection()
    connection.search(ou, f"(member:{IN_CHAIN}:={escape_filter_chars(user)})", attributes=["cn"])
    assert {normalize_dn(e["dn"]) for e in connection.response} == {
        normalize_dn(management),
        normalize_dn(role),
    }
    connection.unbind()


def test_slapd_group_of_names_cannot_be_empty(slapd_server: DirectoryServer) -> None:
    ou = make_ou(slapd_server, "Empty")
    connection = slapd_server.connection()
    assert not connection.add(f"cn=empty,{ou}", "groupOfNames", {"cn": "empty"})
    assert connection.result["description"] == "objectClassViolation"
    assert "requires attribute 'member'" in connection.result["message"]
    # Nor can the last member be removed.
    user = add_users(slapd_server, logins=["only"])["only"]
    add_group(slapd_server, dn=f"cn=one,{ou}", cn="one", members=[user])
    assert not connection.modify(f"cn=one,{ou}", {"member": [(ldap3.MODIFY_DELETE, [user])]})
    assert connection.result["description"] == "objectClassViolation"
    connection.unbind()


def test_slapd_memberof_and_refint_overlays(slapd_server: DirectoryServer) -> None:
    ou = make_ou(slapd_server, "Overlays")
    users = add_users(slapd_server, logins=["ov.a", "ov.b", "ov.c"])
    two = f"cn=two,{ou}"
    add_group(slapd_server, dn=two, cn="two", members=[users["ov.a"], users["ov.b"]])
    connection = slapd_server.connection()
    assert group_dns_of(connection, users["ov.a"]) == {normalize_dn(two)}

    assert connection.modify(two, {"member": [(ldap3.MODIFY_ADD, [users["ov.c"]])]})
    assert connection.modify(two, {"member": [(ldap3.MODIFY_DELETE, [users["ov.a"]])]})
    assert group_dns_of(connection, users["ov.a"]) == set()
    assert group_dns_of(connection, users["ov.c"]) == {normalize_dn(two)}

    # refint drops a deleted user from its groups...
    assert connection.delete(users["ov.b"])
    assert members_of(connection, two) == {normalize_dn(users["ov.c"])}
    # ...except from a group where it is the last member: groupOfNames can't be emptied,
    # so the dangling DN stays (a provider must not trust members to exist).
    assert connection.delete(users["ov.c"])
    assert members_of(connection, two) == {normalize_dn(users["ov.c"])}
    connection.unbind()


# Result codes a provider sees for redundant member changes (idempotent apply).
@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        (
            "add_existing",
            {"active_directory": "entryAlreadyExists", "ldap": "attributeOrValueExists"},
        ),
        ("delete_absent", {"active_directory": "unwillingToPerform", "ldap": "noSuchAttribute"}),
    ],
)
def test_redundant_member_changes_result_codes(
    directory_server: DirectoryServer, conn: Any, operation: str, expected: dict[str, str]
) -> None:
    ou = make_ou(directory_server, "Redundant")
    users = add_users(directory_server, logins=[f"{operation}.in", f"{operation}.out"])
    group = build_dn(cn=f"redundant {operation}", parent=ou)
    add_group(directory_server, dn=group, cn=rdn_value(group), members=[users[f"{operation}.in"]])
    if operation == "add_existing":
        change = (ldap3.MODIFY_ADD, [users[f"{operation}.in"]])
    else:
        change = (ldap3.MODIFY_DELETE, [users[f"{operation}.out"]])
    assert not conn.modify(group, {"member": [change]})
    assert conn.result["description"] == expected[directory_server.kind.value]


def _process_group(pgid: int) -> list[int]:
    """Live processes in a process group (the launchers give each server its own).

    By group, not by command line: Samba rewrites its title to `samba: root process`.
    """
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(proc.name))
    return found


def _processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line holds `text` (slapd keeps its command line)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if text.encode() in cmdline:
                found.append(int(proc.name))
    return found


def _listening(url: str) -> bool:
    host, port = url.removeprefix("ldap://").rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) == 0


@pytest.mark.slapd
def test_slapd_stop_kills_the_process_and_frees_the_port() -> None:
    require_directory(DirectoryKind.LDAP)
    with tempfile.TemporaryDirectory() as scratch:
        with start_slapd(workdir=Path(scratch)) as server:
            assert server.running and _listening(server.url)
            assert _process_group(server.pid) == [server.pid]
            assert _processes_mentioning(scratch) == [server.pid]
        assert not server.running
        assert not _listening(server.url)
        assert _process_group(server.pid) == []
        assert _processes_mentioning(scratch) == []


def test_samba_stop_kills_the_process_and_frees_the_address(samba_template: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        server = start_samba(workdir=Path(scratch), template=samba_template)
        try:
            assert _listening(server.url)
            assert _process_group(server.pid) == [server.pid]
        finally:
            server.stop()
        assert not server.running
        assert not _listening(server.url)
        assert _process_group(server.pid) == []


@pytest.mark.slapd
def test_slapd_start_failure_leaves_no_process() -> None:
    require_directory(DirectoryKind.LDAP)
    with tempfile.TemporaryDirectory() as scratch, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # bound, not listening: slapd's bind fails
        port = taken.getsockname()[1]
        with pytest.raises(DirectoryServerError, match="exited during start"):
            start_slapd(workdir=Path(scratch), port=port, timeout=10)
        assert _processes_mentioning(scratch) == []


@pytest.mark.parametrize(
    ("ci", "outcome"),
    [("true", pytest.fail.Exception), ("1", pytest.fail.Exception), ("", pytest.skip.Exception)],
)
def test_missing_binaries_skip_locally_but_fail_in_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(directory_fixtures, "missing_binaries", lambda kind: ["slapd"])
    with pytest.raises(outcome, match="install-system-deps"):
        require_directory(DirectoryKind.LDAP)
