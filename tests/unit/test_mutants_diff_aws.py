"""Rules of `engine/diff_aws.py` that surviving mutants showed no test pinned down
(`make mutate`, tests/README.md "Mutation testing")."""

from __future__ import annotations

import dataclasses
import json

import pytest

from engine.plan import FindingKind, ResourceKind
from tests.unit.worlds import PROD, converged_live, desired_world, edit_role, plan_for


@pytest.mark.parametrize(
    ("unread", "subject"),
    [
        (1, "account 300000000001"),
        (5, "accounts 300000000001, 300000000002, 300000000003, 300000000004, 300000000005"),
        (
            11,
            "accounts 300000000001, 300000000002, 300000000003, 300000000004, 300000000005 "
            "and 6 more",
        ),
    ],
)
def test_unread_accounts_are_one_finding_naming_five_and_counting_the_rest(
    unread: int, subject: str
) -> None:
    desired = desired_world()
    live = converged_live(desired)
    extra = frozenset(f"{300000000001 + i:012d}" for i in range(unread))
    desired = dataclasses.replace(desired, accounts=desired.accounts | extra)
    plan = plan_for(desired=desired, live=live)
    read_errors = [f.subject for f in plan.findings if f.kind is FindingKind.READ_ERROR]
    assert read_errors == [subject]


def test_a_role_update_that_only_adds_a_trusted_provider_is_not_destructive() -> None:
    desired = desired_world()
    trusting_none = json.dumps({"Version": "2012-10-17", "Statement": []})
    live = edit_role(converged_live(desired), PROD, "Admin", trust_policy=trusting_none)
    plan = plan_for(desired=desired, live=live)
    [update] = [c for c in plan.changes if c.kind is ResourceKind.ROLE]
    assert not update.destructive
