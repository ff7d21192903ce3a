"""Rate-limit pacing: keep okta-aws's own calls under a share of each Okta limit.

Okta's limits are per org, per endpoint family, per minute, and shared with every other
integration of the org (HR sync, provisioning, other automation). Retrying after 429s
means the org has already hit its limit and the others got 429s too. So every response's
`X-Rate-Limit-Limit`, `-Remaining` and `-Reset` are read per family (as Okta groups
endpoints, `family_of`), and a call waits *before* it would push okta-aws's own use in
the current window past `share` × limit (`okta.rate_limit_share`, default 0.5, which is
also the share Okta gives a new API token by default), or would take the window's last
remaining call. The wait runs until the window's reset by the server's clock (`Date`),
and is reported (`on_wait`) so the progress display can show it.

Until a family's first response says its limit, one call at a time probes it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

DEFAULT_SHARE = 0.5
RESET_MARGIN = 1.0  # seconds past Reset: Date and Reset have one-second resolution

# Okta's published per-minute defaults (Workforce Identity orgs), by the endpoint family
# its rate-limit dashboard counts a call under. `/api/v1/groups/{id}/users` is not a
# call "to /api/v1/groups/{id} only", so it counts with the group listing (500), the
# conservative reading.
OKTA_DEFAULT_LIMITS: Mapping[str, int] = {
    "/api/v1/apps": 100,  # listing, creating, and every /api/v1/apps/{id}/… call
    "/api/v1/apps/{id}": 500,
    "/api/v1/groups": 500,  # listing, creating, and /api/v1/groups/{id}/…
    "/api/v1/groups/{id}": 1000,
    "/api/v1/users": 600,  # GET or POST /api/v1/users
    "GET /api/v1/users/{id}": 2000,
    "/api/v1/users/{id}": 600,  # POST, PUT, DELETE
    "/api/v1": 1200,  # most other API actions
}
OTHER_FAMILY = "/api/v1"


def family_of(method: str, route: str) -> str:
    """The rate-limit family of a call (`route` a template like `/api/v1/groups/{groupId}`)."""
    parts = route.split("?", 1)[0].strip("/").split("/")
    if parts[:2] != ["api", "v1"] or len(parts) < 3:
        return OTHER_FAMILY if parts[:1] == ["api"] else "/" + "/".join(parts[:2])
    resource, rest = parts[2], parts[3:]
    if resource in ("apps", "groups"):
        return f"/api/v1/{resource}/{{id}}" if len(rest) == 1 else f"/api/v1/{resource}"
    if resource == "users":
        if not rest:
            return "/api/v1/users"
        if method.upper() == "GET" and len(rest) == 1:
            return "GET /api/v1/users/{id}"
        return "/api/v1/users/{id}" if len(rest) == 1 else OTHER_FAMILY
    return OTHER_FAMILY


@dataclass(frozen=True)
class RateHeaders:
    limit: int
    remaining: int
    reset: float  # epoch seconds, server clock
    date: float | None  # the response's Date, epoch seconds

    @staticmethod
    def parse(headers: Any) -> RateHeaders | None:
        try:
            limit = int(headers.get("X-Rate-Limit-Limit", ""))
            remaining = int(headers.get("X-Rate-Limit-Remaining", ""))
            reset = float(headers.get("X-Rate-Limit-Reset", ""))
        except (TypeError, ValueError):
            return None
        return RateHeaders(limit=limit, remaining=remaining, reset=reset, date=server_date(headers))


def server_date(headers: Any) -> float | None:
    """The response's `Date` header as epoch seconds (None when absent or malformed)."""
    try:
        return parsedate_to_datetime(headers.get("Date", "")).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


@dataclass
class _Family:
    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None  # the current window's end, server clock (None: not yet told)
    closed: float | None = None  # the end of the latest window known to be over
    used: int = 0  # our calls answered in the current window
    in_flight: int = 0
    waiting_until: float | None = None  # a wait already announced
    peak_used: int = 0  # most of our calls in one window
    peak_org_used: int = 0  # most calls in one window as Okta counted them (limit - remaining)

    def roll_over(self) -> None:
        """The current window is over: count afresh; answers from it are ignored."""
        if self.reset is not None:
            self.closed = self.reset
        self.used, self.remaining, self.reset = 0, None, None


@dataclass
class PacingStats:
    waits: int = 0
    waited_s: float = 0.0
    peak_share: dict[str, float] = field(default_factory=dict)  # family → our peak / limit
    peak_org_share: dict[str, float] = field(default_factory=dict)


class Pacer:
    """Per-family budgets on one event loop. `clock` and `sleep` are injectable so a
    benchmark can run a twenty-minute paced read in simulated time."""

    def __init__(
        self,
        *,
        share: float = DEFAULT_SHARE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        on_wait: Callable[[str, float], None] | None = None,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self.share = share
        self._clock = clock
        self._sleep = sleep
        self.on_wait = on_wait
        self._families: dict[str, _Family] = {}
        self._server_offset: float | None = None  # server time − clock()
        self._changed: asyncio.Condition | None = None
        self.stats = PacingStats()

    def describe_wait(self, family: str, seconds: float) -> str:
        """One line for the progress display."""
        limit = self._families.get(family, _Family()).limit
        of = f" of {limit}/min" if limit is not None else ""
        return (
            f"okta: waiting {seconds:.0f} s for the next {family} rate-limit window "
            f"(okta-aws uses at most {self.share:.0%}{of})"
        )

    def allowance(self, limit: int) -> int:
        return max(1, math.floor(self.share * limit))

    def server_now(self) -> float | None:
        if self._server_offset is None:
            return None
        return self._clock() + self._server_offset

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def acquire(self, family: str) -> None:
        """Wait until one more call of `family` stays within the budget, and take it."""
        changed = self._condition()
        async with changed:
            while True:
                state = self._families.setdefault(family, _Family())
                wait = self._wait_needed(state)
                if wait is None:
                    state.in_flight += 1
                    return
                if wait == 0.0:  # a probe or a full budget in flight: wait for an answer
                    await changed.wait()
                    continue
                await self._wait_for_window(family, state, wait, changed)

    def _wait_needed(self, state: _Family) -> float | None:
        """None: go; 0.0: wait for a call in flight; > 0: seconds to the window's reset."""
        if state.limit is None:
            return None if state.in_flight == 0 else 0.0
        now = self.server_now()
        if state.reset is not None and now is not None and now >= state.reset + RESET_MARGIN:
            state.roll_over()  # a new window began by the server's clock
        budget_left = self.allowance(state.limit) - state.used - state.in_flight
        org_left = None if state.remaining is None else state.remaining - state.in_flight
        if budget_left > 0 and (org_left is None or org_left > 0):
            return None
        if state.reset is None or now is None:
            return 0.0 if state.in_flight else None  # the next answer tells the window
        return max(0.001, state.reset + RESET_MARGIN - now)

    async def _wait_for_window(
        self, family: str, state: _Family, wait: float, changed: asyncio.Condition
    ) -> None:
        until = (self.server_now() or 0.0) + wait
        first = state.waiting_until is None or state.waiting_until < until - 0.5
        if first:
            waited_for = state.reset
            state.waiting_until = until
            self.stats.waits += 1
            self.stats.waited_s += wait
            if self.on_wait is not None:
                self.on_wait(family, wait)
            changed.release()
            try:
                await self._sleep(wait)
            finally:
                await changed.acquire()
            if state.reset == waited_for:  # no answer has told of the new window yet
                state.roll_over()
            state.waiting_until = None
            changed.notify_all()
        else:
            await changed.wait()

    async def release(self, family: str, headers: RateHeaders | None) -> None:
        """Count an answered call and learn the family's window from its headers (None:
        no answer or no headers, only the slot is freed)."""
        changed = self._condition()
        async with changed:
            state = self._families.setdefault(family, _Family())
            state.in_flight = max(0, state.in_flight - 1)
            if headers is not None:
                self._learn(state, headers)
                self._record_peaks(family, state)
            changed.notify_all()

    def _learn(self, state: _Family, headers: RateHeaders) -> None:
        if headers.date is not None:
            # Date is truncated to the second: the server's time is in [date, date + 1).
            offset = headers.date - self._clock()
            if self._server_offset is None or offset > self._server_offset:
                self._server_offset = offset
        state.limit = headers.limit
        if state.closed is not None and headers.reset <= state.closed:
            return  # an answer counted in a window that is over
        if state.reset is None:
            state.reset, state.remaining = headers.reset, headers.remaining
        elif headers.reset > state.reset:  # the server opened the next window first
            state.closed, state.reset = state.reset, headers.reset
            state.used, state.remaining = 0, headers.remaining
        elif headers.reset < state.reset:
            return  # a straggler from an earlier window
        else:
            current = state.remaining if state.remaining is not None else headers.remaining
            state.remaining = min(current, headers.remaining)
        state.used += 1

    def _record_peaks(self, family: str, state: _Family) -> None:
        if state.limit is None or state.limit <= 0:
            return
        state.peak_used = max(state.peak_used, state.used)
        if state.remaining is not None:
            state.peak_org_used = max(state.peak_org_used, state.limit - state.remaining)
        self.stats.peak_share[family] = round(state.peak_used / state.limit, 4)
        self.stats.peak_org_share[family] = round(state.peak_org_used / state.limit, 4)
