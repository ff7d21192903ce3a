"""Reading Okta through the real okta SDK against the emulator: what is read, in how many
calls, and how failures are reported (never as a partial read, never as AttributeError)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from engine.compile import compile_world
from engine.model import AppAssignment, OktaGroupType, System, World
from engine.plan import Action, Change, FindingKind, ResourceKind
from engine.providers.live import Providers, merge_worlds, read_live
from engine.providers.okta import OktaConnectionError, OktaProvider, ReadScope
from engine.sandbox.okta_emulator import OktaEmulator, catalog
from engine.spec import AccountSpec, DesiredState, GrantSpec, ManagementGroupSpec
from tests.providers.okta_fixtures import (
    OKTA_ONLY,
    TOKEN,
    converge,
    desired,
    emulator_for_test,
    import_directory,
    plain_http_allowed,
    plan,
    provider_for,
    read,
    state_of,
)
from tests.unit.worlds import PROD, role_group_name, small_state

APP_GROUPS = "/api/v1/apps/{appId}/groups"


def test_reads_app_settings_groups_members_and_assignments(
    emulator: OktaEmulator, provider: OktaProvider
) -> None:
    world = desired(state_of())
    app = emulator.aws_app()
    import_directory(emulator, world)
    converge(provider, world)
    result = read(provider, world)
    assert result.app is not None and world.okta_app is not None
    assert result.app.id == app.id
    assert result.app.settings == world.okta_app.settings
    assert {a.key for a in result.assignments} == set(world.app_assignments)
    groups = {g.key: g for g in result.groups}
    devops = groups[("active_directory", "devops")]
    assert devops.type is OktaGroupType.APP_GROUP
    assert devops.dn == "cn=devops,ou=aws management groups,dc=example,dc=test"
    assert devops.members == frozenset({"alice", "bob"})
    admin = groups[("active_directory", role_group_name(PROD, "Admin").lower())]
    assert admin.members == frozenset({"alice", "bob"})  # flattened by the import
    assert admin.id is not None and admin.source_id == emulator.directory_app().id
    world_read = result.to_world()
    assert world_read.systems == {System.OKTA}
    assert world_read.okta_app == result.app


def test_250_assignments_are_read_across_pages(emulator: OktaEmulator) -> None:
    app = emulator.aws_app()
    for index in range(250):
        group = emulator.state.add_group(name=f"hand-made {index:03}", description=None)
        emulator.state.assign_group(app_id=app.id, group_id=group.id, priority=None)
    # 252 calls of the groups family: past half of its 500 a minute, the default pacing
    # would wait a minute for the window (tests/providers/test_okta_pacing.py covers
    # that); this test is about pages, so it may use the whole budget.
    with provider_for(emulator, rate_limit_share=1.0) as provider:
        result = read(provider, desired(state_of()))
    assert len(result.assignments) == 250
    assert {a.group_name for a in result.assignments} == {f"hand-made {i:03}" for i in range(250)}
    pages = math.ceil(250 / 200)
    assert emulator.request_counts()[("GET", APP_GROUPS)] == pages
    assert provider.calls.total(operation=f"GET {APP_GROUPS}") == pages


def _org(extra_groups: int, extra_accounts: int) -> tuple[int, int, DesiredState]:
    """small_state plus accounts (Admin, ReadOnly) and management groups granted
    ReadOnly everywhere; returns (assigned groups, role groups, desired state)."""
    base = small_state()
    accounts = base.accounts + tuple(
        AccountSpec(id=f"3{i:011}", alias=f"acct{i}", roles=("Admin", "ReadOnly"))
        for i in range(extra_accounts)
    )
    groups = base.management_groups + tuple(
        ManagementGroupSpec(
            name=f"Team {i}",
            grants=(GrantSpec(role="ReadOnly", account="*"),),
            members=("dave",),
        )
        for i in range(extra_groups)
    )
    state = dataclasses.replace(base, accounts=accounts, management_groups=groups)
    return len(groups), 5 + 2 * extra_accounts, state


@pytest.mark.parametrize(
    ("extra_groups", "extra_accounts", "hand_assigned"),
    [(0, 0, 0), (7, 3, 0), (20, 10, 2)],
)
def test_read_makes_the_minimum_calls(
    emulator: OktaEmulator, extra_groups: int, extra_accounts: int, hand_assigned: int
) -> None:
    """N assigned management groups, M role groups, H groups assigned by hand: one app
    lookup, ⌈N+H / 200⌉ assignment pages, one search page (the names fit one URL, the
    results one page), one `id eq` search when H > 0, one source-app listing, and one
    member listing per assigned or role group. No per-group lookups."""
    assigned, role_groups, state = _org(extra_groups, extra_accounts)
    world = desired(state)
    app = emulator.aws_app()
    import_directory(emulator, world)
    for index in range(hand_assigned):
        group = emulator.state.add_group(name=f"by hand {index}", description=None)
        emulator.state.assign_group(app_id=app.id, group_id=group.id, priority=None)
    with provider_for(emulator) as setup:
        converge(setup, world)
    emulator.reset_faults()  # clears the request counts
    with provider_for(emulator) as cold:  # no cached source apps
        result = read(cold, world)
    expected = (
        1
        + math.ceil((assigned + hand_assigned) / 200)
        + 1
        + (1 if hand_assigned else 0)
        + 1
        + assigned
        + role_groups
        + hand_assigned
    )
    assert len(result.assignments) == assigned + hand_assigned
    assert emulator.total_requests() == expected
    assert result.call_count == expected
    assert cold.calls.writes() == 0


def test_rogue_look_alike_is_read_and_reported(
    emulator: OktaEmulator, provider: OktaProvider
) -> None:
    world = desired(state_of())
    emulator.aws_app()
    import_directory(emulator, world)
    rogue = role_group_name(PROD, "Admin")  # same name, but an OKTA_GROUP
    emulator.state.add_group(name=rogue, description="made by hand")
    converge(provider, world)
    result = read(provider, world)
    found = {g.key: g for g in result.groups}[("okta", rogue.lower())]
    assert found.type is OktaGroupType.OKTA_GROUP
    assert found.members is None  # grants nothing today: its members are not read
    planned = plan(provider, world)
    rogues = [f for f in planned.findings if f.kind is FindingKind.ROGUE_GROUP]
    assert [f.subject for f in rogues] == [f"okta group {rogue} (source okta)"]
    assert planned.empty  # never touched


def test_missing_app_is_a_finding_that_says_how_to_create_it(provider: OktaProvider) -> None:
    world = desired(state_of())
    result = read(provider, world)
    assert result.app is None
    assert not result.assignments
    assert result.findings() == ()  # a complete read: the diff reports the missing app
    (finding,) = plan(provider, world).findings
    assert finding.kind is FindingKind.READ_ERROR and finding.blocking
    assert "Browse App Catalog" in finding.message and "create_app" in finding.message
    created = plan(provider, world, dataclasses.replace(OKTA_ONLY, create_app=True))
    assert [f for f in created.findings if f.kind is FindingKind.READ_ERROR] == []


def test_app_by_id_and_idp_metadata(emulator: OktaEmulator, provider: OktaProvider) -> None:
    app = emulator.aws_app()
    result = provider.read(scope=ReadScope(app_id=app.id))
    assert result.app is not None and result.app.label == app.label
    metadata = provider.idp_metadata()
    assert metadata.startswith("<?xml") and "EntityDescriptor" in metadata
    assert emulator.request_counts()[("GET", "/api/v1/apps/{appId}/sso/saml/metadata")] == 1


def test_429_storm_during_read_is_retried_to_the_same_result(
    emulator: OktaEmulator, provider: OktaProvider
) -> None:
    world = desired(state_of())
    emulator.aws_app()
    import_directory(emulator, world)
    converge(provider, world)
    calm = read(provider, world)
    # Beyond the SDK's own retry (max_retries=1): our backoff takes over.
    emulator.inject_429(count=3, path_prefix="/api/v1/groups", reset_in=0)
    stormy = read(provider, world)
    assert (stormy.app, set(stormy.groups), set(stormy.assignments)) == (
        calm.app,
        set(calm.groups),
        set(calm.assignments),
    )
    assert stormy.retry_count == 3


def test_endless_429_is_a_read_error_naming_the_call(emulator: OktaEmulator) -> None:
    emulator.aws_app()
    emulator.inject_429(count=None, path_prefix="/api/v1/apps", reset_in=0)
    with provider_for(emulator, max_retries=0, backoff_attempts=1) as okta:
        result = okta.read(scope=ReadScope.for_world(desired(state_of())))
    (error,) = result.errors
    assert "GET /api/v1/apps failed with HTTP 429 (E0000047" in error
    assert result.to_world().systems == frozenset()  # nothing may be planned from it


@pytest.mark.parametrize("status", [500, 502])
def test_server_error_on_a_later_page_fails_the_whole_read(
    emulator: OktaEmulator, provider: OktaProvider, status: int
) -> None:
    app = emulator.aws_app()
    for index in range(250):
        group = emulator.state.add_group(name=f"hand-made {index:03}", description=None)
        emulator.state.assign_group(app_id=app.id, group_id=group.id, priority=None)
    emulator.inject_5xx(
        status=status, count=1, every=2, path_prefix=f"/api/v1/apps/{app.id}/groups"
    )
    result = provider.read(scope=ReadScope.for_world(desired(state_of())))
    assert result.assignments == () and result.groups == ()
    (error,) = result.errors
    assert f"GET {APP_GROUPS} failed with HTTP {status} (E0000009" in error
    (finding,) = result.findings()
    assert finding.kind is FindingKind.READ_ERROR and error in finding.message


def test_refused_connection_is_a_clear_error_not_attribute_error() -> None:
    with emulator_for_test() as stopped:
        url = stopped.url
    with plain_http_allowed(), OktaProvider(org_url=url, token=TOKEN, env={}) as okta:
        result = okta.read(scope=ReadScope(app_label="Amazon Web Services"))
        with pytest.raises(OktaConnectionError, match="cannot reach Okta") as raised:
            okta.idp_metadata(app_id="0oa00000000000000000")
        assert not isinstance(raised.value.__cause__, AttributeError)
        assignment = AppAssignment("active_directory", "DevOps")
        change = Change(
            kind=ResourceKind.APP_ASSIGNMENT,
            action=Action.CREATE,
            key=assignment.key,
            after=assignment,
        )
        with pytest.raises(OktaConnectionError, match="cannot reach Okta"):
            okta.execute(change)
    (error,) = result.errors
    assert f"cannot reach Okta at {url}" in error
    assert "AttributeError" not in error and TOKEN not in error


def test_read_merges_into_a_world_of_other_systems(
    emulator: OktaEmulator, provider: OktaProvider
) -> None:
    world = desired(state_of())
    emulator.aws_app()
    import_directory(emulator, world)
    result = read(provider, world)
    other = World.build(accounts=["111111111111"], systems=(System.AWS, System.DIRECTORY))
    merged = merge_worlds([other, result.to_world()])
    assert merged.systems == {System.AWS, System.DIRECTORY, System.OKTA}
    assert merged.accounts == {"111111111111"}
    assert merged.okta_app == result.app
    assert set(merged.okta_groups.values()) == set(result.groups)
    failed = dataclasses.replace(result, errors=("boom",))
    assert merge_worlds([other, failed.to_world()]).systems == {System.AWS, System.DIRECTORY}


def test_without_a_metadata_file_every_provider_gets_the_apps_idp_metadata(
    emulator: OktaEmulator, provider: OktaProvider
) -> None:
    """`saml_provider.metadata_file` omitted: the live read fetches the AWS app's IdP
    metadata (with its signing key id, as Okta's spec requires) and the desired world's
    SAML provider in every account carries exactly that document."""
    base = state_of()
    state = dataclasses.replace(
        base,
        settings=dataclasses.replace(
            base.settings,
            saml_provider=dataclasses.replace(base.settings.saml_provider, metadata=None),
        ),
    )
    app = emulator.aws_app()
    providers = Providers(calls=provider.calls, okta=provider)
    live = read_live(state=state, desired=compile_world(state=state), providers=providers)
    expected = catalog.saml_metadata(app=app, base_url=emulator.url)
    assert live.metadata == expected
    world = compile_world(state=state, metadata=live.metadata)
    assert world.saml_providers and {p.metadata for p in world.saml_providers.values()} == {
        expected
    }
