"""Where a command reads and writes: the embedded sandbox or the live systems.

`live` connects with the environment (AWS credential chain and endpoint variables,
OKTA_ORG_URL + OKTA_API_TOKEN, LDAP_URL + LDAP_BIND_DN + LDAP_PASSWORD). `sandbox`
starts the embedded world from `.sandbox/` for the length of the command and hands
the providers the same kind of connection, so both targets run the same code path.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from engine.providers.live import Connection
from engine.spec import DesiredState

SANDBOX_ROOT_ENV = "OKTA_AWS_SANDBOX"
LOCK_DIR_ENV = "OKTA_AWS_LOCK_DIR"


def sandbox_root() -> Path:
    return Path(os.environ.get(SANDBOX_ROOT_ENV, ".sandbox"))


@dataclass(frozen=True)
class Target:
    """An opened target: how to connect and where this machine's apply lock lives."""

    name: str
    connection: Connection
    lock_path: Path


def _live_lock_path() -> Path:
    # One lock per set of systems: the same org, directory and AWS endpoint.
    identity = "|".join(
        os.environ.get(k, "") for k in ("OKTA_ORG_URL", "LDAP_URL", "AWS_ENDPOINT_URL")
    )
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    base = Path(os.environ.get(LOCK_DIR_ENV, Path.home() / ".cache" / "okta-aws"))
    return base / f"apply-{digest}.lock"


@contextmanager
def _environ(overrides: dict[str, str]) -> Iterator[None]:
    """Export the sandbox's endpoints for the command, exactly as a user would for `live`
    (botocore reads AWS_ENDPOINT_URL from the process environment)."""
    saved = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def open_target(*, name: str, state: DesiredState, err: TextIO) -> Iterator[Target]:
    """The target's connection for the length of the `with` block."""
    if name == "live":
        yield Target(name="live", connection=Connection(), lock_path=_live_lock_path())
        return
    from engine.sandbox.extra import sandbox_unavailable
    from engine.sandbox.persist import SandboxError, check_state_files, damaged

    if (reason := sandbox_unavailable()) is not None:
        raise SandboxError(reason)
    from engine.sandbox.world import SandboxWorld

    root = sandbox_root()
    world = SandboxWorld(root)
    with ExitStack() as stack:
        # A damaged `.sandbox/` (a truncated file, a file holding `[]`) or one that
        # cannot be written is one line naming what to do; only the start is guarded,
        # not the command's own work.
        try:
            if not world.exists():
                print(
                    f"sandbox: creating the embedded world in {root}/ (okta-aws sandbox "
                    "reset starts it over)",
                    file=err,
                )
                world.reset(state=state)
            check_state_files(root)
            endpoints = stack.enter_context(world.running())
        except OSError as error:
            raise SandboxError(
                f"the sandbox in {root}/ cannot be used ({error.strerror or error}): set "
                f"{SANDBOX_ROOT_ENV} to a writable folder"
            ) from None
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise damaged(root, error) from None
        stack.enter_context(_environ(endpoints.env()))
        yield Target(
            name="sandbox",
            connection=Connection(
                env=dict(os.environ),
                ldap_connection_factory=endpoints.connection_factory,
                aws_max_attempts=5,
                okta_cache_dir=root / "okta-read-cache",
            ),
            lock_path=root / "apply.lock",
        )
