"""Is the live world exactly the desired one — nothing lost, nothing duplicated?

An empty re-plan says the engine sees no difference; this says it without the engine:
the independent observer (`observer.py`: the YAML read here, every system read through
its own API) compares every attribute, and on top of it what the brownfield sandbox
must still hold: the hand-made items the engine never owns (the legacy role that only
`--prune` may delete, the pilot assignment) and each imported Okta group exactly once.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from engine.sandbox.brownfield import LEGACY_ROLE, PILOT_GROUP
from tests.e2e.live_systems import Live
from tests.e2e.observer import Leftovers, assert_converged


def first_account(desired_dir: Path) -> str:
    """The id of the first account the YAML lists (the brownfield seeds it specially)."""
    for path in sorted(desired_dir.rglob("*.yaml")):
        accounts = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("accounts")
        if accounts:
            return str(accounts[0]["id"])
    raise AssertionError(f"no accounts in {desired_dir}")


def assert_exactly_desired(desired_dir: Path, live: Live, *, prune: bool = False) -> None:
    legacy = (first_account(desired_dir), LEGACY_ROLE)
    assert_converged(
        desired_dir=desired_dir,
        env=live.env,
        prune=prune,
        leftovers=Leftovers(roles=frozenset([legacy]), assignments=frozenset([PILOT_GROUP])),
    )
    # What the engine must leave alone is still there (only --prune deletes the role).
    roles = live.role_names(legacy[0])
    assert (LEGACY_ROLE in roles) is not prune, roles
    assert PILOT_GROUP in live.assigned_group_names()
    # Okta's import made each directory group once.
    imported = Counter(
        g["profile"]["name"] for g in live.okta_all("/api/v1/groups") if g["type"] == "APP_GROUP"
    )
    assert imported and max(imported.values()) == 1, imported
