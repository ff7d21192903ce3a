"""Rules of `engine/validate.py` that surviving mutants showed no test pinned down
(`make mutate`, tests/README.md "Mutation testing"). States are built by code, as
`validate` must hold for them too (no file, no line: every location is unknown)."""

from __future__ import annotations

import dataclasses

import pytest

from engine.spec import DesiredState, GrantSpec, ManagementGroupSpec, RoleSpec
from engine.validate import validate
from tests.unit.worlds import small_state


def _messages(state: DesiredState) -> list[str]:
    return [p.message for p in validate(state=state)]


def test_an_account_listed_twice_word_for_word_is_reported_by_id_and_by_alias() -> None:
    # Two equal entries (a copy, not the same object) are still two entries: each
    # duplicate field is its own error.
    state = small_state()
    copy = dataclasses.replace(state.accounts[0])
    messages = _messages(dataclasses.replace(state, accounts=(*state.accounts, copy)))
    assert any("account id 111111111111 is listed again" in m for m in messages)
    assert any("account alias 'prod' is used again" in m for m in messages)


def test_a_role_defined_twice_word_for_word_is_reported() -> None:
    state = small_state()
    copy = dataclasses.replace(state.roles[0])
    messages = _messages(dataclasses.replace(state, roles=(*state.roles, copy)))
    assert any("role 'Admin' is defined again" in m for m in messages)


@pytest.mark.parametrize(
    ("roles", "first_error"),
    [
        (("Admin", "Admin", "Nope"), "lists role 'Admin' twice"),
        (("Admin", "Wrong", "Nope"), "lists role 'Wrong', which is not in the role catalogue"),
        (("Admin", "Admin2", "Nope"), "both create the IAM role 'Admin'"),
        (("Admin", "admin", "Nope"), "roles 'Admin' (<desired-state>:0) and 'admin' differ only"),
    ],
)
def test_an_accounts_roles_after_a_bad_one_are_still_checked(
    roles: tuple[str, ...], first_error: str
) -> None:
    # Each bad entry is one error; the account's later roles are still validated.
    state = small_state()
    prod = dataclasses.replace(state.accounts[0], roles=roles)
    state = dataclasses.replace(
        state,
        roles=(*state.roles, RoleSpec(name="Admin2", iam_name="Admin")),
        accounts=(prod, *state.accounts[1:]),
    )
    messages = _messages(state)
    assert any(first_error in m for m in messages)
    assert any("lists role 'Nope', which is not in the role catalogue" in m for m in messages)


def test_a_grant_to_an_account_sorting_before_the_wildcard_is_still_checked() -> None:
    # Only "*" itself means every account: "!ops" ("!" sorts before "*") is unknown.
    state = small_state()
    group = ManagementGroupSpec(name="Ops", grants=(GrantSpec(role="Admin", account="!ops"),))
    state = dataclasses.replace(state, management_groups=(*state.management_groups, group))
    assert any("unknown account '!ops'" in m for m in _messages(state))


def test_an_account_whose_alias_is_its_own_id_listed_twice_is_ambiguous() -> None:
    # The copy's alias is the id of the first entry, a different entry however equal.
    state = small_state()
    own = dataclasses.replace(state.accounts[0], alias=state.accounts[0].id)
    copy = dataclasses.replace(own)
    messages = _messages(dataclasses.replace(state, accounts=(own, copy, *state.accounts[1:])))
    assert any("is the id of another account" in m for m in messages)


def test_roles_after_a_duplicate_role_are_still_checked() -> None:
    state = small_state()
    roles = (*state.roles, dataclasses.replace(state.roles[0]), RoleSpec(name="bad name"))
    messages = _messages(dataclasses.replace(state, roles=roles))
    assert any("role 'Admin' is defined again" in m for m in messages)
    assert any("'bad name'" in m for m in messages)


def test_every_missing_directory_setting_is_reported() -> None:
    state = small_state()
    directory = dataclasses.replace(
        state.settings.directory, role_groups_ou="", management_groups_ou=""
    )
    settings = dataclasses.replace(state.settings, directory=directory)
    messages = _messages(dataclasses.replace(state, settings=settings))
    assert any("directory.role_groups_ou is required" in m for m in messages)
    assert any("directory.management_groups_ou is required" in m for m in messages)


def test_a_malformed_role_group_description_is_a_problem_not_a_crash() -> None:
    state = small_state()
    settings = dataclasses.replace(state.settings, role_group_description="{alias")
    messages = _messages(dataclasses.replace(state, settings=settings))
    assert any("malformed template '{alias'" in m for m in messages)


@pytest.mark.parametrize(
    ("catalogue", "wrong", "hint"),
    [
        # Differs only in case and shares no character: no fuzzy match, the folded one.
        (("Audit",), "aUDIT", "(did you mean 'Audit'?)"),
        # Several differ only in case: the first in sorted order.
        (("Audit", "AUDIT"), "audit", "(did you mean 'AUDIT'?)"),
    ],
)
def test_an_unknown_role_hints_at_the_one_differing_only_in_case(
    catalogue: tuple[str, ...], wrong: str, hint: str
) -> None:
    state = small_state()
    roles = (*state.roles, *(RoleSpec(name=n) for n in catalogue if n != "Audit"))
    group = ManagementGroupSpec(name="Ops", grants=(GrantSpec(role=wrong, account="prod"),))
    state = dataclasses.replace(
        state, roles=roles, management_groups=(*state.management_groups, group)
    )
    assert any(
        f"unknown role {wrong!r} (not in the role catalogue) {hint}" in m for m in _messages(state)
    )
