"""IAM clients per AWS account: AssumeRole, credential caching, retries, call counting.

Every account is reached the same way an operator would: from the standard credential
chain (AWS_PROFILE, environment, instance role) by STS AssumeRole into
`arn:aws:iam::<id>:role/<access_role>`. Endpoints come from botocore itself, which
honours AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_IAM and AWS_ENDPOINT_URL_STS; that is how
the sandbox and the tests reach moto.

Throttling is botocore's job (retry mode `adaptive`: backoff plus a client-side rate
limiter per client, i.e. per account, matching IAM's per-account quotas). What we add
is visibility: botocore event hooks count each call once, each extra attempt as a
retry and each final failure as an error, per account, into a `CallCounter`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from engine.model import System
from engine.providers.calls import CallCounter

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_sts import STSClient

DEFAULT_REGION = "us-east-1"  # IAM is global; STS needs some region to sign for
SESSION_NAME = "okta-aws"
# Assumed credentials are replaced this long before they expire, so a long apply never
# starts a call with credentials about to lapse.
REFRESH_MARGIN = timedelta(minutes=5)
_SCOPE = "okta_aws_scope"  # our key in botocore's per-request context


class AwsError(Exception):
    """An AWS failure the engine did not expect; the message names the account and what."""

    def __init__(self, message: str, *, account_id: str | None = None) -> None:
        super().__init__(message)
        self.account_id = account_id


class AssumeRoleError(AwsError):
    """The account's access role could not be assumed (so nothing in it can be read)."""


class AwsRefused(AwsError):
    """Executing the change would touch something that is not ours (no managed tag)."""


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def describe_error(exc: Exception) -> str:
    """`Code: message` for AWS errors, the plain text otherwise; never credentials."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


def account_of_role_arn(arn: str) -> str:
    """`arn:aws:iam::111111111111:role/X` → `111111111111` ('' when it is not one)."""
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 else ""


class _CallHooks:
    """botocore event handlers that count one client's calls into a CallCounter."""

    def __init__(self, counter: CallCounter, scope: Callable[[Mapping[str, Any]], str]) -> None:
        self._counter = counter
        self._scope = scope

    def register(self, events: Any, service: str) -> None:
        events.register(f"before-parameter-build.{service}", self._before_parameter_build)
        events.register(f"before-call.{service}", self._before_call)
        events.register(f"request-created.{service}", self._request_created)
        events.register(f"after-call.{service}", self._after_call)
        events.register(f"after-call-error.{service}", self._after_call_error)

    def _record(
        self,
        context: Mapping[str, Any],
        operation: str,
        *,
        calls: int = 1,
        retries: int = 0,
        errors: int = 0,
    ) -> None:
        self._counter.record(
            system=System.AWS.value,
            scope=str(context.get(_SCOPE, "")),
            operation=operation,
            calls=calls,
            retries=retries,
            errors=errors,
        )

    def _before_parameter_build(
        self, params: Mapping[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        context[_SCOPE] = self._scope(params)

    def _before_call(self, model: Any, context: Mapping[str, Any], **_: Any) -> None:
        self._record(context, model.name)

    def _request_created(self, request: Any, operation_name: str, **_: Any) -> None:
        # Emitted for every attempt; botocore numbers them in the request context.
        context = getattr(request, "context", {}) or {}
        if context.get("retries", {}).get("attempt", 1) > 1:
            self._record(context, operation_name, calls=0, retries=1)

    def _after_call(
        self, http_response: Any, model: Any, context: Mapping[str, Any], **_: Any
    ) -> None:
        if http_response.status_code >= 300:
            self._record(context, model.name, calls=0, errors=1)

    def _after_call_error(self, event_name: str, context: Mapping[str, Any], **_: Any) -> None:
        # Emitted (without the model) when no response came back at all, e.g. refused.
        self._record(context, event_name.rsplit(".", 1)[-1], calls=0, errors=1)


@dataclass
class _Cached:
    client: IAMClient
    expires: datetime | None


class AccountClients:
    """One IAM client per account, from assumed-role credentials cached for the run.

    Thread-safe: accounts are read concurrently and apply runs changes in parallel.
    """

    def __init__(
        self,
        *,
        session: boto3.Session,
        access_role: str,
        max_attempts: int,
        counter: CallCounter,
        max_pool_connections: int = 10,
    ) -> None:
        self._session = session
        self._access_role = access_role
        self._counter = counter
        self._region = session.region_name or DEFAULT_REGION
        self._config = Config(
            # total_max_attempts counts the first attempt (as AWS_MAX_ATTEMPTS does);
            # botocore's "max_attempts" key would count retries only.
            retries={"mode": "adaptive", "total_max_attempts": max_attempts},
            max_pool_connections=max_pool_connections,
        )
        self._lock = threading.Lock()  # guards the dicts and client creation (not thread-safe)
        self._account_locks: dict[str, threading.Lock] = {}
        self._clients: dict[str, _Cached] = {}
        self._sts: STSClient | None = None

    def role_arn(self, account_id: str) -> str:
        return f"arn:aws:iam::{account_id}:role/{self._access_role}"

    def _sts_client(self) -> STSClient:
        with self._lock:
            if self._sts is None:
                client = self._session.client("sts", region_name=self._region, config=self._config)
                hooks = _CallHooks(
                    self._counter, lambda p: account_of_role_arn(p.get("RoleArn", ""))
                )
                hooks.register(client.meta.events, "sts")
                self._sts = client
            return self._sts

    def _account_lock(self, account_id: str) -> threading.Lock:
        with self._lock:
            return self._account_locks.setdefault(account_id, threading.Lock())

    def iam(self, account_id: str) -> IAMClient:
        """The account's IAM client; AssumeRole at most once per account while valid."""
        with self._account_lock(account_id):
            cached = self._clients.get(account_id)
            now = datetime.now(UTC)
            if cached is not None and (
                cached.expires is None or cached.expires - now > REFRESH_MARGIN
            ):
                return cached.client
            credentials = self._assume(account_id)
            with self._lock:
                client = self._session.client(
                    "iam",
                    region_name=self._region,
                    config=self._config,
                    aws_access_key_id=credentials["AccessKeyId"],
                    aws_secret_access_key=credentials["SecretAccessKey"],
                    aws_session_token=credentials["SessionToken"],
                )
            _CallHooks(self._counter, lambda _p: account_id).register(client.meta.events, "iam")
            expires = credentials.get("Expiration")
            self._clients[account_id] = _Cached(
                client, expires if isinstance(expires, datetime) else None
            )
            return client

    def _assume(self, account_id: str) -> Mapping[str, Any]:
        arn = self.role_arn(account_id)
        try:
            response = self._sts_client().assume_role(RoleArn=arn, RoleSessionName=SESSION_NAME)
        except (ClientError, BotoCoreError) as exc:
            raise AssumeRoleError(
                f"account {account_id}: cannot assume {arn}: {describe_error(exc)}",
                account_id=account_id,
            ) from exc
        assumed = response.get("AssumedRoleUser", {}).get("Arn", "")
        if assumed and account_of_role_arn(assumed) not in ("", account_id):
            raise AssumeRoleError(
                f"account {account_id}: assuming {arn} gave credentials for another account "
                f"({account_of_role_arn(assumed)})",
                account_id=account_id,
            )
        return response["Credentials"]
