"""The desired state's `settings:`, typed: one class per section, one field per key.

Each key is a field made with `setting(...)` (`engine.spec_field`): its default, its
JSON Schema fragment and its description are written once, here. The schema file is
generated from these classes (`python -m engine.spec_schema`, `make schemas`) and `load`
decodes the YAML through them, so adding a setting means adding its field here (and,
when Okta stores it, to `model.OktaAppSettings`, whose fields carry Okta's JSON names).
"""

# `setting` is a dataclass field specifier (it returns `dataclasses.field(...)`), not a
# shared mutable default.
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from engine.model import DEFAULT_LOGIN_URL, DirectoryKind
from engine.naming import DEFAULT_ROLE_GROUP_NAME
from engine.spec_field import (
    LABEL_KEY,
    LABEL_VALUE,
    ROLE_NAME_PATTERN,
    UNKNOWN_LOCATION,
    Location,
    Section,
    one_pair,
    setting,
)


class Target(StrEnum):
    SANDBOX = "sandbox"
    LIVE = "live"


@dataclass(frozen=True)
class SamlProviderSpec:
    SECTION: ClassVar[Section] = Section(
        "samlProvider",
        "The IAM SAML identity provider for Okta, the same name and metadata in every account "
        "(an account with another name or metadata is unreachable).",
    )

    name: str = setting(
        "OKTA",
        required=True,
        pattern="^[A-Za-z0-9_.-]+$",
        maxLength=128,
        doc="The IAM SAML provider name: 1-128 letters, digits and . _ -. Used in every role's "
        "trust policy and in the Okta role value pattern.",
    )
    # Resolved against the settings file's directory.
    metadata_file: str | None = setting(
        None,
        nullable=True,
        minLength=1,
        doc="Path of Okta's IdP SAML metadata XML, relative to the file holding `settings`. "
        "null or omitted: taken from the Okta app.",
    )
    metadata: str | None = None  # the document, read by `load`
    adopt: bool = setting(
        False,
        doc="Adopt an existing untagged provider of this name instead of refusing to touch it.",
    )
    loc: Location = UNKNOWN_LOCATION


@dataclass(frozen=True)
class AwsSpec:
    SECTION: ClassVar[Section] = Section("aws", "How the engine reaches and marks things in AWS.")

    access_role: str = setting(
        "OrganizationAccountAccessRole",
        pattern=ROLE_NAME_PATTERN,
        maxLength=64,
        doc="The IAM role assumed in every account to manage it (an IAM role name). Default: "
        "the role AWS Organizations creates in member accounts.",
    )
    managed_tag: tuple[str, str] = setting(
        ("managed-by", "okta-aws"),
        yaml_default={"managed-by": "okta-aws"},
        from_yaml=one_pair,
        type="object",
        minProperties=1,
        maxProperties=1,
        propertyNames=LABEL_KEY,
        additionalProperties=LABEL_VALUE,
        doc="Exactly one tag `key: value` put on every role and SAML provider the engine "
        "creates; only things carrying it are changed or deleted.",
    )
    concurrency: int = setting(
        8,
        minimum=1,
        maximum=64,
        doc="How many accounts are read or changed in parallel (1-64).",
    )


@dataclass(frozen=True)
class DirectorySpec:
    SECTION: ClassVar[Section] = Section(
        "directory",
        "Where role groups and management groups live.",
        rules={
            "if": {
                "properties": {"kind": {"enum": ["active_directory", "ldap"]}},
                "required": ["kind"],
            },
            "then": {"required": ["role_groups_ou", "management_groups_ou", "users_base"]},
        },
    )

    kind: DirectoryKind = setting(
        DirectoryKind.ACTIVE_DIRECTORY,
        required=True,
        doc="active_directory or ldap: groups in a directory imported into Okta by its agent; "
        "okta: local Okta groups (no nesting: the engine copies management group members "
        "into role groups).",
    )
    role_groups_ou: str = setting(
        "",
        ref="dn",
        show_default=False,
        doc="The OU holding one role group per (account, role); every group in it is the "
        "engine's. Required unless kind is okta.",
    )
    management_groups_ou: str = setting(
        "",
        ref="dn",
        show_default=False,
        doc="The OU where management groups are created; every group in it is the engine's. "
        "Required unless kind is okta.",
    )
    users_base: str = setting(
        "",
        ref="dn",
        show_default=False,
        doc="The subtree searched for the users named in `members`. Required unless kind is okta.",
    )
    loc: Location = UNKNOWN_LOCATION


@dataclass(frozen=True)
class OktaSpec:
    SECTION: ClassVar[Section] = Section(
        "okta",
        "The Okta AWS Account Federation app (amazon_aws) and its group-based role mapping. "
        "Name the app by exactly one of app_label or app_id.",
        rules={
            "oneOf": [
                {"required": ["app_label"], "description": "The app named by its label."},
                {"required": ["app_id"], "description": "The app named by its id."},
            ]
        },
    )

    # The label when neither app_label nor app_id is written (code building specs by
    # hand); `load` takes app_id alone to mean no label.
    app_label: str | None = setting(
        "Amazon Web Services",
        show_default=False,
        minLength=1,
        maxLength=100,
        doc="The app's label as shown in Okta (exactly one of app_label, app_id).",
    )
    app_id: str | None = setting(
        None,
        pattern="^0oa[A-Za-z0-9]{17}$",
        maxLength=20,
        doc="The app's id, `0oa` followed by 17 letters or digits (exactly one of app_label, "
        "app_id).",
    )
    # None: the directory kind's source (for specs built by hand; YAML must say it).
    app_filter: str | None = setting(
        None,
        required=True,
        pattern="^[a-z0-9_]+(,[a-z0-9_]+)*$",
        doc="Comma list of group sources whose groups may map to roles, e.g. "
        "`active_directory`, `ldap_sun_one`, `okta`. A security control: groups matching the "
        "filter from other sources are reported as rogue.",
    )
    group_filter: str | None = setting(
        None,
        nullable=True,
        allOf=[{"pattern": "\\(\\?\\{\\{role\\}\\}"}, {"pattern": "\\(\\?\\{\\{accountid\\}\\}"}],
        doc="Okta-dialect regex selecting role groups and capturing `(?{{role}}…)` and "
        "`(?{{accountid}}…)`. null: derived from role_group_name.",
    )
    role_value_pattern: str | None = setting(
        None,
        nullable=True,
        allOf=[{"pattern": "\\$\\{accountid\\}"}, {"pattern": "\\$\\{role\\}"}],
        doc="Template of the SAML role attribute, using `${accountid}` and `${role}`. null: "
        "`arn:aws:iam::${accountid}:saml-provider/<saml_provider.name>,"
        "arn:aws:iam::${accountid}:role/${role}`.",
    )
    session_duration: int = setting(
        3600,
        minimum=900,
        maximum=43200,
        doc="AWS console session length Okta requests, in seconds (900-43200); a role's "
        "max_session_duration must allow it.",
    )
    join_all_roles: bool = setting(
        False,
        doc="Okta's Join all roles: offer the roles of all the user's role groups together.",
    )
    create_app: bool = setting(
        False,
        doc="Create the app when no app has this label; otherwise a missing app is an error.",
    )
    login_url: str = setting(
        DEFAULT_LOGIN_URL,
        pattern="^https://[^\\s]+$",
        maxLength=1024,
        doc="The app's Login URL (settings.app.loginURL): the AWS console page the app opens "
        "after sign-in. Default: the one Okta gives a new AWS app.",
    )
    rate_limit_share: float = setting(
        0.5,
        exclusiveMinimum=0,
        maximum=1,
        doc="The share of each Okta rate limit (per endpoint family, per minute, shared with "
        "every integration of the org) okta-aws may use; calls wait for the next window "
        "before going past it.",
    )
    read_cache_max_age: int = setting(
        86400,
        minimum=0,
        maximum=604800,
        doc="Seconds a cached Okta group member list may be reused while the group's "
        "lastMembershipUpdated is unchanged (0: always read every list). See the README's "
        "read cache section.",
    )
    loc: Location = UNKNOWN_LOCATION


@dataclass(frozen=True)
class SafetySpec:
    SECTION: ClassVar[Section] = Section("safety", "Guards on destructive changes.")

    max_deletions: int = setting(
        10,
        minimum=0,
        doc="apply refuses a plan deleting more than this many things unless overridden with "
        "--max-deletions.",
    )
    protected: frozenset[str] = setting(
        frozenset(),
        type="array",
        items={"type": "string", "minLength": 1},
        uniqueItems=True,
        doc="Role-group names or IAM role names never deleted, even with --prune.",
    )
    # Each protected name with the line it is written on, in file order.
    protected_locs: tuple[tuple[str, Location], ...] = ()


DEFAULT_LOCK_LEASE_SECONDS = 30 * 60  # a crashed apply's S3 lock blocks others this long


@dataclass(frozen=True)
class LockSpec:
    """`settings.lock`: the S3 object serialising applies across machines (the
    OKTA_AWS_LOCK_URL variable wins over `s3`); None: the local lock only."""

    SECTION: ClassVar[Section] = Section(
        "lock",
        "The apply lock shared by every machine that applies (CI runners, laptops): an object "
        "in S3 taken with conditional writes. The OKTA_AWS_LOCK_URL variable overrides `s3`. "
        "Without either, applies to target live are serialised on one machine only.",
    )

    s3: str | None = setting(
        None,
        pattern="^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.*[^/]$",
        maxLength=1100,
        doc="The lock object, s3://BUCKET/KEY (e.g. s3://acme-okta-aws/prod/apply.lock); the "
        "runner needs s3:GetObject, s3:PutObject and s3:DeleteObject on it.",
    )
    lease_seconds: int = setting(
        DEFAULT_LOCK_LEASE_SECONDS,
        minimum=2,
        maximum=86400,
        doc="How long a lock stays valid without renewal (a running apply renews it every "
        "third of this); after a crash the next apply takes it over once this has passed. "
        "Short leases are for tests.",
    )
    loc: Location = UNKNOWN_LOCATION


# A literal character of a role-group name: no placeholder brace, control character or
# character AD refuses in a group name.
_NAME_CHAR = '[^{}\\x00-\\x1f"\\[\\]:;|=+*?<>/\\\\,]'


@dataclass(frozen=True)
class Settings:
    SECTION: ClassVar[Section] = Section(
        "settings",
        "Global settings; exactly one file of the desired-state directory holds them.",
    )

    target: Target = setting(
        Target.SANDBOX,
        doc="Where commands act unless --target says otherwise: sandbox (the embedded emulated "
        "world) or live (real AWS, directory and Okta).",
    )
    saml_provider: SamlProviderSpec = setting(
        default_factory=SamlProviderSpec,
        required=True,
        doc="The IAM SAML provider created in every account.",
    )
    aws: AwsSpec = setting(default_factory=AwsSpec, doc="AWS access and ownership marking.")
    directory: DirectorySpec = setting(
        default_factory=DirectorySpec,
        required=True,
        doc="The directory holding role and management groups.",
    )
    role_group_name: str = setting(
        DEFAULT_ROLE_GROUP_NAME,
        allOf=[
            {"pattern": f"^({_NAME_CHAR}|\\{{(alias|role|account_id)\\}})*$"},
            {"pattern": "\\{role\\}"},
            {"pattern": "\\{account_id\\}"},
        ],
        doc="Template of role-group names with placeholders {alias}, {role} and {account_id} "
        "({role} and {account_id} required); rendered names must fit 64 characters; no "
        'literal " [ ] : ; | = + * ? < > / \\ , (AD group names).',
    )
    role_group_description: str | None = setting(
        None,
        pattern="^([^{}]|\\{(alias|role|account_id)\\})*$",
        maxLength=1024,
        doc="Template of role-group descriptions, same placeholders as role_group_name. "
        'Omitted: "AWS role {role} in {alias} ({account_id}); managed by okta-aws".',
    )
    okta: OktaSpec = setting(default_factory=OktaSpec, required=True, doc="The Okta AWS app.")
    safety: SafetySpec = setting(default_factory=SafetySpec, doc="Deletion guards.")
    lock: LockSpec = setting(default_factory=LockSpec, doc="One apply at a time across machines.")
    loc: Location = UNKNOWN_LOCATION
    # Line of individual settings values, for messages about them ("okta.group_filter").
    value_locs: tuple[tuple[str, Location], ...] = ()

    def loc_of(self, dotted: str) -> Location:
        """Location of a settings value such as `okta.group_filter`, else of `settings`."""
        return dict(self.value_locs).get(dotted, self.loc)
