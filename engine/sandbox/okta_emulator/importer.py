"""What Okta's AD/LDAP agent does on each scheduled import, run on demand.

Okta does not nest groups: the agent imports the groups of the selected OUs as
`APP_GROUP`s whose source is the directory's app instance, and flattens nesting, so a
user in a group nested in a role group becomes a direct member of the role group. The
import only happens when triggered, so tests can show the lag between a directory write
and Okta seeing it. Input records are plain, emulator-local types; `ldap_records` reads
them from a directory.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine.dn import InvalidDnError, dn_is_under
from engine.dn import normalize_dn as dn_key
from engine.sandbox.okta_emulator.catalog import ACTIVE_DIRECTORY_APP_NAME
from engine.sandbox.okta_emulator.state import App, Group, GroupType, OktaState


@dataclass(frozen=True)
class DirectoryUserRecord:
    dn: str
    login: str
    email: str
    first_name: str
    last_name: str


@dataclass(frozen=True)
class DirectoryGroupRecord:
    dn: str
    name: str
    description: str | None
    # Direct members, users or groups, as DNs (nesting is resolved by the import).
    member_dns: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportResult:
    created_groups: tuple[str, ...]
    updated_groups: tuple[str, ...]
    removed_groups: tuple[str, ...]
    created_users: tuple[str, ...]
    membership_changes: int


def normalize_dn(dn: str) -> str:
    """The DN as a key: any spelling of one DN (case, spacing, escapes) gives one key,
    as the directory itself compares them. A DN that does not parse is kept as written,
    lower-cased: Okta's agent skips nothing for being oddly spelled."""
    try:
        return dn_key(dn)
    except InvalidDnError:
        return dn.strip().casefold()


def _under(key: str, ou_keys: Sequence[str]) -> bool:
    try:
        return any(dn_is_under(key, base=ou) for ou in ou_keys)
    except InvalidDnError:
        return False


def flatten_members(
    *, group_dn: str, groups: dict[str, DirectoryGroupRecord], user_keys: set[str]
) -> set[str]:
    """Normalized DNs of every user reachable through nesting; cycles are harmless."""
    found: set[str] = set()
    seen: set[str] = set()
    stack = [normalize_dn(group_dn)]
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        record = groups.get(key)
        if record is None:
            continue
        for member in record.member_dns:
            member_key = normalize_dn(member)
            if member_key in groups:
                stack.append(member_key)
            elif member_key in user_keys:
                found.add(member_key)
    return found


def _domain_of(dn: str) -> str:
    labels = [p.split("=", 1)[1] for p in dn.split(",") if p.strip().lower().startswith("dc=")]
    return labels[0].upper() if labels else "DIRECTORY"


def _app_group_profile(record: DirectoryGroupRecord, *, ad: bool) -> dict[str, object]:
    external_id = base64.b64encode(
        hashlib.sha256(normalize_dn(record.dn).encode()).digest()[:16]
    ).decode()
    if not ad:
        return {
            "name": record.name,
            "description": record.description,
            "dn": record.dn,
            "externalId": external_id,
        }
    # Shape of Okta's AD-imported groups (spec example `list-groups-examples`).
    return {
        "name": record.name,
        "description": record.description,
        "groupType": "Security",
        "samAccountName": record.name,
        "groupScope": "Global",
        "dn": record.dn,
        "windowsDomainQualifiedName": f"{_domain_of(record.dn)}\\{record.name}",
        "externalId": external_id,
    }


def import_directory(
    state: OktaState,
    *,
    source_app_id: str,
    imported_ou_dns: Sequence[str],
    groups: Iterable[DirectoryGroupRecord],
    users: Iterable[DirectoryUserRecord],
) -> ImportResult:
    """Sync the APP_GROUPs of one directory app instance with the directory's groups.

    Groups under `imported_ou_dns` become APP_GROUPs (matched to existing ones by DN);
    APP_GROUPs of this source no longer in scope are removed; members are flattened;
    users are matched by login and created when missing.
    """
    group_records = {normalize_dn(g.dn): g for g in groups}
    user_records = {normalize_dn(u.dn): u for u in users}
    ou_keys = [normalize_dn(ou) for ou in imported_ou_dns]
    created_groups: list[str] = []
    updated_groups: list[str] = []
    removed_groups: list[str] = []
    created_users: list[str] = []
    changes = 0
    with state.lock:
        source: App = state.get_app(source_app_id)
        is_ad = source.name == ACTIVE_DIRECTORY_APP_NAME
        object_class = ("okta:windows_security_principal",) if is_ad else ("okta:user_group",)
        existing = {
            normalize_dn(str(g.profile.get("dn", ""))): g
            for g in state.groups.values()
            if g.type is GroupType.APP_GROUP and g.source_app_id == source_app_id
        }
        in_scope = {key: rec for key, rec in group_records.items() if _under(key, ou_keys)}
        for key, group in existing.items():
            if key not in in_scope:
                state.delete_group(group.id)
                removed_groups.append(group.name)
        user_ids: dict[str, str] = {}
        for key, record in sorted(in_scope.items()):
            profile = _app_group_profile(record, ad=is_ad)
            current: Group | None = existing.get(key)
            if current is None:
                current = state.add_group(
                    name=record.name,
                    description=record.description,
                    group_type=GroupType.APP_GROUP,
                    source_app_id=source_app_id,
                    extra_profile={
                        k: v for k, v in profile.items() if k not in ("name", "description")
                    },
                    object_class=object_class,
                )
                created_groups.append(record.name)
            elif dict(current.profile) != profile:
                current = state.put_group(dataclasses.replace(current, profile=profile))
                updated_groups.append(record.name)
            wanted: set[str] = set()
            member_keys = flatten_members(
                group_dn=record.dn, groups=group_records, user_keys=set(user_records)
            )
            for member_key in sorted(member_keys):
                if member_key not in user_ids:
                    user_ids[member_key] = _ensure_user(
                        state, user_records[member_key], created_users
                    )
                wanted.add(user_ids[member_key])
            if state.members[current.id] != wanted:
                changes += len(state.members[current.id] ^ wanted)
                state.set_members(group_id=current.id, user_ids=wanted)
    return ImportResult(
        created_groups=tuple(created_groups),
        updated_groups=tuple(updated_groups),
        removed_groups=tuple(removed_groups),
        created_users=tuple(created_users),
        membership_changes=changes,
    )


def _ensure_user(state: OktaState, record: DirectoryUserRecord, created: list[str]) -> str:
    user = state.find_user(record.login)
    if user is None:
        user = state.add_user(
            login=record.login,
            email=record.email,
            first_name=record.first_name,
            last_name=record.last_name,
        )
        created.append(record.login)
    return user.id
