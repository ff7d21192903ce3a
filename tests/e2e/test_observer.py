"""The observer itself: independent of the engine, and able to tell things apart.

The end-to-end tests trust `observer.py` to say whether the live world is the desired
one, so it is held to the same standard: it must not borrow the engine's code (or a bug
there would hide from both), and its expectation and its comparisons must distinguish
what differs. Its live reads are exercised by every end-to-end test; the mutation in
`test_cli_flow.py`'s drift step (managed policies detached) is what it exists to catch.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.e2e.harness import DESIRED
from tests.e2e.observer import expected_trust, okta_regex, policy_meaning, read_desired
from tests.observer_views import normalized_dn

HERE = Path(__file__).parent


@pytest.mark.parametrize(
    "module",
    [
        "e2e/observer.py",
        "e2e/observer_reads.py",
        "observer_expect.py",
        "observer_judge.py",
        "observer_views.py",
    ],
)
def test_the_observer_imports_no_engine_code(module: str) -> None:
    tree = ast.parse((HERE.parent / module).read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {m for m in imported if m == "engine" or m.startswith("engine.")}, imported
    assert imported - {"__future__"} <= {
        "ast", "json", "re", "urllib.parse", "collections", "collections.abc", "dataclasses",
        "pathlib", "typing", "boto3", "ldap3", "ldap3.utils.conv", "requests", "yaml",
        "tests.e2e.observer_reads", "tests.observer_expect", "tests.observer_judge",
        "tests.observer_views",
    }, imported  # fmt: skip


def test_the_expectation_comes_from_the_yaml_alone() -> None:
    """The example desired state, expanded by the observer: wildcard, id and tag grants."""
    want = read_desired(DESIRED)
    assert len(want.roles) == 33 and len(want.aliases) == 9
    slots = {g.name: set(g.slots) for g in want.groups}
    prod = {"314159265358", "271828182845", "173205080756", "223606797749", "244948974278"}
    assert slots["Security Engineering"] == {(a, "SecurityAudit") for a in prod} | {
        ("223606797749", "Admin")
    }
    assert slots["Break Glass Admins"] == {(a, "Admin") for a in prod}
    assert slots["Cloud Engineering Read Only"] == {(a, "ReadOnly") for a in want.aliases}
    # team: payments and env: prod: one account; staging-payments is not prod.
    assert ("314159265358", "ReadOnly") in slots["Payments Developers"]
    assert ("161803398874", "ReadOnly") not in slots["Payments Developers"]
    by_name = {g.name: g for g in want.groups}
    assert by_name["Data Scientists"].members is None  # left to the directory
    assert by_name["Break Glass Admins"].members == frozenset()
    assert (
        want.role_group_names[("314159265358", "Admin")] == "aws#prod-payments#Admin#314159265358"
    )
    assert want.role_group_description(("314159265358", "Admin")) == (
        "AWS role Admin in prod-payments (314159265358), managed by okta-aws"
    )
    assert want.metadata is not None and "EntityDescriptor" in want.metadata


def test_trust_policies_compare_by_meaning() -> None:
    wanted = expected_trust("111111111111", "OKTA")
    same = {
        "Version": "2012-10-17",
        "Statement": {
            "Condition": {"StringEquals": {"SAML:aud": ["https://signin.aws.amazon.com/saml"]}},
            "Action": ["sts:AssumeRoleWithSAML"],
            "Principal": {"Federated": ["arn:aws:iam::111111111111:saml-provider/OKTA"]},
            "Effect": "Allow",
        },
    }
    assert policy_meaning(same) == policy_meaning(wanted)
    other_provider = expected_trust("111111111111", "OKTA-OLD")
    assert policy_meaning(other_provider) != policy_meaning(wanted)
    widened = {**wanted, "Statement": [*wanted["Statement"], {"Effect": "Allow", "Action": "*"}]}
    assert policy_meaning(widened) != policy_meaning(wanted)
    no_audience = {
        **wanted,
        "Statement": [{k: v for k, v in wanted["Statement"][0].items() if k != "Condition"}],
    }
    assert policy_meaning(no_audience) != policy_meaning(wanted)


def test_filters_and_dns_are_read_as_okta_and_ldap_mean_them() -> None:
    found = okta_regex(r"^aws#[a-z0-9-]+#(?{{role}}[\w+=,.@\-]+)#(?{{accountid}}\d{12})$").search(
        "aws#prod#Admin#111111111111"
    )
    assert found is not None and found.group("role", "accountid") == ("Admin", "111111111111")
    assert normalized_dn(r"CN=aws\#prod#Admin#1, OU=Role Groups") == normalized_dn(
        "cn=aws#prod#admin#1,ou=role groups"
    )
    assert normalized_dn("cn=a,ou=x") != normalized_dn("cn=b,ou=x")
