"""The shared API-call counter (engine/providers/calls.py) and how the AWS provider's
botocore hooks feed it."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.providers.calls import CallCounter, CallKey, CallStats, is_write

if TYPE_CHECKING:
    from tests.providers.conftest import AwsKit


@pytest.mark.parametrize(
    ("operation", "write"),
    [
        ("ListRoles", False),
        ("GetAccountAuthorizationDetails", False),
        ("AssumeRole", False),
        ("search", False),
        ("GET /api/v1/groups", False),
        ("CreateRole", True),
        ("AttachRolePolicy", True),
        ("TagRole", True),
        ("modify", True),
        ("PUT /api/v1/apps/x/groups/y", True),
        ("DELETE /api/v1/apps/x/groups/y", True),
    ],
)
def test_writes_are_told_apart_by_the_verb(operation: str, write: bool) -> None:
    assert is_write(operation) is write


def test_counts_are_kept_per_system_scope_and_operation() -> None:
    counter = CallCounter()
    counter.record(system="aws", scope="111111111111", operation="ListRoles")
    counter.record(system="aws", scope="111111111111", operation="ListRoles", calls=0, retries=2)
    counter.record(system="aws", scope="222222222222", operation="CreateRole")
    counter.record(system="okta", scope="org", operation="PUT /api/v1/apps", errors=1)
    counter.record(system="directory", scope="ldap", operation="bind", write=False)

    assert counter.snapshot() == {
        CallKey("aws", "111111111111", "ListRoles"): CallStats(calls=1, retries=2),
        CallKey("aws", "222222222222", "CreateRole"): CallStats(calls=1, write=True),
        CallKey("okta", "org", "PUT /api/v1/apps"): CallStats(calls=1, errors=1, write=True),
        CallKey("directory", "ldap", "bind"): CallStats(calls=1),
    }
    assert counter.total() == 4
    assert counter.total(system="aws") == 2
    assert counter.total(scope="111111111111") == 1
    assert counter.retries() == 2
    assert counter.writes() == 2 and counter.writes(system="aws") == 1
    assert counter.errors(system="okta") == 1
    assert counter.by_operation(system="aws") == {"ListRoles": 1, "CreateRole": 1}


def test_a_child_counts_into_its_parent_too() -> None:
    run = CallCounter()
    run.record(system="aws", scope="a", operation="ListRoles")
    read = run.child()
    read.record(system="aws", scope="a", operation="ListRoles", retries=1)

    assert read.total() == 1 and read.retries() == 1
    assert run.total() == 2 and run.retries() == 1


def test_counting_from_many_threads_loses_nothing() -> None:
    counter = CallCounter()
    parent_view = counter.child()

    def work() -> None:
        for _ in range(500):
            parent_view.record(system="aws", scope="a", operation="GetRole")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert counter.total() == parent_view.total() == 4000


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["aws", "okta"]),
            st.sampled_from(["1", "2"]),
            st.sampled_from(["ListRoles", "CreateRole", "GET /x"]),
            st.integers(0, 3),
            st.integers(0, 3),
        ),
        max_size=30,
    )
)
def test_totals_are_the_sums_of_what_was_recorded(
    records: list[tuple[str, str, str, int, int]],
) -> None:
    counter = CallCounter()
    for system, scope, operation, calls, retries in records:
        counter.record(
            system=system, scope=scope, operation=operation, calls=calls, retries=retries
        )

    assert counter.total() == sum(r[3] for r in records)
    assert counter.retries() == sum(r[4] for r in records)
    assert counter.writes() == sum(r[3] for r in records if r[2] == "CreateRole")
    for scope in ("1", "2"):
        assert counter.total(scope=scope) == sum(r[3] for r in records if r[1] == scope)


def test_the_aws_hooks_count_calls_retries_and_errors_per_account(aws: AwsKit) -> None:
    run = CallCounter()
    provider = aws.provider(calls=run, max_attempts=3)
    aws.faults.throttle("before-send.iam.ListRoles", times=1)
    aws.faults.add("before-send.iam.ListSAMLProviders", code="AccessDenied", message="no", times=1)

    read = provider.read(accounts=aws.accounts[:1])
    account_id = aws.accounts[0]

    assert [e.account_id for e in read.errors] == [account_id]  # ListSAMLProviders denied
    assert run.snapshot() == {
        CallKey("aws", account_id, "AssumeRole"): CallStats(calls=1),
        CallKey("aws", account_id, "ListSAMLProviders"): CallStats(calls=1, errors=1),
    }
    again = provider.read(accounts=aws.accounts[:1])
    assert again.errors == ()
    assert run.retries(operation="ListRoles") == 1 and run.total(operation="ListRoles") == 1
    assert dict(again.calls) == {
        CallKey("aws", account_id, "ListSAMLProviders"): CallStats(calls=1),
        CallKey("aws", account_id, "GetAccountAuthorizationDetails"): CallStats(calls=1),
        CallKey("aws", account_id, "ListRoles"): CallStats(calls=1, retries=1),
    }
