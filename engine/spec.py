"""The desired state as the user wrote it, typed, with a source location on every entry.

`load` builds these from YAML; `validate` checks them and reports problems at
`file:line`; `compile` turns them into the normalized `model.World`. Keeping the user's
vocabulary here (aliases, role names, grants, logins) and the normalized world in
`model` means error messages can always point at what the user typed.

This is also where the desired-state YAML is defined: a field made with `setting(...)`
is a YAML key, with its default, schema fragment and description;
`schemas/desired-state.schema.json` is generated from these classes
(`python -m engine.spec_schema`, `make schemas`) and `load` decodes through them.
"""

# `setting` is a dataclass field specifier (it returns `dataclasses.field(...)`).
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import ClassVar

from engine.spec_field import (
    ALIAS_PATTERN,
    DN_PATTERN,
    LABEL_KEY,
    LABEL_VALUE,
    UNKNOWN_LOCATION,
    Location,
    Section,
    item_locs,
    setting,
    sorted_pairs,
)
from engine.spec_settings import (
    DEFAULT_LOCK_LEASE_SECONDS,
    AwsSpec,
    DirectorySpec,
    LockSpec,
    OktaSpec,
    SafetySpec,
    SamlProviderSpec,
    Settings,
    Target,
)

# The settings classes live in spec_settings; importers name them from here.
__all__ = [
    "DEFAULT_LOCK_LEASE_SECONDS",
    "UNKNOWN_LOCATION",
    "AccountSpec",
    "AwsSpec",
    "DesiredState",
    "DirectorySpec",
    "GrantSpec",
    "Location",
    "LockSpec",
    "ManagementGroupSpec",
    "OktaSpec",
    "Problem",
    "RoleSpec",
    "SafetySpec",
    "SamlProviderSpec",
    "Settings",
    "Severity",
    "Target",
]


@dataclass(frozen=True)
class RoleSpec:
    SECTION: ClassVar[Section] = Section(
        "role", "A role of the catalogue, created in each account listing it (may be `{}`)."
    )

    name: str  # its key in `roles`
    managed_policies: tuple[str, ...] = setting(
        (),
        type="array",
        items={
            "type": "string",
            "pattern": "^arn:aws(-cn|-us-gov)?:iam::(aws|[0-9]{12}):policy/"
            "([A-Za-z0-9_+=,.@-]+/)*[A-Za-z0-9_+=,.@-]{1,128}$",
            "description": "A managed policy ARN, `arn:aws:iam::aws:policy/…` or "
            "`arn:aws:iam::<12 digits>:policy/…`.",
        },
        uniqueItems=True,
        maxItems=20,
        doc="Managed policy ARNs attached to the role (IAM allows at most 20, 10 by default "
        "quota).",
    )
    max_session_duration: int = setting(
        3600,
        minimum=3600,
        maximum=43200,
        doc="The role's maximum session duration in seconds (3600-43200).",
    )
    description: str = setting(
        "", show_default=False, maxLength=1000, doc="The IAM role description."
    )
    adopt: bool = setting(
        False,
        doc="Adopt an existing untagged role of this name in every account (otherwise such a "
        "clash is a plan error).",
    )
    iam_name: str | None = setting(
        None,
        ref="roleName",
        doc="The IAM role created in each account listing this entry (default: the entry's "
        "key). Lets two entries define one role name differently for different accounts, "
        "e.g. `Admin` and `Admin-12h` both creating `Admin`; an account lists at most one "
        "of them.",
    )
    loc: Location = UNKNOWN_LOCATION
    # Line of each value below this entry (e.g. "alias", "roles.1", "grants.0.role").
    value_locs: tuple[tuple[str, Location], ...] = ()

    @property
    def iam_role_name(self) -> str:
        """The IAM role's name in every account: what role groups, ARNs, Okta role values
        and access reports say; `name` is only the catalogue key the YAML refers to."""
        return self.iam_name if self.iam_name is not None else self.name

    def loc_of(self, dotted: str) -> Location:
        """Location of a value below this entry such as `alias`, else of the entry."""
        return dict(self.value_locs).get(dotted, self.loc)


@dataclass(frozen=True)
class AccountSpec:
    SECTION: ClassVar[Section] = Section("account", "An AWS account federated with Okta.")

    id: str = setting(required=True, ref="accountId", doc="The 12-digit account id, quoted.")
    alias: str = setting(
        required=True,
        ref="alias",
        doc="The account alias, used in role-group names and grants.",
    )
    roles: tuple[str, ...] = setting(
        (), ref="roleNameList", doc="Catalogue roles created in this account."
    )
    tags: tuple[tuple[str, str], ...] = setting(
        (),
        ref="labels",
        yaml_default={},
        from_yaml=sorted_pairs,
        doc="Labels selected by grants' account_tags, e.g. `env: prod`.",
    )
    adopt_roles: tuple[str, ...] = setting(
        (),
        ref="roleNameList",
        doc="Roles whose existing untagged IAM role is adopted in this account only.",
    )
    loc: Location = UNKNOWN_LOCATION
    # Line of each entry of `roles`, same order, for per-role messages.
    role_locs: tuple[Location, ...] = item_locs("roles")
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

    SECTION: ClassVar[Section] = Section(
        "grant",
        "Makes the management group a member of role groups: "
        '`{account: <alias|id|"*">, role: R}` or `{account_tags: {k: v}, role: R}`.',
        rules={
            "oneOf": [
                {"required": ["account"], "description": 'One account, or "*".'},
                {"required": ["account_tags"], "description": "Accounts selected by tags."},
            ]
        },
    )

    role: str = setting(required=True, ref="roleName", doc="The catalogue role granted.")
    account: str | None = setting(
        None,
        pattern=f"^(\\*|[0-9]{{12}}|{ALIAS_PATTERN[1:-1]})$",
        doc='An account alias, a quoted 12-digit id, or "*" for every account having the '
        "role (exactly one of account, account_tags).",
    )
    account_tags: tuple[tuple[str, str], ...] | None = setting(
        None,
        from_yaml=sorted_pairs,
        type="object",
        minProperties=1,
        propertyNames=LABEL_KEY,
        additionalProperties=LABEL_VALUE,
        doc="Every account whose tags include all of these pairs (exactly one of account, "
        "account_tags).",
    )
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


# A group name: its cn and sAMAccountName, so none of AD's special characters, and no
# space at either end.
_GROUP_NAME_END = '[^\\s"\\[\\]:;|=+*?<>/\\\\,]'
_GROUP_NAME_MIDDLE = '[^\\x00-\\x1f"\\[\\]:;|=+*?<>/\\\\,]'


@dataclass(frozen=True)
class ManagementGroupSpec:
    SECTION: ClassVar[Section] = Section(
        "managementGroup",
        "A set of users with the same AWS entitlements: a group made a member of role groups.",
    )

    name: str = setting(
        required=True,
        pattern=f"^{_GROUP_NAME_END}({_GROUP_NAME_MIDDLE}*{_GROUP_NAME_END})?$",
        maxLength=64,
        doc="The group name (its cn and sAMAccountName, its Okta name): 1-64 characters, no "
        'leading/trailing space, none of " [ ] : ; | = + * ? < > / \\ ,',
    )
    dn: str | None = setting(
        None,
        nullable=True,
        pattern=DN_PATTERN,
        maxLength=1024,
        doc="Adopt an existing group at this DN (e.g. a department group): only its "
        "memberships are managed. null: created in management_groups_ou.",
    )
    description: str = setting(
        "", show_default=False, maxLength=1024, doc="The group's description."
    )
    grants: tuple[GrantSpec, ...] = setting((), doc="The role groups this group is a member of.")
    members: tuple[str, ...] | None = setting(  # None: membership not managed here
        None,
        type="array",
        items={
            "type": "string",
            "pattern": '^[^\\s,;"<>\\\\=()*]+$',
            "maxLength": 256,
            "description": "A user login (sAMAccountName, uid or Okta login).",
        },
        uniqueItems=True,
        doc="User logins; omitted: membership is not managed here; []: managed and empty.",
    )
    loc: Location = UNKNOWN_LOCATION
    member_locs: tuple[Location, ...] = item_locs("members")
    # Line of each value below this entry (e.g. "alias", "roles.1", "grants.0.role").
    value_locs: tuple[tuple[str, Location], ...] = ()

    def loc_of(self, dotted: str) -> Location:
        """Location of a value below this entry such as `alias`, else of the entry."""
        return dict(self.value_locs).get(dotted, self.loc)

    def member_loc(self, index: int) -> Location:
        return self.member_locs[index] if index < len(self.member_locs) else self.loc


@dataclass(frozen=True)
class DesiredState:
    """The merged desired state of one directory of YAML files.

    The `setting` fields are the sections of one YAML file: the schema's top level."""

    root: Path
    settings: Settings = setting(show_default=False, doc="Global settings (one file only).")
    roles: tuple[RoleSpec, ...] = setting(
        (),
        show_default=False,
        type="object",
        propertyNames={"$ref": "#/$defs/roleName"},
        additionalProperties={"$ref": "#/$defs/role"},
        doc="The role catalogue: role name → definition, each defined once across files.",
    )
    accounts: tuple[AccountSpec, ...] = setting(
        (), show_default=False, doc="AWS accounts (concatenated across files)."
    )
    management_groups: tuple[ManagementGroupSpec, ...] = setting(
        (), show_default=False, doc="Management groups (concatenated across files)."
    )
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
