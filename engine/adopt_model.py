"""The shapes of an import: what `adopt` decides and `adopt_render` writes.

Kept apart from the decisions so the steps (`adopt_roles`, `adopt_groups`, `adopt`) and
the renderer share them without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from engine.model import DirectoryKind
from engine.spec import AwsSpec, Target


class Effect(StrEnum):
    """What a finding means for the plan right after the import."""

    LEFT_OUT = "left out"  # not written; a plan leaves it alone
    WILL_CHANGE = "will change"  # written as the model can say it; the plan changes it
    ADOPTED = "adopted"  # untagged, written with adopt: the plan tags it as ours
    NOTE = "note"  # written exactly; a choice was made that a person should check


@dataclass(frozen=True, order=True)
class ImportFinding:
    effect: Effect
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.effect.value}: {self.subject}: {self.message}"


class Findings:
    """The findings of one adoption, collected as the steps go."""

    def __init__(self) -> None:
        self.items: list[ImportFinding] = []

    def add(self, effect: Effect, subject: str, message: str) -> None:
        self.items.append(ImportFinding(effect, subject, message))


@dataclass(frozen=True)
class ImportOptions:
    target: Target = Target.LIVE
    members: bool = True  # False (--no-members): membership stays with the owners
    aws: AwsSpec = field(default_factory=AwsSpec)
    metadata_file: str = "okta-idp-metadata.xml"
    app_id: str | None = None  # --app-id: the settings name the app by id too
    # Member DN (normalized) → why it is neither a user nor a group (the directory read).
    unresolved: Mapping[str, str] = field(default_factory=dict)
    # Account id → why AWS could not be read there.
    unreadable: Mapping[str, str] = field(default_factory=dict)
    # Account id → its tags (--account-tags: AWS Organizations holds them, not IAM).
    account_tags: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Slot:
    """One live role group that maps to a role: (account, role) and how it is named."""

    account_id: str
    role: str
    alias: str
    group_key: str  # normalized DN (directory kinds) or lower-cased Okta name
    group_name: str
    description: str
    entry: str = ""  # the catalogue entry of its live role (`adopt_roles`); "": `role`

    @property
    def catalogue_entry(self) -> str:
        return self.entry or self.role


@dataclass(frozen=True)
class RoleEntry:
    name: str
    description: str
    managed_policies: tuple[str, ...]
    max_session_duration: int
    adopt: bool = False
    comment: str = ""  # why a person should look (other definitions of the IAM role)
    iam_name: str | None = None  # the IAM role it creates, when not `name`


@dataclass(frozen=True)
class AccountEntry:
    id: str
    alias: str
    roles: tuple[str, ...]
    adopt_roles: tuple[str, ...] = ()
    comment: str = ""  # why a person should look (an alias no name carried)
    tags: tuple[tuple[str, str], ...] = ()  # sorted by key


@dataclass(frozen=True)
class GrantEntry:
    role: str
    account: str | None  # an alias, or "*"; None: by account_tags
    account_tags: tuple[tuple[str, str], ...] | None = None  # sorted by key


@dataclass(frozen=True)
class GroupEntry:
    name: str
    description: str
    grants: tuple[GrantEntry, ...]
    members: tuple[str, ...] | None  # None: left to the group's owners
    dn: str | None = None  # outside the management OU: adopted by dn
    comment: str = ""


@dataclass(frozen=True)
class SettingsEntry:
    target: Target
    provider_name: str
    provider_adopt: bool
    metadata: str | None  # the document every provider holds; None: from the Okta app
    kind: DirectoryKind
    role_groups_ou: str
    management_groups_ou: str
    users_base: str
    role_group_name: str
    role_group_description: str | None
    app_label: str
    app_id: str | None
    app_filter: str
    group_filter: str | None
    role_value_pattern: str | None
    # The app settings the YAML states as they are (`compile.app_settings_as_written`),
    # with the live app's values, in order.
    okta_as_written: tuple[tuple[str, str | int | bool], ...]
    aws: AwsSpec


@dataclass(frozen=True)
class Adoption:
    settings: SettingsEntry
    roles: tuple[RoleEntry, ...] = ()
    accounts: tuple[AccountEntry, ...] = ()
    groups: tuple[GroupEntry, ...] = ()
    findings: tuple[ImportFinding, ...] = ()
    metadata_file: str = "okta-idp-metadata.xml"
