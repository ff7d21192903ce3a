"""An independent observer: is the live world the desired one, attribute by attribute?

An empty re-plan only says the engine sees no difference; a bug in the engine's read or
diff path (say, `diff_aws` ignoring managed policies) hides from its own re-plan. So
this module judges convergence with nothing of the engine's: the expectation is derived
here from the desired-state YAML (`yaml.safe_load`, grants expanded here, names rendered
with `str.format`), and the live world is read with plain boto3, ldap3 and raw HTTP
against Okta's REST API. It imports no engine module. What it checks:

- AWS, every account: each desired role's trust policy (by meaning: statements as sets,
  single values and one-item lists alike), attached managed policies, max session
  duration, description and the managed tag; the SAML provider's metadata and tag; no
  managed role or provider that is not desired (with `prune`; without it, only the
  leftovers the caller names may remain).
- Directory (Samba AD or slapd): the managed OUs hold exactly the desired groups; each
  group's description, its members (users and groups, resolved to logins and names) and
  on AD, each management group's `memberOf` back-link.
- Okta: the AWS app's `settings.app` (the filters by what they match and produce), its
  group assignments, and with `directory.kind: okta` each group's description and members.
- Access: who can assume which (account, role), computed from the raw reads the way
  Okta and AWS decide it (app assignment, group source in the app filter, group filter
  captures, role value pattern, a role trusting an existing provider), equal to the
  desired access (users of groups whose members the YAML omits are read from live).

Every difference is collected, so one failure lists them all. Cost: one pass of reads
(a few hundred local requests), so every end-to-end test can afford it at its end.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.observer_reads import (
    LiveAccount,
    LiveGroup,
    OktaView,
    normalized_dn,
    read_aws,
    read_directory,
    read_okta,
)

SAML_AUDIENCE = "https://signin.aws.amazon.com/saml"
# The engine's default when settings.role_group_description is absent (its contract).
DEFAULT_ROLE_GROUP_DESCRIPTION = "AWS role {role} in {alias} ({account_id}); managed by okta-aws"
# groupOfNames may not be empty: every group the engine makes on LDAP keeps this member.
LDAP_PLACEHOLDER = "cn=okta-aws-placeholder"
OKTA_SOURCE = {"active_directory": "active_directory", "ldap": "ldap_sun_one", "okta": "okta"}
_OKTA_NAMED = re.compile(r"\(\?\{\{(\w+)\}\}")

Slot = tuple[str, str]  # (account id, role name)


# --- the expectation, from YAML alone ------------------------------------------------------------


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
    metadata: str | None  # the metadata file's text; None: the Okta app's

    @property
    def kind(self) -> str:
        return str(self.settings["directory"]["kind"])

    def role_group_description(self, slot: Slot) -> str:
        template = self.settings.get("role_group_description") or DEFAULT_ROLE_GROUP_DESCRIPTION
        return str(template).format(alias=self.aliases[slot[0]], role=slot[1], account_id=slot[0])

    def grantees(self, slot: Slot) -> list[ManagementGroup]:
        return [g for g in self.groups if slot in g.slots]


def read_desired(directory: Path) -> Desired:
    """The desired state as the YAML says it, every `*.yaml` below `directory` merged."""
    settings: dict[str, Any] = {}
    settings_file = directory
    catalogue: dict[str, Any] = {}
    accounts: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    for path in sorted(directory.rglob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if "settings" in document:
            settings, settings_file = document["settings"], path
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
    syntax = settings.get("role_group_name") or "aws#{alias}#{role}#{account_id}"
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
    metadata_file = (settings.get("saml_provider") or {}).get("metadata_file")
    metadata = (
        (settings_file.parent / metadata_file).read_text(encoding="utf-8")
        if metadata_file
        else None
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


# --- the verdict -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leftovers:
    """What may remain without `--prune` besides the desired world (may, not must)."""

    roles: frozenset[tuple[str, str]] = frozenset()  # (account id, role name)
    assignments: frozenset[str] = frozenset()  # Okta groups assigned by hand


def _canonical_metadata(document: str) -> str:
    return document.replace("\r\n", "\n").strip()


def differences(
    *,
    desired_dir: Path,
    env: Mapping[str, str],
    prune: bool = False,
    leftovers: Leftovers = Leftovers(),
) -> list[str]:
    """Every way the live world differs from the desired one (empty: converged)."""
    want = read_desired(desired_dir)
    settings = want.settings
    problems: list[str] = []
    tag_key, tag_value = next(iter(settings["aws"]["managed_tag"].items()))
    provider_name = settings["saml_provider"]["name"]
    okta = read_okta(
        env,
        app_label=settings["okta"]["app_label"],
        wanted_names=set(want.role_group_names.values()) | {g.name for g in want.groups},
    )
    metadata = want.metadata if want.metadata is not None else okta.metadata

    # AWS
    aws = read_aws(env, settings["aws"]["access_role"], sorted(want.aliases))
    for account_id, live in aws.items():
        where = f"AWS {want.aliases[account_id]} ({account_id})"
        provider = live.providers.get(provider_name)
        if provider is None:
            problems.append(f"{where}: no SAML provider {provider_name}")
        else:
            if _canonical_metadata(provider[0]) != _canonical_metadata(metadata):
                problems.append(f"{where}: provider {provider_name} has other metadata")
            if provider[1].get(tag_key) != tag_value:
                problems.append(f"{where}: provider {provider_name} lacks the managed tag")
        stray = [
            n
            for n, (_, t) in live.providers.items()
            if n != provider_name and t.get(tag_key) == tag_value
        ]
        if stray:
            problems.append(f"{where}: managed SAML providers not desired: {stray}")
        desired_names = {r for (a, r) in want.roles if a == account_id}
        for (a, name), spec in want.roles.items():
            if a != account_id:
                continue
            role = live.roles.get(name)
            if role is None:
                problems.append(f"{where}: no role {name}")
                continue
            if policy_meaning(role.trust) != policy_meaning(
                expected_trust(account_id, provider_name)
            ):
                problems.append(f"{where}: role {name} trust policy {role.trust}")
            if role.policies != set(spec.get("managed_policies") or []):
                problems.append(f"{where}: role {name} managed policies {sorted(role.policies)}")
            if role.max_session != int(spec.get("max_session_duration") or 3600):
                problems.append(f"{where}: role {name} max session {role.max_session}")
            if role.description != (spec.get("description") or ""):
                problems.append(f"{where}: role {name} description {role.description!r}")
            if role.tags.get(tag_key) != tag_value:
                problems.append(f"{where}: role {name} tags {role.tags}")
        for name, role in live.roles.items():
            if name in desired_names or role.tags.get(tag_key) != tag_value:
                continue
            if prune or (account_id, name) not in leftovers.roles:
                problems.append(f"{where}: managed role {name} is not desired")

    # Directory (or Okta's own groups)
    live_members: dict[str, set[str]] = {}  # management group name → logins, as live
    if want.kind == "okta":
        problems += _okta_groups(want, okta, live_members)
    else:
        problems += _directory(want, env, live_members)

    # Okta's app
    problems += _okta_app(want, okta, leftovers)

    # Access: as Okta and AWS would decide it, from the raw reads above
    problems += _access(want, okta, aws, live_members, provider_name)
    return problems


def _directory(
    want: Desired, env: Mapping[str, str], live_members: dict[str, set[str]]
) -> list[str]:
    problems: list[str] = []
    directory = want.settings["directory"]
    groups, users = read_directory(env, users_base=directory["users_base"])
    role_ou, mgmt_ou = (
        normalized_dn(directory["role_groups_ou"]),
        normalized_dn(directory["management_groups_ou"]),
    )

    def in_ou(ou: str) -> dict[str, LiveGroup]:
        return {g.name: g for dn, g in groups.items() if dn.endswith("," + ou)}

    role_groups, managed = in_ou(role_ou), in_ou(mgmt_ou)
    # DNs as the server spells them (escaping included), by cn; adopted groups by their dn.
    mgmt_dn = {
        g.name: normalized_dn(g.dn) if g.dn else normalized_dn(managed[g.name].dn)
        for g in want.groups
        if g.dn or g.name in managed
    }
    wanted_roles = {n: s for s, n in want.role_group_names.items()}
    if sorted(role_groups) != sorted(wanted_roles):
        problems.append(
            f"directory: role groups {sorted(set(role_groups) ^ set(wanted_roles))} differ"
        )
    wanted_managed = {g.name for g in want.groups if g.dn is None}
    if sorted(managed) != sorted(wanted_managed):
        problems.append(
            f"directory: management groups {sorted(set(managed) ^ wanted_managed)} differ"
        )
    for name, slot in wanted_roles.items():
        live = role_groups.get(name)
        if live is None:
            continue
        if live.description != want.role_group_description(slot):
            problems.append(f"directory: {name} description {live.description!r}")
        expected = {mgmt_dn.get(g.name, g.name) for g in want.grantees(slot)}
        members = live.member_dns - {LDAP_PLACEHOLDER}
        if members != expected:
            problems.append(f"directory: {name} members {sorted(members ^ expected)} differ")
    for group in want.groups:
        live = groups.get(mgmt_dn.get(group.name, ""))
        if live is None:
            problems.append(f"directory: no management group {group.name}")
            continue
        logins = {users[m] for m in live.member_dns if m in users}
        live_members[group.name] = logins
        if group.dn is None and live.description != group.description:
            problems.append(f"directory: {group.name} description {live.description!r}")
        if group.members is not None:
            others = live.member_dns - set(users) - {LDAP_PLACEHOLDER}
            if logins != group.members or others:
                problems.append(
                    f"directory: {group.name} members {sorted(logins ^ group.members)} "
                    f"differ; non-users {sorted(others)}"
                )
        # Member Of as AD keeps it (a back-link the server computes). slapd's memberof
        # overlay is no witness: it writes memberOf only for links made while both
        # entries exist, and the sandbox seeds and restores groups in any order.
        if want.kind != "active_directory":
            continue
        expected_of = {
            normalized_dn(role_groups[want.role_group_names[s]].dn)
            for s in group.slots
            if want.role_group_names[s] in role_groups
        }
        ours = {dn for dn in live.member_of if dn.endswith("," + role_ou)}
        if ours != expected_of:
            problems.append(f"directory: {group.name} memberOf {sorted(ours ^ expected_of)} differ")
    return problems


def _okta_groups(want: Desired, okta: OktaView, live_members: dict[str, set[str]]) -> list[str]:
    problems: list[str] = []
    by_name: dict[str, list[str]] = defaultdict(list)
    for okta_id, group in okta.groups.items():
        if okta.sources[okta_id] == "okta":
            by_name[group["profile"]["name"].lower()].append(okta_id)

    def one(name: str) -> str | None:
        found = by_name.get(name.lower(), [])
        if len(found) != 1:
            problems.append(f"okta: {len(found)} OKTA_GROUPs named {name!r}")
            return None
        return found[0]

    for wanted in want.groups:
        gid = one(wanted.name)
        if gid is None:
            continue
        live_members[wanted.name] = okta.members[gid]
        if (okta.groups[gid]["profile"].get("description") or "") != wanted.description:
            problems.append(f"okta: {wanted.name} description differs")
        if wanted.members is not None and okta.members[gid] != wanted.members:
            problems.append(
                f"okta: {wanted.name} members {sorted(okta.members[gid] ^ wanted.members)} differ"
            )
    for slot, name in want.role_group_names.items():
        gid = one(name)
        if gid is None:
            continue
        if (okta.groups[gid]["profile"].get("description") or "") != want.role_group_description(
            slot
        ):
            problems.append(f"okta: {name} description differs")
        grantees = want.grantees(slot)
        if all(g.members is not None for g in grantees):
            union = set().union(*(g.members or set() for g in grantees))
            if okta.members[gid] != union:
                problems.append(f"okta: {name} members {sorted(okta.members[gid] ^ union)} differ")
    return problems


def _okta_app(want: Desired, okta: OktaView, leftovers: Leftovers) -> list[str]:
    problems: list[str] = []
    spec = want.settings["okta"]
    app = okta.app["settings"]["app"]
    sources = {s.strip() for s in str(app.get("appFilter") or "").split(",") if s.strip()}
    wanted_sources = {
        s.strip() for s in str(spec.get("app_filter") or OKTA_SOURCE[want.kind]).split(",")
    }
    if sources != wanted_sources:
        problems.append(f"okta: appFilter {app.get('appFilter')!r}")
    if app.get("useGroupMapping") is not True:
        problems.append(f"okta: useGroupMapping {app.get('useGroupMapping')!r}")
    if int(app.get("sessionDuration") or 0) != int(spec.get("session_duration") or 3600):
        problems.append(f"okta: sessionDuration {app.get('sessionDuration')!r}")
    if bool(app.get("joinAllRoles")) != bool(spec.get("join_all_roles")):
        problems.append(f"okta: joinAllRoles {app.get('joinAllRoles')!r}")
    # The filters by meaning: every role group name yields its (account, role); no
    # management group name matches.
    group_filter = str(app.get("groupFilter") or "")
    if spec.get("group_filter") and group_filter != spec["group_filter"]:
        problems.append(f"okta: groupFilter {group_filter!r}")
    try:
        pattern = okta_regex(group_filter)
    except re.error:
        problems.append(f"okta: groupFilter {group_filter!r} is no regex")
        return problems
    for (account_id, role), name in want.role_group_names.items():
        found = pattern.search(name) if group_filter else None
        got = (
            None
            if found is None
            else (found.groupdict().get("accountid"), found.groupdict().get("role"))
        )
        if got != (account_id, role):
            problems.append(f"okta: groupFilter {group_filter!r} reads {name!r} as {got}")
            break
    matching = [g.name for g in want.groups if group_filter and pattern.search(g.name)]
    if matching:
        problems.append(f"okta: groupFilter {group_filter!r} matches management groups {matching}")
    pattern_value = str(app.get("roleValuePattern") or "")
    provider = want.settings["saml_provider"]["name"]
    if spec.get("role_value_pattern"):
        if pattern_value != spec["role_value_pattern"]:
            problems.append(f"okta: roleValuePattern {pattern_value!r}")
    else:
        produced = pattern_value.replace("${accountid}", "111122223333").replace("${role}", "Probe")
        wanted = (
            "arn:aws:iam::111122223333:saml-provider/"
            + provider
            + ",arn:aws:iam::111122223333:role/Probe"
        )
        if produced != wanted:
            problems.append(f"okta: roleValuePattern {pattern_value!r} yields {produced!r}")
    # Assignments: exactly the management groups whose grants reach a role, plus
    # (possibly) the hand-made ones the engine never owns.
    wanted_assigned = {g.name for g in want.groups if g.slots}
    extra = okta.assigned - wanted_assigned - leftovers.assignments
    if wanted_assigned - okta.assigned or extra:
        problems.append(
            f"okta: assignments missing {sorted(wanted_assigned - okta.assigned)}, "
            f"extra {sorted(extra)}"
        )
    return problems


def _access(
    want: Desired,
    okta: OktaView,
    aws: Mapping[str, LiveAccount],
    live_members: Mapping[str, set[str]],
    provider: str,
) -> list[str]:
    """Entitlements as Okta and AWS decide them, against the YAML's (per user)."""
    app = okta.app["settings"]["app"]
    sources = {s.strip() for s in str(app.get("appFilter") or "").split(",") if s.strip()}
    group_filter = str(app.get("groupFilter") or "")
    value = str(app.get("roleValuePattern") or "")
    live: dict[str, set[Slot]] = defaultdict(set)
    by_name = {g["profile"]["name"]: gid for gid, g in okta.groups.items()}
    assigned_users = set().union(*(okta.members.get(by_name[n], set()) for n in okta.assigned))
    if group_filter:
        pattern = okta_regex(group_filter)
        for gid, group in okta.groups.items():
            found = pattern.search(group["profile"]["name"])
            if found is None or okta.sources[gid] not in sources or gid not in okta.members:
                continue
            account_id, role = found.group("accountid"), found.group("role")
            pair = value.replace("${accountid}", account_id).replace("${role}", role).split(",")
            live_role = aws.get(account_id, LiveAccount()).roles.get(role)
            provider_arn = pair[0] if len(pair) == 2 else ""
            ok = (
                live_role is not None
                and len(pair) == 2
                and pair[1] == f"arn:aws:iam::{account_id}:role/{role}"
                and provider_arn.rsplit("/", 1)[-1] in aws[account_id].providers
                and provider_arn in trusted_providers(live_role.trust)
            )
            if ok:
                for user in okta.members[gid] & assigned_users:
                    live[user].add((account_id, role))
    wanted: dict[str, set[Slot]] = defaultdict(set)
    for management in want.groups:
        members = (
            management.members
            if management.members is not None
            else live_members.get(management.name, set())
        )
        for user in members:
            wanted[user].update(management.slots)
    # Okta cannot nest: a role group whose grantees' members are not all listed has
    # members the YAML does not decide; its users are not compared.
    unknown = (
        {s for s in want.role_group_names if any(g.members is None for g in want.grantees(s))}
        if want.kind == "okta"
        else set()
    )
    problems = []
    for user in sorted(set(live) | set(wanted)):
        live[user] -= unknown
        wanted[user] -= unknown
        if live[user] != wanted[user]:
            problems.append(
                f"access: {user} gains {sorted(live[user] - wanted[user])}, "
                f"lacks {sorted(wanted[user] - live[user])}"
            )
    return problems


def assert_converged(
    *,
    desired_dir: Path,
    env: Mapping[str, str],
    prune: bool = False,
    leftovers: Leftovers = Leftovers(),
) -> None:
    """Fail with every difference between the live world and `desired_dir`'s YAML."""
    found = differences(desired_dir=desired_dir, env=env, prune=prune, leftovers=leftovers)
    assert not found, "the live world is not the desired one:\n  " + "\n  ".join(found)
