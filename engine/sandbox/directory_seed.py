"""Seeding helpers for the real directory servers: OUs, users, groups, members.

Tests (and the sandbox) need directories that look lived-in: people to put in groups,
hand-made groups next to managed ones, groups with thousands of members. These write
straight through ldap3 as the administrator, with no engine logic, so a test's setup
never depends on the provider it is testing (only on its table of how AD and LDAP
differ, `engine/providers/directory_flavor.py`). Bulk adds are pipelined (ldap3 ASYNC):
Samba takes ~1.5 ms per contact and ~3.5 ms per user that way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import ldap3

from engine.providers.directory_flavor import flavor_for
from engine.sandbox.directory_servers import SAMBA_REALM, DirectoryServer, DirectoryServerError

__all__ = [
    "Entry",
    "add_entries",
    "add_group",
    "add_members",
    "add_ous",
    "add_users",
]

Entry = tuple[str, str | list[str], dict[str, Any]]
"""One object to add: DN, object class(es), attributes."""


def add_ous(server: DirectoryServer, *, dns: Iterable[str]) -> None:
    """Create organizational units (parents first); existing ones are left alone."""
    conn = server.connection()
    try:
        for dn in dns:
            if not conn.add(dn, "organizationalUnit") and conn.result["result"] != 68:
                raise DirectoryServerError(f"adding {dn}: {conn.result['description']}")
    finally:
        conn.unbind()


def add_users(server: DirectoryServer, *, logins: Iterable[str]) -> dict[str, str]:
    """Create users under `server.users_dn`; returns login → DN.

    AD: `user` with sAMAccountName and userPrincipalName; LDAP: `inetOrgPerson` with
    uid. Requests are pipelined, so thousands take seconds, not minutes.
    """
    flavor = flavor_for(server.kind)
    created: dict[str, str] = {}
    requests: list[Entry] = []
    for login in logins:
        dn = flavor.user_dn(login=login, parent=server.users_dn)
        attrs: dict[str, Any] = {"cn": login, flavor.login_attribute: login}
        if flavor.principal_attribute is not None:
            attrs[flavor.principal_attribute] = f"{login}@{SAMBA_REALM.lower()}"
        attrs.update(dict.fromkeys(flavor.user_must, login))
        requests.append((dn, flavor.user_class, attrs))
        created[login] = dn
    add_entries(server, entries=requests)
    return created


def add_group(server: DirectoryServer, *, dn: str, cn: str, members: Iterable[str] = ()) -> None:
    """Create a group: AD global security `group`, LDAP `groupOfNames`.

    `cn` is sent as an attribute so Samba enforces its 64-character limit. groupOfNames
    needs at least one member; an empty `members` is passed on for the server to refuse.
    """
    members = list(members)
    flavor = flavor_for(server.kind)
    attrs: dict[str, Any] = {"cn": cn}
    if flavor.group_type is not None:
        attrs["groupType"] = flavor.group_type
    may_be_empty = flavor.placeholder is None
    if members and not may_be_empty:
        attrs["member"] = members  # created with its members, as groupOfNames must be
    conn = server.connection()
    try:
        ok = conn.add(dn, flavor.group_class, attrs)
        if ok and members and may_be_empty:
            add_members(server, group_dn=dn, member_dns=members)  # in batches
        if not ok:
            result = conn.result
            raise DirectoryServerError(
                f"adding group {dn}: {result['description']} ({result['result']}): "
                f"{result['message']}"
            )
    finally:
        conn.unbind()


def add_members(
    server: DirectoryServer, *, group_dn: str, member_dns: Iterable[str], batch_size: int = 1000
) -> None:
    """Add members to a group, `batch_size` values per modify request."""
    members = list(member_dns)
    conn = server.connection()
    try:
        for start in range(0, len(members), batch_size):
            chunk = members[start : start + batch_size]
            if not conn.modify(group_dn, {"member": [(ldap3.MODIFY_ADD, chunk)]}):
                raise DirectoryServerError(f"adding members to {group_dn}: {conn.result}")
    finally:
        conn.unbind()


def add_entries(server: DirectoryServer, *, entries: Iterable[Entry]) -> None:
    """Add many objects, pipelined; raises on the first one the server refused."""
    # No receive_timeout here: with one set, ldap3's ASYNC receiver thread treats the
    # OSError of its closed socket as a timeout and spins forever after unbind, holding
    # the GIL (it slowed every later test in the process to a crawl).
    conn = server.connection(client_strategy=ldap3.ASYNC, receive_timeout=None)
    try:
        pending = [(dn, conn.add(dn, object_class, attrs)) for dn, object_class, attrs in entries]
        for dn, message_id in pending:
            _, result = conn.get_response(message_id, timeout=120)
            if result["result"] != 0:
                raise DirectoryServerError(
                    f"adding {dn}: {result['description']}: {result['message']}"
                )
    finally:
        conn.unbind()
