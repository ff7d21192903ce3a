"""The loader: merged files, every value's file:line, and every load-time problem at once.

Each test writes a small desired-state directory to tmp_path (running from it, so
messages name files relative to it) and asserts exact locations and messages.
"""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import engine.load_yaml
from engine import commands
from engine.load import LoadError, load
from engine.load_yaml import MAX_FILE_BYTES
from engine.model import DirectoryKind
from engine.spec import DesiredState, Location, Severity

REPO = Path(__file__).resolve().parents[2]
# Real IdP metadata (the loader checks it): the example desired state's.
METADATA = (REPO / "desired-state" / "okta-idp-metadata.xml").read_text(encoding="utf-8")
SETTINGS = """\
settings:
  saml_provider:
    name: OKTA
    metadata_file: idp.xml
  directory:
    kind: active_directory
    role_groups_ou: OU=Role Groups,DC=example,DC=test
    management_groups_ou: OU=Management Groups,DC=example,DC=test
    users_base: CN=Users,DC=example,DC=test
  okta:
    app_label: Amazon Web Services
    app_filter: active_directory
    group_filter: null
  safety:
    protected:
      - aws#prod#Admin#111111111111
      - ReadOnly
"""
ROLES = """\
roles:
  Admin: {}
  ReadOnly:
    max_session_duration: 7200
"""
ACCOUNTS = """\
accounts:
  - {id: "111111111111", alias: prod, roles: [Admin, ReadOnly]}
  - id: "222222222222"
    alias: dev
    roles:
      - ReadOnly
      - Admin
    adopt_roles: [Admin]
"""
GROUPS = """\
management_groups:
  - name: Admins
    grants:
      - {account: prod, role: Admin}
      - account: dev
        role: Admin
    members:
      - alice
      - bob
"""
BASE = {
    "settings.yaml": SETTINGS,
    "roles.yaml": ROLES,
    "accounts.yaml": ACCOUNTS,
    "groups.yaml": GROUPS,
    "idp.xml": METADATA,
}


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _load(root: Path, files: dict[str, str]) -> DesiredState:
    _write(root, files)
    return load(directory=root)


def _load_errors(root: Path, files: dict[str, str]) -> list[str]:
    _write(root, files)
    with pytest.raises(LoadError) as info:
        load(directory=root)
    return [str(p) for p in info.value.problems]


def _at(file: str, line: int) -> Location:
    return Location(file, line)


# --- line numbers ----------------------------------------------------------------------


def test_every_value_keeps_its_line(root: Path) -> None:
    state = _load(root, BASE)
    s = state.settings
    assert s.loc == _at("settings.yaml", 1)
    assert s.loc_of("okta.group_filter") == _at("settings.yaml", 13)  # nested key
    assert s.loc_of("directory.users_base") == _at("settings.yaml", 9)
    assert s.loc_of("no.such.key") == s.loc
    assert s.safety.protected_locs == (
        ("aws#prod#Admin#111111111111", _at("settings.yaml", 16)),  # list items
        ("ReadOnly", _at("settings.yaml", 17)),
    )
    admin, read_only = state.roles
    assert (admin.loc, read_only.loc) == (_at("roles.yaml", 2), _at("roles.yaml", 3))
    assert read_only.loc_of("max_session_duration") == _at("roles.yaml", 4)
    prod, dev = state.accounts
    assert prod.loc == prod.loc_of("alias") == _at("accounts.yaml", 2)  # flow style
    assert prod.role_locs == (_at("accounts.yaml", 2),) * 2
    assert dev.loc == dev.loc_of("id") == _at("accounts.yaml", 3)  # block style
    assert dev.loc_of("alias") == _at("accounts.yaml", 4)
    assert dev.role_locs == (_at("accounts.yaml", 6), _at("accounts.yaml", 7))
    assert dev.loc_of("adopt_roles.0") == _at("accounts.yaml", 8)
    (group,) = state.management_groups
    assert group.loc_of("name") == _at("groups.yaml", 2)
    assert [g.loc for g in group.grants] == [_at("groups.yaml", 4), _at("groups.yaml", 5)]
    assert group.grants[1].loc_of("account") == _at("groups.yaml", 5)
    assert group.grants[1].loc_of("role") == _at("groups.yaml", 6)
    assert group.member_locs == (_at("groups.yaml", 8), _at("groups.yaml", 9))


def test_merged_files_keep_their_own_file_names(root: Path) -> None:
    files = {
        "settings.yaml": SETTINGS,
        "idp.xml": METADATA,
        "catalogue/core.yaml": "roles:\n  Admin: {}\n",
        "catalogue/extra.yaml": "# extra roles\nroles:\n  ReadOnly: {}\n",
        "accounts/prod.yaml": 'accounts:\n  - {id: "111111111111", alias: prod}\n',
        "accounts/dev.yaml": '\naccounts:\n  - {id: "222222222222", alias: dev}\n',
        "groups/a.yaml": "management_groups:\n  - name: A\n",
        "groups/deep/b.yaml": "\n\nmanagement_groups:\n  - name: B\n",
    }
    state = _load(root, files)
    assert [(r.name, r.loc) for r in state.roles] == [
        ("Admin", _at("catalogue/core.yaml", 2)),
        ("ReadOnly", _at("catalogue/extra.yaml", 3)),
    ]
    # Files merge in path order.
    assert [(a.alias, a.loc) for a in state.accounts] == [
        ("dev", _at("accounts/dev.yaml", 3)),
        ("prod", _at("accounts/prod.yaml", 2)),
    ]
    assert [(g.name, g.loc) for g in state.management_groups] == [
        ("A", _at("groups/a.yaml", 2)),
        ("B", _at("groups/deep/b.yaml", 4)),
    ]
    assert state.files == tuple(sorted(n for n in files if n.endswith(".yaml")))


MERGE_KEYS = """\
accounts:
  - &prod
    id: "111111111111"
    alias: prod
    roles: [Admin, ReadOnly]
    tags: {env: prod, team: pay}
  - &eu
    <<: *prod
    id: "222222222222"
    alias: prod-eu
    roles: [Admin]
  - *eu
"""


def test_merge_keys_override_without_duplicates_and_keep_lines(root: Path) -> None:
    state = _load(root, {**BASE, "accounts.yaml": MERGE_KEYS})
    prod, eu, again = state.accounts
    assert (eu.id, eu.alias, eu.roles, eu.tags) == (
        "222222222222",
        "prod-eu",
        ("Admin",),  # the mapping's own key wins over the merged one
        (("env", "prod"), ("team", "pay")),  # merged from *prod
    )
    assert eu.loc_of("alias") == _at("accounts.yaml", 10)
    assert eu.role_locs == (_at("accounts.yaml", 11),)
    assert eu.loc_of("tags.team") == _at("accounts.yaml", 6)  # where the value is written
    # An alias of a node that itself merges is the same account again, not a duplicate key.
    assert (again.id, again.alias, again.roles) == (eu.id, eu.alias, eu.roles)
    assert prod.roles == ("Admin", "ReadOnly")


def test_merge_of_several_mappings_first_wins(root: Path) -> None:
    # The YAML merge-key spec: earlier mappings win (PyYAML's safe_load lets `b` win).
    accounts = """\
accounts:
  - &a {id: "111111111111", alias: aaa}
  - &b {id: "222222222222", alias: bbb, roles: [Admin]}
  - <<: [*a, *b]
    id: "333333333333"
"""
    state = _load(root, {**BASE, "accounts.yaml": accounts})
    merged = state.accounts[2]
    assert (merged.id, merged.alias, merged.roles) == ("333333333333", "aaa", ("Admin",))


# --- problems --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "text", "expected"),
    [
        (
            "roles.yaml",
            "roles:\n  Admin: {}\n  ReadOnly: {}\n  Admin: {description: again}\n",
            ["roles.yaml:4: duplicate key 'Admin' (first at line 2)"],
        ),
        (
            "accounts.yaml",
            'accounts:\n  - id: "111111111111"\n    alias: prod\n    alias: prod2\n',
            ["accounts.yaml:4: duplicate key 'alias' (first at line 3)"],
        ),
        (
            "accounts.yaml",
            MERGE_KEYS.replace("    alias: prod-eu\n", '    alias: prod-eu\n    id: "3"\n'),
            ["accounts.yaml:11: duplicate key 'id' (first at line 9)"],
        ),
    ],
    ids=["top-level-mapping", "list-item", "own-keys-beside-merge"],
)
def test_duplicate_keys_within_a_mapping(
    root: Path, file: str, text: str, expected: list[str]
) -> None:
    assert _load_errors(root, {**BASE, file: text}) == expected


def test_two_files_holding_settings(root: Path) -> None:
    other = "# overrides\nsettings:\n" + SETTINGS.split("\n", 1)[1]
    errors = _load_errors(root, {**BASE, "z/settings.yaml": other})
    assert errors == [
        "z/settings.yaml:2: `settings:` given again (already in settings.yaml); "
        "exactly one file holds settings"
    ]


def test_no_file_holds_settings(root: Path) -> None:
    files = {k: v for k, v in BASE.items() if k != "settings.yaml"}
    assert _load_errors(root, files) == [".:0: no file holds `settings:`"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'accounts:\n  - {id: "111111111111", alias: prod\n  - {id: "2"}\n',
            "accounts.yaml:3: YAML syntax: did not find expected ',' or '}'",
        ),
        ("accounts:\n\t- x\n", "accounts.yaml:2: YAML syntax: found character that cannot"),
        (
            "accounts:\n  - id: !Ref prod\n",
            "accounts.yaml:2: unsupported YAML tag '!Ref' on a value: only plain values, "
            "lists and mappings are allowed",
        ),
        (
            "accounts:\n  - <<: 5\n    alias: prod\n",
            "accounts.yaml:2: YAML syntax: expected a mapping or list of mappings for merging",
        ),
    ],
    ids=["unclosed-flow-mapping", "tab-indent", "unknown-tag", "merge-of-a-scalar"],
)
def test_yaml_syntax_error_line(root: Path, text: str, expected: str) -> None:
    errors = _load_errors(root, {**BASE, "accounts.yaml": text})
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_not_utf8_is_a_problem_not_a_crash(root: Path) -> None:
    _write(root, BASE)
    (root / "accounts.yaml").write_bytes(b"accounts: []\n# caf\xe9\n")
    with pytest.raises(LoadError) as info:
        load(directory=root)
    assert [str(p) for p in info.value.problems] == [
        "accounts.yaml:2: not UTF-8 text: invalid continuation byte"  # the line of the byte
    ]


def test_schema_unknown_key_at_nested_level(root: Path) -> None:
    settings = SETTINGS.replace("    group_filter: null\n", "    grup_filter: null\n")
    errors = _load_errors(root, {**BASE, "settings.yaml": settings})
    assert len(errors) == 1
    assert errors[0].startswith("settings.yaml:13: settings.okta.grup_filter: unknown key "), errors


def test_schema_unquoted_account_id(root: Path) -> None:
    accounts = ACCOUNTS.replace('id: "222222222222"', "id: 222222222222")
    errors = _load_errors(root, {**BASE, "accounts.yaml": accounts})
    assert errors == [
        "accounts.yaml:3: accounts.1.id: account id 222222222222 must be a quoted string of "
        '12 digits (write id: "…"; unquoted, YAML reads a number and drops leading zeros)'
    ]


def test_all_files_report_at_once(root: Path) -> None:
    errors = _load_errors(
        root,
        {
            **BASE,
            "roles.yaml": "roles:\n  Admin: {}\n  Admin: {}\n",
            "accounts.yaml": "accounts:\n  - {id: 1, alias: prod\n",
            "groups.yaml": "management_groups:\n  - name: A\n    member: [x]\n",
        },
    )
    assert [e.split(": ")[0] for e in errors] == [
        "accounts.yaml:3",
        "groups.yaml:3",
        "roles.yaml:3",
    ]


@pytest.mark.parametrize(
    ("files", "partial_accounts"),
    [
        # A bad value: the entry is still built, so semantic checks can see it.
        ({"accounts.yaml": ACCOUNTS.replace('id: "222222222222"', 'id: "2222"')}, 2),
        # A missing required key: that entry is left out, the rest is built.
        ({"accounts.yaml": ACCOUNTS.replace("alias: dev", "alais: dev")}, 1),
        # Settings that cannot be built: nothing to check semantically.
        ({"settings.yaml": SETTINGS.replace("kind: active_directory", "kind: novell")}, None),
        # A file that does not parse: no partial state either.
        ({"groups.yaml": "management_groups:\n  - {name: A\n"}, None),
    ],
    ids=["bad-value", "missing-key", "bad-settings", "yaml-syntax"],
)
def test_schema_problems_come_with_a_best_effort_state(
    root: Path, files: dict[str, str], partial_accounts: int | None
) -> None:
    _write(root, {**BASE, **files})
    with pytest.raises(LoadError) as info:
        load(directory=root)
    partial = info.value.partial
    assert info.value.problems
    if partial_accounts is None:
        assert partial is None
    else:
        assert partial is not None and len(partial.accounts) == partial_accounts


def _partial(root: Path, files: dict[str, str]) -> DesiredState:
    _write(root, {**BASE, **files})
    with pytest.raises(LoadError) as info:
        load(directory=root)
    assert info.value.problems and info.value.partial is not None
    return info.value.partial


def test_best_effort_entries_keep_their_identity_and_item_lines(root: Path) -> None:
    # Numbers where text belongs are read as their text: the account keeps its id and
    # both roles, each at its own line, for the semantic checks.
    accounts = ACCOUNTS.replace('id: "222222222222"', "id: 222222222222").replace(
        "      - Admin\n", "      - 7\n"
    )
    dev = _partial(root, {"accounts.yaml": accounts}).accounts[1]
    assert (dev.id, dev.roles) == ("222222222222", ("ReadOnly", "7"))
    assert dev.role_locs == (_at("accounts.yaml", 6), _at("accounts.yaml", 7))


def test_best_effort_leaves_out_what_cannot_be_built(root: Path) -> None:
    groups = GROUPS.replace("        role: Admin\n", "")  # the second grant has no role
    roles = ROLES.replace("max_session_duration: 7200", "max_session_duration: seven")
    state = _partial(root, {"groups.yaml": groups, "roles.yaml": roles})
    (group,) = state.management_groups
    assert [(g.account, g.role, g.loc) for g in group.grants] == [
        ("prod", "Admin", _at("groups.yaml", 4))
    ]
    read_only = state.role("ReadOnly")  # a wrong type: the default
    assert read_only is not None and read_only.max_session_duration == 3600


@pytest.mark.parametrize(
    "files",
    [
        {"roles.yaml": "roles:\n  - {}\n"},  # the catalogue written as a list
        {"settings.yaml": SETTINGS.replace("- ReadOnly", "- [ReadOnly]")},  # found by fuzzing
    ],
    ids=["catalogue-as-list", "protected-name-a-list"],
)
def test_wrongly_shaped_values_are_schema_problems_not_crashes(
    root: Path, files: dict[str, str]
) -> None:
    assert _load_errors(root, {**BASE, **files})


def test_missing_metadata_file_is_reported_at_its_line(root: Path) -> None:
    files = {k: v for k, v in BASE.items() if k != "idp.xml"}
    errors = _load_errors(root, files)
    assert errors == [
        "settings.yaml:4: cannot read SAML metadata file 'idp.xml': No such file or directory"
    ]


def test_settings_defaults(root: Path) -> None:
    state = _load(root, BASE)
    assert state.settings.directory.kind is DirectoryKind.ACTIVE_DIRECTORY
    assert state.settings.saml_provider.metadata == METADATA
    assert state.settings.okta.session_duration == 3600
    assert state.settings.role_group_name == "aws#{alias}#{role}#{account_id}"


def test_role_entries_decode_with_defaults_and_iam_name(root: Path) -> None:
    roles = ROLES + "  Admin-12h:\n    iam_name: Admin\n    max_session_duration: 43200\n"
    admin, read_only, variant = _load(root, {**BASE, "roles.yaml": roles}).roles
    assert (admin.iam_name, admin.iam_role_name, admin.max_session_duration) == (
        None,
        "Admin",
        3600,
    )
    assert (admin.managed_policies, admin.description, admin.adopt) == ((), "", False)
    assert read_only.iam_role_name == "ReadOnly"
    assert (variant.name, variant.iam_name) == ("Admin-12h", "Admin")
    assert variant.iam_role_name == "Admin"
    assert variant.max_session_duration == 43200
    assert variant.loc_of("iam_name") == _at("roles.yaml", 6)


# --- digest ----------------------------------------------------------------------------


@pytest.mark.parametrize("changed", sorted(BASE))
def test_digest_changes_when_any_file_changes(root: Path, changed: str) -> None:
    before = _load(root, BASE).digest
    assert _load(root, BASE).digest == before  # stable for the same bytes
    edited = {
        **BASE,
        changed: BASE[changed] + ("\n# edited\n" if changed.endswith(".yaml") else " "),
    }
    assert _load(root, edited).digest != before


def test_digest_changes_when_a_file_is_renamed(root: Path) -> None:
    before = _load(root, BASE).digest
    (root / "groups.yaml").rename(root / "groups2.yaml")
    assert load(directory=root).digest != before


# --- confinement: every file read lies inside the desired-state folder -----------------

SECRET = "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def secret(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file outside the desired-state folder, as a runner's credentials would be."""
    path = tmp_path_factory.mktemp("home") / "credentials"
    path.write_text(f"[default]\n{SECRET}\n", encoding="utf-8")
    return path


def _metadata_at(path: str) -> str:
    return SETTINGS.replace("metadata_file: idp.xml", f"metadata_file: {path}")


OUTSIDE = (
    "settings.yaml:4: SAML metadata file {name} lies outside the desired-state folder . "
    "once symlinks are resolved: refused (keep every file inside the folder)"
)


@pytest.mark.parametrize("name", ["/etc/passwd", "../../../../../../etc/passwd", "../idp.xml"])
def test_metadata_file_outside_the_folder_is_refused(root: Path, name: str) -> None:
    (root.parent / "idp.xml").write_text(METADATA, encoding="utf-8")  # valid, but outside
    errors = _load_errors(root, {**BASE, "settings.yaml": _metadata_at(name)})
    assert errors == [OUTSIDE.format(name=repr(name))]


def test_metadata_file_symlinked_out_of_the_folder_is_refused(root: Path, secret: Path) -> None:
    _write(root, {k: v for k, v in BASE.items() if k != "idp.xml"})
    (root / "idp.xml").symlink_to(secret)
    errors = _load_errors(root, {})
    assert errors == [OUTSIDE.format(name="'idp.xml'")]


def test_metadata_file_in_a_subfolder_and_through_a_symlink_inside_is_read(root: Path) -> None:
    _write(root, {**BASE, "saml/okta.xml": METADATA})
    (root / "saml" / "current.xml").symlink_to("okta.xml")
    state = _load(root, {"settings.yaml": _metadata_at("saml/current.xml")})
    assert state.settings.saml_provider.metadata == METADATA


def test_yaml_symlinked_out_of_the_folder_is_refused_without_its_content(
    root: Path, secret: Path
) -> None:
    _write(root, BASE)
    (root / "creds.yaml").symlink_to(secret)
    errors = _load_errors(root, {})
    assert errors == [
        "creds.yaml:1: this file lies outside the desired-state folder . once symlinks are "
        "resolved: refused (keep every file inside the folder)"
    ]


def test_symlinked_directory_out_of_the_folder_is_refused(root: Path, secret: Path) -> None:
    _write(root, BASE)
    (secret.parent / "more.yaml").write_text("roles:\n  Extra: {}\n", encoding="utf-8")
    (root / "shared").symlink_to(secret.parent)
    errors = _load_errors(root, {})
    assert errors == [
        "shared:0: symlink to a directory outside the desired-state folder: refused "
        "(move its files inside the folder)"
    ]


def test_symlinks_inside_the_folder_are_read_where_they_point(root: Path) -> None:
    _write(root, {**BASE, "teams/pay/roles.yaml": "roles:\n  Pay: {}\n"})
    (root / "pay").symlink_to("teams/pay")  # a directory link: its files are read once
    (root / "more.yaml").symlink_to("teams/pay/roles.yaml")  # a file link: read as itself
    state = load(directory=root)
    assert [(r.name, r.loc) for r in state.roles if r.name == "Pay"] == [
        ("Pay", _at("more.yaml", 2)),  # twice: validate says "defined again"
        ("Pay", _at("teams/pay/roles.yaml", 2)),
    ]
    assert "pay/roles.yaml" not in state.files


def test_broken_symlink_is_an_error_not_skipped(root: Path) -> None:
    _write(root, BASE)
    (root / "gone.yaml").symlink_to("nowhere.yaml")
    assert _load_errors(root, {}) == [
        "gone.yaml:1: cannot read this file: No such file or directory"
    ]


# --- messages never print a file's content ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A file whose top level is not a mapping: described, never printed.
        (f"{SECRET}\n", "x.yaml:1: (top level): a str of 64 characters is not of type 'object'"),
        (
            f"- {SECRET}\n- two\n",
            "x.yaml:1: (top level): a list of 2 item(s) is not of type 'object'",
        ),
        # A whole section of the wrong type, or a long value: described.
        (
            f"accounts:\n  key: {SECRET}\n",
            "x.yaml:1: accounts: a mapping of 1 key(s) is not of type 'array'",
        ),
        (
            f"roles:\n  Admin: {{description: 1, managed_policies: ['{SECRET}']}}\n",
            "x.yaml:2: roles.Admin.managed_policies.0: a str of 64 characters does not match",
        ),
        # A short value the user typed on that line is shown, as before.
        ('accounts:\n  - {id: "12", alias: prod}\n', "x.yaml:2: accounts.0.id: '12' does not"),
    ],
    ids=["top-level-string", "top-level-list", "section-mapping", "long-value", "short-value"],
)
def test_schema_messages_do_not_print_content(root: Path, text: str, expected: str) -> None:
    errors = _load_errors(root, {**BASE, "x.yaml": text})
    assert all(SECRET not in e for e in errors), errors
    assert any(e.startswith(expected) for e in errors), errors


def test_yaml_errors_do_not_quote_the_line(root: Path) -> None:
    errors = _load_errors(root, {**BASE, "x.yaml": f"a: {SECRET}\n  b: c\n"})
    assert errors == ["x.yaml:2: YAML syntax: mapping values are not allowed in this context"]


# --- bounded parsing and one-line errors for any file ----------------------------------

LOADER_CASES = REPO / "tests" / "data" / "invalid" / "loader"
# file under tests/data/invalid/loader → the one problem it gets (as `case.yaml`)
LOADER_EXPECTED = {
    "alias-bomb": "case.yaml:9: YAML aliases expand this file by more than 100,000 values "
    "(an alias bomb?): write the values out or use fewer aliases",
    "alias-recursive": "case.yaml:2: a YAML alias refers to a node that contains it",
    "anchor-undefined": "case.yaml:2: YAML syntax: found undefined alias",
    "bool-invalid": "case.yaml:2: not a valid boolean (quote it to make it a string)",
    "date-invalid": "case.yaml:4: not a valid date (quote it to make it a string)",
    "escape-byte": "case.yaml:3: U+001B is not allowed in YAML (write control characters as "
    'escapes such as "\\t" inside double quotes)',
    "int-too-long": "case.yaml:2: not a valid integer (quote it to make it a string)",
    "key-complex": "case.yaml:3: a list used as a mapping key: keys must be plain values",
    "merge-of-a-list-of-scalars": "case.yaml:3: YAML syntax: expected a mapping or list of "
    "mappings for merging, but found scalar",
    "nesting-through-aliases": "case.yaml:3: nested more than 50 levels deep (aliases included)",
    "nesting-too-deep": "case.yaml:2: nested more than 50 levels deep (aliases included)",
    "not-utf8": "case.yaml:3: not UTF-8 text: invalid continuation byte",
    "nul-byte": "case.yaml:2: U+0000 is not allowed in YAML (write control characters as "
    'escapes such as "\\t" inside double quotes)',
    "tag-binary": "case.yaml:3: unsupported YAML tag '!!binary' on a value: only plain values, "
    "lists and mappings are allowed",
    "tag-omap": "case.yaml:1: unsupported YAML tag '!!omap' on a list: only plain values, "
    "lists and mappings are allowed",
    "tag-on-list": "case.yaml:1: unsupported YAML tag '!foo' on a list: only plain values, "
    "lists and mappings are allowed",
    "tag-on-value": "case.yaml:2: unsupported YAML tag '!Ref' on a value: only plain values, "
    "lists and mappings are allowed",
    "tag-python": "case.yaml:2: unsupported YAML tag '!!python/object/apply:os.system' on a "
    "list: only plain values, lists and mappings are allowed",
    "tag-set": "case.yaml:1: unsupported YAML tag '!!set' on a mapping: only plain values, "
    "lists and mappings are allowed",
}


def test_loader_cases_table_lists_every_file() -> None:
    assert {p.stem for p in LOADER_CASES.glob("*.yaml")} == set(LOADER_EXPECTED)


@pytest.mark.parametrize("stem", sorted(LOADER_EXPECTED))
def test_loader_case_is_one_line_at_its_line(root: Path, stem: str) -> None:
    _write(root, BASE)
    (root / "case.yaml").write_bytes((LOADER_CASES / f"{stem}.yaml").read_bytes())
    with pytest.raises(LoadError) as info:
        load(directory=root)
    assert [str(p) for p in info.value.problems] == [LOADER_EXPECTED[stem]]
    assert info.value.partial is None


def test_file_over_the_size_limit_is_refused_unread(root: Path) -> None:
    _write(root, BASE)
    with (root / "big.yaml").open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing to parse even if it were read
    assert _load_errors(root, {}) == [
        "big.yaml:1: this file is 10,485,761 bytes, over the 10 MiB limit of a desired-state file"
    ]


def test_metadata_over_the_size_limit_is_refused(root: Path) -> None:
    _write(root, BASE)
    with (root / "idp.xml").open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    assert _load_errors(root, {}) == [
        "settings.yaml:4: SAML metadata file 'idp.xml' is 10,485,761 bytes, over the 10 MiB "
        "limit of a desired-state file"
    ]


def test_unreadable_file_is_one_line(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root, where chmod 000 does not stop a read: refuse the open instead.
    real_open = Path.open

    def refusing_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.name == "roles.yaml":
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    _write(root, BASE)
    monkeypatch.setattr(Path, "open", refusing_open)
    assert _load_errors(root, {}) == ["roles.yaml:1: cannot read this file: Permission denied"]


def test_fifo_is_refused_not_read(root: Path) -> None:
    # Opening a FIFO would block until someone writes to it.
    _write(root, BASE)
    os.mkfifo(root / "pipe.xml")
    errors = _load_errors(root, {"settings.yaml": _metadata_at("pipe.xml")})
    assert errors == ["settings.yaml:4: SAML metadata file 'pipe.xml' is not a regular file"]
    os.mkfifo(root / "pipe.yaml")
    assert _load_errors(root, {}) == ["pipe.yaml:1: this file is not a regular file"]


def test_directory_named_like_a_yaml_file_is_walked_into(root: Path) -> None:
    state = _load(root, {**BASE, "more.yaml/roles.yaml": "roles:\n  Extra: {}\n"})
    assert "more.yaml/roles.yaml" in state.files


def test_yml_files_are_read_too(root: Path) -> None:
    files = {k: v for k, v in BASE.items() if k != "groups.yaml"}
    state = _load(root, {**files, "groups.yml": GROUPS, "extra/roles.yml": "roles:\n  X: {}\n"})
    assert [g.name for g in state.management_groups] == ["Admins"]
    assert state.role("X") is not None
    assert {"groups.yml", "extra/roles.yml"} <= set(state.files)


def test_only_yml_files_is_not_no_files(root: Path) -> None:
    state = _load(root, {f"{k[:-5]}.yml" if k.endswith(".yaml") else k: v for k, v in BASE.items()})
    assert len(state.files) == 4


# --- SAML metadata through the loader ---------------------------------------------------


def test_binary_metadata_file_is_one_line(root: Path) -> None:
    _write(root, BASE)
    (root / "idp.xml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    assert _load_errors(root, {}) == [
        "idp.xml:1: SAML metadata: not UTF-8 text (invalid start byte): is it a binary file?"
    ]


def test_metadata_problems_name_the_metadata_file_and_line(root: Path) -> None:
    broken = METADATA.replace('use="signing"', 'use="encryption"')
    errors = _load_errors(root, {**BASE, "idp.xml": broken})
    assert errors == [
        'idp.xml:3: SAML metadata: no signing certificate (a KeyDescriptor with use="signing" '
        "or no use, holding a ds:X509Certificate)"
    ]


def test_metadata_with_a_doctype_is_refused(root: Path) -> None:
    evil = METADATA.replace(
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n',
    )
    errors = _load_errors(root, {**BASE, "idp.xml": evil})
    assert len(errors) == 1 and errors[0].startswith(
        "idp.xml:2: SAML metadata: a DOCTYPE is not allowed"
    )


NOT_AFTER = datetime(2035, 1, 15, 9, 30, tzinfo=UTC)  # the example certificate's


def test_certificate_expiry_is_a_note_while_valid(root: Path) -> None:
    state = _load(root, BASE)
    (note,) = state.notes
    assert note.severity is Severity.INFO
    assert note.loc == _at("idp.xml", 7)
    assert note.message.endswith("valid until 2035-01-15T09:30:00Z")
    _write(root, BASE)
    soon = load(directory=root, now=NOT_AFTER - timedelta(days=5))
    assert [n.severity for n in soon.notes] == [Severity.WARNING]
    assert soon.notes[0].message.endswith("expires on 2035-01-15T09:30:00Z (in 5 days)")


def test_expired_certificate_fails_the_load(root: Path) -> None:
    _write(root, BASE)
    with pytest.raises(LoadError) as info:
        load(directory=root, now=NOT_AFTER + timedelta(seconds=1))
    (problem,) = info.value.problems
    assert str(problem).startswith("idp.xml:7: SAML metadata: signing certificate sha256:")
    assert str(problem).endswith(
        "expired on 2035-01-15T09:30:00Z; download the current metadata from the Okta app"
    )


def test_integer_written_as_a_float_keeps_its_value(root: Path) -> None:
    state = _load(root, {**BASE, "roles.yaml": ROLES.replace("7200", "7200.0")})
    assert state.role("ReadOnly") is not None
    assert state.role("ReadOnly").max_session_duration == 7200  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("key", "kind"), [("1", "number"), ("yes", "boolean"), ("~", "null"), ("2024-01-01", "date")]
)
def test_a_key_that_is_not_a_string_is_refused(root: Path, key: str, kind: str) -> None:
    errors = _load_errors(root, {**BASE, "roles.yaml": f"roles:\n  Admin: {{}}\n  {key}: {{}}\n"})
    assert len(errors) == 1
    assert errors[0].startswith("roles.yaml:3: key ")
    assert errors[0].endswith(f" is read as a {kind}: quote it to make it a string")


@pytest.mark.parametrize("stem", sorted(set(LOADER_EXPECTED) - {"anchor-undefined"}))
def test_loader_case_without_libyaml_is_the_same_line(
    root: Path, stem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pure-Python parser is the fallback where PyYAML lacks libyaml: same bounds, same
    # messages (libyaml's own syntax messages aside).
    monkeypatch.setattr(engine.load_yaml, "_FAST", None)
    test_loader_case_is_one_line_at_its_line(root, stem)


def test_valid_state_without_libyaml_is_the_same(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _load(root, BASE)
    monkeypatch.setattr(engine.load_yaml, "_FAST", None)
    assert load(directory=root) == fast


def test_validate_prints_the_certificate_expiry(root: Path) -> None:
    _write(root, BASE)
    out, err = io.StringIO(), io.StringIO()
    assert commands.validate(directory=Path("."), out=out, err=err) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(".: valid (")
    assert lines[1].startswith("idp.xml:7: info: SAML metadata: signing certificate sha256:")
    assert lines[1].endswith(" valid until 2035-01-15T09:30:00Z")
    assert err.getvalue() == ""
