"""AWS in the diff: each kind of drift gives exactly the change a reviewer expects."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from engine.model import World, saml_trust_policy
from engine.plan import Action, AttributeChange, FindingKind, Reason, ResourceKind
from engine.render_parts import reason_text
from tests.unit.worlds import (
    ADMIN_POLICY,
    AUDIT_POLICY,
    DEV,
    OUTSIDE,
    PROD,
    READONLY_POLICY,
    WorldEdit,
    by_id,
    change_ids,
    converged_live,
    desired_world,
    drop,
    edit_role,
    finding_kinds,
    plan_for,
    provider,
    put,
    role,
)

P = ResourceKind.SAML_PROVIDER.value
R = ResourceKind.ROLE.value


def same(world: World) -> World:
    return world


@dataclass(frozen=True)
class Case:
    name: str
    live: WorldEdit
    expected: frozenset[str]
    desired: WorldEdit = same
    prune: bool = False
    destructive: frozenset[str] = frozenset()
    findings: tuple[tuple[FindingKind, str], ...] = ()
    depends: dict[str, tuple[str, ...]] = field(default_factory=dict)


CASES = [
    Case(
        "provider missing",
        lambda w: drop(w, provider(PROD)),
        frozenset({f"{P}:{PROD}/OKTA:+"}),
    ),
    Case(
        "provider and role missing: role waits on provider",
        lambda w: drop(w, provider(DEV), role(DEV, "Admin")),
        frozenset({f"{P}:{DEV}/OKTA:+", f"{R}:{DEV}/admin:+"}),
        depends={f"{R}:{DEV}/admin:+": (f"{P}:{DEV}/OKTA:+",)},
    ),
    Case(
        "role missing, provider there: no dependency",
        lambda w: drop(w, role(PROD, "Audit")),
        frozenset({f"{R}:{PROD}/audit:+"}),
        depends={f"{R}:{PROD}/audit:+": ()},
    ),
    Case(
        "extra managed policy is removed (destructive)",
        lambda w: edit_role(
            w, PROD, "Admin", managed_policies=frozenset({ADMIN_POLICY, AUDIT_POLICY})
        ),
        frozenset({f"{R}:{PROD}/admin:~"}),
        destructive=frozenset({f"{R}:{PROD}/admin:~"}),
    ),
    Case(
        "missing managed policy is attached",
        lambda w: edit_role(w, PROD, "Audit", managed_policies=frozenset({AUDIT_POLICY})),
        frozenset({f"{R}:{PROD}/audit:~"}),
    ),
    Case(
        "max session differs",
        lambda w: edit_role(w, DEV, "ReadOnly", max_session_duration=3600),
        frozenset({f"{R}:{DEV}/readonly:~"}),
    ),
    Case(
        "description differs",
        lambda w: edit_role(w, PROD, "Admin", description="hand edited"),
        frozenset({f"{R}:{PROD}/admin:~"}),
    ),
    Case(
        "trust policy names another provider (loses trust: destructive)",
        lambda w: edit_role(
            w, PROD, "Admin", trust_policy=saml_trust_policy(account_id=PROD, provider_name="OLD")
        ),
        frozenset({f"{R}:{PROD}/admin:~"}),
        destructive=frozenset({f"{R}:{PROD}/admin:~"}),
    ),
    Case(
        "tagged role not desired, no prune: finding only",
        lambda w: put(w, role(PROD, "Legacy")),
        frozenset(),
        findings=((FindingKind.PRUNE_SKIPPED, f"role Legacy in prod ({PROD})"),),
    ),
    Case(
        "tagged role not desired, prune: deleted",
        lambda w: put(w, role(PROD, "Legacy")),
        frozenset({f"{R}:{PROD}/legacy:-"}),
        prune=True,
        destructive=frozenset({f"{R}:{PROD}/legacy:-"}),
    ),
    Case(
        "untagged role not desired: invisible",
        lambda w: put(w, role(PROD, "HandMade", managed=False)),
        frozenset(),
        prune=True,
    ),
    Case(
        "untagged role with a desired name: conflict, untouched",
        lambda w: edit_role(w, PROD, "Admin", managed=False, description="someone else's"),
        frozenset(),
        prune=True,
        findings=((FindingKind.CONFLICT, f"role Admin in prod ({PROD})"),),
    ),
    Case(
        "untagged role adopted: updated and tagged",
        lambda w: edit_role(w, PROD, "Admin", managed=False),
        frozenset({f"{R}:{PROD}/admin:~"}),
        desired=lambda w: edit_role(w, PROD, "Admin", adopt=True),
    ),
    Case(
        "untagged provider: conflict",
        lambda w: put(w, provider(PROD, managed=False)),
        frozenset(),
        findings=((FindingKind.CONFLICT, f"saml-provider OKTA in prod ({PROD})"),),
    ),
    Case(
        "untagged provider adopted",
        lambda w: put(w, provider(PROD, managed=False)),
        frozenset({f"{P}:{PROD}/OKTA:~"}),
        desired=lambda w: put(w, dataclasses.replace(provider(PROD), adopt=True)),
    ),
    Case(
        "resources of an account the desired state does not list are ignored",
        lambda w: put(
            w,
            role(OUTSIDE, "Admin"),
            provider(OUTSIDE),
            role(OUTSIDE, "Wrong", managed=False),
        ),
        frozenset(),
        prune=True,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_aws_drift(case: Case) -> None:
    desired = case.desired(desired_world())
    live = case.live(converged_live(desired_world()))
    plan = plan_for(desired=desired, live=live, prune=case.prune)
    assert change_ids(plan) == case.expected
    changes = by_id(plan)
    assert {i for i, c in changes.items() if c.destructive} == case.destructive
    assert finding_kinds(plan) == list(case.findings)
    for change_id, deps in case.depends.items():
        assert changes[change_id].depends_on == deps
    assert all(c.reason is not Reason.NONE for c in plan.changes)


def test_metadata_change_shows_digests() -> None:
    desired = desired_world()
    live = put(converged_live(desired), provider(PROD, metadata="<old/>" * 200))
    [change] = plan_for(desired=desired, live=live).changes
    assert change.action is Action.UPDATE and not change.destructive
    assert change.details == (
        AttributeChange(
            "metadata_sha256",
            live.saml_providers[(PROD, "OKTA")].metadata_sha256,
            desired.saml_providers[(PROD, "OKTA")].metadata_sha256,
        ),
    )


def test_role_details_are_attribute_level() -> None:
    desired = desired_world()
    live = edit_role(
        converged_live(desired),
        PROD,
        "Audit",
        managed_policies=frozenset({AUDIT_POLICY, ADMIN_POLICY}),
        max_session_duration=900,
    )
    [change] = plan_for(desired=desired, live=live).changes
    assert set(change.details) == {
        AttributeChange("managed_policies", ADMIN_POLICY, None),
        AttributeChange("managed_policies", None, READONLY_POLICY),
        AttributeChange("max_session_duration", 900, 3600),
    }
    assert change.reason is Reason.ATTRIBUTES_DIFFER
    assert dict(change.reason_args) == {"attributes": ("managed_policies", "max_session_duration")}
    assert reason_text(change) == "differs from the desired state: managed_policies, " + (
        "max_session_duration"
    )


def test_adopt_reason_and_tag() -> None:
    desired = edit_role(desired_world(), PROD, "Admin", adopt=True)
    live = edit_role(converged_live(desired_world()), PROD, "Admin", managed=False)
    [change] = plan_for(desired=desired, live=live).changes
    assert change.reason is Reason.ADOPT and change.reason_args == ()
    assert reason_text(change) == "adopt (add managed tag)"
    assert change.details == ()  # same configuration: only the tag is new
    assert change.after is not None and change.after == desired.roles[(PROD, "admin")]


def test_policy_spelling_is_not_a_change() -> None:
    """Statement order, key order, single item vs list: equal documents never differ."""
    desired = desired_world()
    doc = json.loads(desired.roles[(PROD, "admin")].trust_policy)
    statement = doc["Statement"][0]
    respelled = {
        "Statement": [
            {
                "Condition": {"StringEquals": {"SAML:aud": ["https://signin.aws.amazon.com/saml"]}},
                "Action": ["sts:AssumeRoleWithSAML"],
                "Principal": {"Federated": [statement["Principal"]["Federated"]]},
                "Effect": "Allow",
            }
        ],
        "Version": "2012-10-17",
    }
    live = edit_role(converged_live(desired), PROD, "Admin", trust_policy=json.dumps(respelled))
    assert plan_for(desired=desired, live=live).empty


def test_prune_of_provider_waits_for_the_roles_of_its_account() -> None:
    desired = desired_world()
    old = dataclasses.replace(provider(PROD), name="OLD")
    live = put(
        converged_live(desired),
        old,
        role(PROD, "Legacy", trust_policy=saml_trust_policy(account_id=PROD, provider_name="OLD")),
    )
    plan = plan_for(desired=desired, live=live, prune=True)
    changes = by_id(plan)
    assert set(changes) == {f"{P}:{PROD}/OLD:-", f"{R}:{PROD}/legacy:-"}
    assert changes[f"{P}:{PROD}/OLD:-"].depends_on == (f"{R}:{PROD}/legacy:-",)
    assert [c.id for c in plan.changes] == [f"{R}:{PROD}/legacy:-", f"{P}:{PROD}/OLD:-"]


def test_a_renamed_provider_moves_the_roles_before_the_old_one_goes() -> None:
    """`saml_provider.name` renamed: the new provider is created, every role's trust is
    rewritten to it, and only then (with prune) is the old provider deleted."""
    desired = desired_world()
    old_trust = saml_trust_policy(account_id=PROD, provider_name="OLD")
    live = drop(converged_live(desired), provider(PROD))
    live = put(live, dataclasses.replace(provider(PROD), name="OLD"))
    for name in ("Admin", "Audit"):
        live = edit_role(live, PROD, name, trust_policy=old_trust)
    moves = {f"{R}:{PROD}/admin:~", f"{R}:{PROD}/audit:~"}
    plan = plan_for(desired=desired, live=live, prune=True)
    changes = by_id(plan)
    assert set(changes) == {f"{P}:{PROD}/OKTA:+", f"{P}:{PROD}/OLD:-", *moves}
    assert set(changes[f"{P}:{PROD}/OLD:-"].depends_on) == moves
    order = [c.id for c in plan.changes]
    assert order[0] == f"{P}:{PROD}/OKTA:+" and order[-1] == f"{P}:{PROD}/OLD:-"

    kept = plan_for(desired=desired, live=live, prune=False)
    assert f"{P}:{PROD}/OLD:-" not in by_id(kept)
    assert (FindingKind.PRUNE_SKIPPED, f"saml-provider OLD in prod ({PROD})") in finding_kinds(kept)


@pytest.mark.parametrize(
    ("staying", "why"),
    [
        (role(PROD, "HandMade", managed=False), "an untagged role okta-aws never touches"),
        (role(PROD, "Legacy"), "a tagged role kept because prune is off"),
    ],
)
def test_a_provider_a_remaining_role_trusts_is_never_deleted(staying: Any, why: str) -> None:
    desired = desired_world()
    old = dataclasses.replace(provider(PROD), name="OLD")
    trust = saml_trust_policy(account_id=PROD, provider_name="OLD")
    live = put(converged_live(desired), old, dataclasses.replace(staying, trust_policy=trust))
    prune = not staying.managed
    plan = plan_for(desired=desired, live=live, prune=prune)
    assert f"{P}:{PROD}/OLD:-" not in by_id(plan), why
    [message] = [
        f.message for f in plan.findings if f.subject == f"saml-provider OLD in prod ({PROD})"
    ]
    assert f"still trusted by role(s) okta-aws keeps: {staying.name}" in message


def test_readonly_policy_is_constant_of_the_small_world() -> None:
    # Guards the table above: it assumes Audit carries both policies.
    assert desired_world().roles[(PROD, "audit")].managed_policies == {
        AUDIT_POLICY,
        READONLY_POLICY,
    }
