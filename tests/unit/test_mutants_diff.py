"""Rules of `engine/diff.py` that surviving mutants showed no test pinned down
(`make mutate`, tests/README.md "Mutation testing")."""

from __future__ import annotations

import dataclasses

from engine.diff import diff
from engine.plan import PlanOptions
from tests.unit.worlds import converged_live, desired_world


def test_five_unread_accounts_are_named_and_the_rest_counted() -> None:
    desired = desired_world()
    live = converged_live(desired)
    extra = [f"{300000000001 + i:012d}" for i in range(6)]
    desired = dataclasses.replace(desired, accounts=desired.accounts | frozenset(extra))
    plan = diff(desired=desired, live=live, options=PlanOptions())
    assert plan.access_unknown == (f"AWS accounts {', '.join(extra[:5])} and 1 more were not read")
