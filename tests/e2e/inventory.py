"""Is the live world exactly the desired one — nothing lost, nothing duplicated?

An empty re-plan says the engine sees no difference; this says the same thing without
the engine's read path: every system is listed through its own API (boto3, ldap3,
Okta's REST API) and compared, as lists (so a duplicate shows), with the compiled
desired world plus the brownfield's items the engine must leave alone.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from engine.compile import compile_world
from engine.load import load
from engine.model import GroupRole
from engine.sandbox.brownfield import LEGACY_ROLE, PILOT_GROUP
from tests.e2e.live_systems import Live


def assert_exactly_desired(desired_dir: Path, live: Live) -> None:
    state = load(directory=desired_dir)
    desired = compile_world(state=state)
    settings = state.settings

    # AWS: per account, the desired roles, the access role, and (first account) the
    # brownfield's legacy role that only --prune may delete; one SAML provider.
    for index, account in enumerate(state.accounts):
        wanted = [r.name for (a, _), r in desired.roles.items() if a == account.id]
        wanted.append(settings.aws.access_role)
        if index == 0:
            wanted.append(LEGACY_ROLE)
        assert sorted(live.role_names(account.id)) == sorted(wanted), account.alias
        assert live.saml_provider_names(account.id) == [settings.saml_provider.name]

    # Directory: the managed OUs hold exactly the desired groups, once each.
    groups = desired.directory_groups.values()
    role_groups = sorted(g.name for g in groups if g.role is GroupRole.ROLE)
    managed = sorted(g.name for g in groups if g.role is GroupRole.MANAGEMENT and not g.adopted)
    assert role_groups and managed
    assert sorted(live.group_names(settings.directory.role_groups_ou)) == role_groups
    assert sorted(live.group_names(settings.directory.management_groups_ou)) == managed

    # Okta: each imported group once; the app assigned exactly the desired management
    # groups plus the hand-made pilot assignment the engine never owns.
    imported = Counter(
        g["profile"]["name"] for g in live.okta_all("/api/v1/groups") if g["type"] == "APP_GROUP"
    )
    assert max(imported.values()) == 1, imported
    everything = {g.name for g in groups}
    assert everything <= set(imported), everything - set(imported)
    assigned = live.assigned_group_names()
    wanted_assigned = [a.group_name for a in desired.app_assignments.values()] + [PILOT_GROUP]
    assert sorted(assigned) == sorted(wanted_assigned)
