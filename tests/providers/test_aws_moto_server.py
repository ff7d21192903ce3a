"""The sandbox's moto server behaves like AWS where the engine depends on it
(engine/sandbox/moto_server.py): accounts kept apart, AWS managed policies, SAML
provider tags and name clashes, GetAccountAuthorizationDetails pages, reset."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_iam.type_defs import TagTypeDef

    from tests.providers.conftest import AwsKit

TAG: TagTypeDef = {"Key": "managed-by", "Value": "okta-aws"}
TEAM: TagTypeDef = {"Key": "team", "Value": "iam"}


def test_accounts_are_kept_apart_and_managed_policies_are_loaded(aws: AwsKit) -> None:
    first, second = (aws.iam(a) for a in aws.accounts[:2])
    first.create_role(RoleName="OnlyHere", AssumeRolePolicyDocument="{}")
    first.attach_role_policy(
        RoleName="OnlyHere", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"
    )

    assert [r["RoleName"] for r in first.list_roles()["Roles"]] == ["OnlyHere"]
    assert second.list_roles()["Roles"] == []
    policy = second.get_policy(PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")["Policy"]
    assert policy["PolicyName"] == "ReadOnlyAccess"


def test_saml_provider_tags_work_as_in_aws(aws: AwsKit) -> None:
    iam = aws.iam(aws.accounts[0])
    arn = iam.create_saml_provider(Name="OKTA", SAMLMetadataDocument=aws.metadata, Tags=[TAG])[
        "SAMLProviderArn"
    ]

    assert iam.get_saml_provider(SAMLProviderArn=arn)["Tags"] == [TAG]
    iam.tag_saml_provider(SAMLProviderArn=arn, Tags=[TEAM])
    assert iam.list_saml_provider_tags(SAMLProviderArn=arn)["Tags"] == [TAG, TEAM]
    iam.untag_saml_provider(SAMLProviderArn=arn, TagKeys=["managed-by"])
    assert iam.get_saml_provider(SAMLProviderArn=arn)["Tags"] == [TEAM]
    iam.delete_saml_provider(SAMLProviderArn=arn)
    # A provider re-created under the same name does not inherit the old tags.
    iam.create_saml_provider(Name="OKTA", SAMLMetadataDocument=aws.metadata)
    assert iam.get_saml_provider(SAMLProviderArn=arn)["Tags"] == []


def test_creating_an_existing_saml_provider_is_refused(aws: AwsKit) -> None:
    iam = aws.iam(aws.accounts[0])
    arn = iam.create_saml_provider(Name="OKTA", SAMLMetadataDocument=aws.metadata)[
        "SAMLProviderArn"
    ]

    with pytest.raises(ClientError) as caught:
        iam.create_saml_provider(Name="OKTA", SAMLMetadataDocument=aws.metadata.upper(), Tags=[TAG])

    assert caught.value.response["Error"]["Code"] == "EntityAlreadyExists"
    got = iam.get_saml_provider(SAMLProviderArn=arn)
    assert got["SAMLMetadataDocument"] == aws.metadata and got["Tags"] == []


@pytest.mark.parametrize(
    ("roles", "page", "pages"), [(0, 100, [0]), (5, 2, [2, 2, 1]), (150, 100, [100, 50])]
)
def test_account_authorization_details_come_in_pages(
    aws: AwsKit, roles: int, page: int, pages: list[int]
) -> None:
    iam = aws.iam(aws.accounts[0])
    for i in range(roles):
        iam.create_role(RoleName=f"R{i}", AssumeRolePolicyDocument="{}")

    got = list(
        iam.get_paginator("get_account_authorization_details").paginate(
            Filter=["Role"], PaginationConfig={"PageSize": page}
        )
    )

    assert [len(p["RoleDetailList"]) for p in got] == pages
    names = [r["RoleName"] for p in got for r in p["RoleDetailList"]]
    assert sorted(names) == sorted(f"R{i}" for i in range(roles))


def test_reset_forgets_every_account(aws: AwsKit) -> None:
    for account_id in aws.accounts:
        aws.iam(account_id).create_role(RoleName="Gone", AssumeRolePolicyDocument="{}")

    aws.server.reset()

    assert all(aws.iam(a).list_roles()["Roles"] == [] for a in aws.accounts)
