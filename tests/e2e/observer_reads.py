"""The live world read raw for the observer: plain boto3, ldap3 and Okta's REST API.

No engine code and no interpretation beyond decoding: what each system holds, in the
plain dataclasses of `tests/observer_views.py`, for `tests/observer_judge.py` to compare
with the YAML. One pass per call (every role of
every account, every group of the directory, the Okta groups that matter), so an
end-to-end test can afford it at its end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import boto3
import ldap3
import requests
from ldap3.utils.conv import escape_filter_chars

from tests.observer_views import (
    LiveAccount,
    LiveDirectory,
    LiveGroup,
    LiveRole,
    OktaView,
    normalized_dn,
)


def _tags(listed: Iterable[Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in listed}


def read_aws(
    env: Mapping[str, str], access_role: str, account_ids: Iterable[str]
) -> dict[str, LiveAccount]:
    session = boto3.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env.get("AWS_DEFAULT_REGION", "us-east-1"),
    )
    endpoint = env["AWS_ENDPOINT_URL"]
    sts = session.client("sts", endpoint_url=endpoint)
    accounts: dict[str, LiveAccount] = {}
    for account_id in account_ids:
        credentials = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/{access_role}",
            RoleSessionName="okta-aws-observer",
        )["Credentials"]
        iam = session.client(
            "iam",
            endpoint_url=endpoint,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        live = accounts[account_id] = LiveAccount()
        for page in iam.get_paginator("list_roles").paginate():
            for listed in page["Roles"]:
                name = listed["RoleName"]
                role = iam.get_role(RoleName=name)["Role"]
                attached = [
                    p["PolicyArn"]
                    for page2 in iam.get_paginator("list_attached_role_policies").paginate(
                        RoleName=name
                    )
                    for p in page2["AttachedPolicies"]
                ]
                live.roles[name] = LiveRole(
                    trust=role["AssumeRolePolicyDocument"],
                    policies=set(attached),
                    max_session=int(role.get("MaxSessionDuration", 3600)),
                    description=role.get("Description", ""),
                    tags=_tags(iam.list_role_tags(RoleName=name)["Tags"]),
                )
        for provider in iam.list_saml_providers()["SAMLProviderList"]:
            arn = provider["Arn"]
            document = iam.get_saml_provider(SAMLProviderArn=arn)["SAMLMetadataDocument"]
            tags = _tags(iam.list_saml_provider_tags(SAMLProviderArn=arn)["Tags"])
            live.providers[arn.rsplit("/", 1)[1]] = (document, tags)
    return accounts


def _base_dn(dn: str) -> str:
    return ",".join(p.strip() for p in dn.split(",") if p.strip().lower().startswith("dc="))


def read_directory(
    env: Mapping[str, str], *, users_base: str, kind: str, member_of_under: Iterable[str] = ()
) -> LiveDirectory:
    """Every group under the naming context (by normalized DN), and user DN → login.

    memberOf on AD is the back-link the server computes. slapd's memberof overlay is no
    witness (it writes memberOf only for links made while both entries exist, and the
    sandbox seeds and restores groups in any order), so for the groups under
    `member_of_under` (DNs or OUs) memberOf is what the server answers to a search
    `(member=<the group's DN>)`: the server's own DN matching, not our normalizing, says
    which groups hold it (a DN spelled so that it names another entry shows here).
    """
    server = ldap3.Server(env["LDAP_URL"], get_info=ldap3.NONE, connect_timeout=10)
    connection = ldap3.Connection(
        server, env["LDAP_BIND_DN"], env["LDAP_PASSWORD"], auto_bind=True, receive_timeout=60
    )
    base = _base_dn(users_base)
    try:
        entries = connection.extend.standard.paged_search(
            base,
            "(|(objectClass=group)(objectClass=groupOfNames)(objectClass=user)"
            "(objectClass=inetOrgPerson))",
            ldap3.SUBTREE,
            attributes=[
                "objectClass",
                "cn",
                "description",
                "member",
                "memberOf",
                "sAMAccountName",
                "uid",
            ],
            paged_size=500,
            generator=False,
        )
        groups, users = _groups_and_users(entries)
        if kind != "active_directory":
            under = {normalized_dn(d) for d in member_of_under}
            for key, group in groups.items():
                if key in under or any(key.endswith("," + u) for u in under):
                    group.member_of = _holders(connection, base, group.dn)
    finally:
        connection.unbind()
    return LiveDirectory(groups=groups, users=users, member_of_kept=True)


def _holders(connection: Any, base: str, dn: str) -> set[str]:
    """Normalized DNs of the groups whose `member` the server matches to `dn`."""
    found = connection.extend.standard.paged_search(
        base,
        f"(member={escape_filter_chars(dn)})",
        ldap3.SUBTREE,
        attributes=["cn"],
        paged_size=500,
        generator=False,
    )
    return {normalized_dn(e["dn"]) for e in found if e.get("type") == "searchResEntry"}


def _groups_and_users(entries: Iterable[Any]) -> tuple[dict[str, LiveGroup], dict[str, str]]:
    groups: dict[str, LiveGroup] = {}
    users: dict[str, str] = {}
    for entry in entries:
        if entry.get("type") != "searchResEntry":
            continue
        attributes = entry["attributes"]
        classes = {c.lower() for c in attributes.get("objectClass") or []}
        if classes & {"group", "groupofnames"}:
            description = attributes.get("description") or ""
            if isinstance(description, list):
                description = description[0] if description else ""
            groups[normalized_dn(entry["dn"])] = LiveGroup(
                dn=entry["dn"],
                name=str(
                    attributes["cn"][0] if isinstance(attributes["cn"], list) else attributes["cn"]
                ),
                description=str(description),
                member_dns={normalized_dn(m) for m in attributes.get("member") or []},
                member_of={normalized_dn(m) for m in attributes.get("memberOf") or []},
            )
        elif "computer" not in classes:
            login = attributes.get("sAMAccountName") or attributes.get("uid")
            if isinstance(login, list):
                login = login[0] if login else None
            if login:
                users[normalized_dn(entry["dn"])] = str(login).lower()
    return groups, users


class _Okta:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.base = env["OKTA_ORG_URL"].rstrip("/")
        self.http = requests.Session()
        self.http.headers.update(
            {"Authorization": f"SSWS {env['OKTA_API_TOKEN']}", "Accept": "application/json"}
        )

    def all(self, path: str) -> list[Any]:
        url: str | None = self.base + path
        items: list[Any] = []
        while url is not None:
            response = self.http.get(url, timeout=30)
            assert response.status_code == 200, (path, response.status_code, response.text)
            items.extend(response.json())
            url = response.links.get("next", {}).get("url")
        return items

    def text(self, path: str) -> str:
        response = self.http.get(
            self.base + path, headers={"Accept": "application/xml"}, timeout=30
        )
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.text


def read_okta(env: Mapping[str, str], *, app_label: str, wanted_names: set[str]) -> OktaView:
    okta = _Okta(env)
    apps = okta.all("/api/v1/apps")
    aws_apps = [a for a in apps if a["name"] == "amazon_aws" and a["label"] == app_label]
    assert len(aws_apps) == 1, f"Okta: {len(aws_apps)} amazon_aws apps labelled {app_label!r}"
    app = aws_apps[0]
    kid = ((app.get("credentials") or {}).get("signing") or {}).get("kid")
    metadata = okta.text(
        f"/api/v1/apps/{app['id']}/sso/saml/metadata" + (f"?kid={kid}" if kid else "")
    )
    app_names = {a["id"]: a["name"] for a in apps}
    groups = {g["id"]: g for g in okta.all("/api/v1/groups")}
    sources: dict[str, str] = {}
    for gid, group in groups.items():
        if group["type"] == "APP_GROUP":
            href = ((group.get("_links") or {}).get("source") or {}).get("href", "")
            sources[gid] = app_names.get(href.rsplit("/", 1)[-1], "?")
        else:
            sources[gid] = "okta" if group["type"] == "OKTA_GROUP" else group["type"].lower()
    assigned_ids = {a["id"] for a in okta.all(f"/api/v1/apps/{app['id']}/groups?limit=200")}
    wanted = {n.lower() for n in wanted_names}
    members = {
        gid: {u["profile"]["login"].lower() for u in okta.all(f"/api/v1/groups/{gid}/users")}
        for gid, group in groups.items()
        if gid in assigned_ids or group["profile"]["name"].lower() in wanted
    }
    return OktaView(
        app=app,
        metadata=metadata,
        assigned={i for i in assigned_ids if i in groups},
        groups=groups,
        sources=sources,
        members=members,
    )
