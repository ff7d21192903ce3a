"""compile_world: the desired YAML becomes exactly the world the spec describes."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.compile import compile_world
from engine.load import load
from engine.model import (
    AppAssignment,
    DirectoryGroup,
    DirectoryKind,
    GroupRole,
    OktaApp,
    OktaAppSettings,
    OktaGroup,
    OktaGroupType,
    Role,
    SamlProvider,
    System,
    World,
    saml_trust_policy,
    trusted_saml_providers,
)
from engine.naming import derive_group_filter

# Real IdP metadata: the loader checks it before anything could upload it.
EXAMPLE_METADATA = Path(__file__).resolve().parents[2] / "desired-state" / "okta-idp-metadata.xml"
METADATA = EXAMPLE_METADATA.read_text(encoding="utf-8")

SETTINGS = """\
settings:
  target: sandbox
  saml_provider: {{name: OKTA{metadata}}}
  directory:
    kind: {kind}
{ous}
  okta: {{app_label: AWS{okta}}}
{extra}
"""

AD_OUS = """\
    role_groups_ou: OU=Role Groups,DC=ex,DC=test
    management_groups_ou: OU=Mgmt,DC=ex,DC=test
    users_base: CN=Users,DC=ex,DC=test"""

CATALOGUE = """\
roles:
  Admin:
    description: Admin access
    managed_policies: [arn:aws:iam::aws:policy/AdministratorAccess]
  ReadOnly:
    managed_policies: [arn:aws:iam::aws:policy/ReadOnlyAccess]
    max_session_duration: 7200
    adopt: true
  Unused: {}
accounts:
  - {id: "111111111111", alias: prod-pay, roles: [Admin, ReadOnly], tags: {env: prod}}
  - {id: "222222222222", alias: dev-pay, roles: [ReadOnly], tags: {env: dev}}
  - id: "333333333333"
    alias: prod-data
    roles: [Admin]
    tags: {env: prod, team: data}
    adopt_roles: [Admin]
"""

GROUPS = """\
management_groups:
  - name: Ops
    description: On call
    grants:
      - {account: prod-pay, role: Admin}
      - {account: "*", role: ReadOnly}
    members: [Alice, bob]
  - name: Auditors
    grants:
      - {account_tags: {env: prod}, role: Admin}
    members: [erin]
  - name: Finance
{finance_dn}    grants:
      - {account: "222222222222", role: ReadOnly}
    members: [Bob, dave]
  - name: Contractors
    grants:
      - {account: prod-data, role: Admin}
  - name: Idle
    grants:
      - {account: dev-pay, role: Admin}
    members: [carol]
"""

FINANCE_DN = "    dn: CN=Finance,OU=Departments,DC=ex,DC=test\n"

DERIVED_FILTER = r"^aws\#[a-z0-9-]+\#(?{{role}}[\w+=,.@\-]+)\#(?{{accountid}}\d{12})$"
DERIVED_PATTERN = (
    "arn:aws:iam::${accountid}:saml-provider/OKTA,arn:aws:iam::${accountid}:role/${role}"
)


def write_org(
    tmp_path: Path,
    *,
    kind: str = "active_directory",
    metadata: bool = True,
    okta: str = "",
    extra: str = "",
    groups: str | None = None,
) -> Path:
    root = tmp_path / "desired"
    root.mkdir()
    (root / "idp.xml").write_text(METADATA, encoding="utf-8")
    (root / "settings.yaml").write_text(
        SETTINGS.format(
            metadata=", metadata_file: idp.xml" if metadata else "",
            kind=kind,
            ous=AD_OUS if kind != "okta" else "",
            okta=okta or f", app_filter: {'okta' if kind == 'okta' else 'active_directory'}",
            extra=extra,
        ),
        encoding="utf-8",
    )
    (root / "accounts.yaml").write_text(CATALOGUE, encoding="utf-8")
    if groups is None:
        groups = GROUPS.replace("{finance_dn}", FINANCE_DN if kind != "okta" else "")
    (root / "groups.yaml").write_text(groups, encoding="utf-8")
    return root


def rg_description(role: str, alias: str, account_id: str) -> str:
    return f"AWS role {role} in {alias} ({account_id}); managed by okta-aws"


def role_group(
    name: str, members: set[str], account_id: str, role: str, alias: str
) -> DirectoryGroup:
    return DirectoryGroup(
        dn=f"CN={name},OU=Role Groups,DC=ex,DC=test",
        name=name,
        role=GroupRole.ROLE,
        description=rg_description(role, alias, account_id),
        member_groups=frozenset(members),
        member_users=frozenset(),
        account_id=account_id,
        role_name=role,
    )


OPS = "cn=ops,ou=mgmt,dc=ex,dc=test"
AUDITORS = "cn=auditors,ou=mgmt,dc=ex,dc=test"
FINANCE = "cn=finance,ou=departments,dc=ex,dc=test"
CONTRACTORS = "cn=contractors,ou=mgmt,dc=ex,dc=test"

ADMIN_POLICY = frozenset({"arn:aws:iam::aws:policy/AdministratorAccess"})
READONLY_POLICY = frozenset({"arn:aws:iam::aws:policy/ReadOnlyAccess"})


def expected_roles() -> list[Role]:
    def trust(account_id: str) -> str:
        return saml_trust_policy(account_id=account_id, provider_name="OKTA")

    return [
        Role("111111111111", "Admin", trust("111111111111"), ADMIN_POLICY, 3600, "Admin access"),
        Role(
            "111111111111", "ReadOnly", trust("111111111111"), READONLY_POLICY, 7200, "", adopt=True
        ),
        Role(
            "222222222222", "ReadOnly", trust("222222222222"), READONLY_POLICY, 7200, "", adopt=True
        ),
        Role(
            "333333333333",
            "Admin",
            trust("333333333333"),
            ADMIN_POLICY,
            3600,
            "Admin access",
            adopt=True,
        ),
    ]


EXPECTED_APP = OktaApp(
    label="AWS",
    settings=OktaAppSettings(
        use_group_mapping=True,
        app_filter="active_directory",
        group_filter=DERIVED_FILTER,
        role_value_pattern=DERIVED_PATTERN,
        session_duration=3600,
        join_all_roles=False,
    ),
)

ALIASES = {"111111111111": "prod-pay", "222222222222": "dev-pay", "333333333333": "prod-data"}


def test_small_active_directory_org_compiles_to_the_expected_world(tmp_path: Path) -> None:
    world = compile_world(state=load(directory=write_org(tmp_path)))
    expected = World.build(
        saml_providers=[SamlProvider(a, "OKTA", METADATA) for a in ALIASES],
        roles=expected_roles(),
        directory_groups=[
            role_group(
                "aws#prod-pay#Admin#111111111111",
                {OPS, AUDITORS},
                "111111111111",
                "Admin",
                "prod-pay",
            ),
            role_group(
                "aws#prod-pay#ReadOnly#111111111111", {OPS}, "111111111111", "ReadOnly", "prod-pay"
            ),
            role_group(
                "aws#dev-pay#ReadOnly#222222222222",
                {OPS, FINANCE},
                "222222222222",
                "ReadOnly",
                "dev-pay",
            ),
            role_group(
                "aws#prod-data#Admin#333333333333",
                {AUDITORS, CONTRACTORS},
                "333333333333",
                "Admin",
                "prod-data",
            ),
            DirectoryGroup(
                "CN=Ops,OU=Mgmt,DC=ex,DC=test",
                "Ops",
                GroupRole.MANAGEMENT,
                description="On call",
                member_users=frozenset({"alice", "bob"}),
            ),
            DirectoryGroup(
                "CN=Auditors,OU=Mgmt,DC=ex,DC=test",
                "Auditors",
                GroupRole.MANAGEMENT,
                member_users=frozenset({"erin"}),
            ),
            DirectoryGroup(
                "CN=Finance,OU=Departments,DC=ex,DC=test",
                "Finance",
                GroupRole.MANAGEMENT,
                member_users=frozenset({"bob", "dave"}),
                adopted=True,
            ),
            DirectoryGroup(
                "CN=Contractors,OU=Mgmt,DC=ex,DC=test",
                "Contractors",
                GroupRole.MANAGEMENT,
                member_users=None,
            ),
            DirectoryGroup(
                "CN=Idle,OU=Mgmt,DC=ex,DC=test",
                "Idle",
                GroupRole.MANAGEMENT,
                member_users=frozenset({"carol"}),
            ),
        ],
        okta_app=EXPECTED_APP,
        app_assignments=[
            AppAssignment("active_directory", name)
            for name in ("Ops", "Auditors", "Finance", "Contractors")
        ],
        accounts=ALIASES,
        systems=set(System),
        account_aliases=ALIASES,
        directory_kind=DirectoryKind.ACTIVE_DIRECTORY,
    )
    assert world == expected


def test_roles_trust_the_provider_of_their_own_account(tmp_path: Path) -> None:
    world = compile_world(state=load(directory=write_org(tmp_path)))
    for role in world.roles.values():
        assert trusted_saml_providers(role.trust_policy) == {
            f"arn:aws:iam::{role.account_id}:saml-provider/OKTA"
        }


@pytest.mark.parametrize(
    ("in_spec", "argument", "expected"),
    [
        (True, None, METADATA),  # from the file
        (True, "<fetched/>", "<fetched/>"),  # the caller's document wins
        (False, "<fetched/>", "<fetched/>"),  # no file: fetched from the Okta app
        (False, None, ""),  # neither: the caller must fill it in
    ],
)
def test_saml_metadata_source(
    tmp_path: Path, in_spec: bool, argument: str | None, expected: str
) -> None:
    state = load(directory=write_org(tmp_path, metadata=in_spec))
    world = compile_world(state=state, metadata=argument)
    assert {p.metadata for p in world.saml_providers.values()} == {expected}
    assert len(world.saml_providers) == 3


def _grant_org(grants: str) -> str:
    return f"management_groups:\n  - name: G\n    grants:\n{grants}    members: [u]\n"


@pytest.mark.parametrize(
    ("grants", "expected_slots"),
    [
        ("      - {account: prod-pay, role: Admin}\n", {("111111111111", "Admin")}),
        ("      - {account: '111111111111', role: Admin}\n", {("111111111111", "Admin")}),
        (
            "      - {account: '*', role: ReadOnly}\n",
            {("111111111111", "ReadOnly"), ("222222222222", "ReadOnly")},
        ),
        (
            "      - {account: '*', role: Admin}\n",
            {("111111111111", "Admin"), ("333333333333", "Admin")},
        ),
        (
            "      - {account_tags: {env: prod}, role: Admin}\n",
            {("111111111111", "Admin"), ("333333333333", "Admin")},
        ),
        (
            "      - {account_tags: {env: prod, team: data}, role: Admin}\n",
            {("333333333333", "Admin")},
        ),
        ("      - {account_tags: {env: prod}, role: ReadOnly}\n", {("111111111111", "ReadOnly")}),
        ("      - {account_tags: {env: qa}, role: Admin}\n", set()),
        # An account without the role, or an unknown account: nothing (validation reports).
        ("      - {account: dev-pay, role: Admin}\n", set()),
        ("      - {account: nowhere, role: Admin}\n", set()),
        # A role missing from the catalogue is never compiled.
        ("      - {account: '*', role: Unused}\n", set()),
        # Overlapping grants reach each slot once.
        (
            "      - {account: '*', role: Admin}\n      - {account: prod-pay, role: Admin}\n",
            {("111111111111", "Admin"), ("333333333333", "Admin")},
        ),
    ],
)
def test_grants_expand_to_accounts_that_have_the_role(
    tmp_path: Path, grants: str, expected_slots: set[tuple[str, str]]
) -> None:
    world = compile_world(state=load(directory=write_org(tmp_path, groups=_grant_org(grants))))
    g_dn = "cn=g,ou=mgmt,dc=ex,dc=test"
    reached = {
        (group.account_id, group.role_name)
        for group in world.directory_groups.values()
        if g_dn in group.member_groups
    }
    assert reached == expected_slots
    # Assigned to the app iff some grant reaches a role.
    assert (("active_directory", "g") in world.app_assignments) == bool(expected_slots)


def test_role_groups_exist_for_every_slot_even_without_grants(tmp_path: Path) -> None:
    world = compile_world(state=load(directory=write_org(tmp_path, groups="")))
    role_groups = {g.name for g in world.directory_groups.values() if g.role is GroupRole.ROLE}
    assert role_groups == {
        "aws#prod-pay#Admin#111111111111",
        "aws#prod-pay#ReadOnly#111111111111",
        "aws#dev-pay#ReadOnly#222222222222",
        "aws#prod-data#Admin#333333333333",
    }
    assert all(not g.member_groups for g in world.directory_groups.values())
    assert not world.app_assignments


def test_custom_naming_and_okta_settings(tmp_path: Path) -> None:
    extra = (
        '  role_group_name: "AWS_{account_id}_{role}"\n'
        '  role_group_description: "{role}@{alias}/{account_id}"\n'
    )
    okta = (
        ", app_filter: 'okta,active_directory', session_duration: 7200, join_all_roles: true,"
        " role_value_pattern: 'arn:aws:iam::${accountid}:saml-provider/X,"
        "arn:aws:iam::${accountid}:role/${role}'"
    )
    state = load(directory=write_org(tmp_path, extra=extra, okta=okta))
    world = compile_world(state=state)
    assert world.okta_app == OktaApp(
        label="AWS",
        settings=OktaAppSettings(
            use_group_mapping=True,
            app_filter="active_directory,okta",
            group_filter=derive_group_filter(syntax="AWS_{account_id}_{role}"),
            role_value_pattern=(
                "arn:aws:iam::${accountid}:saml-provider/X,arn:aws:iam::${accountid}:role/${role}"
            ),
            session_duration=7200,
            join_all_roles=True,
        ),
    )
    group = world.directory_groups["cn=aws_333333333333_admin,ou=role groups,dc=ex,dc=test"]
    assert (group.name, group.description) == (
        "AWS_333333333333_Admin",
        "Admin@prod-data/333333333333",
    )
    assert group.dn == "CN=AWS_333333333333_Admin,OU=Role Groups,DC=ex,DC=test"


def test_explicit_group_filter_is_kept_verbatim(tmp_path: Path) -> None:
    okta_filter = r"^aws#\S+#(?{{role}}[\w\-]+)#(?{{accountid}}\d+)$"
    okta = f", app_filter: active_directory, group_filter: '{okta_filter}'"
    world = compile_world(state=load(directory=write_org(tmp_path, okta=okta)))
    assert world.okta_app is not None
    assert world.okta_app.settings.group_filter == okta_filter


def test_names_needing_dn_escapes_are_escaped(tmp_path: Path) -> None:
    groups = (
        "management_groups:\n  - name: '#1 Team'\n"
        "    grants: [{account: prod-pay, role: Admin}]\n    members: [u]\n"
    )
    world = compile_world(state=load(directory=write_org(tmp_path, groups=groups)))
    mgmt = [g for g in world.directory_groups.values() if g.role is GroupRole.MANAGEMENT]
    assert [(g.name, g.dn) for g in mgmt] == [("#1 Team", r"CN=\#1 Team,OU=Mgmt,DC=ex,DC=test")]
    admin = world.directory_groups[
        "cn=aws#prod-pay#admin#111111111111,ou=role groups,dc=ex,dc=test"
    ]
    assert admin.member_groups == {r"cn=\#1 team,ou=mgmt,dc=ex,dc=test"}


def okta_group(
    name: str, members: set[str] | None, description: str = "", *, via: set[str] | None = None
) -> OktaGroup:
    return OktaGroup(
        name=name,
        source="okta",
        type=OktaGroupType.OKTA_GROUP,
        description=description,
        members=None if members is None else frozenset(members),
        member_groups=frozenset(via or ()),
    )


def test_kind_okta_compiles_to_okta_groups_with_flattened_members(tmp_path: Path) -> None:
    world = compile_world(state=load(directory=write_org(tmp_path, kind="okta")))
    assert not world.directory_groups
    assert world.directory_kind is DirectoryKind.OKTA
    assert dict(world.okta_groups) == {
        g.key: g
        for g in [
            okta_group(
                "aws#prod-pay#Admin#111111111111",
                {"alice", "bob", "erin"},
                rg_description("Admin", "prod-pay", "111111111111"),
                via={"Ops", "Auditors"},
            ),
            okta_group(
                "aws#prod-pay#ReadOnly#111111111111",
                {"alice", "bob"},
                rg_description("ReadOnly", "prod-pay", "111111111111"),
                via={"Ops"},
            ),
            okta_group(
                "aws#dev-pay#ReadOnly#222222222222",
                {"alice", "bob", "dave"},
                rg_description("ReadOnly", "dev-pay", "222222222222"),
                via={"Ops", "Finance"},
            ),
            # Contractors' members are left to its owners: the listed ones (Auditors')
            # are known here, Contractors' are added from Okta by the diff (issue 16:
            # this role group was unmanaged, and erin's grant silently vanished).
            okta_group(
                "aws#prod-data#Admin#333333333333",
                {"erin"},
                rg_description("Admin", "prod-data", "333333333333"),
                via={"Auditors", "Contractors"},
            ),
            okta_group("Ops", {"alice", "bob"}, "On call"),
            okta_group("Auditors", {"erin"}),
            okta_group("Finance", {"bob", "dave"}),
            okta_group("Contractors", None),
            okta_group("Idle", {"carol"}),
        ]
    }
    assert world.okta_app is not None
    assert world.okta_app.settings.app_filter == "okta"
    assert set(world.app_assignments) == {
        ("okta", "ops"),
        ("okta", "auditors"),
        ("okta", "finance"),
        ("okta", "contractors"),
    }
    # AWS is the same whatever the directory.
    assert len(world.roles) == 4 and len(world.saml_providers) == 3


def test_role_group_without_grants_has_no_members_with_kind_okta(tmp_path: Path) -> None:
    world = compile_world(state=load(directory=write_org(tmp_path, kind="okta", groups="")))
    role_groups = [g for g in world.okta_groups.values() if g.name.startswith("aws#")]
    assert len(role_groups) == 4
    assert all(g.members == frozenset() for g in role_groups)


def test_example_desired_state_compiles() -> None:
    root = Path(__file__).resolve().parents[2] / "desired-state"
    state = load(directory=root)
    world = compile_world(state=state)
    slots = sum(len(a.roles) for a in state.accounts)
    assert len(world.roles) == slots
    assert len(world.saml_providers) == len(state.accounts)
    role_groups = [g for g in world.directory_groups.values() if g.role is GroupRole.ROLE]
    assert len(role_groups) == slots
    adopted = {g.name for g in world.directory_groups.values() if g.adopted}
    assert adopted == {g.name for g in state.management_groups if g.dn is not None}
    adopt_roles = {
        (a.id, r.lower())
        for a in state.accounts
        for r in a.roles
        if r in a.adopt_roles or any(c.adopt for c in state.roles if c.name == r)
    }
    assert {k for k, r in world.roles.items() if r.adopt} == adopt_roles
