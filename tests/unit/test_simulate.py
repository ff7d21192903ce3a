"""The in-memory executor does what each provider's execute would do, and nothing more."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from engine.model import GroupMember, UserMember, World
from engine.plan import Action, Change, ResourceKind
from engine.simulate import apply_changes
from tests.unit.worlds import (
    AUDITORS,
    DEVOPS,
    OKTA,
    PROD,
    app,
    assignment,
    converged_live,
    desired_world,
    mgmt_dn,
    okta_group,
    provider,
    role,
    role_group,
    role_group_dn,
)

K = ResourceKind
ADMIN_RG = role_group_dn(PROD, "Admin")
LIVE = converged_live(desired_world())
LIVE_OKTA = converged_live(desired_world(kind=OKTA))
RG_KEY = ("okta", f"aws#prod#admin#{PROD}")


def make(kind: ResourceKind, action: Action, resource: object, **extra: object) -> Change:
    key = getattr(resource, "key", ())
    key = key if isinstance(key, tuple) else (key,)
    return Change(
        kind=kind,
        action=action,
        key=key,
        before=resource if action is not Action.CREATE else None,  # type: ignore[arg-type]
        after=resource if action is not Action.DELETE else None,  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )


Check = Callable[[World], bool]

CASES: list[tuple[str, World, Change, Check]] = [
    (
        "created role is tagged, adoption flag gone",
        LIVE,
        make(K.ROLE, Action.CREATE, role(PROD, "New", adopt=True, managed=False)),
        lambda w: w.roles[(PROD, "new")].managed and not w.roles[(PROD, "new")].adopt,
    ),
    (
        "adopted role is tagged",
        dataclasses.replace(LIVE, roles={**LIVE.roles, (PROD, "admin"): role(managed=False)}),
        make(K.ROLE, Action.UPDATE, role(adopt=True)),
        lambda w: w.roles[(PROD, "admin")].managed,
    ),
    (
        "deleted provider is gone",
        LIVE,
        make(K.SAML_PROVIDER, Action.DELETE, provider(PROD)),
        lambda w: (PROD, "OKTA") not in w.saml_providers,
    ),
    (
        "created group starts empty",
        LIVE,
        make(
            K.DIRECTORY_GROUP, Action.CREATE, role_group(PROD, "New", members=[DEVOPS], users=None)
        ),
        lambda w: (
            (g := w.directory_groups[role_group_dn(PROD, "New")]).member_groups == frozenset()
            and g.member_users == frozenset()
        ),
    ),
    (
        "group update changes the description only",
        LIVE,
        make(K.DIRECTORY_GROUP, Action.UPDATE, role_group(PROD, "Admin", description="new")),
        lambda w: (
            w.directory_groups[ADMIN_RG].description == "new"
            and w.directory_groups[ADMIN_RG].member_groups == {mgmt_dn(DEVOPS)}
        ),
    ),
    (
        "deleted group leaves the groups it was Member Of",
        LIVE,
        make(K.DIRECTORY_GROUP, Action.DELETE, LIVE.directory_groups[mgmt_dn(DEVOPS)]),
        lambda w: (
            mgmt_dn(DEVOPS) not in w.directory_groups
            and all(mgmt_dn(DEVOPS) not in g.member_groups for g in w.directory_groups.values())
        ),
    ),
    (
        "link removed",
        LIVE,
        make(K.GROUP_MEMBER, Action.DELETE, GroupMember(ADMIN_RG, mgmt_dn(DEVOPS))),
        lambda w: w.directory_groups[ADMIN_RG].member_groups == frozenset(),
    ),
    (
        "link added",
        LIVE,
        make(K.GROUP_MEMBER, Action.CREATE, GroupMember(ADMIN_RG, mgmt_dn(AUDITORS))),
        lambda w: (
            w.directory_groups[ADMIN_RG].member_groups == {mgmt_dn(DEVOPS), mgmt_dn(AUDITORS)}
        ),
    ),
    (
        "user added",
        LIVE,
        make(K.USER_MEMBER, Action.CREATE, UserMember(mgmt_dn(DEVOPS), "erin")),
        lambda w: (
            w.directory_groups[mgmt_dn(DEVOPS)].member_users == frozenset({"alice", "bob", "erin"})
        ),
    ),
    (
        "user removed",
        LIVE,
        make(K.USER_MEMBER, Action.DELETE, UserMember(mgmt_dn(DEVOPS), "bob")),
        lambda w: w.directory_groups[mgmt_dn(DEVOPS)].member_users == frozenset({"alice"}),
    ),
    (
        "app settings updated, server id kept",
        LIVE,
        make(K.OKTA_APP, Action.UPDATE, dataclasses.replace(app(session_duration=900), id=None)),
        lambda w: (
            w.okta_app is not None
            and w.okta_app.settings.session_duration == 900
            and w.okta_app.id == "0oa1"
        ),
    ),
    (
        "okta group created empty",
        LIVE_OKTA,
        make(K.OKTA_GROUP, Action.CREATE, okta_group("New", source="okta", members={"x"})),
        lambda w: w.okta_groups[("okta", "new")].members == frozenset(),
    ),
    (
        "okta group deleted with its assignment",
        LIVE_OKTA,
        make(K.OKTA_GROUP, Action.DELETE, LIVE_OKTA.okta_groups[("okta", "devops")]),
        lambda w: (
            ("okta", "devops") not in w.okta_groups and ("okta", "devops") not in w.app_assignments
        ),
    ),
    (
        "okta group member added",
        LIVE_OKTA,
        make(K.OKTA_GROUP_MEMBER, Action.CREATE, UserMember(f"aws#prod#Admin#{PROD}", "erin")),
        lambda w: w.okta_groups[RG_KEY].members == frozenset({"alice", "bob", "erin"}),
    ),
    (
        "okta group member removed",
        LIVE_OKTA,
        make(K.OKTA_GROUP_MEMBER, Action.DELETE, UserMember(f"aws#prod#Admin#{PROD}", "alice")),
        lambda w: w.okta_groups[RG_KEY].members == frozenset({"bob"}),
    ),
    (
        "assignment added",
        LIVE,
        make(K.APP_ASSIGNMENT, Action.CREATE, assignment("Contractors")),
        lambda w: ("active_directory", "contractors") in w.app_assignments,
    ),
    (
        "assignment removed",
        LIVE,
        make(K.APP_ASSIGNMENT, Action.DELETE, assignment(DEVOPS)),
        lambda w: ("active_directory", "devops") not in w.app_assignments,
    ),
    (
        "a waiting change is not applied",
        LIVE,
        make(
            K.APP_ASSIGNMENT, Action.CREATE, assignment("Contractors"), waits_for="directory import"
        ),
        lambda w: ("active_directory", "contractors") not in w.app_assignments,
    ),
    (
        "a link into a missing group is a no-op",
        LIVE,
        make(K.GROUP_MEMBER, Action.CREATE, GroupMember("cn=nope", mgmt_dn(DEVOPS))),
        lambda w: w == LIVE,
    ),
]


@pytest.mark.parametrize(("name", "world", "change", "check"), CASES, ids=[c[0] for c in CASES])
def test_apply_one_change(name: str, world: World, change: Change, check: Check) -> None:
    before = world
    after = apply_changes(world=world, changes=[change])
    assert check(after), name
    assert before == world  # the input world is never modified


def test_changes_apply_in_sequence() -> None:
    group = role_group(PROD, "New", users=None)
    link = GroupMember(group.key, mgmt_dn(DEVOPS))
    after = apply_changes(
        world=LIVE,
        changes=[
            make(K.DIRECTORY_GROUP, Action.CREATE, group),
            make(K.GROUP_MEMBER, Action.CREATE, link),
        ],
    )
    assert after.directory_groups[group.key].member_groups == {mgmt_dn(DEVOPS)}
    assert {k: v for k, v in after.directory_groups.items() if k != group.key} == dict(
        LIVE.directory_groups
    )
