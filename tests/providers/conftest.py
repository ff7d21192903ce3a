"""Fixtures for provider tests: a real moto server over HTTP, and fault injection.

The moto server starts once per session (loading AWS managed policies is the slow
part); each AWS test starts from an empty world via `POST /moto-api/reset` and gets an
environment where boto3's standard chain and endpoint variables point at it, exactly
as an operator's shell would (`aws_env`). Nothing here is autouse: other providers'
tests may share this directory.

`Faults` injects AWS error responses through botocore's own `before-send` event: the
response is parsed by botocore and judged by its retry handler like one from AWS, so
throttling goes through the real adaptive retry path (and is counted as retries).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from engine.model import Role, SamlProvider, System, World, saml_trust_policy
from engine.providers.aws import AwsProvider
from engine.providers.okta import OktaProvider
from engine.sandbox.moto_server import MotoServer
from engine.sandbox.okta_emulator import OktaEmulator
from tests.providers.okta_fixtures import emulator_for_test, provider_for

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

ACCESS_ROLE = "OrganizationAccountAccessRole"
MANAGED_TAG = ("managed-by", "okta-aws")
PROVIDER_NAME = "OKTA"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
ACCOUNTS = ("111111111111", "222222222222", "333333333333")
# Real SAML metadata is a few KB; botocore refuses documents under 1,000 characters.
METADATA = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
    'entityID="http://www.okta.com/exk1fcia6d6EMsf331d8">\n'
    + "".join(
        f'  <md:KeyDescriptor use="signing"><ds:X509Certificate>MIIDpDCCAoygAwIBAgIGAV{i:04d}'
        "</ds:X509Certificate></md:KeyDescriptor>\n"
        for i in range(12)
    )
    + "</md:EntityDescriptor>\n"
)

_ENV_TO_CLEAR = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL_IAM",
    "AWS_ENDPOINT_URL_STS",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


@pytest.fixture
def emulator() -> Iterator[OktaEmulator]:
    """A fresh Okta emulator for one test."""
    with emulator_for_test() as running:
        yield running


@pytest.fixture
def provider(emulator: OktaEmulator) -> Iterator[OktaProvider]:
    """The okta provider (the real SDK) connected to `emulator`."""
    with provider_for(emulator) as okta:
        yield okta


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """An empty AWS (all accounts) and an environment whose credential chain reaches it."""
    moto_server.reset()
    for name in _ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/okta-aws-test-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/okta-aws-test-credentials")
    return moto_server


class _Raw:
    """The minimal raw body botocore reads an HTTP response from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def error_response(*, url: str, code: str, message: str, status: int = 400) -> AWSResponse:
    """An IAM/STS (query protocol) error response, as AWS sends it."""
    body = (
        '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
        f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    ).encode()
    headers = HTTPHeaders.from_dict({"Content-Type": "text/xml", "Content-Length": str(len(body))})
    return AWSResponse(url, status, headers, _Raw(body))


@dataclass
class Fault:
    """Answer the first `times` matching requests with an error instead of sending them."""

    event: str  # e.g. "before-send.iam.GetAccountAuthorizationDetails", "before-send.sts"
    code: str
    message: str
    times: int
    body_contains: str = ""  # only requests whose body contains this (e.g. an account id)
    injected: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        body = request.body or b""
        text = body.decode() if isinstance(body, bytes) else str(body)
        if self.body_contains and self.body_contains not in text:
            return None
        with self._lock:
            if self.injected >= self.times:
                return None
            self.injected += 1
        return error_response(url=request.url, code=self.code, message=self.message)


@dataclass
class Faults:
    """Faults registered on a boto3 session (before it creates its clients)."""

    session: boto3.Session
    installed: list[Fault] = field(default_factory=list)

    def add(
        self, event: str, *, code: str, message: str, times: int, body_contains: str = ""
    ) -> Fault:
        fault = Fault(event, code, message, times, body_contains)
        # The stubs type handlers as returning None; a before-send handler may answer.
        self.session.events.register(event, cast(Any, fault))
        self.installed.append(fault)
        return fault

    def throttle(self, event: str, *, times: int) -> Fault:
        return self.add(event, code="Throttling", message="Rate exceeded", times=times)


@dataclass
class AwsKit:
    """What an AWS test needs: the server, a session to inject faults into, builders."""

    server: MotoServer
    session: boto3.Session
    faults: Faults
    accounts: tuple[str, ...] = ACCOUNTS
    access_role: str = ACCESS_ROLE
    managed_tag: tuple[str, str] = MANAGED_TAG
    provider_name: str = PROVIDER_NAME
    metadata: str = METADATA

    def provider(self, **options: Any) -> AwsProvider:
        """The provider under test, on the faultable session; IAM-consistency waits short."""
        settings: dict[str, Any] = {
            "access_role": self.access_role,
            "managed_tag": self.managed_tag,
            "session": self.session,
            "consistency_delays": (0.01, 0.02, 0.04),
        }
        return AwsProvider(**{**settings, **options})

    def iam(self, account_id: str) -> IAMClient:
        """A plain client into an account, to arrange and inspect (no faults, not counted)."""
        credentials = boto3.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/{self.access_role}",
            RoleSessionName="test",
        )["Credentials"]
        return boto3.client(
            "iam",
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    def saml_provider(self, account_id: str, *, metadata: str | None = None) -> SamlProvider:
        return SamlProvider(account_id, self.provider_name, metadata or self.metadata)

    def role(
        self,
        account_id: str,
        name: str,
        *,
        policies: tuple[str, ...] = (READ_ONLY,),
        max_session_duration: int = 3600,
        description: str = "",
        adopt: bool = False,
    ) -> Role:
        return Role(
            account_id=account_id,
            name=name,
            trust_policy=saml_trust_policy(account_id=account_id, provider_name=self.provider_name),
            managed_policies=frozenset(policies),
            max_session_duration=max_session_duration,
            description=description,
            adopt=adopt,
        )

    def desired(self, *, providers: list[SamlProvider], roles: list[Role]) -> World:
        """A desired world by hand, AWS only, covering the given providers' accounts."""
        return World.build(
            saml_providers=providers,
            roles=roles,
            accounts={p.account_id for p in providers} | {r.account_id for r in roles},
            systems=(System.AWS,),
        )


@pytest.fixture
def aws(aws_env: MotoServer) -> AwsKit:
    session = boto3.Session()
    return AwsKit(server=aws_env, session=session, faults=Faults(session=session))
