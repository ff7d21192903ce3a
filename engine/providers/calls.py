"""A thread-safe tally of API calls, shared by every provider.

docs/architecture.md §Performance targets sets targets in API calls (≤ 1.1 × the
minimum pages; a converged re-plan makes 0 writes), and users of the anchors complain
about N+1 lookups and 429s nobody can see. So every provider reports each call here,
keyed by (system, scope, operation) — scope being whatever the quota is per: an AWS
account id, an Okta org, an LDAP server — and retries separately, so plans, benchmarks
and tests can read them.

A counter may have a parent: a provider gives each read its own child counter (to
report that read alone) that also adds to the run-wide one.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Container, Mapping
from dataclasses import dataclass, replace

# Operations whose first word is one of these only look: everything else counts as a write.
READ_VERBS = frozenset(
    {
        "assume",  # STS AssumeRole: credentials, not state
        "bind",
        "compare",
        "describe",
        "get",
        "head",
        "list",
        "lookup",
        "options",
        "query",
        "read",
        "scan",
        "search",
        "simulate",
        "whoami",
    }
)

# "GET /x" → GET, "GetRole" → Get, "list_roles" → list.
_FIRST_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Za-z][a-z]*")


def is_write(operation: str) -> bool:
    """Guess from the verb: `ListRoles`, `get_role`, `GET /api/v1/groups` read; others write."""
    match = _FIRST_WORD.match(operation.strip())
    return match is None or match.group(0).lower() not in READ_VERBS


@dataclass(frozen=True, order=True)
class CallKey:
    system: str  # "aws", "directory", "okta"
    scope: str  # what the quota is per, e.g. an AWS account id
    operation: str  # e.g. "GetAccountAuthorizationDetails"


@dataclass(frozen=True)
class CallStats:
    calls: int = 0  # API calls as the program made them (a retried call counts once)
    retries: int = 0  # extra attempts the SDK made for those calls (throttling, 5xx…)
    errors: int = 0  # calls that finally failed
    write: bool = False


class CallTotals:
    """The totals of one read's `calls`, for each provider's read result to inherit."""

    calls: Mapping[CallKey, CallStats]

    @property
    def call_count(self) -> int:
        return sum(s.calls for s in self.calls.values())

    @property
    def retry_count(self) -> int:
        return sum(s.retries for s in self.calls.values())


class CallCounter:
    """Counts calls per (system, scope, operation); safe to share between threads."""

    def __init__(self, *, parent: CallCounter | None = None) -> None:
        self._lock = threading.Lock()
        self._stats: dict[CallKey, CallStats] = {}
        self._parent = parent

    def child(self) -> CallCounter:
        """A counter that also counts into this one (e.g. one read within a run)."""
        return CallCounter(parent=self)

    def record(
        self,
        *,
        system: str,
        scope: str,
        operation: str,
        calls: int = 1,
        retries: int = 0,
        errors: int = 0,
        write: bool | None = None,
    ) -> None:
        """Add to the tally; `write` defaults to `is_write(operation)`."""
        key = CallKey(system, scope, operation)
        writes = is_write(operation) if write is None else write
        with self._lock:
            old = self._stats.get(key, CallStats(write=writes))
            self._stats[key] = replace(
                old,
                calls=old.calls + calls,
                retries=old.retries + retries,
                errors=old.errors + errors,
                write=old.write or writes,
            )
        if self._parent is not None:
            self._parent.record(
                system=system,
                scope=scope,
                operation=operation,
                calls=calls,
                retries=retries,
                errors=errors,
                write=writes,
            )

    def snapshot(self) -> dict[CallKey, CallStats]:
        """A copy of the tally, safe to keep while counting goes on."""
        with self._lock:
            return dict(self._stats)

    def _select(
        self, system: str | None, scope: str | None, operation: str | None
    ) -> list[tuple[CallKey, CallStats]]:
        return [
            (key, stats)
            for key, stats in self.snapshot().items()
            if (system is None or key.system == system)
            and (scope is None or key.scope == scope)
            and (operation is None or key.operation == operation)
        ]

    def total(
        self, *, system: str | None = None, scope: str | None = None, operation: str | None = None
    ) -> int:
        """Calls made (retries excluded), optionally only those matching the filters."""
        return sum(s.calls for _, s in self._select(system, scope, operation))

    def retries(
        self, *, system: str | None = None, scope: str | None = None, operation: str | None = None
    ) -> int:
        return sum(s.retries for _, s in self._select(system, scope, operation))

    def errors(
        self, *, system: str | None = None, scope: str | None = None, operation: str | None = None
    ) -> int:
        return sum(s.errors for _, s in self._select(system, scope, operation))

    def writes(self, *, system: str | None = None, scope: str | None = None) -> int:
        """Calls that change something (the number a converged re-plan must keep at 0)."""
        return sum(s.calls for _, s in self._select(system, scope, None) if s.write)

    def since(
        self,
        before: Mapping[CallKey, CallStats],
        *,
        system: str,
        scopes: Container[str] | None = None,
    ) -> dict[CallKey, CallStats]:
        """What was counted after the snapshot `before`, for one system (and scopes):
        the calls one read made, reported with its result."""
        delta: dict[CallKey, CallStats] = {}
        for key, now in self.snapshot().items():
            if key.system != system or (scopes is not None and key.scope not in scopes):
                continue
            old = before.get(key, CallStats())
            stats = CallStats(
                calls=now.calls - old.calls,
                retries=now.retries - old.retries,
                errors=now.errors - old.errors,
                write=now.write,
            )
            if stats.calls or stats.retries or stats.errors:
                delta[key] = stats
        return delta

    def by_operation(self, *, system: str | None = None) -> Mapping[str, int]:
        """Calls per operation name, all scopes together (for reports)."""
        totals: dict[str, int] = {}
        for key, stats in self._select(system, None, None):
            totals[key.operation] = totals.get(key.operation, 0) + stats.calls
        return totals
