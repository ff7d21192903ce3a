"""What a pull request or a CI artifact brings is not trusted: saved plans, the sandbox's
files, flags, the environment, and a Ctrl-C halfway through an apply.

A saved plan is handed from the plan job to the apply job, so anyone who can touch the
artifact can edit it. `apply --plan` therefore never runs the file's changes: it plans
afresh and runs that plan only when the file says exactly the same thing (changes,
access delta, findings). Each tampering reproduced in issue 10 is applied to a real
saved plan here and must be refused with exit 3 and no write at all, seen from the
systems themselves (moto's recorder, the emulator's counts, the directory's change
markers) against a served sandbox with a real slapd. An untampered saved plan, the
control, still applies and converges.

The rest are the one-line errors that replaced tracebacks, run as a user runs the CLI.
"""

from __future__ import annotations

import copy
import json
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Run, Served, Workspace, finish, ldap_sandbox, plan_json
from tests.e2e.live_systems import write_marks

Sandbox = tuple[Workspace, Served]
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
ESCALATED = "role:141421356237/readonly:+"  # the first plan creates ReadOnly there


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with ldap_sandbox(tmp_path_factory.mktemp("untrusted")) as sandbox:
        yield sandbox


def saved_plan(workspace: Workspace, path: Path, *args: str) -> dict[str, Any]:
    planned = workspace.live_cli("plan", "--out", str(path), *args)
    assert planned.code == 0 and path.exists(), planned
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def change(document: dict[str, Any], change_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in document["changes"] if c["id"] == change_id)
    return found


def one_line_error(run: Run) -> str:
    """The command's stderr, which must be one line and no traceback."""
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.err, run
    return lines[0]


# --- tampered saved plans -----------------------------------------------------------------------


def escalate(document: dict[str, Any]) -> None:
    """ReadOnly in 141421356237 given AdministratorAccess."""
    change(document, ESCALATED)["after"]["value"]["managed_policies"] = [ADMIN]


def inject_a_role(document: dict[str, Any]) -> None:
    """A change no plan has: a role in an account outside the desired state, which the
    executor would also refuse (the old apply then said "1 failed … Converged", exit 0)."""
    injected = copy.deepcopy(change(document, ESCALATED))
    injected["after"]["value"].update(account_id="999999999999", name="Backdoor")
    injected.update(id="role:999999999999/backdoor:+", key=["999999999999", "backdoor"])
    document["changes"].append(injected)


def depend_on_itself(document: dict[str, Any]) -> None:
    change(document, ESCALATED)["depends_on"] = [ESCALATED]


def depend_on_nothing_known(document: dict[str, Any]) -> None:
    change(document, ESCALATED)["depends_on"] = ["saml_provider:000000000000/okta:+"]


def hide_admin_gains(document: dict[str, Any]) -> None:
    """Who gains Admin, taken out of the access delta a reviewer reads first."""
    gains = [a for a in document["access_delta"] if a["role"] == "Admin" and a["gained"]]
    assert gains, "the brownfield's first plan gives someone Admin"
    document["access_delta"] = [a for a in document["access_delta"] if a not in gains]


def hide_a_finding(document: dict[str, Any]) -> None:
    assert document["findings"], "the brownfield's first plan has findings"
    document["findings"].pop()


def turn_prune_on(document: dict[str, Any]) -> None:
    """The file's options say --prune; the apply's command line does not."""
    document["options"]["prune"] = True


Tamper = Callable[[dict[str, Any]], None]


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        (escalate, f"change '{ESCALATED}' differs from the plan made now"),
        (inject_a_role, "change 'role:999999999999/backdoor:+' is not in the plan made now"),
        (depend_on_itself, f"change '{ESCALATED}' depends on itself"),
        (depend_on_nothing_known, "'saml_provider:000000000000/okta:+' is not a change of this"),
        (hide_admin_gains, "gains Admin in"),
        (hide_a_finding, "of the plan made now is missing from it"),
        (turn_prune_on, "prune (the plan: true, this apply: false)"),
    ],
    ids=[
        "escalation",
        "injected",
        "self-dependency",
        "unknown-dependency",
        "access",
        "finding",
        "prune",
    ],
)
def test_a_tampered_saved_plan_is_refused_and_writes_nothing(
    tamper: Tamper, why: str, shared: Sandbox, tmp_path: Path
) -> None:
    workspace, served = shared
    saved = tmp_path / "plan.json"
    document = saved_plan(workspace, saved)
    tamper(document)
    saved.write_text(json.dumps(document), encoding="utf-8")

    marks = write_marks(served.live)
    refused = workspace.live_cli("apply", "--plan", str(saved), "--auto-approve")
    assert refused.code == 3, refused
    message = one_line_error(refused)
    assert message.startswith("refused: ") and why in message, refused
    assert "Applying:" not in refused.out and not refused.outcomes(), refused
    assert write_marks(served.live) == marks
    assert "ReadOnly" not in served.live.role_names("141421356237")


@pytest.mark.parametrize(
    ("flags", "why"),
    [
        (("--prune",), "prune (the plan: false, this apply: true)"),
        (("--only", "okta"), "systems (the plan: aws,directory,okta, this apply: okta)"),
    ],
    ids=["prune", "only"],
)
def test_a_saved_plan_applied_with_other_options_is_refused(
    flags: tuple[str, ...], why: str, shared: Sandbox, tmp_path: Path
) -> None:
    workspace, served = shared
    saved = tmp_path / "plan.json"
    saved_plan(workspace, saved)
    marks = write_marks(served.live)
    refused = workspace.live_cli("apply", "--plan", str(saved), "--auto-approve", *flags)
    assert refused.code == 3, refused
    assert why in one_line_error(refused), refused
    assert write_marks(served.live) == marks


def test_injected_deletions_are_refused_past_prune_and_max_deletions(
    shared: Sandbox, tmp_path: Path
) -> None:
    """Last in the module: converges the shared world. The untampered saved plan applies
    (the control); then twelve deletions of managed roles added to a saved plan of the
    converged world (no --prune, max_deletions 10) must delete nothing."""
    workspace, served = shared
    first = saved_plan(workspace, tmp_path / "first.json")
    applied = workspace.live_cli("apply", "--plan", str(tmp_path / "first.json"), "--auto-approve")
    assert applied.code == 0, applied
    assert [o for o, _ in applied.outcomes()].count("created") > 12, applied
    finish(workspace, served)

    saved = tmp_path / "converged.json"
    document = saved_plan(workspace, saved)
    assert document["changes"] == [] and document["options"]["prune"] is False
    created = [c for c in first["changes"] if c["kind"] == "role" and c["action"] == "+"][:12]
    assert len(created) == 12
    for role in created:
        document["changes"].append(
            {
                **role,
                "id": role["id"][:-1] + "-",
                "action": "-",
                "before": role["after"],
                "after": None,
                "destructive": True,
                "depends_on": [],
            }
        )
    saved.write_text(json.dumps(document), encoding="utf-8")
    roles = {a: served.live.role_names(a) for a in {r["key"][0] for r in created}}

    marks = write_marks(served.live)
    refused = workspace.live_cli("apply", "--plan", str(saved), "--auto-approve")
    assert refused.code == 3, refused
    assert "is not in the plan made now" in one_line_error(refused), refused
    assert not refused.outcomes(), refused
    assert write_marks(served.live) == marks
    assert {a: served.live.role_names(a) for a in roles} == roles


# --- SIGINT during apply ------------------------------------------------------------------------


def test_sigint_during_apply_stops_cleanly_and_the_next_apply_finishes(tmp_path: Path) -> None:
    with ldap_sandbox(tmp_path) as (workspace, served):
        before = plan_json(workspace)
        # Okta answers slowly from now on, so the apply is still executing when the
        # signal lands (its Okta changes run after AWS and the directory).
        served.live.okta("POST", "/_emulator/latency", {"seconds": 1, "pathPrefix": "/api/v1"})
        process, lines = workspace.spawn("apply", "--target", "live", "--auto-approve")
        assert lines.wait_for(lambda seen: any(s.startswith("  created ") for s in seen))
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=300)
        output = lines.rest()
        served.live.okta("POST", "/_emulator/latency", {"seconds": 0})

        assert code == 130, output
        assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
        assert "Interrupted." in output and "were not started" in output, output
        not_started = {
            line.split("not started: ", 1)[1]
            for line in output.splitlines()
            if line.startswith("  not started: ")
        }
        assert not_started, output
        # What was said to be not started is still planned; what was done is not.
        done = {
            change_id
            for outcome, change_id in Run(args=(), code=code, out=output, err="").outcomes()
            if outcome in ("created", "updated", "deleted")
        }
        after = {c["id"] for c in plan_json(workspace)["changes"]}
        assert not_started <= after and not (done & after), (not_started, done, after)
        assert after < {c["id"] for c in before["changes"]}
        finish(workspace, served)


# --- a damaged sandbox, bad flags and files -----------------------------------------------------


def test_a_damaged_sandbox_is_one_line_saying_to_reset(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    assert workspace.cli("sandbox", "reset").code == 0
    state = {p.name: p.read_bytes() for p in workspace.sandbox.glob("*.json")}
    assert set(state) == {"sandbox.json", "aws.json", "directory.json", "okta.json"}
    damages = [(name, content[: len(content) // 2]) for name, content in sorted(state.items())]
    damages.append(("okta.json", b"[]"))
    commands = [
        ("plan",),
        ("apply", "--auto-approve"),
        ("access", "--live"),
        ("snapshot", "--out", str(tmp_path / "snap.json")),
    ]
    for name, damaged in damages:
        (workspace.sandbox / name).write_bytes(damaged)
        for command in commands:
            run = workspace.cli(*command)
            assert run.code == 1, run
            message = one_line_error(run)
            assert "sandbox reset" in message and name in message, run
        (workspace.sandbox / name).write_bytes(state[name])
    assert not (tmp_path / "snap.json").exists()
    assert workspace.cli("plan").code == 0  # restored: the sandbox works again
