"""Suite-wide pytest configuration: plugins with real-server fixtures and shared settings."""

from __future__ import annotations

import os
import pathlib
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

# Real Samba AD DC and slapd fixtures (tests/directory_fixtures.py).
pytest_plugins = ["tests.directory_fixtures"]

# CI gets more examples; local runs stay quick. Deadlines are off: the machines vary and
# timing is not what these properties test.
settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# `make mutate` runs the unit tests once per mutant: fewer examples, still every property.
settings.register_profile(
    "mutate", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(
    os.environ.get("OKTA_AWS_HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


@pytest.fixture(autouse=True)
def _no_ldap_receiver_thread_outlives_its_test() -> Iterator[None]:
    """A leaked ldap3 ASYNC receiver thread spins on its closed socket holding the GIL and
    slows every later test (it once pushed CI past its limit): fail the test that leaks."""
    before = set(_ldap_receivers())
    yield
    deadline = time.monotonic() + 5
    while (leaked := set(_ldap_receivers()) - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not leaked, f"ldap3 receiver threads left running: {sorted(t.name for t in leaked)}"


def _ldap_receivers() -> list[threading.Thread]:
    return [
        t
        for t in threading.enumerate()
        if t.is_alive() and type(t).__name__ == "ReceiverSocketThread"
    ]


@pytest.fixture(autouse=True)
def _okta_read_cache_in_a_temp_dir(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test writes the Okta read cache to the real home (~/.cache/okta-aws), and none
    sees another's: emulators reuse ports and ids, so a shared cache could leak members."""
    monkeypatch.setenv("OKTA_AWS_CACHE_DIR", str(tmp_path / "okta-aws-cache"))


@pytest.fixture(autouse=True)
def _apply_locks_in_a_temp_dir(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Apply locks live in each test's own folder, not the shared ~/.cache/okta-aws: with
    pytest-xdist two workers' sandboxes may reuse a port and so a lock identity."""
    monkeypatch.setenv("OKTA_AWS_LOCK_DIR", str(tmp_path / "okta-aws-locks"))
