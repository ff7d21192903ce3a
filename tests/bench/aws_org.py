"""The reference org's AWS accounts in moto, and the fewest IAM calls a read needs.

Seeding writes what `apply` would leave behind in each account (the SAML provider and
the roles, tagged as ours, policies attached) through moto's HTTP API with plain boto3
clients, so the engine's counters see only the read being measured. Accounts are
seeded in increments: measuring 50, then 100, then 200 accounts seeds 200 in all.

`minimum_calls` is the yardstick of docs/architecture.md §Performance targets: per
account, ListSAMLProviders and GetSAMLProvider (one page each), the pages of the two
role listings IAM offers (GetAccountAuthorizationDetails for trust policies, policies
and tags; ListRoles for MaxSessionDuration and Description, which the former lacks) at
IAM's largest page of 1,000, and one AssumeRole: nothing in another account can be read
without it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from engine.model import World
from engine.providers.aws_read import MAX_PAGE_SIZE
from tests.bench.orgs import pages

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

ACCESS_ROLE = "OrganizationAccountAccessRole"
MANAGED_TAG = ("managed-by", "okta-aws")
REGION = "us-east-1"
DUMMY_KEY = "bench"  # moto accepts any credentials


def plain_session() -> boto3.Session:
    return boto3.Session(
        region_name=REGION, aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_KEY
    )


class Seeder:
    """Creates accounts' providers and roles in moto, a few accounts at a time."""

    def __init__(self, *, endpoint_url: str, desired: World, threads: int = 4) -> None:
        self._url = endpoint_url
        self._desired = desired
        self._threads = threads
        self._session = plain_session()
        self._config = Config(
            retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=threads * 2
        )
        self._sts = self._session.client("sts", endpoint_url=endpoint_url, config=self._config)
        self.seeded: set[str] = set()

    def _iam(self, account_id: str) -> IAMClient:
        credentials = self._sts.assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/{ACCESS_ROLE}", RoleSessionName="bench-seed"
        )["Credentials"]
        return self._session.client(
            "iam",
            endpoint_url=self._url,
            config=self._config,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    def _seed(self, account_id: str) -> None:
        iam = self._iam(account_id)
        tags: Any = [{"Key": MANAGED_TAG[0], "Value": MANAGED_TAG[1]}]
        for provider in self._desired.saml_providers.values():
            if provider.account_id == account_id:
                iam.create_saml_provider(
                    Name=provider.name, SAMLMetadataDocument=provider.metadata, Tags=tags
                )
        for role in self._desired.roles.values():
            if role.account_id != account_id:
                continue
            iam.create_role(
                RoleName=role.name,
                AssumeRolePolicyDocument=role.trust_policy,
                Description=role.description,
                MaxSessionDuration=role.max_session_duration,
                Tags=tags,
            )
            for arn in sorted(role.managed_policies):
                iam.attach_role_policy(RoleName=role.name, PolicyArn=arn)

    def ensure(self, accounts: Iterable[str]) -> None:
        """Seed the accounts not seeded yet."""
        todo = sorted(set(accounts) - self.seeded)
        with ThreadPoolExecutor(max_workers=self._threads) as pool:
            list(pool.map(self._seed, todo))
        self.seeded.update(todo)


def minimum_calls(*, desired: World, accounts: Sequence[str]) -> dict[str, int]:
    """The fewest calls a complete read of `accounts` needs, by operation."""
    roles: dict[str, int] = dict.fromkeys(accounts, 0)
    for role in desired.roles.values():
        if role.account_id in roles:
            roles[role.account_id] += 1
    providers = {p.account_id for p in desired.saml_providers.values()}
    return {
        "AssumeRole": len(accounts),
        "ListSAMLProviders": len(accounts),
        "GetSAMLProvider": sum(1 for a in accounts if a in providers),
        "GetAccountAuthorizationDetails": sum(pages(n, MAX_PAGE_SIZE) for n in roles.values()),
        "ListRoles": sum(pages(n, MAX_PAGE_SIZE) for n in roles.values()),
    }


def data_calls(by_operation: Mapping[str, int]) -> int:
    """Calls that fetch pages (AssumeRole only fetches credentials)."""
    return sum(n for op, n in by_operation.items() if op != "AssumeRole")


def latency_hook(seconds: float) -> Callable[..., None]:
    """A botocore `before-send` handler that holds every request for `seconds` (returns
    None, so the request then goes out as usual): per-call latency, as from far away."""

    def handler(**_: Any) -> None:
        time.sleep(seconds)

    return handler
