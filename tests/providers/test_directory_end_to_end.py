"""Plan → apply → re-plan against a real Samba AD DC and a real OpenLDAP slapd.

Every test here runs against both servers (the `directory_server` fixture) unless it is
about an AD-only behaviour (member ranges). Each test writes its own desired state into
tmp_path with OUs of its own, so the module-scoped servers are shared without clean-up.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import ldap3
import pytest
import yaml

from engine.apply import ApplyReport, apply_changes
from engine.compile import compile_world
from engine.diff import diff
from engine.dn import build_dn, normalize_dn
from engine.load import load
from engine.model import DirectoryGroup, DirectoryKind, GroupMember, System, World
from engine.order import stages
from engine.plan import Action, Change, FindingKind, Outcome, Plan, PlanOptions, ResourceKind
from engine.providers.directory import DirectoryProvider, DirectoryRead, DirectoryRefused
from engine.providers.directory_flavor import PLACEHOLDER_MEMBER
from engine.providers.live import Providers, read_live
from engine.sandbox import directory_seed as seed
from engine.sandbox.directory_servers import DirectoryServer
from engine.spec import Severity
from engine.validate import has_errors, validate

DIRECTORY_ONLY = PlanOptions(systems=frozenset({System.DIRECTORY}))
_TAGS = itertools.count(1)

ACCOUNTS = """\
roles:
  Admin: {}
  ReadOnly: {}
accounts:
  - {id: "111111111111", alias: prod-pay, roles: [Admin, ReadOnly]}
  - {id: "222222222222", alias: dev-pay, roles: [ReadOnly]}
"""


@dataclass
class Org:
    """One test's corner of a shared server: its OUs, users and desired state."""

    server: DirectoryServer
    root: Path
    tag: str

    @property
    def kind(self) -> DirectoryKind:
        return DirectoryKind(self.server.kind.value)

    @property
    def role_ou(self) -> str:
        return f"OU=Role Groups {self.tag},{self.server.base_dn}"

    @property
    def mgmt_ou(self) -> str:
        return f"OU=Management Groups {self.tag},{self.server.base_dn}"

    def login(self, name: str) -> str:
        return f"{name}{self.tag}"

    def users(self, *names: str) -> dict[str, str]:
        return seed.add_users(self.server, logins=[self.login(n) for n in names])

    def desired(
        self,
        groups: list[dict[str, object]],
        *,
        syntax: str = "aws#{alias}#{role}#{account_id}",
        accounts: str = ACCOUNTS,
    ) -> World:
        settings = {
            "settings": {
                "target": "sandbox",
                "saml_provider": {"name": "OKTA"},
                "directory": {
                    "kind": self.kind.value,
                    "role_groups_ou": self.role_ou,
                    "management_groups_ou": self.mgmt_ou,
                    "users_base": self.server.users_dn,
                },
                "role_group_name": syntax,
                "okta": {"app_label": "AWS", "app_filter": self.kind.okta_source},
            }
        }
        self.root.mkdir(exist_ok=True)
        (self.root / "settings.yaml").write_text(json.dumps(settings), encoding="utf-8")
        (self.root / "accounts.yaml").write_text(accounts, encoding="utf-8")
        text = json.dumps({"management_groups": groups})
        (self.root / "groups.yaml").write_text(text, encoding="utf-8")
        state = load(directory=self.root)
        problems = validate(state=state)
        assert not has_errors(problems), [str(p) for p in problems if p.severity is Severity.ERROR]
        return compile_world(state=state)

    def provider(self, *, page_size: int = 500, batch_size: int = 100) -> DirectoryProvider:
        return DirectoryProvider(
            kind=self.kind,
            role_groups_ou=self.role_ou,
            management_groups_ou=self.mgmt_ou,
            users_base=self.server.users_dn,
            url=self.server.url,
            bind_dn=self.server.bind_dn,
            password=self.server.password,
            page_size=page_size,
            batch_size=batch_size,
        )

    def members(self, dn: str) -> set[str]:
        """A group's member values, normalized, straight from the server."""
        conn = self.server.connection()
        try:
            conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["member"])
            values = conn.response[0]["raw_attributes"].get("member", [])
            return {normalize_dn(v.decode()) for v in values}
        finally:
            conn.unbind()

    def attribute(self, dn: str, name: str) -> list[str]:
        conn = self.server.connection()
        try:
            conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=[name])
            return [v.decode() for v in conn.response[0]["raw_attributes"].get(name, [])]
        finally:
            conn.unbind()


@pytest.fixture
def org(directory_server: DirectoryServer, tmp_path: Path) -> Org:
    return Org(server=directory_server, root=tmp_path / "desired", tag=f"t{next(_TAGS)}")


def read_for(provider: DirectoryProvider, desired: World) -> DirectoryRead:
    groups = desired.directory_groups.values()
    assert desired.okta_app is not None
    read = provider.read(
        adopted_dns=[g.dn for g in groups if g.adopted],
        logins={u for g in groups for u in (g.member_users or ())},
        group_filter=desired.okta_app.settings.group_filter,
    )
    assert read.errors == ()
    return read


def plan(provider: DirectoryProvider, desired: World, *, prune: bool = False) -> Plan:
    live = read_for(provider, desired).to_world()
    options = PlanOptions(systems=frozenset({System.DIRECTORY}), prune=prune)
    return diff(desired=desired, live=live, options=options)


def apply(provider: DirectoryProvider, planned: Plan) -> ApplyReport:
    assert planned.applyable, (planned.findings, planned.guard)
    report = apply_changes(
        stages=stages(changes=planned.changes), executors={System.DIRECTORY: provider}
    )
    assert report.failed == (), [r.message for r in report.failed]
    return report


def converge(provider: DirectoryProvider, desired: World) -> ApplyReport:
    return apply(provider, plan(provider, desired))


def kinds(planned: Plan) -> list[tuple[ResourceKind, Action, tuple[str, ...]]]:
    return [(c.kind, c.action, c.key) for c in planned.changes]


# --- converging ----------------------------------------------------------------------------


def test_empty_directory_converges_and_the_re_plan_is_empty(org: Org) -> None:
    users = org.users("alice", "bob", "carol")
    desired = org.desired(
        [
            {
                "name": "Ops",
                "description": "On call",
                "grants": [{"account": "prod-pay", "role": "Admin"}],
                "members": [org.login("alice"), org.login("bob")],
            },
            {
                "name": "Readers",
                "grants": [{"account": "*", "role": "ReadOnly"}],
                "members": [org.login("carol")],
            },
        ]
    )
    provider = org.provider()

    first = plan(provider, desired)
    report = apply(provider, first)
    writes = provider.calls.writes()
    again = plan(provider, desired)

    # 3 role groups + 2 management groups, 3 links, 3 users.
    assert report.count(Outcome.CREATED) == 5 + 3 + 3
    assert again.changes == () and again.findings == ()
    assert provider.calls.writes() == writes  # a converged re-plan writes nothing
    ops = build_dn(cn="Ops", parent=org.mgmt_ou)
    admin = build_dn(cn="aws#prod-pay#Admin#111111111111", parent=org.role_ou)
    assert {normalize_dn(users[org.login(n)]) for n in ("alice", "bob")} <= org.members(ops)
    assert normalize_dn(ops) in org.members(admin)
    assert org.attribute(ops, "description") == ["On call"]
    if org.kind is DirectoryKind.ACTIVE_DIRECTORY:
        assert org.attribute(ops, "sAMAccountName") == ["Ops"]
        assert org.attribute(ops, "groupType") == ["-2147483646"]
    else:  # groupOfNames keeps the placeholder; the reader never shows it
        assert normalize_dn(PLACEHOLDER_MEMBER) in org.members(ops)


def test_extra_member_is_removed_only_where_members_are_listed(org: Org) -> None:
    users = org.users("alice", "mallory")
    groups: list[dict[str, object]] = [
        {"name": "Listed", "grants": [], "members": [org.login("alice")]},
        {"name": "Unlisted", "grants": [{"account": "dev-pay", "role": "ReadOnly"}]},
    ]
    desired = org.desired(groups)
    provider = org.provider()
    converge(provider, desired)
    listed, unlisted = (build_dn(cn=n, parent=org.mgmt_ou) for n in ("Listed", "Unlisted"))
    mallory = users[org.login("mallory")]
    for group in (listed, unlisted):
        seed.add_members(org.server, group_dn=group, member_dns=[mallory])

    drift = plan(provider, desired)

    assert kinds(drift) == [
        (ResourceKind.USER_MEMBER, Action.DELETE, (normalize_dn(listed), org.login("mallory")))
    ]
    assert drift.changes[0].destructive
    apply(provider, drift)
    assert normalize_dn(mallory) not in org.members(listed)
    assert normalize_dn(mallory) in org.members(unlisted)
    assert plan(provider, desired).changes == ()


def test_adopted_department_group_only_gets_member_of_links(org: Org) -> None:
    users = org.users("dora")
    departments = f"OU=Departments {org.tag},{org.server.base_dn}"
    seed.add_ous(org.server, dns=[departments])
    finance = build_dn(cn='Finance "Dept", Inc', parent=departments)
    seed.add_group(org.server, dn=finance, cn='Finance "Dept", Inc', members=list(users.values()))
    seed_conn = org.server.connection()
    seed_conn.modify(finance, {"description": [(ldap3.MODIFY_REPLACE, ["Owned by HR"])]})
    seed_conn.unbind()
    desired = org.desired(
        [
            {
                "name": "Finance",
                "dn": finance,
                "description": "ours would be different",
                "grants": [{"account": "*", "role": "ReadOnly"}],
            }
        ]
    )
    provider = org.provider()

    first = plan(provider, desired)

    assert not [c for c in first.changes if c.key == (normalize_dn(finance),)]
    links = [c for c in first.changes if c.kind is ResourceKind.GROUP_MEMBER]
    assert {c.key[1] for c in links} == {normalize_dn(finance)} and len(links) == 2
    apply(provider, first)
    assert org.attribute(finance, "description") == ["Owned by HR"]
    assert org.members(finance) == {normalize_dn(users[org.login("dora")])}
    role = build_dn(cn="aws#dev-pay#ReadOnly#222222222222", parent=org.role_ou)
    assert normalize_dn(finance) in org.members(role)
    again = plan(provider, desired)
    assert again.changes == ()
    adopted = again.names.groups  # the adopted group is read back, by DN, as adopted
    assert normalize_dn(finance) in adopted


def test_dn_special_characters_round_trip(org: Org) -> None:
    users = org.users("eve", "fay")
    departments = f"OU=Departments {org.tag},{org.server.base_dn}"
    seed.add_ous(org.server, dns=[departments])
    odd = '#Dept "A", B+C=D'  # leading #, quote, comma, plus, equals: only DNs adopt these
    adopted = build_dn(cn=odd, parent=departments)
    seed.add_group(org.server, dn=adopted, cn=odd, members=[users[org.login("fay")]])
    accounts = ACCOUNTS.replace("ReadOnly", '"Ops+Eng=1"')
    desired = org.desired(
        [
            {
                "name": "#hash first",
                "grants": [{"account": "*", "role": "Ops+Eng=1"}],
                "members": [org.login("eve")],
            },
            {
                "name": "Dept",
                "dn": adopted,
                "grants": [{"account": "prod-pay", "role": "Admin"}],
                "members": [org.login("eve")],
            },
        ],
        syntax="#{alias}#{role}#{account_id}",
        accounts=accounts,
    )
    provider = org.provider()

    converge(provider, desired)
    read = read_for(provider, desired)
    again = diff(desired=desired, live=read.to_world(), options=DIRECTORY_ONLY)

    assert again.changes == ()
    by_name = {g.name: g for g in read.groups}
    assert set(by_name) == {
        "#prod-pay#Admin#111111111111",
        "#prod-pay#Ops+Eng=1#111111111111",
        "#dev-pay#Ops+Eng=1#222222222222",
        "#hash first",
        odd,
    }
    role = by_name["#dev-pay#Ops+Eng=1#222222222222"]
    assert (role.account_id, role.role_name) == ("222222222222", "Ops+Eng=1")
    assert role.member_groups == {normalize_dn(build_dn(cn="#hash first", parent=org.mgmt_ou))}
    assert by_name["#prod-pay#Admin#111111111111"].member_groups == {normalize_dn(adopted)}
    assert by_name[odd].adopted and by_name[odd].member_users == frozenset({org.login("eve")})
    if org.kind is DirectoryKind.ACTIVE_DIRECTORY:
        dn = build_dn(cn=role.name, parent=org.role_ou)
        assert org.attribute(dn, "sAMAccountName") == ["#dev-pay#Ops_Eng_1#222222222222"]


def test_a_65_character_name_is_rejected_before_any_write(org: Org) -> None:
    long_alias = "a" * 39
    accounts = ACCOUNTS.replace("prod-pay", long_alias)  # aws#<39>#ReadOnly#<12>: 65
    with pytest.raises(AssertionError, match="at most 64"):
        org.desired([], accounts=accounts)
    provider = org.provider()
    read = provider.read(adopted_dns=[], logins=[], group_filter=r"^(?{{role}}x)(?{{accountid}}y)$")
    assert read.groups == () and provider.calls.writes() == 0
    if org.kind is DirectoryKind.ACTIVE_DIRECTORY:  # the server would refuse it too
        seed.add_ous(org.server, dns=[org.role_ou])
        with pytest.raises(Exception, match="invalidAttributeSyntax"):
            seed.add_group(org.server, dn=build_dn(cn="x" * 65, parent=org.role_ou), cn="x" * 65)


def test_prune_deletes_only_inside_the_managed_ous(org: Org) -> None:
    desired = org.desired(
        [{"name": "Gone", "grants": [{"account": "dev-pay", "role": "ReadOnly"}]}]
    )
    provider = org.provider()
    converge(provider, desired)
    no_dev = "".join(line for line in ACCOUNTS.splitlines(True) if "dev-pay" not in line)
    smaller = org.desired([], accounts=no_dev)

    skipped = plan(provider, smaller)
    pruned = plan(provider, smaller, prune=True)

    assert {f.kind for f in skipped.findings} == {FindingKind.PRUNE_SKIPPED}
    deleted = [c for c in pruned.changes if c.kind is ResourceKind.DIRECTORY_GROUP]
    assert {c.before.name for c in deleted if isinstance(c.before, DirectoryGroup)} == {
        "Gone",
        "aws#dev-pay#ReadOnly#222222222222",
    }
    apply(provider, pruned)
    assert plan(provider, smaller, prune=True).changes == ()
    elsewhere = build_dn(cn="Elsewhere", parent=org.server.users_dn)
    group = next(iter(desired.directory_groups.values()))
    outside = Change(
        kind=ResourceKind.DIRECTORY_GROUP,
        action=Action.DELETE,
        key=(normalize_dn(elsewhere),),
        before=DirectoryGroup(dn=elsewhere, name="Elsewhere", role=group.role),
    )
    with pytest.raises(DirectoryRefused, match="not directly in a managed OU"):
        provider.execute(outside)


# --- idempotent steps ----------------------------------------------------------------------


def test_every_step_is_idempotent(org: Org) -> None:
    desired = org.desired(
        [{"name": "Ops", "grants": [{"account": "dev-pay", "role": "ReadOnly"}], "members": []}]
    )
    provider = org.provider()
    steps = plan(provider, desired).changes
    assert [provider.execute(c) for c in steps] == [Outcome.CREATED] * len(steps)
    assert [provider.execute(c) for c in steps] == [Outcome.UNCHANGED] * len(steps)

    ops = normalize_dn(build_dn(cn="Ops", parent=org.mgmt_ou))
    role = normalize_dn(build_dn(cn="aws#dev-pay#ReadOnly#222222222222", parent=org.role_ou))
    link = GroupMember(group_dn=role, member_dn=ops)
    add = Change(kind=ResourceKind.GROUP_MEMBER, action=Action.CREATE, key=link.key, after=link)
    remove = Change(kind=ResourceKind.GROUP_MEMBER, action=Action.DELETE, key=link.key, before=link)
    assert [provider.execute(c) for c in (add, remove, remove, add)] == [
        Outcome.UNCHANGED,
        Outcome.DELETED,
        Outcome.UNCHANGED,
        Outcome.CREATED,
    ]
    assert ops in org.members(build_dn(cn="aws#dev-pay#ReadOnly#222222222222", parent=org.role_ou))


def test_removing_the_last_member_of_a_hand_made_group(org: Org) -> None:
    users = org.users("jo")
    seed.add_ous(org.server, dns=[org.mgmt_ou])
    hand_made = build_dn(cn="Hand made", parent=org.mgmt_ou)
    seed.add_group(org.server, dn=hand_made, cn="Hand made", members=list(users.values()))
    desired = org.desired([{"name": "Hand made", "grants": [], "members": []}])
    provider = org.provider()

    converge(provider, desired)

    assert normalize_dn(users[org.login("jo")]) not in org.members(hand_made)
    assert plan(provider, desired).changes == ()


# --- reading -------------------------------------------------------------------------------


def test_unknown_members_stay_visible(org: Org) -> None:
    users = org.users("kim", "lee")
    desired = org.desired([{"name": "Ops", "grants": [{"account": "dev-pay", "role": "ReadOnly"}]}])
    provider = org.provider()
    converge(provider, desired)
    ops = build_dn(cn="Ops", parent=org.mgmt_ou)
    role = build_dn(cn="aws#dev-pay#ReadOnly#222222222222", parent=org.role_ou)
    other = build_dn(cn=f"Printer {org.tag}", parent=org.server.base_dn)
    object_class = "contact" if org.kind is DirectoryKind.ACTIVE_DIRECTORY else "device"
    seed.add_entries(org.server, entries=[(other, object_class, {"cn": f"Printer {org.tag}"})])
    seed.add_members(org.server, group_dn=ops, member_dns=[users[org.login("kim")], other])
    seed.add_members(org.server, group_dn=role, member_dns=[users[org.login("lee")], other])

    read = read_for(provider, desired)
    drift = diff(desired=desired, live=read.to_world(), options=DIRECTORY_ONLY)

    by_name = {g.name: g for g in read.groups}
    assert by_name["Ops"].member_users == frozenset(
        {org.login("kim")}
    )  # resolved though not listed
    assert normalize_dn(other) in by_name["Ops"].member_groups
    assert {(u.group_dn, u.member_dn) for u in read.unresolved} == {
        (normalize_dn(ops), normalize_dn(other)),
        (normalize_dn(role), normalize_dn(other)),
    }
    assert {f.kind for f in read.findings()} == {FindingKind.UNMANAGED}
    # The role group is authoritative: the user and the stranger are both removed.
    assert sorted(kinds(drift)) == sorted(
        [
            (ResourceKind.GROUP_MEMBER, Action.DELETE, (normalize_dn(role), normalize_dn(other))),
            (ResourceKind.USER_MEMBER, Action.DELETE, (normalize_dn(role), org.login("lee"))),
        ]
    )
    apply(provider, drift)
    assert plan(provider, desired).changes == ()


def test_missing_logins_are_returned_as_data(org: Org) -> None:
    org.users("max")
    provider = org.provider()
    read = provider.read(
        adopted_dns=[],
        logins=[org.login("MAX"), "ghost-" + org.tag],
        group_filter=r"^(?{{role}}x)(?{{accountid}}y)$",
    )
    assert read.missing_logins == {"ghost-" + org.tag}
    assert [u.login for u in read.users] == [org.login("max")]


def test_a_listed_member_missing_from_the_directory_blocks_the_plan_at_its_line(
    org: Org,
) -> None:
    """The live read turns a missing login into a blocking finding that names the file
    and line where the desired state lists it, and the group it was listed in."""
    org.users("alice")
    ghost = "ghost-" + org.tag
    groups: list[dict[str, object]] = [
        {"name": "Ops", "grants": [], "members": [org.login("alice"), ghost]}
    ]
    org.desired(groups)
    (org.root / "groups.yaml").write_text(
        yaml.safe_dump({"management_groups": groups}, sort_keys=False), encoding="utf-8"
    )
    line = 1 + next(
        i
        for i, text in enumerate((org.root / "groups.yaml").read_text().splitlines())
        if ghost in text
    )
    state = load(directory=org.root)
    with org.provider() as provider:
        read = read_live(
            state=state,
            desired=compile_world(state=state),
            providers=Providers(calls=provider.calls, directory=provider),
        )
    [finding] = [f for f in read.findings if f.kind is FindingKind.MISSING_USER]
    assert finding.blocking and finding.subject == f"user {ghost}"
    assert f"groups.yaml:{line}: {ghost!r} (a member of 'Ops')" in finding.message


@pytest.mark.parametrize(("role_groups", "management_groups", "listed"), [(4, 5, 23), (7, 2, 9)])
def test_read_costs_pages_plus_batches(
    org: Org, role_groups: int, management_groups: int, listed: int
) -> None:
    page, batch = 3, 10
    logins = [f"u{i}" for i in range(listed)]
    users = org.users(*logins)
    accounts = "roles:\n" + "".join(f"  R{i}: {{}}\n" for i in range(role_groups))
    accounts += '  Other: {}\naccounts:\n  - {id: "111111111111", alias: acct, roles: ['
    accounts += ", ".join(f"R{i}" for i in range(role_groups)) + "]}\n"
    groups: list[dict[str, object]] = [
        {"name": f"M{i}", "grants": [], "members": [org.login(n) for n in logins]}
        for i in range(management_groups)
    ]
    desired = org.desired(groups, accounts=accounts)
    converge(org.provider(), desired)
    del users

    provider = org.provider(page_size=page, batch_size=batch)
    read = read_for(provider, desired)

    # Group counts here are never a multiple of the page (see directory_read).
    assert role_groups % page and management_groups % page
    assert read.count("search groups") == math.ceil(role_groups / page) + math.ceil(
        management_groups / page
    )
    assert read.count("search users") == math.ceil(listed / batch)
    assert read.count("search members") == 0  # every member was a listed user
    assert read.count("bind") == 1
    assert read.call_count == (
        1
        + math.ceil(role_groups / page)
        + math.ceil(management_groups / page)
        + math.ceil(listed / batch)
    )
    assert len(read.groups) == role_groups + management_groups
    assert all(len(g.member_users or ()) == listed for g in read.groups if g.name.startswith("M"))


def test_bind_failures_and_unreachable_servers_are_clear(org: Org) -> None:
    wrong = DirectoryProvider(
        kind=org.kind,
        role_groups_ou=org.role_ou,
        management_groups_ou=org.mgmt_ou,
        users_base=org.server.users_dn,
        url=org.server.url,
        bind_dn=org.server.bind_dn,
        password="not-the-password-" + org.tag,
    )
    nowhere = DirectoryProvider(
        kind=org.kind,
        role_groups_ou=org.role_ou,
        management_groups_ou=org.mgmt_ou,
        users_base=org.server.users_dn,
        url="ldap://127.0.0.1:1",
        bind_dn=org.server.bind_dn,
        password=org.server.password,
    )
    for provider, expected in ((wrong, "invalid credentials"), (nowhere, "cannot reach")):
        read = provider.read(
            adopted_dns=[], logins=["x"], group_filter=r"(?{{role}}x)(?{{accountid}}y)"
        )
        assert len(read.errors) == 1 and expected in read.errors[0]
        assert (
            "not-the-password" not in read.errors[0] and org.server.password not in read.errors[0]
        )
        assert System.DIRECTORY not in read.to_world().systems  # never diffed half-read
        assert [f.kind for f in read.findings()] == [FindingKind.READ_ERROR]


def test_from_env_and_an_injected_connection_read_the_same(org: Org) -> None:
    org.users("nia")
    desired = org.desired([{"name": "Ops", "grants": [], "members": [org.login("nia")]}])
    converge(org.provider(), desired)
    from engine.spec import DirectorySpec

    spec = DirectorySpec(
        kind=org.kind,
        role_groups_ou=org.role_ou,
        management_groups_ou=org.mgmt_ou,
        users_base=org.server.users_dn,
    )
    env = {
        "LDAP_URL": org.server.url,
        "LDAP_BIND_DN": org.server.bind_dn,
        "LDAP_PASSWORD": org.server.password,
    }
    from_env = DirectoryProvider.from_env(directory=spec, env=env)
    injected = DirectoryProvider(
        kind=org.kind,
        role_groups_ou=org.role_ou,
        management_groups_ou=org.mgmt_ou,
        users_base=org.server.users_dn,
        connection_factory=org.server.connection,
    )
    a, b = read_for(from_env, desired), read_for(injected, desired)
    assert a.groups == b.groups and a.users == b.users and len(a.groups) == 3 + 1
    assert {g.name: g.member_users for g in a.groups}["Ops"] == frozenset({org.login("nia")})


# --- AD only: member ranges ----------------------------------------------------------------


def test_a_group_of_3000_reads_back_completely_through_ranges(
    samba_server: DirectoryServer, tmp_path: Path
) -> None:
    org = Org(server=samba_server, root=tmp_path / "desired", tag=f"t{next(_TAGS)}")
    users = seed.add_users(samba_server, logins=[f"big{org.tag}-{i}" for i in range(3000)])
    desired = org.desired([{"name": "Everyone", "grants": []}])
    provider = org.provider()
    converge(provider, desired)
    everyone = build_dn(cn="Everyone", parent=org.mgmt_ou)
    seed.add_members(samba_server, group_dn=everyone, member_dns=list(users.values()))

    read = read_for(provider, desired)

    group = next(g for g in read.groups if g.name == "Everyone")
    assert group.member_users == frozenset(login.lower() for login in users)
    assert read.count("search groups") == 1 + 1  # one page per OU
    assert read.count("search member range") >= 1  # > 1 request for this group
    assert read.count("search members") == math.ceil(3000 / 100)  # unlisted users resolved
