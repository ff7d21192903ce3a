"""`--only` narrows what a plan changes, not what it reads: read problems outside it inform."""

from __future__ import annotations

import pytest

from engine.commands_session import outside_only
from engine.model import System
from engine.plan import Finding, FindingKind

READ_ERROR = Finding(FindingKind.READ_ERROR, System.DIRECTORY, "directory", "connection refused")
MISSING = Finding(FindingKind.MISSING_USER, System.DIRECTORY, "member zoe", "no such user")
AWS_ERROR = Finding(FindingKind.READ_ERROR, System.AWS, "account 111111111111", "denied")
ROGUE = Finding(FindingKind.ROGUE_GROUP, System.OKTA, "group x", "look-alike")


@pytest.mark.parametrize(
    ("only", "finding", "blocks"),
    [
        (frozenset({System.AWS}), READ_ERROR, False),
        (frozenset({System.AWS}), MISSING, False),
        (frozenset({System.AWS}), AWS_ERROR, True),
        (frozenset(System), READ_ERROR, True),
        (frozenset({System.DIRECTORY}), MISSING, True),
    ],
)
def test_blocking_read_findings_outside_only_inform(
    only: frozenset[System], finding: Finding, blocks: bool
) -> None:
    [result] = outside_only(findings=(finding,), only=only)
    assert result.blocking is blocks
    if not blocks:
        assert result.kind is FindingKind.UNMANAGED
        assert result.subject.endswith("(outside --only)")
        assert finding.kind.value in result.message and finding.message in result.message
    else:
        assert result == finding


def test_informational_findings_pass_unchanged() -> None:
    assert outside_only(findings=(ROGUE,), only=frozenset({System.AWS})) == (ROGUE,)
