"""Read the import's input records from any ldap3 connection (Samba AD, slapd, MOCK_SYNC).

The sandbox's directory is a real LDAP server (or ldap3's mock), and Okta's agent reads it
over LDAP too; this is that read. Groups come from subtree searches of `base_dns`; any
member DN that is not one of them is looked up once (users, or groups nested from other
OUs, followed transitively). AD's ranged `member;range=a-b` values are collected fully.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ldap3 import BASE, SUBTREE

from engine.sandbox.okta_emulator.importer import (
    DirectoryGroupRecord,
    DirectoryUserRecord,
    normalize_dn,
)

_GROUP_CLASSES = {"group", "groupofnames", "groupofuniquenames"}
_USER_CLASSES = {"user", "person", "inetorgperson", "organizationalperson"}
_GROUP_FILTER = "(|(objectClass=group)(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"
_ATTRIBUTES = [
    "objectClass",
    "cn",
    "description",
    "member",
    "uniqueMember",
    "userPrincipalName",
    "mail",
    "uid",
    "sAMAccountName",
    "givenName",
    "sn",
]


@dataclass(frozen=True)
class DirectoryRecords:
    groups: tuple[DirectoryGroupRecord, ...]
    users: tuple[DirectoryUserRecord, ...]


def _values(attributes: dict[str, Any], name: str) -> list[str]:
    for key, value in attributes.items():
        if key.lower() == name.lower():
            if isinstance(value, list | tuple):
                return [str(v) for v in value]
            return [] if value is None else [str(value)]
    return []


def _first(attributes: dict[str, Any], *names: str) -> str:
    for name in names:
        values = _values(attributes, name)
        if values and values[0]:
            return values[0]
    return ""


def _members(connection: Any, dn: str, attributes: dict[str, Any]) -> list[str]:
    members = _values(attributes, "member") + _values(attributes, "uniqueMember")
    ranged = [key for key in attributes if key.lower().startswith("member;range=")]
    while ranged:
        key = ranged[0]
        members.extend(str(v) for v in attributes[key])
        upper = key.split("=", 1)[1].split("-", 1)[1]
        if upper == "*":
            break
        start = int(upper) + 1
        connection.search(dn, "(objectClass=*)", BASE, attributes=[f"member;range={start}-*"])
        attributes = connection.response[0]["attributes"] if connection.response else {}
        ranged = [k for k in attributes if k.lower().startswith("member;range=")]
    return members


def _entries(connection: Any, base: str, scope: str, search_filter: str) -> list[dict[str, Any]]:
    connection.search(base, search_filter, scope, attributes=_ATTRIBUTES)
    return [
        entry
        for entry in connection.response or []
        if entry.get("type", "searchResEntry") == "searchResEntry"
    ]


def records_from_ldap3(connection: Any, *, base_dns: Sequence[str]) -> DirectoryRecords:
    """Groups under `base_dns` plus every user and group reachable from their members."""
    groups: dict[str, DirectoryGroupRecord] = {}
    users: dict[str, DirectoryUserRecord] = {}
    pending: list[str] = []

    def take(entry: dict[str, Any]) -> None:
        dn = str(entry["dn"])
        attributes = dict(entry.get("attributes") or {})
        classes = {c.lower() for c in _values(attributes, "objectClass")}
        key = normalize_dn(dn)
        if classes & _GROUP_CLASSES:
            members = _members(connection, dn, attributes)
            groups[key] = DirectoryGroupRecord(
                dn=dn,
                name=_first(attributes, "cn"),
                description=_first(attributes, "description") or None,
                member_dns=tuple(members),
            )
            pending.extend(members)
        elif classes & _USER_CLASSES:
            login = _first(attributes, "userPrincipalName", "mail", "uid", "sAMAccountName")
            users[key] = DirectoryUserRecord(
                dn=dn,
                login=login,
                email=_first(attributes, "mail", "userPrincipalName") or login,
                first_name=_first(attributes, "givenName"),
                last_name=_first(attributes, "sn"),
            )

    for base in base_dns:
        for entry in _entries(connection, base, SUBTREE, _GROUP_FILTER):
            take(entry)
    looked_up: set[str] = set()
    while pending:
        member = pending.pop()
        key = normalize_dn(member)
        if key in groups or key in users or key in looked_up:
            continue
        looked_up.add(key)
        for entry in _entries(connection, member, BASE, "(objectClass=*)"):
            take(entry)
    return DirectoryRecords(groups=tuple(groups.values()), users=tuple(users.values()))
