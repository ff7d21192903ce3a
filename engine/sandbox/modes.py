"""Which directory server may back a sandbox of which directory kind.

A sandbox's entries follow its `settings.directory.kind` (AD or LDAP; none for `okta`),
and each session chooses a server for them (`DirectoryMode`): the in-process mock can
host either kind, a real server only its own (Samba for AD, slapd for LDAP), and both
real servers need their Debian packages. `world` (reset and every session) and `serve`
(which never uses the mock) ask here, so neither needs the other to know.
"""

from __future__ import annotations

from engine.model import DirectoryKind
from engine.sandbox.directory_servers import missing_binaries
from engine.sandbox.persist import DirectoryMode, SandboxError

__all__ = ["check_mode", "real_mode_for", "require_binaries"]

_REAL_MODE = {
    DirectoryKind.ACTIVE_DIRECTORY: DirectoryMode.SAMBA,
    DirectoryKind.LDAP: DirectoryMode.SLAPD,
}


def real_mode_for(kind: DirectoryKind) -> DirectoryMode:
    """The real server that hosts a kind's entries (`none` for kind okta)."""
    return _REAL_MODE.get(kind, DirectoryMode.NONE)


def check_mode(mode: DirectoryMode, *, kind: DirectoryKind, at_reset: bool) -> DirectoryMode:
    """`mode` if it can host `kind` (reset resolves `auto` to the mock), else SandboxError."""
    if kind not in _REAL_MODE:
        if mode not in (DirectoryMode.AUTO, DirectoryMode.NONE):
            raise SandboxError(
                f"directory.kind {kind.value} has no directory: use --directory auto"
            )
        return DirectoryMode.NONE
    if mode is DirectoryMode.AUTO:
        return DirectoryMode.MOCK if at_reset else DirectoryMode.AUTO
    if mode is DirectoryMode.NONE:
        raise SandboxError(f"directory.kind {kind.value} needs a directory (mock, slapd or samba)")
    if mode is not DirectoryMode.MOCK and mode is not _REAL_MODE[kind]:
        raise SandboxError(
            f"{mode.value} cannot host a {kind.value} directory: use "
            f"{_REAL_MODE[kind].value} or mock"
        )
    return mode


def require_binaries(mode: DirectoryMode) -> None:
    """SandboxError naming the missing programs when `mode`'s server is not installed."""
    kind = next((k for k, real in _REAL_MODE.items() if real is mode), None)
    if kind is None:
        return  # the mock and `none` need nothing
    missing = missing_binaries(kind)
    if missing:
        raise SandboxError(
            f"--directory {mode.value} needs {', '.join(missing)} "
            "(run `sudo bash .ci/install-system-deps`), or use --directory mock"
        )
