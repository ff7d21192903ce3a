"""Transport for the Okta provider: the okta SDK's request executor behind a sync API.

Why it looks like this:
- okta SDK 3.4.6 is async, and its typed models drop the AWS app's `settings.app` and
  strip nulls from request bodies (docs/facts.md §okta SDK). So every call goes through
  the SDK's own `RequestExecutor` with raw JSON: the same path its typed calls take
  (authorization, OAuth tokens, 429/503/504 retries honouring `X-Rate-Limit-Reset`),
  minus the models.
- `import okta.client` costs ~4.5 s (1,787 models); the executor and its configuration
  need ~1 s and are imported on first use only. The executor is built exactly as
  `okta.client.Client.__init__` builds it (config setter, prune, validate).
- The rest of the engine is synchronous and apply runs changes from a thread pool, so
  the provider owns one event loop in a private thread with one aiohttp session; sync
  callers submit coroutines to it. Reads bound their concurrency with a semaphore.
- Failures become `OktaError`s naming the call: after the SDK's retries, a 429 is
  retried with our own bounded backoff; a refused connection (which crashes the SDK's
  typed calls with `AttributeError`, docs/facts.md §okta SDK) is reported as such. A
  service app's token request Okta refuses is an `OktaApiError` on
  `POST /oauth2/v1/token` with Okta's OAuth error; a missing key file is an
  `OktaConfigError` up front, an unusable one when the SDK reads it (it raises a bare
  ValueError). No message ever repeats key material.

The token is never logged or put in a message: the SDK logs whole requests (headers
included) at debug level, so its logger is disabled as `Client` itself does.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Awaitable, Coroutine, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

from engine.providers.calls import CallCounter
from engine.providers.okta_pacing import DEFAULT_SHARE, Pacer, RateHeaders, family_of, server_date

T = TypeVar("T")

TOKEN_ROUTE = "/oauth2/v1/token"  # where the SDK gets a service app's access token
DEFAULT_SCOPES = ("okta.apps.manage", "okta.groups.manage", "okta.users.read")
SDK_LOGGER = "okta-sdk-python"
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class OktaError(Exception):
    """An Okta call that failed; the message names the call and Okta's reason."""


class OktaConfigError(OktaError):
    """The connection settings are missing or invalid."""


class OktaConnectionError(OktaError):
    """Okta could not be reached at all (refused, DNS, TLS, timeout)."""


class OktaApiError(OktaError):
    """Okta answered with an error status."""

    def __init__(
        self, *, method: str, route: str, status: int, code: str = "", summary: str = ""
    ) -> None:
        self.method, self.route, self.status = method, route, status
        self.code, self.summary = code, summary
        reason = f"{code}: {summary}" if code else (summary or "no error body")
        super().__init__(f"Okta {method} {route} failed with HTTP {status} ({reason})")


MAX_RETRIES_ENV = "OKTA_CLIENT_RATELIMIT_MAXRETRIES"


def _check_org_url(url: str) -> None:
    """An org URL is scheme and host only. Whatever else it holds is refused without
    repeating the value: credentials (`user:pass@`, which aiohttp would also reject with
    a traceback) or a token in a query string must never reach a log."""
    if "@" in url:
        raise OktaConfigError(
            "OKTA_ORG_URL must not hold credentials (user:password@…): give only the org's "
            "address, e.g. https://example.okta.com, and the token in OKTA_API_TOKEN"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number
        usable = bool(
            parts.scheme in ("https", "http")
            and parts.hostname
            and not parts.query
            and not parts.fragment
        )
    except ValueError:  # e.g. an unclosed `[` of an IPv6 address
        usable = False
    if not usable:
        raise OktaConfigError(
            "OKTA_ORG_URL is not an org address like https://example.okta.com (a scheme "
            "and a host name, no query or fragment); its value is not shown"
        )


@dataclass(frozen=True)
class OktaConfig:
    """How to reach one Okta org. Build it with `from_env`; the token is never shown."""

    org_url: str
    token: str | None = field(default=None, repr=False)
    client_id: str | None = None
    private_key_file: str | None = None
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    max_retries: int = 2  # the SDK's own retries of 429/503/504
    backoff_attempts: int = 3  # ours, once the SDK has given up on a 429
    backoff_base: float = 0.5  # seconds added to the wait until X-Rate-Limit-Reset
    backoff_max: float = 60.0
    request_timeout: float = 120.0  # per call, retries included (0: none)
    concurrency: int = 8
    rate_limit_share: float = DEFAULT_SHARE  # of each family's limit we may use (0: no pacing)

    @property
    def auth_mode(self) -> str:
        return "SSWS" if self.token else "PrivateKey"

    @classmethod
    def from_env(
        cls,
        *,
        org_url: str | None = None,
        token: str | None = None,
        client_id: str | None = None,
        private_key_file: str | None = None,
        env: Mapping[str, str] | None = None,
        **options: Any,
    ) -> OktaConfig:
        """Explicit arguments win over `OKTA_ORG_URL`, `OKTA_API_TOKEN`, `OKTA_CLIENT_ID`,
        `OKTA_PRIVATE_KEY_FILE` and `OKTA_CLIENT_RATELIMIT_MAXRETRIES`. An API token wins
        over a service app."""
        source = os.environ if env is None else env
        url = (org_url or source.get("OKTA_ORG_URL") or "").strip().rstrip("/")
        retries = (source.get(MAX_RETRIES_ENV) or "").strip()
        if retries and "max_retries" not in options:
            # The okta SDK's own variable for its 429 retries, honoured as it documents.
            if not retries.isdigit():
                raise OktaConfigError(f"{MAX_RETRIES_ENV}={retries!r} is not a whole number")
            options["max_retries"] = int(retries)
        if not url:
            raise OktaConfigError("OKTA_ORG_URL is not set (e.g. https://example.okta.com)")
        _check_org_url(url)
        explicit_oauth = client_id is not None or private_key_file is not None
        if token is None and not explicit_oauth:
            token = source.get("OKTA_API_TOKEN") or None
        if token:
            return cls(org_url=url, token=token, **options)
        client = client_id or source.get("OKTA_CLIENT_ID")
        key = private_key_file or source.get("OKTA_PRIVATE_KEY_FILE")
        if not client or not key:
            raise OktaConfigError(
                "no Okta credentials: set OKTA_API_TOKEN, or OKTA_CLIENT_ID and "
                "OKTA_PRIVATE_KEY_FILE for an OAuth 2.0 service app"
            )
        return cls(org_url=url, client_id=client, private_key_file=key, **options)

    def sdk_config(self) -> dict[str, Any]:
        """The okta SDK's client configuration (what `okta.client.Client` takes)."""
        config: dict[str, Any] = {
            "orgUrl": self.org_url,
            "rateLimit": {"maxRetries": self.max_retries},
            "requestTimeout": self.request_timeout,
            "cache": {"enabled": False},  # a cached GET would hide our own writes
            "logging": {"enabled": False},
        }
        if self.token:
            config.update(authorizationMode="SSWS", token=self.token)
        else:
            config.update(
                authorizationMode="PrivateKey",
                clientId=self.client_id,
                scopes=list(self.scopes),
                privateKey=self.private_key_file,
            )
        return config


def build_request_executor(config: OktaConfig) -> Any:
    """The SDK's RequestExecutor, configured as `okta.client.Client` would configure it."""
    # Through importlib: the SDK's modules are only partly typed, and this is the one
    # place they are touched directly.
    no_op_cache: Any = importlib.import_module("okta.cache.no_op_cache")
    setter_module: Any = importlib.import_module("okta.config.config_setter")
    validator_module: Any = importlib.import_module("okta.config.config_validator")
    executor_module: Any = importlib.import_module("okta.request_executor")

    logging.getLogger(SDK_LOGGER).disabled = True
    if config.private_key_file is not None and not config.token:
        _check_private_key(config.private_key_file)
    setter = setter_module.ConfigSetter()
    setter._apply_config({"client": config.sdk_config()})
    sdk_config = setter._prune_config(setter.get_config())
    try:
        validator_module.ConfigValidator(sdk_config)
    except ValueError as exc:
        detail = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        hint = ""
        if config.org_url.startswith("http://"):
            hint = (
                " (plain http is refused; a local emulator needs "
                "OKTA_TESTING_TESTINGDISABLEHTTPSCHECK=true)"
            )
        raise OktaConfigError(f"invalid Okta configuration{hint}: {detail}") from None
    return executor_module.RequestExecutor(sdk_config, no_op_cache.NoOpCache())


def _check_private_key(path: str) -> None:
    """The SDK takes a path that does not exist for PEM text, and reads the file on
    every token request: say up front when it is missing. (Parsing it here too would
    double the SDK's slow key import; a bad key is caught where the SDK reads it.)"""
    if not os.path.isfile(path):
        raise OktaConfigError(f"OKTA_PRIVATE_KEY_FILE {path} does not exist")
    if not os.access(path, os.R_OK):
        raise OktaConfigError(f"OKTA_PRIVATE_KEY_FILE {path} cannot be read")


@dataclass(frozen=True)
class Response:
    status: int
    text: str
    next_url: str | None  # the `rel="next"` link (path and query), if there is a next page
    date: float | None = None  # the server's `Date` (epoch seconds), if it sent one

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


def render_path(route: str, **params: str) -> str:
    """`/api/v1/groups/{groupId}` with its ids filled in (URL-quoted)."""
    return re.sub(r"\{(\w+)\}", lambda m: quote(params[m.group(1)], safe=""), route)


def _next_link(headers: Any) -> str | None:
    """The next page's path and query. The link's host is dropped on purpose: the next
    call goes to the configured org (and our token never to a host a header names)."""
    values = headers.getall("Link", []) if hasattr(headers, "getall") else []
    for value in values:
        for match in _LINK_NEXT.finditer(value):
            parts = urlsplit(match.group(1))
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return None


def _reset_wait(headers: Any) -> float:
    """Seconds until X-Rate-Limit-Reset by the server's clock (0 if unknown or past)."""
    try:
        reset = float(headers.get("X-Rate-Limit-Reset", ""))
        now = parsedate_to_datetime(headers.get("Date", "")).timestamp()
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, reset - now)


def _token_error(error: Exception, *, org_url: str) -> OktaError:
    """Why the service app got no access token: Okta's OAuth error (the SDK's OktaAPIError
    carries `error`/`error_description` as error_code/error_summary), or no connection."""
    code = getattr(error, "error_code", None)
    status = getattr(error, "status", None)
    if code is not None and isinstance(status, int):
        summary = " ".join(str(getattr(error, "error_summary", "")).split())
        return OktaApiError(
            method="POST", route=TOKEN_ROUTE, status=status, code=str(code), summary=summary
        )
    return OktaConnectionError(
        f"cannot reach Okta at {org_url} (POST {TOKEN_ROUTE}): {error or type(error).__name__}"
    )


def _error_body(text: str) -> tuple[str, str]:
    try:
        body = json.loads(text) if text else {}
    except ValueError:
        return "", text[:200]
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("errorCode") or ""), str(body.get("errorSummary") or "")


class OktaHttp:
    """Raw JSON calls through the SDK on a private event loop; every call is counted."""

    def __init__(
        self, *, config: OktaConfig, calls: CallCounter, pacer: Pacer | None = None
    ) -> None:
        self.config = config
        self.calls = calls
        if pacer is None and config.rate_limit_share > 0:
            pacer = Pacer(share=config.rate_limit_share)
        self.pacer = pacer
        self.latest_date: float | None = None  # the latest server Date seen
        self.scope = urlsplit(config.org_url).netloc or config.org_url
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._executor: Any = None
        self._session: Any = None
        self._limit: asyncio.Semaphore | None = None

    # --- the loop ------------------------------------------------------------------------

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the provider's loop and wait for its result."""
        try:
            loop = self._start()
        except BaseException:
            coroutine.close()  # never scheduled: close it rather than leak a warning
            raise
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                # Configuration errors surface here, in the caller's thread.
                executor = build_request_executor(self.config)
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="okta-sdk", daemon=True)
                thread.start()
                asyncio.run_coroutine_threadsafe(self._open(executor), loop).result()
                self._loop, self._thread = loop, thread
            return self._loop

    async def _open(self, executor: Any) -> None:
        import aiohttp

        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max(1, self.config.concurrency))
        )
        executor.set_session(self._session)
        self._executor = executor
        self._limit = asyncio.Semaphore(max(1, self.config.concurrency))

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        if self._session is not None:
            asyncio.run_coroutine_threadsafe(self._session.close(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()

    async def bounded(self, awaitable: Awaitable[T]) -> T:
        """Await within the concurrency limit (for fan-outs such as member reads)."""
        assert self._limit is not None
        async with self._limit:
            return await awaitable

    # --- calls ---------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        route: str,
        *,
        path_params: Mapping[str, str] | None = None,
        query: Mapping[str, str | int] | None = None,
        body: Any = None,
        url: str | None = None,
        accept: str = "application/json",
        ok_statuses: frozenset[int] = frozenset(),
    ) -> Response:
        """One call (a next-page `url` replaces route and query); raises OktaError unless
        it succeeded or its status is in `ok_statuses` (e.g. 404 for an idempotent delete).
        Counted once as `METHOD route`, the SDK's and our retries as retries."""
        target = url
        if target is None:
            target = render_path(route, **(path_params or {}))
            if query:
                target += "?" + urlencode(query, quote_via=quote)
        operation = f"{method} {route}"
        retries = 0
        try:
            for attempt in range(self.config.backoff_attempts + 1):
                status, text, headers, sdk_retries = await self._paced_fire(
                    method, route, target, body, accept
                )
                retries += sdk_retries + (1 if attempt else 0)
                if status != 429 or attempt == self.config.backoff_attempts:
                    break
                wait = _reset_wait(headers) + self.config.backoff_base * 2**attempt
                await asyncio.sleep(min(self.config.backoff_max, wait))
        except OktaError:
            self.calls.record(
                system="okta", scope=self.scope, operation=operation, retries=retries, errors=1
            )
            raise
        failed = not (200 <= status < 300 or status in ok_statuses)
        self.calls.record(
            system="okta",
            scope=self.scope,
            operation=operation,
            retries=retries,
            errors=1 if failed else 0,
        )
        if failed:
            code, summary = _error_body(text)
            raise OktaApiError(
                method=method, route=route, status=status, code=code, summary=summary
            )
        return Response(
            status=status, text=text, next_url=_next_link(headers), date=server_date(headers)
        )

    async def _paced_fire(
        self, method: str, route: str, target: str, body: Any, accept: str
    ) -> tuple[int, str, Any, int]:
        """One request within the pacer's budget for its family; notes the server's Date."""
        family = family_of(method, route)
        if self.pacer is not None:
            await self.pacer.acquire(family)
        headers: Any = None
        try:
            result = await self._fire(method, target, body, accept)
            headers = result[2]
        finally:
            if self.pacer is not None:
                parsed = RateHeaders.parse(headers) if headers is not None else None
                await self.pacer.release(family, parsed)
        date = server_date(headers)
        if date is not None and (self.latest_date is None or date > self.latest_date):
            self.latest_date = date
        return result

    async def _fire(
        self, method: str, target: str, body: Any, accept: str
    ) -> tuple[int, str, Any, int]:
        executor = self._executor
        try:
            request, error = await executor.create_request(
                method, target, body, {"Accept": accept}, keep_empty_params=True
            )
        except ValueError:  # the SDK could not use the private key; its text never shown
            raise OktaConfigError(
                f"OKTA_PRIVATE_KEY_FILE {self.config.private_key_file} is not an RSA "
                "private key (unencrypted PEM)"
            ) from None
        if error is not None:  # only in OAuth mode: no access token
            raise _token_error(error, org_url=self.config.org_url)
        # `fire_request` only adds the SDK's response cache (a no-op here) and, to decide
        # whether to cache, json.loads every 2xx GET body we then parse again: a fifth of
        # a large read's CPU. Its helper is the same request with the same retries.
        _, response, text, error = await executor.fire_request_helper(request, 0, time.time())
        if response is None:
            reason = str(error) if error is not None else "no response"
            raise OktaConnectionError(
                f"cannot reach Okta at {self.config.org_url} ({method} {target}): {reason}"
            )
        retried = int(request["headers"].get(executor.RETRY_COUNT_HEADER, 0) or 0)
        return response.status, text or "", response.headers, retried

    async def get_all(
        self,
        route: str,
        *,
        path_params: Mapping[str, str] | None = None,
        query: Mapping[str, str | int] | None = None,
    ) -> list[Any]:
        """Every item of a listing, following `rel="next"` links; any failing page fails
        the whole listing (a partial read must never pass for a complete one)."""
        items, _ = await self.get_all_dated(route, path_params=path_params, query=query)
        return items

    async def get_all_dated(
        self,
        route: str,
        *,
        path_params: Mapping[str, str] | None = None,
        query: Mapping[str, str | int] | None = None,
    ) -> tuple[list[Any], float | None]:
        """`get_all`, and the server's Date on the first page (when the listing began)."""
        items: list[Any] = []
        response = await self.call("GET", route, path_params=path_params, query=query)
        began = response.date
        while True:
            page = response.json()
            if not isinstance(page, list):
                raise OktaError(f"Okta GET {route} returned {type(page).__name__}, not a list")
            items.extend(page)
            if response.next_url is None:
                return items, began
            response = await self.call("GET", route, url=response.next_url)
