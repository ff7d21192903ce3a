"""Fast checks of the directory provider's pure parts and of its filters (ldap3 MOCK_SYNC).

Behaviour against real servers is in test_directory_end_to_end.py; here: DN building,
batching, filter escaping, flavor attributes and connection settings.
"""

from __future__ import annotations

import math

import ldap3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ldap3.utils.dn import safe_dn

from engine.dn import build_dn, normalize_dn, rdn_value
from engine.model import DirectoryKind, GroupRole
from engine.plan import Action, Change, Outcome, ResourceKind
from engine.providers.directory import DirectoryProvider
from engine.providers.directory_flavor import AD, LDAP, PLACEHOLDER_MEMBER, flavor_for
from engine.providers.directory_ldap import DirectoryConfigError, LdapSettings
from engine.providers.directory_read import Layout, _common_parent, wire_dn

BASE = "dc=example,dc=test"
PEOPLE = f"ou=people,{BASE}"
ROLE_OU = f"ou=Role Groups,{BASE}"
MGMT_OU = f"ou=Mgmt Groups,{BASE}"
FILTER = r"^aws\#[a-z0-9-]+\#(?{{role}}[\w+=,.@\-]+)\#(?{{accountid}}\d{12})$"

cn_text = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    min_size=1,
    max_size=30,
).filter(lambda s: s.strip() == s and s.strip())


@given(cn=cn_text, parent=st.sampled_from(["OU=A b,DC=x,DC=y", "ou=x\\2Cy, dc=z", "O=q"]))
def test_wire_dn_is_accepted_by_ldap3_and_names_the_same_entry(cn: str, parent: str) -> None:
    dn = build_dn(cn=cn, parent=parent)
    wire = wire_dn(dn)
    # ldap3 accepts it (it may add redundant escapes) and it names the same entry.
    assert normalize_dn(safe_dn(wire)) == normalize_dn(wire) == normalize_dn(dn)
    assert rdn_value(wire) == cn  # the value's case is kept (only types are lowered)


@pytest.mark.parametrize(
    ("dns", "parent"),
    [
        (["cn=a,ou=x,dc=t", "cn=b,ou=x,dc=t"], "ou=x,dc=t"),
        (["CN=a,OU=X,DC=t", "cn=b,ou=y,dc=T"], "dc=t"),
        (["cn=a,ou=x,dc=t", "cn=b,dc=u"], ""),
        (["cn=a,ou=x,dc=t", "ou=x,dc=t"], "dc=t"),  # strictly below: never a batch DN itself
        (["cn=a\\,b,ou=x,dc=t", "cn=c,ou=x,dc=t"], "ou=x,dc=t"),
    ],
)
def test_common_parent(dns: list[str], parent: str) -> None:
    assert _common_parent(dns) == parent


@pytest.mark.parametrize(
    ("cn", "attempt", "sam"),
    [
        ("Ops", 0, "Ops"),
        ('a"b[c]d:e;f|g=h+i*j?k<l>m/n\\o,p', 0, "a_b_c_d_e_f_g_h_i_j_k_l_m_n_o_p"),
        ("aws#prod#Admin#111111111111", 2, "aws#prod#Admin#111111111111_3"),
    ],
)
def test_ad_group_attributes(cn: str, attempt: int, sam: str) -> None:
    attributes = AD.group_attributes(cn=cn, description="", attempt=attempt)
    assert attributes == {"cn": cn, "sAMAccountName": sam, "groupType": -2147483646}


def test_ldap_group_attributes_carry_the_placeholder() -> None:
    assert LDAP.group_attributes(cn="Ops", description="On call") == {
        "cn": "Ops",
        "description": "On call",
        "member": [PLACEHOLDER_MEMBER],
    }
    with pytest.raises(ValueError, match="no directory"):
        flavor_for(DirectoryKind.OKTA)


@given(login=cn_text)
def test_seeded_people_are_named_as_each_server_names_them(login: str) -> None:
    """AD names a person by cn (as `build_dn` writes it), LDAP by uid, its login; either
    DN parses back to the login under the same parent."""
    assert AD.user_dn(login=login, parent=PEOPLE) == build_dn(cn=login, parent=PEOPLE)
    ldap_dn = LDAP.user_dn(login=login, parent=PEOPLE)
    assert ldap_dn.startswith("uid=")
    for dn in (ldap_dn, AD.user_dn(login=login, parent=PEOPLE)):
        assert rdn_value(dn) == login
        assert normalize_dn(dn).endswith(normalize_dn(PEOPLE))


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({}, "LDAP_URL is not set"),
        ({"LDAP_URL": "http://dc1"}, "must start with ldap://"),
        ({"LDAP_URL": "ldaps://dc1", "LDAP_START_TLS": "true"}, "ldaps:// is TLS already"),
        ({"LDAP_URL": "ldap://dc1", "LDAP_START_TLS": "maybe"}, "true or false"),
    ],
)
def test_settings_from_env_refuse_bad_values(env: dict[str, str], error: str) -> None:
    with pytest.raises(DirectoryConfigError, match=error):
        LdapSettings.from_env(env)


def test_settings_from_env_never_show_the_password() -> None:
    settings = LdapSettings.from_env(
        {
            "LDAP_URL": "ldap://dc1",
            "LDAP_BIND_DN": "cn=admin",
            "LDAP_PASSWORD": "s3cret-value",
            "LDAP_START_TLS": "TRUE",
            "LDAP_CA_FILE": "/etc/ca.pem",
        }
    )
    assert (settings.start_tls, settings.ca_file, settings.password) == (
        True,
        "/etc/ca.pem",
        "s3cret-value",
    )
    assert "s3cret" not in repr(settings) and "s3cret" not in settings.describe()


def test_layout_knows_which_ou_a_dn_sits_directly_in() -> None:
    layout = Layout.of(role_groups_ou=ROLE_OU, management_groups_ou=MGMT_OU, users_base=PEOPLE)
    assert layout.managed_ou_of(f"CN=x,OU=ROLE GROUPS,{BASE}") == ROLE_OU
    assert layout.managed_ou_of(f"cn=x,ou=sub,{ROLE_OU}") is None
    assert layout.managed_ou_of(ROLE_OU) is None
    shared = Layout.of(role_groups_ou=ROLE_OU, management_groups_ou=ROLE_OU, users_base=PEOPLE)
    assert shared.managed_ous == (ROLE_OU,)


# --- MOCK_SYNC: filters and batching ---------------------------------------------------------


def mock_connection(users: list[str]) -> ldap3.Connection:
    server = ldap3.Server("mock", get_info=ldap3.NONE)
    conn = ldap3.Connection(server, client_strategy=ldap3.MOCK_SYNC)
    for dn in (BASE, PEOPLE, ROLE_OU, MGMT_OU):
        conn.strategy.add_entry(dn, {"objectClass": ["organizationalUnit"]})
    for login in users:
        conn.strategy.add_entry(
            f"uid={login},{PEOPLE}",
            {"objectClass": ["inetOrgPerson"], "uid": login, "cn": login, "sn": login},
        )
    conn.bind()
    return conn


def mock_provider(conn: ldap3.Connection, *, batch_size: int = 100) -> DirectoryProvider:
    return DirectoryProvider(
        kind=DirectoryKind.LDAP,
        role_groups_ou=ROLE_OU,
        management_groups_ou=MGMT_OU,
        users_base=PEOPLE,
        connection_factory=lambda: conn,
        batch_size=batch_size,
    )


@pytest.mark.parametrize(("listed", "batch"), [(1, 100), (7, 2), (10, 5)])
def test_users_are_looked_up_in_batches(listed: int, batch: int) -> None:
    logins = [f"user{i}" for i in range(listed)]
    provider = mock_provider(mock_connection([*logins, "other"]), batch_size=batch)
    read = provider.read(adopted_dns=[], logins=[*logins, "ghost"], group_filter=FILTER)
    assert read.errors == ()
    assert [u.login for u in read.users] == sorted(logins)
    assert read.missing_logins == {"ghost"}
    assert read.count("search users") == math.ceil((listed + 1) / batch)


def test_logins_are_escaped_in_filters() -> None:
    provider = mock_provider(mock_connection(["abc", "a*", "x(y)"]))
    read = provider.read(adopted_dns=[], logins=["a*", "x(y)", "*"], group_filter=FILTER)
    assert read.errors == ()
    assert sorted(u.login for u in read.users) == ["a*", "x(y)"]  # `a*` never matches abc
    assert read.missing_logins == {"*"}


def test_mock_round_trip_of_a_created_group() -> None:
    conn = mock_connection(["alice"])
    provider = mock_provider(conn)
    provider.read(adopted_dns=[], logins=["alice"], group_filter=FILTER)
    name = "aws#prod#Admin#111111111111"
    from engine.model import DirectoryGroup, UserMember

    group = DirectoryGroup(dn=build_dn(cn=name, parent=ROLE_OU), name=name, role=GroupRole.ROLE)
    create = Change(
        kind=ResourceKind.DIRECTORY_GROUP, action=Action.CREATE, key=(group.key,), after=group
    )
    member = UserMember(group=group.key, login="alice")
    add = Change(kind=ResourceKind.USER_MEMBER, action=Action.CREATE, key=member.key, after=member)
    assert provider.execute(create) is Outcome.CREATED
    assert provider.execute(add) is Outcome.CREATED
    read = provider.read(adopted_dns=[], logins=["alice"], group_filter=FILTER)
    assert [(g.name, g.account_id, g.role_name, g.member_users) for g in read.groups] == [
        (name, "111111111111", "Admin", frozenset({"alice"}))
    ]
