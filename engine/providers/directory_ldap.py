"""One counted, thread-safe LDAP connection: how the directory provider talks to a server.

ldap3 has traps for exactly what this provider does (docs/facts.md §ldap3): its automatic
range handling crashes on Samba's empty last range, it returns empty attributes as
KeyError-bait, it follows referrals on its own, and it reports errors by return value or
by exception depending on how the connection was made. This module sets a connection up
once so none of that leaks out (injected connections, e.g. MOCK_SYNC for the sandbox,
are adjusted the same way), turns every outcome into an
`LdapResult` or a `DirectoryError` that names the server and bind DN but never the
password, reconnects once when the connection drops, and counts every request
(system "directory", scope = the server URL) in the shared `CallCounter`.

A synchronous ldap3 connection is not safe to share between threads while a request is
in flight; apply runs changes concurrently, so requests are serialized by a lock.
"""

from __future__ import annotations

import ast
import contextlib
import os
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException, LDAPOperationResult

from engine.providers.calls import CallCounter

__all__ = [
    "DirectoryConfigError",
    "DirectoryError",
    "Entry",
    "Ldap",
    "LdapResult",
    "LdapSettings",
]

SYSTEM = "directory"
SUCCESS = 0
NO_SUCH_OBJECT = 32
PAGED_RESULTS = "1.2.840.113556.1.4.319"

ConnectionFactory = Callable[[], ldap3.Connection]


class DirectoryError(RuntimeError):
    """The directory could not be reached, bound to, read or changed; says why."""


class DirectoryConfigError(DirectoryError):
    """The connection settings are incomplete or contradictory."""


@dataclass(frozen=True)
class LdapSettings:
    """How to reach and bind to a server. `password` never appears in repr or messages."""

    url: str
    bind_dn: str = ""
    password: str = field(default="", repr=False)
    start_tls: bool = False
    ca_file: str | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if not self.url.lower().startswith(("ldap://", "ldaps://")):
            raise DirectoryConfigError(
                f"LDAP_URL must start with ldap:// or ldaps://: {self.url!r}"
            )
        if self.start_tls and self.url.lower().startswith("ldaps://"):
            raise DirectoryConfigError(
                "LDAP_START_TLS is for ldap:// URLs; ldaps:// is TLS already"
            )

    @staticmethod
    def from_env(env: Mapping[str, str]) -> LdapSettings:
        """LDAP_URL, LDAP_BIND_DN, LDAP_PASSWORD, LDAP_START_TLS (true/false), LDAP_CA_FILE."""
        url = env.get("LDAP_URL", "").strip()
        if not url:
            raise DirectoryConfigError("LDAP_URL is not set (e.g. ldaps://dc1.example.com)")
        start_tls = env.get("LDAP_START_TLS", "").strip().lower()
        if start_tls not in ("", "0", "1", "true", "false", "yes", "no"):
            raise DirectoryConfigError(f"LDAP_START_TLS must be true or false, not {start_tls!r}")
        return LdapSettings(
            url=url,
            bind_dn=env.get("LDAP_BIND_DN", ""),
            password=env.get("LDAP_PASSWORD", ""),
            start_tls=start_tls in ("1", "true", "yes"),
            ca_file=env.get("LDAP_CA_FILE") or None,
        )

    def describe(self) -> str:
        return f"{self.url} as {self.bind_dn or 'anonymous'}"

    def connect(self) -> ldap3.Connection:
        """An open, bound connection (StartTLS first when asked); DirectoryError if not."""
        if self.ca_file and not os.path.isfile(self.ca_file):
            # ldap3 would only say "invalid CA public key file", naming neither.
            raise DirectoryConfigError(f"LDAP_CA_FILE {self.ca_file} does not exist")
        tls = None
        if self.ca_file or self.start_tls or self.url.lower().startswith("ldaps://"):
            tls = ldap3.Tls(
                validate=ssl.CERT_REQUIRED,
                ca_certs_file=self.ca_file,
                version=ssl.PROTOCOL_TLS_CLIENT,
            )
        server = ldap3.Server(
            self.url, get_info=ldap3.NONE, tls=tls, connect_timeout=int(self.timeout)
        )
        conn = ldap3.Connection(
            server,
            user=self.bind_dn or None,
            password=self.password or None,
            receive_timeout=int(self.timeout),
            raise_exceptions=False,
            auto_range=False,
            return_empty_attributes=False,
            auto_referrals=False,
        )
        try:
            conn.open()
            if self.start_tls and not conn.start_tls():
                raise DirectoryError(f"StartTLS with {self.url} failed: {_describe(conn.result)}")
            if not conn.bind():
                code = conn.result.get("result")
                why = "invalid credentials" if code == 49 else _describe(conn.result)
                raise DirectoryError(f"cannot bind to {self.describe()}: {why}")
        except LDAPException as exc:
            text = _exception_text(exc)
            raise DirectoryError(f"cannot reach {self.url}: {text}{_tls_hint(text)}") from None
        return conn


@dataclass(frozen=True)
class LdapResult:
    code: int
    description: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.code == SUCCESS

    def __str__(self) -> str:
        text = f"{self.description} ({self.code})"
        return f"{text}: {self.message}" if self.message else text


@dataclass(frozen=True)
class Entry:
    """A search result: the DN as the server spelled it, attribute values as text.

    Attribute names are lower-cased and keep their options (`member;range=0-1499`).
    """

    dn: str
    attributes: Mapping[str, tuple[str, ...]]

    def values(self, name: str) -> tuple[str, ...]:
        return self.attributes.get(name.lower(), ())

    def first(self, name: str) -> str | None:
        values = self.values(name)
        return values[0] if values else None


def _describe(result: Mapping[str, Any] | None) -> str:
    result = result or {}
    return str(
        LdapResult(
            code=int(result.get("result", -1)),
            description=str(result.get("description", "")),
            message=str(result.get("message", "")).strip(),
        )
    )


def _exception_text(exc: BaseException) -> str:
    # ldap3's messages name the server, never the password; keep them short. Its socket
    # errors come as tuple reprs, for LDAPS twice over: ("('socket ssl wrapping error: …',)",)
    text = str(exc)
    for _ in range(3):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            break
        if not (isinstance(value, tuple) and len(value) == 1 and isinstance(value[0], str)):
            break
        text = value[0]
    return text.splitlines()[0] if text else type(exc).__name__


def _tls_hint(text: str) -> str:
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return " (is LDAP_CA_FILE the CA that issued the server's certificate?)"
    if "doesn't match any name" in text:
        return " (the server's certificate must name the host in LDAP_URL)"
    return ""


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="surrogateescape")
    return str(value)


class Ldap:
    """Counted requests over one lazily opened connection."""

    def __init__(self, *, factory: ConnectionFactory, calls: CallCounter, scope: str) -> None:
        self._factory = factory
        self._calls = calls
        self.scope = scope
        self._lock = threading.RLock()
        self._conn: ldap3.Connection | None = None

    @property
    def is_mock(self) -> bool:
        """Whether this is ldap3's in-memory mock (no ranges, no distinguishedName)."""
        return bool(getattr(self._connection().strategy, "no_real_dsa", False))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(LDAPException):
                    self._conn.unbind()
                self._conn = None

    def _connection(self) -> ldap3.Connection:
        with self._lock:
            if self._conn is None:
                self._calls.record(system=SYSTEM, scope=self.scope, operation="bind")
                try:
                    conn = self._factory()
                    if not conn.bound and not conn.bind():
                        raise DirectoryError(
                            f"cannot bind to {self.scope}: {_describe(conn.result)}"
                        )
                except LDAPException as exc:
                    raise DirectoryError(
                        f"cannot reach {self.scope}: {_exception_text(exc)}"
                    ) from None
                # The same traps apply to connections made elsewhere (sandbox, tests).
                conn.auto_range = False
                conn.empty_attributes = False
                conn.auto_referrals = False
                self._conn = conn
            return self._conn

    def _request(
        self, operation: str, call: Callable[[ldap3.Connection], Any], ok: Iterable[int]
    ) -> tuple[LdapResult, list[dict[str, Any]], Mapping[str, Any]]:
        """Run one request; reconnect and retry once if the connection was lost."""
        for attempt in (1, 2):
            with self._lock:
                conn = self._connection()
                try:
                    call(conn)
                    raw = conn.result or {}
                    response = list(conn.response or [])
                except LDAPOperationResult as exc:  # raise_exceptions=True connections
                    raw = {
                        "result": exc.result,
                        "description": exc.description,
                        "message": exc.message,
                    }
                    response = []
                except LDAPException as exc:
                    self._conn = None
                    if attempt == 2:
                        self._calls.record(
                            system=SYSTEM, scope=self.scope, operation=operation, errors=1
                        )
                        raise DirectoryError(
                            f"{operation} on {self.scope} failed: {_exception_text(exc)}"
                        ) from None
                    continue
            result = LdapResult(
                code=int(raw.get("result", -1)),
                description=str(raw.get("description", "")),
                message=str(raw.get("message", "")).strip(),
            )
            failed = result.code != SUCCESS and result.code not in set(ok)
            self._calls.record(
                system=SYSTEM, scope=self.scope, operation=operation, errors=int(failed)
            )
            controls = raw.get("controls") or {}
            return result, response, controls
        raise AssertionError("unreachable")

    def search(
        self,
        *,
        base: str,
        search_filter: str,
        scope: str,
        attributes: Iterable[str],
        operation: str = "search",
        page_size: int | None = None,
    ) -> list[Entry]:
        """Every entry found (all pages); a base that does not exist finds nothing."""
        wanted = list(attributes)
        entries: list[Entry] = []
        cookie: bytes | None = None
        while True:

            def call(conn: ldap3.Connection, cookie: bytes | None = cookie) -> Any:
                return conn.search(
                    base,
                    search_filter,
                    search_scope=scope,
                    attributes=wanted,
                    paged_size=page_size,
                    paged_cookie=cookie,
                )

            result, response, controls = self._request(operation, call, ok=(NO_SUCH_OBJECT,))
            if result.code == NO_SUCH_OBJECT:
                return entries
            if not result.ok:
                raise DirectoryError(f"searching {base} on {self.scope}: {result}")
            entries.extend(
                _entry(item) for item in response if item.get("type") == "searchResEntry"
            )
            paged = controls.get(PAGED_RESULTS) or {}
            cookie = (paged.get("value") or {}).get("cookie") if page_size else None
            if not cookie:
                return entries

    def add(
        self, dn: str, object_class: str, attributes: Mapping[str, Any], *, ok: Iterable[int] = ()
    ) -> LdapResult:
        result, _, _ = self._request(
            "add", lambda conn: conn.add(dn, object_class, dict(attributes)), ok
        )
        return result

    def modify(
        self, dn: str, changes: Mapping[str, list[tuple[str, list[Any]]]], *, ok: Iterable[int] = ()
    ) -> LdapResult:
        result, _, _ = self._request("modify", lambda conn: conn.modify(dn, dict(changes)), ok)
        return result

    def delete(self, dn: str, *, ok: Iterable[int] = ()) -> LdapResult:
        result, _, _ = self._request("delete", lambda conn: conn.delete(dn), ok)
        return result


def _entry(item: Mapping[str, Any]) -> Entry:
    raw = item.get("raw_attributes") or {}
    attributes = {
        str(name).lower(): tuple(
            _text(v) for v in (values if isinstance(values, list) else [values])
        )
        for name, values in raw.items()
    }
    return Entry(dn=str(item.get("dn", "")), attributes=attributes)
