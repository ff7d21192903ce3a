"""The Okta provider: reads the Okta part of the live world and executes Okta changes.

It decides nothing (that is `diff`'s job). It reads the AWS Account Federation app
(`amazon_aws`, raw `settings.app`), its group assignments, the groups the group filter
matches plus the management groups by name, and the members access needs, in few
batched calls (`okta_read`), reusing the member lists of groups whose
`lastMembershipUpdated` has not moved since an earlier read (`okta_cache`); it executes
one `plan.Change` at a time, idempotently (`okta_execute`). Transport, credentials,
retries, rate-limit pacing (`okta_pacing`) and call counting live in `okta_http`; the
okta SDK is imported on first use only.

Failures are data where the caller must keep going: a read that fails anywhere is
reported whole in `OktaRead.errors` (a partial read is never passed off as the org),
and its world then leaves Okta out of `systems` so nothing is planned from it.
`execute` returns an `Outcome` for every expected condition (WAITING for a group the
directory import has not brought yet) and raises `OktaError` with a clear message
otherwise; `OktaRefused` for changes okta-aws must never make (editing an APP_GROUP).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from engine.model import AppAssignment, OktaApp, OktaGroup, System, World
from engine.plan import Change, Finding, FindingKind, Outcome
from engine.providers.calls import CallCounter, CallKey, CallStats, CallTotals
from engine.providers.okta_cache import (
    DEFAULT_MAX_AGE,
    DEFAULT_OVERLAP,
    CacheStore,
    CacheUnusable,
    MemberCache,
)
from engine.providers.okta_execute import OktaCache, OktaRefused, execute_change, prepare
from engine.providers.okta_http import (
    OktaApiError,
    OktaConfig,
    OktaConfigError,
    OktaConnectionError,
    OktaError,
    OktaHttp,
)
from engine.providers.okta_pacing import Pacer
from engine.providers.okta_read import ReadScope, read_okta

__all__ = [
    "OktaApiError",
    "OktaConfig",
    "OktaConfigError",
    "OktaConnectionError",
    "OktaError",
    "OktaProvider",
    "OktaRead",
    "OktaRefused",
    "ReadScope",
]


class ReadMode(StrEnum):
    FULL = "full"  # every member list read
    INCREMENTAL = "incremental"  # the cache consulted: unchanged member lists reused


@dataclass(frozen=True)
class CacheReport:
    """How the read used the cache, for the summary line after a plan."""

    mode: ReadMode = ReadMode.FULL
    reason: str = "no cache"  # why a full read, or "cache"
    reused: int = 0  # member lists taken from the cache
    read: int = 0  # member lists read from Okta

    def describe(self) -> str:
        if self.mode is ReadMode.FULL:
            return f"okta members: full read ({self.reason}), {self.read} lists read"
        return (
            f"okta members: incremental read, {self.reused} lists unchanged since the "
            f"cached read, {self.read} read"
        )


@dataclass(frozen=True)
class OktaRead(CallTotals):
    """What one read found. With `errors`, the rest is incomplete and must not be used."""

    app: OktaApp | None = None
    groups: tuple[OktaGroup, ...] = ()
    assignments: tuple[AppAssignment, ...] = ()
    errors: tuple[str, ...] = ()
    calls: Mapping[CallKey, CallStats] = field(default_factory=dict)
    app_wanted: str = ""  # the label or id looked for
    cache: CacheReport = field(default_factory=CacheReport)

    @property
    def complete(self) -> bool:
        return not self.errors

    def findings(self) -> tuple[Finding, ...]:
        """A READ_ERROR finding (blocking) for each failed call. A missing app is not a
        read error: the diff reports it, knowing whether `okta.create_app` is set."""
        return tuple(
            Finding(FindingKind.READ_ERROR, System.OKTA, "okta read", error)
            for error in self.errors
        )

    def to_world(self) -> World:
        """The Okta part of the live world; an incomplete read claims no system."""
        return World.build(
            okta_app=self.app,
            okta_groups=self.groups,
            app_assignments=self.assignments,
            systems=(System.OKTA,) if self.complete else (),
        )


class OktaProvider:
    """Reads and changes one Okta org's AWS app, its assignments and (kind okta) groups.

    Connection: explicit arguments, else `OKTA_ORG_URL` with `OKTA_API_TOKEN`, or an
    OAuth 2.0 service app (`OKTA_CLIENT_ID` + `OKTA_PRIVATE_KEY_FILE`). `max_retries`
    is the SDK's own 429/503/504 retries; after them a 429 is retried with our bounded
    backoff; `rate_limit_share` paces calls (okta_pacing). `cache_dir` turns on the read
    cache (okta_cache); `full_read` ignores it for this provider's reads but rewrites it.
    `warn` gets warnings (an unusable cache), `on_wait` each pacing wait. Use as a
    context manager (or call `close`) to stop its event loop.
    """

    def __init__(
        self,
        *,
        config: OktaConfig | None = None,
        org_url: str | None = None,
        token: str | None = None,
        client_id: str | None = None,
        private_key_file: str | None = None,
        calls: CallCounter | None = None,
        app_label: str | None = None,
        env: Mapping[str, str] | None = None,
        cache_dir: Path | None = None,
        cache_max_age: float = DEFAULT_MAX_AGE,
        cache_overlap: float = DEFAULT_OVERLAP,
        full_read: bool = False,
        warn: Callable[[str], None] | None = None,
        on_wait: Callable[[str, float], None] | None = None,
        pacer: Pacer | None = None,
        **options: Any,
    ) -> None:
        """`options` are OktaConfig fields (max_retries, concurrency, backoff_*…);
        `app_label` names the app for executes that come before any read."""
        self.config = config or OktaConfig.from_env(
            org_url=org_url,
            token=token,
            client_id=client_id,
            private_key_file=private_key_file,
            env=env,
            **options,
        )
        self.calls = calls if calls is not None else CallCounter()
        self._http = OktaHttp(config=self.config, calls=self.calls, pacer=pacer)
        if self._http.pacer is not None and on_wait is not None:
            self._http.pacer.on_wait = on_wait
        self._cache = OktaCache(app_label=app_label)
        self._store = (
            None
            if cache_dir is None
            else CacheStore(
                directory=cache_dir,
                org_url=self.config.org_url,
                max_age=cache_max_age,
                overlap=cache_overlap,
            )
        )
        self.full_read = full_read
        self._warn = warn or _warn_on_stderr
        self.last_cache: CacheReport | None = None  # how the latest read used the cache

    def set_wait_listener(self, listener: Callable[[str], None] | None) -> None:
        """Who hears of pacing waits, as one line each (the progress display)."""
        pacer = self._http.pacer
        if pacer is None:
            return
        if listener is None:
            pacer.on_wait = None
            return

        def on_wait(family: str, seconds: float) -> None:
            listener(pacer.describe_wait(family, seconds))

        pacer.on_wait = on_wait

    @property
    def pacer(self) -> Pacer | None:
        """The pacing of this provider's calls (None with rate_limit_share 0)."""
        return self._http.pacer

    def __enter__(self) -> OktaProvider:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- read ------------------------------------------------------------------------

    def read(self, *, scope: ReadScope) -> OktaRead:
        """Read what `scope` names; never raises for Okta failures (see `errors`)."""
        before = self.calls.snapshot()
        wanted = scope.app_id or scope.app_label or ""
        if scope.app_label:
            self._cache.app_label = scope.app_label  # lets executes find the app regardless
        outcome: dict[str, str] = {"reason": "no cache" if self._store is None else ""}

        def load_cache(app_id: str) -> MemberCache | None:
            if self._store is None:
                return None
            if self.full_read:
                outcome["reason"] = "--full-read"
                return None
            try:
                cache, reason = self._store.load(app_id)
            except CacheUnusable as exc:
                self._warn(f"okta read cache ignored and rewritten: {exc}")
                outcome["reason"] = "unusable cache"
                return None
            outcome["reason"] = reason
            return cache

        try:
            result = self._http.run(
                read_okta(
                    self._http,
                    scope,
                    source_names=self._cache.source_names,
                    load_cache=load_cache,
                )
            )
        except OktaError as exc:
            return OktaRead(
                errors=(str(exc),),
                calls=self.calls.since(before, system="okta", scopes={self._http.scope}),
                app_wanted=wanted,
            )
        with self._cache.lock:
            self._cache.groups = {g.key: g for g in result.groups}
        self._cache.app_id = result.app.id if result.app is not None else None
        incremental = outcome["reason"] == "cache"
        if incremental and result.members_read and not result.members_reused:
            # Every cached list was too old, changed or too close to its change.
            incremental, outcome["reason"] = False, "no cached list could be reused"
        if self._store is not None and result.app is not None and result.app.id:
            self._save_cache(app_id=result.app.id, result=result.member_entries)
        self.last_cache = CacheReport(
            mode=ReadMode.INCREMENTAL if incremental else ReadMode.FULL,
            reason=outcome["reason"] or "no app",
            reused=result.members_reused,
            read=result.members_read,
        )
        return OktaRead(
            app=result.app,
            groups=result.groups,
            assignments=result.assignments,
            calls=self.calls.since(before, system="okta", scopes={self._http.scope}),
            app_wanted=wanted,
            cache=self.last_cache,
        )

    def _save_cache(self, *, app_id: str, result: Mapping[str, Any]) -> None:
        """Only after a complete read; a cache that cannot be written costs a warning."""
        assert self._store is not None
        try:
            self._store.save(
                MemberCache(org_url=self.config.org_url, app_id=app_id, entries=result)
            )
        except OSError as exc:
            self._warn(
                f"okta read cache not saved in {self._store.directory} "
                f"({exc.strerror or type(exc).__name__}): the next plan reads every member list"
            )

    def read_for(self, *, desired: World, role_group_name: str | None = None) -> OktaRead:
        """Read what a desired world needs (`ReadScope.for_world`)."""
        return self.read(scope=ReadScope.for_world(desired, role_group_name=role_group_name))

    def idp_metadata(self, *, app_id: str | None = None) -> str:
        """The app's SAML IdP metadata (the SAML provider's document when the desired
        state names no metadata_file). Raises OktaError if the app is unknown."""

        async def fetch() -> str:
            from engine.providers.okta_execute import app_id_of

            target = app_id or await app_id_of(self._http, self._cache)
            # The metadata is per signing key; Okta's spec requires its `kid`, which
            # only the app document carries.
            app = await self._http.call(
                "GET", "/api/v1/apps/{appId}", path_params={"appId": target}
            )
            kid = ((app.json() or {}).get("credentials") or {}).get("signing", {}).get("kid")
            if not kid:
                raise OktaError(f"Okta app {target} has no SAML signing key (credentials.signing)")
            response = await self._http.call(
                "GET",
                "/api/v1/apps/{appId}/sso/saml/metadata",
                path_params={"appId": target},
                query={"kid": str(kid)},
                accept="text/xml, application/xml",
            )
            return response.text

        return self._http.run(fetch())

    # --- execute ---------------------------------------------------------------------

    def prepare(self, changes: Iterable[Change]) -> None:
        """Optional, before executing many changes: resolve their groups and users in
        batched searches instead of one lookup per change."""
        okta = [c for c in changes if c.system is System.OKTA]
        if okta:
            self._http.run(prepare(self._http, self._cache, okta))

    def execute(self, change: Change) -> Outcome:
        """Carry out one Okta change (see okta_execute); raises OktaError on failure."""
        if change.system is not System.OKTA:
            raise OktaError(f"not an Okta change: {change.id}")
        return self._http.run(execute_change(self._http, self._cache, change))

    # --- accounting ------------------------------------------------------------------


def _warn_on_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)
