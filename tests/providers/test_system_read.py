"""The three providers' reads as the live read meets them (`apply.SystemRead`): a read
problem is a blocking READ_ERROR of that system, and the call totals add up the read's
own calls."""

from __future__ import annotations

import pytest

from engine.apply import SystemRead
from engine.model import DirectoryKind, System
from engine.plan import Finding, FindingKind
from engine.providers.aws import AccountError, AwsRead
from engine.providers.calls import CallKey, CallStats
from engine.providers.directory import DirectoryRead
from engine.providers.okta import OktaRead

CALLS = {
    CallKey("x", "scope", "list a"): CallStats(calls=3, retries=1),
    CallKey("x", "scope", "list b"): CallStats(calls=2, retries=4, errors=1),
}


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        (
            AwsRead(errors=(AccountError("111111111111", "denied"),), calls=CALLS),
            Finding(FindingKind.READ_ERROR, System.AWS, "account 111111111111", "denied"),
        ),
        (
            DirectoryRead(kind=DirectoryKind.LDAP, errors=("timed out",), calls=CALLS),
            Finding(FindingKind.READ_ERROR, System.DIRECTORY, "directory", "timed out"),
        ),
        (
            OktaRead(errors=("HTTP 500",), calls=CALLS),
            Finding(FindingKind.READ_ERROR, System.OKTA, "okta read", "HTTP 500"),
        ),
    ],
    ids=["aws", "directory", "okta"],
)
def test_a_read_problem_is_a_read_error_of_its_system(
    read: AwsRead | DirectoryRead | OktaRead, expected: Finding
) -> None:
    as_read: SystemRead = read  # mypy checks each read type against the protocol
    assert as_read.findings() == (expected,)
    assert (read.call_count, read.retry_count) == (5, 5)


def test_a_clean_read_has_no_findings() -> None:
    assert AwsRead(accounts=frozenset({"111111111111"})).findings() == ()
