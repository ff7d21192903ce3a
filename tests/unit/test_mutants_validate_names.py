"""Rules of `engine/validate_names.py` that surviving mutants showed no test pinned down
(`make mutate`, tests/README.md "Mutation testing")."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_validate import (
    BASE,
    NARROW_FILTER,
    Case,
    _append,
    _assert_problems,
    _problems,
)

ONE_ACCOUNT = 'accounts:\n  - {id: "111111111111", alias: prod, roles: [Data.Eng]}\n'
ONE_GROUP = (
    "management_groups:\n  - name: Engineers\n    grants:\n"
    "      - {account: prod, role: Data.Eng}\n    members: [alice]\n"
)


def test_the_only_role_group_missed_by_the_filter_is_reported_at_its_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One role group in all, missed by the filter: that is one role group's problem,
    said at its account's line, not the "maps none of the 1 role groups" summary (the
    summary is for a filter wrong for many; `> 1` mutated to `>= 1` said it here)."""
    monkeypatch.chdir(tmp_path)
    case = Case(
        edits=(
            ("settings.yaml", "group_filter: null", f"group_filter: {NARROW_FILTER}"),
            _append("roles.yaml", "  Data.Eng: {}\n"),
            ("accounts.yaml", BASE["accounts.yaml"], ONE_ACCOUNT),
            ("groups.yaml", BASE["groups.yaml"], ONE_GROUP),
        ),
    )
    expected = (
        (
            "accounts.yaml:2",
            "role group 'aws#prod#Data.Eng#111111111111' (prod/Data.Eng): the group filter",
        ),
    )
    _assert_problems(_problems(tmp_path, case), expected)
