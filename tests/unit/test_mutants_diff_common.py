"""Rules of `engine/diff_common.py` that surviving mutants showed no test pinned down
(`make mutate`, tests/README.md "Mutation testing")."""

from __future__ import annotations

from engine.plan import FindingKind
from tests.unit.worlds import (
    converged_live,
    desired_world,
    edit_app,
    okta_group,
    plan_for,
    put,
    role_group_name,
)

# A hand-set filter in Okta that maps none of our role group names.
ELSEWHERE = r"^zz#(?{{role}}[\w\-]+)#(?{{accountid}}\d{12})$"


def test_group_names_are_mapped_with_the_filter_the_plan_converges_to_not_the_live_one() -> None:
    # An Okta-sourced look-alike of a role group is rogue under the desired filter (the
    # one the apply sets), even while Okta still holds a filter it does not match.
    desired = desired_world()
    look_alike = role_group_name("111111111111", "Admin")
    live = edit_app(converged_live(desired), group_filter=ELSEWHERE)
    live = put(live, okta_group(look_alike, source="okta"))
    plan = plan_for(desired=desired, live=live)
    rogue = [f.subject for f in plan.findings if f.kind is FindingKind.ROGUE_GROUP]
    assert rogue == [f"okta group {look_alike} (source okta)"]
