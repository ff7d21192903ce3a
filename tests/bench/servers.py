"""The emulated servers of a benchmark, each in its own process.

In the test suite moto and the Okta emulator run inside the test process, which is
right for behaviour but wrong for timing: their request handling would compete with
the engine for one interpreter lock, and the wall time of a read would include the
server's work. Real AWS and Okta do that work elsewhere. So benchmarks start them as
child processes (the second core does the server's work) and talk to them over
loopback, as the engine talks to the real services.

`python -m tests.bench.servers moto` is the moto child: it prints its endpoint and
serves until its standard input closes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import TracebackType

REPO_ROOT = Path(__file__).resolve().parents[2]
HTTP_CHECK = "OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"  # the okta SDK refuses http:// without it
EMULATOR_TOKEN = "okta-aws-bench-token"  # a local emulator's token, not a secret


class ServerProcess:
    """A child process that prints its URL on its first line of output."""

    def __init__(self, command: list[str], *, env: dict[str, str] | None = None) -> None:
        self._process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env={**os.environ, **(env or {})},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.url = self._process.stdout.readline().strip()
        if not self.url.startswith("http"):
            self.stop()
            raise RuntimeError(f"{command[2:]} did not start (printed {self.url!r})")

    @property
    def pid(self) -> int:
        return self._process.pid

    def stop(self) -> None:
        if self._process.poll() is None:
            if self._process.stdin is not None:
                self._process.stdin.close()  # the moto child's signal to stop
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.terminate()
                self._process.wait(timeout=30)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_moto() -> ServerProcess:
    """The project's patched moto server (engine/sandbox/moto_server.py), in a child."""
    return ServerProcess([sys.executable, "-m", "tests.bench.servers", "moto"])


class OktaEmulatorProcess(ServerProcess):
    """The Okta emulator serving a saved state file, in a child."""

    def __init__(self, *, state_file: Path) -> None:
        super().__init__(
            [sys.executable, "-m", "engine.sandbox.okta_emulator", "--state", str(state_file)],
            env={"OKTA_EMULATOR_TOKEN": EMULATOR_TOKEN},
        )

    def stop(self) -> None:
        # The emulator serves until interrupted; saving the state again is not wanted.
        if self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=30)

    def set_latency(self, seconds: float) -> None:
        """Delay every API request by `seconds` (the emulator's admin endpoint)."""
        request = urllib.request.Request(
            f"{self.url}/_emulator/latency",
            data=json.dumps({"seconds": seconds}).encode(),
            method="POST",
            headers={
                "Authorization": f"SSWS {EMULATOR_TOKEN}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()


def main(argv: list[str]) -> int:
    if argv != ["moto"]:
        print("usage: python -m tests.bench.servers moto", file=sys.stderr)
        return 2
    from engine.sandbox.moto_server import MotoServer

    with MotoServer() as server:
        print(server.endpoint_url, flush=True)
        sys.stdin.read()  # until the parent closes our input
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
