"""The observer's verdict: do the holdings read (or simulated) equal the desired state?

Pure comparisons of `tests/observer_views.py` against `tests/observer_expect.Desired`,
attribute by attribute, collecting every difference so one failure lists them all:

- AWS, every desired account: each desired role's trust policy (by meaning), attached
  managed policies, max session duration, description and the managed tag; the SAML
  provider's metadata and tag; no managed role or provider that is not desired (without
  `prune`, the leftovers the caller names may remain).
- Directory: the managed OUs hold exactly the desired groups (leftovers aside without
  `prune`); each group's description and members (users and groups) and, where the
  server keeps it (AD), each management group's `memberOf` back-link.
- Okta: the AWS app's `settings.app` (the filters by what they match and produce), its
  group assignments, and with `directory.kind: okta` each group's description and members.
- Access: who can assume which (account, role), computed from the holdings the way Okta
  and AWS decide it (app assignment, group source in the app filter, group filter
  captures, role value pattern, a role trusting an existing provider), equal to the
  desired access (users of groups whose members the YAML omits are taken from the
  holdings).

No engine code here: the end-to-end tests and the diff's property tests both trust it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from tests.observer_expect import (
    DEFAULT_LOGIN_URL,
    Desired,
    Slot,
    canonical_metadata,
    expected_trust,
    okta_regex,
    policy_meaning,
    trusted_providers,
)
from tests.observer_views import LiveAccount, LiveDirectory, LiveGroup, OktaView, normalized_dn

# groupOfNames may not be empty: every group the engine makes on LDAP keeps this member.
LDAP_PLACEHOLDER = "cn=okta-aws-placeholder"


@dataclass(frozen=True)
class Leftovers:
    """What may remain besides the desired world (may, not must). All but `assignments`
    count only without `prune`; hand-made assignments are never okta-aws's to remove."""

    roles: frozenset[tuple[str, str]] = frozenset()  # (account id, role name)
    providers: frozenset[str] = frozenset()  # SAML provider names (a renamed one's old name)
    assignments: frozenset[str] = frozenset()  # Okta groups assigned by hand
    groups: frozenset[str] = frozenset()  # names of groups in the managed OUs
    slots: frozenset[Slot] = frozenset()  # (account id, role) not desired, access unjudged


NO_LEFTOVERS = Leftovers()


def judge(
    *,
    want: Desired,
    aws: Mapping[str, LiveAccount],
    directory: LiveDirectory | None,
    okta: OktaView,
    prune: bool,
    leftovers: Leftovers = NO_LEFTOVERS,
) -> list[str]:
    """Every way the holdings differ from the desired state (empty: converged)."""
    if prune:
        leftovers = Leftovers(assignments=leftovers.assignments)
    problems = _aws(want, aws, okta, leftovers)
    live_members: dict[str, set[str]] = {}  # management group name → logins, as held
    if want.kind == "okta":
        problems += _okta_groups(want, okta, live_members)
    else:
        assert directory is not None, "a directory kind needs the directory's holdings"
        problems += _directory(want, directory, live_members, leftovers)
    problems += _okta_app(want, okta, leftovers)
    problems += _access(want, okta, aws, live_members, leftovers)
    return problems


def _aws(
    want: Desired, aws: Mapping[str, LiveAccount], okta: OktaView, leftovers: Leftovers
) -> list[str]:
    problems: list[str] = []
    settings = want.settings
    tag_key, tag_value = next(iter(settings["aws"]["managed_tag"].items()))
    provider_name = settings["saml_provider"]["name"]
    metadata = want.metadata if want.metadata is not None else okta.metadata
    for account_id in want.aliases:
        live = aws.get(account_id)
        where = f"AWS {want.aliases[account_id]} ({account_id})"
        if live is None:
            problems.append(f"{where}: not read")
            continue
        provider = live.providers.get(provider_name)
        if provider is None:
            problems.append(f"{where}: no SAML provider {provider_name}")
        else:
            if canonical_metadata(provider[0]) != canonical_metadata(metadata):
                problems.append(f"{where}: provider {provider_name} has other metadata")
            if provider[1].get(tag_key) != tag_value:
                problems.append(f"{where}: provider {provider_name} lacks the managed tag")
        stray = [
            n
            for n, (_, t) in live.providers.items()
            if n != provider_name and t.get(tag_key) == tag_value and n not in leftovers.providers
        ]
        if stray:
            problems.append(f"{where}: managed SAML providers not desired: {stray}")
        desired_names = {r.lower() for (a, r) in want.roles if a == account_id}
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
            if name.lower() in desired_names or role.tags.get(tag_key) != tag_value:
                continue
            if (account_id, name) not in leftovers.roles:
                problems.append(f"{where}: managed role {name} is not desired")
    return problems


def _directory(
    want: Desired,
    directory: LiveDirectory,
    live_members: dict[str, set[str]],
    leftovers: Leftovers,
) -> list[str]:
    problems: list[str] = []
    groups, users = directory.groups, directory.users
    settings = want.settings["directory"]
    role_ou, mgmt_ou = (
        normalized_dn(settings["role_groups_ou"]),
        normalized_dn(settings["management_groups_ou"]),
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
    differ = (set(role_groups) - set(wanted_roles) - leftovers.groups) | (
        set(wanted_roles) - set(role_groups)
    )
    if differ:
        problems.append(f"directory: role groups {sorted(differ)} differ")
    wanted_managed = {g.name for g in want.groups if g.dn is None}
    differ = (set(managed) - wanted_managed - leftovers.groups) | (wanted_managed - set(managed))
    if differ:
        problems.append(f"directory: management groups {sorted(differ)} differ")
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
        # `members:` lists logins. A group nested by hand is outside what the YAML says
        # (the engine leaves it); what it does, give its users access, is judged below.
        if group.members is not None and logins != group.members:
            problems.append(
                f"directory: {group.name} members {sorted(logins ^ group.members)} differ"
            )
        # Member Of as AD keeps it: a back-link the server computes, so a witness of its
        # own. Elsewhere (slapd, a simulated world) memberOf can only be the inverse of
        # the role groups' `member`, which the loop above compares exactly for every role
        # group the OU may hold: checking it again could not fail on its own.
        if not directory.member_of_kept:
            continue
        expected_of = {
            normalized_dn(role_groups[want.role_group_names[s]].dn)
            for s in group.slots
            if want.role_group_names[s] in role_groups
        }
        left = {
            normalized_dn(g.dn)
            for n, g in role_groups.items()
            if n in leftovers.groups and n not in wanted_roles
        }
        ours = {dn for dn in live.member_of if dn.endswith("," + role_ou)} - left
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
        live_members[wanted.name] = okta.members.get(gid, set())
        # An omitted description leaves an Okta group's as an admin wrote it (the
        # contract for kind okta; a directory group's is blanked, checked above).
        held = okta.groups[gid]["profile"].get("description") or ""
        if wanted.description and held != wanted.description:
            problems.append(f"okta: {wanted.name} description differs")
        if wanted.members is not None and live_members[wanted.name] != wanted.members:
            problems.append(
                f"okta: {wanted.name} members "
                f"{sorted(live_members[wanted.name] ^ wanted.members)} differ"
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
            held = okta.members.get(gid, set())
            if held != union:
                problems.append(f"okta: {name} members {sorted(held ^ union)} differ")
    return problems


def _okta_app(want: Desired, okta: OktaView, leftovers: Leftovers) -> list[str]:
    problems: list[str] = []
    spec = want.settings["okta"]
    app = okta.app["settings"]["app"]
    sources = {s.strip() for s in str(app.get("appFilter") or "").split(",") if s.strip()}
    wanted_sources = {s.strip() for s in str(spec.get("app_filter") or want.source).split(",")}
    if sources != wanted_sources:
        problems.append(f"okta: appFilter {app.get('appFilter')!r}")
    if app.get("useGroupMapping") is not True:
        problems.append(f"okta: useGroupMapping {app.get('useGroupMapping')!r}")
    if int(app.get("sessionDuration") or 0) != int(spec.get("session_duration") or 3600):
        problems.append(f"okta: sessionDuration {app.get('sessionDuration')!r}")
    if bool(app.get("joinAllRoles")) != bool(spec.get("join_all_roles")):
        problems.append(f"okta: joinAllRoles {app.get('joinAllRoles')!r}")
    if (app.get("loginURL") or DEFAULT_LOGIN_URL) != (spec.get("login_url") or DEFAULT_LOGIN_URL):
        problems.append(f"okta: loginURL {app.get('loginURL')!r}")
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
    # Assignments: exactly the management groups whose grants reach a role (from the
    # desired source), plus (possibly) the hand-made ones the engine never owns.
    assigned = {
        okta.name(i) for i in okta.assigned if i in okta.groups and okta.sources[i] == want.source
    }
    others = okta.assigned_names() - assigned
    wanted_assigned = {g.name for g in want.groups if g.slots}
    extra = (assigned - wanted_assigned | others) - leftovers.assignments
    if wanted_assigned - assigned or extra:
        problems.append(
            f"okta: assignments missing {sorted(wanted_assigned - assigned)}, extra {sorted(extra)}"
        )
    return problems


def _access(
    want: Desired,
    okta: OktaView,
    aws: Mapping[str, LiveAccount],
    live_members: Mapping[str, set[str]],
    leftovers: Leftovers,
) -> list[str]:
    """Entitlements as Okta and AWS decide them, against the YAML's (per user)."""
    app = okta.app["settings"]["app"]
    sources = {s.strip() for s in str(app.get("appFilter") or "").split(",") if s.strip()}
    group_filter = str(app.get("groupFilter") or "")
    value = str(app.get("roleValuePattern") or "")
    live: dict[str, set[Slot]] = defaultdict(set)
    assigned_users = set().union(*(okta.members.get(i, set()) for i in okta.assigned))
    if group_filter and app.get("useGroupMapping") is True:
        pattern = okta_regex(group_filter)
        for gid, group in okta.groups.items():
            found = pattern.search(group["profile"]["name"])
            if found is None or okta.sources[gid] not in sources or gid not in okta.members:
                continue
            account_id, role = found.group("accountid"), found.group("role")
            pair = value.replace("${accountid}", account_id).replace("${role}", role).split(",")
            account = aws.get(account_id, LiveAccount())
            live_role = account.roles.get(role)
            provider_arn = pair[0] if len(pair) == 2 else ""
            ok = (
                live_role is not None
                and len(pair) == 2
                and pair[1] == f"arn:aws:iam::{account_id}:role/{role}"
                and provider_arn.rsplit("/", 1)[-1] in account.providers
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
    unknown = (set(leftovers.slots) - set(want.roles)) | (
        {s for s in want.role_group_names if any(g.members is None for g in want.grantees(s))}
        if want.kind == "okta"
        else set()
    )
    problems = []
    for user in sorted(set(live) | set(wanted)):
        gains = {s for s in live[user] - wanted[user] if s not in unknown}
        lacks = {s for s in wanted[user] - live[user] if s not in unknown}
        if gains or lacks:
            problems.append(f"access: {user} gains {sorted(gains)}, lacks {sorted(lacks)}")
    return problems
