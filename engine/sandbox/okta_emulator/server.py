"""The HTTP face of the emulator and the handle tests and the sandbox hold.

A stdlib `ThreadingHTTPServer` on loopback (HTTPS with an `ssl_context`): every request
is authenticated with `Authorization: SSWS <token>` or, for a registered OAuth 2.0 service
app, `Bearer <access token>` from `POST /oauth2/v1/token` (see oauth.py), counted per
(method, route template), delayed by injected latency, possibly failed by an injected
fault, and answered with Okta's headers (`X-Rate-Limit-*` on every response plus `Date`,
which the SDK's retry arithmetic needs).
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import os
import ssl
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from engine.sandbox.okta_emulator import admin, api, catalog, errors, oauth
from engine.sandbox.okta_emulator.clock import Clock
from engine.sandbox.okta_emulator.faults import (
    FaultKind,
    FaultRule,
    Faults,
    RateLimitPolicy,
)
from engine.sandbox.okta_emulator.importer import (
    DirectoryGroupRecord,
    DirectoryUserRecord,
    ImportResult,
    import_directory,
)
from engine.sandbox.okta_emulator.state import App, OktaState


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    emulator: OktaEmulator


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "okta-emulator"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request logs would drown test output (and could echo tokens)."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header by the org's clock (tests move it; see clock.py)."""
        if timestamp is None:
            timestamp = self.server.emulator.state.clock.time()
        return super().date_time_string(timestamp)

    def _serve(self) -> None:
        emulator = self.server.emulator
        split = urlsplit(self.path)
        path = unquote(split.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        is_api = path.startswith("/api/")
        route = api.route_template(self.command, path) if is_api else path
        rate = emulator.faults.take_rate_limit(
            method=self.command, route=route, count=not path.startswith(admin.PREFIX + "/")
        )
        headers = {
            "X-Rate-Limit-Limit": str(rate.limit),
            "X-Rate-Limit-Remaining": str(rate.remaining),
            "X-Rate-Limit-Reset": str(rate.reset_at),
            "X-Okta-Request-Id": uuid.uuid4().hex,
        }
        if path == oauth.TOKEN_PATH:
            emulator.faults.record(method=self.command, route=route)
            self._write(self._token(raw, headers), headers)
            return
        try:
            if is_api:
                emulator.faults.record(method=self.command, route=route)
                delay = emulator.faults.latency_for(path)
                if delay:
                    time.sleep(delay)
            self._authenticate(path=path, route=route)
            request = api.ApiRequest(
                method=self.command,
                path=path,
                query=query,
                body=_parse_body(raw),
                base_url=emulator.url,
            )
            if path.startswith(admin.PREFIX + "/"):
                response = admin.handle_admin(emulator.state, emulator.faults, request)
            else:
                response = self._dispatch(request, headers, rate.exceeded)
                if response.status < 400 and self.command != "GET":
                    emulator.autosave()
        except errors.OktaApiError as exc:
            headers.update(exc.headers)
            response = api.ApiResponse(exc.status, exc.body())
        if response.status == 429:
            emulator.faults.record_429(family=rate.family)
        self._write(response, headers)

    # Every method goes through `_serve`: the route table answers 405 for what a path lacks.
    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def _token(self, raw: bytes, headers: dict[str, str]) -> api.ApiResponse:
        """The org authorization server's token endpoint (OAuth error format)."""
        emulator = self.server.emulator
        # RFC 6749 5.1: token responses must not be cached.
        headers.update({"Cache-Control": "no-store", "Pragma": "no-cache"})
        if self.command != "POST":
            exc = errors.unsupported_method()
            return api.ApiResponse(exc.status, exc.body())
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        # `aud` must be the endpoint as the client invoked it (the Host it used).
        scheme = urlsplit(emulator.url).scheme
        host = self.headers.get("Host") or urlsplit(emulator.url).netloc
        try:
            body = emulator.oauth.token(
                form=form,
                token_url=f"{scheme}://{host}{oauth.TOKEN_PATH}",
                dpop_proof=self.headers.get("DPoP"),
            )
        except oauth.OAuthError as exc:
            return api.ApiResponse(exc.status, exc.body())
        return api.ApiResponse(200, body)

    def _authenticate(self, *, path: str, route: str) -> None:
        given = self.headers.get("Authorization") or ""
        # A service app's access token works for the Management API, never for the
        # emulator's own control API.
        if given.startswith("Bearer ") and not path.startswith(admin.PREFIX + "/"):
            self.server.emulator.oauth.authorize(
                access_token=given.removeprefix("Bearer ").strip(),
                method=self.command,
                route=route,
            )
            return
        # okta SDK 3.4.6's generated calls send "SSWS<token>" with no space
        # (Configuration.auth_settings concatenates them); real Okta accepts it.
        scheme, _, token = given.partition("SSWS")
        expected = self.server.emulator.token.encode()
        if scheme or not hmac.compare_digest(token.strip().encode(), expected):
            raise errors.invalid_token()

    def _dispatch(
        self, request: api.ApiRequest, headers: dict[str, str], rate_exceeded: bool
    ) -> api.ApiResponse:
        emulator = self.server.emulator
        route, params = api.match_route(request.method, request.path)
        fault = emulator.faults.next_fault(method=request.method, path=request.path)
        if fault is not None or rate_exceeded:
            if fault is None or fault.kind is FaultKind.RATE_LIMIT:
                if fault is not None:
                    headers["X-Rate-Limit-Remaining"] = "0"
                    headers["X-Rate-Limit-Reset"] = str(fault.reset_at)
                raise errors.rate_limited()
            raise errors.server_error(status=fault.status)
        return route.handler(emulator.state, dataclasses.replace(request, params=params))

    def _write(self, response: api.ApiResponse, headers: dict[str, str]) -> None:
        if response.body is None:
            payload = b""
        elif isinstance(response.body, str):
            payload = response.body.encode()
        else:
            payload = json.dumps(response.body).encode()
        self.send_response(response.status)
        for name, value in headers.items():
            self.send_header(name, value)
        for link in response.links:
            # One header per relation, as Okta sends them.
            self.send_header("Link", link)
        if response.status != 204:
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if response.status != 204:
            self.wfile.write(payload)


def _parse_body(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise errors.malformed_body() from None


class OktaEmulator:
    """A running emulator: `with OktaEmulator.start(token=…) as emu: emu.url …`."""

    def __init__(
        self,
        *,
        token: str,
        state: OktaState | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        state_path: str | os.PathLike[str] | None = None,
        rate_limit: RateLimitPolicy | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not token:
            raise ValueError("token must not be empty")
        self.token = token
        self.state = state if state is not None else OktaState()
        self.state_path = state_path
        # One clock for the org's timestamps, its Date headers and its rate-limit windows.
        self.faults = Faults(policy=rate_limit or RateLimitPolicy(), clock=self.state.clock)
        self.oauth = oauth.AuthorizationServer()
        self._server = _Server((host, port), _Handler)
        self._server.emulator = self
        scheme = "http"
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        bound_host, bound_port = self._server.server_address[:2]
        self.url = f"{scheme}://{bound_host!s}:{bound_port}"
        self._thread: threading.Thread | None = None

    @classmethod
    def start(
        cls,
        *,
        token: str,
        state: OktaState | None = None,
        seed: int | None = None,
        seed_aws_app: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        state_path: str | os.PathLike[str] | None = None,
        rate_limit: RateLimitPolicy | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> OktaEmulator:
        """Serve in a background thread. `state_path` loads that file if it exists and
        saves to it after every successful write and on stop."""
        if state is None and state_path is not None and os.path.exists(state_path):
            state = OktaState.load(state_path)
        if state is None:
            state = OktaState(seed=seed)
        if seed_aws_app and not list(state.apps_named(catalog.AWS_APP_NAME)):
            catalog.add_aws_app(state)
        emulator = cls(
            token=token,
            state=state,
            host=host,
            port=port,
            state_path=state_path,
            rate_limit=rate_limit,
            ssl_context=ssl_context,
        )
        # A short poll interval keeps stop() fast (tests start one emulator each).
        emulator._thread = threading.Thread(
            target=emulator._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="okta-emulator",
            daemon=True,
        )
        emulator._thread.start()
        return emulator

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server thread ends or `timeout` passes; True while still serving."""
        if self._thread is None:
            return False
        self._thread.join(timeout)
        return self._thread.is_alive()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
            self._server.server_close()
        self.autosave()

    def __enter__(self) -> OktaEmulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def autosave(self) -> None:
        if self.state_path is not None:
            self.state.save(self.state_path)

    # faults and accounting -------------------------------------------------------------
    def inject_429(
        self,
        *,
        count: int | None = 1,
        every: int | None = None,
        method: str | None = None,
        path_prefix: str | None = None,
        reset_in: int = 1,
    ) -> None:
        self.faults.add_rule(
            FaultRule(
                kind=FaultKind.RATE_LIMIT,
                status=429,
                count=count,
                every=every,
                method=method,
                path_prefix=path_prefix,
                reset_in=reset_in,
            )
        )

    def inject_5xx(
        self,
        *,
        status: int = 503,
        count: int | None = 1,
        every: int | None = None,
        method: str | None = None,
        path_prefix: str | None = None,
    ) -> None:
        if not 500 <= status <= 599:
            raise ValueError("status must be a 5xx code")
        self.faults.add_rule(
            FaultRule(
                kind=FaultKind.SERVER_ERROR,
                status=status,
                count=count,
                every=every,
                method=method,
                path_prefix=path_prefix,
            )
        )

    def set_latency(self, seconds: float, *, path_prefix: str | None = None) -> None:
        self.faults.set_latency(seconds, path_prefix=path_prefix)

    def request_counts(self) -> dict[tuple[str, str], int]:
        """Requests received per (method, route template), e.g. ("GET", "/api/v1/groups")."""
        return self.faults.request_counts()

    def total_requests(self) -> int:
        return sum(self.faults.request_counts().values())

    def reset_faults(self) -> None:
        self.faults.reset()

    def rate_limited(self) -> dict[str, int]:
        """429s sent per endpoint family since the last `reset_faults`."""
        return self.faults.rate_limited()

    def peak_share(self) -> dict[str, float]:
        """Per endpoint family: the busiest window's calls as a share of its limit."""
        return self.faults.peak_share()

    def set_rate_limits(self, policy: RateLimitPolicy) -> None:
        self.faults.set_policy(policy)

    @property
    def clock(self) -> Clock:
        """The org's clock: `advance`, `freeze` it to test timing without waiting."""
        return self.state.clock

    # org setup -------------------------------------------------------------------------
    def add_service_app(
        self,
        *,
        client_id: str,
        public_key: str | bytes,
        scopes: Iterable[str] = oauth.MANAGEMENT_SCOPES,
        kid: str | None = None,
        require_dpop: bool = False,
    ) -> oauth.ServiceApp:
        """Register an OAuth 2.0 API service app: its client id, the public key (PEM or
        JWK JSON) its private_key_jwt assertions are checked with, and granted scopes."""
        return self.oauth.add_service_app(
            oauth.ServiceApp.from_key_text(
                client_id=client_id,
                public_key=public_key,
                granted_scopes=scopes,
                kid=kid,
                require_dpop=require_dpop,
            )
        )

    def aws_app(self) -> App:
        apps = list(self.state.apps_named(catalog.AWS_APP_NAME))
        if not apps:
            return catalog.add_aws_app(self.state)
        return apps[0]

    def directory_app(
        self, *, name: str = catalog.ACTIVE_DIRECTORY_APP_NAME, label: str = "example.test"
    ) -> App:
        apps = list(self.state.apps_named(name))
        if apps:
            return apps[0]
        return catalog.add_directory_app(self.state, name=name, label=label)

    def import_directory(
        self,
        *,
        source_app_id: str,
        imported_ou_dns: list[str],
        groups: list[DirectoryGroupRecord],
        users: list[DirectoryUserRecord],
    ) -> ImportResult:
        result = import_directory(
            self.state,
            source_app_id=source_app_id,
            imported_ou_dns=imported_ou_dns,
            groups=groups,
            users=users,
        )
        self.autosave()
        return result


@contextmanager
def running_emulator(**kwargs: Any) -> Iterator[OktaEmulator]:
    """`OktaEmulator.start` as a generator-style context manager (pytest fixtures)."""
    emulator = OktaEmulator.start(**kwargs)
    try:
        yield emulator
    finally:
        emulator.stop()
