"""Semantic checks of a loaded desired state: everything the JSON Schema cannot see.

The schema judges one file at a time; the mistakes that hurt are between values and
files: a grant naming an account that does not exist, a role name Okta's group filter
would silently drop (the user never gets the role and nobody is told), two files
defining the same role, a role-group name too long for AD. Reviewers read these in CI
logs, so every check runs and every problem points at the file and line where the user
wrote the offending value, naming the earlier occurrence for duplicates. Checks that
the schema also makes are repeated here because a `DesiredState` can be built by code
(`import`, tests) without passing through the schema.

The desired state is written by whoever opens a pull request, so it is also checked as
an attacker's input: a management group's `dn` may adopt only a group from elsewhere,
never a role group, a managed OU, a group in the management-groups OU or a user (any of
these would reach a role other than through a grant); members are logins, nothing
else; every string is printable (`validate_text`); and every message is printed with
its control characters escaped, whatever the values it quotes. The management-group
checks (the `dn` and members rules) live in `validate_groups`.

Pure: no I/O.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator

from engine import naming
from engine.dn import InvalidDnError, normalize_dn
from engine.escape import printable
from engine.model import normalize_app_filter
from engine.spec import (
    AccountSpec,
    DesiredState,
    GrantSpec,
    Location,
    ManagementGroupSpec,
    Problem,
    RoleSpec,
    Severity,
)
from engine.validate_groups import GroupChecks
from engine.validate_names import (
    DIRECTORY_KINDS,
    MAX_CN_LENGTH,
    RoleGroup,
    check_names,
    check_role_value_pattern,
)
from engine.validate_text import check_text

__all__ = [
    "MAX_CN_LENGTH",
    "format_problems",
    "has_errors",
    "validate",
]


def validate(*, state: DesiredState) -> list[Problem]:
    """Every semantic problem of `state`, sorted by file and line; [] when it is valid."""
    checker = _Checker(state)
    checker.run()
    return sorted(dict.fromkeys(_printable(p) for p in checker.problems))


def _printable(problem: Problem) -> Problem:
    """The problem with any control character in it written as an escape: the values
    quoted in messages come from a pull request, and messages go to a terminal."""
    loc = Location(printable(problem.loc.file), problem.loc.line)
    return Problem(loc, printable(problem.message), problem.severity)


def has_errors(problems: Iterable[Problem]) -> bool:
    """Whether any problem is an error (warnings alone do not make a state invalid)."""
    return any(p.severity is Severity.ERROR for p in problems)


def format_problems(problems: Iterable[Problem]) -> str:
    """One `file:line: message` per line, sorted, as printed by `okta-aws validate`."""
    return "\n".join(str(p) for p in sorted(problems))


def _hint(value: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'X'?)` for a near miss, else ``."""
    pool = sorted(set(candidates))
    folded = [c for c in pool if c.lower() == value.lower()]
    close = folded or difflib.get_close_matches(value, pool, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Checker(GroupChecks):
    """Runs every check once over the state, sharing the indexes they need."""

    def __init__(self, state: DesiredState) -> None:
        super().__init__(state)
        self.roles: dict[str, RoleSpec] = {}
        for role in state.roles:
            self.roles.setdefault(role.name, role)
        # Accounts by alias and by id; the first wins, later ones are reported as duplicates.
        self.by_alias: dict[str, AccountSpec] = {}
        self.by_id: dict[str, AccountSpec] = {}
        for account in state.accounts:
            self.by_alias.setdefault(account.alias, account)
            self.by_id.setdefault(account.id, account)
        self.syntax_ok = False  # role_group_name usable; set first thing in `run`
        self.role_groups: list[RoleGroup] = []  # filled by check_accounts

    def run(self) -> None:
        self.syntax_ok = self._syntax_ok()
        self.check_settings()
        self.check_roles()
        self.check_accounts()
        self.check_groups()
        self.check_grants()
        if self.syntax_ok:
            self.problems += check_names(
                state=self.state, role_groups=self.role_groups, roles=self.roles
            )
        self.problems += check_role_value_pattern(state=self.state, used_roles=self._used_roles())
        self.problems += check_text(
            state=self.state,
            role_group_names=[(rg.loc, "role group", rg.name) for rg in self.role_groups],
        )
        self.check_protected()

    # --- settings ----------------------------------------------------------------------

    def _syntax_ok(self) -> bool:
        try:
            naming.check_role_group_syntax(self.settings.role_group_name)
        except naming.NamingError as exc:
            self.error(self.settings.loc_of("role_group_name"), str(exc))
            return False
        return True

    def check_settings(self) -> None:
        s = self.settings
        if not naming.ROLE_NAME_RE.match(s.aws.access_role):
            self.error(
                s.loc_of("aws.access_role"),
                f"aws.access_role {s.aws.access_role!r} is not a valid IAM role name "
                "(1-64 letters, digits and + = , . @ _ -)",
            )
        if s.role_group_description is not None:
            try:
                fields = naming.template_fields(s.role_group_description)
            except naming.NamingError as exc:
                self.error(s.loc_of("role_group_description"), str(exc))
            else:
                unknown = sorted(set(fields) - naming.PLACEHOLDERS)
                if unknown:
                    self.error(
                        s.loc_of("role_group_description"),
                        f"role_group_description uses unknown placeholder(s) "
                        f"{', '.join('{' + f + '}' for f in unknown)}; "
                        "allowed: {alias} {role} {account_id}",
                    )
        if self.kind in DIRECTORY_KINDS:
            d = s.directory
            for key, value in (
                ("role_groups_ou", d.role_groups_ou),
                ("management_groups_ou", d.management_groups_ou),
                ("users_base", d.users_base),
            ):
                if not value:
                    self.error(
                        s.loc_of("directory"),
                        f"directory.{key} is required with directory kind {self.kind.value}",
                    )
                    continue
                try:
                    normalize_dn(value)
                except InvalidDnError as exc:
                    self.error(
                        s.loc_of(f"directory.{key}"),
                        f"directory.{key} {value!r} is not a valid DN: {exc}",
                    )
        source = self.kind.okta_source
        app_filter = s.okta.app_filter or source
        if source not in normalize_app_filter(app_filter).split(","):
            self.error(
                s.loc_of("okta.app_filter"),
                f"okta.app_filter {app_filter!r} does not include {source!r}, the Okta source "
                f"of groups with directory kind {self.kind.value}: no role group would map "
                f"to a role (add {source!r})",
            )

    # --- roles and accounts ------------------------------------------------------------

    def check_roles(self) -> None:
        session = self.settings.okta.session_duration
        for role in self.state.roles:
            first = self.roles[role.name]
            if first is not role:
                self.error(
                    role.loc,
                    f"role {role.name!r} is defined again (first at {first.loc}); "
                    "each role is defined once in the catalogue",
                )
                continue
            if not naming.ROLE_NAME_RE.match(role.name):
                self.error(
                    role.loc,
                    f"role name {role.name!r} is not a valid IAM role name "
                    "(1-64 letters, digits and + = , . @ _ -)",
                )
            if role.iam_name is not None and not naming.ROLE_NAME_RE.match(role.iam_name):
                self.error(
                    role.loc_of("iam_name"),
                    f"role {role.name!r}: iam_name {role.iam_name!r} is not a valid IAM role "
                    "name (1-64 letters, digits and + = , . @ _ -)",
                )
            if session > role.max_session_duration:
                self.warn(
                    role.loc_of("max_session_duration"),
                    f"role {role.name!r}: max_session_duration {role.max_session_duration} is "
                    f"shorter than okta.session_duration {session} "
                    f"({self.settings.loc_of('okta.session_duration')}); AWS refuses a "
                    "session longer than the role allows, so signing in to it fails",
                )

    def check_accounts(self) -> None:
        for account in self.state.accounts:
            name = account.alias
            same_id, same_alias = self.by_id[account.id], self.by_alias[account.alias]
            wrong = [
                (field, message)
                for bad, field, message in (
                    (
                        not naming.ACCOUNT_ID_RE.match(account.id),
                        "id",
                        f"account id {account.id!r} must be exactly 12 digits (quoted)",
                    ),
                    (
                        not naming.ALIAS_RE.match(account.alias),
                        "alias",
                        f"account alias {account.alias!r} is not a valid AWS account alias "
                        "(3-63 lowercase letters, digits and single hyphens, starting and "
                        "ending with a letter or digit)",
                    ),
                    (
                        same_id is not account,
                        "id",
                        f"account id {account.id} is listed again (first at {same_id.loc}, "
                        f"alias {same_id.alias})",
                    ),
                    (
                        same_alias is not account,
                        "alias",
                        f"account alias {account.alias!r} is used again (first at "
                        f"{same_alias.loc}, id {same_alias.id})",
                    ),
                )
                if bad
            ]
            for field, message in wrong:
                self.error(account.loc_of(field), message)
            # Role groups of an account whose id or alias is wrong are not rendered: their
            # names would only repeat the account's problem as naming problems.
            renderable = not wrong
            other = self.by_id.get(account.alias)
            if other is not None and other is not account:
                self.error(
                    account.loc_of("alias"),
                    f"account alias {account.alias!r} is the id of another account "
                    f"({other.loc}): grants naming it would be ambiguous",
                )
            self._check_account_roles(account, render=renderable)
            for index, role in enumerate(account.adopt_roles):
                if role not in account.roles:
                    self.error(
                        account.loc_of(f"adopt_roles.{index}"),
                        f"account {name}: adopt_roles names {role!r}, which the account "
                        f"does not have (its roles: {', '.join(account.roles) or 'none'}); "
                        "add it to roles or remove it from adopt_roles",
                    )

    def _check_account_roles(self, account: AccountSpec, *, render: bool) -> None:
        exact: dict[str, Location] = {}
        folded: dict[str, tuple[str, Location]] = {}
        creates: dict[str, tuple[str, Location]] = {}  # folded IAM name → entry, line
        for index, role in enumerate(account.roles):
            loc = account.role_loc(index)
            if role in exact:
                self.error(
                    loc,
                    f"account {account.alias} lists role {role!r} twice (first at {exact[role]})",
                )
                continue
            exact[role] = loc
            if role.lower() in folded:
                other, other_loc = folded[role.lower()]
                self.error(
                    loc,
                    f"account {account.alias}: roles {other!r} ({other_loc}) and {role!r} "
                    "differ only in case; IAM treats role names case-insensitively, so they "
                    "would be the same role",
                )
                continue
            folded[role.lower()] = (role, loc)
            if role not in self.roles:
                self.error(
                    loc,
                    f"account {account.alias} lists role {role!r}, which is not in the role "
                    f"catalogue (`roles:`){_hint(role, self.roles)}",
                )
                continue
            iam = self.roles[role].iam_role_name
            if iam.lower() in creates:
                other, other_loc = creates[iam.lower()]
                self.error(
                    loc,
                    f"account {account.alias}: roles {other!r} ({other_loc}) and {role!r} "
                    f"both create the IAM role {iam!r} (iam_name); list only one of them",
                )
                continue
            creates[iam.lower()] = (role, loc)
            if render and self.syntax_ok:
                name = naming.render_role_group_name(
                    syntax=self.settings.role_group_name,
                    alias=account.alias,
                    role=iam,
                    account_id=account.id,
                )
                self.role_groups.append(RoleGroup(account, iam, name, loc, key=role))

    # --- management groups and grants --------------------------------------------------

    def check_grants(self) -> None:
        for group in self.state.management_groups:
            for grant in group.grants:
                self._check_grant(group, grant)

    def _check_grant(self, group: ManagementGroupSpec, grant: GrantSpec) -> None:
        what = f"management group {group.name!r}: grant {grant.describe()}"
        role_known = grant.role in self.roles
        if not role_known:
            self.error(
                grant.loc_of("role"),
                f"{what}: unknown role {grant.role!r} (not in the role catalogue)"
                f"{_hint(grant.role, self.roles)}",
            )
        if grant.account is not None and grant.account != "*":
            account = self.by_alias.get(grant.account) or self.by_id.get(grant.account)
            if account is None:
                self.error(
                    grant.loc_of("account"),
                    f"{what}: unknown account {grant.account!r} (no account has this alias "
                    f"or id){_hint(grant.account, self.by_alias)}",
                )
            elif role_known and grant.role not in account.roles:
                self.error(
                    grant.loc,
                    f"{what}: account {account.alias} ({account.id}) does not have role "
                    f"{grant.role!r}; add it to the account's roles "
                    f"({account.loc_of('roles')}) or grant one of its roles "
                    f"({', '.join(account.roles) or 'none'})",
                )
            return
        if not role_known:
            return
        if grant.account_tags is None:
            selected = list(self.state.accounts)
        else:
            wanted = set(grant.account_tags)
            selected = [a for a in self.state.accounts if wanted <= set(a.tags)]
        if any(grant.role in a.roles for a in selected):
            return
        if grant.account_tags is None:
            reason = f'no account has role {grant.role!r}, so account "*" grants nothing'
        elif not selected:
            reason = "no account has all of these tags"
        else:
            aliases = ", ".join(a.alias for a in selected)
            reason = f"none of the accounts tagged so ({aliases}) has role {grant.role!r}"
        self.error(grant.loc, f"{what}: {reason}")

    def _used_roles(self) -> Iterator[RoleSpec]:
        used = {r for a in self.state.accounts for r in a.roles}
        return (role for name, role in self.roles.items() if name in used)

    def check_protected(self) -> None:
        if not self.syntax_ok:
            return  # role-group names are unknown: any warning would be a guess
        desired = {rg.name.lower() for rg in self.role_groups}
        desired |= {
            self.roles[r].iam_role_name.lower()
            for a in self.state.accounts
            for r in a.roles
            if r in self.roles
        }
        safety = self.settings.safety
        listed = safety.protected_locs or tuple(
            (name, self.settings.loc_of("safety.protected")) for name in sorted(safety.protected)
        )
        for name, loc in listed:
            if name.lower() in desired:
                continue
            # Protecting what the desired state dropped is what `protected` is for; only a
            # near miss of a desired name suggests a typo worth a warning.
            hint = _hint(name, desired)
            self.problems.append(
                Problem(
                    loc,
                    f"protected name {name!r} names nothing in the desired state: it keeps a "
                    f"live role group or IAM role of that name from deletion{hint}",
                    Severity.WARNING if hint else Severity.INFO,
                )
            )
