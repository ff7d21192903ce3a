"""The reference org (docs/architecture.md §Performance targets), deterministic at any scale.

Benchmarks must measure the same org on every run and machine, and must be able to
shrink it (a smoke run in the normal suite, the scaling curve, the sizes moto can
afford), so the org is a pure function of its size and a seed. At full size it is
1,000 accounts × 5 roles, 400 management groups and 20,000 users, each user in 1–3
management groups. Grants mix the three forms people write:

- a few org-wide grants (`account: "*"`): auditors, FinOps, break-glass admins, which
  exist once per org whatever its size;
- `account_tags` grants on a team (50 accounts) or a team's environment (~17);
- 1–6 grants naming specific accounts, by alias or by id.

Everything scales linearly: the org-wide groups are a fixed number, a team keeps 50
accounts, management groups keep ~100 users and a fixed share of tag grants. So the
number of role-group memberships (and of entitlements) is proportional to the scale,
which is what lets a benchmark check that time grows linearly with the org.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.diff import diff
from engine.dn import build_dn
from engine.model import (
    DirectoryGroup,
    DirectoryKind,
    GroupRole,
    OktaApp,
    OktaAppSettings,
    System,
    World,
)
from engine.plan import Plan, PlanOptions
from engine.spec import (
    AccountSpec,
    DesiredState,
    DirectorySpec,
    GrantSpec,
    ManagementGroupSpec,
    OktaSpec,
    RoleSpec,
    SamlProviderSpec,
    Settings,
)

ROLES = (
    RoleSpec(
        name="Admin",
        managed_policies=("arn:aws:iam::aws:policy/AdministratorAccess",),
        description="Full administrative access",
    ),
    RoleSpec(
        name="PowerUser",
        managed_policies=("arn:aws:iam::aws:policy/PowerUserAccess",),
        max_session_duration=14400,
    ),
    RoleSpec(
        name="ReadOnly",
        managed_policies=("arn:aws:iam::aws:policy/ReadOnlyAccess",),
        max_session_duration=43200,
    ),
    RoleSpec(name="Billing", managed_policies=("arn:aws:iam::aws:policy/job-function/Billing",)),
    RoleSpec(
        name="SecurityAudit",
        managed_policies=(
            "arn:aws:iam::aws:policy/SecurityAudit",
            "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess",
        ),
    ),
)
ROLE_NAMES = tuple(r.name for r in ROLES)
# Org-wide grants: one group each, whatever the org's size.
ORG_WIDE_ROLES = ("ReadOnly", "SecurityAudit", "Billing", "Admin")
ACCOUNTS_PER_TEAM = 50
ENVIRONMENTS = ("prod", "staging", "dev")
PROVIDER_NAME = "OKTA"
APP_LABEL = "Amazon Web Services"
# botocore refuses SAML metadata under 1,000 characters; real documents are a few KB.
METADATA = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
    'entityID="http://www.okta.com/exkbench">\n'
    + "".join(
        f'  <md:KeyDescriptor use="signing"><ds:X509Certificate>MIIDpDCCAoygAwIBAgIGAV{i:04d}'
        "</ds:X509Certificate></md:KeyDescriptor>\n"
        for i in range(12)
    )
    + "</md:EntityDescriptor>\n"
)
DEFAULT_SEED = 20240501


@dataclass(frozen=True)
class OrgSize:
    """How big an org is; `roles_per_account` roles of the catalogue in every account."""

    accounts: int
    management_groups: int
    users: int
    roles_per_account: int = len(ROLES)

    def scaled(self, factor: float) -> OrgSize:
        """This org `factor` times as big (at least one of everything)."""
        return OrgSize(
            accounts=max(1, round(self.accounts * factor)),
            management_groups=max(len(ORG_WIDE_ROLES) + 1, round(self.management_groups * factor)),
            users=max(1, round(self.users * factor)),
            roles_per_account=self.roles_per_account,
        )

    @property
    def role_slots(self) -> int:
        return self.accounts * self.roles_per_account

    def label(self) -> str:
        return f"{self.accounts} accounts, {self.management_groups} groups, {self.users} users"


REFERENCE = OrgSize(accounts=1000, management_groups=400, users=20000)
TINY = OrgSize(accounts=6, management_groups=8, users=40)


@dataclass(frozen=True)
class Layout:
    """Where the directory keeps our groups and the users."""

    role_groups_ou: str
    management_groups_ou: str
    users_base: str
    base_dn: str

    @property
    def ous(self) -> tuple[str, str]:
        return (self.role_groups_ou, self.management_groups_ou)


AD_LAYOUT = Layout(
    role_groups_ou="OU=AWS Role Groups,DC=example,DC=test",
    management_groups_ou="OU=AWS Management Groups,DC=example,DC=test",
    users_base="CN=Users,DC=example,DC=test",
    base_dn="DC=example,DC=test",
)
SLAPD_LAYOUT = Layout(
    role_groups_ou="ou=AWS Role Groups,dc=example,dc=test",
    management_groups_ou="ou=AWS Management Groups,dc=example,dc=test",
    users_base="ou=people,dc=example,dc=test",
    base_dn="dc=example,dc=test",
)


def account_id(index: int) -> str:
    return f"{100000000000 + index:012d}"


def login(index: int) -> str:
    return f"user{index:05d}"


def teams(size: OrgSize) -> int:
    return max(1, size.accounts // ACCOUNTS_PER_TEAM)


def _accounts(size: OrgSize) -> tuple[AccountSpec, ...]:
    roles = ROLE_NAMES[: size.roles_per_account]
    team_count = teams(size)
    accounts = []
    for i in range(size.accounts):
        team = f"team{i % team_count:03d}"
        env = ENVIRONMENTS[(i // team_count) % len(ENVIRONMENTS)]
        accounts.append(
            AccountSpec(
                id=account_id(i),
                alias=f"{env}-{team}-{i:04d}",
                roles=roles,
                tags=(("env", env), ("team", team)),
            )
        )
    return tuple(accounts)


def _grants(
    index: int, *, rng: random.Random, size: OrgSize, accounts: tuple[AccountSpec, ...]
) -> tuple[GrantSpec, ...]:
    roles = ROLE_NAMES[: size.roles_per_account]
    if index < len(ORG_WIDE_ROLES):
        wide = ORG_WIDE_ROLES[index]
        return (GrantSpec(role=wide if wide in roles else roles[0], account="*"),)
    team = f"team{rng.randrange(teams(size)):03d}"
    if index % 10 == 1:  # a team's environment: ~17 accounts
        env = rng.choice(ENVIRONMENTS)
        return (GrantSpec(role=rng.choice(roles), account_tags=(("env", env), ("team", team))),)
    if index % 10 == 2:  # a whole team: 50 accounts
        return (GrantSpec(role=rng.choice(roles), account_tags=(("team", team),)),)
    grants: dict[tuple[str, str], GrantSpec] = {}
    for _ in range(rng.randint(1, 6)):
        account = rng.choice(accounts)
        role = rng.choice(roles)
        ref = account.alias if rng.random() < 0.5 else account.id
        grants.setdefault((account.id, role), GrantSpec(role=role, account=ref))
    return tuple(grants.values())


def _memberships(size: OrgSize, rng: random.Random) -> list[list[str]]:
    """Logins of each management group: every user in 1–3 distinct groups."""
    members: list[list[str]] = [[] for _ in range(size.management_groups)]
    for i in range(size.users):
        for group in rng.sample(range(size.management_groups), rng.randint(1, 3)):
            members[group].append(login(i))
    return members


def reference_state(
    *,
    size: OrgSize = REFERENCE,
    kind: DirectoryKind = DirectoryKind.ACTIVE_DIRECTORY,
    layout: Layout = AD_LAYOUT,
    seed: int = DEFAULT_SEED,
) -> DesiredState:
    """The desired state of an org of `size`; the same arguments give the same state."""
    rng = random.Random(seed)
    accounts = _accounts(size)
    members = _memberships(size, rng)
    groups = tuple(
        ManagementGroupSpec(
            name=f"mg-{j:04d}",
            description=f"Management group {j}",
            grants=_grants(j, rng=rng, size=size, accounts=accounts),
            members=tuple(sorted(members[j])),
        )
        for j in range(size.management_groups)
    )
    directory = (
        DirectorySpec(kind=kind)
        if kind is DirectoryKind.OKTA
        else DirectorySpec(
            kind=kind,
            role_groups_ou=layout.role_groups_ou,
            management_groups_ou=layout.management_groups_ou,
            users_base=layout.users_base,
        )
    )
    return DesiredState(
        root=Path("."),
        settings=Settings(
            saml_provider=SamlProviderSpec(name=PROVIDER_NAME, metadata=METADATA),
            directory=directory,
            okta=OktaSpec(app_label=APP_LABEL),
            role_group_description="AWS role {role} in {alias} ({account_id})",
        ),
        roles=ROLES[: size.roles_per_account],
        accounts=accounts,
        management_groups=groups,
    )


def fresh_app() -> OktaApp:
    """The AWS app as Okta creates it: group mapping off, nothing configured."""
    return OktaApp(
        label=APP_LABEL,
        id="0oabenchapp000000001",
        settings=OktaAppSettings(use_group_mapping=False, app_filter="okta"),
    )


def empty_live(desired: World) -> World:
    """What a first plan reads: the desired accounts exist, the AWS app is fresh, and
    nothing okta-aws would create is there yet."""
    return World.build(
        okta_app=fresh_app(),
        accounts=desired.accounts,
        directory_kind=desired.directory_kind,
        account_aliases=desired.account_aliases,
    )


def management_groups(world: World) -> list[DirectoryGroup]:
    return [g for g in world.directory_groups.values() if g.role is GroupRole.MANAGEMENT]


def role_groups(world: World) -> list[DirectoryGroup]:
    return [g for g in world.directory_groups.values() if g.role is GroupRole.ROLE]


def role_group_dn(*, name: str, layout: Layout) -> str:
    return build_dn(cn=name, parent=layout.role_groups_ou)


def with_layout(state: DesiredState, layout: Layout) -> DesiredState:
    """`state` with its directory moved to `layout`."""
    directory = dataclasses.replace(
        state.settings.directory,
        role_groups_ou=layout.role_groups_ou,
        management_groups_ou=layout.management_groups_ou,
        users_base=layout.users_base,
    )
    return dataclasses.replace(
        state, settings=dataclasses.replace(state.settings, directory=directory)
    )


def pages(items: int, page_size: int) -> int:
    """Pages a listing of `items` takes: an empty listing still costs one request."""
    return max(1, math.ceil(items / page_size))


def plan_system(*, desired: World, live: World, system: System) -> Plan:
    """The plan for one system from its provider's part of the live world."""
    live = dataclasses.replace(
        live,
        account_aliases=dict(desired.account_aliases),
        directory_kind=desired.directory_kind,
    )
    options = PlanOptions(systems=frozenset({system}), max_deletions=10**9)
    return diff(desired=desired, live=live, options=options)


def restricted(world: World, *, accounts: Iterable[str]) -> World:
    """The AWS part of `world` for some of its accounts only."""
    wanted = frozenset(accounts)
    return World.build(
        saml_providers=[p for p in world.saml_providers.values() if p.account_id in wanted],
        roles=[r for r in world.roles.values() if r.account_id in wanted],
        accounts=wanted,
        systems=(System.AWS,),
        account_aliases={a: n for a, n in world.account_aliases.items() if a in wanted},
        directory_kind=world.directory_kind,
    )
