"""The reference org in a real OpenLDAP slapd, and the fewest requests a read needs.

Seeding writes the directory exactly as the provider's apply leaves it (`groupOfNames`
with the provider's placeholder member, `cn`, `description`, user and nested group
DNs as members), pipelined through `engine.sandbox.directory_seed.add_entries` as the
administrator, so the read measured is the only thing the engine's counter sees. A
converged re-plan proves the seed matches: the plan must be empty.

`minimum_requests` is the yardstick of docs/architecture.md §Performance targets: one
bind, the paged searches of the two managed OUs and the lookups of the listed users — at
the largest page AD and slapd hand out (1,000; AD's MaxPageSize), whatever the provider
is configured with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.model import GroupRole, World
from engine.providers.directory_flavor import PLACEHOLDER_MEMBER
from engine.sandbox.directory_seed import Entry, add_entries, add_ous
from engine.sandbox.directory_servers import DirectoryServer
from tests.bench.orgs import Layout, pages

SERVER_MAX_PAGE = 1000


def user_dn(login: str, layout: Layout) -> str:
    return f"uid={login},{layout.users_base}"


def logins_of(world: World) -> list[str]:
    return sorted({u for g in world.directory_groups.values() for u in g.member_users or ()})


def seed_directory(server: DirectoryServer, *, desired: World, layout: Layout) -> dict[str, int]:
    """Users, management groups, then role groups (members exist before groups name
    them); returns how many of each were added."""
    add_ous(server, dns=layout.ous)
    logins = logins_of(desired)
    add_entries(
        server,
        entries=[
            (user_dn(login, layout), "inetOrgPerson", {"uid": login, "cn": login, "sn": login})
            for login in logins
        ],
    )
    groups = desired.directory_groups
    entries: list[Entry] = []
    for group in sorted(groups.values(), key=lambda g: g.role is GroupRole.ROLE):
        members = [
            PLACEHOLDER_MEMBER,
            *(user_dn(u, layout) for u in sorted(group.member_users or ())),
            *(groups[k].dn for k in sorted(group.member_groups)),
        ]
        attributes: dict[str, Any] = {"cn": group.name, "member": members}
        if group.description:
            attributes["description"] = group.description
        entries.append((group.dn, "groupOfNames", attributes))
    add_entries(server, entries=entries)
    roles = sum(1 for g in groups.values() if g.role is GroupRole.ROLE)
    return {"users": len(logins), "role_groups": roles, "management_groups": len(groups) - roles}


def minimum_requests(counts: Mapping[str, int]) -> dict[str, int]:
    """The fewest requests any client needs to read the managed OUs and the users."""
    return {
        "bind": 1,
        "search groups": pages(counts["role_groups"], SERVER_MAX_PAGE)
        + pages(counts["management_groups"], SERVER_MAX_PAGE),
        "search users": pages(counts["users"], SERVER_MAX_PAGE),
    }
