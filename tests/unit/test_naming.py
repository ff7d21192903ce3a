"""Role-group naming and Okta's string rules: what Okta would map, we predict."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from engine import naming
from engine.naming import NamingError, RoleRef

ALIASES = st.from_regex(naming.ALIAS_RE, fullmatch=True)
ROLES = st.from_regex(re.compile(r"[A-Za-z0-9_+=,.@-]{1,64}"), fullmatch=True)
ACCOUNT_IDS = st.from_regex(re.compile(r"[0-9]{12}"), fullmatch=True)
# Delimiters that can appear in neither an alias nor an IAM role name, so a syntax built
# from them is unambiguous.
DELIMITERS = st.sampled_from(["#", "|", ":", ";", "/", " ", "~", "!", "%", "&", "$"])
PREFIXES = st.sampled_from(["aws", "AWS", "iam", "okta-aws", "x"])


@st.composite
def syntaxes(draw: st.DrawFn) -> str:
    """A role-group syntax: a prefix and the placeholders in any order, delimited."""
    delimiter = draw(DELIMITERS)
    fields = draw(st.permutations(["alias", "role", "account_id"]))
    if draw(st.booleans()):
        fields = [f for f in fields if f != "alias"]
    parts = [draw(PREFIXES)] + ["{" + f + "}" for f in fields]
    return delimiter.join(parts)


def test_default_syntax_renders_the_seed_name() -> None:
    name = naming.render_role_group_name(
        syntax=naming.DEFAULT_ROLE_GROUP_NAME,
        alias="prod-payments",
        role="Admin",
        account_id="111111111111",
    )
    assert name == "aws#prod-payments#Admin#111111111111"


def test_default_filter_is_anchored_okta_dialect() -> None:
    pattern = naming.derive_group_filter(syntax=naming.DEFAULT_ROLE_GROUP_NAME)
    assert pattern == (r"^aws\#[a-z0-9-]+\#(?{{role}}[\w+=,.@\-]+)\#(?{{accountid}}\d{12})$")


def test_okta_documented_filter_translates_and_matches() -> None:
    okta_default = r"^aws\#\S+\#(?{{role}}[\w\-]+)\#(?{{accountid}}\d+)$"
    compiled = naming.compile_group_filter(okta_default)
    assert naming.parse_group_name(
        name="aws#prod-payments#Admin#111111111111", group_filter=compiled
    ) == RoleRef(account_id="111111111111", role="Admin")
    # Okta's own default cannot capture `+=,.@`, which IAM allows: such a role never maps.
    assert naming.parse_group_name(name="aws#p#Ad.min#111111111111", group_filter=compiled) is None


@pytest.mark.parametrize(
    ("okta", "python"),
    [
        ("(?{{role}}x)", "(?P<role>x)"),
        ("a(?{{accountid}}\\d+)_(?{{role}}.+)", "a(?P<accountid>\\d+)_(?P<role>.+)"),
        ("no groups", "no groups"),
    ],
)
def test_dialect_translation_both_ways(okta: str, python: str) -> None:
    assert naming.okta_to_python(okta) == python
    assert naming.python_to_okta(python) == okta


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(?{{role}}[", "not a valid regex"),
        ("^aws#(?{{role}}\\w+)$", "must capture (?{{accountid}}…)"),
        ("^aws#(?{{accountid}}\\d+)$", "must capture (?{{role}}…)"),
    ],
)
def test_bad_group_filters_are_refused(pattern: str, message: str) -> None:
    with pytest.raises(NamingError, match=re.escape(message)):
        naming.compile_group_filter(pattern)


@pytest.mark.parametrize(
    ("syntax", "message"),
    [
        ("aws#{alias}#{account_id}", "must contain {role}"),
        ("aws#{alias}#{role}", "must contain {account_id}"),
        ("aws#{alias}#{role}#{account_id}#{env}", "unknown placeholder(s) {env}"),
        ("aws#{role}#{role}#{account_id}", "repeats role"),
        ("aws#{role#{account_id}", "malformed template"),
    ],
)
def test_bad_syntaxes_are_refused(syntax: str, message: str) -> None:
    with pytest.raises(NamingError, match=re.escape(message)):
        naming.check_role_group_syntax(syntax)


def test_role_value_pattern_expands_to_provider_and_role() -> None:
    pattern = naming.derive_role_value_pattern(saml_provider_name="OKTA")
    value = naming.expand_role_value(pattern=pattern, account_id="111111111111", role="Admin")
    assert value == naming.RoleValue(
        provider_arn="arn:aws:iam::111111111111:saml-provider/OKTA",
        role_arn="arn:aws:iam::111111111111:role/Admin",
    )
    naming.check_role_value_pattern(pattern)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("arn:aws:iam::${accountid}:role/${role}", "must expand to"),
        (
            "arn:aws:iam::123456789012:saml-provider/OKTA,arn:aws:iam::1:role/${role}",
            "${accountid}",
        ),
        ("arn:aws:iam::${accountid}:saml-provider/OKTA", "${role}"),
    ],
)
def test_bad_role_value_patterns_are_refused(pattern: str, message: str) -> None:
    with pytest.raises(NamingError, match=re.escape(message)):
        naming.check_role_value_pattern(pattern)


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        ("arn:aws:iam::111111111111:role/Admin", ("111111111111", "Admin")),
        ("arn:aws:iam::111111111111:role/team/x/Admin", ("111111111111", "Admin")),
        ("arn:aws:iam::11111111111:role/Admin", None),
        ("arn:aws:iam::111111111111:saml-provider/OKTA", None),
    ],
)
def test_split_role_arn(arn: str, expected: tuple[str, str] | None) -> None:
    assert naming.split_role_arn(arn) == expected


@given(syntax=syntaxes(), alias=ALIASES, role=ROLES, account_id=ACCOUNT_IDS)
def test_render_then_filter_gives_back_account_and_role(
    syntax: str, alias: str, role: str, account_id: str
) -> None:
    name = naming.render_role_group_name(
        syntax=syntax, alias=alias, role=role, account_id=account_id
    )
    compiled = naming.compile_group_filter(naming.derive_group_filter(syntax=syntax))
    assert naming.parse_group_name(name=name, group_filter=compiled) == RoleRef(
        account_id=account_id, role=role
    )


@given(
    syntax=syntaxes(),
    other=DELIMITERS,
    junk=st.sampled_from(["x", "rogue-", "aws2", " "]),
    alias=ALIASES,
    role=ROLES,
    account_id=ACCOUNT_IDS,
)
def test_other_delimiters_or_prefixes_never_match(
    syntax: str, other: str, junk: str, alias: str, role: str, account_id: str
) -> None:
    compiled = naming.compile_group_filter(naming.derive_group_filter(syntax=syntax))
    delimiter = next(c for c in syntax if not c.isalnum() and c not in "{}_-")
    assume(other != delimiter)
    swapped = syntax.replace(delimiter, other)
    for name in (
        naming.render_role_group_name(
            syntax=swapped, alias=alias, role=role, account_id=account_id
        ),
        junk
        + naming.render_role_group_name(
            syntax=syntax, alias=alias, role=role, account_id=account_id
        ),
    ):
        assert naming.parse_group_name(name=name, group_filter=compiled) is None, name


# --- bounded matching (issue 10) --------------------------------------------------------

# The filter of the report: 17.6 s on a 28-character name with Python's `re`.
NESTED_FILTER = r"(?{{role}}(\w+)+)#(?{{accountid}}\d{12})$"
# Exponential without a nested quantifier (overlapping alternatives under one repeat):
# the static check cannot see it, the time limit must stop it.
BACKTRACKING_FILTER = r"^(?{{role}}(a|aa)+)#(?{{accountid}}\d{12})$"


@pytest.mark.parametrize(
    ("pattern", "nested"),
    [
        (NESTED_FILTER, r"(\w+)+"),
        (r"^x(?{{role}}(?:[a-z]+-)*)#(?{{accountid}}\d{12})$", "(?:[a-z]+-)*"),
        (r"(a*)*", "(a*)*"),
        (r"((a)+b)+", "((a)+b)+"),
        (r"(x(y|z+))*", "(x(y|z+))*"),
        (r"(a+){1,3}", "(a+){1,3}"),
        (r"(a+){2,}", "(a+){2,}"),
        (r"(?{{role}}(\w+)++)", r"(\w+)++"),  # possessive too: the scan does not tell them apart
        # Exact counts, optional groups and escaped or classed parentheses are fine.
        (r"^aws\#\S+\#(?{{role}}[\w\-]+)\#(?{{accountid}}\d+)$", None),
        (r"(\d{12})+", None),
        (r"(a+){3}", None),
        (r"(a+)?", None),
        (r"(a?)+", None),
        (r"[(]+a+[)]+", None),
        (r"\(a+\)+", None),
        (r"[]()+]+(b)", None),
        (BACKTRACKING_FILTER, None),
    ],
)
def test_nested_quantifiers_are_found(pattern: str, nested: str | None) -> None:
    assert naming.nested_quantifier(pattern) == nested


@given(syntax=syntaxes())
def test_derived_filters_have_no_nested_quantifier(syntax: str) -> None:
    assert naming.nested_quantifier(naming.derive_group_filter(syntax=syntax)) is None


def test_reported_filter_answers_without_hanging() -> None:
    # With `re` this took 17.6 s; the `regex` engine fails it fast or hits the limit.
    compiled = naming.compile_group_filter(NESTED_FILTER)
    assert naming.parse_group_name(name="a" * 26 + "!x", group_filter=compiled) is None


def test_a_name_past_the_time_limit_maps_to_no_role_and_is_remembered() -> None:
    compiled = naming.compile_group_filter(BACKTRACKING_FILTER)
    slow, fine = "a" * 60 + "#12345678901x", "aaa#123456789012"
    assert naming.match_group_name(name=fine, group_filter=compiled) == RoleRef(
        account_id="123456789012", role="aaa"
    )
    with pytest.raises(naming.GroupFilterTimeout, match="took longer than"):
        naming.match_group_name(name=slow, group_filter=compiled)
    assert compiled.timed_out(slow)
    assert not compiled.timed_out(fine)
    # Remembered: the lenient parse answers None at once, the strict one raises again,
    # and a filter compiled again from the same text is the same object.
    assert naming.parse_group_name(name=slow, group_filter=compiled) is None
    with pytest.raises(naming.GroupFilterTimeout):
        naming.match_group_name(name=slow, group_filter=compiled)
    assert naming.compile_group_filter(BACKTRACKING_FILTER) is compiled
