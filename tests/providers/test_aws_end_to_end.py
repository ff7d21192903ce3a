"""Plan → apply → re-plan over real accounts: the AWS provider with the real diff, order
and apply, against moto over HTTP (three accounts reached by AssumeRole)."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

import pytest

from engine.apply import ApplyReport, apply_changes
from engine.diff import diff
from engine.model import System, World, saml_trust_policy
from engine.order import stages
from engine.plan import Action, FindingKind, Outcome, Plan, PlanOptions, ResourceKind
from engine.providers.aws import AwsProvider

if TYPE_CHECKING:
    from tests.providers.conftest import AwsKit

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
AWS_ONLY = PlanOptions(systems=frozenset({System.AWS}))


def desired_world(aws: AwsKit, *, adopt: frozenset[str] = frozenset()) -> World:
    return aws.desired(
        providers=[aws.saml_provider(a) for a in aws.accounts],
        roles=[
            role
            for a in aws.accounts
            for role in (
                aws.role(a, "Admin", policies=(ADMIN,), max_session_duration=7200),
                aws.role(a, "ReadOnly", policies=(READ_ONLY,), adopt="ReadOnly" in adopt),
            )
        ],
    )


def plan(aws: AwsKit, provider: AwsProvider, desired: World, options: PlanOptions) -> Plan:
    read = provider.read(accounts=desired.accounts)
    assert read.errors == ()
    return diff(desired=desired, live=read.to_world(), options=options)


def apply(provider: AwsProvider, planned: Plan) -> ApplyReport:
    assert planned.applyable, (planned.findings, planned.guard)
    report = apply_changes(stages=stages(changes=planned.changes), executors={System.AWS: provider})
    assert report.failed == (), [r.message for r in report.failed]
    return report


def converge(aws: AwsKit, provider: AwsProvider, desired: World) -> ApplyReport:
    return apply(provider, plan(aws, provider, desired, AWS_ONLY))


def test_empty_accounts_converge_and_the_re_plan_is_empty(aws: AwsKit) -> None:
    provider = aws.provider()
    desired = desired_world(aws)

    first = plan(aws, provider, desired, AWS_ONLY)
    report = apply(provider, first)
    writes_before_replan = provider.calls.writes()
    again = plan(aws, provider, desired, AWS_ONLY)

    assert first.counts()[Action.CREATE] == 3 * 3  # a provider and two roles per account
    assert report.count(Outcome.CREATED) == 9
    assert again.changes == () and again.findings == ()
    assert provider.calls.writes() == writes_before_replan  # a converged re-plan writes nothing
    for account_id in aws.accounts:
        iam = aws.iam(account_id)
        admin = iam.get_role(RoleName="Admin")["Role"]
        assert admin["MaxSessionDuration"] == 7200
        attached = iam.list_attached_role_policies(RoleName="Admin")["AttachedPolicies"]
        assert [p["PolicyArn"] for p in attached] == [ADMIN]


def test_drifted_metadata_in_one_account_is_fixed(aws: AwsKit) -> None:
    provider = aws.provider()
    desired = desired_world(aws)
    converge(aws, provider, desired)
    drifted = aws.accounts[1]
    iam = aws.iam(drifted)
    arn = f"arn:aws:iam::{drifted}:saml-provider/{aws.provider_name}"
    iam.update_saml_provider(
        SAMLProviderArn=arn, SAMLMetadataDocument=aws.metadata.replace("V0003", "X0003")
    )

    fix = plan(aws, provider, desired, AWS_ONLY)
    report = apply(provider, fix)
    again = plan(aws, provider, desired, AWS_ONLY)

    assert [(c.kind, c.action, c.key) for c in fix.changes] == [
        (ResourceKind.SAML_PROVIDER, Action.UPDATE, (drifted, aws.provider_name))
    ]
    assert report.count(Outcome.UPDATED) == 1
    assert iam.get_saml_provider(SAMLProviderArn=arn)["SAMLMetadataDocument"] == aws.metadata
    assert again.changes == ()


def test_an_untagged_role_with_a_desired_name_is_a_conflict_and_left_alone(
    aws: AwsKit,
) -> None:
    account_id = aws.accounts[0]
    iam = aws.iam(account_id)
    trust = saml_trust_policy(account_id=account_id, provider_name=aws.provider_name)
    iam.create_role(RoleName="ReadOnly", AssumeRolePolicyDocument=trust, Description="by hand")
    provider = aws.provider()

    planned = plan(aws, provider, desired_world(aws), AWS_ONLY)
    live = provider.read(accounts=[account_id])

    (manual,) = [r for r in live.roles if r.name == "ReadOnly"]
    assert manual.managed is False
    assert [(f.kind, f.subject) for f in planned.findings] == [
        (FindingKind.CONFLICT, f"role ReadOnly in {account_id}")
    ]
    assert planned.blocked
    assert all(c.key != (account_id, "readonly") for c in planned.changes)
    # Executing everything else still leaves the hand-made role exactly as it was.
    apply_changes(stages=stages(changes=planned.changes), executors={System.AWS: provider})
    role = iam.get_role(RoleName="ReadOnly")["Role"]
    assert role.get("Description") == "by hand" and not role.get("Tags")
    assert iam.list_attached_role_policies(RoleName="ReadOnly")["AttachedPolicies"] == []


def test_an_adopted_role_is_tagged_and_converged(aws: AwsKit) -> None:
    account_id = aws.accounts[0]
    iam = aws.iam(account_id)
    trust = saml_trust_policy(account_id=account_id, provider_name=aws.provider_name)
    iam.create_role(RoleName="ReadOnly", AssumeRolePolicyDocument=trust, Description="by hand")
    provider = aws.provider()
    desired = desired_world(aws, adopt=frozenset({"ReadOnly"}))

    converge(aws, provider, desired)
    again = plan(aws, provider, desired, AWS_ONLY)

    assert again.changes == () and again.findings == ()
    tags = iam.list_role_tags(RoleName="ReadOnly")["Tags"]
    assert {"Key": "managed-by", "Value": "okta-aws"} in tags


@pytest.mark.parametrize("prune", [False, True])
def test_only_tagged_roles_are_deleted_and_only_with_prune(aws: AwsKit, prune: bool) -> None:
    provider = aws.provider()
    desired = desired_world(aws)
    converge(aws, provider, desired)
    account_id = aws.accounts[2]
    iam = aws.iam(account_id)
    trust = saml_trust_policy(account_id=account_id, provider_name=aws.provider_name)
    iam.create_role(
        RoleName="Retired",
        AssumeRolePolicyDocument=trust,
        Tags=[{"Key": "managed-by", "Value": "okta-aws"}],
    )
    iam.attach_role_policy(RoleName="Retired", PolicyArn=READ_ONLY)
    iam.create_role(RoleName="Manual", AssumeRolePolicyDocument=trust)

    planned = plan(aws, provider, desired, PlanOptions(prune=prune, systems=AWS_ONLY.systems))
    apply(provider, planned)
    names = {r["RoleName"] for r in iam.list_roles()["Roles"]}

    assert "Manual" in names
    assert ("Retired" in names) is not prune
    deletions = [(c.kind, c.key) for c in planned.changes if c.action is Action.DELETE]
    assert deletions == ([(ResourceKind.ROLE, (account_id, "retired"))] if prune else [])


def test_a_renamed_provider_is_replaced_and_the_old_one_pruned(aws: AwsKit) -> None:
    """Renaming `saml_provider.name`: every role moves to the new provider, the old one
    is deleted with prune, except where a hand-made role still trusts it."""
    provider = aws.provider()
    converge(aws, provider, desired_world(aws))
    kept_account = aws.accounts[2]
    old_trust = saml_trust_policy(account_id=kept_account, provider_name=aws.provider_name)
    aws.iam(kept_account).create_role(RoleName="HandMade", AssumeRolePolicyDocument=old_trust)
    renamed = dataclasses.replace(aws, provider_name="OktaRenamed")
    desired = desired_world(renamed)
    options = PlanOptions(prune=True, max_deletions=100, systems=AWS_ONLY.systems)

    planned = plan(aws, provider, desired, options)
    apply(provider, planned)

    for account_id in aws.accounts:
        iam = aws.iam(account_id)
        names = {p["Arn"].rsplit("/", 1)[-1] for p in iam.list_saml_providers()["SAMLProviderList"]}
        old_kept = account_id == kept_account
        assert names == ({"OktaRenamed", aws.provider_name} if old_kept else {"OktaRenamed"})
        trust = iam.get_role(RoleName="Admin")["Role"]["AssumeRolePolicyDocument"]
        assert "saml-provider/OktaRenamed" in json.dumps(trust)
    assert [f.subject for f in planned.findings if f.kind is FindingKind.PRUNE_SKIPPED] == [
        f"saml-provider {aws.provider_name} in {kept_account}"
    ]
    again = plan(aws, provider, desired, options)
    assert again.changes == ()


def test_throttling_everywhere_still_converges_and_is_counted(aws: AwsKit) -> None:
    for operation in ("ListRoles", "CreateSAMLProvider", "CreateRole"):
        aws.faults.throttle(f"before-send.iam.{operation}", times=1)
    provider = aws.provider(concurrency=3)
    desired = desired_world(aws)

    converge(aws, provider, desired)
    again = plan(aws, provider, desired, AWS_ONLY)

    assert again.changes == ()
    assert provider.calls.retries() == 3
    assert sum(f.injected for f in aws.faults.installed) == 3
