"""The Okta provider as an OAuth 2.0 service app, and over verified HTTPS.

Everything goes through the real okta SDK: it builds and signs the private_key_jwt
client assertion itself, fetches the access token from the emulator's
`/oauth2/v1/token` and calls the Management API with it; the emulator checks the
assertion as Okta does (engine/sandbox/okta_emulator/oauth.py). The token endpoint's own
refusals the SDK cannot provoke (a wrong audience, an expired or replayed assertion) are
checked with assertions built here with PyJWT.

HTTPS runs in a child process: aiohttp builds its default SSL context when it is
imported, so `SSL_CERT_FILE` only counts if it is set before the process starts, which
is how an operator sets it anyway.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest

from engine.plan import Action, Change, ResourceKind
from engine.providers.okta import OktaApiError, OktaProvider, ReadScope
from engine.sandbox.okta_emulator import MANAGEMENT_SCOPES, OktaEmulator, api
from engine.sandbox.okta_emulator.oauth import required_scopes
from engine.sandbox.tls import (
    make_tls_files,
    new_rsa_key,
    private_key_pem,
    public_key_pem,
    write_private_key,
)
from tests.providers.okta_fixtures import (
    HTTP_CHECK,
    TOKEN,
    converge,
    desired,
    emulator_for_test,
    import_directory,
    state_of,
)

CLIENT_ID = "0oa1serviceapp00000x"
TOKEN_PATH = "/oauth2/v1/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
READ_ONLY = ("okta.apps.read", "okta.groups.read", "okta.users.read")
APP_SCOPE = ReadScope(app_label="Amazon Web Services")


@dataclass(frozen=True)
class Keys:
    good: Path  # the private key whose public half is registered for CLIENT_ID
    wrong: Path  # a valid RSA key Okta does not know
    not_a_key: Path
    public_pem: bytes
    private_pem: bytes


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    root = tmp_path_factory.mktemp("service-app")
    good, wrong = new_rsa_key(), new_rsa_key()
    not_a_key = root / "notes.txt"
    not_a_key.write_text("this is not a key\n")
    return Keys(
        good=write_private_key(root / "okta-aws.pem", good),
        wrong=write_private_key(root / "other.pem", wrong),
        not_a_key=not_a_key,
        public_pem=public_key_pem(good),
        private_pem=private_key_pem(good),
    )


@pytest.fixture
def emulator(keys: Keys) -> Iterator[OktaEmulator]:
    with emulator_for_test() as running:
        running.add_service_app(client_id=CLIENT_ID, public_key=keys.public_pem)
        yield running


def service_app_env(
    emulator: OktaEmulator, key: Path, client_id: str = CLIENT_ID
) -> dict[str, str]:
    """How an operator configures a service app; no API token anywhere."""
    return {
        "OKTA_ORG_URL": emulator.url,
        "OKTA_CLIENT_ID": client_id,
        "OKTA_PRIVATE_KEY_FILE": str(key),
    }


def _key_fragments(pem: bytes) -> list[str]:
    """Pieces of a key's base64 body: none may ever appear in a message."""
    body = "".join(line for line in pem.decode().splitlines() if "-----" not in line)
    return [body[i : i + 24] for i in range(0, len(body) - 24, 24)]


# --- the service app through the SDK --------------------------------------------------------


def test_service_app_reads_the_app_and_assigns_groups(emulator: OktaEmulator, keys: Keys) -> None:
    world = desired(state_of())
    emulator.aws_app()
    import_directory(emulator, world)
    with OktaProvider(env=service_app_env(emulator, keys.good), max_retries=0) as provider:
        assert provider.config.auth_mode == "PrivateKey"
        read = provider.read(scope=APP_SCOPE)
        assert read.errors == () and read.app is not None
        assert read.app.id == emulator.aws_app().id
        converge(provider, world)
    assigned = emulator.state.assignments[emulator.aws_app().id]
    assert {emulator.state.groups[g].name for g in assigned} == {"DevOps", "Auditors", "Finance"}
    # One token for the whole session: the SDK caches it, every API call carried it.
    counts = emulator.request_counts()
    assert counts[("POST", TOKEN_PATH)] == 1 and emulator.oauth.tokens_issued == 1
    assert counts[("PUT", "/api/v1/apps/{appId}/groups/{groupId}")] == 3


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong key", "HTTP 401 (invalid_client: The client_assertion signature is invalid.)"),
        ("unknown client", "HTTP 401 (invalid_client: Invalid value for 'client_id' parameter.)"),
        ("scope not granted", "HTTP 400 (invalid_scope: The following scopes were requested"),
        ("dpop required", "HTTP 400 (invalid_dpop_proof: The DPoP proof JWT header is missing.)"),
        ("missing key file", "absent.pem does not exist"),
        ("not a key", "notes.txt is not an RSA private key (unencrypted PEM)"),
    ],
)
def test_a_refused_service_app_fails_clearly(
    emulator: OktaEmulator, keys: Keys, case: str, expected: str
) -> None:
    key, client_id = keys.good, CLIENT_ID
    if case == "wrong key":
        key = keys.wrong
    elif case == "unknown client":
        client_id = "0oa1someoneelse0000x"
    elif case == "scope not granted":
        emulator.add_service_app(client_id=CLIENT_ID, public_key=keys.public_pem, scopes=READ_ONLY)
    elif case == "dpop required":
        emulator.add_service_app(client_id=CLIENT_ID, public_key=keys.public_pem, require_dpop=True)
    elif case == "missing key file":
        key = keys.good.parent / "absent.pem"
    elif case == "not a key":
        key = keys.not_a_key
    with OktaProvider(env=service_app_env(emulator, key, client_id), max_retries=0) as provider:
        read = provider.read(scope=APP_SCOPE)  # never raises
    (error,) = read.errors
    assert expected in error, error
    assert "Traceback" not in error and "PRIVATE KEY" not in error
    used = key.read_bytes() if key.is_file() else b""
    fragments = _key_fragments(keys.private_pem) + _key_fragments(used)
    assert not any(fragment in error for fragment in fragments)
    assert read.app is None and not read.complete
    # Nothing reached the Management API without a token.
    assert not [route for _, route in emulator.request_counts() if route.startswith("/api/")]


def test_scopes_are_enforced_on_api_calls(emulator: OktaEmulator, keys: Keys) -> None:
    """A token with read scopes reads; a write needs `.manage` and gets Okta's 403."""
    emulator.add_service_app(client_id=CLIENT_ID, public_key=keys.public_pem, scopes=READ_ONLY)
    world = desired(state_of())
    emulator.aws_app()
    import_directory(emulator, world)
    env = service_app_env(emulator, keys.good)
    with OktaProvider(env=env, scopes=READ_ONLY, max_retries=0) as provider:
        read = provider.read(scope=APP_SCOPE)
        assert read.errors == () and read.app is not None
        wanted = min(world.app_assignments.values(), key=lambda a: a.key)
        change = Change(
            kind=ResourceKind.APP_ASSIGNMENT,
            action=Action.CREATE,
            key=wanted.key,
            after=wanted,
        )
        with pytest.raises(OktaApiError) as refused:
            provider.execute(change)
    assert (refused.value.status, refused.value.code) == (403, "E0000006")
    assert emulator.state.assignments[emulator.aws_app().id] == {}


@pytest.mark.parametrize("route", api.ROUTES, ids=lambda r: f"{r.method} {r.template}")
def test_every_api_route_needs_its_resource_scope(route: api.Route) -> None:
    """No Management API route is reachable with a token lacking its resource's scope;
    `.manage` allows everything, `.read` exactly the GETs."""
    resource = route.template.split("/")[3]
    needed = required_scopes(route.method, route.template)
    assert needed is not None and needed <= MANAGEMENT_SCOPES
    expected = {f"okta.{resource}.manage"}
    if route.method == "GET":
        expected.add(f"okta.{resource}.read")
    assert set(needed) == expected


# --- the token endpoint's checks, with hand-made assertions ------------------------------------


def _assertion(emulator: OktaEmulator, key_pem: bytes, **claims: Any) -> str:
    now = int(time.time())
    body: dict[str, Any] = {
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "aud": emulator.url + TOKEN_PATH,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key_pem, "RS256")


def _post_token(emulator: OktaEmulator, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        emulator.url + TOKEN_PATH,
        data=urllib.parse.urlencode(form).encode(),
        headers={"Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _form(assertion: str, scope: str = "okta.apps.read") -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }


@pytest.mark.parametrize(
    ("claims", "status", "error", "description"),
    [
        ({"aud": "https://elsewhere.okta.com/oauth2/v1/token"}, 401, "invalid_client",
         "The audience claim for client_assertion must be the endpoint invoked"),
        ({"exp": int(time.time()) - 600}, 401, "invalid_client", "expired"),
        ({"exp": int(time.time()) + 7200}, 401, "invalid_client", "too far into the future"),
        ({"iss": "0oa1someoneelse0000x"}, 401, "invalid_client", "iss and sub"),
        ({"jti": None}, 401, "invalid_client", "missing the 'jti' claim"),
    ],
)  # fmt: skip
def test_token_endpoint_checks_the_assertion(
    emulator: OktaEmulator,
    keys: Keys,
    claims: dict[str, Any],
    status: int,
    error: str,
    description: str,
) -> None:
    code, body = _post_token(emulator, _form(_assertion(emulator, keys.private_pem, **claims)))
    assert (code, body["error"]) == (status, error)
    assert description in body["error_description"]
    assert set(body) == {"error", "error_description"}  # OAuth's format, not errorCode
    assert emulator.oauth.tokens_issued == 0


def test_token_endpoint_grants_once_per_assertion(emulator: OktaEmulator, keys: Keys) -> None:
    assertion = _assertion(emulator, keys.private_pem)
    code, body = _post_token(emulator, _form(assertion, "okta.groups.read okta.apps.read"))
    assert code == 200
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)
    assert body["scope"] == "okta.apps.read okta.groups.read"
    # The token works for what it was granted, and only for that.
    for path, expected in (("/api/v1/groups", 200), ("/api/v1/users", 403)):
        request = urllib.request.Request(
            emulator.url + path, headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, challenge = response.status, ""
        except urllib.error.HTTPError as exc:
            status, challenge = exc.code, exc.headers.get("WWW-Authenticate", "")
        assert status == expected
        assert (expected == 403) == ('error="insufficient_scope"' in challenge)
    # Okta consumes the assertion's jti: the same assertion never buys a second token.
    code, body = _post_token(emulator, _form(assertion))
    assert (code, body["error"]) == (401, "invalid_client")
    assert body["error_description"] == "The client_assertion token has already been used."
    # Unknown scopes get Okta's own words.
    code, body = _post_token(emulator, _form(_assertion(emulator, keys.private_pem), "openid"))
    assert (code, body["error"]) == (400, "invalid_scope")
    assert "not configured for the authorization server" in body["error_description"]


# --- HTTPS ------------------------------------------------------------------------------------

_CHILD = """
import json, sys
from engine.providers.okta import OktaProvider, ReadScope
results = {}
for url in sys.argv[1:]:
    with OktaProvider(org_url=url, max_retries=0) as provider:
        read = provider.read(scope=ReadScope(app_label="Amazon Web Services"))
    results[url] = {"errors": list(read.errors), "app": read.app.id if read.app else None}
print(json.dumps(results))
"""


def test_sdk_over_https_trusts_only_the_configured_ca(keys: Keys, tmp_path: Path) -> None:
    """The service app over HTTPS with `SSL_CERT_FILE` and without the SDK's
    https-check escape hatch; an untrusted or misnamed certificate is a clear error."""
    trusted = make_tls_files(directory=tmp_path / "pki", hosts=("127.0.0.1", "localhost"))
    untrusted = make_tls_files(directory=tmp_path / "other", hosts=("127.0.0.1",))
    # Issued for another name by a CA the client trusts (both CAs in the bundle).
    misnamed = make_tls_files(directory=tmp_path / "misnamed", hosts=("okta.example.test",))
    bundle = tmp_path / "ca-bundle.pem"
    bundle.write_bytes(trusted.ca_file.read_bytes() + misnamed.ca_file.read_bytes())

    emulators = {
        name: OktaEmulator.start(token=TOKEN, seed_aws_app=True, ssl_context=files.server_context())
        for name, files in (("trusted", trusted), ("untrusted", untrusted), ("misnamed", misnamed))
    }
    try:
        for running in emulators.values():
            running.add_service_app(client_id=CLIENT_ID, public_key=keys.public_pem)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OKTA_") and k != HTTP_CHECK}
        env.update(
            SSL_CERT_FILE=str(bundle),
            OKTA_CLIENT_ID=CLIENT_ID,
            OKTA_PRIVATE_KEY_FILE=str(keys.good),
        )
        urls = [running.url for running in emulators.values()]
        assert all(url.startswith("https://127.0.0.1:") for url in urls)
        child = subprocess.run(
            [sys.executable, "-c", _CHILD, *urls],
            env=env,
            cwd=Path(__file__).resolve().parents[2],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        for running in emulators.values():
            running.stop()
    assert child.returncode == 0 and "Traceback" not in child.stderr, child.stderr
    results = json.loads(child.stdout)
    ok = results[emulators["trusted"].url]
    assert ok == {"errors": [], "app": emulators["trusted"].aws_app().id}
    assert emulators["trusted"].oauth.tokens_issued == 1  # the token came over TLS too
    for name, reason in (
        ("untrusted", "certificate verify failed: unable to get local issuer certificate"),
        ("misnamed", "IP address mismatch"),
    ):
        (error,) = results[emulators[name].url]["errors"]
        assert error.startswith(f"cannot reach Okta at {emulators[name].url}"), error
        assert reason in error and "AttributeError" not in error, error
        assert emulators[name].oauth.tokens_issued == 0
