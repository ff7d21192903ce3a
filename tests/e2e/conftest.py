"""Fixtures of the end-to-end tests: a served brownfield sandbox per test (see harness)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Served, Workspace, ldap_sandbox


@pytest.fixture
def ldap_served(tmp_path: Path) -> Iterator[tuple[Workspace, Served]]:
    with ldap_sandbox(tmp_path) as sandbox:
        yield sandbox
