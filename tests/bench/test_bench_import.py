"""`import`'s computation ≤ 10 s at reference size (issue 14), and what it writes plans empty.

The reference org (`tests/bench/orgs.py`: 1,000 accounts × 5 roles, 400 management groups,
20,000 users) converged (`tests/bench/core.live_world`) is the live world; the benchmark
times the pure part of `okta-aws import` (discover the scope, adopt, render the YAML),
then loads the written folder, compiles it and diffs it against the same world: no
change may come out. The API calls are not measured here (moto at 1,000 accounts is a
benchmark of its own, `test_bench_aws`): the import reads with the plan's readers in
the plan's scope (figures in the report of issue 14). The smoke variant runs the same
code on a tiny org in the normal suite and checks the result, never the time.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from engine.adopt import adopt
from engine.adopt_discover import discover
from engine.adopt_model import ImportOptions
from engine.adopt_render import render_files
from engine.commands_import import okta_scope
from engine.compile import compile_world
from engine.diff import diff
from engine.load import load
from engine.plan import PlanOptions
from engine.providers.calls import CallCounter
from engine.providers.live import directory_logins
from engine.providers.okta import OktaProvider
from tests.bench import test_bench_okta as okta_bench
from tests.bench.core import Scenario, live_world
from tests.bench.orgs import REFERENCE, TINY, OrgSize, reference_state
from tests.bench.results import Recorder
from tests.bench.servers import EMULATOR_TOKEN
from tests.bench.test_bench_okta import OktaOrg, OrgFactory, read_and_plan

TIME_LIMIT_S = 10.0
# The Okta benchmark's seeded emulators (children), as fixtures of this module too.
okta_org_factory = okta_bench.okta_org_factory
plain_http = okta_bench.plain_http
IDS_PER_SEARCH = 50  # `id eq "00g…"` terms in one search, at the least (URL length bound)
METADATA = (
    Path(__file__).resolve().parents[2] / "desired-state" / "okta-idp-metadata.xml"
).read_text(encoding="utf-8")


def import_and_check(size: OrgSize, *, with_tags: bool = False) -> dict[str, Any]:
    """`with_tags`: given the org's account tags (`--account-tags`), as its grants use."""
    state = reference_state(size=size)
    live = live_world(compile_world(state=state, metadata=METADATA), Scenario.CONVERGED)
    tags = {a.id: a.tags for a in state.accounts} if with_tags else {}
    cpu, start = time.process_time(), time.perf_counter()
    options = ImportOptions(account_tags=tags)
    adoption = adopt(world=live, discovery=discover(okta=live), options=options)
    files = render_files(adoption=adoption, schema_ref="schema.json")
    compute_s, compute_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text, encoding="utf-8")
        started = time.perf_counter()
        written = load(directory=root)
        plan = diff(desired=compile_world(state=written), live=live, options=PlanOptions())
        check_s = time.perf_counter() - started
    return {
        "accounts": len(adoption.accounts),
        "roles": len(adoption.roles),
        "management_groups": len(adoption.groups),
        "findings": len(adoption.findings),
        "grants": sum(len(g.grants) for g in adoption.groups),
        "tag_grants": sum(1 for g in adoption.groups for x in g.grants if x.account_tags),
        "yaml_bytes": sum(len(t.encode()) for t in files.values()),
        "compute_s": round(compute_s, 3),
        "compute_cpu_s": round(compute_cpu_s, 3),
        "load_compile_diff_s": round(check_s, 3),
        "changes_after_import": len(plan.changes),
    }


@pytest.mark.bench
def test_import_at_reference_size(results_dir: Path) -> None:
    record = Recorder(name="import", directory=results_dir)
    run = import_and_check(REFERENCE)
    tagged = import_and_check(REFERENCE, with_tags=True)
    record.figure("reference", run)
    record.figure("reference, --account-tags", tagged)
    record.target("import compute CPU seconds", value=run["compute_cpu_s"], limit=TIME_LIMIT_S)
    record.target(
        "import compute CPU seconds, --account-tags",
        value=tagged["compute_cpu_s"],
        limit=TIME_LIMIT_S,
    )
    record.save()
    for done in (run, tagged):
        assert done["changes_after_import"] == 0, done
        assert done["accounts"] == REFERENCE.accounts and done["management_groups"] > 0, done
    assert tagged["tag_grants"] > 0 and tagged["grants"] < run["grants"], (run, tagged)
    assert all(t.ok for t in record.targets), record.targets


@pytest.mark.bench_smoke
def test_smoke_import_on_a_tiny_org(results_dir: Path) -> None:
    record = Recorder(name="import_smoke", directory=results_dir)
    run = import_and_check(TINY, with_tags=True)
    record.figure("tiny", run)
    assert record.save().exists()
    assert run["changes_after_import"] == 0, run
    assert run["accounts"] == TINY.accounts, run


# --- Okta: the import's first read against the plan's, on the seeded emulator --------------


def okta_calls(org: OktaOrg) -> dict[str, Any]:
    """The import's Okta read (nothing known but the app's label) and the plan's read of
    the same org, with what the import discovered from its read."""
    calls = CallCounter()
    with OktaProvider(
        org_url=org.emulator.url, token=EMULATOR_TOKEN, env={}, calls=calls, rate_limit_share=0
    ) as provider:
        label = org.state.settings.okta.app_label
        read = provider.read(scope=okta_scope(app_label=label, app_id=None, role_group_name=None))
    assert read.errors == (), read.errors
    discovery = discover(okta=directory_logins(read.to_world()))
    _, _, plan_calls, _, _ = read_and_plan(org)
    return {
        "import_calls": calls.total(),
        "plan_calls": plan_calls.total(),
        "import_by_operation": dict(calls.by_operation(system="okta")),
        "plan_by_operation": dict(plan_calls.by_operation(system="okta")),
        "role_groups": len(discovery.role_groups),
        "accounts": len(discovery.accounts),
    }


def check_okta_calls(run: dict[str, Any], size: OrgSize) -> None:
    """The plan's calls, but for group searches: the plan names its management groups in
    them, the import can only look the assigned ones up by id (batched)."""
    assert run["accounts"] == size.accounts, run
    assert run["role_groups"] == size.accounts * size.roles_per_account, run
    searches = "GET /api/v1/groups"
    mine, plans = dict(run["import_by_operation"]), dict(run["plan_by_operation"])
    extra = mine.pop(searches, 0) - plans.pop(searches, 0)
    assert mine == plans, run
    assert 0 <= extra <= -(-size.management_groups // IDS_PER_SEARCH), run


@pytest.mark.bench
def test_import_reads_okta_like_a_plan_at_reference_size(
    okta_org_factory: OrgFactory, results_dir: Path
) -> None:
    record = Recorder(name="import_okta", directory=results_dir)
    run = okta_calls(okta_org_factory(REFERENCE))
    record.figure("reference", run)
    record.save()
    check_okta_calls(run, REFERENCE)


@pytest.mark.bench_smoke
def test_smoke_import_reads_okta_like_a_plan(
    okta_org_factory: OrgFactory, results_dir: Path
) -> None:
    record = Recorder(name="import_okta_smoke", directory=results_dir)
    run = okta_calls(okta_org_factory(TINY))
    record.figure("tiny", run)
    assert record.save().exists()
    check_okta_calls(run, TINY)
