"""engine.dn: the DNs we build, parse and compare must agree with what servers return."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.dn import (
    InvalidDnError,
    build_dn,
    dn_is_under,
    escape_rdn_value,
    normalize_dn,
    parent_dn,
    parse_dn,
    parse_rdns,
    rdn_value,
)

OU = "OU=AWS Role Groups,DC=example,DC=test"
NAME = "#aws#a,b+c#Admin#111111111111"


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("aws#prod#Admin#111111111111", "aws#prod#Admin#111111111111"),
        ("#lead", "\\#lead"),
        ("a,b+c", "a\\,b\\+c"),
        ('q"<>;=\\', 'q\\"\\<\\>\\;\\=\\\\'),
        (" both ", "\\ both\\ "),
        (" ", "\\ "),
        ("in side", "in side"),
        ("nul\x00", "nul\\00"),
        ("line\nfeed", "line\\0Afeed"),
        ("ünïcødé", "ünïcødé"),
        ("", ""),
    ],
)
def test_escape_rdn_value(value: str, escaped: str) -> None:
    assert escape_rdn_value(value) == escaped


@pytest.mark.parametrize(
    ("dn", "expected"),
    [
        # What Samba 4.17 returned for the group we created (every '#' escaped).
        (
            "CN=\\#aws\\#a\\,b\\+c\\#Admin\\#111111111111,OU=AWS Role Groups,DC=example,DC=test",
            (("cn", NAME), ("ou", "AWS Role Groups"), ("dc", "example"), ("dc", "test")),
        ),
        # What slapd 2.5 returned for the same group (hex escapes).
        (
            "cn=\\23aws#a\\2Cb\\2Bc#Admin#111111111111,ou=AWS Role Groups,dc=example,dc=test",
            (("cn", NAME), ("ou", "AWS Role Groups"), ("dc", "example"), ("dc", "test")),
        ),
        ("cn = a , ou = b c ", (("cn", "a"), ("ou", "b c"))),
        ("cn=\\C3\\BCx\\20", (("cn", "üx "),)),
        ("cn=a\\ \\ ,dc=x", (("cn", "a  "), ("dc", "x"))),
        ("cn=q\\22u\\3Bo\\3D\\5C\\00", (("cn", 'q"u;o=\\\x00'),)),
        ("CN=x,commonName=y,2.5.4.11=z", (("cn", "x"), ("cn", "y"), ("ou", "z"))),
        ("cn=#04024869,dc=x", (("cn", "Hi"), ("dc", "x"))),
        ("cn=a+uid=b,dc=x", (("cn", "a"), ("uid", "b"), ("dc", "x"))),
        ("", ()),
    ],
)
def test_parse_dn(dn: str, expected: tuple[tuple[str, str], ...]) -> None:
    assert parse_dn(dn) == expected


def test_parse_rdns_keeps_multi_valued_rdns_together() -> None:
    assert parse_rdns("cn=a+uid=b,dc=x") == ((("cn", "a"), ("uid", "b")), (("dc", "x"),))


@pytest.mark.parametrize(
    "dn",
    [
        "cn",
        "=a",
        "cn=a,",
        "cn=a,,dc=b",
        "cn=a\\",
        "1cn=a",
        "c n=a",
        "cn=\\C3",
        "cn=#zz",
        "cn=#0402",
    ],
)
def test_parse_dn_rejects_garbage(dn: str) -> None:
    with pytest.raises(InvalidDnError):
        parse_dn(dn)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (
            build_dn(cn=NAME, parent=OU),
            "CN=\\#aws\\#a\\,b\\+c\\#Admin\\#111111111111,OU=AWS Role Groups,DC=example,DC=test",
        ),
        (
            build_dn(cn=NAME, parent=OU),
            "cn=\\23aws#a\\2Cb\\2Bc#admin#111111111111,ou=aws role groups,dc=EXAMPLE,dc=test",
        ),
        ("CN=Straße,DC=x", "cn=STRASSE,dc=X"),
        ("cn=e\u0301,dc=x", "cn=\u00e9,dc=x"),  # decomposed vs composed é
        ("commonName=a, dc=x", "cn=a,dc=x"),
        ("uid=b+cn=a,dc=x", "CN=A+UID=B,DC=X"),
    ],
)
def test_normalize_dn_equates_spellings(left: str, right: str) -> None:
    assert normalize_dn(left) == normalize_dn(right)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("cn=a\\,ou=b,dc=x", "cn=a,ou=b,dc=x"),
        ("cn=a b,dc=x", "cn=ab,dc=x"),
        ("cn=a,dc=x", "cn=a,dc=y"),
        ("cn=a+uid=b,dc=x", "cn=a,uid=b,dc=x"),
        ("cn=\\ a,dc=x", "cn=a,dc=x"),
    ],
)
def test_normalize_dn_keeps_different_dns_apart(left: str, right: str) -> None:
    assert normalize_dn(left) != normalize_dn(right)


def test_normalize_dn_canonical_form() -> None:
    dn = "CN=\\23AWS\\2Cx ,  OU = AWS Role Groups,DC=Example,DC=Test"
    assert normalize_dn(dn) == "cn=\\#aws\\,x,ou=aws role groups,dc=example,dc=test"


@pytest.mark.parametrize(
    ("dn", "base", "under"),
    [
        (
            "CN=g,OU=AWS Role Groups,DC=example,DC=test",
            "ou=aws role groups,dc=example,dc=test",
            True,
        ),
        ("CN=g,OU=Sub,OU=AWS Role Groups,DC=example,DC=test", OU, True),
        (OU, OU, False),
        ("CN=g,OU=AWS Role Groups Old,DC=example,DC=test", OU, False),
        ("CN=OU\\=AWS Role Groups\\,DC\\=example\\,DC\\=test", OU, False),
        ("DC=example,DC=test", OU, False),
        ("CN=g,DC=test", "", True),
    ],
)
def test_dn_is_under(dn: str, base: str, under: bool) -> None:
    assert dn_is_under(dn, base=base) is under


@pytest.mark.parametrize(
    ("dn", "value", "parent"),
    [
        (
            "CN=\\#aws\\#a\\,b\\+c\\#Admin\\#1,OU=AWS Role Groups,DC=example,DC=test",
            "#aws#a,b+c#Admin#1",
            "ou=AWS Role Groups,dc=example,dc=test",
        ),
        ("cn=x,ou=a\\2Cb,dc=t", "x", "ou=a\\,b,dc=t"),
        ("dc=test", "test", ""),
    ],
)
def test_rdn_value_and_parent(dn: str, value: str, parent: str) -> None:
    assert rdn_value(dn) == value
    assert parent_dn(dn) == parent


@pytest.mark.parametrize(("cn", "parent"), [("", OU), ("x", ""), ("x", "not a dn")])
def test_build_dn_rejects(cn: str, parent: str) -> None:
    with pytest.raises(InvalidDnError):
        build_dn(cn=cn, parent=parent)


def test_build_dn_escapes_only_where_needed() -> None:
    assert build_dn(cn=NAME, parent=OU) == f"CN=\\#aws#a\\,b\\+c#Admin#111111111111,{OU}"


# Any text a group name could hold, DN specials and spaces included; no lone surrogates
# (they cannot be sent over LDAP at all).
values = st.text(
    alphabet=st.one_of(
        st.sampled_from('#,+"\\<>;= \x00'),
        st.characters(exclude_categories=["Cs"]),
    ),
    min_size=1,
    max_size=40,
)
parents = st.sampled_from([OU, "ou=people,dc=example,dc=test", "DC=test", "O=a\\,b+C=de"])


def _hex_everything(value: str) -> str:
    """The most unusual legal spelling: every byte as a hex escape."""
    return "".join(f"\\{byte:02x}" for byte in value.encode())


@given(value=values, parent=parents)
def test_build_then_parse_round_trips(value: str, parent: str) -> None:
    dn = build_dn(cn=value, parent=parent)
    assert parse_dn(dn)[0] == ("cn", value)
    assert rdn_value(dn) == value
    assert normalize_dn(parent_dn(dn)) == normalize_dn(parent)
    assert dn_is_under(dn, base=parent)


@given(value=values, parent=parents)
def test_normalize_is_idempotent_and_spelling_blind(value: str, parent: str) -> None:
    built = normalize_dn(build_dn(cn=value, parent=parent))
    assert normalize_dn(built) == built
    assert normalize_dn(f"commonName={_hex_everything(value)} , {parent}") == built


@given(
    value=st.text(alphabet=st.sampled_from("abcXYZéÉøØß#,+ =\\"), min_size=1, max_size=30),
    parent=parents,
)
def test_normalize_is_case_insensitive(value: str, parent: str) -> None:
    lower = normalize_dn(build_dn(cn=value.lower(), parent=parent.lower()))
    assert normalize_dn(build_dn(cn=value.upper(), parent=parent.upper())) == lower
