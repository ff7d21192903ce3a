"""Rules of `engine/saved_plan.py` that surviving mutants showed no test pinned down
(`make mutate`, tests/README.md "Mutation testing")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.model import System
from engine.plan import Plan, PlanOptions
from engine.saved_plan import PlanFormatError, check_fresh, check_options, plan_from_json

GOLDEN = Path(__file__).resolve().parent / "golden" / "plan-representative.json"


def _doc_with_detail(before: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    role = next(c for c in doc["changes"] if c["kind"] == "role")
    role["details"] = [{"path": "x", "before": before, "after": None}]
    return doc


def _nested(depth: int) -> Any:
    """A JSON value `depth` lists deep (0: a scalar)."""
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def test_a_detail_exactly_as_deep_as_the_limit_is_read_one_deeper_is_refused() -> None:
    # The detail object is level 0, its `before` level 1: 63 lists inside reach 64.
    plan_from_json(_doc_with_detail(_nested(63)))
    with pytest.raises(PlanFormatError, match=r"details\[0\]: nested deeper than 64 levels"):
        plan_from_json(_doc_with_detail(_nested(64)))


@pytest.mark.parametrize(("saved", "now"), [("live", "sandbox"), ("sandbox", "live")])
def test_a_plan_for_another_target_is_stale_whichever_name_sorts_first(
    saved: str, now: str
) -> None:
    plan = Plan(target=saved, live_fingerprint="l", desired_digest="d")
    message = check_fresh(plan=plan, live_fingerprint="l", desired_digest="d", target=now)
    assert message == (
        f"the saved plan is stale: the plan was made for target {saved!r}, not {now!r}. "
        "Run plan again."
    )


SAME = PlanOptions(prune=True, max_deletions=5, protected=frozenset({"b", "a"}))


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        (SAME, None),
        # An apply may accept more deletions than the plan's guard did.
        (PlanOptions(prune=True, max_deletions=50, protected=frozenset({"a", "b"})), None),
        (
            PlanOptions(max_deletions=5, protected=frozenset({"a", "b"})),
            "prune (the plan: true, this apply: false)",
        ),
        (
            PlanOptions(prune=True, max_deletions=5),
            "protected (the plan: a,b, this apply: (none))",
        ),
        (
            PlanOptions(
                prune=True,
                max_deletions=5,
                protected=frozenset({"a", "b"}),
                systems=frozenset({System.AWS}),
                create_app=True,
            ),
            "systems (the plan: aws,directory,okta, this apply: aws); "
            "create_app (the plan: false, this apply: true)",
        ),
    ],
    ids=["same", "max_deletions only", "prune", "protected", "systems and create_app"],
)
def test_check_options_names_each_option_that_differs(
    wanted: PlanOptions, expected: str | None
) -> None:
    message = check_options(saved=SAME, wanted=wanted)
    if expected is None:
        assert message is None
    else:
        assert message == (
            f"the saved plan was made with other options than this apply's: {expected}. "
            "Apply it with the options it was made with, or plan again."
        )
