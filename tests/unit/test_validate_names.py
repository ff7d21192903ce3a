"""Name checks (`engine.validate_names`): AD's sAMAccountName rule and Okta's parse of
every rendered role-group name, as properties over any valid alias and role.

The per-rule cases with file:line live in test_validate.py's table: they go through
`validate`, which runs these checks."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.model import DirectoryKind
from engine.naming import ALIAS_RE, ROLE_NAME_RE, sam_account_name
from engine.spec import (
    AccountSpec,
    DesiredState,
    DirectorySpec,
    Location,
    RoleSpec,
    Settings,
    Severity,
)
from engine.validate import validate


@pytest.mark.parametrize(
    ("name", "sam"),
    [
        ("aws#prod#Admin#1", "aws#prod#Admin#1"),
        ('a"b[c]:d;e|f=g+h*i?j<k>l/m\\n,o', "a_b_c__d_e_f_g_h_i_j_k_l_m_n_o"),
    ],
)
def test_sam_account_name_replaces_each_illegal_character(name: str, sam: str) -> None:
    assert sam_account_name(name) == sam


_ALIASES = st.from_regex(ALIAS_RE, fullmatch=True)
# No ',' (it breaks Okta's comma-separated role value: its own rule, tested above).
_ROLES = st.text(alphabet=string.ascii_letters + string.digits + "_+=.@-", min_size=1, max_size=20)


@given(
    alias=_ALIASES,
    # Distinct as AD sees them: colliding sAMAccountNames are their own rule, tested above.
    roles=st.lists(_ROLES, min_size=1, max_size=4, unique_by=lambda r: sam_account_name(r).lower()),
)
def test_default_syntax_round_trips_every_valid_alias_and_role(
    alias: str, roles: list[str]
) -> None:
    # The seed's syntax with the derived filter: Okta must map every group back to itself.
    assert all(ROLE_NAME_RE.match(r) for r in roles)
    state = DesiredState(
        root=Path("."),
        settings=Settings(
            directory=DirectorySpec(
                role_groups_ou="OU=Role Groups,DC=example,DC=test",
                management_groups_ou="OU=Management Groups,DC=example,DC=test",
                users_base="CN=Users,DC=example,DC=test",
            )
        ),
        roles=tuple(
            RoleSpec(name=r, loc=Location("roles.yaml", i + 1)) for i, r in enumerate(roles)
        ),
        accounts=(
            AccountSpec(
                id="123456789012",
                alias=alias,
                roles=tuple(roles),
                loc=Location("accounts.yaml", 1),
                role_locs=tuple(Location("accounts.yaml", 1) for _ in roles),
            ),
        ),
    )
    messages = [p.message for p in validate(state=state) if p.severity is Severity.ERROR]
    # Long aliases may exceed AD's cn limit; nothing else may be wrong.
    assert [m for m in messages if "characters; a directory group name" not in m] == []


def _one_account_state(*, alias: str, role: str, kind: DirectoryKind) -> DesiredState:
    return DesiredState(
        root=Path("."),
        settings=Settings(
            directory=DirectorySpec(
                kind=kind,
                role_groups_ou="OU=Role Groups,DC=example,DC=test",
                management_groups_ou="OU=Management Groups,DC=example,DC=test",
                users_base="CN=Users,DC=example,DC=test",
            )
        ),
        roles=(RoleSpec(name=role, loc=Location("roles.yaml", 1)),),
        accounts=(
            AccountSpec(
                id="123456789012",
                alias=alias,
                roles=(role,),
                loc=Location("accounts.yaml", 1),
                role_locs=(Location("accounts.yaml", 2),),
            ),
        ),
    )


@pytest.mark.parametrize(
    ("alias_length", "kind", "refused"),
    [
        (38, DirectoryKind.ACTIVE_DIRECTORY, False),  # aws#<38>#ReadOnly#<12> = 64
        (39, DirectoryKind.ACTIVE_DIRECTORY, True),  # 65
        (39, DirectoryKind.LDAP, True),  # kept for LDAP too: a state can move between them
        (39, DirectoryKind.OKTA, False),  # Okta group names are not a directory's cn
    ],
)
def test_the_cn_limit_is_64_characters_exactly(
    alias_length: int, kind: DirectoryKind, refused: bool
) -> None:
    state = _one_account_state(alias="a" * alias_length, role="ReadOnly", kind=kind)
    messages = [p.message for p in validate(state=state) if p.severity is Severity.ERROR]
    assert any("a directory group name (cn) is at most 64" in m for m in messages) is refused
    if refused:
        assert f"is {alias_length + 26} characters" in " ".join(messages)
