"""Fault injection, latency and request accounting for the emulator.

Okta's failure modes the engine must survive (429 storms, 5xx, slow calls) are rare and
uncontrollable against a real org, so tests schedule them here; benchmarks read the
per-route request counts to check "API calls ≤ 1.1 × minimum pages". Rate-limit headers
follow Okta's per-endpoint-family, per-minute windows, with Okta's published default
limits per family (engine/providers/okta_pacing.py holds the table and the grouping, so
client and emulator agree on what a family is); every 429 sent is counted.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from engine.providers.okta_pacing import OKTA_DEFAULT_LIMITS, OTHER_FAMILY, family_of
from engine.sandbox.okta_emulator.clock import Clock


class FaultKind(StrEnum):
    RATE_LIMIT = "rate_limit"
    SERVER_ERROR = "server_error"


@dataclass(frozen=True)
class FaultRule:
    """Fail matching requests: the next `count` of them, or every `every`-th, or both
    (every `every`-th until `count` failures). `count=None` and `every=None` fails all."""

    kind: FaultKind
    status: int = 429
    count: int | None = None
    every: int | None = None
    method: str | None = None
    path_prefix: str | None = None
    # Seconds from now to the X-Rate-Limit-Reset the failure announces; the SDK waits
    # Reset − Date + 1 seconds before retrying.
    reset_in: int = 1

    def matches(self, *, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)


@dataclass
class _ActiveRule:
    rule: FaultRule
    seen: int = 0
    fired: int = 0


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    status: int
    reset_at: int


@dataclass(frozen=True)
class RateLimitPolicy:
    """Okta-like per-family windows; `enforce` turns an exhausted window into real 429s.

    `limits` maps a family (`okta_pacing.family_of`) to its per-window limit; a family
    it does not name gets Okta's published default, else `default_limit`."""

    limits: Mapping[str, int] = field(default_factory=lambda: dict(OKTA_DEFAULT_LIMITS))
    default_limit: int = OKTA_DEFAULT_LIMITS[OTHER_FAMILY]
    window_seconds: int = 60
    enforce: bool = False

    def limit_for(self, family: str) -> int:
        if family in self.limits:
            return self.limits[family]
        return OKTA_DEFAULT_LIMITS.get(family, self.default_limit)


@dataclass(frozen=True)
class RateLimitStatus:
    family: str
    limit: int
    remaining: int
    reset_at: int
    exceeded: bool


@dataclass
class _Window:
    started: int
    used: int = 0


@dataclass
class Faults:
    policy: RateLimitPolicy = field(default_factory=RateLimitPolicy)
    clock: Clock = field(default_factory=Clock)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_ActiveRule] = []
        self._latency = 0.0
        self._latency_prefix: str | None = None
        self._counts: Counter[tuple[str, str]] = Counter()
        self._windows: dict[str, _Window] = {}
        self._rate_limited: Counter[str] = Counter()  # family → 429s sent
        self._peaks: dict[str, int] = {}  # family → most calls counted in one window

    def add_rule(self, rule: FaultRule) -> None:
        if rule.count is not None and rule.count < 0:
            raise ValueError("count must be >= 0")
        if rule.every is not None and rule.every < 1:
            raise ValueError("every must be >= 1")
        with self._lock:
            self._rules.append(_ActiveRule(rule))

    def set_latency(self, seconds: float, *, path_prefix: str | None = None) -> None:
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        with self._lock:
            self._latency = seconds
            self._latency_prefix = path_prefix

    def latency_for(self, path: str) -> float:
        with self._lock:
            if self._latency_prefix is not None and not path.startswith(self._latency_prefix):
                return 0.0
            return self._latency

    def reset(self) -> None:
        """Drop rules, latency, counts and rate-limit windows (not the org's data)."""
        with self._lock:
            self._rules.clear()
            self._latency = 0.0
            self._latency_prefix = None
            self._counts.clear()
            self._windows.clear()
            self._rate_limited.clear()
            self._peaks.clear()

    def set_policy(self, policy: RateLimitPolicy) -> None:
        """New limits from now on (current windows start over)."""
        with self._lock:
            self.policy = policy
            self._windows.clear()

    def record_429(self, *, family: str) -> None:
        with self._lock:
            self._rate_limited[family] += 1

    def rate_limited(self) -> dict[str, int]:
        """429s sent per family since the last reset."""
        with self._lock:
            return dict(self._rate_limited)

    def peak_share(self) -> dict[str, float]:
        """Per family: the most calls one window counted, as a share of its limit."""
        with self._lock:
            return {f: n / self.policy.limit_for(f) for f, n in sorted(self._peaks.items())}

    def record(self, *, method: str, route: str) -> None:
        with self._lock:
            self._counts[(method.upper(), route)] += 1

    def request_counts(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)

    def next_fault(self, *, method: str, path: str) -> Fault | None:
        """Advance every matching rule's schedule; the first that fires wins."""
        with self._lock:
            chosen: Fault | None = None
            for active in self._rules:
                rule = active.rule
                if not rule.matches(method=method, path=path):
                    continue
                if rule.count is not None and active.fired >= rule.count:
                    continue
                active.seen += 1
                if rule.every is not None and active.seen % rule.every != 0:
                    continue
                if chosen is None:
                    active.fired += 1
                    chosen = Fault(rule.kind, rule.status, int(self.clock.time()) + rule.reset_in)
            self._rules = [a for a in self._rules if a.rule.count is None or a.fired < a.rule.count]
            return chosen

    def take_rate_limit(self, *, method: str, route: str, count: bool = True) -> RateLimitStatus:
        """Count one call against its family's window, as Okta does per endpoint family
        (`count=False`: the window as it stands, for the emulator's own control calls)."""
        now = int(self.clock.time())
        family = family_of(method, route)
        with self._lock:
            limit = self.policy.limit_for(family)
            window = self._windows.get(family)
            if window is None or now >= window.started + self.policy.window_seconds:
                window = _Window(started=now)
                self._windows[family] = window
            if count:
                window.used += 1
                self._peaks[family] = max(self._peaks.get(family, 0), window.used)
            exceeded = self.policy.enforce and window.used > limit
            return RateLimitStatus(
                family=family,
                limit=limit,
                remaining=max(limit - window.used, 0),
                reset_at=window.started + self.policy.window_seconds,
                exceeded=exceeded,
            )
