"""Random small desired states and hand-made drift for the random convergence property.

The shapes of the example desired state, drawn small (`desired_states`): accounts with
roles and tags, adopted roles, management groups with account / wildcard / tag grants,
listed or omitted members, an adopted department group by `dn:`, any directory kind.
The drift is made by hand through each system's own API (boto3, ldap3, Okta's REST
API), as an admin would: roles deleted or edited, policies detached, providers deleted,
nesting removed, strays added, role groups deleted, assignments removed, the app's
settings edited, a role of someone else's (another owner's tag) added. The ownership
conflicts (a desired role held untagged or under another owner's tag) and the provider
rename are made here too; `test_random_convergence.py` runs the engine over them.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ldap3
import requests
import yaml
from hypothesis import strategies as st

from engine.load import load
from engine.sandbox.world import SandboxEndpoints
from engine.spec import DesiredState, Severity
from engine.validate import validate
from tests.e2e.harness import DESIRED
from tests.sandbox_iam import iam_client

ACCOUNTS = (("111111111111", "alpha"), ("222222222222", "beta"), ("333333333333", "gamma"))
CATALOGUE: dict[str, dict[str, Any]] = {
    "Admin": {
        "managed_policies": ["arn:aws:iam::aws:policy/AdministratorAccess"],
        "max_session_duration": 3600,
    },
    "ReadOnly": {"managed_policies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]},
    "Deploy": {
        "description": "Deployments",
        "managed_policies": [
            "arn:aws:iam::aws:policy/PowerUserAccess",
            "arn:aws:iam::aws:policy/IAMReadOnlyAccess",
        ],
        "max_session_duration": 7200,
    },
}
GROUPS = ("Platform Admins", "Developers", "Auditors")
USERS = ("alice", "bob", "carol", "dave")
DIRECTORIES: dict[str, dict[str, str]] = {
    "active_directory": {
        "role_groups_ou": "OU=AWS Role Groups,DC=example,DC=test",
        "management_groups_ou": "OU=AWS Management Groups,DC=example,DC=test",
        "users_base": "CN=Users,DC=example,DC=test",
    },
    "ldap": {
        "role_groups_ou": "ou=AWS Role Groups,dc=example,dc=test",
        "management_groups_ou": "ou=AWS Management Groups,dc=example,dc=test",
        "users_base": "ou=people,dc=example,dc=test",
    },
    "okta": {},
}
APP_FILTER = {"active_directory": "active_directory", "ldap": "ldap_sun_one", "okta": "okta"}
ADOPTED_DN = {
    "active_directory": "CN=Finance Department,OU=Departments,DC=example,DC=test",
    "ldap": "cn=Finance Department,ou=Departments,dc=example,dc=test",
}
DRIFTS = (
    "aws_foreign_role",
    "aws_delete_role",
    "aws_edit_role",
    "aws_detach_policy",
    "aws_delete_provider",
    "directory_remove_nesting",
    "directory_add_stray",
    "directory_delete_role_group",
    "okta_unassign",
    "okta_edit_settings",
)


@st.composite
def desired_states(draw: st.DrawFn) -> dict[str, Any]:
    """The YAML documents of a small valid desired state."""
    kind = draw(st.sampled_from(sorted(DIRECTORIES)))
    chosen = draw(st.lists(st.sampled_from(ACCOUNTS), min_size=1, max_size=3, unique=True))
    accounts = []
    for account_id, alias in chosen:
        roles = draw(
            st.lists(st.sampled_from(sorted(CATALOGUE)), min_size=1, max_size=3, unique=True)
        )
        account: dict[str, Any] = {
            "id": account_id,
            "alias": alias,
            "roles": roles,
            "tags": {
                "env": draw(st.sampled_from(["prod", "dev"])),
                "team": draw(st.sampled_from(["payments", "data"])),
            },
        }
        if draw(st.booleans()) and draw(st.booleans()):
            account["adopt_roles"] = [roles[0]]
        accounts.append(account)
    slots = [(a["alias"], r) for a in accounts for r in a["roles"]]
    grant = st.one_of(
        st.sampled_from(slots).map(lambda s: {"account": s[0], "role": s[1]}),
        st.sampled_from(sorted({r for _, r in slots})).map(lambda r: {"account": "*", "role": r}),
        # account_tags: any non-empty part of one account's tags (may reach several).
        st.sampled_from(accounts).flatmap(
            lambda a: st.tuples(
                st.sampled_from(a["roles"]),
                st.lists(st.sampled_from(sorted(a["tags"])), min_size=1, unique=True),
            ).map(lambda p: {"account_tags": {k: a["tags"][k] for k in p[1]}, "role": p[0]})
        ),
    )
    names = draw(st.lists(st.sampled_from(GROUPS), min_size=1, max_size=3, unique=True))
    groups = []
    for name in names:
        group: dict[str, Any] = {
            "name": name,
            "grants": draw(st.lists(grant, min_size=1, max_size=3)),
        }
        if draw(st.booleans()):
            group["members"] = draw(st.lists(st.sampled_from(USERS), max_size=3, unique=True))
        groups.append(group)
    if kind != "okta" and draw(st.booleans()):
        groups.append(
            {"name": "Finance Department", "dn": ADOPTED_DN[kind], "grants": [draw(grant)]}
        )
    settings_doc = yaml.safe_load((DESIRED / "settings.yaml").read_text(encoding="utf-8"))
    settings_doc["settings"]["directory"] = {"kind": kind, **DIRECTORIES[kind]}
    settings_doc["settings"]["okta"]["app_filter"] = APP_FILTER[kind]
    settings_doc["settings"]["safety"] = {"max_deletions": 100, "protected": []}
    return {
        "settings.yaml": settings_doc,
        "roles.yaml": {"roles": {name: CATALOGUE[name] for name in sorted(CATALOGUE)}},
        "accounts.yaml": {"accounts": accounts},
        "groups.yaml": {"management_groups": groups},
    }


@dataclass(frozen=True)
class Drift:
    what: str
    pick: int  # which of the candidates (modulo their number)


drifts = st.lists(
    st.builds(Drift, st.sampled_from(DRIFTS), st.integers(min_value=0, max_value=50)), max_size=4
)


def write_state(root: Path, documents: dict[str, Any]) -> DesiredState:
    """Write `documents` to `root/desired-state` (again, if there) and load them."""
    target = root / "desired-state"
    target.mkdir(parents=True, exist_ok=True)
    (target / "okta-idp-metadata.xml").write_bytes((DESIRED / "okta-idp-metadata.xml").read_bytes())
    for name, document in documents.items():
        (target / name).write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    state = load(directory=target)
    errors = [p for p in validate(state=state) if p.severity is Severity.ERROR]
    assert not errors, errors  # the strategy only makes valid states
    return state


# --- ownership and renames: edits of the YAML between applies -------------------------------------

FOREIGN_ROLE = "PlatformTeamRole"  # someone else's role, in no desired state
FOREIGN_TAGS = [{"Key": "managed-by", "Value": "terraform"}]  # our tag key, another owner
FOREIGN_POLICY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
RENAMED_PROVIDER = "OKTA-NEXT"
CONFLICTS = ("untagged", "foreign")


def conflict_slot(documents: dict[str, Any]) -> tuple[str, str]:
    """The (account id, role) held by someone else in a conflict: the first one."""
    account = documents["accounts.yaml"]["accounts"][0]
    return str(account["id"]), str(account["roles"][0])


def without_adoption(documents: dict[str, Any], slot: tuple[str, str]) -> dict[str, Any]:
    """`documents` with `slot` adopted nowhere (so a role held there is a conflict)."""
    changed = copy.deepcopy(documents)
    for account in changed["accounts.yaml"]["accounts"]:
        if str(account["id"]) == slot[0] and slot[1] in account.get("adopt_roles", []):
            account["adopt_roles"] = [r for r in account["adopt_roles"] if r != slot[1]]
    return changed


def adopting(documents: dict[str, Any], slot: tuple[str, str]) -> dict[str, Any]:
    """`documents` resolving the conflict at `slot` the way the finding advises."""
    changed = copy.deepcopy(documents)
    for account in changed["accounts.yaml"]["accounts"]:
        if str(account["id"]) == slot[0]:
            account["adopt_roles"] = [*account.get("adopt_roles", []), slot[1]]
    return changed


def renamed_provider(documents: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(documents)
    changed["settings.yaml"]["settings"]["saml_provider"]["name"] = RENAMED_PROVIDER
    return changed


def hold_role(ends: SandboxEndpoints, slot: tuple[str, str], how: str) -> list[dict[str, str]]:
    """Make the role at `slot` someone else's: without our tag, or under another
    owner's value of it. Returns its tags as left."""
    iam = iam_client(ends, slot[0])
    name = slot[1]
    try:
        iam.get_role(RoleName=name)
    except iam.exceptions.NoSuchEntityException:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=_root_trust(slot[0]))
    tags = iam.list_role_tags(RoleName=name)["Tags"]
    if tags:
        iam.untag_role(RoleName=name, TagKeys=[t["Key"] for t in tags])
    if how == "foreign":
        iam.tag_role(RoleName=name, Tags=FOREIGN_TAGS)
    return sorted_tags(iam.list_role_tags(RoleName=name)["Tags"])


def role_tags(ends: SandboxEndpoints, account_id: str, name: str) -> list[dict[str, str]] | None:
    iam = iam_client(ends, account_id)
    try:
        iam.get_role(RoleName=name)
    except iam.exceptions.NoSuchEntityException:
        return None
    return sorted_tags(iam.list_role_tags(RoleName=name)["Tags"])


def sorted_tags(tags: list[Any]) -> list[dict[str, str]]:
    return sorted(({"Key": t["Key"], "Value": t["Value"]} for t in tags), key=lambda t: t["Key"])


def _root_trust(account_id: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


# --- drift by hand, through each system's API ----------------------------------------------------


def drift_aws(ends: SandboxEndpoints, state: DesiredState, drift: Drift) -> None:
    account = state.accounts[drift.pick % len(state.accounts)]
    iam = iam_client(ends, account.id)
    key, value = state.settings.aws.managed_tag
    if drift.what == "aws_foreign_role":  # never ours: kept as is, even with --prune
        if role_tags(ends, account.id, FOREIGN_ROLE) is None:
            iam.create_role(
                RoleName=FOREIGN_ROLE,
                AssumeRolePolicyDocument=_root_trust(account.id),
                Tags=FOREIGN_TAGS,
            )
            iam.attach_role_policy(RoleName=FOREIGN_ROLE, PolicyArn=FOREIGN_POLICY)
        return
    if drift.what == "aws_delete_provider":
        for provider in iam.list_saml_providers()["SAMLProviderList"]:
            tags = iam.list_saml_provider_tags(SAMLProviderArn=provider["Arn"])["Tags"]
            if {"Key": key, "Value": value} in tags:
                iam.delete_saml_provider(SAMLProviderArn=provider["Arn"])
        return
    ours = [
        r["RoleName"]
        for r in iam.list_roles()["Roles"]
        if {"Key": key, "Value": value} in iam.list_role_tags(RoleName=r["RoleName"])["Tags"]
    ]
    if not ours:
        return
    name = ours[drift.pick % len(ours)]
    attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    if drift.what == "aws_edit_role":
        iam.update_role(RoleName=name, Description="edited by hand", MaxSessionDuration=5400)
    elif drift.what == "aws_detach_policy" and attached:
        iam.detach_role_policy(RoleName=name, PolicyArn=attached[0]["PolicyArn"])
    elif drift.what == "aws_delete_role":
        for policy in attached:
            iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
        iam.delete_role(RoleName=name)


def directory_connection(ends: SandboxEndpoints) -> Any:
    """A bound ldap3 connection to the sandbox's directory server, as an admin's tool."""
    assert ends.ldap_url is not None
    server = ldap3.Server(ends.ldap_url, get_info=ldap3.NONE, connect_timeout=5)
    return ldap3.Connection(
        server, user=ends.bind_dn, password=ends.password, auto_bind=True, receive_timeout=60
    )


def drift_directory(ends: SandboxEndpoints, state: DesiredState, drift: Drift) -> None:
    if ends.ldap_url is None:
        return  # directory.kind okta: there is no directory
    directory = state.settings.directory
    connection = directory_connection(ends)
    try:
        connection.search(
            directory.role_groups_ou,
            "(|(objectClass=group)(objectClass=groupOfNames))",
            ldap3.SUBTREE,
            attributes=["member"],
        )
        groups = sorted(
            (e["dn"], list(e["attributes"].get("member") or []))
            for e in connection.response
            if e.get("type") == "searchResEntry"
        )
        if not groups:
            return
        dn, members = groups[drift.pick % len(groups)]
        if drift.what == "directory_delete_role_group":
            assert connection.delete(dn), connection.result
        elif drift.what == "directory_remove_nesting" and members:
            removed = members[drift.pick % len(members)]
            changed = connection.modify(dn, {"member": [(ldap3.MODIFY_DELETE, [removed])]})
            # slapd refuses to empty a groupOfNames (objectClassViolation): no such drift.
            assert changed or connection.result["result"] == 65, connection.result
        elif drift.what == "directory_add_stray":
            connection.search(directory.users_base, "(|(cn=walter)(uid=walter))", ldap3.SUBTREE)
            users = [e["dn"] for e in connection.response if e.get("type") == "searchResEntry"]
            if users and users[0] not in members:
                assert connection.modify(dn, {"member": [(ldap3.MODIFY_ADD, users[:1])]})
    finally:
        connection.unbind()


def drift_okta(ends: SandboxEndpoints, drift: Drift) -> None:
    http = requests.Session()
    http.headers["Authorization"] = f"SSWS {ends.okta_token}"
    base = ends.okta_org_url
    apps = [
        a for a in http.get(f"{base}/api/v1/apps", timeout=10).json() if a["name"] == "amazon_aws"
    ]
    if not apps:
        return
    app = apps[0]
    if drift.what == "okta_edit_settings":
        app["settings"]["app"]["groupFilter"] = "aws_(?{{accountid}}\\d+)_(?{{role}}.+)"
        app["settings"]["app"]["joinAllRoles"] = True
        http.put(f"{base}/api/v1/apps/{app['id']}", json=app, timeout=10).raise_for_status()
        return
    assigned = http.get(f"{base}/api/v1/apps/{app['id']}/groups?limit=200", timeout=10).json()
    if assigned:
        group = assigned[drift.pick % len(assigned)]["id"]
        http.delete(f"{base}/api/v1/apps/{app['id']}/groups/{group}", timeout=10).raise_for_status()


def apply_drift(ends: SandboxEndpoints, state: DesiredState, drift: Drift) -> None:
    if drift.what.startswith("aws_"):
        drift_aws(ends, state, drift)
    elif drift.what.startswith("directory_"):
        drift_directory(ends, state, drift)
    else:
        drift_okta(ends, drift)


SERVER_FOR_KIND = {"active_directory": "samba", "ldap": "slapd", "okta": "auto"}

# Always tried: a policy detached by hand from a converged role (nothing else about the
# role differs), with --prune. An engine blind to managed policies passes its own
# re-plan here; the observer catches it.
POLICY_DRIFT_STATE: dict[str, Any] = {
    "settings.yaml": {
        "settings": {
            **yaml.safe_load((DESIRED / "settings.yaml").read_text(encoding="utf-8"))["settings"],
            "directory": {"kind": "ldap", **DIRECTORIES["ldap"]},
            "safety": {"max_deletions": 100, "protected": []},
        }
    },
    "roles.yaml": {"roles": CATALOGUE},
    "accounts.yaml": {
        "accounts": [
            {"id": i, "alias": a, "roles": ["Admin", "Deploy"], "tags": {"env": "prod"}}
            for i, a in ACCOUNTS
        ]
    },
    "groups.yaml": {
        "management_groups": [
            {
                "name": "Platform Admins",
                "grants": [{"account_tags": {"env": "prod"}, "role": "Deploy"}],
                "members": ["alice", "bob"],
            }
        ]
    },
}
POLICY_DRIFT_STATE["settings.yaml"]["settings"]["okta"] = {
    **POLICY_DRIFT_STATE["settings.yaml"]["settings"]["okta"],
    "app_filter": APP_FILTER["ldap"],
}
