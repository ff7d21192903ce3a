"""What the operator's environment sets when `providers.live.connect` builds providers."""

from __future__ import annotations

import pytest

from engine.model import System
from engine.providers.live import Connection, ConnectionProblem, connect
from tests.unit.worlds import small_state

KEYS = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example"}


@pytest.mark.parametrize(("value", "expected"), [(None, 5), ("2", 2), ("12", 12)])
def test_aws_attempts_follow_botocores_own_variable(value: str | None, expected: int) -> None:
    env = dict(KEYS) if value is None else {**KEYS, "AWS_MAX_ATTEMPTS": value}
    with connect(
        state=small_state(), systems=frozenset({System.AWS}), connection=Connection(env=env)
    ) as providers:
        assert providers.aws is not None and providers.aws.max_attempts == expected


@pytest.mark.parametrize("value", ["0", "-1", "three"])
def test_a_bad_attempt_count_is_refused_by_name(value: str) -> None:
    env = {**KEYS, "AWS_MAX_ATTEMPTS": value}
    with (
        pytest.raises(ConnectionProblem, match=f"AWS_MAX_ATTEMPTS={value!r}"),
        connect(
            state=small_state(), systems=frozenset({System.AWS}), connection=Connection(env=env)
        ),
    ):
        pass


@pytest.mark.parametrize(
    ("system", "message"),
    [
        (System.OKTA, "okta: OKTA_ORG_URL is not set"),
        (System.DIRECTORY, "directory: LDAP_URL is not set"),
    ],
)
def test_a_missing_setting_is_a_connection_problem_naming_the_variable(
    system: System, message: str
) -> None:
    """`connect` promises ConnectionProblem (the CLI's one-line error), not a ValueError."""
    with (
        pytest.raises(ConnectionProblem, match=message),
        connect(state=small_state(), systems=frozenset({system}), connection=Connection(env={})),
    ):
        pass
