"""The Okta provider's pure parts: search expressions, literal prefixes, configuration."""

from __future__ import annotations

import re
import string
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.load import load
from engine.model import DirectoryKind, OktaGroup, System, World
from engine.naming import derive_group_filter, render_role_group_name
from engine.plan import FindingKind
from engine.providers.live import missing_group_findings
from engine.providers.okta import OktaConfig, OktaConfigError, ReadScope
from engine.providers.okta_http import build_request_executor
from engine.providers.okta_read import (
    group_search_terms,
    regex_literal_prefix,
    search_batches,
    syntax_literal_prefix,
)
from tests.providers.okta_fixtures import HTTP_CHECK, desired, plain_http_allowed, state_of

SECRET = "00-very-secret-api-token"


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        (r"^aws\#\S+\#(?{{role}}[\w\-]+)\#(?{{accountid}}\d+)$", "aws#"),  # Okta's default
        (r"^aws_(?{{accountid}}\d+)_(?{{role}}.+)$", "aws_"),
        (r"^AWS\ Role\ (?{{role}}\w+)\ (?{{accountid}}\d{12})$", "AWS Role "),
        (r"aws_(?{{accountid}}\d+)_(?{{role}}.+)", ""),  # unanchored: matches anywhere
        (r"^aws|^gcp_(?{{accountid}}\d+)_(?{{role}}.+)", ""),  # alternation
        (r"^(aws|gcp)_(?{{accountid}}\d+)_(?{{role}}.+)", ""),
        (r"^awsx?_(?{{accountid}}\d+)_(?{{role}}.+)", "aws"),  # optional char dropped
        (r"^aws+_(?{{accountid}}\d+)_(?{{role}}.+)", "aws"),
        (r"^a[wW]s_(?{{accountid}}\d+)_(?{{role}}.+)", "a"),
        (r"^aws(?:_x|_y)(?{{accountid}}\d+)(?{{role}}.+)", "aws"),  # nested alternation
        (r"^\d+_(?{{accountid}}\d+)_(?{{role}}.+)", ""),
    ],
)
def test_regex_literal_prefix(pattern: str, prefix: str) -> None:
    assert regex_literal_prefix(pattern) == prefix


_LITERAL = st.text(
    alphabet=string.ascii_letters + string.digits + " #_-.:=+,@/()[]*?$^|\\", max_size=12
)


@given(head=_LITERAL, middle=_LITERAL, alias=st.from_regex(r"[a-z0-9]{3,8}", fullmatch=True))
def test_derived_filter_prefix_is_the_syntax_prefix(head: str, middle: str, alias: str) -> None:
    """Every name the syntax renders starts with the prefix searched for, and the prefix
    taken from the derived filter is exactly the syntax's literal start."""
    syntax = head + "{alias}" + middle + "{role}#{account_id}"
    group_filter = derive_group_filter(syntax=syntax)
    prefix = regex_literal_prefix(group_filter)
    assert prefix == syntax_literal_prefix(syntax) == head
    name = render_role_group_name(
        syntax=syntax, alias=alias, role="Admin", account_id="111111111111"
    )
    assert name.startswith(prefix)


@given(
    terms=st.lists(st.text(min_size=1, max_size=60), max_size=40),
    limit=st.integers(min_value=20, max_value=400),
)
def test_search_batches_keep_every_term_within_the_limit(terms: list[str], limit: int) -> None:
    batches = search_batches(terms, max_length=limit)
    assert " or ".join(batches) == " or ".join(terms)
    for batch in batches:
        single_term = batch in terms
        assert single_term or len(quote(batch)) <= limit


def test_search_terms_skip_names_a_prefix_covers_and_quote_the_rest() -> None:
    scope = ReadScope(
        name_prefixes=("aws#",),
        group_names=("AWS#prod#Admin#1", 'Dev "Ops"', 'dev "ops"', "Back\\slash"),
    )
    assert group_search_terms(scope) == [
        'profile.name sw "aws#"',
        r'profile.name eq "Dev \"Ops\""',
        r'profile.name eq "Back\\slash"',
    ]


@pytest.mark.parametrize(
    ("kind", "member_names", "names"),
    [
        (DirectoryKind.ACTIVE_DIRECTORY, 0, {"DevOps", "Auditors", "Finance"}),
        (DirectoryKind.OKTA, 8, {"DevOps", "Auditors", "Finance"}),
    ],
)
def test_scope_for_a_desired_world(kind: DirectoryKind, member_names: int, names: set[str]) -> None:
    scope = ReadScope.for_world(desired(state_of(kind)))
    assert scope.app_label == "Amazon Web Services" and scope.app_id is None
    assert scope.name_prefixes == ("aws#",)
    assert names <= set(scope.group_names)
    assert len(scope.member_names) == member_names
    assert scope.app_sources == {kind.okta_source}


# --- configuration ---------------------------------------------------------------------------

ENV = {
    "OKTA_ORG_URL": "https://env.okta.com/",
    "OKTA_API_TOKEN": SECRET,
    "OKTA_CLIENT_ID": "0oaenvclient",
    "OKTA_PRIVATE_KEY_FILE": "/env/key.pem",
}


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        (ENV, {}, ("https://env.okta.com", "SSWS", None)),
        (ENV, {"org_url": "https://arg.okta.com"}, ("https://arg.okta.com", "SSWS", None)),
        (
            ENV,
            {"client_id": "0oaarg"},
            ("https://env.okta.com", "PrivateKey", ("0oaarg", "/env/key.pem")),
        ),
        (
            {k: v for k, v in ENV.items() if k != "OKTA_API_TOKEN"},
            {},
            ("https://env.okta.com", "PrivateKey", ("0oaenvclient", "/env/key.pem")),
        ),
        (
            {"OKTA_ORG_URL": "https://env.okta.com"},
            {"token": "explicit", "client_id": "ignored"},
            ("https://env.okta.com", "SSWS", None),
        ),
    ],
    ids=["env-token", "arg-url", "arg-oauth-over-env-token", "env-oauth", "arg-token-wins"],
)
def test_config_from_env_and_arguments(
    env: dict[str, str], args: dict[str, str], expected: tuple[str, str, object]
) -> None:
    config = OktaConfig.from_env(env=env, **args)
    url, mode, oauth = expected
    assert (config.org_url, config.auth_mode) == (url, mode)
    if oauth is not None:
        assert (config.client_id, config.private_key_file) == oauth
        assert config.token is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "OKTA_ORG_URL is not set"),
        ({"OKTA_ORG_URL": "https://x.okta.com"}, "set OKTA_API_TOKEN, or OKTA_CLIENT_ID"),
        (
            {"OKTA_ORG_URL": "https://x.okta.com", "OKTA_CLIENT_ID": "0oa1"},
            "OKTA_PRIVATE_KEY_FILE",
        ),
    ],
)
def test_config_errors_say_what_is_missing(env: dict[str, str], message: str) -> None:
    with pytest.raises(OktaConfigError, match=message):
        OktaConfig.from_env(env=env)


@pytest.mark.parametrize(
    ("value", "argument", "expected"),
    [(None, None, 2), ("7", None, 7), ("0", None, 0), ("7", 1, 1)],
    ids=["default", "env", "zero", "argument-wins"],
)
def test_sdk_retries_come_from_the_sdks_own_variable(
    value: str | None, argument: int | None, expected: int
) -> None:
    env = dict(ENV) if value is None else {**ENV, "OKTA_CLIENT_RATELIMIT_MAXRETRIES": value}
    config = (
        OktaConfig.from_env(env=env)
        if argument is None
        else OktaConfig.from_env(env=env, max_retries=argument)
    )
    assert config.max_retries == expected
    assert config.sdk_config()["rateLimit"]["maxRetries"] == expected


def test_a_bad_retry_count_is_refused_by_name() -> None:
    with pytest.raises(OktaConfigError, match="OKTA_CLIENT_RATELIMIT_MAXRETRIES='many'"):
        OktaConfig.from_env(env={**ENV, "OKTA_CLIENT_RATELIMIT_MAXRETRIES": "many"})


def test_token_is_never_shown() -> None:
    config = OktaConfig.from_env(env=ENV)
    assert SECRET not in repr(config)
    assert SECRET not in str(config)


def test_plain_http_is_refused_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HTTP_CHECK, raising=False)
    config = OktaConfig.from_env(
        env={"OKTA_ORG_URL": "http://127.0.0.1:1", "OKTA_API_TOKEN": SECRET}
    )
    with pytest.raises(OktaConfigError, match=HTTP_CHECK) as raised:
        build_request_executor(config)
    assert SECRET not in str(raised.value)


def test_oauth_service_app_configures_the_sdk(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = tmp_path / "okta-aws.pem"
    key.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    config = OktaConfig.from_env(
        env={"OKTA_ORG_URL": "https://x.okta.com"},
        client_id="0oaservice",
        private_key_file=str(key),
    )
    executor = build_request_executor(config)
    client = executor._config["client"]
    assert client["authorizationMode"] == "PrivateKey"
    assert client["clientId"] == "0oaservice"
    assert client["scopes"] == ["okta.apps.manage", "okta.groups.manage", "okta.users.read"]
    assert "Authorization" not in executor.get_default_headers()  # set per call from the token


def test_sdk_validation_errors_become_config_errors() -> None:
    with plain_http_allowed():
        config = OktaConfig.from_env(env={"OKTA_ORG_URL": "https://x-admin.okta.com"}, token="t")
        with pytest.raises(OktaConfigError, match=re.escape("-admin")):
            build_request_executor(config)


OWNER_MANAGED_ORG = """\
settings:
  saml_provider: {name: OKTA}
  directory: {kind: KIND}
  okta: {app_label: AWS, app_filter: okta}
roles:
  ReadOnly: {}
accounts:
  - {id: "111111111111", alias: lake, roles: [ReadOnly]}
management_groups:
  - name: Listed
    grants: [{account: lake, role: ReadOnly}]
    members: [alice]
  - name: Data Scientists
    grants: [{account: lake, role: ReadOnly}]
  - name: Ghost Team
    grants: [{account: lake, role: ReadOnly}]
"""


@pytest.mark.parametrize(
    ("kind", "systems", "expected"),
    [
        pytest.param("okta", frozenset(System), ["Ghost Team"], id="kind okta: blocks"),
        pytest.param("okta", frozenset({System.AWS}), [], id="okta not read: nothing said"),
    ],
)
def test_an_owner_managed_group_okta_lacks_is_blocking_at_its_line(
    tmp_path: Path, kind: str, systems: frozenset[System], expected: list[str]
) -> None:
    """Its members cannot be read (issue 16): one blocking finding at the group's line;
    a group whose members are listed, or that Okta has, is fine."""
    (tmp_path / "org.yaml").write_text(OWNER_MANAGED_ORG.replace("KIND", kind))
    state = load(directory=tmp_path)
    world = World.build(
        okta_groups=[OktaGroup(name="data scientists", source="okta", members=frozenset())],
        systems=systems,
    )
    findings = missing_group_findings(state, world)
    assert [f.subject for f in findings] == [f"okta group {name}" for name in expected]
    for finding in findings:
        assert finding.kind is FindingKind.MISSING_GROUP and finding.blocking
        line = OWNER_MANAGED_ORG.splitlines().index("  - name: Ghost Team") + 1
        assert finding.message.startswith(f"{tmp_path / 'org.yaml'}:{line}: 'Ghost Team' ")


def test_a_plan_from_a_snapshot_says_an_owner_managed_group_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fork's PR plans from a snapshot: the missing group blocks it there too (the
    snapshot path used to plan the group's creation, empty, without a word)."""
    from engine.cli import main
    from engine.snapshot import write_snapshot

    desired_dir = tmp_path / "desired"
    desired_dir.mkdir()
    (desired_dir / "org.yaml").write_text(OWNER_MANAGED_ORG.replace("KIND", "okta"))
    world = World.build(
        okta_groups=[OktaGroup(name="data scientists", source="okta", members=frozenset())],
        systems=frozenset(System),
    )
    snapshot = tmp_path / "live.json"
    write_snapshot(world=world, path=snapshot, target="live")
    code = main(["plan", "-d", str(desired_dir), "--live-snapshot", str(snapshot)])
    out = capsys.readouterr().out
    assert code == 1  # blocked
    assert "okta group Ghost Team" in out and "Okta has no such group" in out
