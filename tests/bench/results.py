"""Benchmark figures as data: recorded as JSON, checked against their targets.

The targets are those of docs/architecture.md §Performance targets.

A benchmark's value is its numbers, so each one writes what it measured (with the
date, the machine and every target's verdict) to `tests/bench/results/<name>.json`
before it asserts anything: a missed target still leaves its figures behind for the
report. Smoke runs in the normal suite write to a temporary directory instead, so they
never overwrite real measurements with tiny-org numbers.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

RESULTS_DIR = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Target:
    """One performance target checked against one measured value (`value ≤ limit`)."""

    name: str
    value: float
    limit: float
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.value <= self.limit


def machine() -> dict[str, Any]:
    """What the figures were measured on (they mean little without it). The load
    average tells whether something else competed for the CPUs meanwhile."""
    return {
        "cpus": os.cpu_count(),
        "load_average_1_5_15min": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


@dataclass
class Recorder:
    """Collects one benchmark's figures and targets; `save` writes them as JSON."""

    name: str
    directory: Path
    figures: dict[str, Any] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    load_at_start: list[float] = field(default_factory=lambda: list(os.getloadavg()))

    def figure(self, key: str, value: Any) -> None:
        self.figures[key] = value
        print(f"[bench {self.name}] {key}: {json.dumps(value, default=str)}")

    def target(self, name: str, *, value: float, limit: float, note: str = "") -> Target:
        checked = Target(name=name, value=round(value, 4), limit=limit, note=note)
        self.targets.append(checked)
        verdict = "ok" if checked.ok else "MISSED"
        print(f"[bench {self.name}] target {name}: {checked.value} ≤ {limit} {verdict} {note}")
        return checked

    def save(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{self.name}.json"
        document = {
            "benchmark": self.name,
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "load_average_at_start": [round(x, 2) for x in self.load_at_start],
            "figures": self.figures,
            "targets": [{**asdict(t), "ok": t.ok} for t in self.targets],
        }
        path.write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
        return path

    def missed(self) -> list[Target]:
        return [t for t in self.targets if not t.ok]

    def assert_targets(self) -> None:
        """Fail (after saving) naming every missed target and its recorded cause."""
        self.save()
        missed = self.missed()
        assert not missed, "missed performance targets: " + "; ".join(
            f"{t.name} = {t.value} > {t.limit} ({t.note})" for t in missed
        )


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """`with stopwatch() as elapsed:` … `elapsed[0]` is the wall time in seconds."""
    result: list[float] = []
    start = time.perf_counter()
    try:
        yield result
    finally:
        result.append(time.perf_counter() - start)


def timed(function: Callable[[], T]) -> tuple[T, float]:
    """`function()` and its wall time in seconds."""
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def median(values: list[float]) -> float:
    return statistics.median(values)


def rounded(mapping: Mapping[str, float], digits: int = 4) -> dict[str, float]:
    return {k: round(v, digits) for k, v in mapping.items()}
