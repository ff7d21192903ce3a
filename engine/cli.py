"""`okta-aws` command line: argument parsing and exit codes, nothing else.

The work happens in `engine.commands`; this module maps arguments onto it and its
results onto the exit codes of docs/cli.md §Exit codes (0 ok / no changes, 1 error or
invalid, 2 changes with `--detailed-exitcode`, 3 apply refused, 130 interrupted after a
clean stop). A bad flag or flag value is one line, `okta-aws plan: error: …`, exit 1
like any other bad input (argparse's own exit 2 would read as "changes" to a CI job
using --detailed-exitcode), before anything is read.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from engine.commands_comments import parse_comment_limit
from engine.exit_codes import ExitCode
from engine.model import System
from engine.scaffold import Ci


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit 1 (subcommand parsers share the class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _systems(value: str) -> frozenset[System]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    allowed = ", ".join(s.value for s in System)
    if not names:  # `--only ""` would plan nothing and call that converged
        raise argparse.ArgumentTypeError(f"needs at least one of {allowed}")
    try:
        return frozenset(System(n) for n in names)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"takes a comma list of {allowed}") from exc


def _count(value: str) -> int:
    """A whole number ≥ 0 (`--max-deletions -1` would refuse every deletion silently)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; give 0 or more")
    return number


def _comment_limit(value: str) -> int:
    try:
        return parse_comment_limit(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _ci(value: str) -> Ci | str:
    # An unknown name stays as given, for `choices` to refuse with the list of names.
    return Ci(value) if value in {ci.value for ci in Ci} else value


def _directory(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-d",
        "--dir",
        type=Path,
        default=Path("desired-state"),
        dest="directory",
        help="desired-state directory",
    )


def _common(parser: argparse.ArgumentParser) -> None:
    _directory(parser)
    parser.add_argument(
        "--target",
        choices=["sandbox", "live"],
        default=None,
        help="where to read and write (default: settings.target, else sandbox)",
    )
    parser.add_argument(
        "--only",
        type=_systems,
        default=frozenset(System),
        help="limit to these systems: aws,directory,okta",
    )


def _full_read(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--full-read",
        action="store_true",
        help="read every Okta group's members instead of reusing the read cache (and "
        "rewrite the cache); the scheduled reconcile should do this daily",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="okta-aws",
        description="Okta → AWS federation across many accounts, as code.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: str, *, help: str) -> argparse.ArgumentParser:
        """A subcommand that runs `run` ("module:function") with its options."""
        module, function = run.split(":")
        added: argparse.ArgumentParser = sub.add_parser(name, help=help)
        added.set_defaults(run=(f"engine.{module}", function))
        return added

    validate = command(
        "validate", "commands:validate", help="schema and semantic checks of the desired state"
    )
    _common(validate)

    plan = command(
        "plan", "commands:plan", help="read live, diff, print the plan and the access delta"
    )
    _common(plan)
    plan.add_argument("--live-snapshot", type=Path, help="plan offline against a snapshot file")
    plan.add_argument("--out", type=Path, dest="out_file", help="also save the plan as JSON")
    plan.add_argument("--format", choices=["text", "markdown", "json"], default="text", dest="fmt")
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when there are changes (0 none, 1 error)",
    )
    plan.add_argument("--prune", action="store_true", help="plan deletions of what we own")
    plan.add_argument("--max-deletions", type=_count, help="override safety.max_deletions")
    _full_read(plan)
    plan.add_argument(
        "--out-dir",
        type=Path,
        dest="comments_dir",
        metavar="DIR",
        help="write the markdown plan as comments plan-comment-<k>.md (with --format markdown)",
    )
    plan.add_argument(
        "--comment-limit",
        type=_comment_limit,
        metavar="N",
        help="characters per comment: a number, github (65536, the default) or gitlab (1000000)",
    )
    plan.add_argument(
        "--summary-file",
        type=Path,
        metavar="FILE",
        help="write the plan for a CI job summary (at most 1 MiB), e.g. $GITHUB_STEP_SUMMARY",
    )

    apply = command(
        "apply", "commands_apply:apply", help="execute the plan, re-read, verify converged"
    )
    _common(apply)
    apply.add_argument("--plan", type=Path, dest="plan_file", help="apply this saved plan")
    apply.add_argument("--prune", action="store_true", help="delete what we own and no longer want")
    apply.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation")
    apply.add_argument("--max-deletions", type=_count, help="override safety.max_deletions")

    lock = command("lock", "commands_lock:lock", help="the S3 apply lock: who holds it")
    lock.add_argument("action", choices=["status"])
    _directory(lock)

    unlock = command(
        "force-unlock",
        "commands_lock:force_unlock",
        help="remove a crashed apply's S3 lock by its id",
    )
    unlock.add_argument("lock_id", metavar="LOCK_ID", help="the id lock status shows")
    unlock.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation")
    _directory(unlock)

    snapshot = command("snapshot", "commands:snapshot", help="write the live world as JSON")
    _common(snapshot)
    snapshot.add_argument("--out", type=Path, dest="out_file", required=True)
    _full_read(snapshot)

    sandbox = command(
        "sandbox",
        "sandbox.command:sandbox",
        help="the embedded world: reset, show, import, serve",
    )
    sandbox.add_argument("action", choices=["reset", "show", "import", "serve"])
    _directory(sandbox)
    sandbox.add_argument(
        "--directory",
        choices=["auto", "mock", "slapd", "samba"],
        default="auto",
        dest="directory_mode",
        help="the sandbox directory: in-process mock, or a real slapd / Samba AD DC",
    )
    sandbox.add_argument(
        "--import-every",
        type=float,
        help="serve: run Okta's directory import every SECONDS (the AD agent's schedule)",
    )

    adopt = command(
        "import", "commands_import:import_", help="write a desired-state folder from what is live"
    )
    adopt.add_argument("--out", type=Path, dest="out_dir", required=True, help="a new folder")
    adopt.add_argument(
        "--target", choices=["sandbox", "live"], default=None, help="read from (default sandbox)"
    )
    adopt.add_argument("--live-snapshot", type=Path, help="import a snapshot file instead")
    adopt.add_argument(
        "--role-group-name",
        help="the role-group syntax, when the app's filter is not one okta-aws derives "
        "(e.g. 'aws#{alias}#{role}#{account_id}')",
    )
    adopt.add_argument(
        "--no-members",
        action="store_false",
        dest="members",
        help="leave members to the owners",
    )
    adopt.add_argument("--app-label", help="the Okta AWS app's label (default Amazon Web Services)")
    adopt.add_argument("--app-id", help="the Okta AWS app's id")
    adopt.add_argument(
        "--account-tags",
        type=Path,
        metavar="FILE",
        help="accounts' tags from AWS Organizations (YAML/JSON: account id → tags): "
        "written to accounts.yaml, and grants by account_tags where they fit",
    )

    init = command("init", "scaffold:init", help="scaffold a desired-state repository with its CI")
    init.add_argument("directory", type=Path, metavar="DIR", help="the new repository's folder")
    init.add_argument(
        "--ci",
        type=_ci,
        choices=[ci.value for ci in Ci],
        default=Ci.GITHUB,
        help="CI files to write",
    )

    access = command("access", "commands:access", help="who can assume which role, desired or live")
    _common(access)
    access.add_argument("--live", action="store_true", help="report live access, not desired")
    access.add_argument("--live-snapshot", type=Path, help="live world from a snapshot file")
    access.add_argument("--user", help="only this user (login)")
    access.add_argument("--account", help="only this account (alias or id)")
    _full_read(access)
    access.add_argument(
        "--format", choices=["table", "csv", "json", "markdown"], default="table", dest="fmt"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args, out=sys.stdout, err=sys.stderr)
    except KeyboardInterrupt:
        # apply says itself what it had done; any other command writes nothing until its
        # end (plan --out, snapshot --out: one write, after the read).
        print("interrupted: stopped", file=sys.stderr)
        return ExitCode.INTERRUPTED


def handler(args: argparse.Namespace) -> tuple[Callable[..., int], dict[str, Any]]:
    """The function a parsed command runs, and its keyword arguments: every option's
    `dest` is the name of that function's parameter, so the table is the parser itself.
    The module is imported only when its command runs: `init` or `validate` do not pay
    for boto3, and only `sandbox` needs the sandbox extra."""
    options = vars(args).copy()
    del options["command"]
    module, name = options.pop("run")
    function: Callable[..., int] = getattr(importlib.import_module(module), name)
    return function, options


def _run(args: argparse.Namespace, *, out: TextIO, err: TextIO) -> int:
    function, options = handler(args)
    return function(**options, out=out, err=err)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
