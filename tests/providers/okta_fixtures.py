"""Shared pieces of the Okta provider tests: the emulator, the provider, worlds, converging.

Every test drives the real okta SDK (through the provider) against the project's Okta
emulator on 127.0.0.1; nothing is mocked. The emulator is cheap to start, so each test
gets a fresh one; the SDK's modules are imported once per process by the first test.
`tests/providers/conftest.py` wraps `emulator_for_test` / `provider_for` in the `emulator` and
`provider` fixtures; a test module that needs other options wraps them itself.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from engine.compile import compile_world
from engine.diff import diff
from engine.dn import build_dn
from engine.model import DirectoryKind, GroupRole, System, World
from engine.plan import Action, Outcome, Plan, PlanOptions, ResourceKind
from engine.providers.okta import OktaProvider, OktaRead, ReadScope
from engine.sandbox.okta_emulator import (
    DirectoryGroupRecord,
    DirectoryUserRecord,
    OktaEmulator,
)
from engine.spec import DesiredState
from tests.unit.worlds import DEPT_OU, MGMT_OU, ROLE_OU, USERS_BASE, small_state

TOKEN = "okta-provider-test-token"
OKTA_ONLY = PlanOptions(systems=frozenset({System.OKTA}), max_deletions=1000)
HTTP_CHECK = "OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"


@contextmanager
def plain_http_allowed() -> Iterator[None]:
    """The SDK refuses http:// org URLs unless this is set (the sandbox sets it too)."""
    old = os.environ.get(HTTP_CHECK)
    os.environ[HTTP_CHECK] = "true"
    try:
        yield
    finally:
        if old is None:
            del os.environ[HTTP_CHECK]
        else:
            os.environ[HTTP_CHECK] = old


@contextmanager
def emulator_for_test(**kwargs: Any) -> Iterator[OktaEmulator]:
    with plain_http_allowed(), OktaEmulator.start(token=TOKEN, seed=11, **kwargs) as emulator:
        yield emulator


def provider_for(emulator: OktaEmulator, **options: Any) -> OktaProvider:
    """A provider on the emulator; retries kept short so 429 tests stay quick."""
    settings: dict[str, Any] = {"max_retries": 1, "backoff_base": 0.05, "env": {}}
    settings.update(options)
    return OktaProvider(org_url=emulator.url, token=TOKEN, **settings)


# --- desired worlds and the directory they need imported ------------------------------------


def desired(state: DesiredState) -> World:
    return compile_world(state=state)


def state_of(kind: DirectoryKind = DirectoryKind.ACTIVE_DIRECTORY, **changes: Any) -> DesiredState:
    """tests.unit.worlds.small_state, optionally with fields of it replaced."""
    return dataclasses.replace(small_state(kind=kind), **changes)


def user_dn(login: str) -> str:
    return build_dn(cn=login, parent=USERS_BASE)


def directory_records(
    world: World, *, only: set[str] | None = None
) -> tuple[list[DirectoryGroupRecord], list[DirectoryUserRecord]]:
    """What Okta's AD agent would import once the directory matches `world`: every
    group (or only the names in `only`), nesting and users as DNs."""
    groups = [g for g in world.directory_groups.values() if only is None or g.name in only]
    logins = sorted({u for g in groups for u in (g.member_users or ())})
    records = [
        DirectoryGroupRecord(
            dn=g.dn,
            name=g.name,
            description=g.description,
            member_dns=(
                *sorted(g.member_groups),
                *(user_dn(u) for u in sorted(g.member_users or ())),
            ),
        )
        for g in groups
    ]
    users = [
        DirectoryUserRecord(
            dn=user_dn(u), login=u, email=f"{u}@example.test", first_name=u, last_name="Test"
        )
        for u in logins
    ]
    return records, users


def import_directory(emulator: OktaEmulator, world: World, *, only: set[str] | None = None) -> None:
    """Run the emulated AD agent's import of `world`'s directory groups."""
    source = emulator.directory_app()
    groups, users = directory_records(world, only=only)
    emulator.import_directory(
        source_app_id=source.id,
        imported_ou_dns=[ROLE_OU, MGMT_OU, DEPT_OU],
        groups=groups,
        users=users,
    )


def management_names(world: World) -> set[str]:
    return {g.name for g in world.directory_groups.values() if g.role is GroupRole.MANAGEMENT}


# --- read, plan, execute ------------------------------------------------------------------


def read(provider: OktaProvider, world: World) -> OktaRead:
    result = provider.read(scope=ReadScope.for_world(world))
    assert result.errors == (), result.errors
    return result


def plan(provider: OktaProvider, world: World, options: PlanOptions = OKTA_ONLY) -> Plan:
    return diff(desired=world, live=read(provider, world).to_world(), options=options)


def execute_plan(provider: OktaProvider, planned: Plan) -> dict[str, Outcome]:
    """Execute every change in order (as apply would, minus threads)."""
    provider.prepare(planned.changes)
    return {change.id: provider.execute(change) for change in planned.changes}


def converge(
    provider: OktaProvider, world: World, *, rounds: int = 3, options: PlanOptions = OKTA_ONLY
) -> list[dict[str, Outcome]]:
    """Plan and execute until the plan is empty; the outcomes of each round."""
    history: list[dict[str, Outcome]] = []
    for _ in range(rounds):
        planned = plan(provider, world, options)
        if planned.empty:
            return history
        history.append(execute_plan(provider, planned))
    raise AssertionError(f"not converged after {rounds} rounds: {history}")


def change_ids(planned: Plan, kind: ResourceKind, action: Action | None = None) -> list[str]:
    return [
        c.id for c in planned.changes if c.kind is kind and (action is None or c.action is action)
    ]
