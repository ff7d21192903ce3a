"""Rules of `engine/saved_plan.py` that surviving mutants showed no test pinned down
(`make mutate`, tests/README.md "Mutation testing")."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from engine.model import System
from engine.plan import AccessChange, Plan, PlanOptions
from engine.saved_plan import (
    PlanFormatError,
    check_fresh,
    check_options,
    check_same,
    plan_from_json,
    plan_to_json,
)

GOLDEN = Path(__file__).resolve().parent / "golden" / "plan-representative.json"


def _doc_with_detail(before: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    role = next(c for c in doc["changes"] if c["kind"] == "role")
    role["details"] = [{"path": "x", "before": before, "after": None}]
    return doc


def _nested(depth: int, *, kind: str) -> Any:
    """A JSON value `depth` lists or objects deep (0: a scalar)."""
    value: Any = 0
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


@pytest.mark.parametrize("kind", ["list", "object"])
def test_a_detail_exactly_as_deep_as_the_limit_is_read_one_deeper_is_refused(kind: str) -> None:
    # The detail object is level 0, its `before` level 1: 63 levels inside reach 64.
    plan_from_json(_doc_with_detail(_nested(63, kind=kind)))
    with pytest.raises(PlanFormatError, match=r"details\[0\]: nested deeper than 64 levels"):
        plan_from_json(_doc_with_detail(_nested(64, kind=kind)))


def test_a_stale_plan_shows_the_first_twelve_characters_of_each_fingerprint() -> None:
    plan = Plan(target="sandbox", live_fingerprint="a" * 64, desired_digest="d")
    message = check_fresh(plan=plan, live_fingerprint="b" * 64, desired_digest="d")
    assert message == (
        "the saved plan is stale: the live state changed since the plan was made "
        f"(fingerprint {'a' * 12}… → {'b' * 12}…). Run plan again."
    )


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


def test_a_long_value_from_the_file_is_quoted_cut_to_eighty_characters() -> None:
    doc: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    role = next(c for c in doc["changes"] if c["kind"] == "role")
    role["id"] = "x" * 200
    with pytest.raises(PlanFormatError) as raised:
        plan_from_json(doc)
    # repr adds a quote: 79 characters of it, then the ellipsis.
    assert f".id: '{'x' * 78}… does not match" in str(raised.value)
    role["id"] = "x" * 78  # repr exactly 80 characters: shown whole
    with pytest.raises(PlanFormatError) as raised:
        plan_from_json(doc)
    assert f".id: '{'x' * 78}' does not match" in str(raised.value)


def test_equal_plans_that_could_not_see_everything_are_the_same_plan() -> None:
    plan = Plan(target="sandbox", live_fingerprint="l", desired_digest="d", access_unknown="why")
    assert check_same(saved=plan_from_json(plan_to_json(plan)), fresh=plan) is None
    other = Plan(target="sandbox", live_fingerprint="l", desired_digest="d", access_unknown="else")
    assert check_same(saved=plan, fresh=other) == (
        "the saved plan is not the plan made now: its access_unknown differs from the plan "
        "made now's; it was edited or made by another version. Run plan again and review it."
    )


@pytest.mark.parametrize(("gained", "verb"), [(True, "gains"), (False, "loses")])
def test_an_access_line_only_the_file_has_is_named_in_words(gained: bool, verb: str) -> None:
    fresh = Plan(target="sandbox", live_fingerprint="l", desired_digest="d")
    line = AccessChange(user="zoe", account_id="111111111111", role="Admin", gained=gained)
    saved = dataclasses.replace(fresh, access_delta=(line,))
    assert check_same(saved=saved, fresh=fresh) == (
        f"the saved plan is not the plan made now: access change 'zoe {verb} Admin in "
        "111111111111' is not in the plan made now; it was edited or made by another "
        "version. Run plan again and review it."
    )


@pytest.mark.parametrize("reason", ["", "a reason sorting first", "~ one sorting last"])
def test_a_reason_text_other_than_its_code_says_is_refused(reason: str) -> None:
    doc: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    change = next(c for c in doc["changes"] if c.get("reason"))  # "adopt (add managed tag)"
    change["reason"] = reason
    with pytest.raises(PlanFormatError, match=r"\.reason: .* is not what its reason_code"):
        plan_from_json(doc)


@pytest.mark.parametrize("change_id", ["!", "~"])
def test_a_change_id_other_than_its_key_gives_is_refused_whichever_way_it_sorts(
    change_id: str,
) -> None:
    doc: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    next(c for c in doc["changes"] if c["kind"] == "role")["id"] = change_id
    with pytest.raises(PlanFormatError, match=r"\.id: .* does not match"):
        plan_from_json(doc)
