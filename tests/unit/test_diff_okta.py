"""Okta in the diff: app settings, assignments we own vs hand-made, rogue groups, kind okta."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest

from engine.access import effective_access
from engine.compile import compile_world, with_role_group_sources
from engine.diff_common import IMPORT_PENDING
from engine.model import DirectoryKind, World
from engine.plan import Action, AttributeChange, FindingKind, Reason, ResourceKind
from engine.render import render_text
from engine.render_parts import reason_text
from engine.spec import DesiredState, GrantSpec
from tests.unit.worlds import (
    AD,
    AUDITORS,
    DEPT_OU,
    DEVOPS,
    LDAP,
    MGMT_OU,
    OKTA,
    PROD,
    ROLE_OU,
    WorldEdit,
    app,
    assignment,
    by_id,
    change_ids,
    converged_live,
    desired_world,
    drop,
    edit_app,
    finding_kinds,
    okta_group,
    plan_for,
    put,
    role_group_name,
    small_state,
)

A = ResourceKind.APP_ASSIGNMENT.value
APP = ResourceKind.OKTA_APP.value
OG = ResourceKind.OKTA_GROUP.value
OM = ResourceKind.OKTA_GROUP_MEMBER.value
SRC = AD.okta_source
ADMIN_RG = role_group_name(PROD, "Admin")
APP_ID = f"{APP}:Amazon Web Services"
SHADOW = role_group_name(PROD, "Shadow")


def same(world: World) -> World:
    return world


@dataclass(frozen=True)
class Case:
    name: str
    live: WorldEdit
    expected: frozenset[str]
    desired: WorldEdit = same
    kind: DirectoryKind = AD
    prune: bool = False
    create_app: bool = False
    destructive: frozenset[str] = frozenset()
    findings: tuple[tuple[FindingKind, str], ...] = ()
    depends: dict[str, tuple[str, ...]] = field(default_factory=dict)
    waiting: frozenset[str] = frozenset()


def _not_imported(name: str) -> WorldEdit:
    return lambda w: drop(w, assignment(name), okta_group(name))


CASES = [
    Case(
        "group filter differs: destructive settings update",
        lambda w: edit_app(w, group_filter="^aws_(?{{accountid}}\\d+)_(?{{role}}\\w+)$"),
        frozenset({f"{APP_ID}:~"}),
        destructive=frozenset({f"{APP_ID}:~"}),
    ),
    Case(
        "group mapping off in Okta, on in the desired state: plain update",
        lambda w: edit_app(w, use_group_mapping=False),
        frozenset({f"{APP_ID}:~"}),
    ),
    Case(
        "group mapping switched off by the desired state: destructive",
        same,
        frozenset({f"{APP_ID}:~"}),
        desired=lambda w: edit_app(w, use_group_mapping=False),
        destructive=frozenset({f"{APP_ID}:~"}),
    ),
    Case(
        "app filter drops a live source: destructive",
        lambda w: edit_app(w, app_filter="active_directory, openldap"),
        frozenset({f"{APP_ID}:~"}),
        destructive=frozenset({f"{APP_ID}:~"}),
    ),
    Case(
        "app filter adds a source: plain update",
        same,
        frozenset({f"{APP_ID}:~"}),
        desired=lambda w: edit_app(w, app_filter="active_directory, openldap"),
    ),
    Case(
        "role value pattern differs: destructive",
        lambda w: edit_app(w, role_value_pattern="arn:aws:iam::${accountid}:saml-provider/X,r"),
        frozenset({f"{APP_ID}:~"}),
        destructive=frozenset({f"{APP_ID}:~"}),
    ),
    Case(
        "join all roles differs: plain update",
        lambda w: edit_app(w, join_all_roles=True),
        frozenset({f"{APP_ID}:~"}),
    ),
    Case(
        "session duration differs: plain update",
        lambda w: edit_app(w, session_duration=43200),
        frozenset({f"{APP_ID}:~"}),
    ),
    Case(
        "app missing: read error, nothing else planned in Okta",
        lambda w: drop(w, app(), assignment(DEVOPS)),
        frozenset(),
        findings=((FindingKind.READ_ERROR, "app Amazon Web Services"),),
    ),
    Case(
        "app missing with create_app: created, assignments after it",
        lambda w: drop(w, app(), assignment(DEVOPS)),
        frozenset({f"{APP_ID}:+", f"{A}:{SRC}/devops:+"}),
        create_app=True,
        depends={f"{A}:{SRC}/devops:+": (f"{APP_ID}:+",)},
    ),
    Case(
        "assignment missing, group imported",
        lambda w: drop(w, assignment(AUDITORS)),
        frozenset({f"{A}:{SRC}/auditors:+"}),
    ),
    Case(
        "assignment missing, group not imported yet: waits",
        _not_imported(AUDITORS),
        frozenset({f"{A}:{SRC}/auditors:+"}),
        waiting=frozenset({f"{A}:{SRC}/auditors:+"}),
    ),
    Case(
        "desired group without grants: its assignment goes without prune",
        same,
        frozenset({f"{A}:{SRC}/auditors:-"}),
        desired=lambda w: drop(w, assignment(AUDITORS)),
        destructive=frozenset({f"{A}:{SRC}/auditors:-"}),
    ),
    Case(
        "assignment of a group from our OU no longer desired: prune-gated",
        lambda w: put(
            w, okta_group("Old Team", dn=f"cn=old team,{MGMT_OU.lower()}"), assignment("Old Team")
        ),
        frozenset(),
        findings=((FindingKind.PRUNE_SKIPPED, f"assignment of Old Team ({SRC})"),),
    ),
    Case(
        "assignment of a group from our OU no longer desired: pruned",
        lambda w: put(
            w, okta_group("Old Team", dn=f"cn=old team,{MGMT_OU.lower()}"), assignment("Old Team")
        ),
        frozenset({f"{A}:{SRC}/old team:-"}),
        prune=True,
        destructive=frozenset({f"{A}:{SRC}/old team:-"}),
    ),
    Case(
        "hand-made assignment: reported, never touched",
        lambda w: put(
            w,
            okta_group("Contractors", dn=f"cn=contractors,{DEPT_OU.lower()}"),
            assignment("Contractors"),
            assignment("Everyone", source="okta"),
        ),
        frozenset(),
        prune=True,
        findings=(
            (FindingKind.UNMANAGED, f"assignment of Contractors ({SRC})"),
            (FindingKind.UNMANAGED, "assignment of Everyone (okta)"),
        ),
    ),
    Case(
        "look-alike groups from other sources are rogue",
        lambda w: put(
            w,
            okta_group(ADMIN_RG, source="okta", members={"mallory"}),
            okta_group(role_group_name(PROD, "Hidden"), source="ldap_sun_one"),
            okta_group("just a group", source="okta"),
        ),
        frozenset(),
        prune=True,
        findings=(
            (
                FindingKind.ROGUE_GROUP,
                f"okta group {role_group_name(PROD, 'Hidden')} (source ldap_sun_one)",
            ),
            (FindingKind.ROGUE_GROUP, f"okta group {ADMIN_RG} (source okta)"),
        ),
    ),
    Case(
        "a role-group look-alike imported from outside our OUs is rogue (it grants access)",
        lambda w: put(
            w,
            okta_group(SHADOW, dn=f"cn={SHADOW.lower()},{DEPT_OU.lower()}", members={"mallory"}),
            okta_group(role_group_name(PROD, "Audit"), dn=f"cn=x,{ROLE_OU.lower()}"),
        ),
        frozenset(),
        findings=((FindingKind.ROGUE_GROUP, f"okta group {SHADOW} (source {SRC})"),),
    ),
    # --- directory.kind okta: the groups themselves are ours in Okta ---
    Case(
        "kind okta: role group missing is created with its members",
        lambda w: drop(w, okta_group(ADMIN_RG, source="okta")),
        frozenset(
            {
                f"{OG}:okta/{ADMIN_RG.lower()}:+",
                *(f"{OM}:{ADMIN_RG.lower()}/{u}:+" for u in ("alice", "bob")),
            }
        ),
        kind=OKTA,
        depends={f"{OM}:{ADMIN_RG.lower()}/bob:+": (f"{OG}:okta/{ADMIN_RG.lower()}:+",)},
    ),
    Case(
        "kind okta: member lists are authoritative",
        lambda w: put(
            w,
            dataclasses.replace(
                w.okta_groups[("okta", ADMIN_RG.lower())], members=frozenset({"alice", "erin"})
            ),
        ),
        frozenset({f"{OM}:{ADMIN_RG.lower()}/bob:+", f"{OM}:{ADMIN_RG.lower()}/erin:-"}),
        kind=OKTA,
        destructive=frozenset({f"{OM}:{ADMIN_RG.lower()}/erin:-"}),
    ),
    Case(
        "kind okta: a role-group-named group not desired is ours to prune",
        lambda w: put(w, okta_group(role_group_name(PROD, "Legacy"), source="okta")),
        frozenset({f"{OG}:okta/{role_group_name(PROD, 'Legacy').lower()}:-"}),
        kind=OKTA,
        prune=True,
        destructive=frozenset({f"{OG}:okta/{role_group_name(PROD, 'Legacy').lower()}:-"}),
    ),
    Case(
        "kind okta: any other group not desired is not ours",
        lambda w: put(
            w, okta_group("Marketing", source="okta"), assignment("Marketing", source="okta")
        ),
        frozenset(),
        kind=OKTA,
        prune=True,
        findings=((FindingKind.UNMANAGED, "assignment of Marketing (okta)"),),
    ),
    Case(
        "kind okta: a management group's description is kept unless one is asked for",
        lambda w: put(w, dataclasses.replace(w.okta_groups[("okta", "devops")], description="x")),
        frozenset(),
        kind=OKTA,
    ),
    Case(
        "kind okta: a role group's description is ours",
        lambda w: put(
            w, dataclasses.replace(w.okta_groups[("okta", ADMIN_RG.lower())], description="x")
        ),
        frozenset({f"{OG}:okta/{ADMIN_RG.lower()}:~"}),
        kind=OKTA,
    ),
    Case(
        "kind okta: a new management group's assignment follows its creation",
        lambda w: drop(w, okta_group(AUDITORS, source="okta"), assignment(AUDITORS, source="okta")),
        frozenset({f"{OG}:okta/auditors:+", f"{A}:okta/auditors:+"}),
        kind=OKTA,
        depends={f"{A}:okta/auditors:+": (f"{OG}:okta/auditors:+",)},
    ),
    Case(
        "kind ldap: assignments use the ldap source",
        lambda w: drop(w, assignment(DEVOPS, source=LDAP.okta_source)),
        frozenset({f"{A}:ldap_sun_one/devops:+"}),
        kind=LDAP,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_okta_drift(case: Case) -> None:
    desired = case.desired(desired_world(kind=case.kind))
    live = case.live(converged_live(desired_world(kind=case.kind)))
    plan = plan_for(desired=desired, live=live, prune=case.prune, create_app=case.create_app)
    assert change_ids(plan) == case.expected
    changes = by_id(plan)
    assert {i for i, c in changes.items() if c.destructive} == case.destructive
    assert {i for i, c in changes.items() if c.waits_for} == case.waiting
    assert all(c.waits_for in (None, IMPORT_PENDING) for c in plan.changes)
    assert finding_kinds(plan) == list(case.findings)
    for change_id, deps in case.depends.items():
        assert changes[change_id].depends_on == deps
    assert all(c.reason is not Reason.NONE for c in plan.changes)


def test_settings_detail_is_one_per_field() -> None:
    desired = desired_world()
    live = edit_app(converged_live(desired), session_duration=900, join_all_roles=True)
    [change] = plan_for(desired=desired, live=live).changes
    assert change.action is Action.UPDATE
    assert change.details == (
        AttributeChange("settings.app.joinAllRoles", True, False),
        AttributeChange("settings.app.sessionDuration", 900, 3600),
    )


def test_okta_not_read_is_not_diffed() -> None:
    from engine.model import System

    desired = desired_world()
    live = dataclasses.replace(
        converged_live(desired),
        okta_app=None,
        okta_groups={},
        app_assignments={},
        systems=frozenset({System.AWS, System.DIRECTORY}),
    )
    plan = plan_for(desired=desired, live=live, prune=True)
    assert plan.empty and not plan.findings


# --- kind okta: a role group shared with a group whose members its owners run (issue 16) ---

READONLY_RG = role_group_name(PROD, "ReadOnly")
RG_KEY = ("okta", READONLY_RG.lower())
OWNERS = "via Auditors (members managed in Okta)"


def _shared_state() -> DesiredState:
    """small_state (kind okta) where Auditors, whose members are left to its owners,
    also grants prod/ReadOnly, which DevOps (alice, bob) grants too."""
    state = small_state(kind=OKTA)
    groups = tuple(
        dataclasses.replace(g, grants=(*g.grants, GrantSpec(role="ReadOnly", account="prod")))
        if g.name == AUDITORS
        else g
        for g in state.management_groups
    )
    return dataclasses.replace(state, management_groups=groups)


def _okta_live(*, auditors: set[str] | None, role_group: set[str]) -> tuple[World, World]:
    desired = compile_world(state=_shared_state())
    live = converged_live(desired)
    live = put(
        live,
        dataclasses.replace(
            live.okta_groups[("okta", "auditors")],
            members=None if auditors is None else frozenset(auditors),
        ),
        dataclasses.replace(live.okta_groups[RG_KEY], members=frozenset(role_group)),
    )
    return desired, live


def _member_changes(desired: World, live: World) -> dict[str, tuple[str, bool]]:
    plan = plan_for(desired=desired, live=live)
    return {
        c.id: (reason_text(c), c.destructive)
        for c in plan.changes
        if c.kind is ResourceKind.OKTA_GROUP_MEMBER and c.key[0] == READONLY_RG.lower()
    }


def member(login: str, action: str) -> str:
    return f"{OM}:{READONLY_RG.lower()}/{login}:{action}"


@pytest.mark.parametrize(
    ("auditors", "role_group", "expected"),
    [
        pytest.param(
            {"erin", "frank"},
            {"alice", "bob"},
            {member("erin", "+"): (OWNERS, False), member("frank", "+"): (OWNERS, False)},
            id="owner-managed members join, named as coming from their group",
        ),
        pytest.param(
            {"erin"},
            {"alice", "bob", "erin"},
            {},
            id="converged: listed and owner-managed members both there",
        ),
        pytest.param(
            {"erin"},
            {"bob", "erin", "mallory"},
            {
                member("alice", "+"): ("via DevOps", False),
                member("mallory", "-"): (
                    f"in no management group granting {READONLY_RG}",
                    True,
                ),
            },
            id="drift: a hand-removed user comes back, a hand-added one goes",
        ),
        pytest.param(
            {"alice"},
            {"bob"},
            {member("alice", "+"): (f"via Auditors (members managed in Okta), {DEVOPS}", False)},
            id="a user in both groups: both named",
        ),
        pytest.param(
            set(),
            {"alice", "bob", "erin"},
            {
                member("erin", "-"): (
                    f"in no management group granting {READONLY_RG}",
                    True,
                )
            },
            id="the owners removed someone: the role group follows",
        ),
        pytest.param(
            None,
            {"alice", "erin"},
            {member("bob", "+"): ("via DevOps", False)},
            id="owner-managed members not read: nothing is removed",
        ),
    ],
)
def test_kind_okta_role_group_follows_owner_managed_members(
    auditors: set[str] | None, role_group: set[str], expected: dict[str, tuple[str, bool]]
) -> None:
    desired, live = _okta_live(auditors=auditors, role_group=role_group)
    assert _member_changes(desired, live) == expected


def test_kind_okta_owner_managed_group_missing_in_okta_contributes_no_one() -> None:
    desired, live = _okta_live(auditors=set(), role_group={"alice", "bob"})
    live = drop(live, okta_group(AUDITORS, source="okta"))
    plan = plan_for(desired=desired, live=live)
    assert f"{OG}:okta/auditors:+" in change_ids(plan)
    assert _member_changes(desired, live) == {}


def test_kind_okta_plan_shows_where_a_member_comes_from() -> None:
    desired, live = _okta_live(auditors={"erin"}, role_group={"alice", "bob"})
    text = render_text(plan_for(desired=desired, live=live))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert f"+ user erin → {READONLY_RG} ({OWNERS})" in lines
    # The access delta shows the grant like any other, via the management group.
    assert f"+ erin gains prod ({PROD}) / ReadOnly via Auditors" in lines


def test_kind_okta_live_access_names_management_groups() -> None:
    """`access --live` with kind okta: the reader attaches which management groups stand
    behind each role group, so `via` names them as with a directory (not the role group);
    a user in the role group by hand is shown through the role group itself."""
    desired, live = _okta_live(auditors={"erin", "alice"}, role_group={"alice", "erin", "zed"})
    live = put(
        live,
        dataclasses.replace(
            live.okta_groups[("okta", "auditors")], members=frozenset({"erin", "alice", "zed"})
        ),
    )
    bare = dataclasses.replace(
        live,
        okta_groups={
            k: dataclasses.replace(g, member_groups=frozenset())
            for k, g in live.okta_groups.items()
        },
    )
    annotated = with_role_group_sources(live=bare, desired=desired)
    assert annotated == live
    via = {
        e.user: e.via
        for e in effective_access(world=annotated)
        if (e.account_id, e.role) == (PROD, "ReadOnly")
    }
    assert via == {
        "alice": frozenset({DEVOPS, AUDITORS}),
        "erin": frozenset({AUDITORS}),
        "zed": frozenset({AUDITORS}),
    }
    unannotated = {
        e.user: e.via
        for e in effective_access(world=bare)
        if (e.account_id, e.role) == (PROD, "ReadOnly")
    }
    assert set(unannotated.values()) == {frozenset({READONLY_RG})}
