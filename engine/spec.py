"""The desired state as the user wrote it, typed, with a source location on every entry.

`load` builds these from YAML; `validate` checks them and reports problems at
`file:line`; `compile` turns them into the normalized `model.World`. Keeping the user's
vocabulary here (aliases, role names, grants, logins) and the normalized world in
`model` means error messages can always point at what the user typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from engine.model import DirectoryKind
from engine.naming import DEFAULT_ROLE_GROUP_NAME


@dataclass(frozen=True, order=True)
class Location:
    """Where a value came from: a file and a 1-based line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


UNKNOWN_LOCATION = Location(file="<desired-state>", line=0)


class Target(StrEnum):
    SANDBOX = "sandbox"
    LIVE = "live"


@dataclass(frozen=True)
class SamlProviderSpec:
    name: str = "OKTA"
    metadata_file: str | None = None  # resolved against the settings file's directory
    metadata: str | None = None  # the document, read by `load`
    adopt: bool = False
    loc: Location = UNKNOWN_LOCATION


@dataclass(frozen=True)
class AwsSpec:
    access_role: str = "OrganizationAccountAccessRole"
    managed_tag: tuple[str, str] = ("managed-by", "okta-aws")
    concurrency: int = 8


@dataclass(frozen=True)
class DirectorySpec:
    kind: DirectoryKind = DirectoryKind.ACTIVE_DIRECTORY
    role_groups_ou: str = ""
    management_groups_ou: str = ""
    users_base: str = ""
    loc: Location = UNKNOWN_LOCATION


@dataclass(frozen=True)
class OktaSpec:
    app_label: str | None = "Amazon Web Services"
    app_id: str | None = None
    app_filter: str | None = None  # None: the directory kind's source
    group_filter: str | None = None  # None: derived from role_group_name
    role_value_pattern: str | None = None  # None: derived from saml_provider.name
    session_duration: int = 3600
    join_all_roles: bool = False
    create_app: bool = False
    rate_limit_share: float = 0.5  # of each Okta rate limit okta-aws may use
    read_cache_max_age: int = 86400  # seconds a cached member list may be reused
    loc: Location = UNKNOWN_LOCATION


@dataclass(frozen=True)
class SafetySpec:
    max_deletions: int = 10
    protected: frozenset[str] = frozenset()
    # Each protected name with the line it is written on, in file order.
    protected_locs: tuple[tuple[str, Location], ...] = ()


DEFAULT_LOCK_LEASE_SECONDS = 30 * 60  # a crashed apply's S3 lock blocks others this long


@dataclass(frozen=True)
class LockSpec:
    """`settings.lock`: the S3 object serialising applies across machines (the
    OKTA_AWS_LOCK_URL variable wins over `s3`); None: the local lock only."""

    s3: str | None = None  # s3://BUCKET/KEY
    lease_seconds: int = DEFAULT_LOCK_LEASE_SECONDS
    loc: Location = UNKNOWN_LOCATION


@dataclass(frozen=True)
class Settings:
    target: Target = Target.SANDBOX
    saml_provider: SamlProviderSpec = field(default_factory=SamlProviderSpec)
    aws: AwsSpec = field(default_factory=AwsSpec)
    directory: DirectorySpec = field(default_factory=DirectorySpec)
    role_group_name: str = DEFAULT_ROLE_GROUP_NAME
    role_group_description: str | None = None
    okta: OktaSpec = field(default_factory=OktaSpec)
    safety: SafetySpec = field(default_factory=SafetySpec)
    lock: LockSpec = field(default_factory=LockSpec)
    loc: Location = UNKNOWN_LOCATION
    # Line of individual settings values, for messages about them ("okta.group_filter").
    value_locs: tuple[tuple[str, Location], ...] = ()

    def loc_of(self, dotted: str) -> Location:
        """Location of a settings value such as `okta.group_filter`, else of `settings`."""
        return dict(self.value_locs).get(dotted, self.loc)


@dataclass(frozen=True)
class RoleSpec:
    name: str
    managed_policies: tuple[str, ...] = ()
    max_session_duration: int = 3600
    description: str = ""
    adopt: bool = False
    loc: Location = UNKNOWN_LOCATION
    # Line of each value below this entry (e.g. "alias", "roles.1", "grants.0.role").
    value_locs: tuple[tuple[str, Location], ...] = ()

    def loc_of(self, dotted: str) -> Location:
        """Location of a value below this entry such as `alias`, else of the entry."""
        return dict(self.value_locs).get(dotted, self.loc)


@dataclass(frozen=True)
class AccountSpec:
    id: str
    alias: str
    roles: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    adopt_roles: tuple[str, ...] = ()
    loc: Location = UNKNOWN_LOCATION
    # Line of each entry of `roles`, same order, for per-role messages.
    role_locs: tuple[Location, ...] = ()
    # Line of each value below this entry (e.g. "alias", "roles.1", "grants.0.role").
    value_locs: tuple[tuple[str, Location], ...] = ()

    def loc_of(self, dotted: str) -> Location:
        """Location of a value below this entry such as `alias`, else of the entry."""
        return dict(self.value_locs).get(dotted, self.loc)

    @property
    def tag_map(self) -> dict[str, str]:
        return dict(self.tags)

    def role_loc(self, index: int) -> Location:
        return self.role_locs[index] if index < len(self.role_locs) else self.loc


@dataclass(frozen=True)
class GrantSpec:
    """`{account: alias|id|"*", role}` or `{account_tags: {...}, role}`."""

    role: str
    account: str | None = None
    account_tags: tuple[tuple[str, str], ...] | None = None
    loc: Location = UNKNOWN_LOCATION
    # Line of each value below this entry (e.g. "alias", "roles.1", "grants.0.role").
    value_locs: tuple[tuple[str, Location], ...] = ()

    def loc_of(self, dotted: str) -> Location:
        """Location of a value below this entry such as `alias`, else of the entry."""
        return dict(self.value_locs).get(dotted, self.loc)

    def describe(self) -> str:
        if self.account_tags is not None:
            tags = ", ".join(f"{k}={v}" for k, v in self.account_tags)
            return f"accounts tagged {{{tags}}} / {self.role}"
        return f"{self.account} / {self.role}"


@dataclass(frozen=True)
class ManagementGroupSpec:
    name: str
    dn: str | None = None
    description: str = ""
    grants: tuple[GrantSpec, ...] = ()
    members: tuple[str, ...] | None = None  # None: membership not managed here
    loc: Location = UNKNOWN_LOCATION
    member_locs: tuple[Location, ...] = ()
    # Line of each value below this entry (e.g. "alias", "roles.1", "grants.0.role").
    value_locs: tuple[tuple[str, Location], ...] = ()

    def loc_of(self, dotted: str) -> Location:
        """Location of a value below this entry such as `alias`, else of the entry."""
        return dict(self.value_locs).get(dotted, self.loc)

    def member_loc(self, index: int) -> Location:
        return self.member_locs[index] if index < len(self.member_locs) else self.loc


@dataclass(frozen=True)
class DesiredState:
    """The merged desired state of one directory of YAML files."""

    root: Path
    settings: Settings
    roles: tuple[RoleSpec, ...] = ()
    accounts: tuple[AccountSpec, ...] = ()
    management_groups: tuple[ManagementGroupSpec, ...] = ()
    files: tuple[str, ...] = ()  # the files merged, relative to the working directory
    digest: str = ""  # sha256 over the files' bytes, in name order: identifies this state
    # What `load` found that is not an error: warnings (a signing certificate about to
    # expire) and information (its notAfter), at the file and line they concern.
    notes: tuple[Problem, ...] = ()

    def role(self, name: str) -> RoleSpec | None:
        return next((r for r in self.roles if r.name == name), None)

    def account(self, ref: str) -> AccountSpec | None:
        """An account by alias or id."""
        return next((a for a in self.accounts if ref in (a.alias, a.id)), None)


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"  # worth showing in `validate`, never a reason to stop


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the desired state, pointing at where the user wrote it."""

    loc: Location
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        prefix = "" if self.severity is Severity.ERROR else f"{self.severity.value}: "
        return f"{self.loc}: {prefix}{self.message}"
