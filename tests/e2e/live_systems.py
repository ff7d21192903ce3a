"""The served systems seen through their own APIs, and where their writes stand.

End-to-end assertions must not trust the engine's read path or its own call tally, so
this is how the tests look: boto3 (STS AssumeRole into each account), ldap3, Okta's REST
API with `Link` paging, and the write counts the systems themselves keep: moto's request
recorder, the emulator's request counts, the directory's change markers. It also plays
Okta's directory agent (the import) through the emulator's admin API.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from typing import Any

import boto3
import ldap3
import requests

from engine.model import DirectoryKind
from engine.sandbox.directory_store import canonical_records
from engine.sandbox.okta_emulator import records_from_ldap3
from engine.sandbox.persist import SandboxMeta

_AWS_READS = re.compile(r"^(Get|List|AssumeRole$|GetCallerIdentity$)")


class Live:
    """Clients of the served systems, built from the printed environment only."""

    def __init__(self, *, env: dict[str, str], meta: SandboxMeta) -> None:
        self.env = env
        self.meta = meta
        self.aws = boto3.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )
        self._http = requests.Session()
        self._http.headers.update(
            {"Authorization": f"SSWS {env['OKTA_API_TOKEN']}", "Accept": "application/json"}
        )

    # Okta
    def okta(self, method: str, path: str, body: Any = None) -> Any:
        response = self._http.request(
            method, self.env["OKTA_ORG_URL"] + path, json=body, timeout=30
        )
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def okta_all(self, path: str) -> list[Any]:
        """Every item of an Okta listing, following `Link: rel="next"` as clients must."""
        url: str | None = self.env["OKTA_ORG_URL"] + path
        items: list[Any] = []
        while url is not None:
            response = self._http.get(url, timeout=30)
            assert response.status_code == 200, response.text
            items.extend(response.json())
            url = response.links.get("next", {}).get("url")
        return items

    def okta_requests(self) -> Counter[tuple[str, str]]:
        counts = self.okta("GET", "/_emulator/requests")["counts"]
        return Counter({(c["method"], c["route"]): c["count"] for c in counts})

    def okta_writes(self) -> int:
        """API requests other than GET the emulator has received (failed attempts too)."""
        return sum(n for (method, _), n in self.okta_requests().items() if method != "GET")

    def app_id(self) -> str:
        apps = [a for a in self.okta_all("/api/v1/apps") if a["name"] == "amazon_aws"]
        assert len(apps) == 1, apps
        return str(apps[0]["id"])

    def assigned_group_names(self) -> list[str]:
        assigned = self.okta_all(f"/api/v1/apps/{self.app_id()}/groups?limit=200")
        groups = {g["id"]: g["profile"]["name"] for g in self.okta_all("/api/v1/groups")}
        return [groups[a["id"]] for a in assigned]

    def import_directory(self) -> dict[str, Any]:
        """Okta's directory agent, now: read the imported OUs over LDAP, post the records."""
        apps = [
            a for a in self.okta_all("/api/v1/apps") if a["name"] == self.meta.okta_directory_app
        ]
        assert len(apps) == 1, apps
        connection = self.ldap()
        try:
            records = canonical_records(
                records_from_ldap3(connection, base_dns=list(self.meta.imported_ous)),
                flavor=self.meta.flavor,
            )
        finally:
            connection.unbind()
        body = {
            "sourceAppId": apps[0]["id"],
            "importedOuDns": list(self.meta.imported_ous),
            "groups": [
                {
                    "dn": g.dn,
                    "name": g.name,
                    "description": g.description,
                    "memberDns": list(g.member_dns),
                }
                for g in records.groups
            ],
            "users": [
                {
                    "dn": u.dn,
                    "login": u.login,
                    "email": u.email,
                    "firstName": u.first_name,
                    "lastName": u.last_name,
                }
                for u in records.users
            ],
        }
        result: dict[str, Any] = self.okta("POST", "/_emulator/import", body)
        return result

    # Directory
    def ldap(self) -> ldap3.Connection:
        server = ldap3.Server(self.env["LDAP_URL"], get_info=ldap3.NONE)
        return ldap3.Connection(
            server, self.env["LDAP_BIND_DN"], self.env["LDAP_PASSWORD"], auto_bind=True
        )

    def directory_marker(self) -> Any:
        """Changes whenever anything in the directory is written (AD: the highest committed
        USN; slapd: every entry's entryCSN, which also shows additions and deletions)."""
        connection = self.ldap()
        try:
            if self.meta.flavor is DirectoryKind.ACTIVE_DIRECTORY:
                connection.search(
                    "", "(objectClass=*)", ldap3.BASE, attributes=["highestCommittedUSN"]
                )
                return connection.response[0]["attributes"]["highestCommittedUSN"]
            connection.search(
                self.meta.base_dn, "(objectClass=*)", ldap3.SUBTREE, attributes=["entryCSN"]
            )
            return frozenset(
                (e["dn"].lower(), tuple(e["attributes"].get("entryCSN") or ()))
                for e in connection.response
                if e.get("type") == "searchResEntry"
            )
        finally:
            connection.unbind()

    def group_names(self, ou: str) -> list[str]:
        connection = self.ldap()
        try:
            connection.search(
                ou,
                "(|(objectClass=group)(objectClass=groupOfNames))",
                ldap3.SUBTREE,
                attributes=["cn"],
            )
            return [
                str(e["attributes"]["cn"][0])
                for e in connection.response
                if e.get("type") == "searchResEntry"
            ]
        finally:
            connection.unbind()

    # AWS
    def iam(self, account_id: str) -> Any:
        sts = self.aws.client("sts", endpoint_url=self.env["AWS_ENDPOINT_URL"])
        credentials = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/{self.meta.access_role}",
            RoleSessionName="okta-aws-e2e",
        )["Credentials"]
        return self.aws.client(
            "iam",
            endpoint_url=self.env["AWS_ENDPOINT_URL"],
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    def role_names(self, account_id: str) -> list[str]:
        pages = self.iam(account_id).get_paginator("list_roles").paginate()
        return [role["RoleName"] for page in pages for role in page["Roles"]]

    def saml_provider_names(self, account_id: str) -> list[str]:
        listed = self.iam(account_id).list_saml_providers()["SAMLProviderList"]
        return [p["Arn"].rsplit("/", 1)[1] for p in listed]

    def record_aws(self) -> None:
        """Start moto's request recorder afresh (it sees every request, retries too)."""
        for action in ("reset-recording", "start-recording"):
            requests.post(f"{self.env['AWS_ENDPOINT_URL']}/moto-api/recorder/{action}", timeout=30)

    def aws_actions(self) -> Counter[str]:
        """IAM/STS actions moto received since `record_aws` (by the Action parameter)."""
        text = requests.get(
            f"{self.env['AWS_ENDPOINT_URL']}/moto-api/recorder/download-recording", timeout=30
        ).text
        actions: Counter[str] = Counter()
        for line in text.splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            body = entry.get("body") or ""
            if entry.get("body_encoded"):
                body = base64.b64decode(body).decode()
            action = urllib.parse.parse_qs(body).get("Action", ["?"])[0]
            actions[action] += 1
        return actions

    def aws_writes(self) -> int:
        return sum(n for action, n in self.aws_actions().items() if not _AWS_READS.match(action))


@dataclass(frozen=True)
class WriteMarks:
    """Where every system's writes stood at one moment (from the systems themselves)."""

    okta_writes: int
    aws_writes: int
    directory: Any


def write_marks(live: Live) -> WriteMarks:
    return WriteMarks(
        okta_writes=live.okta_writes(),
        aws_writes=live.aws_writes(),
        directory=live.directory_marker(),
    )
