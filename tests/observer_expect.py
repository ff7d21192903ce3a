"""The observer's expectation: what the desired-state YAML asks for, derived here alone.

Shared by the end-to-end observer (`tests/e2e/observer.py`, which reads the YAML files)
and the diff's property tests (`tests/observer_world.py`, which writes a random
`DesiredState` out as the same YAML documents), so both judge convergence against one
reading of the YAML that owes nothing to the engine's `compile`: grants are expanded
here, names rendered with `str.format`, and policies and Okta's filters compared by
what they mean. No engine code here.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SAML_AUDIENCE = "https://signin.aws.amazon.com/saml"
# The engine's defaults when a setting is absent (its documented contract).
DEFAULT_ROLE_GROUP_NAME = "aws#{alias}#{role}#{account_id}"
DEFAULT_ROLE_GROUP_DESCRIPTION = "AWS role {role} in {alias} ({account_id}); managed by okta-aws"
DEFAULT_LOGIN_URL = "https://console.aws.amazon.com/ec2/home"
OKTA_SOURCE = {"active_directory": "active_directory", "ldap": "ldap_sun_one", "okta": "okta"}
_OKTA_NAMED = re.compile(r"\(\?\{\{(\w+)\}\}")

Slot = tuple[str, str]  # (account id, role name)


@dataclass(frozen=True)
class ManagementGroup:
    name: str
    dn: str | None  # adopted by DN
    description: str
    members: frozenset[str] | None  # None: not managed here
    slots: tuple[Slot, ...]


@dataclass(frozen=True)
class Desired:
    settings: dict[str, Any]
    roles: dict[Slot, dict[str, Any]]  # slot → catalogue entry
    aliases: dict[str, str]  # account id → alias
    role_group_names: dict[Slot, str]
    groups: tuple[ManagementGroup, ...]
    metadata: str | None  # the metadata document; None: the Okta app's

    @property
    def kind(self) -> str:
        return str(self.settings["directory"]["kind"])

    @property
    def source(self) -> str:
        """The Okta group source the management and role groups come from."""
        return OKTA_SOURCE[self.kind]

    def role_group_description(self, slot: Slot) -> str:
        template = self.settings.get("role_group_description") or DEFAULT_ROLE_GROUP_DESCRIPTION
        return str(template).format(alias=self.aliases[slot[0]], role=slot[1], account_id=slot[0])

    def grantees(self, slot: Slot) -> list[ManagementGroup]:
        return [g for g in self.groups if slot in g.slots]


def desired_from_documents(
    documents: Iterable[Mapping[str, Any]], *, metadata: str | None
) -> Desired:
    """The desired state the YAML documents (as `yaml.safe_load` gives them) ask for."""
    settings: dict[str, Any] = {}
    catalogue: dict[str, Any] = {}
    accounts: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    for document in documents:
        if "settings" in document:
            settings = document["settings"]
        catalogue.update(document.get("roles") or {})
        accounts.extend(document.get("accounts") or [])
        groups.extend(document.get("management_groups") or [])
    by_ref = {str(a["alias"]): a for a in accounts} | {str(a["id"]): a for a in accounts}
    slots = {
        (str(a["id"]), role): catalogue[role]
        for a in accounts
        for role in a.get("roles") or []
        if role in catalogue
    }
    syntax = settings.get("role_group_name") or DEFAULT_ROLE_GROUP_NAME
    aliases = {str(a["id"]): str(a["alias"]) for a in accounts}

    def reached(grant: Mapping[str, Any]) -> list[Slot]:
        if grant.get("account_tags") is not None:
            wanted = grant["account_tags"].items()
            chosen = [a for a in accounts if all(a.get("tags", {}).get(k) == v for k, v in wanted)]
        elif grant.get("account") == "*":
            chosen = accounts
        else:
            chosen = [by_ref[str(grant["account"])]] if str(grant["account"]) in by_ref else []
        return [
            (str(a["id"]), grant["role"]) for a in chosen if (str(a["id"]), grant["role"]) in slots
        ]

    management = tuple(
        ManagementGroup(
            name=g["name"],
            dn=g.get("dn"),
            description=g.get("description") or "",
            members=None
            if g.get("members") is None
            else frozenset(str(m).lower() for m in g["members"]),
            slots=tuple(
                dict.fromkeys(s for grant in g.get("grants") or [] for s in reached(grant))
            ),
        )
        for g in groups
    )
    return Desired(
        settings=settings,
        roles=slots,
        aliases=aliases,
        role_group_names={
            s: syntax.format(alias=aliases[s[0]], role=s[1], account_id=s[0]) for s in slots
        },
        groups=management,
        metadata=metadata,
    )


def read_desired(directory: Path) -> Desired:
    """The desired state as the YAML says it, every `*.yaml` below `directory` merged."""
    documents: list[dict[str, Any]] = []
    settings_file = directory
    for path in sorted(directory.rglob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if "settings" in document:
            settings_file = path
        documents.append(document)
    desired = desired_from_documents(documents, metadata=None)
    metadata_file = (desired.settings.get("saml_provider") or {}).get("metadata_file")
    if not metadata_file:
        return desired
    metadata = (settings_file.parent / metadata_file).read_text(encoding="utf-8")
    return desired_from_documents(documents, metadata=metadata)


# --- comparing by meaning ------------------------------------------------------------------------


def policy_meaning(document: Any) -> Any:
    """An IAM policy document as a comparable value: statement order, list order, and a
    single value versus a one-item list carry no meaning; URL-encoded JSON is decoded."""
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))

    def norm(value: Any) -> Any:
        if isinstance(value, dict):
            return tuple(sorted((k, norm(v)) for k, v in value.items()))
        if isinstance(value, list):  # a set of values: a string inside stays a string
            return frozenset(v if isinstance(v, str) else norm(v) for v in value)
        return frozenset([value]) if isinstance(value, str) else value

    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return (document.get("Version"), frozenset(norm(s) for s in statements))


def expected_trust(account_id: str, provider: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::{account_id}:saml-provider/{provider}"},
                "Action": "sts:AssumeRoleWithSAML",
                "Condition": {"StringEquals": {"SAML:aud": SAML_AUDIENCE}},
            }
        ],
    }


def okta_regex(pattern: str) -> re.Pattern[str]:
    """Okta's `(?{{name}}…)` named groups as Python's."""
    return re.compile(_OKTA_NAMED.sub(lambda m: f"(?P<{m.group(1)}>", pattern))


def trusted_providers(trust: Any) -> set[str]:
    """Provider ARNs an Allow statement lets assume the role with SAML."""
    if isinstance(trust, str):
        trust = json.loads(urllib.parse.unquote(trust))
    statements = trust.get("Statement", [])
    found: set[str] = set()
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        if statement.get("Effect") != "Allow" or "sts:AssumeRoleWithSAML" not in actions:
            continue
        federated = (statement.get("Principal") or {}).get("Federated", [])
        found.update(federated if isinstance(federated, list) else [federated])
    return found


def canonical_metadata(document: str) -> str:
    return document.replace("\r\n", "\n").strip()
