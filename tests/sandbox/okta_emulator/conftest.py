"""Fixtures for the Okta emulator tests: a running emulator, Okta's spec, the real okta SDK.

The spec (3.4 MB) and `okta.client` (~4.5 s import) are loaded once per session.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from engine.sandbox.okta_emulator import OktaEmulator

DATA = Path(__file__).parent / "data"
# Okta's own spec, vendored (Apache-2.0; origin in data/README.md) so a clean clone
# checks the emulator against it: a contract test that skips is no contract.
SPEC_PATH = DATA / "okta-management-openapi.yaml"
TOKEN = "emulator-test-token"
SPEC_HOST = "https://subdomain.okta.com"


class ApiCaller:
    """Plain HTTP against the emulator, plus validation of each exchange against the spec."""

    def __init__(self, emulator: OktaEmulator, spec: Any) -> None:
        self.emulator = emulator
        self.spec = spec
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"SSWS {TOKEN}"
        self.session.headers["Accept"] = "application/json"

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        return self.session.request(
            method,
            self.emulator.url + path,
            params=params,
            json=body,
            headers=headers,
            timeout=30,
        )

    def validate(self, response: requests.Response, *, response_documented: bool = True) -> None:
        """Raise if request or response breaks Okta's spec (URL moved to the spec's host).

        A 204 is checked for an empty body only: openapi-core reads the spec's `content: {}`
        as "data expected". `response_documented=False` is for statuses real Okta returns
        but the spec does not list for that operation.
        """
        from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

        prepared = response.request.copy()
        assert prepared.url is not None
        prepared.url = prepared.url.replace(self.emulator.url, SPEC_HOST)
        openapi_request = RequestsOpenAPIRequest(prepared)
        self.spec.validate_request(openapi_request)
        if response.status_code == 204:
            assert response.content == b""
            return
        if not response_documented:
            return
        self.spec.validate_response(
            openapi_request, RequestsOpenAPIResponse(_without_known_spec_gaps(response))
        )


# Real Okta returns these as null while the spec types them as non-nullable strings
# (recorded: every app's accessibility in test_list_assign_group_app, a group's
# profile.description in test_create_get_group): the emulator follows Okta, and the
# check drops exactly these nulls before validating.
_NULL_IN_REAL_OKTA = {
    "accessibility": ("errorRedirectUrl", "loginRedirectUrl"),
    "profile": ("description",),
}


def _strip_known_nulls(value: Any) -> Any:
    if isinstance(value, list):
        return [_strip_known_nulls(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _strip_known_nulls(v) for k, v in value.items()}
    for parent, keys in _NULL_IN_REAL_OKTA.items():
        if isinstance(out.get(parent), dict):
            out[parent] = {k: v for k, v in out[parent].items() if not (k in keys and v is None)}
    return out


def _without_known_spec_gaps(response: requests.Response) -> requests.Response:
    if "json" not in response.headers.get("Content-Type", "") or not response.content:
        return response
    copy = requests.Response()
    copy.__dict__.update(response.__dict__)
    copy._content = json.dumps(_strip_known_nulls(response.json())).encode()
    return copy


@pytest.fixture(scope="session")
def okta_spec() -> Any:
    from openapi_core import Config, OpenAPI

    # The published spec fails strict spec validation in places (path parameters
    # without `required: true`); the operations used here are sound.
    return OpenAPI.from_file_path(str(SPEC_PATH), config=Config(spec_validator_cls=None))


@pytest.fixture(scope="session")
def okta_client_class() -> Any:
    os.environ["OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"] = "true"
    from okta.client import Client

    return Client


@pytest.fixture(scope="session")
def recorded() -> dict[str, dict[str, Any]]:
    entries = json.loads((DATA / "okta_recorded_responses.json").read_text(encoding="utf-8"))
    return {entry["name"]: entry for entry in entries}


@pytest.fixture
def emulator() -> Iterator[OktaEmulator]:
    with OktaEmulator.start(token=TOKEN, seed=7, seed_aws_app=True) as emu:
        yield emu


@pytest.fixture
def api(emulator: OktaEmulator, okta_spec: Any) -> ApiCaller:
    return ApiCaller(emulator, okta_spec)


@pytest.fixture
def sdk(emulator: OktaEmulator, okta_client_class: Any) -> Any:
    # maxRetries is set explicitly so the retry tests do not depend on SDK defaults.
    return okta_client_class(
        {"orgUrl": emulator.url, "token": TOKEN, "rateLimit": {"maxRetries": 2}}
    )
