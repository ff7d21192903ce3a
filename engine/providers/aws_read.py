"""Reading one AWS account's SAML provider and roles in the fewest IAM calls.

The cheapest complete picture of an account (docs/facts.md §AWS IAM) is:
ListSAMLProviders (1 call) + GetSAMLProvider per provider (metadata and tags; one
call in most accounts) + GetAccountAuthorizationDetails(Filter=[Role]) (trust
policy, attached managed policies, inline policies, tags; ⌈roles/page⌉ calls) + ListRoles
(MaxSessionDuration and Description, which GAAD lacks; ⌈roles/page⌉ calls). Never a
call per role, except for a role created between the two listings (GetRole, rare).

Everything is normalized here (policy JSON, ARNs, tags, metadata) so that a converged
account compares equal to the desired world and never shows a change.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.model import Role, SamlProvider, normalize_policy

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

DEFAULT_MAX_SESSION = 3600  # what IAM reports for a role created without one
MAX_PAGE_SIZE = 1000  # the largest MaxItems IAM accepts on both role listings


@dataclass(frozen=True)
class AccountSnapshot:
    saml_providers: tuple[SamlProvider, ...]
    roles: tuple[Role, ...]


def tag_map(tags: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags or ()}


def is_managed(tags: Iterable[Mapping[str, Any]] | None, managed_tag: tuple[str, str]) -> bool:
    """Ours iff the managed tag is there with its value (a key alone is not enough)."""
    key, value = managed_tag
    return tag_map(tags).get(key) == value


def policy_text(document: Mapping[str, Any] | str) -> str:
    """Normalized policy JSON from what boto3 hands back.

    boto3 decodes policy documents into dicts; some paths (and some emulators) leave
    the URL-encoded JSON string IAM sends on the wire, so accept that too.
    """
    if isinstance(document, str):
        text = document.strip()
        if not text.startswith("{"):
            text = urllib.parse.unquote(text)
        return normalize_policy(json.loads(text))
    return normalize_policy(document)


def policy_arns(attached: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    return frozenset(str(p["PolicyArn"]).strip() for p in attached)


def read_saml_providers(
    iam: IAMClient, *, account_id: str, managed_tag: tuple[str, str]
) -> tuple[SamlProvider, ...]:
    """Every SAML provider of the account, with metadata and ownership.

    Not only the configured name: after `saml_provider.name` is renamed, the provider we
    created under the old name is still ours and must show up (pruned, or reported as
    left alone). One GetSAMLProvider per provider; accounts hold one or two.
    """
    listed = iam.list_saml_providers().get("SAMLProviderList", [])
    providers = []
    for entry in sorted(listed, key=lambda p: str(p["Arn"])):
        arn = str(entry["Arn"])
        got = iam.get_saml_provider(SAMLProviderArn=arn)
        providers.append(
            SamlProvider(
                account_id=account_id,
                name=arn.rsplit("saml-provider/", 1)[-1],
                metadata=got.get("SAMLMetadataDocument", ""),
                managed=is_managed(got.get("Tags"), managed_tag),
            )
        )
    return tuple(providers)


def role_from(
    *,
    account_id: str,
    detail: Mapping[str, Any],
    listed: Mapping[str, Any],
    managed_tag: tuple[str, str],
) -> Role:
    """A Role from a GAAD RoleDetail (trust, policies, inline policy names, tags) and a
    ListRoles entry."""
    return Role(
        account_id=account_id,
        name=str(detail["RoleName"]),
        trust_policy=policy_text(detail.get("AssumeRolePolicyDocument") or {}),
        managed_policies=policy_arns(detail.get("AttachedManagedPolicies", [])),
        max_session_duration=int(listed.get("MaxSessionDuration") or DEFAULT_MAX_SESSION),
        description=str(listed.get("Description") or ""),
        managed=is_managed(detail.get("Tags"), managed_tag),
        inline_policies=frozenset(str(p["PolicyName"]) for p in detail.get("RolePolicyList", [])),
    )


def read_roles(
    iam: IAMClient, *, account_id: str, managed_tag: tuple[str, str], page_size: int
) -> list[Role]:
    details: list[Mapping[str, Any]] = []
    for gaad in iam.get_paginator("get_account_authorization_details").paginate(
        Filter=["Role"], PaginationConfig={"PageSize": page_size}
    ):
        details.extend(gaad.get("RoleDetailList", []))
    listed: dict[str, Mapping[str, Any]] = {}
    for page in iam.get_paginator("list_roles").paginate(PaginationConfig={"PageSize": page_size}):
        listed.update({r["RoleName"]: r for r in page.get("Roles", [])})
    roles = []
    for detail in details:
        name = detail["RoleName"]
        entry = listed.get(name)
        if entry is None:
            # Created between the two listings: one GetRole rather than a wrong default.
            entry = iam.get_role(RoleName=name)["Role"]
        roles.append(
            role_from(account_id=account_id, detail=detail, listed=entry, managed_tag=managed_tag)
        )
    return roles


def read_account(
    iam: IAMClient,
    *,
    account_id: str,
    managed_tag: tuple[str, str],
    page_size: int = MAX_PAGE_SIZE,
) -> AccountSnapshot:
    providers = read_saml_providers(iam, account_id=account_id, managed_tag=managed_tag)
    roles = read_roles(iam, account_id=account_id, managed_tag=managed_tag, page_size=page_size)
    return AccountSnapshot(saml_providers=providers, roles=tuple(roles))
