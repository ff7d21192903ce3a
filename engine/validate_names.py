"""Semantic checks of names: the directory's limits and Okta's group filter and role value.

Split from `validate` because these are the checks that need `naming`: a rendered
role-group name over AD's 64-character `cn`, two names colliding in AD's sAMAccountName,
a name Okta's group filter would parse as another role or none at all (the user then
silently never gets the role), a role value pattern that does not expand to the
provider's and role's ARNs, a management group Okta would take for a role group (by
its name or by the cn of the group its `dn` adopts: its members would hold the role
without a grant), a group filter with a nested quantifier or that runs past its time
limit. Each reports at the line the user can change: one message at the filter when it
fails everywhere, at the role when it fails in every account.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from engine import naming
from engine.dn import InvalidDnError, rdn_value
from engine.model import DirectoryKind
from engine.naming import SAM_ILLEGAL_CHARS, sam_account_name
from engine.spec import AccountSpec, DesiredState, Location, Problem, RoleSpec, Settings, Severity

__all__ = [
    "MAX_CN_LENGTH",
    "RoleGroup",
    "check_names",
    "check_role_value_pattern",
    "verbatim",
]

MAX_CN_LENGTH = 64  # AD's rangeUpper of `cn`; kept for LDAP too so a state can move between them
DIRECTORY_KINDS = (DirectoryKind.ACTIVE_DIRECTORY, DirectoryKind.LDAP)

_PROBE_ACCOUNT = "123456789012"
_PROBE_ROLE = "Probe"


def verbatim(text: str) -> str:
    """A regex or pattern quoted as the user wrote it (repr would double backslashes)."""
    return f"'{text}'"


@dataclass(frozen=True)
class RoleGroup:
    """One (account, role) of the desired state and the role group rendered for it."""

    account: AccountSpec
    role: str  # the IAM role name (the entry's `iam_role_name`)
    name: str
    loc: Location  # the account's `roles` entry
    key: str  # the catalogue entry the account lists

    @property
    def label(self) -> str:
        return f"{self.account.alias}/{self.role}"


def check_names(
    *, state: DesiredState, role_groups: Sequence[RoleGroup], roles: Mapping[str, RoleSpec]
) -> list[Problem]:
    """Directory limits and collisions of every group name, and Okta's parse of each
    role-group name; needs a usable `role_group_name` (the caller checked it)."""
    checks = _NameChecks(state=state, role_groups=role_groups, roles=roles)
    checks.check_group_names()
    checks.check_group_filter()
    return checks.problems


def check_role_value_pattern(
    *, state: DesiredState, used_roles: Iterable[RoleSpec]
) -> list[Problem]:
    """The role value pattern must expand to the provider's and each used role's ARNs."""
    checks = _NameChecks(state=state, role_groups=(), roles={})
    checks.check_role_value_pattern(used_roles)
    return checks.problems


@dataclass
class _NameChecks:
    state: DesiredState
    role_groups: Sequence[RoleGroup]
    roles: Mapping[str, RoleSpec]
    problems: list[Problem] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return self.state.settings

    @property
    def kind(self) -> DirectoryKind:
        return self.state.settings.directory.kind

    def error(self, loc: Location, message: str) -> None:
        self.problems.append(Problem(loc, message))

    def warn(self, loc: Location, message: str) -> None:
        self.problems.append(Problem(loc, message, Severity.WARNING))

    def check_group_names(self) -> None:
        """Rendered role-group names and management group names as the directory sees them."""
        # Keyed by position: entries from one flow-style list share a line.
        names: dict[str, int] = {}
        sams: dict[str, int] = {}
        entries: list[tuple[str, str, Location]] = [
            (f"role group {rg.name!r} ({rg.label})", rg.name, rg.loc) for rg in self.role_groups
        ]
        entries += [
            (f"management group {g.name!r}", g.name, g.loc_of("name"))
            for g in self.state.management_groups
            if g.dn is None
        ]
        for position, (label, name, loc) in enumerate(entries):
            if self.kind in DIRECTORY_KINDS and len(name) > MAX_CN_LENGTH:
                self.error(
                    loc,
                    f"{label} is {len(name)} characters; a directory group name (cn) is "
                    f"at most {MAX_CN_LENGTH}: shorten the alias or role, or role_group_name",
                )
            first = names.setdefault(name.lower(), position)
            if first != position:
                first_label, first_loc = entries[first][0], entries[first][2]
                if position < len(self.role_groups) or first < len(self.role_groups):
                    self.error(
                        loc,
                        f"{label} has the same name, ignoring case, as {first_label} ({first_loc})",
                    )
                continue  # two management groups: reported with the groups
            if self.kind is not DirectoryKind.ACTIVE_DIRECTORY:
                continue
            sam = sam_account_name(name)
            other = sams.setdefault(sam.lower(), position)
            if other != position:
                self.error(
                    loc,
                    f"{label}: its sAMAccountName would be {sam!r} (characters illegal in "
                    f"AD replaced by '_'), the same as that of {entries[other][0]} "
                    f"({entries[other][2]})",
                )
            elif sam != name:
                illegal = "".join(sorted({c for c in name if c in SAM_ILLEGAL_CHARS}))
                self.warn(
                    loc,
                    f"{label} contains characters illegal in an AD sAMAccountName "
                    f"({illegal}); its sAMAccountName will be {sam!r}",
                )

    def _group_filter(self) -> tuple[naming.GroupFilter, str, Location] | None:
        """The effective group filter, its Okta text and where it comes from."""
        okta = self.settings.okta
        if okta.group_filter is not None:
            loc = self.settings.loc_of("okta.group_filter")
            nested = naming.nested_quantifier(okta.group_filter)
            if nested is not None:
                self.error(
                    loc,
                    f"okta.group_filter {verbatim(okta.group_filter)} repeats {verbatim(nested)}, "
                    "a group whose body repeats too: such a nested quantifier backtracks "
                    "exponentially on a name that almost matches, and Okta runs the filter "
                    "on every group; repeat once (e.g. '\\w+' for '(\\w+)+')",
                )
                return None
            try:
                return naming.compile_group_filter(okta.group_filter), okta.group_filter, loc
            except naming.NamingError as exc:
                self.error(loc, str(exc))
                return None
        text = naming.derive_group_filter(syntax=self.settings.role_group_name)
        return naming.compile_group_filter(text), text, self.settings.loc_of("role_group_name")

    def check_group_filter(self) -> None:
        """Parse every rendered name back as Okta will: each must map to its own role."""
        found = self._group_filter()
        if found is None:
            return
        compiled, text, filter_loc = found
        try:
            self._check_role_group_names(compiled, text, filter_loc)
            self._check_lookalikes(compiled, text)
        except naming.GroupFilterTimeout as exc:
            self.error(filter_loc, str(exc))

    def _check_role_group_names(
        self, compiled: naming.GroupFilter, text: str, filter_loc: Location
    ) -> None:
        derived = self.settings.okta.group_filter is None
        failures: list[tuple[RoleGroup, str]] = []
        for rg in self.role_groups:
            ref = naming.match_group_name(name=rg.name, group_filter=compiled)
            if ref is None:
                failures.append((rg, "does not match it, so Okta maps it to no role"))
            elif (ref.account_id, ref.role) != (rg.account.id, rg.role):
                why = (
                    "role_group_name is ambiguous for this name: its separators also occur "
                    "in the alias or role; use a separator such as '#'"
                    if derived
                    else "the filter captures the wrong part of the name"
                )
                failures.append(
                    (rg, f"parses as account {ref.account_id}, role {ref.role!r}: {why}")
                )
        self._report_filter_failures(failures, verbatim(text), filter_loc)

    def _check_lookalikes(self, compiled: naming.GroupFilter, text: str) -> None:
        """Management groups, by name or by the cn of their dn, must not pass for role
        groups: their members would hold a role without any grant."""
        filters = [(compiled, verbatim(text))]
        if self.settings.okta.group_filter is not None:
            # A custom filter may be narrower than the syntax: a name the syntax renders
            # is still a role group's name to a reader and to the next filter.
            syntax = self.settings.role_group_name
            filters.append(
                (
                    naming.compile_group_filter(naming.derive_group_filter(syntax=syntax)),
                    f"derived from role_group_name {verbatim(syntax)}",
                )
            )
        for group in self.state.management_groups:
            names = [("name", f"management group {group.name!r}", group.name)]
            cn = _cn_of(group.dn) if group.dn is not None else None
            if cn is not None:
                names.append(
                    ("dn", f"management group {group.name!r}: the cn {cn!r} of its dn", cn)
                )
            for where, label, name in names:
                for group_filter, shown in filters:
                    if group_filter.search(name) is None:
                        continue
                    ref = naming.match_group_name(name=name, group_filter=group_filter)
                    parsed = f" (as account {ref.account_id}, role {ref.role!r})" if ref else ""
                    self.error(
                        group.loc_of(where),
                        f"{label} matches the group filter {shown}{parsed}: Okta would take "
                        "it for a role group, and its members would hold the role without a "
                        f"grant; {'rename it' if where == 'name' else 'adopt another group'}",
                    )
                    break

    def _report_filter_failures(
        self, failures: list[tuple[RoleGroup, str]], shown: str, filter_loc: Location
    ) -> None:
        # A filter wrong for everything, or a role wrong in every account, is one mistake:
        # one message at its source instead of thousands at every account.
        if len(failures) > 1 and len(failures) == len(self.role_groups):
            rg, why = failures[0]
            self.error(
                filter_loc,
                f"the group filter {shown} maps none of the {len(failures)} role groups to its "
                f"role; e.g. role group {rg.name!r} ({rg.label}) {why}",
            )
            return
        per_role: dict[str, list[tuple[RoleGroup, str]]] = {}
        for rg, why in failures:
            per_role.setdefault(rg.key, []).append((rg, why))
        having = {key: sum(rg.key == key for rg in self.role_groups) for key in per_role}
        for key, items in per_role.items():
            if len(items) > 1 and len(items) == having[key]:
                rg, why = items[0]
                self.error(
                    self.roles[key].loc,
                    f"role {key!r}: in all {len(items)} accounts having it, the group filter "
                    f"{shown} does not map its role group to it; e.g. {rg.name!r} ({rg.label}) "
                    f"{why}",
                )
                continue
            for rg, why in items:
                self.error(
                    rg.loc,
                    f"role group {rg.name!r} ({rg.label}): the group filter {shown} {why}",
                )

    def check_role_value_pattern(self, used_roles: Iterable[RoleSpec]) -> None:
        okta = self.settings.okta
        provider = self.settings.saml_provider.name
        pattern = okta.role_value_pattern
        if pattern is None:
            pattern = naming.derive_role_value_pattern(saml_provider_name=provider)
        else:
            loc = self.settings.loc_of("okta.role_value_pattern")
            try:
                naming.check_role_value_pattern(pattern)
            except naming.NamingError as exc:
                self.error(loc, str(exc))
                return
            problem = _expansion_problem(pattern, provider, _PROBE_ACCOUNT, _PROBE_ROLE)
            if problem is not None:
                self.error(
                    loc,
                    f"okta.role_value_pattern {verbatim(pattern)} {problem}: every account "
                    "would be unreachable",
                )
                return
        # The pattern works in general; a role name can still break it (IAM allows ',',
        # which is also the separator of the two ARNs).
        for role in used_roles:
            problem = _expansion_problem(pattern, provider, _PROBE_ACCOUNT, role.iam_role_name)
            if problem is not None:
                self.error(
                    role.loc,
                    f"role {role.name!r}: the role value pattern {verbatim(pattern)} {problem}: "
                    "nobody can sign in to this role",
                )


def _expansion_problem(pattern: str, provider: str, account_id: str, role: str) -> str | None:
    """Why the role value for (account, role) is not the provider's and role's ARNs."""
    value = naming.expand_role_value(pattern=pattern, account_id=account_id, role=role)
    if value is None:
        return (
            f"does not expand to two ARNs for role {role!r} (a ',' in a role name breaks "
            "the comma-separated value)"
            if "," in role
            else "does not expand to a SAML provider ARN and a role ARN"
        )
    want_provider = naming.saml_provider_arn(account_id=account_id, name=provider)
    if value.provider_arn != want_provider:
        return (
            f"yields provider {value.provider_arn!r}, not {want_provider!r} "
            f"(settings.saml_provider.name is {provider!r})"
        )
    if naming.split_role_arn(value.role_arn) != (account_id, role):
        return f"yields role {value.role_arn!r} for account {account_id}, role {role!r}"
    return None


def _cn_of(dn: str) -> str | None:
    """The value of a DN's first RDN (the group name), None if the DN does not parse."""
    try:
        return rdn_value(dn)
    except InvalidDnError:
        return None  # reported with the group's dn
