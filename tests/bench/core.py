"""Measuring the pure part of a plan (diff + order + render) on a generated org.

docs/architecture.md §Performance targets wants diff + order + render in ≤ 5 s and
≤ 1 GiB at reference size, and time linear in the org. Everything here is in memory: the
desired world is compiled from `orgs.reference_state`, the live world is built from it,
so no server's speed blurs the figure. Three live worlds, three shapes of plan:

- converged: the desired state applied and imported (`tests.unit.worlds.converged_live`,
  built without `engine.simulate`); the plan is empty, which is the daily case;
- first plan: nothing exists yet but the AWS app; the largest change set (every role,
  group and membership), with assignments waiting for the directory import;
- all access: converged, but group mapping is off in the app; one settings change
  whose access delta is every entitlement of the org (the worst case for the access
  delta and its rendering).

Times are wall clock and CPU time; the targets are checked on CPU time, which equals
the wall time of this single-threaded code on a quiet machine but, unlike it, is not
inflated by other processes competing for the cores (a shared CI runner, a developer's
test suite). Peak memory only means something in a fresh process, so `measure_in_child` runs a
measurement in a spawned interpreter and reports its peak RSS (ru_maxrss, worlds
included) and the tracemalloc peak of diff + render alone.
"""

from __future__ import annotations

import dataclasses
import gc
import multiprocessing
import resource
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from enum import StrEnum
from typing import Any

from engine.compile import compile_world
from engine.diff import diff
from engine.model import World
from engine.plan import Plan, PlanOptions
from engine.render import render_json, render_text
from tests.bench.orgs import REFERENCE, OrgSize, empty_live, fresh_app, reference_state
from tests.unit.worlds import converged_live

MIB = 1024 * 1024
OPTIONS = PlanOptions(max_deletions=10**9)


class Scenario(StrEnum):
    CONVERGED = "converged"
    FIRST_PLAN = "first_plan"
    ALL_ACCESS = "all_access"


def live_world(desired: World, scenario: Scenario) -> World:
    if scenario is Scenario.FIRST_PLAN:
        return empty_live(desired)
    logins = sorted({u for g in desired.directory_groups.values() for u in g.member_users or ()})
    converged = converged_live(desired, logins=logins)
    if scenario is Scenario.ALL_ACCESS:
        return dataclasses.replace(converged, okta_app=fresh_app())
    return converged


@dataclasses.dataclass(frozen=True)
class PlanTiming:
    diff_s: float  # diff, order and the access delta (order runs inside diff)
    text_s: float
    json_s: float
    cpu_s: float  # CPU time of all three: what other processes on the machine cannot inflate

    @property
    def total_s(self) -> float:
        return self.diff_s + self.text_s + self.json_s


def plan_and_render(desired: World, live: World) -> tuple[Plan, PlanTiming, int, int]:
    """One plan, rendered as text and JSON: the plan, timings and output sizes."""
    cpu = time.process_time()
    start = time.perf_counter()
    plan = diff(desired=desired, live=live, options=OPTIONS)
    planned = time.perf_counter()
    text = render_text(plan)
    texted = time.perf_counter()
    document = render_json(plan)
    done = time.perf_counter()
    timing = PlanTiming(
        diff_s=planned - start,
        text_s=texted - planned,
        json_s=done - texted,
        cpu_s=time.process_time() - cpu,
    )
    return plan, timing, len(text.encode()), len(document.encode())


def _max_rss_mib() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(
    *, size: OrgSize, scenario: Scenario, reps: int = 3, trace: bool = True
) -> dict[str, Any]:
    """Time `reps` plans of `scenario` on an org of `size` (median), then their memory."""
    state = reference_state(size=size)
    start = time.perf_counter()
    desired = compile_world(state=state)
    compile_s = time.perf_counter() - start
    live = live_world(desired, scenario)
    gc.collect()
    rss_worlds = _max_rss_mib()
    timings: list[PlanTiming] = []
    plan = Plan()
    text_bytes = json_bytes = 0
    for _ in range(reps):
        plan = Plan()  # let the previous plan go before the next is made
        gc.collect()
        plan, timing, text_bytes, json_bytes = plan_and_render(desired, live)
        timings.append(timing)
    best = sorted(timings, key=lambda t: t.total_s)[len(timings) // 2]  # the median run
    result: dict[str, Any] = {
        "scenario": scenario.value,
        "size": dataclasses.asdict(size),
        "role_memberships": sum(len(g.members or ()) for g in live.okta_groups.values()),
        "changes": len(plan.changes),
        "access_changes": len(plan.access_delta),
        "empty": plan.empty,
        "counts": {a.name.lower(): n for a, n in plan.counts().items()},
        "compile_s": round(compile_s, 4),
        "diff_order_s": round(best.diff_s, 4),
        "render_text_s": round(best.text_s, 4),
        "render_json_s": round(best.json_s, 4),
        "total_s": round(best.total_s, 4),
        "all_totals_s": [round(t.total_s, 4) for t in timings],
        "min_total_s": round(min(t.total_s for t in timings), 4),
        "cpu_s": round(best.cpu_s, 4),
        "min_cpu_s": round(min(t.cpu_s for t in timings), 4),
        "text_bytes": text_bytes,
        "json_bytes": json_bytes,
        "rss_after_worlds_mib": round(rss_worlds, 1),
        "peak_rss_mib": round(_max_rss_mib(), 1),
    }
    if trace:
        plan = Plan()
        gc.collect()
        tracemalloc.start()
        plan_and_render(desired, live)
        result["traced_peak_mib"] = round(tracemalloc.get_traced_memory()[1] / MIB, 1)
        tracemalloc.stop()
    return result


def measure_in_child(
    *, size: OrgSize = REFERENCE, scenario: Scenario, reps: int = 3, trace: bool = True
) -> dict[str, Any]:
    """`measure` in a freshly spawned interpreter, so its peak RSS is its own."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        future = pool.submit(measure, size=size, scenario=scenario, reps=reps, trace=trace)
        return future.result()
