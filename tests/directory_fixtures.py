"""pytest plugin: real Samba AD DC and OpenLDAP slapd servers for tests.

The directory provider is only trustworthy if tested against real servers, so these
fixtures start them (see engine/sandbox/directory_servers.py). Samba is provisioned once
per session into a template and copied per test module (fresh state, ~1 s); slapd starts
per module in ~0.1 s. Locally, missing Debian packages skip the tests with the install
command; under CI (env CI set) they fail instead, so CI can never go green by skipping.

Registered from the top-level conftest: `pytest_plugins = ["tests.directory_fixtures"]`.
Tests that use these fixtures get the `samba` / `slapd` markers automatically.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.sandbox.directory_servers import (
    DirectoryKind,
    DirectoryServer,
    missing_binaries,
    provision_samba_template,
    start_samba,
    start_slapd,
)

_MARKERS = {"samba_template": "samba", "samba_server": "samba", "slapd_server": "slapd"}
_PARAM_MARKERS = {DirectoryKind.ACTIVE_DIRECTORY.value: "samba", DirectoryKind.LDAP.value: "slapd"}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_directory(kind: DirectoryKind) -> None:
    """Skip (locally) or fail (in CI) when the server binaries for `kind` are missing."""
    missing = missing_binaries(kind)
    if not missing:
        return
    reason = (
        f"{kind.value} directory tests need {', '.join(missing)}: "
        "run `sudo bash .ci/install-system-deps` (Debian samba, samba-ad-dc, "
        "samba-ad-provision, slapd, ldap-utils)"
    )
    if _in_ci():
        pytest.fail(f"CI must not skip: {reason}", pytrace=False)
    pytest.skip(reason)


def _scratch(prefix: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=f"okta-aws-{prefix}-", ignore_cleanup_errors=True)


@pytest.fixture(scope="session")
def samba_template() -> Iterator[Path]:
    """A provisioned, once-started Samba AD DC directory to copy (made once a session)."""
    require_directory(DirectoryKind.ACTIVE_DIRECTORY)
    with _scratch("samba-template") as scratch:
        yield provision_samba_template(dest=Path(scratch) / "template")


@pytest.fixture(scope="module")
def samba_server(samba_template: Path) -> Iterator[DirectoryServer]:
    """A Samba AD DC (realm EXAMPLE.TEST) of its own for each test module."""
    with _scratch("samba") as scratch:
        server = start_samba(workdir=Path(scratch), template=samba_template)
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="module")
def slapd_server() -> Iterator[DirectoryServer]:
    """An OpenLDAP slapd (dc=example,dc=test, memberof + refint) for each test module."""
    require_directory(DirectoryKind.LDAP)
    with _scratch("slapd") as scratch:
        server = start_slapd(workdir=Path(scratch))
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(
    scope="module",
    params=[DirectoryKind.ACTIVE_DIRECTORY.value, DirectoryKind.LDAP.value],
    ids=["samba", "slapd"],
)
def directory_server(request: pytest.FixtureRequest) -> DirectoryServer:
    """Each real directory in turn: the test runs once against Samba, once against slapd."""
    name = (
        "samba_server" if request.param == DirectoryKind.ACTIVE_DIRECTORY.value else "slapd_server"
    )
    server: DirectoryServer = request.getfixturevalue(name)
    return server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the servers they use, so `-m "not samba"` deselects them."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        markers = {marker for fixture, marker in _MARKERS.items() if fixture in names}
        callspec = getattr(item, "callspec", None)
        if "directory_server" in names and callspec is not None:
            param = callspec.params.get("directory_server")
            if param in _PARAM_MARKERS:
                markers.add(_PARAM_MARKERS[param])
        for marker in sorted(markers):
            item.add_marker(marker)
