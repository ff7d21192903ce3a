"""The directory in the diff: groups, Member Of links and users, with ownership rules."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from engine.dn import normalize_dn
from engine.model import World
from engine.plan import Action, FindingKind, Reason, ResourceKind
from engine.render_parts import reason_text
from tests.unit.worlds import (
    AUDITORS,
    DEPT_OU,
    DEV,
    DEVOPS,
    FINANCE,
    FINANCE_DN,
    PROD,
    WorldEdit,
    by_id,
    change_ids,
    converged_live,
    desired_world,
    drop,
    edit_group,
    finding_kinds,
    management_group,
    mgmt_dn,
    plan_for,
    put,
    role_group,
    role_group_dn,
    role_group_name,
)

G = ResourceKind.DIRECTORY_GROUP.value
L = ResourceKind.GROUP_MEMBER.value
U = ResourceKind.USER_MEMBER.value

ADMIN_RG = role_group_dn(PROD, "Admin")
PROD_RO_RG = role_group_dn(PROD, "ReadOnly")
DEV_RO_RG = role_group_dn(DEV, "ReadOnly")
DEVOPS_DN = mgmt_dn(DEVOPS)
FINANCE_KEY = normalize_dn(FINANCE_DN)
CONTRACTORS_DN = normalize_dn(f"CN=Contractors,{DEPT_OU}")


def same(world: World) -> World:
    return world


def group(world: World, dn: str) -> object:
    return world.directory_groups[dn]


@dataclass(frozen=True)
class Case:
    name: str
    live: WorldEdit
    expected: frozenset[str]
    desired: WorldEdit = same
    prune: bool = False
    protected: frozenset[str] = frozenset()
    destructive: frozenset[str] = frozenset()
    findings: tuple[tuple[FindingKind, str], ...] = ()
    depends: dict[str, tuple[str, ...]] = field(default_factory=dict)


CASES = [
    Case(
        "role group missing: created, then its link",
        lambda w: drop(w, role_group(PROD, "Admin")),
        frozenset({f"{G}:{ADMIN_RG}:+", f"{L}:{ADMIN_RG}/{DEVOPS_DN}:+"}),
        depends={f"{L}:{ADMIN_RG}/{DEVOPS_DN}:+": (f"{G}:{ADMIN_RG}:+",)},
    ),
    Case(
        "management group missing: created, linked, filled",
        lambda w: _without_devops(w),
        frozenset(
            {
                f"{G}:{DEVOPS_DN}:+",
                f"{L}:{ADMIN_RG}/{DEVOPS_DN}:+",
                f"{L}:{PROD_RO_RG}/{DEVOPS_DN}:+",
                f"{L}:{DEV_RO_RG}/{DEVOPS_DN}:+",
                f"{U}:{DEVOPS_DN}/alice:+",
                f"{U}:{DEVOPS_DN}/bob:+",
            }
        ),
        depends={
            f"{L}:{DEV_RO_RG}/{DEVOPS_DN}:+": (f"{G}:{DEVOPS_DN}:+",),
            f"{U}:{DEVOPS_DN}/bob:+": (f"{G}:{DEVOPS_DN}:+",),
        },
    ),
    Case(
        "role group description differs",
        lambda w: edit_group(w, ADMIN_RG, description="edited by hand"),
        frozenset({f"{G}:{ADMIN_RG}:~"}),
    ),
    Case(
        "adopted group's description is never ours",
        lambda w: edit_group(w, FINANCE_KEY, description="anything"),
        frozenset(),
    ),
    Case(
        "adopted group that does not exist: conflict",
        lambda w: drop(w, management_group(FINANCE, dn=FINANCE_DN)),
        frozenset(),
        findings=((FindingKind.CONFLICT, f"management group {FINANCE}"),),
    ),
    Case(
        "hand-nested group in a role group is removed without prune",
        lambda w: edit_group(
            w, ADMIN_RG, member_groups=w.directory_groups[ADMIN_RG].member_groups | {CONTRACTORS_DN}
        ),
        frozenset({f"{L}:{ADMIN_RG}/{CONTRACTORS_DN}:-"}),
        destructive=frozenset({f"{L}:{ADMIN_RG}/{CONTRACTORS_DN}:-"}),
        findings=(
            (
                FindingKind.ROGUE_GROUP,
                f"{CONTRACTORS_DN} in role group {role_group_name(PROD, 'Admin')}",
            ),
        ),
    ),
    Case(
        "missing Member Of link",
        lambda w: edit_group(w, DEV_RO_RG, member_groups=frozenset({FINANCE_KEY})),
        frozenset({f"{L}:{DEV_RO_RG}/{DEVOPS_DN}:+"}),
    ),
    Case(
        "listed members are authoritative",
        lambda w: edit_group(w, DEVOPS_DN, member_users=frozenset({"alice", "dave"})),
        frozenset({f"{U}:{DEVOPS_DN}/bob:+", f"{U}:{DEVOPS_DN}/dave:-"}),
        destructive=frozenset({f"{U}:{DEVOPS_DN}/dave:-"}),
    ),
    Case(
        "members not listed are not managed",
        lambda w: edit_group(w, mgmt_dn(AUDITORS), member_users=frozenset({"erin", "alice"})),
        frozenset(),
    ),
    Case(
        "a user added straight into a role group is removed",
        lambda w: edit_group(w, ADMIN_RG, member_users=frozenset({"erin"})),
        frozenset({f"{U}:{ADMIN_RG}/erin:-"}),
        destructive=frozenset({f"{U}:{ADMIN_RG}/erin:-"}),
        findings=(
            (FindingKind.ROGUE_GROUP, f"user erin in role group {role_group_name(PROD, 'Admin')}"),
        ),
    ),
    Case(
        "adopted group's listed members are managed",
        lambda w: edit_group(w, FINANCE_KEY, member_users=frozenset()),
        frozenset({f"{U}:{FINANCE_KEY}/carol:+"}),
    ),
    Case(
        "group in a managed OU not desired, no prune",
        lambda w: put(w, management_group("Old Team")),
        frozenset(),
        findings=((FindingKind.PRUNE_SKIPPED, "management group Old Team"),),
    ),
    Case(
        "group in a managed OU not desired, prune",
        lambda w: put(w, management_group("Old Team", users=frozenset({"bob"}))),
        frozenset({f"{G}:{mgmt_dn('Old Team')}:-"}),
        prune=True,
        destructive=frozenset({f"{G}:{mgmt_dn('Old Team')}:-"}),
    ),
    Case(
        "protected role group is never deleted",
        lambda w: put(w, role_group(PROD, "Legacy")),
        frozenset(),
        prune=True,
        protected=frozenset({role_group_name(PROD, "legacy").upper()}),
        findings=(
            (
                FindingKind.PRUNE_SKIPPED,
                f"role group for {PROD} / Legacy {role_group_name(PROD, 'Legacy')}",
            ),
        ),
    ),
    Case(
        "adopted group no longer desired is not ours",
        lambda w: put(w, management_group("Sales", dn=f"CN=Sales,{DEPT_OU}")),
        frozenset(),
        prune=True,
    ),
    Case(
        "pruned management group leaves the role groups first",
        lambda w: edit_group(
            put(w, management_group("Old Team")),
            ADMIN_RG,
            member_groups=frozenset({DEVOPS_DN, mgmt_dn("Old Team")}),
        ),
        frozenset({f"{L}:{ADMIN_RG}/{mgmt_dn('Old Team')}:-", f"{G}:{mgmt_dn('Old Team')}:-"}),
        prune=True,
        destructive=frozenset(
            {f"{L}:{ADMIN_RG}/{mgmt_dn('Old Team')}:-", f"{G}:{mgmt_dn('Old Team')}:-"}
        ),
        depends={f"{G}:{mgmt_dn('Old Team')}:-": (f"{L}:{ADMIN_RG}/{mgmt_dn('Old Team')}:-",)},
    ),
]


def _without_devops(world: World) -> World:
    world = drop(world, management_group(DEVOPS))
    for dn in (ADMIN_RG, PROD_RO_RG, DEV_RO_RG):
        world = edit_group(
            world, dn, member_groups=world.directory_groups[dn].member_groups - {DEVOPS_DN}
        )
    return world


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_directory_drift(case: Case) -> None:
    desired = case.desired(desired_world())
    live = case.live(converged_live(desired_world()))
    plan = plan_for(desired=desired, live=live, prune=case.prune, protected=case.protected)
    assert change_ids(plan) == case.expected
    changes = by_id(plan)
    assert {i for i, c in changes.items() if c.destructive} == case.destructive
    assert finding_kinds(plan) == list(case.findings)
    for change_id, deps in case.depends.items():
        assert changes[change_id].depends_on == deps
    assert all(c.reason is not Reason.NONE for c in plan.changes)


def test_dn_and_login_spelling_is_not_a_change() -> None:
    """Members written with other case, spacing and escaping are the same members."""
    desired = desired_world()
    live = converged_live(desired)
    respelled = "cn=DEVOPS , ou=aws management groups,  DC=Example,DC=Test"
    live = edit_group(live, ADMIN_RG, member_groups=frozenset({respelled}))
    live = edit_group(live, DEVOPS_DN, member_users=frozenset({"ALICE", "Bob"}))
    assert plan_for(desired=desired, live=live).empty


def test_link_change_names_the_groups() -> None:
    desired = desired_world()
    live = edit_group(converged_live(desired), ADMIN_RG, member_groups=frozenset())
    [change] = plan_for(desired=desired, live=live).changes
    assert change.action is Action.CREATE
    assert reason_text(change) == f"{DEVOPS} is granted {role_group_name(PROD, 'Admin')}"


def test_directory_not_read_is_not_diffed() -> None:
    """--only aws,okta: a missing directory is not planned for creation."""
    from engine.model import System

    desired = desired_world()
    live = converged_live(desired)
    live = World.build(
        saml_providers=live.saml_providers.values(),
        roles=live.roles.values(),
        okta_app=live.okta_app,
        okta_groups=live.okta_groups.values(),
        app_assignments=live.app_assignments.values(),
        accounts=live.accounts,
        systems={System.AWS, System.OKTA},
        directory_kind=live.directory_kind,
    )
    plan = plan_for(desired=desired, live=live, prune=True)
    assert plan.empty and not plan.findings
