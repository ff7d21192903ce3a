"""The emulated org's clock: real time, shifted or frozen at will.

Okta stamps groups with `lastUpdated`/`lastMembershipUpdated` and every response with
`Date` and `X-Rate-Limit-Reset`; clients reason with all of them (the read cache, the
pacing). To test what a client does when two updates land in the same second, when the
server's clock is ahead of or behind the client's, or when a rate-limit window runs
out after twenty simulated minutes, the tests move this clock instead of waiting.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class Clock:
    """`time()` is real time plus an offset, or a frozen instant (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen: float | None = None

    def time(self) -> float:
        with self._lock:
            return self._frozen if self._frozen is not None else time.time() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def advance(self, seconds: float) -> None:
        """Move forward (or back, for a negative value) by `seconds`."""
        with self._lock:
            if self._frozen is not None:
                self._frozen += seconds
            else:
                self._offset += seconds

    def freeze(self, at: float | None = None) -> None:
        """Stop the clock at `at` (epoch seconds), or at its current reading."""
        with self._lock:
            current = self._frozen if self._frozen is not None else time.time() + self._offset
            self._frozen = current if at is None else at

    def unfreeze(self) -> None:
        """Run again from the frozen instant (the offset keeps the reading continuous)."""
        with self._lock:
            if self._frozen is not None:
                self._offset = self._frozen - time.time()
                self._frozen = None

    @property
    def offset(self) -> float:
        with self._lock:
            return self._offset
