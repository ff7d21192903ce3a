"""Rules of `engine/protection.py` that surviving mutants showed no test pinned down
(`make mutate`, tests/README.md "Mutation testing")."""

from __future__ import annotations

import pytest

from engine.plan import FindingKind
from tests.unit.worlds import (
    PROD,
    converged_live,
    desired_world,
    edit_app,
    plan_for,
    role_group_name,
)

PROVIDER = "arn:aws:iam::${accountid}:saml-provider/OKTA"


@pytest.mark.parametrize("prefix", ["Z", "A"], ids=["sorts after", "sorts before"])
def test_app_settings_mapping_a_protected_role_group_to_another_role_block_the_plan(
    prefix: str,
) -> None:
    # Another role, whichever way its name sorts, is not the role the group protects.
    live = converged_live(desired_world())
    pattern = f"{PROVIDER},arn:aws:iam::${{accountid}}:role/{prefix}${{role}}"
    desired = edit_app(desired_world(), role_value_pattern=pattern)
    protected = role_group_name(PROD, "Admin")
    plan = plan_for(desired=desired, live=live, protected=frozenset({protected}))
    [conflict] = [f for f in plan.findings if f.kind is FindingKind.CONFLICT]
    assert conflict.subject == f"protected role group {protected}"
    assert f"it would map to role {prefix.lower()}admin in {PROD} instead" in conflict.message
