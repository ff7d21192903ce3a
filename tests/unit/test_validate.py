"""Semantic validation: one table row per rule, each pinned to the file:line it reports.

Every case starts from a small, complete, valid desired state written to tmp_path and
changes one thing (a line edited in place, or a file added), then loads it with the real
loader and asserts the exact list of problems: where (file:line and severity) and a
stable fragment of each message. Rules the JSON Schema also enforces are exercised with
the schema switched off (`schema=False`), because `validate` must hold on its own for a
state built by code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

import engine.load
from engine.dn import build_dn
from engine.escape import printable
from engine.load import load
from engine.spec import (
    DesiredState,
    Location,
    ManagementGroupSpec,
    Problem,
    Severity,
)
from engine.validate import format_problems, has_errors, validate
from tests.unit.worlds import ROLE_OU, small_state

REPO = Path(__file__).resolve().parents[2]

BASE: dict[str, str] = {
    "settings.yaml": """\
settings:
  saml_provider: {name: OKTA}
  directory:
    kind: active_directory
    role_groups_ou: OU=Role Groups,DC=example,DC=test
    management_groups_ou: OU=Management Groups,DC=example,DC=test
    users_base: CN=Users,DC=example,DC=test
  okta:
    app_label: Amazon Web Services
    app_filter: active_directory
    group_filter: null
    role_value_pattern: null
    session_duration: 3600
""",
    "roles.yaml": """\
roles:
  Admin: {}
  ReadOnly:
    max_session_duration: 43200
""",
    "accounts.yaml": """\
accounts:
  - {id: "111111111111", alias: prod, roles: [Admin, ReadOnly], tags: {env: prod}}
  - id: "222222222222"
    alias: dev
    roles: [ReadOnly]
    tags: {env: dev}
""",
    "groups.yaml": """\
management_groups:
  - name: Admins
    grants:
      - {account: prod, role: Admin}
      - {account: "*", role: ReadOnly}
    members: [alice, bob]
  - name: Readers
    grants:
      - {account_tags: {env: dev}, role: ReadOnly}
""",
}

# A filter in Okta's own style: `[\w\-]` does not capture `.` in role names.
NARROW_FILTER = r"'^aws#[a-z0-9-]+#(?{{role}}[\w\-]+)#(?{{accountid}}\d{12})$'"


@dataclass(frozen=True)
class Case:
    """One change to the base state and every problem it must produce."""

    edits: tuple[tuple[str, str, str], ...] = ()  # (file, old text, new text)
    files: dict[str, str] = field(default_factory=dict)  # added or replaced files
    expected: tuple[tuple[str, str], ...] = ()  # ("file:line[: warning]", fragment)
    schema: bool = True  # False: the schema also rejects this; check validate alone


def _append(file: str, text: str) -> tuple[str, str, str]:
    """An edit appending lines at the end of a base file."""
    return (file, BASE[file], BASE[file] + text)


@contextmanager
def _schema_off() -> Iterator[None]:
    with mock.patch.object(engine.load, "_schema_problems", lambda parsed: iter(())):
        yield


def _write(root: Path, case: Case) -> None:
    texts = dict(BASE)
    for name, old, new in case.edits:
        assert old in texts[name], f"edit does not apply to {name}: {old!r}"
        texts[name] = texts[name].replace(old, new, 1)
    texts.update(case.files)
    for name, text in texts.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _problems(root: Path, case: Case) -> list[Problem]:
    _write(root, case)
    if case.schema:
        state = load(directory=root)
    else:
        with _schema_off():
            state = load(directory=root)
    return validate(state=state)


def _assert_problems(problems: list[Problem], expected: tuple[tuple[str, str], ...]) -> None:
    rendered = [str(p) for p in problems]
    unmatched = list(rendered)
    for where, fragment in expected:
        hits = [r for r in unmatched if r.startswith(where + ": ") and fragment in r]
        assert len(hits) == 1, f"want one {where}: …{fragment}… in:\n" + "\n".join(rendered)
        unmatched.remove(hits[0])
        if not where.endswith("warning"):
            assert not hits[0].startswith(where + ": warning:"), hits[0]
    assert not unmatched, "unexpected problems:\n" + "\n".join(unmatched)


CASES: dict[str, Case] = {
    # 1. grants ------------------------------------------------------------------------
    "grant-unknown-account": Case(
        edits=(("groups.yaml", "{account: prod, role: Admin}", "{account: prdo, role: Admin}"),),
        expected=(
            (
                "groups.yaml:4",
                "unknown account 'prdo' (no account has this alias or id) (did you mean 'prod'?)",
            ),
        ),
    ),
    "grant-unknown-role": Case(
        edits=(("groups.yaml", "{account: prod, role: Admin}", "{account: prod, role: Admn}"),),
        expected=(
            (
                "groups.yaml:4",
                "unknown role 'Admn' (not in the role catalogue) (did you mean 'Admin'?)",
            ),
        ),
    ),
    "grant-role-account-lacks": Case(
        edits=(
            (
                "groups.yaml",
                "{account_tags: {env: dev}, role: ReadOnly}",
                "{account: dev, role: Admin}",
            ),
        ),
        expected=(
            (
                "groups.yaml:9",
                "account dev (222222222222) does not have role 'Admin'; "
                "add it to the account's roles (accounts.yaml:5) or grant one of its roles "
                "(ReadOnly)",
            ),
        ),
    ),
    "grant-star-no-account-has-role": Case(
        edits=(
            _append("roles.yaml", "  Billing: {}\n"),
            ("groups.yaml", '{account: "*", role: ReadOnly}', '{account: "*", role: Billing}'),
        ),
        expected=(
            ("groups.yaml:5", "no account has role 'Billing', so account \"*\" grants nothing"),
        ),
    ),
    "grant-tags-match-no-account": Case(
        edits=(("groups.yaml", "{env: dev}", "{env: qa}"),),
        expected=(
            (
                "groups.yaml:9",
                "grant accounts tagged {env=qa} / ReadOnly: no account has all of these tags",
            ),
        ),
    ),
    "grant-tags-match-accounts-without-role": Case(
        edits=(
            (
                "groups.yaml",
                "{account_tags: {env: dev}, role: ReadOnly}",
                "{account_tags: {env: dev}, role: Admin}",
            ),
        ),
        expected=(("groups.yaml:9", "none of the accounts tagged so (dev) has role 'Admin'"),),
    ),
    # 2. duplicates --------------------------------------------------------------------
    "duplicate-account-id": Case(
        files={"more/accounts.yaml": 'accounts:\n  - {id: "111111111111", alias: prod2}\n'},
        expected=(
            (
                "more/accounts.yaml:2",
                "account id 111111111111 is listed again (first at accounts.yaml:2, alias prod)",
            ),
        ),
    ),
    "duplicate-account-alias": Case(
        files={"more/accounts.yaml": 'accounts:\n  - id: "333333333333"\n    alias: dev\n'},
        expected=(
            (
                "more/accounts.yaml:3",
                "account alias 'dev' is used again (first at accounts.yaml:3, id 222222222222)",
            ),
        ),
    ),
    "duplicate-role-across-files": Case(
        # Files merge in path order: z/roles.yaml comes after roles.yaml.
        files={"z/roles.yaml": "roles:\n  Admin: {}\n"},
        expected=(("z/roles.yaml:2", "role 'Admin' is defined again (first at roles.yaml:2)"),),
    ),
    "duplicate-group-name-ignoring-case": Case(
        files={"more/groups.yaml": "management_groups:\n  - name: ADMINS\n"},
        expected=(
            (
                "more/groups.yaml:2",
                "management group 'ADMINS' is listed again (first at groups.yaml:2)",
            ),
        ),
    ),
    "duplicate-group-dn-normalized": Case(
        files={
            "more/groups.yaml": """\
management_groups:
  - name: Finance
    dn: CN=Finance,OU=Departments,DC=example,DC=test
  - name: Finance Team
    dn: cn=finance, ou=departments,dc=EXAMPLE,dc=test
"""
        },
        expected=(
            (
                "more/groups.yaml:5",
                "'Finance Team' has the same DN as 'Finance' (more/groups.yaml:2)",
            ),
        ),
    ),
    "duplicate-role-in-account": Case(
        edits=(("accounts.yaml", "roles: [Admin, ReadOnly]", "roles: [Admin, ReadOnly, Admin]"),),
        expected=(
            ("accounts.yaml:2", "account prod lists role 'Admin' twice (first at accounts.yaml:2)"),
        ),
        schema=False,
    ),
    "duplicate-member-ignoring-case": Case(
        edits=(("groups.yaml", "members: [alice, bob]", "members: [alice, bob, Alice]"),),
        expected=(
            ("groups.yaml:6", "'Admins' lists member 'Alice' twice (first at groups.yaml:6)"),
        ),
    ),
    # 3. ids, aliases, IAM names -------------------------------------------------------
    "account-id-not-12-digits": Case(
        edits=(("accounts.yaml", '"111111111111"', '"11111111111"'),),
        expected=(("accounts.yaml:2", "account id '11111111111' must be exactly 12 digits"),),
        schema=False,
    ),
    "account-alias-invalid": Case(
        edits=(("accounts.yaml", "alias: dev", "alias: Dev--x"),),
        expected=(("accounts.yaml:4", "account alias 'Dev--x' is not a valid AWS account alias"),),
        schema=False,
    ),
    "account-alias-is-another-accounts-id": Case(
        files={
            "more/accounts.yaml": 'accounts:\n  - {id: "333333333333", alias: "111111111111"}\n'
        },
        expected=(
            (
                "more/accounts.yaml:2",
                "account alias '111111111111' is the id of another account (accounts.yaml:2)",
            ),
        ),
    ),
    "catalogue-role-name-invalid": Case(
        edits=(_append("roles.yaml", "  Bad Role: {}\n"),),
        expected=(("roles.yaml:5", "role name 'Bad Role' is not a valid IAM role name"),),
        schema=False,
    ),
    "access-role-invalid": Case(
        edits=(_append("settings.yaml", "  aws: {access_role: Org Access}\n"),),
        expected=(
            ("settings.yaml:14", "aws.access_role 'Org Access' is not a valid IAM role name"),
        ),
        schema=False,
    ),
    "role-names-equal-ignoring-case-in-account": Case(
        edits=(
            _append("roles.yaml", "  admin: {}\n"),
            ("accounts.yaml", "roles: [Admin, ReadOnly]", "roles: [Admin, ReadOnly, admin]"),
        ),
        expected=(
            (
                "accounts.yaml:2",
                "roles 'Admin' (accounts.yaml:2) and 'admin' differ "
                "only in case; IAM treats role names case-insensitively",
            ),
        ),
    ),
    "iam-name-created-twice-in-account": Case(
        edits=(
            _append("roles.yaml", "  Admin-12h: {iam_name: Admin, max_session_duration: 43200}\n"),
            ("accounts.yaml", "roles: [Admin, ReadOnly]", "roles: [Admin, ReadOnly, Admin-12h]"),
        ),
        expected=(
            (
                "accounts.yaml:2",
                "account prod: roles 'Admin' (accounts.yaml:2) and 'Admin-12h' both create the "
                "IAM role 'Admin' (iam_name); list only one of them",
            ),
        ),
    ),
    "iam-name-variants-in-different-accounts-are-valid": Case(
        edits=(
            _append("roles.yaml", "  Admin-12h: {iam_name: admin, max_session_duration: 43200}\n"),
            ("accounts.yaml", "roles: [ReadOnly]", "roles: [ReadOnly, Admin-12h]"),
        ),
    ),
    "iam-name-invalid": Case(
        edits=(_append("roles.yaml", "  Admin-12h: {iam_name: Bad Name}\n"),),
        expected=(("roles.yaml:5", "role 'Admin-12h': iam_name 'Bad Name' is not a valid IAM"),),
        schema=False,
    ),
    "account-role-unknown": Case(
        edits=(("accounts.yaml", "roles: [ReadOnly]", "roles: [ReadOnly, Auditor]"),),
        expected=(
            (
                "accounts.yaml:5",
                "account dev lists role 'Auditor', which is not in the role catalogue",
            ),
        ),
    ),
    "adopt-role-account-lacks": Case(
        edits=(_append("accounts.yaml", "    adopt_roles: [Admin]\n"),),
        expected=(
            (
                "accounts.yaml:7",
                "account dev: adopt_roles names 'Admin', which the "
                "account does not have (its roles: ReadOnly)",
            ),
        ),
    ),
    # 4. role-group names --------------------------------------------------------------
    "role-group-name-missing-account-id": Case(
        edits=(_append("settings.yaml", "  role_group_name: 'aws-{role}'\n"),),
        expected=(("settings.yaml:14", "must contain {account_id}"),),
        schema=False,
    ),
    "role-group-name-missing-role": Case(
        edits=(_append("settings.yaml", "  role_group_name: 'aws-{account_id}'\n"),),
        expected=(("settings.yaml:14", "must contain {role}"),),
        schema=False,
    ),
    "role-group-name-unknown-placeholder": Case(
        edits=(_append("settings.yaml", "  role_group_name: 'aws-{role}-{account_id}-{env}'\n"),),
        expected=(("settings.yaml:14", "unknown placeholder(s) {env}"),),
        schema=False,
    ),
    "role-group-description-unknown-placeholder": Case(
        edits=(_append("settings.yaml", "  role_group_description: '{role} of {team}'\n"),),
        expected=(
            ("settings.yaml:14", "role_group_description uses unknown placeholder(s) {team}"),
        ),
        schema=False,
    ),
    "role-group-cn-over-64": Case(
        edits=(
            _append(
                "accounts.yaml", f'  - {{id: "333333333333", alias: {"a" * 60}, roles: [Admin]}}\n'
            ),
        ),
        expected=(
            (
                "accounts.yaml:7",
                f"role group 'aws#{'a' * 60}#Admin#333333333333' "
                f"({'a' * 60}/Admin) is 83 characters; a directory group name (cn) is at "
                "most 64",
            ),
        ),
    ),
    "sam-account-name-sanitized": Case(
        edits=(
            _append("roles.yaml", "  Ops+Dev: {}\n"),
            ("accounts.yaml", "roles: [Admin, ReadOnly]", "roles: [Admin, ReadOnly, Ops+Dev]"),
        ),
        expected=(
            (
                "accounts.yaml:2: warning",
                "characters illegal in an AD sAMAccountName (+); "
                "its sAMAccountName will be 'aws#prod#Ops_Dev#111111111111'",
            ),
        ),
    ),
    "sam-account-names-collide": Case(
        edits=(
            _append("roles.yaml", "  Ops+Dev: {}\n  Ops=Dev: {}\n"),
            (
                "accounts.yaml",
                "roles: [Admin, ReadOnly]",
                "roles: [Admin, ReadOnly, Ops+Dev, Ops=Dev]",
            ),
        ),
        expected=(
            ("accounts.yaml:2: warning", "its sAMAccountName will be 'aws#prod#Ops_Dev#"),
            (
                "accounts.yaml:2",
                "role group 'aws#prod#Ops=Dev#111111111111' (prod/Ops=Dev): its "
                "sAMAccountName would be 'aws#prod#Ops_Dev#111111111111' (characters illegal in AD "
                "replaced by '_'), the same as that of role group 'aws#prod#Ops+Dev#",
            ),
        ),
    ),
    "role-group-names-equal-ignoring-case": Case(
        edits=(_append("settings.yaml", "  role_group_name: '{alias}{account_id}{role}'\n"),),
        files={
            "more/roles.yaml": "roles:\n  3x: {}\n  X: {}\n",
            "more/accounts.yaml": """\
accounts:
  - {id: "123456789012", alias: abc, roles: [3x]}
  - {id: "234567890123", alias: abc1, roles: [X]}
""",
        },
        expected=(
            # Both render to abc1234567890123x (ignoring case); Okta reads the first as the second.
            (
                "more/accounts.yaml:2",
                "parses as account 234567890123, role 'x': role_group_name is ambiguous",
            ),
            (
                "more/accounts.yaml:3",
                "role group 'abc1234567890123X' (abc1/X) has the same name, "
                "ignoring case, as role group 'abc1234567890123x' (abc/3x) (more/accounts.yaml:2)",
            ),
        ),
    ),
    "management-group-named-like-a-role-group": Case(
        files={"more/groups.yaml": "management_groups:\n  - name: AWS#prod#Admin#111111111111\n"},
        expected=(
            (
                "more/groups.yaml:2",
                "management group 'AWS#prod#Admin#111111111111' has "
                "the same name, ignoring case, as role group 'aws#prod#Admin#111111111111' "
                "(prod/Admin) (accounts.yaml:2)",
            ),
        ),
    ),
    "sam-account-name-of-management-group": Case(
        files={"more/groups.yaml": "management_groups:\n  - name: Ops/Dev\n"},
        expected=(
            (
                "more/groups.yaml:2: warning",
                "management group 'Ops/Dev' contains characters illegal in an AD "
                "sAMAccountName (/); its sAMAccountName will be 'Ops_Dev'",
            ),
        ),
        schema=False,
    ),
    # 5. Okta: group filter and role value pattern --------------------------------------
    "group-filter-invalid-regex": Case(
        edits=(
            (
                "settings.yaml",
                "group_filter: null",
                r"group_filter: '^aws#(?{{role}}[\w+)#(?{{accountid}}\d{12})$'",
            ),
        ),
        expected=(("settings.yaml:11", "is not a valid regex"),),
    ),
    "group-filter-without-accountid": Case(
        edits=(
            ("settings.yaml", "group_filter: null", r"group_filter: '^aws#(?{{role}}\w+)#\d{12}$'"),
        ),
        expected=(("settings.yaml:11", "must capture (?{{accountid}}…)"),),
        schema=False,
    ),
    "group-filter-without-role": Case(
        edits=(
            (
                "settings.yaml",
                "group_filter: null",
                r"group_filter: '^aws#\w+#(?{{accountid}}\d{12})$'",
            ),
        ),
        expected=(("settings.yaml:11", "must capture (?{{role}}…)"),),
        schema=False,
    ),
    "group-filter-misses-a-role-in-one-account": Case(
        edits=(
            ("settings.yaml", "group_filter: null", f"group_filter: {NARROW_FILTER}"),
            _append("roles.yaml", "  Data.Eng: {}\n"),
            ("accounts.yaml", "roles: [Admin, ReadOnly]", "roles: [Admin, ReadOnly, Data.Eng]"),
        ),
        expected=(
            (
                "accounts.yaml:2",
                "role group 'aws#prod#Data.Eng#111111111111' "
                "(prod/Data.Eng): the group filter '^aws#[a-z0-9-]+#(?{{role}}[\\w\\-]+)#"
                "(?{{accountid}}\\d{12})$' does not match it, so Okta maps it to no role",
            ),
        ),
    ),
    "group-filter-misses-a-role-everywhere": Case(
        edits=(
            ("settings.yaml", "group_filter: null", f"group_filter: {NARROW_FILTER}"),
            _append("roles.yaml", "  Data.Eng: {}\n"),
            ("accounts.yaml", "roles: [Admin, ReadOnly]", "roles: [Admin, ReadOnly, Data.Eng]"),
            ("accounts.yaml", "roles: [ReadOnly]", "roles: [ReadOnly, Data.Eng]"),
        ),
        expected=(
            ("roles.yaml:5", "role 'Data.Eng': in all 2 accounts having it, the group filter"),
        ),
    ),
    "group-filter-matches-nothing": Case(
        edits=(
            (
                "settings.yaml",
                "group_filter: null",
                r"group_filter: '^role-(?{{role}}\w+)-(?{{accountid}}\d{12})$'",
            ),
        ),
        expected=(
            (
                "settings.yaml:11",
                "maps none of the 3 role groups to its role; e.g. role "
                "group 'aws#prod#Admin#111111111111' (prod/Admin) does not match it",
            ),
        ),
    ),
    "ambiguous-role-group-syntax": Case(
        edits=(
            _append("settings.yaml", "  role_group_name: '{alias}-{role}-{account_id}'\n"),
            _append("roles.yaml", "  read-only: {}\n"),
            ("accounts.yaml", "roles: [Admin, ReadOnly]", "roles: [Admin, ReadOnly, read-only]"),
        ),
        expected=(
            (
                "accounts.yaml:2",
                "role group 'prod-read-only-111111111111' (prod/read-only): the group "
                r"filter '^[a-z0-9-]+\-(?{{role}}[\w+=,.@\-]+)\-(?{{accountid}}\d{12})$' "
                "parses as account 111111111111, role 'only': role_group_name is ambiguous",
            ),
        ),
    ),
    "management-group-matches-group-filter": Case(
        files={
            "more/groups.yaml": "management_groups:\n  - name: aws#staging#Admin#333333333333\n"
        },
        expected=(
            (
                "more/groups.yaml:2",
                "management group 'aws#staging#Admin#333333333333' "
                "matches the group filter '^aws\\#[a-z0-9-]+\\#(?{{role}}[\\w+=,.@\\-]+)\\#"
                "(?{{accountid}}\\d{12})$' (as account 333333333333, role 'Admin'): Okta "
                "would take it for a role group",
            ),
        ),
    ),
    "role-value-pattern-not-two-arns": Case(
        edits=(
            (
                "settings.yaml",
                "role_value_pattern: null",
                "role_value_pattern: '${accountid}/${role}'",
            ),
        ),
        expected=(
            (
                "settings.yaml:12",
                "must expand to 'arn:aws:iam::ACCOUNT:saml-provider/NAME,"
                "arn:aws:iam::ACCOUNT:role/ROLE'",
            ),
        ),
    ),
    "role-value-pattern-other-provider": Case(
        edits=(
            (
                "settings.yaml",
                "role_value_pattern: null",
                "role_value_pattern: 'arn:aws:iam::${accountid}:saml-provider/Other,"
                "arn:aws:iam::${accountid}:role/${role}'",
            ),
        ),
        expected=(
            (
                "settings.yaml:12",
                "yields provider 'arn:aws:iam::123456789012:saml-provider"
                "/Other', not 'arn:aws:iam::123456789012:saml-provider/OKTA' "
                "(settings.saml_provider.name is 'OKTA'): every account would be "
                "unreachable",
            ),
        ),
    ),
    "role-value-pattern-fixed-account": Case(
        edits=(
            (
                "settings.yaml",
                "role_value_pattern: null",
                "role_value_pattern: 'arn:aws:iam::${accountid}:saml-provider/OKTA,"
                "arn:aws:iam::999999999999:role/${role}'",
            ),
        ),
        expected=(
            (
                "settings.yaml:12",
                "yields role 'arn:aws:iam::999999999999:role/Probe' for account 123456789012",
            ),
        ),
    ),
    "role-name-with-comma-breaks-role-value": Case(
        edits=(
            _append("roles.yaml", "  Ops,Dev: {}\n"),
            ("accounts.yaml", "roles: [Admin, ReadOnly]", "roles: [Admin, ReadOnly, 'Ops,Dev']"),
        ),
        expected=(
            ("roles.yaml:5", "role 'Ops,Dev': the role value pattern"),
            ("accounts.yaml:2: warning", "its sAMAccountName will be 'aws#prod#Ops_Dev#"),
        ),
    ),
    "app-filter-excludes-directory-source": Case(
        edits=(("settings.yaml", "app_filter: active_directory", "app_filter: okta"),),
        expected=(
            ("settings.yaml:10", "okta.app_filter 'okta' does not include 'active_directory'"),
        ),
    ),
    # 6. settings and members ----------------------------------------------------------
    "directory-ou-missing": Case(
        edits=(
            (
                "settings.yaml",
                "    role_groups_ou: OU=Role Groups,DC=example,DC=test\n",
                "    # role_groups_ou forgotten\n",
            ),
        ),
        expected=(
            (
                "settings.yaml:3",
                "directory.role_groups_ou is required with directory kind active_directory",
            ),
        ),
        schema=False,
    ),
    "directory-ou-not-a-dn": Case(
        edits=(
            (
                "settings.yaml",
                "users_base: CN=Users,DC=example,DC=test",
                "users_base: CN=Users,,DC=example",
            ),
        ),
        expected=(
            ("settings.yaml:7", "directory.users_base 'CN=Users,,DC=example' is not a valid DN"),
        ),
    ),
    "dn-with-directory-kind-okta": Case(
        edits=(
            ("settings.yaml", "kind: active_directory", "kind: okta"),
            ("settings.yaml", "app_filter: active_directory", "app_filter: okta"),
        ),
        files={
            "more/groups.yaml": """\
management_groups:
  - name: Finance
    dn: CN=Finance,OU=Departments,DC=example,DC=test
"""
        },
        expected=(
            ("more/groups.yaml:3", "'Finance' sets dn, but directory kind okta has no directory"),
        ),
    ),
    "member-login-with-whitespace": Case(
        edits=(("groups.yaml", "members: [alice, bob]", "members: [alice, 'bob smith']"),),
        expected=(("groups.yaml:6", "member login 'bob smith' contains whitespace"),),
        schema=False,
    ),
    "member-login-empty": Case(
        edits=(("groups.yaml", "members: [alice, bob]", "members: [alice, '']"),),
        expected=(("groups.yaml:6", "'Admins': empty member login"),),
        schema=False,
    ),
    "protected-name-matches-nothing": Case(
        edits=(
            _append(
                "settings.yaml",
                """\
  safety:
    protected:
      - aws#prod#Admin#111111111111
      - readonly
      - aws#prod#Admn#111111111111
""",
            ),
        ),
        expected=(
            (
                "settings.yaml:18: warning",
                "protected name 'aws#prod#Admn#111111111111' names nothing in the desired "
                "state: it keeps a live role group or IAM role of that name from deletion (did "
                "you mean 'aws#prod#admin#111111111111'?)",
            ),
        ),
    ),
    "session-longer-than-role-allows": Case(
        edits=(("settings.yaml", "session_duration: 3600", "session_duration: 7200"),),
        expected=(
            (
                "roles.yaml:2: warning",
                "role 'Admin': max_session_duration 3600 is shorter "
                "than okta.session_duration 7200 (settings.yaml:13)",
            ),
        ),
    ),
    "session-warning-points-at-max-session-duration": Case(
        edits=(
            ("settings.yaml", "session_duration: 3600", "session_duration: 43200"),
            ("roles.yaml", "  Admin: {}\n", "  Admin:\n    max_session_duration: 3600\n"),
        ),
        expected=(("roles.yaml:3: warning", "role 'Admin': max_session_duration 3600"),),
    ),
    # 9. no escalation through a management group's dn (issue 10) -----------------------
    "dn-names-a-role-group": Case(
        # The reproduction: adopting the role group itself put zoe straight into the role.
        files={
            "more/groups.yaml": """\
management_groups:
  - name: Sneaky
    dn: "CN=aws#prod#Admin#111111111111,OU=Role Groups,DC=example,DC=test"
    members: [zoe]
"""
        },
        expected=(
            ("more/groups.yaml:3", "lies in directory.role_groups_ou, where every group is a role"),
            (
                "more/groups.yaml:3",
                "the cn 'aws#prod#Admin#111111111111' of its dn matches the group filter "
                "'^aws\\#[a-z0-9-]+\\#(?{{role}}[\\w+=,.@\\-]+)\\#(?{{accountid}}\\d{12})$' "
                "(as account 111111111111, role 'Admin')",
            ),
        ),
    ),
    "dn-names-a-role-group-lookalike-elsewhere": Case(
        files={
            "more/groups.yaml": """\
management_groups:
  - name: Sneaky
    dn: "CN=aws#dev#Admin#222222222222,OU=Departments,DC=example,DC=test"
"""
        },
        expected=(("more/groups.yaml:3", "would take it for a role group"),),
    ),
    "dn-in-the-management-groups-ou": Case(
        files={
            "more/groups.yaml": """\
management_groups:
  - name: Sneaky
    dn: "CN=Admins,OU=Management Groups,DC=example,DC=test"
"""
        },
        expected=(
            ("more/groups.yaml:3", "has the same DN as 'Admins' (groups.yaml:2)"),
            ("more/groups.yaml:3", "lies in directory.management_groups_ou"),
        ),
    ),
    "dn-is-a-managed-ou": Case(
        files={
            "more/groups.yaml": """\
management_groups:
  - name: Sneaky
    dn: "ou=role groups,dc=example,dc=test"
"""
        },
        expected=(("more/groups.yaml:3", "is directory.role_groups_ou, a container"),),
    ),
    "dn-above-the-managed-ous": Case(
        files={
            "more/groups.yaml": "management_groups:\n  - {name: Sneaky, dn: 'DC=example,DC=test'}\n"
        },
        expected=(("more/groups.yaml:2", "contains directory.role_groups_ou, a container"),),
    ),
    "dn-names-a-user": Case(
        files={
            "more/groups.yaml": """\
management_groups:
  - name: Sneaky
    dn: "CN=Zoe Doe,CN=Users,DC=example,DC=test"
"""
        },
        expected=(("more/groups.yaml:3", "names a user (it lies under directory.users_base)"),),
    ),
    "dn-names-an-ldap-user": Case(
        files={
            "more/groups.yaml": """\
management_groups:
  - name: Sneaky
    dn: "uid=zoe,OU=People,DC=example,DC=test"
"""
        },
        expected=(("more/groups.yaml:3", "names a user"),),
    ),
    "dn-under-a-users-base-holding-everything-is-left-to-the-read": Case(
        # users_base at the domain root says nothing about what an entry is: the plan's
        # read adopts only groups.
        edits=(
            (
                "settings.yaml",
                "users_base: CN=Users,DC=example,DC=test",
                "users_base: DC=example,DC=test",
            ),
        ),
        files={
            "more/groups.yaml": """\
management_groups:
  - name: Finance
    dn: "CN=Finance,OU=Departments,DC=example,DC=test"
"""
        },
    ),
    "name-matches-the-syntax-but-not-a-narrow-filter": Case(
        edits=(("settings.yaml", "group_filter: null", f"group_filter: {NARROW_FILTER}"),),
        files={"more/groups.yaml": "management_groups:\n  - name: 'aws#x#Ad.min#555555555555'\n"},
        expected=(
            (
                "more/groups.yaml:2",
                "matches the group filter derived from role_group_name "
                "'aws#{alias}#{role}#{account_id}' (as account 555555555555, role 'Ad.min')",
            ),
        ),
    ),
    # 10. bounded user regexes (issue 10) -----------------------------------------------
    "group-filter-nested-quantifier": Case(
        edits=(
            (
                "settings.yaml",
                "group_filter: null",
                r"group_filter: '(?{{role}}(\w+)+)#(?{{accountid}}\d{12})$'",
            ),
        ),
        expected=(
            (
                "settings.yaml:11",
                r"repeats '(\w+)+', a group whose body repeats too: such a nested quantifier "
                "backtracks exponentially",
            ),
        ),
    ),
    "group-filter-past-the-time-limit": Case(
        # No nested quantifier, yet exponential on a name that almost matches.
        edits=(
            (
                "settings.yaml",
                "group_filter: null",
                r"group_filter: '^(?{{role}}(a|aa)+)#(?{{accountid}}\d{12})$'",
            ),
            ("settings.yaml", "  okta:\n", "  role_group_name: '{role}#{account_id}'\n  okta:\n"),
            _append("roles.yaml", f"  {'a' * 50}b: {{}}\n"),
            ("accounts.yaml", "roles: [ReadOnly]", f"roles: [ReadOnly, {'a' * 50}b]"),
        ),
        expected=(("settings.yaml:12", "took longer than 0.1 s on the name 'aaaa"),),
    ),
    "member-that-is-a-dn": Case(
        edits=(
            (
                "groups.yaml",
                "members: [alice, bob]",
                'members: [alice, "CN=aws#prod#Admin#111111111111,OU=Role Groups,DC=x"]',
            ),
        ),
        expected=(
            ("groups.yaml:6", "contains whitespace"),
            ("groups.yaml:6", "contains ',=': members are logins (sAMAccountName, uid), never"),
        ),
        schema=False,
    ),
    # 11. names: printable, trimmed, NFC; look-alikes warned (issue 10) ---------------
    "name-with-escape": Case(
        edits=(("groups.yaml", "  - name: Admins", '  - name: "\\x1bcAdmins"'),),
        expected=(
            (
                "groups.yaml:2",
                "management group name '\\x1bcAdmins' contains the control character(s) \\x1b:",
            ),
        ),
    ),
    "name-with-bidi-override-and-nul": Case(
        edits=(("groups.yaml", "  - name: Readers", '  - name: "Read\\u202eers\\0"'),),
        expected=(("groups.yaml:7", "contains the control character(s) \\x00 \\u202e:"),),
    ),
    "description-with-final-newline": Case(
        edits=(("roles.yaml", "  Admin: {}\n", "  Admin:\n    description: |\n      Admins\n"),),
        expected=(
            (
                "roles.yaml:3",
                "role 'Admin': description 'Admins\\x0a' contains the control character(s) "
                "\\x0a: names and descriptions hold printable text only (YAML's '|' and '>' "
                "keep a final newline: use '>-' or a plain string)",
            ),
        ),
    ),
    "tag-value-with-trailing-space": Case(
        edits=(("accounts.yaml", "tags: {env: prod}", 'tags: {env: "prod "}'),),
        expected=(("accounts.yaml:2", "tag 'env' 'prod ' has leading or trailing whitespace"),),
    ),
    "member-with-leading-space": Case(
        edits=(("groups.yaml", "members: [alice, bob]", 'members: [alice, " bob"]'),),
        expected=(
            ("groups.yaml:6", "member login ' bob' contains whitespace"),
            ("groups.yaml:6", "member ' bob' has leading or trailing whitespace"),
        ),
        schema=False,
    ),
    "name-not-nfc": Case(
        edits=(("groups.yaml", "  - name: Readers", '  - name: "Cafe\\u0301 Readers"'),),
        expected=(
            (
                "groups.yaml:7",
                "management group name 'Cafe\u0301 Readers' is not in Unicode NFC form (a "
                "character written decomposed, e.g. 'e' and a combining accent): write it "
                "as 'Caf\u00e9 Readers'",
            ),
        ),
    ),
    "homoglyph-of-a-management-group": Case(
        files={"more/groups.yaml": "management_groups:\n  - name: Аdmins\n"},  # Cyrillic А
        expected=(
            (
                "more/groups.yaml:2: warning",
                "management group 'Аdmins' looks like management group 'Admins' "
                "(groups.yaml:2) but is spelled with other characters (U+0410 CYRILLIC "
                "CAPITAL LETTER A)",
            ),
        ),
    ),
    "homoglyph-of-a-role-group": Case(
        files={"more/groups.yaml": "management_groups:\n  - name: aws#prоd#Admin#111111111111\n"},
        expected=(
            (
                "more/groups.yaml:2: warning",
                "looks like role group 'aws#prod#Admin#111111111111' (accounts.yaml:2)",
            ),
        ),
    ),
    "homoglyph-of-a-login": Case(
        edits=(_append("groups.yaml", "    members: [аlice]\n"),),  # Cyrillic а
        expected=(
            (
                "groups.yaml:10: warning",
                "member 'аlice' looks like member 'alice' (groups.yaml:6)",
            ),
        ),
    ),
}


def test_base_state_is_valid_without_metadata_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No metadata_file and no create_app: the metadata comes from the existing Okta app.
    monkeypatch.chdir(tmp_path)
    assert _problems(tmp_path, Case()) == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # file names in messages are relative to the cwd
    case = CASES[name]
    _assert_problems(_problems(tmp_path, case), case.expected)


@pytest.mark.parametrize(
    ("kind", "app_filter", "expected"),
    [
        ("active_directory", "active_directory", ["accounts.yaml:7: role group 'aws#"]),
        ("ldap", "ldap_sun_one", ["accounts.yaml:7: role group 'aws#"]),
        ("okta", "okta", []),  # Okta group names are not limited to 64 characters
    ],
)
def test_cn_limit_applies_to_directories_only(
    kind: str, app_filter: str, expected: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    case = Case(
        edits=(
            ("settings.yaml", "kind: active_directory", f"kind: {kind}"),
            ("settings.yaml", "app_filter: active_directory", f"app_filter: {app_filter}"),
            _append(
                "accounts.yaml", f'  - {{id: "333333333333", alias: {"a" * 60}, roles: [Admin]}}\n'
            ),
        )
    )
    problems = [str(p) for p in _problems(tmp_path, case)]
    assert [p[: len(e)] for p, e in zip(problems, expected, strict=False)] == expected
    assert len(problems) == len(expected)
    assert all("is 83 characters" in p for p in problems)


ALL_AT_ONCE: dict[str, str] = {
    "settings.yaml": BASE["settings.yaml"].replace(
        "session_duration: 3600", "session_duration: 7200"
    )
    + "  safety:\n    protected: [aws#prod#Admin#111111111111, Nope]\n",
    "catalogue/a.yaml": """\
roles:
  Admin: {}
  ReadOnly: {max_session_duration: 43200}
""",
    "catalogue/b.yaml": """\
roles:
  ReadOnly: {}
  Data.Eng: {max_session_duration: 43200}
""",
    "accounts/a-prod.yaml": """\
accounts:
  - id: "111111111111"
    alias: prod
    roles: [Admin, ReadOnly]
    tags: {env: prod}
    adopt_roles: [Data.Eng]
""",
    "accounts/b-dev.yaml": """\
accounts:
  - {id: "222222222222", alias: dev, roles: [ReadOnly, Auditor]}
  - {id: "333333333333", alias: prod, roles: [ReadOnly]}
""",
    "groups/a.yaml": """\
management_groups:
  - name: Admins
    grants:
      - {account: prod, role: Admin}
      - {account: stage, role: Admin}
      - {account: dev, role: Admin}
    members: [alice, bob, BOB]
""",
    "groups/b.yaml": """\
management_groups:
  - name: admins
  - name: Auditors
    grants:
      - {account_tags: {env: prod}, role: ReadOnly}
      - {account: "*", role: Data.Eng}
  - name: aws#x#Admin#555555555555
""",
}


def test_all_problems_at_once_across_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name, text in ALL_AT_ONCE.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    problems = validate(state=load(directory=tmp_path))
    _assert_problems(
        problems,
        (
            (
                "accounts/b-dev.yaml:2",
                "account dev lists role 'Auditor', which is not in the role catalogue",
            ),
            (
                "accounts/b-dev.yaml:3",
                "account alias 'prod' is used again (first at "
                "accounts/a-prod.yaml:2, id 111111111111)",
            ),
            (
                "accounts/a-prod.yaml:6",
                "adopt_roles names 'Data.Eng', which the account does not have",
            ),
            (
                "catalogue/b.yaml:2",
                "role 'ReadOnly' is defined again (first at catalogue/a.yaml:3)",
            ),
            (
                "catalogue/a.yaml:2: warning",
                "role 'Admin': max_session_duration 3600 is "
                "shorter than okta.session_duration 7200 (settings.yaml:13)",
            ),
            ("groups/a.yaml:5", "unknown account 'stage'"),
            ("groups/a.yaml:6", "account dev (222222222222) does not have role 'Admin'"),
            ("groups/a.yaml:7", "lists member 'BOB' twice (first at groups/a.yaml:7)"),
            (
                "groups/b.yaml:2",
                "management group 'admins' is listed again (first at groups/a.yaml:2)",
            ),
            ("groups/b.yaml:6", "no account has role 'Data.Eng', so account \"*\" grants nothing"),
            (
                "groups/b.yaml:7",
                "management group 'aws#x#Admin#555555555555' matches the group filter",
            ),
            ("settings.yaml:15: info", "protected name 'Nope' names nothing in the desired state"),
        ),
    )
    assert has_errors(problems)
    assert problems == sorted(problems)


def test_example_desired_state_has_no_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    problems = validate(state=load(directory=Path("desired-state")))
    assert not has_errors(problems), format_problems(problems)


# --- helpers and properties -----------------------------------------------------------


def test_format_problems_sorts_and_marks_warnings() -> None:
    problems = [
        Problem(Location("b.yaml", 1), "second file"),
        Problem(Location("a.yaml", 9), "later line", Severity.WARNING),
        Problem(Location("a.yaml", 2), "earlier line"),
    ]
    assert format_problems(problems).splitlines() == [
        "a.yaml:2: earlier line",
        "a.yaml:9: warning: later line",
        "b.yaml:1: second file",
    ]
    assert has_errors(problems)
    assert not has_errors([problems[1]])


# --- no escalation, as properties (issue 10) -----------------------------------------


def _with_group(group: ManagementGroupSpec) -> DesiredState:
    state = small_state()
    return dataclasses.replace(state, management_groups=(*state.management_groups, group))


@given(cn=st.text(min_size=1, max_size=30), upper=st.booleans(), spaced=st.booleans())
def test_no_dn_in_the_role_groups_ou_is_ever_accepted(cn: str, upper: bool, spaced: bool) -> None:
    parent = ROLE_OU.upper() if upper else ROLE_OU.lower()
    if spaced:
        parent = parent.replace(",", ", ")
    dn = build_dn(cn=cn, parent=parent)
    group = ManagementGroupSpec(name="Sneaky", dn=dn, members=("zoe",))
    problems = validate(state=_with_group(group))
    assert any("lies in directory.role_groups_ou" in p.message for p in problems), problems


@given(dn=st.text(max_size=60))
def test_validate_never_raises_on_any_dn(dn: str) -> None:
    problems = validate(state=_with_group(ManagementGroupSpec(name="Any", dn=dn)))
    assert all(printable(str(p)) == str(p) for p in problems)
