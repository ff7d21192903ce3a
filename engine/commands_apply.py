"""What `okta-aws apply` does: plan afresh under the lock, refuse, execute, verify.

Apart from the read-only commands (`engine.commands`) because an apply is where trust
matters most: a saved plan is only compared with the plan made here, never executed
(see `engine.saved_plan`); every refusal is exit 3 before any write; a failed change is
never a success; Ctrl-C stops cleanly and says what was and was not done. The locks
(this machine's, and for target live the S3 one of `engine.commands_lock`) are taken
before the plan is made and released at the end, whatever happens; a run that lost
its S3 lock stops before its next write stage (exit 1).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from engine.apply import ApplyReport
from engine.commands import load_valid, plan_options, render_plan, wants_color
from engine.commands_lock import StopCheck, shared_apply_lock
from engine.commands_session import (
    calls_summary,
    confirmed,
    execute_plan,
    observe,
    open_session,
)
from engine.escape import printable
from engine.exit_codes import ExitCode
from engine.lock import LockHeld, LockUnavailable, apply_lock
from engine.model import System
from engine.plan import Outcome, Plan, PlanOptions
from engine.providers.live import ConnectionProblem, Providers
from engine.providers.s3_lock import LockError
from engine.render import render_text
from engine.sandbox.persist import SandboxError
from engine.saved_plan import (
    PlanFormatError,
    check_fresh,
    check_options,
    check_same,
    plan_from_text,
)
from engine.spec import DesiredState


def _confirm(*, plan: Plan, inp: TextIO, out: TextIO) -> bool:
    return confirmed(f"Apply these changes to target {plan.target}?", inp=inp, out=out)


def _read_saved_plan(plan_file: Path, err: TextIO) -> tuple[Plan | None, int]:
    """The saved plan, or None and the exit code with the reason printed: a file that
    cannot be read is an error (1); one that is not a plan this engine wrote, a refusal
    (3), since a damaged or hand-edited plan is exactly what must not be applied."""
    try:
        text = plan_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"error: --plan {plan_file}: cannot read it ({reason})", file=err)
        return None, ExitCode.ERROR
    try:
        return plan_from_text(text), ExitCode.OK
    except PlanFormatError as exc:
        print(f"refused: --plan {plan_file} is not a plan this engine wrote: {exc}", file=err)
        return None, ExitCode.REFUSED


def apply(
    *,
    directory: Path,
    target: str | None,
    only: frozenset[System],
    plan_file: Path | None,
    prune: bool,
    auto_approve: bool,
    max_deletions: int | None,
    out: TextIO,
    err: TextIO,
    inp: TextIO = sys.stdin,
) -> int:
    state = load_valid(directory=directory, err=err)
    if state is None:
        return ExitCode.ERROR
    saved: Plan | None = None
    if plan_file is not None:
        saved, code = _read_saved_plan(plan_file, err)
        if saved is None:
            return code
        # The plan's --only chooses this apply's when the command line leaves it out (it
        # only narrows what is compared). --prune never comes from the file: an edited
        # artifact must not be able to turn deletions on, so it must be on both.
        only = saved.options.systems if only == frozenset(System) else only
    options = plan_options(state=state, prune=prune, max_deletions=max_deletions, only=only)
    if saved is not None:
        refusal = check_options(saved=saved.options, wanted=options)
        if refusal is not None:
            print(f"refused: {refusal}", file=err)
            return ExitCode.REFUSED
    progress = _Progress()
    try:
        with (
            open_session(state=state, target=target, only=only, err=err) as (opened, providers),
            apply_lock(path=opened.lock_path, command=" ".join(sys.argv[1:]) or "apply"),
            shared_apply_lock(state=state, target=opened.name, err=err) as before_stage,
        ):
            return _apply_locked(
                state=state,
                before_stage=before_stage,
                providers=providers,
                options=options,
                target=target or state.settings.target.value,
                saved=saved,
                auto_approve=auto_approve,
                progress=progress,
                out=out,
                err=err,
                inp=inp,
            )
    except LockHeld as exc:
        print(f"refused: {exc}", file=err)
        return ExitCode.REFUSED
    except (ConnectionProblem, LockError, LockUnavailable, SandboxError) as exc:
        print(f"error: {exc}", file=err)
        return ExitCode.ERROR
    except KeyboardInterrupt:
        if progress.executing:
            print(
                "interrupted while applying: the changes printed above were made, others "
                "may have been; run okta-aws plan to see what remains",
                file=err,
            )
        else:
            print("interrupted before any change was made: nothing was written", file=err)
        return ExitCode.INTERRUPTED


@dataclass
class _Progress:
    """How far an apply got, for the message when it is interrupted."""

    executing: bool = False  # set before the first write; never unset


def _apply_locked(
    *,
    state: DesiredState,
    providers: Providers,
    options: PlanOptions,
    target: str,
    saved: Plan | None,
    auto_approve: bool,
    progress: _Progress,
    before_stage: StopCheck | None,
    out: TextIO,
    err: TextIO,
    inp: TextIO,
) -> int:
    """Plan afresh under the lock, refuse what must be refused, execute, verify.

    What runs is always the plan made here. A saved plan is only compared with it: it
    must be fresh (same live world, desired state and target) and say exactly the same
    (changes, access delta, findings), or nothing runs. So the guards and blocking
    findings below are those of what runs, whatever the file says.
    """
    current = observe(
        state=state, providers=providers, options=options, target=target, err=err
    ).plan
    if saved is not None:
        refusal = check_fresh(
            plan=saved,
            live_fingerprint=current.live_fingerprint,
            desired_digest=current.desired_digest,
            target=target,
        ) or check_same(saved=saved, fresh=current)
        if refusal is not None:
            print(f"refused: {refusal}", file=err)
            return ExitCode.REFUSED
    out.write(render_plan(current, fmt="text", color=wants_color(out)))
    if current.blocked:
        print("refused: the plan has blocking findings (see above)", file=err)
        return ExitCode.REFUSED
    if current.guard is not None:
        print(f"refused: {current.guard}", file=err)
        return ExitCode.REFUSED
    if current.empty:
        print(f"Converged (target {target}). {calls_summary(providers)}", file=out)
        return ExitCode.OK
    if not auto_approve and not _confirm(plan=current, inp=inp, out=out):
        print("refused: not confirmed (answer 'yes', or pass --auto-approve)", file=err)
        return ExitCode.REFUSED
    progress.executing = True
    report = execute_plan(
        plan=current, providers=providers, out=out, state=state, before_stage=before_stage
    )
    if report.interrupted:
        return report_interrupted(report=report, providers=providers, out=out, err=err)
    if report.stopped:
        return report_stopped(report=report, providers=providers, out=out, err=err)
    after = observe(state=state, providers=providers, options=options, target=target, err=err)
    return report_convergence(
        report=report, replan=after.plan, providers=providers, out=out, err=err
    )


def report_interrupted(
    *, report: ApplyReport, providers: Providers, out: TextIO, err: TextIO
) -> int:
    """SIGINT while applying: what was done is printed above; say what was not."""
    not_started = report.not_started
    print(f"\nInterrupted. {calls_summary(providers)}", file=out)
    print(
        f"interrupted: {_how_far(report)}; run apply again to finish (it plans afresh)",
        file=err,
    )
    for result in not_started[:_LISTED]:
        print(printable(f"  not started: {result.change.id}"), file=err)
    if len(not_started) > _LISTED:
        print(f"  … and {len(not_started) - _LISTED} more (okta-aws plan lists them)", file=err)
    return ExitCode.INTERRUPTED


_LISTED = 20  # changes named one per line in a summary; beyond, a count


def _how_far(report: ApplyReport) -> str:
    """How far an apply that stopped early got (its outcomes are printed above)."""
    not_started = len(report.not_started)
    done = len(report.results) - not_started
    return f"{done} change(s) ran to an outcome (above), {not_started} were not started"


def report_stopped(*, report: ApplyReport, providers: Providers, out: TextIO, err: TextIO) -> int:
    """The apply lost its lock and stopped before a write stage: no re-plan (another run
    may be writing now); what ran is printed above, what did not is said here."""
    print(f"\nStopped. {calls_summary(providers)}", file=out)
    print(
        f"error: {report.stopped}: {_how_far(report)}; see okta-aws lock status, then apply "
        "again (it plans afresh)",
        file=err,
    )
    return ExitCode.ERROR


def report_convergence(
    *, report: ApplyReport, replan: Plan, providers: Providers, out: TextIO, err: TextIO
) -> int:
    """Converged means the re-plan is empty; changes waiting for an import are said so.
    A change that failed or was skipped is never a success (exit 1), even when the
    re-plan has nothing left: something did not do what the plan said."""
    counts = ", ".join(f"{report.count(o)} {o.value}" for o in Outcome if report.count(o))
    print(f"\nApplied: {counts}. {calls_summary(providers)}", file=out)
    waiting = [c for c in replan.changes if c.waits_for]
    remaining = [c for c in replan.changes if not c.waits_for]
    if report.failed:
        print(f"{len(report.failed)} change(s) failed or were skipped:", file=err)
        for result in report.failed:
            print(
                printable(f"  {result.change.id}: {result.outcome.value}: {result.message}"),
                file=err,
            )
    if remaining or replan.blocked:
        print(
            f"NOT converged (target {replan.target}): the re-plan still has "
            f"{len(remaining)} change(s); run apply again after fixing the cause:",
            file=err,
        )
        err.write(render_text(replan))
        return ExitCode.ERROR
    if report.failed:
        print(
            f"NOT a clean apply (target {replan.target}): {len(report.failed)} change(s) "
            "failed or were skipped (above), though the re-plan has nothing left to do; "
            "find out why before relying on it",
            file=err,
        )
        return ExitCode.ERROR
    if waiting:
        print(
            f"Converged (target {replan.target}), except {len(waiting)} change(s) waiting "
            f"for the directory import: {printable(', '.join(c.id for c in waiting))}. "
            "The next apply after Okta imports the directory completes them.",
            file=out,
        )
        return ExitCode.OK
    print(f"Converged (target {replan.target}): the re-plan is empty.", file=out)
    return ExitCode.OK
