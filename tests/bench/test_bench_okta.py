"""The performance targets for Okta (docs/architecture.md §Performance targets): calls
≤ 1.1 × the minimum pages, a converged re-plan writes nothing, wall time ≤ 2 × calls ÷
concurrency × latency — the okta SDK against the project's emulator, at full reference
size.

The emulator holds the reference org as an AD import leaves it: 5,000 role groups and
400 management groups (APP_GROUPs), 20,000 users, ~810,000 flattened role-group
memberships, the AWS app assigned to the management groups. It runs in a child
process (`tests/bench/servers.py`). Latency is the emulator's own per-request delay:
20 ms at reference size, and 200 ms (where latency, not CPU, dominates) at 1/8 of it.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.compile import compile_world
from engine.model import System, World
from engine.plan import Plan
from engine.providers.calls import CallCounter
from engine.providers.live import Providers, directory_logins, read_live
from engine.providers.okta import OktaProvider, OktaRead
from engine.providers.okta_pacing import DEFAULT_SHARE, OKTA_DEFAULT_LIMITS, Pacer
from engine.providers.okta_read import MEMBER_PAGE_SIZE
from engine.sandbox.okta_emulator import OktaState
from engine.spec import DesiredState
from tests.bench.okta_org import SeededOkta, engine_parts, minimum_pages, seed_okta
from tests.bench.orgs import REFERENCE, TINY, OrgSize, pages, plan_system, reference_state
from tests.bench.results import Recorder, timed
from tests.bench.servers import EMULATOR_TOKEN, HTTP_CHECK, OktaEmulatorProcess

CONCURRENCY = 8  # OktaConfig.concurrency's default
CALL_LIMIT = 1.1
WALL_LIMIT = 2.0


@dataclass(frozen=True)
class OktaOrg:
    state: DesiredState
    desired: World
    seeded: SeededOkta
    emulator: OktaEmulatorProcess


OrgFactory = Callable[[OrgSize], OktaOrg]


@pytest.fixture
def plain_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HTTP_CHECK, "true")


@pytest.fixture
def okta_org_factory(tmp_path: Path, plain_http: None) -> Iterator[OrgFactory]:
    """Builds seeded emulators (children) of any size; stops them afterwards."""
    started: list[OktaEmulatorProcess] = []

    def make(size: OrgSize) -> OktaOrg:
        state = reference_state(size=size)
        desired = compile_world(state=state)
        org = OktaState(seed=7)
        seeded = seed_okta(org, desired=desired)
        state_file = tmp_path / f"okta-{size.accounts}.json"
        org.save(state_file)
        emulator = OktaEmulatorProcess(state_file=state_file)
        started.append(emulator)
        return OktaOrg(state=state, desired=desired, seeded=seeded, emulator=emulator)

    yield make
    for emulator in started:
        emulator.stop()


def read_and_plan(org: OktaOrg) -> tuple[OktaRead, Plan, CallCounter, float, float]:
    """One plan's Okta part as the engine makes it: a fresh provider, the read the
    desired world needs, the diff. Returns the read's and the plan's wall times too."""
    calls = CallCounter()
    with OktaProvider(
        org_url=org.emulator.url,
        token=EMULATOR_TOKEN,
        env={},
        calls=calls,
        concurrency=CONCURRENCY,
        rate_limit_share=0,  # the read's own cost; the paced read is measured apart
    ) as provider:
        read, read_s = timed(
            lambda: provider.read_for(
                desired=org.desired, role_group_name=org.state.settings.role_group_name
            )
        )
    assert read.errors == (), read.errors
    live = directory_logins(read.to_world())
    plan, diff_s = timed(lambda: plan_system(desired=org.desired, live=live, system=System.OKTA))
    return read, plan, calls, read_s, read_s + diff_s


def measure(org: OktaOrg) -> dict[str, Any]:
    cpu_before = time.process_time()
    _, plan, calls, read_s, plan_s = read_and_plan(org)
    client_cpu_s = time.process_time() - cpu_before
    assert plan.empty, [c.id for c in plan.changes[:5]]
    minimum = minimum_pages(org.seeded, role_group_name=org.state.settings.role_group_name)
    return {
        "calls": calls.total(),
        "writes": calls.writes(),
        "retries": calls.retries(),
        "by_part": engine_parts(calls.by_operation(system="okta")),
        "by_operation": dict(calls.by_operation(system="okta")),
        "minimum": minimum,
        "ratio": calls.total() / sum(minimum.values()),
        "role_memberships": sum(org.seeded.member_counts.values()),
        "read_s": round(read_s, 3),
        "plan_s": round(plan_s, 3),
        "client_cpu_s": round(client_cpu_s, 3),  # this process; the emulator is a child
    }


def latency_run(org: OktaOrg, latency: float, *, floor_s: float) -> dict[str, Any]:
    org.emulator.set_latency(latency)
    cpu_before = time.process_time()
    try:
        _, plan, calls, read_s, plan_s = read_and_plan(org)
    finally:
        org.emulator.set_latency(0.0)
    assert plan.empty
    formula = calls.total() / CONCURRENCY * latency
    return {
        "calls": calls.total(),
        "read_s": round(read_s, 3),
        "plan_s": round(plan_s, 3),
        "formula_s": round(formula, 3),
        "client_cpu_s": round(time.process_time() - cpu_before, 3),
        "plan_s_without_latency": floor_s,
        "added_by_latency_s": round(plan_s - floor_s, 3),
        "ratio": plan_s / formula,
    }


@pytest.mark.bench
def test_okta_read_at_reference_size(okta_org_factory: OrgFactory, results_dir: Path) -> None:
    record = Recorder(name="okta", directory=results_dir)
    org = okta_org_factory(REFERENCE)
    run = measure(org)
    record.figure("reference org, no latency", run)
    assert run["writes"] == 0
    record.target(
        "calls ÷ minimum pages (reference org)",
        value=run["ratio"],
        limit=CALL_LIMIT,
        note="extra: the source-app lookup and the URL-length-bound name searches",
    )
    for size, latency, label in (
        (REFERENCE, 0.02, "reference org"),
        (REFERENCE.scaled(0.125), 0.2, "1/8 org"),
    ):
        if size is not REFERENCE:
            org = okta_org_factory(size)
            floor = measure(org)["plan_s"]
        else:
            floor = run["plan_s"]
        timing = latency_run(org, latency, floor_s=floor)
        record.figure(f"latency {latency * 1000:.0f} ms, {label}", timing)
        record.target(
            f"plan wall ÷ (calls ÷ {CONCURRENCY} × {latency * 1000:.0f} ms), {label}",
            value=timing["ratio"],
            limit=WALL_LIMIT,
            note=f"the same plan takes {floor} s without injected latency; client CPU "
            f"{timing['client_cpu_s']} s (JSON of ~1,000-user pages), the emulator's on the "
            "same 2 cores",
        )
    record.assert_targets()


@pytest.mark.bench_smoke
def test_smoke_okta_read_of_a_tiny_org(okta_org_factory: OrgFactory, results_dir: Path) -> None:
    org = okta_org_factory(TINY)
    run = measure(org)
    record = Recorder(name="okta_smoke", directory=results_dir)
    record.figure("tiny org", run)
    assert record.save().exists()

    assert run["writes"] == 0
    assert run["by_part"]["members"] == run["minimum"]["members"]
    # Beyond the minimum: at most the source-app lookup and one search per batch.
    assert sum(run["minimum"].values()) <= run["calls"] <= sum(run["minimum"].values()) + 3
    timing = latency_run(org, 0.01, floor_s=run["plan_s"])
    assert timing["calls"] == run["calls"]  # latency changes the time, never the calls


# --- the org's budget: the read cache and pacing (README: Okta's budget) -------------------

WARM_LIMIT = 60  # Okta calls of a converged plan with a warm cache, at any size
CHANGED_GROUPS = 10
MEMBERS_OP = "GET /api/v1/groups/{groupId}/users"


def admin(org: OktaOrg, method: str, path: str, body: Any = None) -> Any:
    """The emulator's control API (`/_emulator/…`): its clock, limits, counts."""
    request = urllib.request.Request(
        f"{org.emulator.url}/_emulator{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"SSWS {EMULATOR_TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        text = response.read()
    return json.loads(text) if text else None


def api_get(org: OktaOrg, path: str) -> Any:
    """A call outside the engine's counts (the benchmark's own look at the org)."""
    request = urllib.request.Request(
        f"{org.emulator.url}{path}", headers={"Authorization": f"SSWS {EMULATOR_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


class SimulatedTime:
    """The pacer's clock and sleep: a wait moves the emulator's clock instead of passing,
    so a read paced over twenty minutes of Okta's windows runs in seconds."""

    def __init__(self, org: OktaOrg) -> None:
        self.org = org
        self.slept = 0.0

    def clock(self) -> float:
        return time.monotonic() + self.slept

    async def sleep(self, seconds: float) -> None:
        # The org's clock first: a pacer that saw its own clock move before the org's
        # would start the next window's calls while Okta still counts the last window.
        await asyncio.to_thread(admin, self.org, "POST", "/clock", {"advance": seconds})
        self.slept += seconds


def cached_read(
    org: OktaOrg, *, cache_dir: Path, pacer: Pacer | None = None, via_live: bool = False
) -> tuple[OktaRead | None, CallCounter, float]:
    """One Okta read with the read cache in `cache_dir` (pacing only with `pacer`);
    `via_live`: through `read_live`, as `access --live` and `snapshot` read."""
    calls = CallCounter()
    with OktaProvider(
        org_url=org.emulator.url,
        token=EMULATOR_TOKEN,
        env={},
        calls=calls,
        concurrency=CONCURRENCY,
        cache_dir=cache_dir,
        pacer=pacer,
        rate_limit_share=0,
    ) as provider:
        if via_live:
            providers = Providers(calls=calls, okta=provider)
            live, seconds = timed(
                lambda: read_live(state=org.state, desired=org.desired, providers=providers)
            )
            assert live.complete, live.findings
            return None, calls, seconds
        read, seconds = timed(
            lambda: provider.read_for(
                desired=org.desired, role_group_name=org.state.settings.role_group_name
            )
        )
    assert read.errors == (), read.errors
    return read, calls, seconds


def member_calls(calls: CallCounter) -> int:
    return calls.by_operation(system="okta").get(MEMBERS_OP, 0)


def change_groups(org: OktaOrg, read: OktaRead, count: int) -> dict[str, int]:
    """Drop one member from each of `count` role groups; their member counts after."""
    groups = sorted(
        (g for g in read.groups if g.members and g.id and g.name.startswith("aws#")),
        key=lambda g: g.name,
    )[:count]
    after: dict[str, int] = {}
    for group in groups:
        assert group.id is not None
        users = api_get(org, f"/api/v1/groups/{group.id}/users?limit={MEMBER_PAGE_SIZE}")
        kept = [u["id"] for u in users[1:]]
        admin(org, "POST", "/members", {"groupId": group.id, "userIds": kept})
        after[group.name] = len(kept)
    return after


def budget_run(org: OktaOrg, cache_dir: Path) -> dict[str, Any]:
    """Cold (full) read, warm converged plan, 10 groups changed, `access --live`/`snapshot`
    warm, then a cold read paced at Okta's default limits, enforced."""
    admin(org, "POST", "/clock", {"advance": 600})  # the org's last changes: 10 min ago
    cold, cold_calls, cold_s = cached_read(org, cache_dir=cache_dir / "plan")
    assert cold is not None and cold.cache.reason == "no cache yet"
    warm, warm_calls, warm_s = cached_read(org, cache_dir=cache_dir / "plan")
    assert warm is not None
    plan = plan_system(
        desired=org.desired, live=directory_logins(warm.to_world()), system=System.OKTA
    )
    assert plan.empty, [c.id for c in plan.changes[:5]]
    assert warm.to_world() == cold.to_world()
    _, live_calls, _ = cached_read(org, cache_dir=cache_dir / "plan", via_live=True)

    changed = change_groups(org, warm, CHANGED_GROUPS)
    after, changed_calls, changed_s = cached_read(org, cache_dir=cache_dir / "plan")
    assert after is not None and after.cache.read == len(changed)
    changed_limit = WARM_LIMIT + sum(pages(n, MEMBER_PAGE_SIZE) for n in changed.values())

    admin(org, "POST", "/rate-limits", {"enforce": True})  # Okta's published defaults
    admin(org, "POST", "/reset")
    simulated = SimulatedTime(org)
    pacer = Pacer(share=DEFAULT_SHARE, clock=simulated.clock, sleep=simulated.sleep)
    paced, paced_calls, paced_s = cached_read(org, cache_dir=cache_dir / "paced", pacer=pacer)
    counts = admin(org, "GET", "/requests")
    admin(org, "POST", "/rate-limits", {"enforce": False})
    return {
        "cold": {
            "calls": cold_calls.total(),
            "member_lists": member_calls(cold_calls),
            "read_s": round(cold_s, 3),
        },
        "warm_converged_plan": {
            "calls": warm_calls.total(),
            "member_lists": member_calls(warm_calls),
            "by_operation": dict(warm_calls.by_operation(system="okta")),
            "read_s": round(warm_s, 3),
            "plan_empty": plan.empty,
        },
        "warm_access_live_or_snapshot": {
            "calls": live_calls.total(),
            "by_operation": dict(live_calls.by_operation(system="okta")),
        },
        "groups_changed": {
            "groups": len(changed),
            "members_after": sorted(changed.values()),
            "calls": changed_calls.total(),
            "member_lists": member_calls(changed_calls),
            "limit": changed_limit,
            "read_s": round(changed_s, 3),
        },
        "cold_paced_at_okta_defaults": {
            "share": DEFAULT_SHARE,
            "calls": paced_calls.total(),
            "retries": paced_calls.retries(),
            "rate_limited_429": sum(counts["rateLimited"].values()),
            "simulated_duration_s": round(paced_s + simulated.slept, 1),
            "wall_s": round(paced_s, 3),
            "waits": pacer.stats.waits,
            "waited_simulated_s": round(pacer.stats.waited_s, 1),
            "peak_share_by_family": counts["peakShare"],
            "limits_per_minute": {f: OKTA_DEFAULT_LIMITS[f] for f in counts["peakShare"]},
            "complete": paced is not None and paced.complete,
        },
    }


def budget_targets(record: Recorder, run: dict[str, Any]) -> None:
    record.target(
        "warm-cache converged plan: Okta calls",
        value=run["warm_converged_plan"]["calls"],
        limit=WARM_LIMIT,
        note=f"a full read makes {run['cold']['calls']}",
    )
    record.target(
        f"{CHANGED_GROUPS} groups changed: Okta calls",
        value=run["groups_changed"]["calls"],
        limit=run["groups_changed"]["limit"],
        note="60 + Σ ⌈members/1,000⌉ over the changed groups",
    )
    paced = run["cold_paced_at_okta_defaults"]
    record.target(
        "cold paced read at Okta's default limits: 429s", value=paced["rate_limited_429"], limit=0
    )
    record.target(
        "cold paced read: peak share of any family's limit",
        value=max(paced["peak_share_by_family"].values()),
        limit=DEFAULT_SHARE,
        note="the busiest window of each family, as the emulator counted it",
    )


@pytest.mark.bench
def test_okta_budget_at_reference_size(
    okta_org_factory: OrgFactory, results_dir: Path, tmp_path: Path
) -> None:
    record = Recorder(name="okta_budget", directory=results_dir)
    run = budget_run(okta_org_factory(REFERENCE), tmp_path)
    for key, value in run.items():
        record.figure(key, value)
    budget_targets(record, run)
    record.assert_targets()


@pytest.mark.bench_smoke
def test_smoke_okta_budget_of_a_tiny_org(
    okta_org_factory: OrgFactory, results_dir: Path, tmp_path: Path
) -> None:
    record = Recorder(name="okta_budget_smoke", directory=results_dir)
    run = budget_run(okta_org_factory(TINY), tmp_path)
    budget_targets(record, run)
    record.assert_targets()
    assert run["warm_converged_plan"]["member_lists"] == 0
    assert run["groups_changed"]["member_lists"] == CHANGED_GROUPS
    assert run["cold_paced_at_okta_defaults"]["calls"] == run["cold"]["calls"]
    assert run["cold_paced_at_okta_defaults"]["complete"]
