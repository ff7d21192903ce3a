"""What `import` learns from the Okta app before it can read anything else.

Every read of AWS and the directory is scoped by a desired state (which accounts, which
OUs, which group filter); `import` has none yet. The Okta AWS app is where federation
is written down by whoever set it up: its group filter tells which groups are role
groups and how their names carry the account and role, its role value pattern names
the SAML provider, the sources of the role groups tell the kind of directory, and the
DNs Okta imported with them show where they live. So `import` reads Okta first, then
asks `discover` for the scope, and `probe_state` turns that into the desired state the
ordinary readers need. Pure: the Okta part of a live `World` in, decisions out.
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.dn import normalize_dn, parent_dn, parse_rdns
from engine.model import DirectoryKind, OktaApp, OktaGroup, World
from engine.naming import (
    ACCOUNT_ID_CLASS,
    ALIAS_CLASS,
    DEFAULT_ROLE_GROUP_NAME,
    ROLE_CLASS,
    NamingError,
    check_role_group_syntax,
    compile_group_filter,
    derive_group_filter,
    derive_role_value_pattern,
    expand_role_value,
    parse_group_name,
    split_provider_arn,
)
from engine.spec import (
    AccountSpec,
    DesiredState,
    DirectorySpec,
    ManagementGroupSpec,
    OktaSpec,
    SamlProviderSpec,
    Settings,
)

DEFAULT_PROVIDER_NAME = SamlProviderSpec.name


class ImportRefused(Exception):
    """The live world cannot be imported at all; the message says why and what to do."""


@dataclass(frozen=True)
class RoleGroupName:
    """One role group's name, as Okta maps it (account, role) and the syntax renders it."""

    name: str
    account_id: str
    role: str
    alias: str | None  # None: the syntax has no {alias}
    dn: str | None  # as Okta imported it (directory kinds)


@dataclass(frozen=True)
class Discovery:
    """The scope of the live world, as the Okta app describes it."""

    app: OktaApp
    kind: DirectoryKind
    syntax: str  # the role-group naming syntax
    group_filter: str  # the filter role groups are recognised with (live, else derived)
    write_group_filter: str | None  # None: the derived filter is the live one
    provider_name: str
    write_role_value_pattern: str | None  # None: the derived pattern is the live one
    role_groups: tuple[RoleGroupName, ...]
    role_groups_ou: str = ""
    management_groups_ou: str = ""
    users_base: str = ""
    adopted_dns: tuple[str, ...] = ()  # assigned groups outside the management OU
    # (subject, why) of what Okta showed that the naming cannot explain.
    unparsed: tuple[tuple[str, str], ...] = ()

    @property
    def accounts(self) -> tuple[str, ...]:
        return tuple(sorted({g.account_id for g in self.role_groups}))


def syntax_from_filter(group_filter: str) -> str | None:
    """The role-group syntax whose derived filter is exactly `group_filter`, else None."""
    body = group_filter
    if not (body.startswith("^") and body.endswith("$")):
        return None
    body = body[1:-1]
    tokens = {
        ALIAS_CLASS: "{alias}",
        "(?{{role}}" + ROLE_CLASS + ")": "{role}",
        "(?{{accountid}}" + ACCOUNT_ID_CLASS + ")": "{account_id}",
    }
    pieces: list[str] = []
    index = 0
    while index < len(body):
        token = next((t for t in tokens if body.startswith(t, index)), None)
        if token is not None:
            pieces.append(tokens[token])
            index += len(token)
            continue
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            char, index = body[index + 1], index + 2
        else:
            index += 1
        pieces.append(char.replace("{", "{{").replace("}", "}}"))
    syntax = "".join(pieces)
    try:
        return syntax if derive_group_filter(syntax=syntax) == group_filter else None
    except (NamingError, ValueError):
        return None


def syntax_pattern(syntax: str) -> re.Pattern[str]:
    """A regex matching exactly the names `syntax` renders, capturing its placeholders."""
    check_role_group_syntax(syntax)
    classes = {"alias": ALIAS_CLASS, "role": ROLE_CLASS, "account_id": ACCOUNT_ID_CLASS}
    pieces = []
    for literal, field, _, _ in string.Formatter().parse(syntax):
        pieces.append(re.escape(literal))
        if field is not None:
            pieces.append(f"(?P<{field}>{classes[field]})")
    return re.compile("".join(pieces) + r"\Z")


def provider_from_pattern(pattern: str) -> str | None:
    """The SAML provider name a role value pattern points at, if it is one name."""
    value = expand_role_value(pattern=pattern, account_id="123456789012", role="Probe")
    if value is None:
        return None
    parts = split_provider_arn(value.provider_arn)
    return parts[1] if parts else None


def base_dn(dn: str) -> str:
    """The trailing `DC=` part of a DN (its naming context), else its last RDN."""
    rdns = parse_rdns(dn)
    count = 0
    for rdn in reversed(rdns):
        if rdn[0][0] != "dc":
            break
        count += 1
    return normalize_dn(",".join(f"{k}={v}" for rdn in rdns[-(count or 1) :] for k, v in rdn))


def common_parent(dns: Iterable[str]) -> str:
    """The deepest DN every one of `dns` is under (normalized); "" for none."""
    paths = [tuple(reversed(normalize_dn(dn).split(","))) for dn in dns]
    if not paths:
        return ""
    shared: list[str] = []
    for parts in zip(*paths, strict=False):
        if len(set(parts)) != 1:
            break
        shared.append(parts[0])
    return ",".join(reversed(shared))


def most_common(values: Iterable[str]) -> str | None:
    """The most frequent value; ties go to the smallest, so the choice is stable."""
    counts = Counter(values)
    if not counts:
        return None
    return min(counts, key=lambda v: (-counts[v], v))


def _kind(app: OktaApp, role_groups: list[OktaGroup]) -> DirectoryKind:
    by_source = {k.okta_source: k for k in DirectoryKind}
    sources = most_common(g.source for g in role_groups if g.source in by_source)
    if sources is not None:
        return by_source[sources]
    listed = [by_source[s] for s in sorted(app.settings.app_sources()) if s in by_source]
    return listed[0] if listed else DirectoryKind.ACTIVE_DIRECTORY


def _choose_syntax(*, app: OktaApp, role_group_name: str | None) -> tuple[str, str, str | None]:
    """(syntax, the filter to recognise role groups with, the filter to write or None)."""
    live = app.settings.group_filter
    reversed_syntax = syntax_from_filter(live) if live else None
    if role_group_name is not None:
        try:
            check_role_group_syntax(role_group_name)
        except NamingError as exc:
            raise ImportRefused(f"--role-group-name: {exc}") from None
        if reversed_syntax == role_group_name:
            return role_group_name, live, None
        usable = live and _usable_filter(live)
        derived = derive_group_filter(syntax=role_group_name)
        return role_group_name, live if usable else derived, live if usable else None
    if reversed_syntax is not None:
        return reversed_syntax, live, None
    if live and _usable_filter(live):
        # Not a shape we generate: keep it as written; names follow the default syntax
        # unless --role-group-name says otherwise (names that do not are reported).
        return DEFAULT_ROLE_GROUP_NAME, live, live
    derived = derive_group_filter(syntax=DEFAULT_ROLE_GROUP_NAME)
    return DEFAULT_ROLE_GROUP_NAME, derived, None


def _usable_filter(text: str) -> bool:
    try:
        compile_group_filter(text)
    except NamingError:
        return False
    return True


def _matching(okta: World, group_filter: str) -> list[OktaGroup]:
    pattern = compile_group_filter(group_filter)
    return [
        g
        for g in sorted(okta.okta_groups.values(), key=lambda g: (g.name.lower(), g.source))
        if parse_group_name(name=g.name, group_filter=pattern) is not None
    ]


def discover(*, okta: World, role_group_name: str | None = None) -> Discovery:
    """The scope of the live world from its Okta part (app, groups, assignments).

    Raises ImportRefused when there is no AWS app, or no way to recognise role groups.
    """
    app = okta.okta_app
    if app is None:
        raise ImportRefused(
            "Okta has no AWS app (amazon_aws) with that label: nothing to import; "
            "name it with --app-label or --app-id"
        )
    syntax, group_filter, write_filter = _choose_syntax(app=app, role_group_name=role_group_name)
    matched = _matching(okta, group_filter)
    derived = derive_group_filter(syntax=syntax)
    if not matched and group_filter != derived:
        # The app's filter maps no group (Okta's default `aws_…` one, say): the groups
        # the syntax names are the role groups; the plan then sets the derived filter.
        group_filter, write_filter, matched = derived, None, _matching(okta, derived)
    pattern = compile_group_filter(group_filter)
    names = syntax_pattern(syntax)
    sources = app.settings.app_sources()
    # Groups from sources the app does not trust are look-alikes, not role groups. An
    # app that trusts no directory may just have Okta's default filter (`okta`): then
    # role groups imported from a directory win over Okta groups named like them.
    directories = {k.okta_source for k in DirectoryKind if k is not DirectoryKind.OKTA}
    trusted = [g for g in matched if g.source in sources]
    from_directory = [g for g in matched if g.source in directories]
    if from_directory and not sources & directories:
        trusted = from_directory
    kind = _kind(app, trusted)
    role_groups: list[RoleGroupName] = []
    unparsed: list[tuple[str, str]] = []
    for group in trusted:
        if group.source != kind.okta_source:
            continue
        ref = parse_group_name(name=group.name, group_filter=pattern)
        assert ref is not None
        found = names.match(group.name)
        if (
            found is None
            or found.group("account_id") != ref.account_id
            or (found.group("role") != ref.role)
        ):
            unparsed.append(
                (
                    f"role group {group.name}",
                    f"its name does not follow the role-group syntax {syntax!r} "
                    "(give the syntax with --role-group-name)",
                )
            )
            continue
        alias = found.groupdict().get("alias")
        role_groups.append(
            RoleGroupName(
                name=group.name,
                account_id=ref.account_id,
                role=ref.role,
                alias=alias,
                dn=group.dn,
            )
        )
    pattern_text = app.settings.role_value_pattern
    provider = provider_from_pattern(pattern_text) if pattern_text else None
    provider_name = provider or DEFAULT_PROVIDER_NAME
    derived_pattern = derive_role_value_pattern(saml_provider_name=provider_name)
    discovery = Discovery(
        app=app,
        kind=kind,
        syntax=syntax,
        group_filter=group_filter,
        write_group_filter=write_filter,
        provider_name=provider_name,
        write_role_value_pattern=None if pattern_text == derived_pattern else pattern_text,
        role_groups=tuple(role_groups),
        unparsed=tuple(unparsed),
    )
    if kind is DirectoryKind.OKTA:
        return discovery
    return _with_ous(discovery, okta)


def _with_ous(discovery: Discovery, okta: World) -> Discovery:
    """The directory's OUs, from the DNs Okta imported the groups with."""
    role_dns = [g.dn for g in discovery.role_groups if g.dn]
    if not role_dns:
        raise ImportRefused(
            f"Okta shows no role group imported from the directory "
            f"({discovery.kind.okta_source}) with a DN, so the directory's OUs are unknown; "
            "run Okta's directory import, or write the desired state's directory settings "
            "by hand"
        )
    role_ou = most_common(parent_dn(dn) for dn in role_dns) or ""
    role_names = {g.name.lower() for g in discovery.role_groups}
    assigned = [
        g.dn
        for key, g in sorted(okta.okta_groups.items())
        if key in okta.app_assignments and g.dn and g.name.lower() not in role_names
    ]
    mgmt_ou = most_common(parent_dn(dn) for dn in assigned) or role_ou
    adopted = tuple(sorted(dn for dn in assigned if parent_dn(dn) != mgmt_ou))
    return dataclasses.replace(
        discovery,
        role_groups_ou=role_ou,
        management_groups_ou=mgmt_ou,
        users_base=base_dn(role_ou),
        adopted_dns=adopted,
    )


def probe_state(*, discovery: Discovery, extra_dns: Iterable[str] = ()) -> DesiredState:
    """The desired state whose read is the live world `import` needs: every account a
    role group names, the directory's OUs, the groups outside them (`extra_dns` too),
    and the app's group filter, so the readers scope themselves as for a plan."""
    dns = sorted({*discovery.adopted_dns, *extra_dns})
    return DesiredState(
        root=Path("."),
        settings=Settings(
            saml_provider=SamlProviderSpec(name=discovery.provider_name),
            directory=DirectorySpec(
                kind=discovery.kind,
                role_groups_ou=discovery.role_groups_ou,
                management_groups_ou=discovery.management_groups_ou,
                users_base=discovery.users_base,
            ),
            role_group_name=discovery.syntax,
            okta=OktaSpec(
                app_label=discovery.app.label,
                app_id=discovery.app.id,
                app_filter=discovery.app.settings.app_filter or None,
                group_filter=discovery.group_filter,
            ),
        ),
        accounts=tuple(
            AccountSpec(id=account_id, alias=f"account-{account_id}")
            for account_id in discovery.accounts
        ),
        management_groups=tuple(
            ManagementGroupSpec(name=f"adopted-{index}", dn=dn) for index, dn in enumerate(dns)
        ),
    )
