"""The sandbox directory's entries: persisted as JSON, served by a mock or a real server.

One entry list (`directory.json`) backs three interchangeable directories, so a sandbox
made on a laptop with Python only (ldap3's MOCK_SYNC, in-process) can later be served by
a real Samba AD DC or slapd, and back:

- `MockDirectory`: ldap3 MOCK_SYNC with ldap3's offline AD schema; every
  `connection()` shares one DIT, like clients of one server.
- `seed_server` / `dump_server`: write the entries into a freshly started real server
  (parents first; AD groups get their members once every entry exists) and read back
  whatever is not part of the server's own `baseline` (the entries a fresh server has).

Only the attributes the engine and Okta's agent look at are kept (`ATTRIBUTES`), and one
structural object class per entry: the rest is server-generated. Entries of the baseline
(the base DN, Samba's built-in users and groups, the admin) are never persisted.

`flavor` is `settings.directory.kind` (AD or LDAP); what differs between the two servers
comes from the directory provider's table (`engine/providers/directory_flavor.py`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ldap3

from engine.dn import escape_rdn_value, normalize_dn, parse_rdns, rdn_value
from engine.model import DirectoryKind
from engine.providers.directory_flavor import AD, LDAP, flavor_for
from engine.sandbox.directory_seed import add_entries, add_members
from engine.sandbox.directory_servers import DirectoryServer
from engine.sandbox.okta_emulator import DirectoryRecords
from engine.sandbox.persist import DIRECTORY_FILE, read_json, write_json

_log = logging.getLogger(__name__)
_FORMAT = "okta-aws-sandbox-directory"

# The classes of the entries kept, most specific first (an AD user is also a person, an
# inetOrgPerson too): whatever the two flavors seed, and OUs.
STRUCTURAL_CLASSES = (
    *(f.user_class for f in (AD, LDAP)),
    *(f.group_class for f in (AD, LDAP)),
    "organizationalUnit",
    *(f.container_class for f in (AD, LDAP)),
)
GROUP_CLASSES = frozenset({AD.group_class, LDAP.group_class})
USER_CLASSES = frozenset({AD.user_class, LDAP.user_class})
ATTRIBUTES = {
    DirectoryKind.ACTIVE_DIRECTORY: (
        "cn",
        "ou",
        "sAMAccountName",
        "userPrincipalName",
        "givenName",
        "sn",
        "mail",
        "displayName",
        "description",
        "groupType",
        "member",
    ),
    DirectoryKind.LDAP: (
        "cn",
        "ou",
        "uid",
        "givenName",
        "sn",
        "mail",
        "displayName",
        "description",
        "member",
    ),
}
MOCK_PASSWORD = "sandbox-directory-password"  # the in-process mock's dummy
_SEARCH_FILTER = "(|" + "".join(f"(objectClass={c})" for c in STRUCTURAL_CLASSES) + ")"


@dataclass(frozen=True)
class DirEntry:
    dn: str
    object_class: str  # one of STRUCTURAL_CLASSES
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def is_group(self) -> bool:
        return self.object_class in GROUP_CLASSES

    @property
    def is_user(self) -> bool:
        return self.object_class in USER_CLASSES

    @property
    def depth(self) -> int:
        return len(parse_rdns(self.dn))

    def values(self, name: str) -> tuple[str, ...]:
        for key, values in self.attributes.items():
            if key.lower() == name.lower():
                return values
        return ()


def save_entries(root: Path, *, flavor: DirectoryKind, entries: Iterable[DirEntry]) -> None:
    body = {
        "flavor": flavor.value,
        "entries": [
            {"dn": e.dn, "objectClass": e.object_class, "attributes": dict(e.attributes)}
            for e in sorted(entries, key=lambda e: (e.depth, normalize_dn(e.dn)))
        ],
    }
    write_json(root / DIRECTORY_FILE, format_name=_FORMAT, body=body)


def load_entries(root: Path) -> list[DirEntry]:
    document = read_json(root / DIRECTORY_FILE, format_name=_FORMAT)
    return [
        DirEntry(
            dn=raw["dn"],
            object_class=raw["objectClass"],
            attributes={k: tuple(v) for k, v in raw["attributes"].items()},
        )
        for raw in document["entries"]
    ]


def entry_from_ldap(
    *, dn: str, attributes: Mapping[str, Any], flavor: DirectoryKind
) -> DirEntry | None:
    """Our persisted form of an entry as a server or the mock returns it (None: not kept)."""
    lowered = {k.lower(): v for k, v in attributes.items()}
    classes = {_text(c).lower() for c in _as_list(lowered.get("objectclass"))}
    # The flavor's own classes first: the mock (AD's schema) lists `user` among an
    # inetOrgPerson's classes, and slapd refuses a `user` when the sandbox moves to it.
    own = flavor_for(flavor)
    preferred = (own.user_class, own.group_class, *STRUCTURAL_CLASSES)
    object_class = next((c for c in preferred if c.lower() in classes), None)
    if object_class is None:
        return None
    kept: dict[str, tuple[str, ...]] = {}
    for name in ATTRIBUTES[flavor]:
        values = tuple(_text(v) for v in _as_list(lowered.get(name.lower())))
        if values:
            kept[name] = values
    # The naming attribute holds exactly the RDN's value (ldap3's mock adds an escaped
    # duplicate of it; servers may return the stored case of another spelling).
    naming = parse_rdns(dn)[0][0][0]
    canonical = next((a for a in ATTRIBUTES[flavor] if a.lower() == naming), naming)
    kept[canonical] = (rdn_value(dn),)
    return DirEntry(dn=dn, object_class=object_class, attributes=kept)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def canonical_dn(dn: str, *, flavor: DirectoryKind) -> str:
    """One spelling per DN, case kept: AD's upper-case types, slapd's lower-case ones.

    Servers escape differently (ldap3's mock and Samba write `aws\\#x`, slapd `aws#x`);
    Okta's import matches groups by DN, so its input is spelled one way whatever served it.
    """
    upper = flavor_for(flavor).upper_case_dn_types
    return ",".join(
        "+".join(f"{t.upper() if upper else t}={escape_rdn_value(v)}" for t, v in rdn)
        for rdn in parse_rdns(dn)
    )


def canonical_records(records: DirectoryRecords, *, flavor: DirectoryKind) -> DirectoryRecords:
    """`records` with every DN (groups, members, users) in `canonical_dn` spelling."""
    return DirectoryRecords(
        groups=tuple(
            dataclasses.replace(
                g,
                dn=canonical_dn(g.dn, flavor=flavor),
                member_dns=tuple(canonical_dn(m, flavor=flavor) for m in g.member_dns),
            )
            for g in records.groups
        ),
        users=tuple(
            dataclasses.replace(u, dn=canonical_dn(u.dn, flavor=flavor)) for u in records.users
        ),
    )


# --- the in-process mock ---------------------------------------------------------------------


Baseline = list[tuple[str, dict[str, Any]]]  # (DN, attributes); the administrator last


def _fresh_samba(base_dn: str, password: str) -> Baseline:
    """What a freshly provisioned Samba AD DC holds, as far as the mock needs it."""
    return [
        (base_dn, {"objectClass": ["domain"], "dc": rdn_value(base_dn)}),
        (f"CN=Users,{base_dn}", {"objectClass": ["container"], "cn": "Users"}),
        (
            f"CN=Administrator,CN=Users,{base_dn}",
            {
                "objectClass": ["user"],
                "cn": "Administrator",
                "sAMAccountName": "Administrator",
                "userPassword": password,
            },
        ),
    ]


def _fresh_slapd(base_dn: str, password: str) -> Baseline:
    """What `engine/sandbox/directory_servers.start_slapd` seeds slapd with."""
    return [
        (base_dn, {"objectClass": ["domain"], "dc": rdn_value(base_dn)}),
        (f"ou=people,{base_dn}", {"objectClass": ["organizationalUnit"], "ou": "people"}),
        (f"ou=groups,{base_dn}", {"objectClass": ["organizationalUnit"], "ou": "groups"}),
        (
            f"cn=admin,{base_dn}",
            {
                "objectClass": ["organizationalRole", "simpleSecurityObject"],
                "cn": "admin",
                "userPassword": password,
            },
        ),
    ]


_FRESH_SERVER: dict[DirectoryKind, Callable[[str, str], Baseline]] = {
    DirectoryKind.ACTIVE_DIRECTORY: _fresh_samba,
    DirectoryKind.LDAP: _fresh_slapd,
}


class MockDirectory:
    """An ldap3 MOCK_SYNC directory with the baseline a fresh real server would have."""

    def __init__(self, *, flavor: DirectoryKind, base_dn: str) -> None:
        if flavor not in _FRESH_SERVER:
            raise ValueError(f"directory.kind {flavor.value} has no directory")
        baseline = _FRESH_SERVER[flavor](base_dn, MOCK_PASSWORD)
        self.flavor = flavor
        self.base_dn = base_dn
        self.bind_dn = baseline[-1][0]
        self.password = MOCK_PASSWORD
        # AD's schema for both flavours: it also has inetOrgPerson, groupOfNames and uid,
        # and ldap3 raises on a search naming an attribute its schema lacks where a real
        # slapd simply ignores it (Okta's agent asks for userPrincipalName everywhere).
        self.server = ldap3.Server("okta-aws-sandbox-mock", get_info=ldap3.OFFLINE_AD_2012_R2)
        loader = ldap3.Connection(self.server, client_strategy=ldap3.MOCK_SYNC)
        for dn, attributes in baseline:
            loader.strategy.add_entry(dn, attributes)
        self.baseline = frozenset(normalize_dn(dn) for dn, _ in baseline)

    def connection(self) -> ldap3.Connection:
        """A new bound connection to this directory (the engine's `connection_factory`)."""
        conn = ldap3.Connection(
            self.server,
            user=self.bind_dn,
            password=self.password,
            client_strategy=ldap3.MOCK_SYNC,
            raise_exceptions=False,
        )
        if not conn.bind():
            raise RuntimeError(f"mock directory refused the admin bind: {conn.result}")
        return conn

    def load(self, entries: Iterable[DirEntry]) -> None:
        loader = ldap3.Connection(self.server, client_strategy=ldap3.MOCK_SYNC)
        for entry in sorted(entries, key=lambda e: e.depth):
            if normalize_dn(entry.dn) in self.baseline:
                continue
            attributes: dict[str, Any] = {k: list(v) for k, v in entry.attributes.items()}
            attributes["objectClass"] = [entry.object_class]
            if not loader.strategy.add_entry(entry.dn, attributes):
                _log.warning("mock directory: could not load %s", entry.dn)

    def dump(self) -> list[DirEntry]:
        found: list[DirEntry] = []
        with self.server.dit_lock:
            items = [(str(dn), dict(attrs)) for dn, attrs in self.server.dit.items()]
        for dn, attributes in items:
            if dn.lower() == "cn=schema" or normalize_dn(dn) in self.baseline:
                continue
            entry = entry_from_ldap(dn=dn, attributes=attributes, flavor=self.flavor)
            if entry is not None:
                found.append(entry)
        return found


# --- real servers ----------------------------------------------------------------------------


def server_dns(server: DirectoryServer) -> frozenset[str]:
    """Normalized DNs of every entry below (and including) the server's base."""
    conn = server.connection()
    try:
        responses = conn.extend.standard.paged_search(
            server.base_dn, "(objectClass=*)", attributes=[], paged_size=500, generator=False
        )
        return frozenset(
            normalize_dn(str(r["dn"])) for r in responses if r.get("type") == "searchResEntry"
        )
    finally:
        conn.unbind()


def seed_server(
    server: DirectoryServer, *, entries: Sequence[DirEntry], flavor: DirectoryKind
) -> None:
    """Write `entries` into a freshly started server (entries it already has are skipped)."""
    existing = server_dns(server)
    todo = [e for e in entries if normalize_dn(e.dn) not in existing]
    plain = sorted((e for e in todo if not e.is_group), key=lambda e: e.depth)
    groups = sorted((e for e in todo if e.is_group), key=lambda e: e.depth)

    def request(entry: DirEntry, *, with_members: bool) -> tuple[str, str, dict[str, Any]]:
        attributes = {
            k: list(v) for k, v in entry.attributes.items() if with_members or k.lower() != "member"
        }
        return (entry.dn, entry.object_class, attributes)

    if plain:
        add_entries(server, entries=[request(e, with_members=True) for e in plain])
    if not flavor_for(flavor).members_must_exist:
        # groupOfNames must have a member, and slapd accepts members added before they exist.
        if groups:
            add_entries(server, entries=[request(e, with_members=True) for e in groups])
        return
    if groups:
        add_entries(server, entries=[request(e, with_members=False) for e in groups])
    for group in groups:
        members = group.values("member")
        if members:
            add_members(server, group_dn=group.dn, member_dns=members)


def dump_server(
    server: DirectoryServer, *, baseline: frozenset[str], flavor: DirectoryKind
) -> list[DirEntry]:
    """Every entry of ours on the server: not in `baseline`, of a kept object class."""
    conn = server.connection()
    try:
        responses = conn.extend.standard.paged_search(
            server.base_dn,
            _SEARCH_FILTER,
            attributes=["objectClass", *ATTRIBUTES[flavor]],
            paged_size=500,
            generator=False,
        )
    finally:
        conn.unbind()
    found: list[DirEntry] = []
    for response in responses:
        if response.get("type") != "searchResEntry":
            continue
        dn = str(response["dn"])
        if normalize_dn(dn) in baseline:
            continue
        entry = entry_from_ldap(
            dn=dn, attributes=dict(response.get("raw_attributes") or {}), flavor=flavor
        )
        if entry is not None:
            found.append(entry)
    return found
