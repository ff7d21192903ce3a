"""Executing single AWS changes against moto over HTTP: idempotent outcomes, ownership
re-checked before every write, IAM's eventual consistency and throttling."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

import pytest

from engine.model import Role, SamlProvider, metadata_digest, normalize_policy, saml_trust_policy
from engine.plan import Action, Change, Outcome, ResourceKind
from engine.providers.aws import AwsError, AwsRefused

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

    from tests.providers.conftest import AwsKit

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
IAM_FULL = "arn:aws:iam::aws:policy/IAMFullAccess"
ACCOUNT = "111111111111"
INLINE = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
)


def change(action: Action, resource: Role | SamlProvider, before: Any = None) -> Change:
    kind = ResourceKind.ROLE if isinstance(resource, Role) else ResourceKind.SAML_PROVIDER
    if action is Action.DELETE:
        return Change(kind=kind, action=action, key=resource.key, before=resource)
    return Change(kind=kind, action=action, key=resource.key, before=before, after=resource)


def live_role(iam: IAMClient, name: str) -> dict[str, Any]:
    role = iam.get_role(RoleName=name)["Role"]
    attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    return {
        "trust": normalize_policy(role["AssumeRolePolicyDocument"]),
        "policies": {p["PolicyArn"] for p in attached},
        "max": role["MaxSessionDuration"],
        "description": role.get("Description", ""),
        "tags": {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name)["Tags"]},
    }


def role_names(iam: IAMClient) -> set[str]:
    return {r["RoleName"] for r in iam.list_roles()["Roles"]}


def test_saml_provider_lifecycle_is_idempotent(aws: AwsKit) -> None:
    provider = aws.provider()
    iam = aws.iam(ACCOUNT)
    first = aws.saml_provider(ACCOUNT)
    second = aws.saml_provider(ACCOUNT, metadata=aws.metadata.replace("V0001", "V9999"))
    arn = first.arn

    steps = [
        (change(Action.CREATE, first), Outcome.CREATED),
        (change(Action.CREATE, first), Outcome.UNCHANGED),  # already there, already ours
        (change(Action.UPDATE, first), Outcome.UNCHANGED),
        (change(Action.UPDATE, second), Outcome.UPDATED),
        (change(Action.CREATE, first), Outcome.UPDATED),  # exists with other metadata
        (change(Action.DELETE, first), Outcome.DELETED),
        (change(Action.DELETE, first), Outcome.UNCHANGED),  # already gone
        (change(Action.UPDATE, second), Outcome.CREATED),  # vanished meanwhile
    ]
    outcomes = [provider.execute(c) for c, _ in steps]

    assert outcomes == [expected for _, expected in steps]
    got = iam.get_saml_provider(SAMLProviderArn=arn)
    assert metadata_digest(got["SAMLMetadataDocument"]) == second.metadata_sha256
    assert {"Key": "managed-by", "Value": "okta-aws"} in got["Tags"]


def test_role_lifecycle_is_idempotent_and_converges_every_attribute(aws: AwsKit) -> None:
    provider = aws.provider()
    iam = aws.iam(ACCOUNT)
    role = aws.role(ACCOUNT, "Admin", policies=(ADMIN, READ_ONLY), description="admins")
    changed = dataclasses.replace(
        role,
        managed_policies=frozenset({READ_ONLY, IAM_FULL}),
        max_session_duration=14400,
        description="",
        trust_policy=saml_trust_policy(account_id=ACCOUNT, provider_name="OtherIdP"),
    )

    assert provider.execute(change(Action.CREATE, role)) is Outcome.CREATED
    assert live_role(iam, "Admin") == {
        "trust": role.trust_policy,
        "policies": {ADMIN, READ_ONLY},
        "max": 3600,
        "description": "admins",
        "tags": {"managed-by": "okta-aws"},
    }
    assert provider.execute(change(Action.CREATE, role)) is Outcome.UNCHANGED
    assert provider.execute(change(Action.UPDATE, role, before=role)) is Outcome.UNCHANGED
    assert provider.execute(change(Action.UPDATE, changed, before=role)) is Outcome.UPDATED
    assert live_role(iam, "Admin") == {
        "trust": changed.trust_policy,
        "policies": {READ_ONLY, IAM_FULL},
        "max": 14400,
        "description": "",
        "tags": {"managed-by": "okta-aws"},
    }
    assert provider.execute(change(Action.UPDATE, changed, before=role)) is Outcome.UNCHANGED
    assert provider.execute(change(Action.DELETE, changed)) is Outcome.DELETED
    assert "Admin" not in role_names(iam)
    assert provider.execute(change(Action.DELETE, changed)) is Outcome.UNCHANGED


def test_update_keeps_the_live_spelling_of_a_role_name(aws: AwsKit) -> None:
    iam = aws.iam(ACCOUNT)
    provider = aws.provider()
    live = aws.role(ACCOUNT, "admin", policies=())
    provider.execute(change(Action.CREATE, live))
    desired = aws.role(ACCOUNT, "Admin", policies=(READ_ONLY,))

    outcome = provider.execute(change(Action.UPDATE, desired, before=live))

    assert outcome is Outcome.UPDATED
    assert role_names(iam) == {"admin"}
    assert live_role(iam, "admin")["policies"] == {READ_ONLY}


def test_deleting_a_role_removes_what_blocks_deletion(aws: AwsKit) -> None:
    iam = aws.iam(ACCOUNT)
    provider = aws.provider()
    role = aws.role(ACCOUNT, "Old", policies=(ADMIN, READ_ONLY))
    provider.execute(change(Action.CREATE, role))
    iam.put_role_policy(RoleName="Old", PolicyName="inline", PolicyDocument=INLINE)
    iam.create_instance_profile(InstanceProfileName="old-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="old-profile", RoleName="Old")

    assert provider.execute(change(Action.DELETE, role)) is Outcome.DELETED

    assert "Old" not in role_names(iam)
    profile = iam.get_instance_profile(InstanceProfileName="old-profile")["InstanceProfile"]
    assert profile["Roles"] == []


def _untagged_role(iam: IAMClient, name: str) -> None:
    iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=saml_trust_policy(account_id=ACCOUNT, provider_name="OKTA"),
        Description="made by hand",
    )
    iam.attach_role_policy(RoleName=name, PolicyArn=ADMIN)


@pytest.mark.parametrize("action", [Action.CREATE, Action.UPDATE, Action.DELETE])
def test_an_untagged_role_is_never_changed_or_deleted(aws: AwsKit, action: Action) -> None:
    iam = aws.iam(ACCOUNT)
    _untagged_role(iam, "Manual")
    before = live_role(iam, "Manual")
    # Even when the plan (wrongly) claims it is ours: the live tag decides.
    claimed = aws.role(ACCOUNT, "Manual", policies=(READ_ONLY,))

    with pytest.raises(AwsRefused, match=f"account {ACCOUNT}.*role Manual"):
        aws.provider().execute(change(action, claimed, before=claimed))

    assert live_role(iam, "Manual") == before


def test_a_delete_of_a_role_the_plan_read_as_unmanaged_is_refused(aws: AwsKit) -> None:
    # Defence in depth the other way round: tagged live, but the plan says not ours.
    provider = aws.provider()
    role = aws.role(ACCOUNT, "Admin")
    provider.execute(change(Action.CREATE, role))

    with pytest.raises(AwsRefused):
        provider.execute(change(Action.DELETE, dataclasses.replace(role, managed=False)))

    assert "Admin" in role_names(aws.iam(ACCOUNT))


def test_adopting_a_role_tags_it_and_converges_it(aws: AwsKit) -> None:
    iam = aws.iam(ACCOUNT)
    _untagged_role(iam, "Manual")
    desired = aws.role(ACCOUNT, "Manual", policies=(READ_ONLY,), adopt=True)
    before = dataclasses.replace(desired, managed=False, adopt=False)

    outcomes = [aws.provider().execute(change(Action.UPDATE, desired, before=before))]
    outcomes.append(aws.provider().execute(change(Action.UPDATE, desired, before=desired)))

    assert outcomes == [Outcome.UPDATED, Outcome.UNCHANGED]
    assert live_role(iam, "Manual") == {
        "trust": desired.trust_policy,
        "policies": {READ_ONLY},
        "max": 3600,
        "description": "",
        "tags": {"managed-by": "okta-aws"},
    }


@pytest.mark.parametrize(
    ("action", "adopt", "expected"),
    [
        (Action.UPDATE, False, AwsRefused),
        (Action.CREATE, False, AwsRefused),
        (Action.DELETE, False, AwsRefused),
        (Action.UPDATE, True, Outcome.UPDATED),
    ],
)
def test_an_untagged_saml_provider_is_changed_only_when_adopted(
    aws: AwsKit, action: Action, adopt: bool, expected: Any
) -> None:
    iam = aws.iam(ACCOUNT)
    arn = iam.create_saml_provider(Name="OKTA", SAMLMetadataDocument=aws.metadata)[
        "SAMLProviderArn"
    ]
    desired = dataclasses.replace(
        aws.saml_provider(ACCOUNT, metadata=aws.metadata.replace("V0002", "V7777")), adopt=adopt
    )

    if isinstance(expected, Outcome):
        assert aws.provider().execute(change(action, desired)) is expected
        got = iam.get_saml_provider(SAMLProviderArn=arn)
        assert metadata_digest(got["SAMLMetadataDocument"]) == desired.metadata_sha256
        assert {"Key": "managed-by", "Value": "okta-aws"} in got["Tags"]
    else:
        with pytest.raises(expected, match="saml-provider OKTA"):
            aws.provider().execute(change(action, desired))
        got = iam.get_saml_provider(SAMLProviderArn=arn)
        assert got["SAMLMetadataDocument"] == aws.metadata and got["Tags"] == []


def test_invalid_principal_right_after_the_provider_is_retried(aws: AwsKit) -> None:
    fault = aws.faults.add(
        "before-send.iam.CreateRole",
        code="MalformedPolicyDocument",
        message="Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException",
        times=2,
    )
    provider = aws.provider()

    outcome = provider.execute(change(Action.CREATE, aws.role(ACCOUNT, "Admin")))

    assert outcome is Outcome.CREATED and fault.injected == 2
    assert "Admin" in role_names(aws.iam(ACCOUNT))
    # Each wait-and-retry is a new call (not an SDK retry): 3 CreateRole calls.
    assert provider.calls.total(scope=ACCOUNT, operation="CreateRole") == 3
    assert provider.calls.errors(scope=ACCOUNT, operation="CreateRole") == 2


def test_invalid_principal_that_persists_fails_with_a_clear_error(aws: AwsKit) -> None:
    aws.faults.add(
        "before-send.iam.CreateRole",
        code="MalformedPolicyDocument",
        message="Invalid principal in policy",
        times=100,
    )

    with pytest.raises(AwsError, match=f"account {ACCOUNT}: role Admin: MalformedPolicyDocument"):
        aws.provider().execute(change(Action.CREATE, aws.role(ACCOUNT, "Admin")))


def test_other_policy_errors_are_not_retried(aws: AwsKit) -> None:
    fault = aws.faults.add(
        "before-send.iam.CreateRole",
        code="MalformedPolicyDocument",
        message="Syntax errors in policy",
        times=100,
    )

    with pytest.raises(AwsError, match="Syntax errors"):
        aws.provider().execute(change(Action.CREATE, aws.role(ACCOUNT, "Admin")))
    assert fault.injected == 1


def test_an_unknown_policy_fails_naming_account_role_and_policy(aws: AwsKit) -> None:
    missing = "arn:aws:iam::aws:policy/NoSuchPolicy"
    role = aws.role(ACCOUNT, "Admin", policies=(missing,))

    with pytest.raises(AwsError, match=f"account {ACCOUNT}: role Admin: .*NoSuchPolicy"):
        aws.provider().execute(change(Action.CREATE, role))


def test_throttling_during_execution_is_retried_and_counted(aws: AwsKit) -> None:
    aws.faults.throttle("before-send.iam.CreateRole", times=1)
    aws.faults.throttle("before-send.iam.AttachRolePolicy", times=1)
    provider = aws.provider()

    outcome = provider.execute(change(Action.CREATE, aws.role(ACCOUNT, "Admin")))

    assert outcome is Outcome.CREATED
    assert live_role(aws.iam(ACCOUNT), "Admin")["policies"] == {READ_ONLY}
    assert provider.calls.retries(scope=ACCOUNT) == 2
    assert provider.calls.total(scope=ACCOUNT, operation="CreateRole") == 1
    assert provider.calls.writes(scope=ACCOUNT) == 2  # CreateRole, AttachRolePolicy


def test_a_change_of_another_system_is_refused(aws: AwsKit) -> None:
    from engine.model import AppAssignment

    assignment = AppAssignment("active_directory", "DevOps")
    wrong = Change(
        kind=ResourceKind.APP_ASSIGNMENT,
        action=Action.CREATE,
        key=assignment.key,
        after=assignment,
    )

    with pytest.raises(AwsError, match="not an AWS change"):
        aws.provider().execute(wrong)
