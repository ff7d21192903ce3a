"""The directory provider: reads the directory part of the live world, executes its changes.

For `directory.kind: active_directory` (a real AD DC or Samba) and `ldap` (OpenLDAP and
the like), through ldap3. Like every provider it decides nothing: `read` turns the two
managed OUs, the adopted management groups and the users the desired state names into
`model.DirectoryGroup`/`DirectoryUser` objects (DNs normalized, members as DNs and
logins), and `execute` carries out one `plan.Change` idempotently. Where the servers
differ is in `directory_flavor`; how requests are made and counted in `directory_ldap`;
the read strategy and its request count in `directory_read`; writes in
`directory_execute`.

Failures are data for reads (`DirectoryRead.errors`; a failed read leaves the directory
out of the world's `systems`, so diff never plans from half a picture) and exceptions
for writes (`DirectoryError`, `DirectoryRefused` when a change would touch something
that is not ours), which apply reports against the change. No message ever contains
the bind password.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import ldap3

from engine.dn import normalize_dn
from engine.model import DirectoryGroup, DirectoryKind, DirectoryUser, System, World
from engine.plan import Change, Finding, FindingKind, Outcome
from engine.providers.calls import CallCounter, CallKey, CallStats, CallTotals
from engine.providers.directory_execute import Cache, DirectoryRefused, Writer
from engine.providers.directory_flavor import flavor_for
from engine.providers.directory_ldap import (
    SYSTEM,
    DirectoryConfigError,
    DirectoryError,
    Ldap,
    LdapSettings,
)
from engine.providers.directory_read import Layout, Reader, UnresolvedMember
from engine.spec import DirectorySpec

__all__ = [
    "DirectoryConfigError",
    "DirectoryError",
    "DirectoryProvider",
    "DirectoryRead",
    "DirectoryRefused",
    "UnresolvedMember",
]

MAX_PAGE_SIZE = 1000  # AD's MaxPageSize: a bigger page or batch is cut by the server


@dataclass(frozen=True)
class DirectoryRead(CallTotals):
    """What one read found. `missing_logins`: listed logins with no user under
    users_base (the plan turns each into a MISSING_USER finding at its file:line)."""

    kind: DirectoryKind
    groups: tuple[DirectoryGroup, ...] = ()
    users: tuple[DirectoryUser, ...] = ()
    missing_logins: frozenset[str] = frozenset()
    unresolved: tuple[UnresolvedMember, ...] = ()
    errors: tuple[str, ...] = ()
    calls: Mapping[CallKey, CallStats] = field(default_factory=dict)

    def count(self, operation: str) -> int:
        """Requests of one operation (e.g. "search users"), all servers together."""
        return sum(s.calls for k, s in self.calls.items() if k.operation == operation)

    def to_world(self) -> World:
        """The directory part of the live world; without the directory if the read failed."""
        return World.build(
            directory_groups=self.groups,
            directory_users=self.users,
            systems=() if self.errors else (System.DIRECTORY,),
            directory_kind=self.kind,
        )

    def findings(self) -> tuple[Finding, ...]:
        """READ_ERROR for each error (blocking); UNMANAGED for each unresolved member."""
        errors = [
            Finding(FindingKind.READ_ERROR, System.DIRECTORY, "directory", message)
            for message in self.errors
        ]
        names = {g.key: g.name for g in self.groups}
        notes = [
            Finding(
                FindingKind.UNMANAGED,
                System.DIRECTORY,
                f"member {u.member_dn} of {names.get(u.group_dn, u.group_dn)}",
                f"{u.why}; left in place unless the group's members are authoritative",
            )
            for u in self.unresolved
        ]
        return (*errors, *notes)


class DirectoryProvider:
    """Reads and changes role groups, management groups and their members over LDAP."""

    def __init__(
        self,
        *,
        kind: DirectoryKind,
        role_groups_ou: str,
        management_groups_ou: str,
        users_base: str,
        connection_factory: Callable[[], ldap3.Connection] | None = None,
        url: str | None = None,
        bind_dn: str | None = None,
        password: str | None = None,
        start_tls: bool = False,
        ca_file: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
        batch_size: int = MAX_PAGE_SIZE,
        calls: CallCounter | None = None,
    ) -> None:
        """Connect with `connection_factory` (e.g. ldap3 MOCK_SYNC for the sandbox) or
        `url` + `bind_dn` + `password` (+ `start_tls`, `ca_file`); the connection is
        opened at the first request. `page_size` is the paged-search page size,
        `batch_size` the logins or DNs per OR-filter search (both ≤ 1000)."""
        self.flavor = flavor_for(kind)
        if not 1 <= page_size <= MAX_PAGE_SIZE or not 1 <= batch_size <= MAX_PAGE_SIZE:
            raise ValueError(f"1 ≤ page_size, batch_size ≤ {MAX_PAGE_SIZE}")
        if not (role_groups_ou and management_groups_ou and users_base):
            raise DirectoryConfigError(
                "directory.role_groups_ou, management_groups_ou and users_base are required"
            )
        if connection_factory is None:
            if not url:
                raise DirectoryConfigError("no LDAP URL and no connection factory given")
            settings = LdapSettings(
                url=url,
                bind_dn=bind_dn or "",
                password=password or "",
                start_tls=start_tls,
                ca_file=ca_file,
            )
            connection_factory = settings.connect
        self.kind = kind
        self.layout = Layout.of(
            role_groups_ou=role_groups_ou,
            management_groups_ou=management_groups_ou,
            users_base=users_base,
        )
        self.page_size = page_size
        self.batch_size = batch_size
        self.calls = calls if calls is not None else CallCounter()
        self.scope = url or "directory"
        self._ldap = Ldap(factory=connection_factory, calls=self.calls, scope=self.scope)
        self._cache = Cache()
        self._writer = Writer(
            ldap=self._ldap, flavor=self.flavor, layout=self.layout, cache=self._cache
        )

    @classmethod
    def from_env(
        cls,
        *,
        directory: DirectorySpec,
        env: Mapping[str, str] | None = None,
        connection_factory: Callable[[], ldap3.Connection] | None = None,
        page_size: int = MAX_PAGE_SIZE,
        batch_size: int = MAX_PAGE_SIZE,
        calls: CallCounter | None = None,
    ) -> DirectoryProvider:
        """The provider for `settings.directory`, connecting as LDAP_URL, LDAP_BIND_DN,
        LDAP_PASSWORD, LDAP_START_TLS and LDAP_CA_FILE say (`env`: default os.environ),
        or over `connection_factory` (the sandbox's in-process mock) when one is given."""
        url = None
        if connection_factory is None:
            settings = LdapSettings.from_env(os.environ if env is None else env)
            connection_factory, url = settings.connect, settings.url
        return cls(
            kind=directory.kind,
            role_groups_ou=directory.role_groups_ou,
            management_groups_ou=directory.management_groups_ou,
            users_base=directory.users_base,
            connection_factory=connection_factory,
            url=url,
            page_size=page_size,
            batch_size=batch_size,
            calls=calls,
        )

    def __enter__(self) -> DirectoryProvider:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._ldap.close()

    # --- read ----------------------------------------------------------------------------

    def read(
        self, *, adopted_dns: Iterable[str], logins: Iterable[str], group_filter: str
    ) -> DirectoryRead:
        """The managed OUs' groups, the adopted groups and the listed users.

        `group_filter` (Okta dialect) maps role-group names to (account, role). Never
        raises for directory failures: they are in `errors` (an invalid group filter,
        which validation reports first, raises naming.NamingError).
        """
        adopted = list(adopted_dns)
        before = self.calls.snapshot()
        try:
            reader = Reader(
                ldap=self._ldap,
                flavor=self.flavor,
                layout=self.layout,
                page_size=self.page_size,
                batch_size=self.batch_size,
            )
            result = reader.read(adopted_dns=adopted, logins=logins, group_filter=group_filter)
        except DirectoryError as exc:
            return DirectoryRead(
                kind=self.kind,
                errors=(str(exc),),
                calls=self.calls.since(before, system=SYSTEM, scopes={self.scope}),
            )
        self._cache.wire.update(result.wire)
        self._cache.adopted.update(normalize_dn(dn) for dn in adopted)
        for user in result.users:
            self._cache.user_dns[user.login] = result.wire.get(user.dn, user.dn)
        return DirectoryRead(
            kind=self.kind,
            groups=result.groups,
            users=result.users,
            missing_logins=result.missing_logins,
            unresolved=result.unresolved,
            calls=self.calls.since(before, system=SYSTEM, scopes={self.scope}),
        )

    # --- execute -------------------------------------------------------------------------

    def execute(self, change: Change) -> Outcome:
        """Carry out one DIRECTORY_GROUP, GROUP_MEMBER or USER_MEMBER change.

        CREATED/UPDATED/DELETED when it wrote, UNCHANGED when the goal was already met;
        raises DirectoryError (DirectoryRefused for anything not ours) otherwise.
        """
        return self._writer.execute(change)
