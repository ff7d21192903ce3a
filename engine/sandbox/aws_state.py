"""The sandbox's AWS accounts as data: replayed into moto at start, read back at the end.

moto keeps IAM in process memory, so between CLI invocations the accounts live in
`.sandbox/aws.json`. Both directions go through moto's HTTP API with plain boto3 clients
(AssumeRole into each account, exactly as the engine reaches it) that are *not* the
engine's instrumented ones, so the engine's call counts only see the command's own calls.

Kept per account: SAML providers (metadata, tags) and roles (path, trust policy,
description, max session duration, attached managed policies, inline policies, tags).
Customer-managed policies, users and groups are not kept: the engine never touches them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import boto3
from botocore.config import Config

from engine.sandbox.persist import AWS_FILE, read_json, write_json

if TYPE_CHECKING:
    from pathlib import Path

    from mypy_boto3_iam import IAMClient
    from mypy_boto3_sts import STSClient

REGION = "us-east-1"
ACCESS_KEY_ID = "sandbox-access-key"  # moto accepts any; dummies, not secrets
SECRET_ACCESS_KEY = "sandbox-secret-key"
_SESSION_NAME = "okta-aws-sandbox"
_FORMAT = "okta-aws-sandbox-aws"
_WORKERS = 2


@dataclass(frozen=True)
class ProviderRecord:
    name: str
    metadata: str
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RoleRecord:
    name: str
    trust_policy: Mapping[str, Any]
    managed_policies: tuple[str, ...] = ()
    inline_policies: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    max_session_duration: int = 3600
    path: str = "/"
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountRecord:
    account_id: str
    saml_providers: tuple[ProviderRecord, ...] = ()
    roles: tuple[RoleRecord, ...] = ()


AwsState = dict[str, AccountRecord]
"""Account id → what it holds."""


# --- files ---------------------------------------------------------------------------------


def save_aws(root: Path, state: AwsState) -> None:
    accounts = {
        account_id: {
            "saml_providers": [
                {"name": p.name, "metadata": p.metadata, "tags": dict(p.tags)}
                for p in sorted(record.saml_providers, key=lambda p: p.name)
            ],
            "roles": [
                {
                    "name": r.name,
                    "path": r.path,
                    "trust_policy": r.trust_policy,
                    "description": r.description,
                    "max_session_duration": r.max_session_duration,
                    "managed_policies": sorted(r.managed_policies),
                    "inline_policies": dict(r.inline_policies),
                    "tags": dict(r.tags),
                }
                for r in sorted(record.roles, key=lambda r: r.name.lower())
            ],
        }
        for account_id, record in sorted(state.items())
    }
    write_json(root / AWS_FILE, format_name=_FORMAT, body={"accounts": accounts})


def load_aws(root: Path) -> AwsState:
    document = read_json(root / AWS_FILE, format_name=_FORMAT)
    state: AwsState = {}
    for account_id, raw in document["accounts"].items():
        state[account_id] = AccountRecord(
            account_id=account_id,
            saml_providers=tuple(
                ProviderRecord(name=p["name"], metadata=p["metadata"], tags=dict(p["tags"]))
                for p in raw["saml_providers"]
            ),
            roles=tuple(
                RoleRecord(
                    name=r["name"],
                    path=r["path"],
                    trust_policy=r["trust_policy"],
                    description=r["description"],
                    max_session_duration=int(r["max_session_duration"]),
                    managed_policies=tuple(r["managed_policies"]),
                    inline_policies=dict(r["inline_policies"]),
                    tags=dict(r["tags"]),
                )
                for r in raw["roles"]
            ),
        )
    return state


# --- moto ------------------------------------------------------------------------------------


class AccountIam:
    """Un-instrumented IAM clients per account, by AssumeRole (as an operator would)."""

    def __init__(self, *, endpoint_url: str, access_role: str) -> None:
        self._session = boto3.Session(
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            region_name=REGION,
        )
        self._endpoint_url = endpoint_url
        self._access_role = access_role
        self._config = Config(retries={"mode": "standard", "max_attempts": 3})
        self._lock = threading.Lock()
        self._sts: STSClient | None = None
        self._iam: dict[str, IAMClient] = {}

    def iam(self, account_id: str) -> IAMClient:
        """The account's client, made once (client creation costs ~20 ms in boto3)."""
        with self._lock:
            if account_id not in self._iam:
                self._iam[account_id] = self._assume(account_id)
            return self._iam[account_id]

    def close(self) -> None:
        with self._lock:
            for client in self._iam.values():
                client.close()
            if self._sts is not None:
                self._sts.close()
            self._iam.clear()
            self._sts = None

    def _assume(self, account_id: str) -> IAMClient:
        if self._sts is None:
            self._sts = self._session.client(
                "sts", endpoint_url=self._endpoint_url, config=self._config
            )
        credentials = self._sts.assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/{self._access_role}",
            RoleSessionName=_SESSION_NAME,
        )["Credentials"]
        return self._session.client(
            "iam",
            endpoint_url=self._endpoint_url,
            config=self._config,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )


def _tag_list(tags: Mapping[str, str]) -> list[Any]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def replay_aws(*, clients: AccountIam, state: AwsState) -> None:
    """Create every provider and role of `state` in moto (which must be empty).

    Accounts are replayed concurrently: each call waits on moto's HTTP round trip."""
    records = [r for _, r in sorted(state.items()) if r.saml_providers or r.roles]
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        list(
            pool.map(
                lambda record: _replay_account(clients.iam(record.account_id), record), records
            )
        )


def _replay_account(iam: IAMClient, record: AccountRecord) -> None:
    for provider in record.saml_providers:
        iam.create_saml_provider(
            Name=provider.name,
            SAMLMetadataDocument=provider.metadata,
            Tags=_tag_list(provider.tags),
        )
    for role in record.roles:
        iam.create_role(
            RoleName=role.name,
            Path=role.path,
            AssumeRolePolicyDocument=json.dumps(role.trust_policy),
            Description=role.description,
            MaxSessionDuration=role.max_session_duration,
            Tags=_tag_list(role.tags),
        )
        for arn in role.managed_policies:
            iam.attach_role_policy(RoleName=role.name, PolicyArn=arn)
        for name, document in role.inline_policies.items():
            iam.put_role_policy(
                RoleName=role.name, PolicyName=name, PolicyDocument=json.dumps(document)
            )


def moto_account_ids() -> list[str]:
    """Accounts moto has an IAM backend for (the server runs in this process)."""
    from moto.iam.models import iam_backends

    return sorted(str(account_id) for account_id in iam_backends)


def _policy(document: Any) -> Any:
    # boto3 parses policy documents into dicts, but moto can hand back URL-encoded text.
    if isinstance(document, str):
        return json.loads(unquote(document))
    return document


def read_account(iam: IAMClient, *, account_id: str) -> AccountRecord:
    providers: list[ProviderRecord] = []
    for listed in iam.list_saml_providers()["SAMLProviderList"]:
        arn = listed["Arn"]
        got = iam.get_saml_provider(SAMLProviderArn=arn)
        providers.append(
            ProviderRecord(
                name=arn.rsplit("/", 1)[1],
                metadata=got["SAMLMetadataDocument"],
                tags={t["Key"]: t["Value"] for t in got.get("Tags", [])},
            )
        )
    listed_roles: dict[str, Mapping[str, Any]] = {
        role["RoleName"]: dict(role)
        for page in iam.get_paginator("list_roles").paginate()
        for role in page["Roles"]
    }
    roles: list[RoleRecord] = []
    for page in iam.get_paginator("get_account_authorization_details").paginate(Filter=["Role"]):
        for detail in page["RoleDetailList"]:
            name = detail["RoleName"]
            listed_role: Mapping[str, Any] = listed_roles.get(name, {})
            roles.append(
                RoleRecord(
                    name=name,
                    path=detail.get("Path", "/"),
                    trust_policy=_policy(detail["AssumeRolePolicyDocument"]),
                    managed_policies=tuple(
                        sorted(p["PolicyArn"] for p in detail.get("AttachedManagedPolicies", []))
                    ),
                    inline_policies={
                        p["PolicyName"]: _policy(p["PolicyDocument"])
                        for p in detail.get("RolePolicyList", [])
                    },
                    description=str(listed_role.get("Description", "") or ""),
                    max_session_duration=int(listed_role.get("MaxSessionDuration", 3600)),
                    tags={t["Key"]: t["Value"] for t in detail.get("Tags", [])},
                )
            )
    return AccountRecord(account_id=account_id, saml_providers=tuple(providers), roles=tuple(roles))


def dump_aws(*, clients: AccountIam, account_ids: Iterable[str]) -> AwsState:
    """Read every account back; accounts holding nothing are left out."""
    wanted = sorted(set(account_ids))
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        records = pool.map(lambda a: read_account(clients.iam(a), account_id=a), wanted)
        return {r.account_id: r for r in records if r.saml_providers or r.roles}
