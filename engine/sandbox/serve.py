"""`okta-aws sandbox serve`: the sandbox as real local endpoints, for any client to use.

The point is to let people drive the sandbox with `--target live`, the AWS CLI, ldapsearch
or the okta SDK, exactly as they would their real org: moto's HTTP API, the Okta API
emulator and a real LDAP server (slapd or Samba; the in-process mock has no address) on
loopback, and the environment to export printed on stdout. Okta's directory agent runs on
a schedule in real life; `import_every` plays that schedule. Everything is persisted when
the server stops (SIGINT/SIGTERM or `stop`).
"""

from __future__ import annotations

import shlex
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from engine.sandbox.persist import DirectoryMode, SandboxError

if TYPE_CHECKING:
    from engine.sandbox.world import SandboxWorld

READY_LINE = "# sandbox ready: Ctrl-C (SIGINT) or SIGTERM stops it and saves the world"


def serve_world(
    world: SandboxWorld,
    *,
    directory: str,
    import_every: float | None,
    out: TextIO,
    stop: threading.Event | None,
    aws_port: int,
    okta_port: int,
) -> None:
    from engine.sandbox.world import real_mode_for

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


def _install_handlers(stop: threading.Event) -> Any:
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
