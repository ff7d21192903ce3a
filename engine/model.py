"""The normalized world: one shape for what we want and what is live.

`compile` turns the desired state into a `World`; each provider reads its part of the
live systems into the same shapes; `diff` compares the two. Every resource is a frozen
dataclass with a natural key (never a server-assigned id, which desired state cannot
know) and an `attributes()` mapping that holds exactly what is compared. Providers
normalize representation noise (policy JSON order, DN case, ids) before building
these objects, so equal things are equal here and the diff can stay generic.

Fields that describe ownership or intent rather than configuration (`managed`,
`adopt`, server ids) are deliberately outside `attributes()`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from functools import cached_property
from typing import Any

from engine.dn import normalize_dn

SAML_AUDIENCE = "https://signin.aws.amazon.com/saml"


class System(StrEnum):
    AWS = "aws"
    DIRECTORY = "directory"
    OKTA = "okta"


class DirectoryKind(StrEnum):
    ACTIVE_DIRECTORY = "active_directory"
    LDAP = "ldap"
    OKTA = "okta"

    @property
    def okta_source(self) -> str:
        """The Okta group source this directory's groups arrive from (an app filter entry)."""
        return {"active_directory": "active_directory", "ldap": "ldap_sun_one", "okta": "okta"}[
            self.value
        ]


class GroupRole(StrEnum):
    """What a directory group is to us."""

    ROLE = "role"  # one (account, role); lives in the role-groups OU
    MANAGEMENT = "management"  # users join these; they are Member Of role groups


class OktaGroupType(StrEnum):
    OKTA_GROUP = "OKTA_GROUP"
    APP_GROUP = "APP_GROUP"
    BUILT_IN = "BUILT_IN"


OMIT_WHEN_EMPTY = "omit_when_empty"
"""A field metadata key: `codec.to_jsonable` leaves the field out while it is empty (an
optional field added later, so documents without it keep their bytes)."""


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace; the basis of digests and equality."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_metadata(document: str) -> str:
    """SAML metadata as compared: line endings and surrounding blank space do not matter."""
    return document.replace("\r\n", "\n").strip()


def metadata_digest(document: str) -> str:
    return sha256_hex(canonical_metadata(document))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def normalize_policy(document: Mapping[str, Any] | str) -> str:
    """Canonical JSON of an IAM policy document.

    IAM hands documents back URL-decoded as dicts with single items where we wrote
    lists (and vice versa), statements in any order: all of that is noise.
    """
    doc: Any = json.loads(document) if isinstance(document, str) else dict(document)

    def norm(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items()}
        if isinstance(value, list):
            items = [norm(v) for v in value]
            if all(isinstance(i, str) for i in items):
                unique = sorted(set(items))
                return unique[0] if len(unique) == 1 else unique
            return sorted(items, key=canonical_json)
        return value

    statements = [norm(s) for s in _as_list(doc.get("Statement", []))]
    for statement in statements:
        for key in ("Action", "NotAction", "Resource", "NotResource"):
            if isinstance(statement.get(key), list) and len(statement[key]) == 1:
                statement[key] = statement[key][0]
    normalized = {**{k: norm(v) for k, v in doc.items() if k != "Statement"}}
    normalized["Statement"] = sorted(statements, key=canonical_json)
    normalized.setdefault("Version", "2012-10-17")
    return canonical_json(normalized)


def saml_trust_policy(*, account_id: str, provider_name: str) -> str:
    """The trust policy of a role assumable through the SAML provider (normalized)."""
    return normalize_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {
                        "Federated": f"arn:aws:iam::{account_id}:saml-provider/{provider_name}"
                    },
                    "Action": "sts:AssumeRoleWithSAML",
                    "Condition": {"StringEquals": {"SAML:aud": SAML_AUDIENCE}},
                }
            ],
        }
    )


def trusted_saml_providers(trust_policy: str) -> frozenset[str]:
    """Provider ARNs an (allow) statement of the trust policy lets assume via SAML."""
    doc = json.loads(trust_policy)
    arns: set[str] = set()
    for statement in _as_list(doc.get("Statement", [])):
        if statement.get("Effect") != "Allow":
            continue
        actions = _as_list(statement.get("Action", []))
        if not any(a in ("sts:AssumeRoleWithSAML", "sts:*", "*") for a in actions):
            continue
        principal = statement.get("Principal", {})
        if isinstance(principal, dict):
            arns.update(_as_list(principal.get("Federated", [])))
    return frozenset(arns)


# --- AWS -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SamlProvider:
    account_id: str
    name: str
    metadata: str  # the document; compared by digest
    managed: bool = True  # carries the managed tag (live); desired is always managed
    adopt: bool = False  # desired only: take over an untagged provider of this name

    @property
    def key(self) -> tuple[str, str]:
        return (self.account_id, self.name)

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:saml-provider/{self.name}"

    @property
    def metadata_sha256(self) -> str:
        return metadata_digest(self.metadata)

    def attributes(self) -> dict[str, Any]:
        return {"metadata_sha256": self.metadata_sha256}


@dataclass(frozen=True)
class Role:
    account_id: str
    name: str
    trust_policy: str  # normalize_policy() output
    managed_policies: frozenset[str] = frozenset()
    max_session_duration: int = 3600
    description: str = ""
    managed: bool = True
    adopt: bool = False
    # Live only, and outside attributes(): the model has no inline policies, so they are
    # never compared or changed; `import` names a role that has any. In JSON only when
    # there are some (OMIT_WHEN_EMPTY), so worlds without them encode as before.
    inline_policies: frozenset[str] = field(default=frozenset(), metadata={OMIT_WHEN_EMPTY: True})

    @property
    def key(self) -> tuple[str, str]:
        # IAM role names are unique ignoring case within an account.
        return (self.account_id, self.name.lower())

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{self.name}"

    def attributes(self) -> dict[str, Any]:
        return {
            "trust_policy": json.loads(self.trust_policy),
            "managed_policies": sorted(self.managed_policies),
            "max_session_duration": self.max_session_duration,
            "description": self.description,
        }


# --- Directory -------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectoryUser:
    login: str  # sAMAccountName (AD) or uid (LDAP), lower-cased
    dn: str  # normalized DN


@dataclass(frozen=True)
class DirectoryGroup:
    """A role group or management group.

    `member_groups` holds normalized DNs of nested groups (for a role group: the
    management groups that are Member Of it). `member_users` holds lower-cased logins;
    None means user membership is not managed here (desired) and is never compared.
    """

    dn: str  # as written/read; `key` is its normalized form
    name: str  # cn
    role: GroupRole
    description: str = ""
    member_groups: frozenset[str] = frozenset()
    member_users: frozenset[str] | None = None
    adopted: bool = False  # management group adopted by dn: only its Member Of links are ours
    account_id: str | None = None  # role groups: what the name maps to
    role_name: str | None = None

    @cached_property
    def key(self) -> str:
        return normalize_dn(self.dn)

    def attributes(self) -> dict[str, Any]:
        return {"description": self.description}


# --- Okta ------------------------------------------------------------------------------


# What Okta sets a new AWS app's Login URL to (docs/facts.md §Okta's AWS Account
# Federation app).
DEFAULT_LOGIN_URL = "https://console.aws.amazon.com/ec2/home"


def _okta(name: str, default: Any, *, unmaps: Callable[[Any, Any], bool] | None = None) -> Any:
    """A field of the app's `settings.app`: Okta's JSON name for it and, when changing
    it can unmap role groups from roles (take access away), the test saying so."""
    return field(default=default, metadata={"okta": name, "unmaps": unmaps})


def _changed(old: Any, new: Any) -> bool:
    return bool(old != new)


def _turned_off(old: Any, new: Any) -> bool:
    return bool(old) and not new


def _sources_removed(old: str, new: str) -> bool:
    return bool(set(old.split(",")) - set(new.split(",")) - {""})


@dataclass(frozen=True)
class OktaAppSettings:
    """The fields of the AWS app's `settings.app` that the engine owns.

    A field here is read from and written to Okta under its Okta name (`_okta`), saved
    in plans and snapshots, and compared by the diff; `compile` fills the fields that
    `spec.OktaSpec` has under the same name. Adding a setting Okta stores is one field
    here and one in `spec_settings.OktaSpec`.
    """

    use_group_mapping: bool = _okta("useGroupMapping", True, unmaps=_turned_off)
    app_filter: str = _okta("appFilter", "active_directory", unmaps=_sources_removed)
    group_filter: str = _okta("groupFilter", "", unmaps=_changed)
    role_value_pattern: str = _okta("roleValuePattern", "", unmaps=_changed)
    session_duration: int = _okta("sessionDuration", 3600)
    join_all_roles: bool = _okta("joinAllRoles", False)
    login_url: str = _okta("loginURL", DEFAULT_LOGIN_URL)

    @classmethod
    def okta_names(cls) -> tuple[tuple[str, str], ...]:
        """(our field name, Okta's JSON name) for every field, in field order."""
        return tuple((f.name, f.metadata["okta"]) for f in fields(cls))

    def to_okta(self) -> dict[str, Any]:
        return {okta: getattr(self, ours) for ours, okta in self.okta_names()}

    @classmethod
    def from_okta(cls, app_settings: Mapping[str, Any]) -> OktaAppSettings:
        """The owned fields of Okta's `settings.app`. A field Okta leaves out takes its
        default; a null text is empty (an app filter Okta holds as null selects no
        source, it does not mean the default one) and a null or 0 number the default."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.metadata["okta"] not in app_settings:
                values[f.name] = f.default
                continue
            raw = app_settings[f.metadata["okta"]]
            if isinstance(f.default, bool):
                values[f.name] = raw
            elif isinstance(f.default, int):
                values[f.name] = int(raw or f.default)
            else:
                values[f.name] = str(raw or "")
        values["app_filter"] = normalize_app_filter(values["app_filter"])
        return cls(**values)

    def unmaps_groups(self, new: OktaAppSettings) -> bool:
        """Whether going from these settings to `new` can unmap role groups from roles,
        and so take access away (the diff counts such an update as a deletion)."""
        return any(
            f.metadata["unmaps"] is not None
            and f.metadata["unmaps"](getattr(self, f.name), getattr(new, f.name))
            for f in fields(self)
        )

    def app_sources(self) -> frozenset[str]:
        return frozenset(s for s in self.app_filter.split(",") if s)


def normalize_app_filter(value: str) -> str:
    """Okta treats the app filter as a set of sources: order and spacing are noise."""
    return ",".join(sorted({s.strip() for s in value.split(",") if s.strip()}))


@dataclass(frozen=True)
class OktaApp:
    label: str
    settings: OktaAppSettings
    id: str | None = None  # live only
    name: str = "amazon_aws"

    @property
    def key(self) -> str:
        return self.label

    def attributes(self) -> dict[str, Any]:
        return {
            "settings.app." + okta: getattr(self.settings, ours)
            for ours, okta in OktaAppSettings.okta_names()
        }


@dataclass(frozen=True)
class OktaGroup:
    """A group as Okta sees it. Keyed by (source, name): a name alone is not unique, and
    a look-alike group from another source is exactly what rogue detection looks for."""

    name: str
    source: str  # "okta" for OKTA_GROUP, else the source app's name (active_directory…)
    type: OktaGroupType = OktaGroupType.OKTA_GROUP
    id: str | None = None  # live only
    source_id: str | None = None
    dn: str | None = None  # imported groups: the directory DN (normalized)
    description: str = ""
    members: frozenset[str] | None = None  # lower-cased logins; None: not read/managed
    # Kind okta, role groups: the management groups (names as written) whose members make
    # up this group's, since Okta cannot nest. Desired: from the grants. Live: copied from
    # the desired world by the reader (Okta stores no such link), so `via` can name them.
    member_groups: frozenset[str] = frozenset()

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.name.lower())

    def attributes(self) -> dict[str, Any]:
        return {"description": self.description}


@dataclass(frozen=True)
class AppAssignment:
    """A group assigned to the AWS app (how users get the app at all)."""

    group_source: str
    group_name: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.group_source, self.group_name.lower())


# --- The world -------------------------------------------------------------------------


def _index(items: Iterable[Any], key: Callable[[Any], Any]) -> dict[Any, Any]:
    return {key(item): item for item in items}


@dataclass(frozen=True)
class World:
    """Everything the engine manages or must look at, from one side (desired or live).

    A provider that was not read (`--only`) leaves its part empty and its system out of
    `systems`; diff then ignores that system rather than planning to recreate it.
    """

    saml_providers: Mapping[tuple[str, str], SamlProvider] = field(default_factory=dict)
    roles: Mapping[tuple[str, str], Role] = field(default_factory=dict)
    directory_groups: Mapping[str, DirectoryGroup] = field(default_factory=dict)
    directory_users: Mapping[str, DirectoryUser] = field(default_factory=dict)
    okta_app: OktaApp | None = None
    okta_groups: Mapping[tuple[str, str], OktaGroup] = field(default_factory=dict)
    app_assignments: Mapping[tuple[str, str], AppAssignment] = field(default_factory=dict)
    accounts: frozenset[str] = frozenset()  # AWS accounts this world covers
    systems: frozenset[System] = frozenset(System)
    account_aliases: Mapping[str, str] = field(default_factory=dict)  # id → alias, for people
    directory_kind: DirectoryKind | None = None  # how Okta gets its groups (import source)

    @staticmethod
    def build(
        *,
        saml_providers: Iterable[SamlProvider] = (),
        roles: Iterable[Role] = (),
        directory_groups: Iterable[DirectoryGroup] = (),
        directory_users: Iterable[DirectoryUser] = (),
        okta_app: OktaApp | None = None,
        okta_groups: Iterable[OktaGroup] = (),
        app_assignments: Iterable[AppAssignment] = (),
        accounts: Iterable[str] = (),
        systems: Iterable[System] = tuple(System),
        account_aliases: Mapping[str, str] | None = None,
        directory_kind: DirectoryKind | None = None,
    ) -> World:
        """A world from plain iterables, indexed by natural key."""
        return World(
            saml_providers=_index(saml_providers, lambda p: p.key),
            roles=_index(roles, lambda r: r.key),
            directory_groups=_index(directory_groups, lambda g: g.key),
            directory_users=_index(directory_users, lambda u: u.login),
            okta_app=okta_app,
            okta_groups=_index(okta_groups, lambda g: g.key),
            app_assignments=_index(app_assignments, lambda a: a.key),
            accounts=frozenset(accounts),
            systems=frozenset(systems),
            account_aliases=dict(account_aliases or {}),
            directory_kind=directory_kind,
        )


# --- Links: the edges between resources, changed one by one ----------------------------


@dataclass(frozen=True)
class GroupMember:
    """A nested group in a directory group (management group Member Of role group)."""

    group_dn: str  # normalized DN of the containing group (a role group)
    member_dn: str  # normalized DN of the member group (a management group)

    @property
    def key(self) -> tuple[str, str]:
        return (self.group_dn, self.member_dn)


@dataclass(frozen=True)
class UserMember:
    """A user in a directory group (management groups) or, with kind okta, an Okta group."""

    group: str  # directory: normalized DN; okta: group name
    login: str  # lower-cased

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.login)


# --- Access ----------------------------------------------------------------------------


@dataclass(frozen=True, order=True, slots=True)
class Entitlement:
    """A user may assume a role in an account; `via` names the groups that grant it."""

    user: str
    account_id: str
    role: str
    via: frozenset[str] = field(default=frozenset(), compare=False)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.user, self.account_id, self.role)
