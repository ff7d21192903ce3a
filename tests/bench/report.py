"""Print the targets recorded in `tests/bench/results/*.json` as a markdown table.

`python -m tests.bench.report` after `make bench`: the README's figures table is
pasted from this, so it always shows measured numbers, never hand-typed ones.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.bench.results import RESULTS_DIR


def rows(directory: Path = RESULTS_DIR) -> list[tuple[str, str, str, str, str]]:
    """(benchmark, target, measured, limit, verdict) for every recorded target."""
    found: list[tuple[str, str, str, str, str]] = []
    for path in sorted(directory.glob("*.json")):
        document: dict[str, Any] = json.loads(path.read_text())
        for target in document.get("targets", []):
            found.append(
                (
                    document["benchmark"],
                    str(target["name"]),
                    f"{target['value']:g}",
                    f"≤ {target['limit']:g}",
                    "ok" if target["ok"] else "**missed**",
                )
            )
    return found


def main() -> int:
    print("| benchmark | target | measured | limit | verdict |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows():
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
