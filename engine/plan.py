"""A plan is data: typed changes, findings and the access delta, rendered elsewhere.

Like Terraform's plan model, everything a reviewer sees and everything `apply` executes
comes from these records, so what was reviewed is what runs. A plan also records the
fingerprint of the live world it was computed from: `apply --plan` refuses it when the
world has moved on (a stale plan).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from engine import model
from engine.model import System, World

PLAN_FORMAT_VERSION = 2  # 2: changes carry reason_code and reason_args


class Action(StrEnum):
    CREATE = "+"
    UPDATE = "~"
    DELETE = "-"


class ResourceKind(StrEnum):
    SAML_PROVIDER = "saml_provider"
    ROLE = "role"
    DIRECTORY_GROUP = "directory_group"  # role group or management group
    GROUP_MEMBER = "group_member"  # management group Member Of role group
    USER_MEMBER = "user_member"  # user in a management group (directory)
    OKTA_APP = "okta_app"  # create (with okta.create_app) or settings.app update
    OKTA_GROUP = "okta_group"  # directory.kind okta only: OKTA_GROUPs we own
    OKTA_GROUP_MEMBER = "okta_group_member"  # directory.kind okta only
    APP_ASSIGNMENT = "app_assignment"  # a group assigned to the AWS app

    @property
    def system(self) -> System:
        if self in (ResourceKind.SAML_PROVIDER, ResourceKind.ROLE):
            return System.AWS
        if self in (
            ResourceKind.DIRECTORY_GROUP,
            ResourceKind.GROUP_MEMBER,
            ResourceKind.USER_MEMBER,
        ):
            return System.DIRECTORY
        return System.OKTA


# What a change creates, updates or deletes: one of the model's resources.
Resource = (
    model.SamlProvider
    | model.Role
    | model.DirectoryGroup
    | model.GroupMember
    | model.UserMember
    | model.OktaApp
    | model.OktaGroup
    | model.AppAssignment
)


def change_id(kind: ResourceKind, key: tuple[str, ...], action: Action) -> str:
    """A change's id, `<kind>:<key joined by />:<action>`: stable across runs, and known
    before the change exists (the diff names dependencies by it)."""
    return f"{kind.value}:{'/'.join(key)}:{action.value}"


class Reason(StrEnum):
    """Why a change is planned, as a code (like Terraform's `ActionReason`).

    The plan carries the code and the few names it needs (`Change.reason_args`); the
    words a reviewer reads are made from them by the renderer (`render_parts.REASON_WORDS`),
    so JSON consumers match codes instead of parsing prose. The names in a comment are
    the arguments each code comes with.
    """

    NONE = "none"  # no reason recorded (plans built by hand)
    IN_DESIRED_STATE = "in_desired_state"
    PROVIDER_NEEDED = "provider_needed"  # every desired account needs the SAML provider
    ADOPT = "adopt"  # an unmanaged resource taken over: the managed tag is added
    METADATA_DIFFERS = "metadata_differs"
    ATTRIBUTES_DIFFER = "attributes_differ"  # attributes
    CREATE_APP = "create_app"  # okta.create_app and no app
    APP_SETTINGS_DIFFER = "app_settings_differ"
    DESCRIPTION_DIFFERS = "description_differs"
    OKTA_GROUP_IN_DESIRED_STATE = "okta_group_in_desired_state"  # directory.kind okta
    ROLE_GROUP_IN_DESIRED_STATE = "role_group_in_desired_state"  # account, role
    MANAGEMENT_GROUP_IN_DESIRED_STATE = "management_group_in_desired_state"
    MEMBER_VIA = "member_via"  # via, owner_managed: the management groups putting a user in
    MEMBER_LISTED = "member_listed"  # listed in the desired state (kind okta)
    MEMBER_NOT_GRANTED = "member_not_granted"  # group: in no management group granting it
    MEMBER_NOT_LISTED = "member_not_listed"  # not listed; the group's member list is ours
    HAS_GRANTS = "has_grants"  # group: its members need the app
    HAS_NO_GRANTS = "has_no_grants"  # group: its assignment is ours and goes
    GRANTED = "granted"  # group, role_group
    NOT_GRANTED = "not_granted"  # group, role_group: role groups are authoritative
    GROUP_DROPPED = "group_dropped"  # group, role_group: leaves; deleted too (--prune)
    GROUP_DROPPED_KEPT = "group_dropped_kept"  # group, role_group: leaves; kept until --prune
    USER_LISTED = "user_listed"  # login, group
    USER_NOT_LISTED = "user_not_listed"  # login, group: a listed member list is authoritative
    NOT_A_MANAGEMENT_GROUP = "not_a_management_group"  # group, role_group: a way in, no grant
    DIRECT_MEMBER = "direct_member"  # login, role_group: users join management groups only
    NESTED_GROUP = "nested_group"  # group, management_group: members are listed logins only
    PRUNED = "pruned"  # no longer in the desired state (--prune)


# A reason's arguments: names (or lists of names) by argument name, sorted by name so
# equal reasons are equal records.
ReasonArg = str | tuple[str, ...]
ReasonArgs = tuple[tuple[str, ReasonArg], ...]


def reason_args(**values: ReasonArg) -> ReasonArgs:
    return tuple(sorted(values.items()))


@dataclass(frozen=True)
class AttributeChange:
    """One attribute that differs, e.g. `trust_policy.Statement[0].Condition` a → b."""

    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Change:
    """One idempotent step. `before` is the live resource (None when creating), `after`
    the desired one (None when deleting). `id` is stable across runs for the same step."""

    kind: ResourceKind
    action: Action
    key: tuple[str, ...]
    before: Resource | None = None
    after: Resource | None = None
    details: tuple[AttributeChange, ...] = ()
    destructive: bool = False  # removes something or someone's access
    reason: Reason = Reason.NONE  # why this change is planned (the renderer words it)
    reason_args: ReasonArgs = ()  # the names the reason's words need (`reason_args`)
    depends_on: tuple[str, ...] = ()  # ids of changes that must succeed first
    waits_for: str | None = None  # e.g. "directory import": not executable yet, not an error

    @property
    def id(self) -> str:
        return change_id(self.kind, self.key, self.action)

    @property
    def system(self) -> System:
        return self.kind.system

    @property
    def resource(self) -> Resource:
        resource = self.after if self.after is not None else self.before
        assert resource is not None, "a change has a before or an after"
        return resource


class FindingKind(StrEnum):
    CONFLICT = "conflict"  # blocks the plan: e.g. an untagged role with a desired name
    READ_ERROR = "read_error"  # blocks the plan: a system or account could not be read
    ROGUE_GROUP = "rogue_group"  # security: a way to a role outside okta-aws (look-alike, nested)
    UNMANAGED = "unmanaged"  # informational: something we saw and leave alone
    MISSING_USER = "missing_user"  # blocks: a listed login does not exist in the directory
    MISSING_GROUP = "missing_group"  # blocks: an owner-managed group is missing (kind okta)
    PRUNE_SKIPPED = "prune_skipped"  # informational: would delete with --prune
    PENDING_ACCESS = "pending_access"  # informational: access changes too many to list


BLOCKING_FINDINGS = frozenset(
    {
        FindingKind.CONFLICT,
        FindingKind.READ_ERROR,
        FindingKind.MISSING_USER,
        FindingKind.MISSING_GROUP,
    }
)


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    system: System
    subject: str  # what it is about, e.g. "role Admin in 111111111111"
    message: str

    @property
    def blocking(self) -> bool:
        return self.kind in BLOCKING_FINDINGS


@dataclass(frozen=True, order=True)
class AccessChange:
    """A user gains or loses a role in an account (what reviewers read first)."""

    user: str
    account_id: str
    role: str
    gained: bool
    account_alias: str = ""
    via: tuple[str, ...] = ()
    # Set when the change only happens once the directory import has run and the next
    # apply made the assignments waiting for it (e.g. "directory import").
    waits_for: str | None = None


@dataclass(frozen=True)
class PlanOptions:
    prune: bool = False
    max_deletions: int = 10
    protected: frozenset[str] = frozenset()
    systems: frozenset[System] = frozenset(System)  # --only
    create_app: bool = False  # okta.create_app: a missing AWS app is created, not an error


@dataclass(frozen=True)
class DisplayNames:
    """What people call the things changes refer to by key: accounts, group DNs, the app.

    Renderings show `prod-payments (111111111111)` and a group's name rather than its
    lower-cased DN, and a saved plan must render without the worlds it was made from, so
    the plan carries these names itself.
    """

    accounts: Mapping[str, str] = field(default_factory=dict)  # account id → alias
    groups: Mapping[str, str] = field(default_factory=dict)  # normalized DN → group name
    okta_app: str = ""  # the AWS app's label

    @staticmethod
    def from_worlds(*worlds: World) -> DisplayNames:
        """Names from the given worlds; the first world that names a thing wins (pass the
        desired world first: names as written in git beat names as read)."""
        accounts: dict[str, str] = {}
        groups: dict[str, str] = {}
        okta_app = ""
        for world in worlds:
            for account_id, alias in world.account_aliases.items():
                accounts.setdefault(account_id, alias)
            for key, group in world.directory_groups.items():
                groups.setdefault(key, group.name)
            if not okta_app and world.okta_app is not None:
                okta_app = world.okta_app.label
        return DisplayNames(accounts=accounts, groups=groups, okta_app=okta_app)


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...] = ()  # in execution order once `order` has run
    findings: tuple[Finding, ...] = ()
    access_delta: tuple[AccessChange, ...] = ()
    options: PlanOptions = field(default_factory=PlanOptions)
    target: str = "sandbox"
    live_fingerprint: str = ""  # sha256 of the canonical live world the plan was made from
    desired_digest: str = ""  # spec.DesiredState.digest
    guard: str | None = None  # why apply must refuse (e.g. over max_deletions), if it must
    names: DisplayNames = field(default_factory=DisplayNames)  # for renderings only
    # Why the access delta cannot be complete: a system that decides access was not read
    # (--only, a read error), e.g. "the directory and Okta were not read (--only aws)".
    # None when every one was read: the delta is then the whole truth.
    access_unknown: str | None = None

    @property
    def deletions(self) -> int:
        return sum(1 for c in self.changes if c.destructive)

    @property
    def access_removals(self) -> tuple[Change, ...]:
        """The changes that can take access away: every deletion and destructive update.
        When the access delta is unknown, these are what a reviewer checks by hand."""
        return tuple(c for c in self.changes if c.destructive or c.action is Action.DELETE)

    @property
    def complete(self) -> bool:
        """Every system and account in scope was read: the plan covers all of them.
        An incomplete plan is also blocked (a read error is a blocking finding)."""
        return not any(f.kind is FindingKind.READ_ERROR for f in self.findings)

    @property
    def blocked(self) -> bool:
        return any(f.blocking for f in self.findings)

    @property
    def applyable(self) -> bool:
        return not self.blocked and self.guard is None

    @property
    def empty(self) -> bool:
        return not self.changes

    def counts(self) -> dict[Action, int]:
        return {a: sum(1 for c in self.changes if c.action is a) for a in Action}


class Outcome(StrEnum):
    """What executing one change did; providers return one per change."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    UNCHANGED = "unchanged"  # the goal was already met (idempotent success)
    WAITING = "waiting"  # not executable yet (e.g. directory import pending)
    FAILED = "failed"
    SKIPPED = "skipped"  # a change it depends on failed
