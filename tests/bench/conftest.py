"""Benchmarks stay out of the normal test run; their tiny smoke variants stay in it.

`make bench` (`pytest tests/bench -m bench -s`) runs the heavy benchmarks of
docs/architecture.md §Performance targets at reference size. `make test` collects them
too but skips them here, unless `OKTA_AWS_BENCH=1` is set, so the suite keeps its
budget. Each benchmark has a smoke variant (marker `bench_smoke`) that runs the same code
on a tiny org in the normal suite, so the benchmark code cannot rot between benchmark
runs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.bench.results import RESULTS_DIR

BENCH_ENV = "OKTA_AWS_BENCH"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "bench_smoke: a benchmark's tiny variant, run in the normal suite"
    )


def benchmarks_requested(config: pytest.Config) -> bool:
    """`-m` selects `bench` (not `not bench`), or the environment asks for them."""
    if os.environ.get(BENCH_ENV) == "1":
        return True
    expression = str(config.getoption("markexpr", "") or "")
    return re.search(r"(?<!not )\bbench\b", expression) is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if benchmarks_requested(config):
        return
    skip = pytest.mark.skip(reason=f"benchmark: run with `make bench` or {BENCH_ENV}=1")
    for item in items:
        if item.get_closest_marker("bench") is not None:
            item.add_marker(skip)


@pytest.fixture
def results_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where figures go: the real results for benchmarks, a temp dir for smoke runs."""
    if request.node.get_closest_marker("bench") is not None:
        return RESULTS_DIR
    return tmp_path / "results"
