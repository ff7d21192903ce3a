"""`okta-aws sandbox serve`: the sandbox as real local endpoints, for any client to use.

The point is to let people drive the sandbox with `--target live`, the AWS CLI, ldapsearch
or the okta SDK, exactly as they would their real org: moto's HTTP API, the Okta API
emulator and a real LDAP server (slapd or Samba; the in-process mock has no address) on
loopback, and the environment to export printed on stdout. Okta's directory agent runs on
a schedule in real life; `import_every` plays that schedule. Everything is persisted when
the server stops (SIGINT/SIGTERM or `stop`).

`SandboxWorld.serve` calls in here; this module knows the world only through the
`ServedWorld` protocol, so the two never import each other.
"""

from __future__ import annotations

import shlex
import signal
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from types import FrameType
from typing import Protocol, TextIO

from engine.sandbox.modes import real_mode_for
from engine.sandbox.okta_emulator import ImportResult
from engine.sandbox.persist import DirectoryMode, SandboxError, SandboxMeta

READY_LINE = "# sandbox ready: Ctrl-C (SIGINT) or SIGTERM stops it and saves the world"


class Endpoints(Protocol):
    """What serve prints of a running session (`world.SandboxEndpoints`)."""

    @property
    def kind(self) -> DirectoryMode: ...

    def env(self) -> dict[str, str]: ...


class ServedWorld(Protocol):
    """What serve needs of the sandbox (`world.SandboxWorld`)."""

    @property
    def root(self) -> Path: ...

    def meta(self) -> SandboxMeta: ...

    def running(
        self, *, directory: str, aws_port: int, okta_port: int
    ) -> AbstractContextManager[Endpoints]: ...

    def import_directory(self) -> ImportResult: ...


def serve_world(
    world: ServedWorld,
    *,
    directory: str,
    import_every: float | None,
    out: TextIO,
    stop: threading.Event | None,
    aws_port: int,
    okta_port: int,
) -> None:
    meta = world.meta()
    mode = DirectoryMode(directory)
    if mode is DirectoryMode.MOCK:
        raise SandboxError("serve needs a directory with an address: use slapd or samba")
    if mode is DirectoryMode.AUTO:
        mode = real_mode_for(meta.flavor)
    if import_every is not None and import_every <= 0:
        raise ValueError("import_every must be positive")
    stop = stop or threading.Event()
    restore = _install_handlers(stop)
    try:
        with world.running(directory=mode.value, aws_port=aws_port, okta_port=okta_port) as ends:
            print(
                f"# okta-aws sandbox {world.root}: AWS (moto), Okta (emulator), "
                f"directory ({ends.kind.value}) on loopback; sandbox-only credentials",
                file=out,
            )
            for name, value in ends.env().items():
                print(f"export {name}={shlex.quote(value)}", file=out)
            print(READY_LINE, file=out, flush=True)
            while not stop.wait(import_every if import_every is not None else 0.5):
                if import_every is None:
                    continue
                result = world.import_directory()
                if not (
                    result.created_groups
                    or result.updated_groups
                    or result.removed_groups
                    or result.membership_changes
                ):
                    continue  # quiet when the directory did not change
                print(
                    f"# directory import: {len(result.created_groups)} groups created, "
                    f"{len(result.updated_groups)} updated, {len(result.removed_groups)} removed, "
                    f"{result.membership_changes} membership changes",
                    file=out,
                    flush=True,
                )
        print("# sandbox stopped and saved", file=out, flush=True)
    finally:
        restore()


def _install_handlers(stop: threading.Event) -> Callable[[], None]:
    """SIGINT/SIGTERM set `stop` (main thread only; elsewhere only `stop` stops serving)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
