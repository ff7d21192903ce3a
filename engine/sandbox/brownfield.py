"""The brownfield world `sandbox reset` creates: an org half-way through adopting okta-aws.

A greenfield sandbox (everything empty) would only ever show `+` lines. Real users start
from an org with hand-made roles, a partial earlier rollout and drift, so the sandbox is
seeded from the desired state with one item for each engine behaviour worth seeing in
the first `plan` (the item → what the engine must do with it):

AWS (every desired account, reached by AssumeRole)
- every account: the access role (`settings.aws.access_role`), untagged, trusting the
  management account → never touched: not desired, not ours.
- the first third of the accounts: the SAML provider, tagged with the managed tag, with
  the desired metadata, and every desired role, tagged and exactly as desired → converged,
  no change (and a `plan` after `apply` makes 0 writes).
- the first account also has a tagged role the desired state no longer lists
  (`LegacyDeployer`) → prune candidate: a PRUNE_SKIPPED finding without `--prune`.
- the next account: the provider tagged but with OLD metadata (another valid document)
  → `~ saml-provider … metadata sha256`; and its first role with a drifted max session
  duration → `~ role`.
- every (account, role) in `adopt_roles` or with `adopt: true`: an UNTAGGED role of that
  name, made by hand (trusting the account root, the desired policies plus
  AmazonS3ReadOnlyAccess) → adopted: updated and tagged (reason "adopt"), not a conflict.
- the other accounts: empty → `+ saml-provider`, `+ role`.

Directory (AD or LDAP flavour, per settings.directory.kind; none for kind okta)
- the OUs (managed OUs, users base, OUs of adopted groups) and a user for every login
  the desired state lists, plus five extra people (walter, wendy, xavier, yvonne, zoe).
- every adopted management group (`dn:`), e.g. the HR-fed Finance Department, with
  members of its own (walter, wendy) → only its Member Of links change.
- the first management group that lists members exists with one desired member missing
  and a STALE member (xavier) → `+ member`, `- member` (authoritative, no prune needed).
- the first management group without `members` exists with yvonne and zoe → its members
  are never compared.
- role groups of the converged accounts that have an existing grantee, nested with them,
  the first one also with a hand-added user (zoe) → that direct member is removed.

Okta
- the `amazon_aws` app labelled `settings.okta.app_label` with Okta's default
  `settings.app` (useGroupMapping false, appFilter okta, …) → `~ settings.app.*`.
- the directory integration (`active_directory` or `ldap_sun_one`) and one completed
  import of the brownfield directory, so Okta mirrors it (flattened nesting).
- a ROGUE group: an OKTA_GROUP named like a role group with a user (mallory) in it,
  while the app filter only trusts the directory → ROGUE_GROUP finding, never touched
  (left out when the desired app filter includes `okta`, where it would not be rogue).
- the imported management group above assigned to the app, plus a hand-made assignment
  (`AWS Console Pilot`, an OKTA_GROUP) → kept: assignments the engine does not own are
  never removed.
- kind okta: users, the management group with the stale member and the converged
  accounts' role groups are OKTA_GROUPs instead; every management group whose members
  are omitted exists in Okta with people in it (its owners run it there).

The directory half is spelled out in `brownfield_directory`. Okta logins equal the
directory logins: users carry no userPrincipalName/mail, so the import takes
sAMAccountName (AD) or uid (LDAP), like an agent set to that username format.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from engine.compile import compile_world
from engine.dn import parse_rdns
from engine.model import (
    DirectoryKind,
    GroupRole,
    World,
    normalize_app_filter,
    saml_trust_policy,
)
from engine.sandbox.aws_state import AccountRecord, AwsState, ProviderRecord, RoleRecord
from engine.sandbox.brownfield_directory import (
    EXTRA_USERS,
    STALE_MEMBER,
    build_directory,
    imported_ous,
    plan_directory,
)
from engine.sandbox.directory_store import DirEntry, MockDirectory, canonical_records
from engine.sandbox.okta_emulator import (
    OktaState,
    add_aws_app,
    add_directory_app,
    import_directory,
    records_from_ldap3,
)
from engine.sandbox.okta_emulator.catalog import saml_metadata
from engine.sandbox.okta_emulator.state import App, GroupType
from engine.sandbox.persist import DirectoryMode, SandboxMeta
from engine.spec import DesiredState

ROGUE_USER = "mallory"
PILOT_GROUP = "AWS Console Pilot"
LEGACY_ROLE = "LegacyDeployer"
HAND_MADE_EXTRA_POLICY = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
MANAGEMENT_ACCOUNT = "123456789012"  # the org's payer account, trusted by the access role
OKTA_SEED = 20_240_601  # fixed: the same desired state always gives the same ids


@dataclass(frozen=True)
class Brownfield:
    meta: SandboxMeta
    aws: AwsState
    entries: tuple[DirEntry, ...]
    okta: OktaState


def base_dn_of(dn: str) -> str:
    """The trailing `DC=` components of a DN (the naming context), else its last RDN."""
    rdns = parse_rdns(dn)
    tail = []
    for rdn in reversed(rdns):
        if rdn[0][0] != "dc":
            break
        tail.append(rdn)
    count = len(tail) or 1
    parts = dn.split(",")  # only for slicing back the caller's spelling of the tail
    return ",".join(p.strip() for p in parts[-count:]) if len(parts) >= count else dn


def _domain(base_dn: str) -> str:
    labels = [value for rdn in parse_rdns(base_dn) for kind, value in rdn if kind == "dc"]
    return ".".join(labels) or "example.test"


def old_metadata() -> str:
    """A valid IdP metadata document of another (earlier) Okta app: the OLD metadata."""
    earlier = App(
        id="0oa1earlier0app0old1",
        name="amazon_aws",
        label="Amazon Web Services (old org)",
        sign_on_mode="SAML_2_0",
        status="ACTIVE",
        created="2019-03-01T00:00:00.000Z",
        last_updated="2019-03-01T00:00:00.000Z",
    )
    return saml_metadata(app=earlier, base_url="https://example-old.okta.com")


# --- AWS -------------------------------------------------------------------------------------


def _role_record(world: World, key: tuple[str, str], *, tag: dict[str, str]) -> RoleRecord:
    role = world.roles[key]
    return RoleRecord(
        name=role.name,
        trust_policy=json.loads(role.trust_policy),
        managed_policies=tuple(sorted(role.managed_policies)),
        description=role.description,
        max_session_duration=role.max_session_duration,
        tags=tag,
    )


def build_aws(*, state: DesiredState, world: World) -> AwsState:
    settings = state.settings
    tag = dict([settings.aws.managed_tag])
    accounts = [a.id for a in state.accounts]
    converged = accounts[: max(1, len(accounts) // 3)] if accounts else []
    old = accounts[len(converged)] if len(accounts) > len(converged) else None
    metadata = settings.saml_provider.metadata
    adopted = {key for key, role in world.roles.items() if role.adopt}
    aws: AwsState = {}
    for account_id in accounts:
        roles: list[RoleRecord] = [
            RoleRecord(
                name=settings.aws.access_role,
                trust_policy=_trust_account(MANAGEMENT_ACCOUNT),
                managed_policies=("arn:aws:iam::aws:policy/AdministratorAccess",),
                description="Created by AWS Organizations",
            )
        ]
        providers: list[ProviderRecord] = []
        mine = [key for key in world.roles if key[0] == account_id and key not in adopted]
        if account_id in converged or account_id == old:
            # Without a metadata file the document comes from the Okta app, whose URL
            # changes per run: seed the old one so the plan fetches and fixes it.
            current = metadata if (metadata and account_id != old) else old_metadata()
            providers.append(
                ProviderRecord(name=settings.saml_provider.name, metadata=current, tags=tag)
            )
            roles.extend(_role_record(world, key, tag=tag) for key in mine)
        if account_id == old and mine:
            first = roles[1]
            drifted = 3600 if first.max_session_duration != 3600 else 7200
            roles[1] = dataclasses.replace(first, max_session_duration=drifted)
        if converged and account_id == converged[0]:
            roles.append(
                RoleRecord(
                    name=LEGACY_ROLE,
                    trust_policy=json.loads(
                        saml_trust_policy(
                            account_id=account_id, provider_name=settings.saml_provider.name
                        )
                    ),
                    managed_policies=("arn:aws:iam::aws:policy/PowerUserAccess",),
                    description="Deploy role from the first rollout",
                    tags=tag,
                )
            )
        for key in sorted(k for k in adopted if k[0] == account_id):
            desired = world.roles[key]
            roles.append(
                RoleRecord(
                    name=desired.name,
                    trust_policy=_trust_account(account_id),
                    managed_policies=tuple(
                        sorted({*desired.managed_policies, HAND_MADE_EXTRA_POLICY})
                    ),
                    description="Made by hand before okta-aws",
                )
            )
        aws[account_id] = AccountRecord(
            account_id=account_id, saml_providers=tuple(providers), roles=tuple(roles)
        )
    return aws


def _trust_account(account_id: str) -> dict[str, object]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


# --- Okta ------------------------------------------------------------------------------------


def build_okta(
    *,
    state: DesiredState,
    world: World,
    meta: SandboxMeta,
    entries: tuple[DirEntry, ...],
    converged: set[str],
) -> OktaState:
    settings = state.settings
    okta = OktaState(seed=OKTA_SEED)
    app = add_aws_app(okta, label=meta.okta_app_label)
    domain = _domain(meta.base_dn) if meta.base_dn else "example.test"
    assigned = {a.group_name for a in world.app_assignments.values()}
    to_assign: list[str] = []
    if meta.flavor is DirectoryKind.OKTA:
        to_assign = _seed_okta_groups(
            state=state, world=world, okta=okta, domain=domain, converged=converged
        )
    else:
        source = add_directory_app(okta, name=meta.okta_directory_app, label=domain)
        mock = MockDirectory(flavor=meta.flavor, base_dn=meta.base_dn)
        mock.load(entries)
        records = canonical_records(
            records_from_ldap3(mock.connection(), base_dns=meta.imported_ous), flavor=meta.flavor
        )
        import_directory(
            okta,
            source_app_id=source.id,
            imported_ou_dns=meta.imported_ous,
            groups=records.groups,
            users=records.users,
        )
        layout = plan_directory(state=state, world=world, converged=converged)
        to_assign = [layout.stale_group] if layout.stale_group else []
    sources = set(
        normalize_app_filter(settings.okta.app_filter or settings.directory.kind.okta_source).split(
            ","
        )
    )
    rogue_user = okta.add_user(
        login=ROGUE_USER, email=f"{ROGUE_USER}@{domain}", first_name="Mallory", last_name="Example"
    )
    role_groups = [g for g in world.directory_groups.values() if g.role is GroupRole.ROLE]
    if "okta" not in sources and role_groups:
        admin = next((g for g in role_groups if g.role_name == "Admin"), role_groups[0])
        rogue = okta.add_group(name=admin.name, description="Made by hand in Okta")
        okta.add_member(group_id=rogue.id, user_id=rogue_user.id)
    pilot = okta.add_group(name=PILOT_GROUP, description="Console pilot, assigned by hand")
    okta.add_member(group_id=pilot.id, user_id=rogue_user.id)
    okta.assign_group(app_id=app.id, group_id=pilot.id, priority=None)
    for name in to_assign:
        if name not in assigned:
            continue
        group = next(
            (
                g
                for g in okta.groups.values()
                if g.name == name and g.type is not GroupType.BUILT_IN
            ),
            None,
        )
        if group is not None:
            okta.assign_group(app_id=app.id, group_id=group.id, priority=None)
    return okta


def _seed_okta_groups(
    *, state: DesiredState, world: World, okta: OktaState, domain: str, converged: set[str]
) -> list[str]:
    """kind okta: people and groups live in Okta itself (logins as the desired state has them)."""
    logins = [m for g in state.management_groups for m in (g.members or ())]
    ids: dict[str, str] = {}
    for login in [*logins, *EXTRA_USERS]:
        if login.lower() not in ids:
            user = okta.add_user(
                login=login,
                email=f"{login}@{domain}",
                first_name=login.capitalize(),
                last_name="Example",
            )
            ids[login.lower()] = user.id
    # Groups whose members are left to their owners are theirs in Okta: they exist, with
    # people in them (the first like the directory's, the others like a department's).
    owned = [g for g in state.management_groups if g.members is None]
    for index, owner_managed in enumerate(owned):
        made = okta.add_group(name=owner_managed.name, description=owner_managed.description)
        for login in ("yvonne", "zoe") if index == 0 else ("walter", "wendy"):
            okta.add_member(group_id=made.id, user_id=ids[login])
    stale = next((g for g in state.management_groups if g.members), None)
    if stale is None:
        return []
    group = okta.add_group(name=stale.name, description=stale.description)
    for login in (*stale.members[:-1], STALE_MEMBER):  # type: ignore[index]
        okta.add_member(group_id=group.id, user_id=ids[login.lower()])
    for okta_group in world.okta_groups.values():
        members = okta_group.members or frozenset()
        if okta_group.name == stale.name or not (
            members & {m.lower() for m in stale.members or ()}
        ):
            continue
        if not any(okta_group.name.endswith(f"#{account}") for account in converged):
            continue
        made = okta.add_group(name=okta_group.name, description=okta_group.description)
        for login in sorted(members & set(ids)):
            okta.add_member(group_id=made.id, user_id=ids[login])
    return [stale.name]


# --- all together ----------------------------------------------------------------------------


def build_brownfield(*, state: DesiredState, mode: DirectoryMode) -> Brownfield:
    """The brownfield world for `state` (see the module docstring for the recipe)."""
    settings = state.settings
    world = compile_world(state=state)
    kind = settings.directory.kind
    has_directory = kind is not DirectoryKind.OKTA
    accounts = [a.id for a in state.accounts]
    converged = set(accounts[: max(1, len(accounts) // 3)] if accounts else [])
    base_dn = base_dn_of(settings.directory.role_groups_ou) if has_directory else ""
    meta = SandboxMeta(
        directory_mode=mode,
        flavor=kind,
        base_dn=base_dn,
        users_base=settings.directory.users_base,
        imported_ous=imported_ous(state=state, world=world) if has_directory else (),
        access_role=settings.aws.access_role,
        managed_tag=settings.aws.managed_tag,
        okta_app_label=settings.okta.app_label or "Amazon Web Services",
        okta_directory_app=kind.okta_source if has_directory else "",
        created_from=state.digest,
    )
    entries: tuple[DirEntry, ...] = ()
    if has_directory:
        entries = build_directory(
            state=state, world=world, flavor=kind, base_dn=base_dn, converged=converged
        )
    okta = build_okta(state=state, world=world, meta=meta, entries=entries, converged=converged)
    return Brownfield(
        meta=meta, aws=build_aws(state=state, world=world), entries=entries, okta=okta
    )


__all__ = [
    "EXTRA_USERS",
    "STALE_MEMBER",
    "Brownfield",
    "base_dn_of",
    "build_brownfield",
    "old_metadata",
]
