"""The reference org inside the Okta emulator, and the fewest pages a read of it needs.

Seeding goes straight into `OktaState` rather than through the emulated directory
import: the import looks users up by login one at a time (fine for tests, quadratic at
20,000 users), and what is measured is the provider's read, not the seeding. The state
written is exactly what Okta holds after an AD/LDAP agent imported the converged
directory: every role and management group an APP_GROUP of the directory's source app
with its DN, members flattened through nesting, users with the UPN-style login Okta
gives imported users, the AWS app configured as desired and assigned to the
management groups that have grants.

`minimum_pages` is the yardstick of docs/architecture.md §Performance targets ("API
calls ≤ 1.1 × the minimum number of pages the data needs"): what any client must fetch
to see the same groups and members at Okta's page sizes, independent of how the engine
batches its searches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engine.model import GroupRole, World
from engine.providers.okta_read import MEMBER_PAGE_SIZE, PAGE_SIZE, syntax_literal_prefix
from engine.sandbox.okta_emulator import (
    GroupType,
    OktaState,
    User,
    add_aws_app,
    add_directory_app,
)
from engine.sandbox.okta_emulator.state import IdPrefix, okta_timestamp
from tests.bench.orgs import APP_LABEL, pages

USER_DOMAIN = "example.test"


@dataclass(frozen=True)
class SeededOkta:
    """What was put into the org, counted the way `minimum_pages` needs it."""

    app_id: str
    role_groups: int  # groups the group filter maps (their names share its prefix)
    named_groups: int  # management groups, found by name
    assignments: int
    member_counts: Mapping[str, int]  # group name → members, for groups access reads


def _flattened(world: World) -> dict[str, frozenset[str]]:
    """Each directory group's users, through nesting (what the agent imports)."""
    groups = world.directory_groups
    result: dict[str, frozenset[str]] = {}
    for key, group in groups.items():
        users = set(group.member_users or ())
        for child in group.member_groups:
            nested = groups.get(child)
            if nested is not None:
                users |= nested.member_users or set()
        result[key] = frozenset(users)
    return result


def seed_okta(state: OktaState, *, desired: World) -> SeededOkta:
    """Fill an empty emulator org with `desired` as applied and imported."""
    kind = desired.directory_kind
    assert kind is not None and desired.okta_app is not None
    source = kind.okta_source
    now = okta_timestamp()
    with state.lock:
        directory_app = add_directory_app(state, name=source, label=f"{source} (bench)")
        aws = add_aws_app(state, label=APP_LABEL)
        body = dict(aws.body)
        settings = dict(body["settings"])
        settings["app"] = {**settings["app"], **desired.okta_app.settings.to_okta()}
        body["settings"] = settings
        state.replace_app(app_id=aws.id, label=aws.label, body=body)

        logins = sorted(
            {u for g in desired.directory_groups.values() for u in g.member_users or ()}
        )
        user_ids: dict[str, str] = {}
        for name in logins:
            user = User(
                id=state.new_id(IdPrefix.USER),
                status="ACTIVE",
                created=now,
                last_updated=now,
                profile={
                    "firstName": name,
                    "lastName": "Bench",
                    "mobilePhone": None,
                    "secondEmail": None,
                    "login": f"{name}@{USER_DOMAIN}",
                    "email": f"{name}@{USER_DOMAIN}",
                },
            )
            state.users[user.id] = user
            user_ids[name] = user.id
        state.members[state.everyone().id] = set(user_ids.values())

        flattened = _flattened(desired)
        group_ids: dict[str, str] = {}
        for key, group in sorted(desired.directory_groups.items()):
            created = state.add_group(
                name=group.name,
                description=group.description,
                group_type=GroupType.APP_GROUP,
                source_app_id=directory_app.id,
                extra_profile={"dn": group.dn},
            )
            state.members[created.id] = {user_ids[u] for u in flattened[key]}
            group_ids[group.name.lower()] = created.id
        for assignment in desired.app_assignments.values():
            state.assign_group(
                app_id=aws.id, group_id=group_ids[assignment.group_name.lower()], priority=None
            )
    role_names = [g.name for g in desired.directory_groups.values() if g.role is GroupRole.ROLE]
    assigned = {a.group_name.lower() for a in desired.app_assignments.values()}
    return SeededOkta(
        app_id=aws.id,
        role_groups=len(role_names),
        named_groups=len(desired.directory_groups) - len(role_names),
        assignments=len(desired.app_assignments),
        # Access needs the members of role groups and of groups assigned to the app.
        member_counts={
            g.name: len(flattened[k])
            for k, g in desired.directory_groups.items()
            if g.role is GroupRole.ROLE or g.name.lower() in assigned
        },
    )


def minimum_pages(seeded: SeededOkta, *, role_group_name: str) -> dict[str, int]:
    """The fewest requests any client needs to read what access depends on, by part.

    One app lookup; the app's assignments; the groups the filter maps, found by their
    name prefix; the management groups by name (if one search could name them all);
    every member page of the role and assigned groups. (Resolving the source app's name
    is left out: the engine's extra call for it counts against its ratio.)
    """
    assert syntax_literal_prefix(role_group_name), "the role-group syntax starts with a literal"
    return {
        "app": 1,
        "assignments": pages(seeded.assignments, PAGE_SIZE),
        "role group search": pages(seeded.role_groups, PAGE_SIZE),
        "groups by name": pages(seeded.named_groups, PAGE_SIZE),
        "members": sum(pages(n, MEMBER_PAGE_SIZE) for n in seeded.member_counts.values()),
    }


def engine_parts(by_route: Mapping[str, int]) -> dict[str, int]:
    """The provider's calls (operation → count) grouped like `minimum_pages`."""
    parts: dict[str, int] = {}
    for operation, count in by_route.items():
        if "/users" in operation:
            part = "members"
        elif "/apps/{appId}/groups" in operation:
            part = "assignments"
        elif "/groups" in operation:
            part = "group searches"
        elif "/apps" in operation:
            part = "apps (lookup + source names)"
        else:
            part = operation
        parts[part] = parts.get(part, 0) + count
    return parts
