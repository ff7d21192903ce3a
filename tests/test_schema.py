"""Tests of the desired-state JSON Schema and of the example desired state.

The schema is the first check users meet (in their editor through yaml-language-server,
and in `okta-aws validate`), so each of its rules is pinned here together with the path
its error points at: a loosened pattern or a forgotten `additionalProperties: false`
fails loudly. The example under `desired-state/` is what the demo and the sandbox run
on, so it is also checked for the cross-file consistency the schema cannot express.
YAML is read with `yaml.safe_load`; the line-aware loader lives in `engine/load.py`.
"""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st
from jsonschema.exceptions import best_match

REPO = Path(__file__).resolve().parents[1]
SCHEMA_PATH = REPO / "schemas" / "desired-state.schema.json"
EXAMPLE_DIR = REPO / "desired-state"
INVALID_DIR = Path(__file__).resolve().parent / "data" / "invalid"
EXAMPLE_FILES = sorted(EXAMPLE_DIR.rglob("*.yaml"))
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")
MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
# Okta's default group filter for the recommended syntax (docs/facts.md §Okta's AWS
# Account Federation app), with its `(?{{name}}…)` groups turned into Python's
# `(?P<name>…)`.
OKTA_DEFAULT_GROUP_FILTER = re.compile(r"^aws\#\S+\#(?P<role>[\w\-]+)\#(?P<accountid>\d+)$")
Path_ = tuple[str | int, ...]


@cache
def _schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


@cache
def _validator() -> Any:
    return jsonschema.Draft202012Validator(_schema())


def _errors(doc: object) -> list[Any]:
    return list(_validator().iter_errors(doc))


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _subschemas(node: object, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object below `node`, with a JSON-pointer-ish location for messages."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            if key in ("properties", "$defs"):
                for name, sub in value.items():
                    yield from _subschemas(sub, f"{where}/{key}/{name}")
            elif key in ("enum", "default", "required", "const", "if", "not"):
                # Values, not schemas; `if`/`not` are predicates, not shapes of the data.
                continue
            else:
                yield from _subschemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _subschemas(item, f"{where}/{index}")


# --- the schema itself -------------------------------------------------------------


PACKAGED_SCHEMAS = REPO / "engine" / "schemas"


def test_top_level_schemas_are_the_packaged_ones_byte_for_byte() -> None:
    """schemas/ is for editors (yaml-language-server modelines); the engine reads the copy
    inside the package (an installed okta-aws has no checkout around it). They must not
    drift apart: the same files, the same bytes."""
    top = {p.name: p.read_bytes() for p in (REPO / "schemas").glob("*.json")}
    packaged = {p.name: p.read_bytes() for p in PACKAGED_SCHEMAS.glob("*.json")}
    assert top, "no schema in schemas/"
    assert sorted(top) == sorted(packaged), "schemas/ and engine/schemas/ list other files"
    drifted = [name for name in top if top[name] != packaged[name]]
    assert not drifted, f"edit both copies: {drifted} differ"


def test_the_loader_reads_the_packaged_schema() -> None:
    from engine import load

    assert str(load.SCHEMA_PATH) == str(PACKAGED_SCHEMAS / "desired-state.schema.json")
    assert load.SCHEMA_PATH.read_bytes() == SCHEMA_PATH.read_bytes()


def test_schema_is_valid_draft_2020_12() -> None:
    schema = _schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] and schema["title"]


def test_every_object_schema_is_closed() -> None:
    # Unknown keys must be errors everywhere: a fixed-shape object says
    # `additionalProperties: false`, a map constrains its values with a schema.
    for where, sub in _subschemas(_schema()):
        if sub.get("type") != "object" and "properties" not in sub:
            continue
        closure = sub.get("additionalProperties")
        if "properties" in sub:
            assert closure is False, f"{where} accepts unknown keys"
        else:
            assert isinstance(closure, dict), f"{where} is a map without a value schema"


def test_every_property_has_a_description() -> None:
    for where, sub in _subschemas(_schema()):
        for name, prop in sub.get("properties", {}).items():
            assert prop.get("description"), f"{where}/properties/{name} has no description"


def test_every_default_is_valid_for_its_own_schema() -> None:
    defaults = [(where, sub) for where, sub in _subschemas(_schema()) if "default" in sub]
    assert len(defaults) >= 15
    for where, sub in defaults:
        assert _validator().evolve(schema=sub).is_valid(sub["default"]), where


# --- the example desired state -------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(EXAMPLE_DIR)))
def test_example_file_validates(path: Path) -> None:
    assert [e.message for e in _errors(_load(path))] == []


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(EXAMPLE_DIR)))
def test_example_file_names_the_schema_in_its_modeline(path: Path) -> None:
    first_line = path.read_text(encoding="utf-8").splitlines()[0]
    match = MODELINE.match(first_line)
    assert match, f"{path} does not start with the yaml-language-server modeline"
    assert (path.parent / match.group(1)).resolve() == SCHEMA_PATH


@cache
def _merged_example() -> dict[str, Any]:
    merged: dict[str, Any] = {"settings": [], "roles": {}, "accounts": [], "groups": []}
    for path in EXAMPLE_FILES:
        doc = _load(path) or {}
        if "settings" in doc:
            merged["settings"].append((path, doc["settings"]))
        for name, role in (doc.get("roles") or {}).items():
            assert name not in merged["roles"], f"role {name} defined twice"
            merged["roles"][name] = role
        merged["accounts"] += doc.get("accounts") or []
        merged["groups"] += doc.get("management_groups") or []
    return merged


def _accounts_selected(grant: dict[str, Any], accounts: list[dict[str, Any]]) -> list[Any]:
    if "account_tags" in grant:
        wanted = grant["account_tags"].items()
        return [a for a in accounts if wanted <= a.get("tags", {}).items()]
    if grant["account"] == "*":
        return [a for a in accounts if grant["role"] in a.get("roles", [])]
    return [a for a in accounts if grant["account"] in (a["alias"], a["id"])]


def test_example_has_exactly_one_settings_with_the_documented_directory() -> None:
    settings = _merged_example()["settings"]
    assert len(settings) == 1
    directory = settings[0][1]["directory"]
    assert directory["kind"] == "active_directory"
    assert directory["role_groups_ou"] == "OU=AWS Role Groups,DC=example,DC=test"
    assert directory["management_groups_ou"] == "OU=AWS Management Groups,DC=example,DC=test"
    assert directory["users_base"] == "CN=Users,DC=example,DC=test"


def test_example_accounts_are_distinct_and_use_catalogue_roles() -> None:
    example = _merged_example()
    accounts = example["accounts"]
    assert len(accounts) >= 8
    assert len({a["id"] for a in accounts}) == len(accounts)
    assert len({a["alias"] for a in accounts}) == len(accounts)
    for account in accounts:
        assert set(account["roles"]) <= set(example["roles"]), account["alias"]
        assert set(account.get("adopt_roles", [])) <= set(account["roles"]), account["alias"]
        assert account["tags"]["env"] in ("prod", "staging", "dev")
    assert any(a.get("adopt_roles") for a in accounts)


def test_example_grants_resolve_to_accounts_holding_the_role() -> None:
    example = _merged_example()
    for group in example["groups"]:
        for grant in group.get("grants", []):
            assert grant["role"] in example["roles"], (group["name"], grant)
            selected = _accounts_selected(grant, example["accounts"])
            assert selected, f"{group['name']}: {grant} selects no account"
            for account in selected:
                assert grant["role"] in account["roles"], (group["name"], account["alias"])


def test_example_role_group_names_fit_and_map_through_okta_default_filter() -> None:
    example = _merged_example()
    template = example["settings"][0][1]["role_group_name"]
    rendered = set()
    for account in example["accounts"]:
        for role in account["roles"]:
            name = template.format(alias=account["alias"], role=role, account_id=account["id"])
            assert len(name) <= 64, name
            match = OKTA_DEFAULT_GROUP_FILTER.match(name)
            assert match and match["role"] == role and match["accountid"] == account["id"]
            rendered.add(name)
    protected = example["settings"][0][1]["safety"]["protected"]
    assert protected and set(protected) <= rendered


def test_example_groups_cover_every_grant_and_membership_shape() -> None:
    groups = _merged_example()["groups"]
    assert len(groups) >= 6
    grants = [grant for group in groups for grant in group.get("grants", [])]
    assert any(grant.get("account") == "*" for grant in grants)
    assert any("account_tags" in grant for grant in grants)
    assert any(group.get("dn") for group in groups)
    assert any("members" not in group for group in groups)
    assert any(group.get("members") == [] for group in groups)
    assert "DevOps Sys Admins" in {group["name"] for group in groups}
    logins = {login for group in groups for login in group.get("members", [])}
    assert len(logins) >= 20


def test_example_saml_metadata_is_an_okta_idp_document() -> None:
    settings_path, settings = _merged_example()["settings"][0]
    path = settings_path.parent / settings["saml_provider"]["metadata_file"]
    text = path.read_text(encoding="utf-8")
    assert len(text) >= 1000  # botocore's minimum for SAMLMetadataDocument
    root = ET.fromstring(text)
    assert root.tag == f"{MD}EntityDescriptor"
    assert root.get("entityID", "").startswith("http://www.okta.com/")
    idp = root.find(f"{MD}IDPSSODescriptor")
    assert idp is not None
    services = idp.iter(f"{MD}SingleSignOnService")
    bindings = {sso.get("Binding", "").rsplit(":", 1)[-1] for sso in services}
    assert bindings == {"HTTP-POST", "HTTP-Redirect"}
    encoded = idp.findtext(f"{MD}KeyDescriptor/{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
    assert encoded
    cert = x509.load_der_x509_certificate(base64.b64decode("".join(encoded.split())))
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048
    assert cert.not_valid_after_utc > cert.not_valid_before_utc


# --- invalid documents ---------------------------------------------------------------

# file stem under tests/data/invalid → (path of every error, best_match's keyword)
INVALID_CASES: dict[str, tuple[Path_, str]] = {
    "account-id-unquoted": (("accounts", 0, "id"), "type"),
    "account-id-11-digits": (("accounts", 0, "id"), "pattern"),
    "account-id-letters": (("accounts", 0, "id"), "pattern"),
    "account-id-trailing-newline": (("accounts", 0, "id"), "maxLength"),
    "account-alias-uppercase": (("accounts", 0, "alias"), "pattern"),
    "account-alias-double-hyphen": (("accounts", 0, "alias"), "pattern"),
    "account-alias-too-short": (("accounts", 0, "alias"), "pattern"),
    "account-missing-alias": (("accounts", 0), "required"),
    "account-role-name-bad": (("accounts", 0, "roles", 0), "pattern"),
    "account-roles-duplicate": (("accounts", 0, "roles"), "uniqueItems"),
    "account-tag-value-number": (("accounts", 0, "tags", "cost-center"), "type"),
    "unknown-key-account": (("accounts", 0), "additionalProperties"),
    "role-name-with-space": (("roles",), "pattern"),
    "role-entry-null": (("roles", "ReadOnly"), "type"),
    "policy-arn-not-a-policy": (("roles", "Admin", "managed_policies", 0), "pattern"),
    "policy-arn-short-account": (("roles", "Admin", "managed_policies", 0), "pattern"),
    "policy-arn-wrong-service": (("roles", "Admin", "managed_policies", 0), "pattern"),
    "max-session-duration-too-low": (("roles", "Admin", "max_session_duration"), "minimum"),
    "max-session-duration-too-high": (("roles", "Admin", "max_session_duration"), "maximum"),
    "unknown-key-role": (("roles", "Admin"), "additionalProperties"),
    "role-iam-name-bad": (("roles", "Admin-12h", "iam_name"), "pattern"),
    "grant-account-and-account-tags": (("management_groups", 0, "grants", 0), "oneOf"),
    "grant-neither-account-nor-tags": (("management_groups", 0, "grants", 0), "oneOf"),
    "grant-without-role": (("management_groups", 0, "grants", 0), "required"),
    "grant-role-name-too-long": (("management_groups", 0, "grants", 0, "role"), "maxLength"),
    "grant-account-unquoted-id": (("management_groups", 0, "grants", 0, "account"), "type"),
    "grant-account-bad": (("management_groups", 0, "grants", 0, "account"), "pattern"),
    "grant-account-tags-empty": (
        ("management_groups", 0, "grants", 0, "account_tags"),
        "minProperties",
    ),
    "unknown-key-grant": (("management_groups", 0, "grants", 0), "additionalProperties"),
    "group-name-with-comma": (("management_groups", 0, "name"), "pattern"),
    "group-name-too-long": (("management_groups", 0, "name"), "maxLength"),
    "group-dn-not-a-dn": (("management_groups", 0, "dn"), "pattern"),
    "group-members-duplicate": (("management_groups", 0, "members"), "uniqueItems"),
    "group-members-not-a-list": (("management_groups", 0, "members"), "type"),
    "group-member-with-space": (("management_groups", 0, "members", 0), "pattern"),
    "unknown-key-management-group": (("management_groups", 0), "additionalProperties"),
    "unknown-key-top-level": ((), "additionalProperties"),
    "unknown-key-settings": (("settings",), "additionalProperties"),
    "unknown-key-saml-provider": (("settings", "saml_provider"), "additionalProperties"),
    "unknown-key-aws": (("settings", "aws"), "additionalProperties"),
    "unknown-key-directory": (("settings", "directory"), "additionalProperties"),
    "unknown-key-okta": (("settings", "okta"), "additionalProperties"),
    "unknown-key-safety": (("settings", "safety"), "additionalProperties"),
    "settings-missing-okta": (("settings",), "required"),
    "target-unknown": (("settings", "target"), "enum"),
    "saml-provider-name-with-space": (("settings", "saml_provider", "name"), "pattern"),
    "directory-kind-unknown": (("settings", "directory", "kind"), "enum"),
    "directory-ad-without-ous": (("settings", "directory"), "required"),
    "directory-ou-not-a-dn": (("settings", "directory", "role_groups_ou"), "pattern"),
    "access-role-bad-name": (("settings", "aws", "access_role"), "pattern"),
    "managed-tag-two-pairs": (("settings", "aws", "managed_tag"), "maxProperties"),
    "concurrency-zero": (("settings", "aws", "concurrency"), "minimum"),
    "concurrency-too-high": (("settings", "aws", "concurrency"), "maximum"),
    "role-group-name-without-account-id": (("settings", "role_group_name"), "pattern"),
    "role-group-name-unknown-placeholder": (("settings", "role_group_name"), "pattern"),
    "role-group-name-forbidden-character": (("settings", "role_group_name"), "pattern"),
    "okta-app-label-and-app-id": (("settings", "okta"), "oneOf"),
    "okta-no-app": (("settings", "okta"), "oneOf"),
    "okta-app-id-bad": (("settings", "okta", "app_id"), "pattern"),
    "okta-app-filter-missing": (("settings", "okta"), "required"),
    "okta-app-filter-bad": (("settings", "okta", "app_filter"), "pattern"),
    "group-filter-without-accountid": (("settings", "okta", "group_filter"), "pattern"),
    "role-value-pattern-without-role": (("settings", "okta", "role_value_pattern"), "pattern"),
    "session-duration-too-low": (("settings", "okta", "session_duration"), "minimum"),
    "session-duration-too-high": (("settings", "okta", "session_duration"), "maximum"),
    "session-duration-string": (("settings", "okta", "session_duration"), "type"),
    "max-deletions-negative": (("settings", "safety", "max_deletions"), "minimum"),
    "join-all-roles-not-boolean": (("settings", "okta", "join_all_roles"), "type"),
    "okta-login-url-not-https": (("settings", "okta", "login_url"), "pattern"),
    "rate-limit-share-zero": (("settings", "okta", "rate_limit_share"), "exclusiveMinimum"),
    "lock-s3-without-key": (("settings", "lock", "s3"), "pattern"),
}


def test_invalid_cases_table_lists_every_file() -> None:
    assert {p.stem for p in INVALID_DIR.glob("*.yaml")} == set(INVALID_CASES)


@pytest.mark.parametrize(("stem", "expected"), sorted(INVALID_CASES.items()))
def test_invalid_document_is_rejected_at_expected_path(
    stem: str, expected: tuple[Path_, str]
) -> None:
    path, keyword = expected
    errors = _errors(_load(INVALID_DIR / f"{stem}.yaml"))
    assert errors, f"{stem} was accepted"
    # Every error points at the broken spot, so the file is invalid for this one reason.
    assert {tuple(e.absolute_path) for e in errors} == {path}
    assert best_match(errors).validator == keyword


# --- properties ----------------------------------------------------------------------

SETTINGS_BASE: dict[str, Any] = {
    "saml_provider": {"name": "OKTA"},
    "directory": {"kind": "okta"},
    "okta": {"app_label": "Amazon Web Services", "app_filter": "okta"},
}
IAM_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
ALIAS = re.compile(r"[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]")


def _account(**fields: object) -> dict[str, Any]:
    return {"accounts": [{"id": "314159265358", "alias": "prod-payments", **fields}]}


@given(st.from_regex(r"\A[0-9]{12}\Z"))
def test_any_quoted_twelve_digit_id_is_valid(account_id: str) -> None:
    assert _errors(_account(id=account_id)) == []


@given(st.integers(min_value=0, max_value=10**13))
def test_an_unquoted_id_is_a_type_error_at_the_id(account_id: int) -> None:
    errors = _errors(_account(id=account_id))
    assert [(tuple(e.absolute_path), e.validator) for e in errors] == [
        (("accounts", 0, "id"), "type")
    ]


@given(st.text(alphabet="0123456789", max_size=20).filter(lambda s: len(s) != 12))
def test_digit_strings_of_other_lengths_are_rejected(account_id: str) -> None:
    assert _errors(_account(id=account_id))


@given(st.text(alphabet="abcz09-A_.", max_size=66))
def test_alias_verdict_matches_the_documented_regex(alias: str) -> None:
    assert (_errors(_account(alias=alias)) == []) == bool(ALIAS.fullmatch(alias))


@given(st.text(alphabet="aZ09_+=,.@- /#é", max_size=70))
def test_role_name_verdict_matches_iam_rule(name: str) -> None:
    assert (_errors(_account(roles=[name])) == []) == bool(IAM_ROLE_NAME.fullmatch(name))


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_session_duration_accepts_exactly_900_to_43200(seconds: int) -> None:
    okta = {**SETTINGS_BASE["okta"], "session_duration": seconds}
    doc = {"settings": {**SETTINGS_BASE, "okta": okta}}
    assert (_errors(doc) == []) == (900 <= seconds <= 43200)
