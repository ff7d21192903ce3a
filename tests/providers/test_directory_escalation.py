"""Nothing reaches a role group except through a management group: against real Samba
AD and slapd (issue 10).

- a group nested in a role group by hand, or a user added to it directly, is a
  ROGUE_GROUP finding of the plan, and apply takes it out; so is a group nested in a
  management group whose members the desired state lists;
- a login listed in `members` resolves only to a user under users_base: an entry that
  carries the login attribute but is no user (an LDAP group, an AD computer), or a user
  outside users_base reached through an alias (slapd), counts as missing, which blocks
  the plan, and apply refuses to add it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.apply import apply_changes
from engine.dn import build_dn, normalize_dn
from engine.model import DirectoryKind, System, World
from engine.order import stages
from engine.plan import Action, FindingKind, ResourceKind
from engine.providers.directory import DirectoryProvider
from engine.sandbox import directory_seed as seed
from engine.sandbox.directory_servers import DirectoryServer
from tests.providers.test_directory_end_to_end import Org, apply, converge, org, plan, read_for

__all__ = ["org"]  # the fixture, shared with the end-to-end module

ADMIN = "aws#prod-pay#Admin#111111111111"


@dataclass(frozen=True)
class Converged:
    """Ops (alice) granted Admin in prod-pay, converged; Contractors (mallory), a group
    outside the managed OUs, made by hand."""

    provider: DirectoryProvider
    desired: World
    contractors: str  # DN
    mallory: str  # DN


def _converged_with_contractors(org: Org) -> Converged:
    users = org.users("alice", "mallory")
    desired = org.desired(
        [
            {
                "name": "Ops",
                "grants": [{"account": "prod-pay", "role": "Admin"}],
                "members": [org.login("alice")],
            }
        ]
    )
    provider = org.provider()
    converge(provider, desired)
    departments = f"OU=Departments {org.tag},{org.server.base_dn}"
    seed.add_ous(org.server, dns=[departments])
    contractors = build_dn(cn="Contractors", parent=departments)
    mallory = users[org.login("mallory")]
    seed.add_group(org.server, dn=contractors, cn="Contractors", members=[mallory])
    return Converged(provider=provider, desired=desired, contractors=contractors, mallory=mallory)


def test_a_hand_nested_group_and_a_direct_user_are_rogue_and_removed(org: Org) -> None:
    world = _converged_with_contractors(org)
    provider, desired = world.provider, world.desired
    contractors, mallory = world.contractors, world.mallory
    admin = build_dn(cn=ADMIN, parent=org.role_ou)
    seed.add_members(org.server, group_dn=admin, member_dns=[contractors, mallory])

    drift = plan(provider, desired)

    rogue = sorted(f.subject for f in drift.findings if f.kind is FindingKind.ROGUE_GROUP)
    assert rogue == [
        f"{normalize_dn(contractors)} in role group {ADMIN}",
        f"user {org.login('mallory')} in role group {ADMIN}",
    ]
    assert sorted((c.kind, c.action, c.key) for c in drift.changes) == [
        (
            ResourceKind.GROUP_MEMBER,
            Action.DELETE,
            (normalize_dn(admin), normalize_dn(contractors)),
        ),
        (ResourceKind.USER_MEMBER, Action.DELETE, (normalize_dn(admin), org.login("mallory"))),
    ]
    apply(provider, drift)
    assert org.members(admin) & {normalize_dn(contractors), normalize_dn(mallory)} == set()
    again = plan(provider, desired)
    assert again.changes == () and again.findings == ()


def test_a_group_nested_in_a_listed_management_group_is_rogue_and_removed(org: Org) -> None:
    """Okta's import flattens nesting: a group nested in Ops, whose members the YAML
    lists, would give its users Ops's roles unlisted. The plan says so and apply takes
    the link out (the engine used to leave it; found by the independent judge)."""
    world = _converged_with_contractors(org)
    provider, desired, contractors = world.provider, world.desired, world.contractors
    ops = build_dn(cn="Ops", parent=org.mgmt_ou)
    seed.add_members(org.server, group_dn=ops, member_dns=[contractors])

    drift = plan(provider, desired)

    rogue = [f.subject for f in drift.findings if f.kind is FindingKind.ROGUE_GROUP]
    assert rogue == [f"{normalize_dn(contractors)} in management group Ops"]
    assert [(c.kind, c.action, c.key) for c in drift.changes] == [
        (ResourceKind.GROUP_MEMBER, Action.DELETE, (normalize_dn(ops), normalize_dn(contractors)))
    ]
    apply(provider, drift)
    assert normalize_dn(contractors) not in org.members(ops)
    again = plan(provider, desired)
    assert again.changes == () and again.findings == ()


def test_a_login_carried_by_something_other_than_a_user_is_missing(org: Org) -> None:
    impostor = org.login("impostor")
    dn = build_dn(cn=impostor, parent=org.server.users_dn)
    conn = org.server.connection()
    try:
        if org.kind is DirectoryKind.ACTIVE_DIRECTORY:
            # A computer account is objectClass user too, with a sAMAccountName.
            added = conn.add(dn, ["computer"], {"cn": impostor, "sAMAccountName": impostor})
        else:
            # A group that may carry any attribute, uid included.
            added = conn.add(
                dn,
                ["groupOfNames", "extensibleObject"],
                {"cn": impostor, "uid": impostor, "member": [org.server.bind_dn]},
            )
        assert added, conn.result
    finally:
        conn.unbind()
    groups: list[dict[str, object]] = [{"name": "Ops", "grants": [], "members": [impostor]}]
    desired = org.desired(groups)
    provider = org.provider()

    read = provider.read(
        adopted_dns=[],
        logins=[impostor],
        group_filter=desired.okta_app.settings.group_filter if desired.okta_app else "",
    )

    assert read.missing_logins == {impostor}
    assert [u.login for u in read.users] == []
    # Nor can apply add it: its user lookup refuses the entry the same way.
    first = plan(provider, desired)
    report = apply_changes(
        stages=stages(changes=first.changes), executors={System.DIRECTORY: provider}
    )
    ops = build_dn(cn="Ops", parent=org.mgmt_ou)
    [failed] = report.failed
    assert failed.change.key == (normalize_dn(ops), impostor)
    assert "not found under" in failed.message
    assert normalize_dn(dn) not in org.members(ops)


def test_a_login_reached_through_an_alias_outside_users_base_is_missing(
    slapd_server: DirectoryServer, tmp_path: Path
) -> None:
    # ldap3 dereferences aliases while searching: an alias under users_base would hand
    # back a user from anywhere in the tree (slapd keeps aliases; AD has none).
    lab = Org(server=slapd_server, root=tmp_path / "desired", tag="alias")
    login = lab.login("zed")
    elsewhere = f"ou=Elsewhere {lab.tag},{slapd_server.base_dn}"
    seed.add_ous(slapd_server, dns=[elsewhere])
    target = build_dn(cn=login, parent=elsewhere)
    alias = f"uid={login},{slapd_server.users_dn}"
    seed.add_entries(
        slapd_server,
        entries=[
            (target, "inetOrgPerson", {"cn": login, "sn": login, "uid": login}),
            (alias, ["alias", "extensibleObject"], {"uid": login, "aliasedObjectName": target}),
        ],
    )
    desired = lab.desired([{"name": "Ops", "grants": [], "members": [login]}])
    assert desired.okta_app is not None
    provider = lab.provider()

    read = provider.read(
        adopted_dns=[], logins=[login], group_filter=desired.okta_app.settings.group_filter
    )

    assert read.missing_logins == {login}
    report = apply_changes(
        stages=stages(changes=plan(provider, desired).changes),
        executors={System.DIRECTORY: provider},
    )
    [failed] = report.failed
    assert failed.change.key[1] == login
    assert normalize_dn(target) not in lab.members(build_dn(cn="Ops", parent=lab.mgmt_ou))


def test_an_adopted_dn_that_is_an_alias_of_a_role_group_adopts_nothing(
    slapd_server: DirectoryServer, tmp_path: Path
) -> None:
    lab = Org(server=slapd_server, root=tmp_path / "desired", tag="aliasgroup")
    alice = lab.login("alice")
    lab.users("alice")
    ops: dict[str, object] = {
        "name": "Ops",
        "grants": [{"account": "prod-pay", "role": "Admin"}],
        "members": [alice],
    }
    provider = lab.provider()
    converge(provider, lab.desired([ops]))
    admin = build_dn(cn=ADMIN, parent=lab.role_ou)
    departments = f"ou=Departments {lab.tag},{slapd_server.base_dn}"
    seed.add_ous(slapd_server, dns=[departments])
    alias = build_dn(cn="Helpers", parent=departments)
    seed.add_entries(
        slapd_server,
        entries=[
            (alias, ["alias", "extensibleObject"], {"cn": "Helpers", "aliasedObjectName": admin})
        ],
    )
    helpers: dict[str, object] = {"name": "Helpers", "dn": alias, "grants": [], "members": [alice]}
    desired = lab.desired([ops, helpers])  # the dn passes validate: nothing shows it is an alias

    drift = plan(provider, desired)

    conflicts = [f.subject for f in drift.findings if f.kind is FindingKind.CONFLICT]
    assert conflicts == ["management group Helpers"]
    assert drift.blocked
    live = read_for(provider, desired).to_world()
    assert not live.directory_groups[normalize_dn(admin)].adopted
