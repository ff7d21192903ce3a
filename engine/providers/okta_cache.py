"""The Okta read cache: group members from an earlier read, so a converged plan of a big
org re-reads only the member lists that changed.

Okta has no bulk membership call: a full read lists the members of every role group,
thousands of calls at reference size, all counted against the org's per-minute limits
that its HR sync and provisioning share. Every group Okta returns carries
`lastMembershipUpdated`, and the group listing the read makes anyway returns it, so a
later read can keep a cached member list while that timestamp is unchanged.

The rules that keep a cached list exact (`MemberCache.reusable`):
- the cache belongs to this org URL and this app id (else it is not used at all);
- the entry was read at most `max_age` ago (default 24 h) by the server's clock: the
  `Date` header Okta sent with that member listing, compared with the `Date` of this
  read, never the local clock;
- the group's `lastMembershipUpdated` is exactly the value seen when the entry was read
  (different in either direction — a newer update, or a cache restored from elsewhere
  whose timestamp is ahead — means read again);
- and that update happened at least `overlap` seconds before the entry's listing
  began: `Date` has one-second resolution, Okta's servers' clocks may differ a little,
  and a second update in the same millisecond would not change the timestamp, so a
  listing that may have raced an update is never trusted.
Groups that are new, changed or near a listing are read again; deleted groups drop out
(only groups present in this read are kept). A cache file that cannot be read or parsed
is ignored with a warning and rewritten after the read; it never blocks a plan.

Location: `OKTA_AWS_CACHE_DIR`, else `$XDG_CACHE_HOME/okta-aws`, else
`~/.cache/okta-aws`; one gzip'd JSON file per (org URL, app id). A CI job can restore the
folder from its cache between runs.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

CACHE_DIR_ENV = "OKTA_AWS_CACHE_DIR"
FORMAT_VERSION = 1
DEFAULT_MAX_AGE = 24 * 3600.0  # seconds: the longest any member list is reused
DEFAULT_OVERLAP = 120.0  # seconds: clock skew between Okta's servers, Date's resolution
MAX_CACHE_BYTES = 512 << 20  # decompressed; the reference org's cache is ~25 MB


class CacheUnusable(Exception):
    """The cache file exists but cannot be read or parsed; the message says why."""


def default_cache_dir(env: Mapping[str, str]) -> Path:
    """`OKTA_AWS_CACHE_DIR`, else `$XDG_CACHE_HOME/okta-aws`, else `~/.cache/okta-aws`."""
    explicit = (env.get(CACHE_DIR_ENV) or "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = (env.get("XDG_CACHE_HOME") or "").strip()
    if xdg and os.path.isabs(xdg):  # the XDG spec: a relative value is ignored
        return Path(xdg) / "okta-aws"
    home = (env.get("HOME") or "").strip()
    return (Path(home) if home else Path.home()) / ".cache" / "okta-aws"


def parse_okta_time(value: str) -> float | None:
    """Epoch seconds of an Okta timestamp (`2024-06-02T13:03:13.000Z`); None if malformed."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    if moment.tzinfo is None:
        return None
    return moment.timestamp()


@dataclass(frozen=True)
class CachedMembers:
    """One group's member logins as a listing that began at `read_at` found them."""

    last_membership_updated: str  # exactly as Okta sent it in the group listing
    read_at: float  # the server's Date (epoch s) on the member listing's first page
    members: frozenset[str]


@dataclass(frozen=True)
class MemberCache:
    """The entries of one (org, app) and the rules for reusing them."""

    org_url: str
    app_id: str
    entries: Mapping[str, CachedMembers] = field(default_factory=dict)
    max_age: float = DEFAULT_MAX_AGE
    overlap: float = DEFAULT_OVERLAP

    def reusable(self, *, group_id: str, last_membership_updated: str, now: float) -> bool:
        """Whether the cached members of `group_id` are what a listing now would return
        (see the module docstring); `now` is the server's Date for this read."""
        entry = self.entries.get(group_id)
        if entry is None or entry.last_membership_updated != last_membership_updated:
            return False
        updated = parse_okta_time(last_membership_updated)
        if updated is None:
            return False
        age = now - entry.read_at
        if age > self.max_age or age < -self.overlap:  # too old, or from the future
            return False
        return updated <= entry.read_at - self.overlap

    def members(self, group_id: str) -> frozenset[str]:
        return self.entries[group_id].members

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "orgUrl": self.org_url,
            "appId": self.app_id,
            "groups": {
                gid: {
                    "lastMembershipUpdated": e.last_membership_updated,
                    "readAt": e.read_at,
                    "members": sorted(e.members),
                }
                for gid, e in sorted(self.entries.items())
            },
        }

    @classmethod
    def from_json(cls, document: Any, *, max_age: float, overlap: float) -> MemberCache:
        """Raises CacheUnusable for anything but a well-formed document of this version."""
        try:
            if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
                raise CacheUnusable("unknown format")
            org_url, app_id = document["orgUrl"], document["appId"]
            groups = document["groups"]
            if not (isinstance(org_url, str) and isinstance(app_id, str)):
                raise CacheUnusable("orgUrl/appId are not strings")
            if not isinstance(groups, dict):
                raise CacheUnusable("groups is not an object")
            entries: dict[str, CachedMembers] = {}
            for gid, raw in groups.items():
                updated, read_at, members = (
                    raw["lastMembershipUpdated"],
                    raw["readAt"],
                    raw["members"],
                )
                if not isinstance(updated, str) or not isinstance(members, list):
                    raise CacheUnusable(f"group {gid}: malformed entry")
                if not isinstance(read_at, int | float) or isinstance(read_at, bool):
                    raise CacheUnusable(f"group {gid}: readAt is not a number")
                if not all(isinstance(m, str) for m in members):
                    raise CacheUnusable(f"group {gid}: a member is not a string")
                entries[str(gid)] = CachedMembers(
                    last_membership_updated=updated,
                    read_at=float(read_at),
                    members=frozenset(members),
                )
        except (KeyError, TypeError, AttributeError) as exc:
            raise CacheUnusable(f"missing or malformed field {exc}") from None
        return cls(
            org_url=org_url, app_id=app_id, entries=entries, max_age=max_age, overlap=overlap
        )


@dataclass(frozen=True)
class CacheStore:
    """Where one org's caches live and how long their entries may be reused."""

    directory: Path
    org_url: str
    max_age: float = DEFAULT_MAX_AGE
    overlap: float = DEFAULT_OVERLAP

    def path_for(self, app_id: str) -> Path:
        key = hashlib.sha256(f"{self.org_url}\n{app_id}".encode()).hexdigest()[:24]
        return self.directory / f"okta-read-{key}.json.gz"

    def empty(self, app_id: str) -> MemberCache:
        return MemberCache(
            org_url=self.org_url, app_id=app_id, max_age=self.max_age, overlap=self.overlap
        )

    def load(self, app_id: str) -> tuple[MemberCache | None, str]:
        """The cache for this org and app, or None with the reason a full read is made.
        Raises CacheUnusable when the file exists but cannot be used (a warning)."""
        path = self.path_for(app_id)
        try:
            with gzip.open(path, "rb") as handle:
                data = handle.read(MAX_CACHE_BYTES + 1)  # bounded: a gzip bomb stops here
            if len(data) > MAX_CACHE_BYTES:
                raise CacheUnusable(f"{path} is larger than {MAX_CACHE_BYTES:,} bytes")
            document = json.loads(data)
        except (FileNotFoundError, NotADirectoryError):
            return None, "no cache yet"  # an unusable folder is reported when saving
        except (OSError, EOFError, ValueError, RecursionError) as exc:
            raise CacheUnusable(f"{path} cannot be read ({type(exc).__name__})") from None
        try:
            cache = MemberCache.from_json(document, max_age=self.max_age, overlap=self.overlap)
        except CacheUnusable as exc:
            raise CacheUnusable(f"{path} cannot be parsed ({exc})") from None
        if cache.org_url != self.org_url or cache.app_id != app_id:
            return None, "the cache belongs to another org or app"
        return cache, "cache"

    def save(self, cache: MemberCache) -> None:
        """Atomic write (a crash never leaves a truncated cache); raises OSError."""
        path = self.path_for(cache.app_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with (
            tempfile.NamedTemporaryFile(
                dir=path.parent, prefix=path.name, suffix=".tmp", delete=False
            ) as handle,
            gzip.GzipFile(fileobj=handle, mode="wb", compresslevel=3) as zipped,
        ):
            zipped.write(json.dumps(cache.to_json(), separators=(",", ":")).encode())
        os.replace(handle.name, path)
