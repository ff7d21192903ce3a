"""The directory's performance targets (docs/architecture.md §Performance targets):
requests ≤ 1.1 × the minimum pages, and a converged re-plan writes nothing — the
directory provider against a real OpenLDAP slapd holding the full reference org (20,000
users, 5,400 groups; seeding takes ~35 s).

The provider is measured as shipped (its default page and batch sizes) and with both
at the servers' maximum of 1,000, against the same minimum. No latency is injected
here: the provider reads over one connection, one request at a time, so its wall time
is requests × round trip plus its own CPU, which the figures report.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.compile import compile_world
from engine.model import DirectoryKind, System, World
from engine.providers.calls import CallCounter
from engine.providers.directory import DirectoryProvider
from engine.sandbox.directory_servers import DirectoryServer, start_slapd
from tests.bench.directory_org import logins_of, minimum_requests, seed_directory
from tests.bench.orgs import REFERENCE, SLAPD_LAYOUT, TINY, OrgSize, plan_system, reference_state
from tests.bench.results import Recorder, timed
from tests.directory_fixtures import require_directory

CALL_LIMIT = 1.1


@pytest.fixture
def slapd(tmp_path: Path) -> Iterator[DirectoryServer]:
    require_directory(DirectoryKind.LDAP)  # skips locally, fails under CI
    with start_slapd(workdir=tmp_path / "slapd") as server:
        yield server


def desired_world(size: OrgSize) -> World:
    state = reference_state(size=size, kind=DirectoryKind.LDAP, layout=SLAPD_LAYOUT)
    return compile_world(state=state)


def read_and_plan(
    server: DirectoryServer, desired: World, *, page_size: int = 0, batch_size: int = 0
) -> tuple[dict[str, Any], bool]:
    """A fresh provider's read and the directory plan; (figures, plan is empty)."""
    calls = CallCounter()
    # 0: the provider's own default
    options: dict[str, Any] = {
        name: value
        for name, value in (("page_size", page_size), ("batch_size", batch_size))
        if value
    }
    provider = DirectoryProvider(
        kind=DirectoryKind.LDAP,
        role_groups_ou=SLAPD_LAYOUT.role_groups_ou,
        management_groups_ou=SLAPD_LAYOUT.management_groups_ou,
        users_base=SLAPD_LAYOUT.users_base,
        url=server.url,
        bind_dn=server.bind_dn,
        password=server.password,
        calls=calls,
        **options,
    )
    assert desired.okta_app is not None
    group_filter = desired.okta_app.settings.group_filter
    with provider:
        read, read_s = timed(
            lambda: provider.read(
                adopted_dns=[], logins=logins_of(desired), group_filter=group_filter
            )
        )
    assert read.errors == (), read.errors
    plan, diff_s = timed(
        lambda: plan_system(desired=desired, live=read.to_world(), system=System.DIRECTORY)
    )
    figures = {
        "page_size": provider.page_size,
        "batch_size": provider.batch_size,
        "calls": calls.total(),
        "writes": calls.writes(),
        "by_operation": dict(calls.by_operation(system="directory")),
        "read_s": round(read_s, 3),
        "plan_s": round(read_s + diff_s, 3),
        "changes": len(plan.changes),
    }
    return figures, plan.empty


@pytest.mark.bench
def test_directory_read_at_reference_size(slapd: DirectoryServer, results_dir: Path) -> None:
    record = Recorder(name="directory", directory=results_dir)
    desired = desired_world(REFERENCE)
    counts, seed_s = timed(lambda: seed_directory(slapd, desired=desired, layout=SLAPD_LAYOUT))
    record.figure("seeded", {**counts, "seconds": round(seed_s, 1), "server": "slapd"})
    minimum = minimum_requests(counts)
    record.figure("minimum requests", minimum)
    for label, size in (("as shipped", 0), ("page and batch 1000", 1000)):
        figures, empty = read_and_plan(slapd, desired, page_size=size, batch_size=size)
        figures["ratio"] = figures["calls"] / sum(minimum.values())
        record.figure(label, figures)
        assert empty and figures["writes"] == 0
        record.target(
            f"requests ÷ minimum pages ({label})",
            value=figures["ratio"],
            limit=CALL_LIMIT,
            note=f"page_size {figures['page_size']}, batch_size {figures['batch_size']}; "
            "minimum at the servers' 1,000",
        )
    record.assert_targets()


@pytest.mark.bench_smoke
def test_smoke_directory_read_of_a_tiny_org(slapd: DirectoryServer, results_dir: Path) -> None:
    desired = desired_world(TINY)
    counts = seed_directory(slapd, desired=desired, layout=SLAPD_LAYOUT)
    figures, empty = read_and_plan(slapd, desired)
    record = Recorder(name="directory_smoke", directory=results_dir)
    record.figure("tiny org", figures)
    assert record.save().exists()

    assert empty and figures["writes"] == 0
    # A tiny org fits in one page of each search: the read is exactly the minimum.
    assert figures["by_operation"] == minimum_requests(counts)
