"""A plain boto3 IAM client for one account of a served sandbox, as a person would make
one: the sandbox's keys, then AssumeRole into the account's access role. Tests use it to
drift and to look, never through the engine's own AWS code."""

from __future__ import annotations

from typing import Any

import boto3

from engine.sandbox.world import SandboxEndpoints


def iam_client(ends: SandboxEndpoints, account_id: str, *, session: str = "test") -> Any:
    """An IAM client acting in `account_id` through OrganizationAccountAccessRole."""
    base = boto3.Session(
        aws_access_key_id=ends.aws_access_key_id,
        aws_secret_access_key=ends.aws_secret_access_key,
        region_name=ends.aws_region,
    )
    credentials = base.client("sts", endpoint_url=ends.aws_endpoint_url).assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
        RoleSessionName=session,
    )["Credentials"]
    return base.client(
        "iam",
        endpoint_url=ends.aws_endpoint_url,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
