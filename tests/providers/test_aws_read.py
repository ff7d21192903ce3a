"""Reading AWS accounts through AssumeRole against moto over HTTP: calls, normalization,
ownership and failures kept per account."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

import pytest

from engine.diff import diff
from engine.model import metadata_digest, saml_trust_policy
from engine.plan import PlanOptions
from engine.providers.aws import AwsProvider

if TYPE_CHECKING:
    from mypy_boto3_iam.type_defs import TagTypeDef

    from tests.providers.conftest import AwsKit

PAGE = 100  # small pages, so 150 roles need two of each listing


def _add_roles(kit: AwsKit, account_id: str, count: int) -> None:
    iam = kit.iam(account_id)
    trust = saml_trust_policy(account_id=account_id, provider_name=kit.provider_name)
    for i in range(count):
        iam.create_role(
            RoleName=f"Role{i:03d}",
            AssumeRolePolicyDocument=trust,
            Tags=[{"Key": kit.managed_tag[0], "Value": kit.managed_tag[1]}],
        )


def _expected_calls(*, accounts: int, roles: int, provider: bool, assume: bool) -> int:
    pages = max(1, math.ceil(roles / PAGE))  # an empty listing is still one call
    per_account = (
        int(assume)  # AssumeRole, once per account per run
        + 1  # ListSAMLProviders
        + int(provider)  # GetSAMLProvider, one per provider
        + pages  # GetAccountAuthorizationDetails(Filter=[Role])
        + pages  # ListRoles (MaxSessionDuration, Description)
    )
    return accounts * per_account


@pytest.mark.parametrize(
    ("accounts", "roles", "provider"),
    [(1, 0, True), (3, 0, True), (2, 0, False), (1, 5, True), (3, 5, True), (3, 150, True)],
)
def test_read_makes_the_minimum_number_of_calls(
    aws: AwsKit, accounts: int, roles: int, provider: bool
) -> None:
    ids = aws.accounts[:accounts]
    for account_id in ids:
        if provider:
            aws.iam(account_id).create_saml_provider(
                Name=aws.provider_name, SAMLMetadataDocument=aws.metadata
            )
        _add_roles(aws, account_id, roles)
    reader = aws.provider(page_size=PAGE)

    first = reader.read(accounts=ids)
    second = reader.read(accounts=ids)

    assert first.errors == () and first.accounts == frozenset(ids)
    assert len(first.roles) == accounts * roles
    assert len(first.saml_providers) == (accounts if provider else 0)
    assert first.call_count == _expected_calls(
        accounts=accounts, roles=roles, provider=provider, assume=True
    )
    # Credentials are cached for the run: a second read assumes nothing.
    assert second.call_count == _expected_calls(
        accounts=accounts, roles=roles, provider=provider, assume=False
    )
    assert set(second.roles) == set(first.roles)
    assert reader.calls.writes() == 0
    per_account = {key.scope for key in first.calls}
    assert per_account == set(ids)


def test_read_normalizes_so_a_converged_account_shows_no_change(aws: AwsKit) -> None:
    account_id = aws.accounts[0]
    iam = aws.iam(account_id)
    # Same provider metadata with other line endings and surrounding blanks.
    iam.create_saml_provider(
        Name=aws.provider_name,
        SAMLMetadataDocument="\n  " + aws.metadata.replace("\n", "\r\n") + "\n\n",
        Tags=[{"Key": aws.managed_tag[0], "Value": aws.managed_tag[1]}],
    )
    # The trust policy spelled differently: one statement as an object, a one-item
    # Action list, keys in another order.
    provider_arn = f"arn:aws:iam::{account_id}:saml-provider/{aws.provider_name}"
    trust = {
        "Statement": {
            "Condition": {"StringEquals": {"SAML:aud": ["https://signin.aws.amazon.com/saml"]}},
            "Action": ["sts:AssumeRoleWithSAML"],
            "Principal": {"Federated": provider_arn},
            "Effect": "Allow",
        },
        "Version": "2012-10-17",
    }
    iam.create_role(
        RoleName="Admin",
        AssumeRolePolicyDocument=json.dumps(trust, indent=4),
        MaxSessionDuration=7200,
        Description="administrators",
        Tags=[{"Key": aws.managed_tag[0], "Value": aws.managed_tag[1]}],
    )
    for arn in ("arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::aws:policy/IAMFullAccess"):
        iam.attach_role_policy(RoleName="Admin", PolicyArn=arn)
    desired = aws.desired(
        providers=[aws.saml_provider(account_id)],
        roles=[
            aws.role(
                account_id,
                "Admin",
                policies=(
                    "arn:aws:iam::aws:policy/IAMFullAccess",
                    "arn:aws:iam::aws:policy/ReadOnlyAccess",
                ),
                max_session_duration=7200,
                description="administrators",
            )
        ],
    )

    read = aws.provider().read(accounts=[account_id])

    (role,) = read.roles
    assert role.trust_policy == saml_trust_policy(
        account_id=account_id, provider_name=aws.provider_name
    )
    assert read.saml_providers[0].metadata_sha256 == metadata_digest(aws.metadata)
    plan = diff(desired=desired, live=read.to_world(), options=PlanOptions())
    assert plan.changes == () and plan.findings == ()


def test_inline_policy_names_are_read_from_the_same_listing_and_never_compared(
    aws: AwsKit,
) -> None:
    """GAAD's RoleDetail carries RolePolicyList: the names come with no extra call, and
    a plan ignores them (the model has no inline policies; `import` names such a role)."""
    account_id = aws.accounts[0]
    iam = aws.iam(account_id)
    iam.create_saml_provider(
        Name=aws.provider_name,
        SAMLMetadataDocument=aws.metadata,
        Tags=[{"Key": aws.managed_tag[0], "Value": aws.managed_tag[1]}],
    )
    _add_roles(aws, account_id, 2)
    document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
    )
    for name in ("s3-extra", "logs"):
        iam.put_role_policy(RoleName="Role001", PolicyName=name, PolicyDocument=document)

    read = aws.provider().read(accounts=[account_id])

    assert {r.name: r.inline_policies for r in read.roles} == {
        "Role000": frozenset(),
        "Role001": frozenset({"s3-extra", "logs"}),
    }
    assert read.call_count == _expected_calls(accounts=1, roles=2, provider=True, assume=True)
    desired = aws.desired(
        providers=[aws.saml_provider(account_id)],
        roles=[aws.role(account_id, f"Role{i:03d}", policies=()) for i in range(2)],
    )
    plan = diff(desired=desired, live=read.to_world(), options=PlanOptions())
    assert plan.changes == ()


@pytest.mark.parametrize(
    ("tags", "managed"),
    [
        ([("managed-by", "okta-aws")], True),
        ([("team", "iam"), ("managed-by", "okta-aws")], True),
        ([("managed-by", "terraform")], False),  # the key alone is not ownership
        ([("Managed-By", "okta-aws")], False),  # tag keys are case-sensitive
        ([], False),
    ],
)
def test_ownership_is_the_managed_tag(
    aws: AwsKit, tags: list[tuple[str, str]], managed: bool
) -> None:
    account_id = aws.accounts[0]
    iam = aws.iam(account_id)
    tag_list: list[TagTypeDef] = [{"Key": k, "Value": v} for k, v in tags]
    iam.create_saml_provider(
        Name=aws.provider_name,
        SAMLMetadataDocument=aws.metadata,
        Tags=tag_list,
    )
    iam.create_role(
        RoleName="Admin",
        AssumeRolePolicyDocument=saml_trust_policy(account_id=account_id, provider_name="OKTA"),
        Tags=tag_list,
    )

    read = aws.provider().read(accounts=[account_id])

    assert [r.managed for r in read.roles] == [managed]
    assert [p.managed for p in read.saml_providers] == [managed]


def test_every_provider_is_read_with_its_ownership(aws: AwsKit) -> None:
    """Another IdP's provider is read as not ours; one we made under an earlier
    `saml_provider.name` is read as ours (so a rename can prune it). One
    GetSAMLProvider per provider."""
    account_id = aws.accounts[0]
    iam = aws.iam(account_id)
    iam.create_saml_provider(Name="OtherIdP", SAMLMetadataDocument=aws.metadata)
    iam.create_saml_provider(
        Name="OktaBeforeRename",
        SAMLMetadataDocument=aws.metadata,
        Tags=[{"Key": aws.managed_tag[0], "Value": aws.managed_tag[1]}],
    )

    read = aws.provider().read(accounts=[account_id])

    assert {(p.name, p.managed) for p in read.saml_providers} == {
        ("OtherIdP", False),
        ("OktaBeforeRename", True),
    }
    assert all(p.metadata_sha256 for p in read.saml_providers)
    gets = [k for k in read.calls if k.operation == "GetSAMLProvider"]
    assert sum(read.calls[k].calls for k in gets) == 2


def test_an_account_that_cannot_be_assumed_is_an_error_and_the_others_are_read(
    aws: AwsKit,
) -> None:
    broken = aws.accounts[1]
    for account_id in aws.accounts:
        _add_roles(aws, account_id, 2)
    aws.faults.add(
        "before-send.sts.AssumeRole",
        code="AccessDenied",
        message="User is not authorized to perform: sts:AssumeRole",
        times=100,
        body_contains=broken,
    )

    read = aws.provider().read(accounts=aws.accounts)

    assert [e.account_id for e in read.errors] == [broken]
    message = read.errors[0].message
    assert broken in message and aws.access_role in message and "AccessDenied" in message
    assert read.accounts == frozenset(aws.accounts) - {broken}
    assert {r.account_id for r in read.roles} == set(aws.accounts) - {broken}
    assert broken not in read.to_world().accounts


def test_a_failing_listing_is_an_error_of_that_account_only(aws: AwsKit) -> None:
    aws.faults.add("before-send.iam.ListRoles", code="AccessDenied", message="not allowed", times=1)

    read = aws.provider(concurrency=1).read(accounts=aws.accounts[:2])

    assert len(read.errors) == 1
    failed = read.errors[0].account_id
    assert failed in read.errors[0].message and "AccessDenied" in read.errors[0].message
    assert read.accounts == frozenset(aws.accounts[:2]) - {failed}
    assert sum(s.errors for s in read.calls.values()) == 1


def test_throttling_during_read_is_retried_and_counted(aws: AwsKit) -> None:
    account_id = aws.accounts[0]
    _add_roles(aws, account_id, 3)
    throttled = [
        aws.faults.throttle("before-send.iam.GetAccountAuthorizationDetails", times=2),
        aws.faults.throttle("before-send.iam.ListSAMLProviders", times=1),
    ]
    reader = aws.provider(max_attempts=5)

    read = reader.read(accounts=[account_id])

    assert read.errors == ()
    assert len(read.roles) == 3
    assert [f.injected for f in throttled] == [2, 1]
    assert read.retry_count == 3
    assert reader.calls.retries(scope=account_id, operation="GetAccountAuthorizationDetails") == 2
    # Retries are attempts, not calls: the count of calls is still the minimum.
    assert read.call_count == _expected_calls(accounts=1, roles=3, provider=False, assume=True)


def test_throttling_beyond_max_attempts_is_an_account_error(aws: AwsKit) -> None:
    fault = aws.faults.throttle("before-send.iam.ListSAMLProviders", times=1000)

    read = aws.provider(max_attempts=2).read(accounts=aws.accounts[:1])

    assert [e.account_id for e in read.errors] == [aws.accounts[0]]
    assert "Throttling" in read.errors[0].message
    assert fault.injected == 2  # max_attempts counts the first attempt
    assert read.retry_count == 1


def test_per_service_endpoint_variables_are_honoured(
    aws: AwsKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The generic endpoint goes nowhere (discard port, refused): only the per-service
    # variables can make this read work.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ENDPOINT_URL_IAM", aws.server.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", aws.server.endpoint_url)
    working = aws.provider(max_attempts=1, session=None).read(accounts=aws.accounts[:2])
    monkeypatch.delenv("AWS_ENDPOINT_URL_STS")
    broken = aws.provider(max_attempts=1, session=None).read(accounts=aws.accounts[:2])

    assert working.errors == () and working.accounts == frozenset(aws.accounts[:2])
    assert {e.account_id for e in broken.errors} == set(aws.accounts[:2])
    assert all("cannot assume" in e.message for e in broken.errors), broken.errors


def test_many_accounts_read_concurrently_give_the_same_world(aws: AwsKit) -> None:
    ids = [f"{n:012d}" for n in range(100000000001, 100000000013)]
    for n, account_id in enumerate(ids):
        _add_roles(aws, account_id, n % 3)

    serial = aws.provider(concurrency=1).read(accounts=ids)
    parallel = aws.provider(concurrency=6).read(accounts=ids)

    assert serial.errors == parallel.errors == ()
    assert serial.to_world() == parallel.to_world()
    assert len(parallel.roles) == sum(n % 3 for n in range(len(ids)))
    assert parallel.call_count == serial.call_count


@pytest.mark.parametrize(
    ("concurrency", "max_attempts", "page_size"),
    [(0, 5, 100), (8, 0, 100), (8, 5, 0), (8, 5, 1001)],
)
def test_impossible_settings_are_refused(
    concurrency: int, max_attempts: int, page_size: int
) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        AwsProvider(
            access_role="OrganizationAccountAccessRole",
            managed_tag=("k", "v"),
            concurrency=concurrency,
            max_attempts=max_attempts,
            page_size=page_size,
        )
