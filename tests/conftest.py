"""Suite-wide pytest configuration: plugins with real-server fixtures and shared settings."""

from __future__ import annotations

import os

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
settings.load_profile("ci" if os.environ.get("CI") else "dev")
