"""The AWS provider: reads the AWS part of the live world and executes AWS changes.

It decides nothing (that is `diff`'s job); it reaches each account by AssumeRole
(`aws_clients`), reads SAML providers and roles in about four calls per account,
concurrently (`aws_read`), normalizes them into `model` objects, and executes one
`plan.Change` at a time, idempotently (`aws_execute`).

Failures are data where the caller needs to keep going: an account that cannot be
assumed or read becomes an `AccountError` in `AwsRead.errors` (apply/diff turn it into
a READ_ERROR finding) while the other accounts are still read. `execute` returns an
`Outcome` for every expected condition and raises `AwsError` (with a message naming
the account and resource) for anything else; `AwsRefused` when asked to change or
delete a resource without the managed tag.

Ownership: a live role or SAML provider is `managed` iff it carries the managed tag
(settings.aws.managed_tag, key and value). For providers the tags come back with
GetSAMLProvider, so ownership costs no extra call. (moto 5.2.5 drops provider tags;
`engine/sandbox/moto_server.py` corrects that, so the sandbox behaves like AWS.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import boto3

from engine.model import Role, SamlProvider, System, World
from engine.plan import Action, Change, Finding, FindingKind, Outcome, ResourceKind
from engine.providers.aws_clients import (
    AccountClients,
    AssumeRoleError,
    AwsError,
    AwsRefused,
    describe_error,
)
from engine.providers.aws_execute import (
    DEFAULT_CONSISTENCY_DELAYS,
    IamTarget,
    delete_provider,
    delete_role,
    ensure_provider,
    ensure_role,
)
from engine.providers.aws_read import MAX_PAGE_SIZE, AccountSnapshot, read_account
from engine.providers.calls import CallCounter, CallKey, CallStats, CallTotals

__all__ = [
    "AccountError",
    "AssumeRoleError",
    "AwsError",
    "AwsProvider",
    "AwsRead",
    "AwsRefused",
]


class AccountError(NamedTuple):
    """An account that could not be read, and why (no credentials are ever included)."""

    account_id: str
    message: str


@dataclass(frozen=True)
class AwsRead(CallTotals):
    """What one read found. `accounts` holds only the accounts read completely."""

    saml_providers: tuple[SamlProvider, ...] = ()
    roles: tuple[Role, ...] = ()
    accounts: frozenset[str] = frozenset()
    errors: tuple[AccountError, ...] = ()
    calls: Mapping[CallKey, CallStats] = field(default_factory=dict)

    def findings(self) -> tuple[Finding, ...]:
        """A READ_ERROR finding (blocking) for each account that could not be read."""
        return tuple(
            Finding(FindingKind.READ_ERROR, System.AWS, f"account {e.account_id}", e.message)
            for e in self.errors
        )

    def to_world(self) -> World:
        """The AWS part of the live world (merge it with the other providers' parts)."""
        return World.build(
            saml_providers=self.saml_providers,
            roles=self.roles,
            accounts=self.accounts,
            systems=(System.AWS,),
        )


class AwsProvider:
    """Reads and changes IAM SAML providers and roles across many accounts."""

    def __init__(
        self,
        *,
        access_role: str,
        managed_tag: tuple[str, str],
        concurrency: int = 8,
        max_attempts: int = 5,
        session: boto3.Session | None = None,
        calls: CallCounter | None = None,
        page_size: int = MAX_PAGE_SIZE,
        consistency_delays: Sequence[float] = DEFAULT_CONSISTENCY_DELAYS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`session` supplies the base credentials (default: the standard chain);
        `concurrency` bounds the accounts read at once; `max_attempts` is per call,
        the first attempt included (botocore adaptive retries: throttling, 5xx);
        `page_size` is MaxItems for the role listings (IAM's maximum by default);
        `consistency_delays` are the waits between retries of a trust policy IAM
        refuses as "Invalid principal" right after the provider was created."""
        if concurrency < 1 or max_attempts < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError("concurrency, max_attempts ≥ 1 and 1 ≤ page_size ≤ 1000")
        self.managed_tag = managed_tag
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.calls = calls if calls is not None else CallCounter()
        self._page_size = page_size
        self._consistency_delays = tuple(consistency_delays)
        self._sleep = sleep
        self._clients = AccountClients(
            session=session if session is not None else boto3.Session(),
            access_role=access_role,
            max_attempts=max_attempts,
            counter=self.calls,
            max_pool_connections=max(10, concurrency),
        )

    # --- read ------------------------------------------------------------------------

    def read(self, *, accounts: Iterable[str]) -> AwsRead:
        """Read every account (concurrently); a failing account never stops the others."""
        wanted = sorted(set(accounts))
        before = self.calls.snapshot()

        def one(account_id: str) -> AccountSnapshot | AccountError:
            try:
                return read_account(
                    self._clients.iam(account_id),
                    account_id=account_id,
                    managed_tag=self.managed_tag,
                    page_size=self._page_size,
                )
            except AssumeRoleError as exc:
                return AccountError(account_id, str(exc))
            except Exception as exc:  # reported against this account; others go on
                return AccountError(account_id, f"account {account_id}: {describe_error(exc)}")

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            results = dict(zip(wanted, pool.map(one, wanted), strict=True))
        providers: list[SamlProvider] = []
        roles: list[Role] = []
        errors: list[AccountError] = []
        for result in results.values():
            if isinstance(result, AccountError):
                errors.append(result)
            else:
                providers.extend(result.saml_providers)
                roles.extend(result.roles)
        return AwsRead(
            saml_providers=tuple(providers),
            roles=tuple(roles),
            accounts=frozenset(a for a, r in results.items() if not isinstance(r, AccountError)),
            errors=tuple(errors),
            calls=self.calls.since(before, system=System.AWS.value, scopes=set(wanted)),
        )

    # --- execute ---------------------------------------------------------------------

    def execute(self, change: Change) -> Outcome:
        """Carry out one SAML_PROVIDER or ROLE change (see aws_execute for outcomes)."""
        resource = change.resource
        if not isinstance(resource, SamlProvider | Role):
            raise AwsError(f"not an AWS change: {change.id}")
        target = IamTarget(
            iam=self._clients.iam(resource.account_id),
            account_id=resource.account_id,
            managed_tag=self.managed_tag,
            consistency_delays=self._consistency_delays,
            sleep=self._sleep,
        )
        if change.kind is ResourceKind.SAML_PROVIDER and isinstance(resource, SamlProvider):
            if change.action is Action.DELETE:
                return delete_provider(target, resource)
            return ensure_provider(target, resource, create_first=change.action is Action.CREATE)
        if change.kind is ResourceKind.ROLE and isinstance(resource, Role):
            if change.action is Action.DELETE:
                return delete_role(target, resource)
            goal = resource
            if change.before is not None and isinstance(change.before, Role):
                # Keep the live spelling: IAM names are case-insensitive but not renameable.
                goal = _renamed(resource, change.before.name)
            return ensure_role(target, goal, create_first=change.action is Action.CREATE)
        raise AwsError(f"{change.id}: kind {change.kind.value} does not match its resource")


def _renamed(role: Role, name: str) -> Role:
    return role if role.name == name else replace(role, name=name)
