"""A SAML provider is deleted only once Okta no longer uses it.

Renaming `saml_provider.name` plans: the new provider, every role's trust moved to it,
the app's settings (the role value pattern names the provider), and, with `--prune`,
the old provider's removal. Okta keeps sending the old provider's ARN until its
settings change lands, so the removal must depend on that change: if the settings
update fails, the old provider stays (order alone would not keep it: a failed change
stops only what depends on it).
"""

from __future__ import annotations

import dataclasses

from engine.apply import apply_changes
from engine.compile import compile_world
from engine.model import System
from engine.order import stages
from engine.plan import Action, Change, Outcome, Plan, ResourceKind
from engine.spec import SamlProviderSpec
from tests.unit.worlds import (
    METADATA,
    PROVIDER,
    converged_live,
    desired_world,
    plan_for,
    small_state,
)

RENAMED = "OKTA-2026"


class Scripted:
    """Executes every change, except that those of `failing` systems raise."""

    def __init__(self, *, failing: bool) -> None:
        self.failing = failing
        self.done: list[str] = []

    def execute(self, change: Change) -> Outcome:
        if self.failing:
            raise RuntimeError("E0000009 Internal Server Error")
        self.done.append(change.id)
        return Outcome.DELETED if change.action is Action.DELETE else Outcome.UPDATED


def renamed_plan() -> Plan:
    state = small_state()
    provider = SamlProviderSpec(name=RENAMED, metadata=METADATA)
    renamed = dataclasses.replace(
        state, settings=dataclasses.replace(state.settings, saml_provider=provider)
    )
    return plan_for(
        desired=compile_world(state=renamed), live=converged_live(desired_world()), prune=True
    )


def test_a_renamed_provider_is_removed_only_after_the_settings_that_stop_using_it() -> None:
    plan = renamed_plan()
    settings = [c for c in plan.changes if c.kind is ResourceKind.OKTA_APP]
    removals = [
        c
        for c in plan.changes
        if c.kind is ResourceKind.SAML_PROVIDER and c.action is Action.DELETE
    ]
    assert len(settings) == 1 and settings[0].action is Action.UPDATE
    assert {c.key[1] for c in removals} == {PROVIDER} and len(removals) == 2
    assert all(settings[0].id in c.depends_on for c in removals), removals


def test_when_that_settings_change_fails_the_old_provider_is_kept() -> None:
    plan = renamed_plan()
    aws, okta = Scripted(failing=False), Scripted(failing=True)
    report = apply_changes(
        stages=stages(changes=plan.changes),
        executors={System.AWS: aws, System.OKTA: okta, System.DIRECTORY: Scripted(failing=False)},
    )
    outcome = {r.change.id: r for r in report.results}
    [settings] = [c.id for c in plan.changes if c.kind is ResourceKind.OKTA_APP]
    assert outcome[settings].outcome is Outcome.FAILED
    removals = [i for i in outcome if i.startswith("saml_provider:") and i.endswith(":-")]
    assert removals
    for removal in removals:
        assert outcome[removal].outcome is Outcome.SKIPPED, outcome[removal]
        assert outcome[removal].message == f"depends on failed {settings}"
        assert removal not in aws.done
    # The rest of AWS went ahead: the new providers and the roles' trust.
    assert any(i.startswith("saml_provider:") and RENAMED in i for i in aws.done), aws.done
    assert any(i.startswith("role:") for i in aws.done), aws.done
