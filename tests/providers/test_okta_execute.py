"""Executing Okta changes through the real okta SDK against the emulator: every scenario
goes read → diff → execute → re-read until the plan is empty (converged)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from engine.apply import apply_changes
from engine.model import (
    AppAssignment,
    DirectoryKind,
    OktaGroup,
    OktaGroupType,
    System,
    UserMember,
)
from engine.order import stages
from engine.plan import Action, Change, Outcome, ResourceKind
from engine.providers.okta import OktaError, OktaProvider, OktaRefused
from engine.sandbox.okta_emulator import GroupType, OktaEmulator, aws_settings_app
from engine.spec import ManagementGroupSpec
from tests.providers.okta_fixtures import (
    OKTA_ONLY,
    change_ids,
    converge,
    desired,
    execute_plan,
    import_directory,
    plan,
    provider_for,
    read,
    state_of,
)
from tests.unit.worlds import DEV, PROD, role_group_name

OKTA = DirectoryKind.OKTA


def _settings_app(emulator: OktaEmulator) -> dict[str, Any]:
    return dict(emulator.state.apps[emulator.aws_app().id].body["settings"]["app"])


def _members(emulator: OktaEmulator, name: str) -> set[str]:
    (group,) = [g for g in emulator.state.groups.values() if g.name == name]
    return {emulator.state.users[u].login for u in emulator.state.members[group.id]}


def test_settings_drift_is_fixed_and_only_our_fields_are_written(
    emulator: OktaEmulator, provider: OktaProvider
) -> None:
    world = desired(state_of())
    app = emulator.aws_app()
    drifted = {**aws_settings_app(), "identityProviderArn": None, "accessKey": "AKIAHANDMADE"}
    body = dict(app.body)
    body["settings"] = {**body["settings"], "app": drifted}
    emulator.state.replace_app(app_id=app.id, label=app.label, body=body)
    before = emulator.state.apps[app.id].body

    planned = plan(provider, world)
    assert change_ids(planned, ResourceKind.OKTA_APP) == ["okta_app:Amazon Web Services:~"]
    outcomes = execute_plan(provider, planned)
    assert outcomes["okta_app:Amazon Web Services:~"] is Outcome.UPDATED
    assert change_ids(plan(provider, world), ResourceKind.OKTA_APP) == []  # re-read: converged

    after = emulator.state.apps[app.id].body
    assert world.okta_app is not None
    owned = world.okta_app.settings.to_okta()
    assert {k: after["settings"]["app"][k] for k in owned} == owned
    untouched = {k: v for k, v in drifted.items() if k not in owned}
    assert {k: after["settings"]["app"][k] for k in untouched} == untouched  # nulls kept
    assert {k: v for k, v in after.items() if k != "settings"} == {
        k: v for k, v in before.items() if k != "settings"
    }
    # Idempotent: the same change again writes nothing.
    puts = emulator.request_counts()[("PUT", "/api/v1/apps/{appId}")]
    assert provider.execute(planned.changes[0]) is Outcome.UNCHANGED
    assert emulator.request_counts()[("PUT", "/api/v1/apps/{appId}")] == puts


def test_assignments_wait_for_the_import_then_converge(
    emulator: OktaEmulator, provider: OktaProvider
) -> None:
    """A management group not imported yet waits (diff and execute agree), then
    converges once the directory import brings it."""
    world = desired(state_of())
    emulator.aws_app()
    import_directory(emulator, world, only={"DevOps", "Auditors"})  # Finance not yet
    planned = plan(provider, world)
    waiting = [c for c in planned.changes if c.waits_for is not None]
    assert [c.id for c in waiting] == ["app_assignment:active_directory/finance:+"]
    assert waiting[0].waits_for == "directory import"
    outcomes = execute_plan(provider, planned)
    assert outcomes["app_assignment:active_directory/finance:+"] is Outcome.WAITING
    assert outcomes["app_assignment:active_directory/devops:+"] is Outcome.CREATED
    assert [c.id for c in plan(provider, world).changes] == [waiting[0].id]

    import_directory(emulator, world)
    converge(provider, world)
    assigned = emulator.state.assignments[emulator.aws_app().id]
    names = {emulator.state.groups[g].name for g in assigned}
    assert names == {"DevOps", "Auditors", "Finance"}


def test_removed_grants_unassign_and_converge(
    emulator: OktaEmulator, provider: OktaProvider
) -> None:
    world = desired(state_of())
    emulator.aws_app()
    import_directory(emulator, world)
    converge(provider, world)
    base = state_of()
    fewer = dataclasses.replace(
        base,
        management_groups=tuple(
            dataclasses.replace(g, grants=()) if g.name == "Auditors" else g
            for g in base.management_groups
        ),
    )
    smaller = desired(fewer)
    history = converge(provider, smaller)
    assert history[0] == {"app_assignment:active_directory/auditors:-": Outcome.DELETED}
    # Deleting what is already gone succeeds (idempotent): the group exists, its
    # assignment does not, and Okta (the emulator) answers 204 again, so the outcome is
    # DELETED, exactly as the first time; an assignment of a group that does not exist at
    # all is simply not there (UNCHANGED, nothing written).
    again = Change(
        kind=ResourceKind.APP_ASSIGNMENT,
        action=Action.DELETE,
        key=("active_directory", "auditors"),
        before=AppAssignment("active_directory", "Auditors"),
    )
    app_id = emulator.aws_app().id
    assert "Auditors" not in {
        emulator.state.groups[g].name for g in emulator.state.assignments[app_id]
    }
    assert provider.execute(again) is Outcome.DELETED
    ghost = dataclasses.replace(
        again, key=("active_directory", "ghost"), before=AppAssignment("active_directory", "Ghost")
    )
    assert provider.execute(ghost) is Outcome.UNCHANGED
    assert plan(provider, smaller).empty


def test_429_storm_during_apply_converges(emulator: OktaEmulator, provider: OktaProvider) -> None:
    world = desired(state_of())
    emulator.aws_app()
    import_directory(emulator, world)
    emulator.inject_429(count=3, method="PUT", reset_in=0)
    converge(provider, world)
    assert len(emulator.state.assignments[emulator.aws_app().id]) == 3
    assert provider.calls.retries(system="okta") >= 3


def test_kind_okta_groups_and_members_converge(
    emulator: OktaEmulator, provider: OktaProvider
) -> None:
    for login in ("alice", "bob", "carol", "dave"):
        emulator.state.add_user(
            login=login, email=f"{login}@example.test", first_name=login, last_name="T"
        )
    emulator.aws_app()
    world = desired(state_of(OKTA))
    history = converge(provider, world)
    first = history[0]
    created = [i for i, o in first.items() if i.startswith("okta_group:") and o is Outcome.CREATED]
    assert len(created) == 8  # 5 role groups + 3 management groups
    assert _members(emulator, "DevOps") == {"alice", "bob"}
    assert _members(emulator, role_group_name(PROD, "Admin")) == {"alice", "bob"}
    assert _members(emulator, role_group_name(DEV, "ReadOnly")) == {"alice", "bob", "carol"}
    assert all(
        g.type is GroupType.OKTA_GROUP
        for g in emulator.state.groups.values()
        if g.name != "Everyone"
    )

    # bob leaves DevOps, dave joins: Okta can't nest, so role groups follow.
    base = state_of(OKTA)
    moved = dataclasses.replace(
        base,
        management_groups=tuple(
            dataclasses.replace(g, members=("alice", "dave")) if g.name == "DevOps" else g
            for g in base.management_groups
        ),
    )
    converge(provider, desired(moved))
    assert _members(emulator, "DevOps") == {"alice", "dave"}
    assert _members(emulator, role_group_name(PROD, "Admin")) == {"alice", "dave"}


def test_kind_okta_user_lookups_are_batched(emulator: OktaEmulator, provider: OktaProvider) -> None:
    logins = [f"user{i:02}" for i in range(30)]
    for login in [*logins, "alice", "bob", "carol"]:
        emulator.state.add_user(
            login=login, email=f"{login}@example.test", first_name=login, last_name="T"
        )
    emulator.aws_app()
    base = state_of(OKTA)
    state = dataclasses.replace(
        base,
        management_groups=(
            *base.management_groups,
            ManagementGroupSpec(name="Crowd", grants=(), members=tuple(logins)),
        ),
    )
    converge(provider, desired(state))
    assert _members(emulator, "Crowd") == set(logins)
    assert emulator.request_counts()[("GET", "/api/v1/users")] == 1  # one batched search


def test_missing_user_fails_the_change_clearly(
    emulator: OktaEmulator, provider: OktaProvider
) -> None:
    emulator.state.add_group(name="DevOps", description=None)
    change = Change(
        kind=ResourceKind.OKTA_GROUP_MEMBER,
        action=Action.CREATE,
        key=("devops", "nobody"),
        after=UserMember(group="DevOps", login="nobody"),
    )
    with pytest.raises(OktaError, match="no Okta user has the login 'nobody'"):
        provider.execute(change)


def _imported(emulator: OktaEmulator) -> OktaGroup:
    source = emulator.directory_app()
    group = emulator.state.add_group(
        name="aws#prod#Admin#111111111111",
        description=None,
        group_type=GroupType.APP_GROUP,
        source_app_id=source.id,
    )
    return OktaGroup(
        name=group.name, source="active_directory", type=OktaGroupType.APP_GROUP, id=group.id
    )


@pytest.mark.parametrize(
    ("kind", "action"),
    [
        (ResourceKind.OKTA_GROUP, Action.DELETE),
        (ResourceKind.OKTA_GROUP, Action.UPDATE),
        (ResourceKind.OKTA_GROUP_MEMBER, Action.CREATE),
    ],
)
def test_imported_groups_are_never_edited(
    emulator: OktaEmulator, provider: OktaProvider, kind: ResourceKind, action: Action
) -> None:
    group = _imported(emulator)
    emulator.state.add_user(login="alice", email="a@example.test", first_name="a", last_name="T")
    resource: OktaGroup | UserMember = group
    if kind is ResourceKind.OKTA_GROUP_MEMBER:
        resource = UserMember(group=group.name, login="alice")
    change = Change(
        kind=kind,
        action=action,
        key=("active_directory", group.name.lower()),
        before=resource if action is not Action.CREATE else None,
        after=resource if action is not Action.DELETE else None,
    )
    if kind is ResourceKind.OKTA_GROUP_MEMBER:
        # Members are keyed by name alone: the live group's type is what refuses.
        with pytest.raises(OktaRefused, match="APP_GROUP"):
            provider.execute(change)
        assert ("PUT", "/api/v1/groups/{groupId}/users/{userId}") not in emulator.request_counts()
    else:
        with pytest.raises(OktaRefused, match="imported"):
            provider.execute(change)
        assert emulator.total_requests() == 0  # refused before calling Okta
    assert group.id in emulator.state.groups


def test_built_in_group_is_never_deleted(emulator: OktaEmulator, provider: OktaProvider) -> None:
    everyone = OktaGroup(name="Everyone", source="okta", type=OktaGroupType.OKTA_GROUP)
    change = Change(
        kind=ResourceKind.OKTA_GROUP, action=Action.DELETE, key=everyone.key, before=everyone
    )
    with pytest.raises(OktaRefused, match="BUILT_IN"):
        provider.execute(change)
    assert ("DELETE", "/api/v1/groups/{groupId}") not in emulator.request_counts()


def test_create_app_then_converge(emulator: OktaEmulator, provider: OktaProvider) -> None:
    world = desired(state_of())
    import_directory(emulator, world)
    options = dataclasses.replace(OKTA_ONLY, create_app=True)
    planned = plan(provider, world, options)
    assert change_ids(planned, ResourceKind.OKTA_APP) == ["okta_app:Amazon Web Services:+"]
    converge(provider, world, options=options)
    (app,) = emulator.state.apps_named("amazon_aws")
    assert world.okta_app is not None
    owned = world.okta_app.settings.to_okta()
    assert {k: app.body["settings"]["app"][k] for k in owned} == owned
    assert read(provider, world).app is not None


def test_server_error_during_execute_is_reported_per_change(
    emulator: OktaEmulator, provider: OktaProvider
) -> None:
    world = desired(state_of())
    emulator.aws_app()
    import_directory(emulator, world)
    planned = plan(provider, world)
    emulator.inject_5xx(status=500, count=1, method="PUT")
    change = next(c for c in planned.changes if c.kind is ResourceKind.APP_ASSIGNMENT)
    with pytest.raises(
        OktaError, match=r"PUT /api/v1/apps/\{appId\}/groups/\{groupId\} failed with HTTP 500"
    ):
        provider.execute(change)
    converge(provider, world)  # the next run finishes the job
    assert provider.calls.errors(system="okta") == 1


def test_execute_before_any_read_uses_the_named_app(emulator: OktaEmulator) -> None:
    world = desired(state_of())
    emulator.aws_app()
    import_directory(emulator, world)
    with provider_for(emulator, app_label="Amazon Web Services") as fresh:
        outcome = fresh.execute(
            Change(
                kind=ResourceKind.APP_ASSIGNMENT,
                action=Action.CREATE,
                key=("active_directory", "devops"),
                after=AppAssignment("active_directory", "DevOps"),
            )
        )
    assert outcome is Outcome.CREATED
    assert len(emulator.state.assignments[emulator.aws_app().id]) == 1


def test_apply_runs_okta_changes_concurrently_and_converges(
    emulator: OktaEmulator, provider: OktaProvider
) -> None:
    """Through engine.apply's thread pool: many executes share the provider's loop."""
    for login in ("alice", "bob", "carol"):
        emulator.state.add_user(
            login=login, email=f"{login}@example.test", first_name=login, last_name="T"
        )
    emulator.aws_app()
    world = desired(state_of(OKTA))
    planned = plan(provider, world)
    provider.prepare(planned.changes)
    report = apply_changes(
        stages=stages(changes=planned.changes),
        executors={System.OKTA: provider},
        concurrency=8,
    )
    assert report.failed == ()
    assert report.writes == len(planned.changes)
    assert plan(provider, world).empty
