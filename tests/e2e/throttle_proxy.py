"""A loopback HTTP proxy in front of moto that answers some requests with AWS throttling.

The engine under test runs in its own process (`python -m engine … --target live`), so
a botocore hook in the test process cannot reach it; what can is the network, exactly
where real AWS throttles: the proxy sits at the AWS_ENDPOINT_URL the engine is given and
answers a share of requests with the `Throttling` error IAM/STS send (HTTP 400, query
protocol XML), everything else is forwarded to moto unchanged. botocore in the engine's
process parses it and its adaptive retry mode handles it, as it would from AWS.

Only first attempts are throttled (botocore's `amz-sdk-request: attempt=N` header says
which attempt a request is), so every throttled call succeeds on a retry: the storm tests
that throttling is retried and converges, not that an endless storm fails.
"""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_THROTTLING = (
    b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
    b"<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    b"<RequestId>00000000-0000-0000-0000-00000000e2e0</RequestId></ErrorResponse>"
)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class ThrottlingProxy:
    """Throttle every `every`-th first attempt, `budget` times in all; forward the rest."""

    def __init__(self, *, upstream: str, every: int, budget: int) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.every = every
        self.budget = budget
        self.first_attempts = 0
        self.throttled = 0
        self.forwarded = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> ThrottlingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def should_throttle(self, headers: Any) -> bool:
        if "attempt=1;" not in (headers.get("amz-sdk-request") or "") + ";":
            return False
        with self._lock:
            self.first_attempts += 1
            if self.throttled < self.budget and self.first_attempts % self.every == 0:
                self.throttled += 1
                return True
            return False

    def forward(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any, bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            connection.request(method, path, body=body, headers=dict(headers.items()))
            response = connection.getresponse()
            payload = response.read()
            with self._lock:
                self.forwarded += 1
            return response.status, response.getheaders(), payload
        finally:
            connection.close()


def _handler(proxy: ThrottlingProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if proxy.should_throttle(self.headers):
                status, headers, payload = 400, [("Content-Type", "text/xml")], _THROTTLING
            else:
                status, headers, payload = proxy.forward(
                    self.command, self.path, self.headers, body
                )
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _relay

    return Handler
