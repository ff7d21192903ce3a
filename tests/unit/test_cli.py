"""The command line, offline: validate, access, and plan against live snapshots.

These run `engine.cli.main` in-process on the example desired state and on snapshot
files, checking what a CI job relies on: the output formats and the exit codes of the
README (0 ok / no changes, 1 error or blocked, 2 changes with `--detailed-exitcode`),
and that bad flags and files are one-line errors, never a traceback.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import json
import shutil
from pathlib import Path

import pytest

from engine.access import simulate_import
from engine.apply import NOT_STARTED, ApplyReport, ChangeResult
from engine.cli import build_parser, handler, main
from engine.commands import wants_color
from engine.commands_apply import _confirm, report_convergence, report_interrupted
from engine.commands_session import reading_progress
from engine.compile import compile_world
from engine.load import load
from engine.model import DirectoryKind, OktaGroup, OktaGroupType, System, World
from engine.plan import PLAN_FORMAT_VERSION, Action, Change, Outcome, Plan, ResourceKind
from engine.providers.calls import CallCounter
from engine.providers.live import Providers
from engine.scaffold import Ci
from engine.snapshot import write_snapshot

ROOT = Path(__file__).resolve().parents[2]
DESIRED = ROOT / "desired-state"
EMPTY_WORLD = ROOT / "tests" / "data" / "worlds" / "empty-world.json"


def converged_world() -> World:
    """The live world once the example has been applied and Okta has imported it."""
    state = load(directory=DESIRED)
    desired = compile_world(state=state)
    kind = state.settings.directory.kind
    assert kind is DirectoryKind.ACTIVE_DIRECTORY
    imported = simulate_import(world=desired, source=kind.okta_source)
    # A live Okta group has a server id; imported groups are APP_GROUPs.
    groups = {
        key: dataclasses.replace(group, id=f"00g{index:017d}", type=OktaGroupType.APP_GROUP)
        for index, (key, group) in enumerate(sorted(imported.okta_groups.items()))
    }
    app = imported.okta_app
    assert app is not None
    return dataclasses.replace(
        imported, okta_groups=groups, okta_app=dataclasses.replace(app, id="0oa" + "1" * 17)
    )


@pytest.fixture(scope="module")
def converged_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("worlds") / "converged.json"
    write_snapshot(world=converged_world(), path=path, target="sandbox")
    return path


@pytest.fixture(scope="module")
def drifted_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    world = converged_world()
    role_key = sorted(world.roles)[0]
    drifted = dataclasses.replace(
        world, roles={k: v for k, v in world.roles.items() if k != role_key}
    )
    path = tmp_path_factory.mktemp("worlds") / "drifted.json"
    write_snapshot(world=drifted, path=path, target="sandbox")
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_validate_example_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate", "-d", str(DESIRED))
    assert code == 0, err
    assert "valid (9 accounts" in out


def test_validate_broken_copy_lists_every_problem_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "desired-state"
    shutil.copytree(DESIRED, broken)
    accounts = broken / "accounts.yaml"
    text = accounts.read_text()
    accounts.write_text(text.replace("alias: prod-payments", "alias: Prod--Payments", 1))
    groups = broken / "groups" / "platform.yaml"
    groups.write_text(groups.read_text().replace("role: Admin", "role: Admn", 1))
    # A schema problem (the alias) and a semantic one (the unknown role) in one run,
    # plus a missing required key: the entry left out must not hide the rest.
    groups.write_text(
        groups.read_text().replace("- name: Cloud Engineering Read Only", "- nom: Cloud Eng", 1)
    )
    code, _, err = run(capsys, "validate", "-d", str(broken))
    assert code == 1
    problem_lines = [line for line in err.splitlines() if ".yaml:" in line]
    assert any("accounts.yaml:" in line and "alias" in line for line in problem_lines), err
    assert any("groups/platform.yaml:" in line and "'Admn'" in line for line in problem_lines), err
    assert any("groups/platform.yaml:" in line and "'name'" in line for line in problem_lines), err
    assert f"{len(problem_lines)} problem(s)" in err, err


def test_plan_against_empty_world_is_blocked_but_renders_every_format(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_file = tmp_path / "plan.json"
    code, out, _ = run(
        capsys,
        "plan",
        "-d",
        str(DESIRED),
        "--live-snapshot",
        str(EMPTY_WORLD),
        "--format",
        "json",
        "--out",
        str(out_file),
    )
    # No Okta app and a missing adopted group: blocking findings, exit 1.
    assert code == 1
    plan = json.loads(out)
    assert plan["format_version"] == PLAN_FORMAT_VERSION
    assert {f["kind"] for f in plan["findings"]} >= {"read_error", "conflict"}
    assert json.loads(out_file.read_text()) == plan
    code, out, _ = run(
        capsys,
        "plan",
        "-d",
        str(DESIRED),
        "--live-snapshot",
        str(EMPTY_WORLD),
        "--format",
        "markdown",
    )
    assert code == 1
    assert "<details>" in out
    assert "refuse" in out.lower()


def test_converged_snapshot_plans_to_nothing_exit_0(
    capsys: pytest.CaptureFixture[str], converged_snapshot: Path
) -> None:
    code, out, err = run(
        capsys,
        "plan",
        "-d",
        str(DESIRED),
        "--live-snapshot",
        str(converged_snapshot),
        "--detailed-exitcode",
    )
    assert code == 0, out + err
    assert "No changes." in out


@pytest.mark.parametrize(("flag", "expected"), [(("--detailed-exitcode",), 2), ((), 0)])
def test_changes_exit_2_only_with_detailed_exitcode(
    capsys: pytest.CaptureFixture[str],
    drifted_snapshot: Path,
    flag: tuple[str, ...],
    expected: int,
) -> None:
    code, out, err = run(
        capsys, "plan", "-d", str(DESIRED), "--live-snapshot", str(drifted_snapshot), *flag
    )
    assert code == expected, out + err
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in out


def test_access_json_has_exactly_the_documented_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "access", "-d", str(DESIRED), "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert rows, "the example grants access to someone"
    assert all(
        set(row) == {"user", "account_id", "account_alias", "role", "role_arn", "via"}
        for row in rows
    )
    assert rows == sorted(rows, key=lambda r: (r["user"], r["account_id"], r["role"]))


def test_access_live_from_converged_snapshot_equals_desired(
    capsys: pytest.CaptureFixture[str], converged_snapshot: Path
) -> None:
    _, desired_out, _ = run(capsys, "access", "-d", str(DESIRED), "--format", "csv")
    code, live_out, _ = run(
        capsys,
        "access",
        "-d",
        str(DESIRED),
        "--live-snapshot",
        str(converged_snapshot),
        "--format",
        "csv",
    )
    assert code == 0
    desired_rows = {tuple(line.split(",")[:4]) for line in desired_out.splitlines()[1:]}
    live_rows = {tuple(line.split(",")[:4]) for line in live_out.splitlines()[1:]}
    assert desired_rows and desired_rows == live_rows


def test_okta_group_type_is_app_group_in_converged_world() -> None:
    # Guard for the fixture itself: imported groups look like Okta's.
    world = converged_world()
    assert all(isinstance(g, OktaGroup) for g in world.okta_groups.values())
    assert {g.type for g in world.okta_groups.values()} == {OktaGroupType.APP_GROUP}


class _Stream(io.StringIO):
    def __init__(self, text: str = "", *, tty: bool) -> None:
        super().__init__(text)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(
    ("tty", "no_color", "expected"),
    [(True, None, True), (True, "1", False), (False, None, False), (False, "1", False)],
)
def test_colour_only_on_a_terminal_without_no_color(
    monkeypatch: pytest.MonkeyPatch, tty: bool, no_color: str | None, expected: bool
) -> None:
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    assert wants_color(_Stream(tty=tty)) is expected


@pytest.mark.parametrize(
    ("answer", "tty", "expected"),
    [("yes\n", True, True), ("y\n", True, False), ("no\n", True, False), ("yes\n", False, False)],
)
def test_only_yes_typed_at_a_terminal_confirms_an_apply(
    answer: str, tty: bool, expected: bool
) -> None:
    out = _Stream(tty=True)
    assert _confirm(plan=Plan(target="sandbox"), inp=_Stream(answer, tty=tty), out=out) is expected
    assert ("Only 'yes' is accepted" in out.getvalue()) is tty


def test_reading_progress_names_the_systems_still_being_read_on_a_terminal_only() -> None:
    terminal = _Stream(tty=True)
    with reading_progress(err=terminal, systems=frozenset({System.AWS, System.OKTA})) as done:
        done(System.AWS)
        done(System.OKTA)
    assert "Reading live state: done" in terminal.getvalue()  # every system reported back
    log = _Stream(tty=False)
    with reading_progress(err=log, systems=frozenset({System.AWS})) as done:
        done(System.AWS)
    assert log.getvalue() == ""  # CI logs get the one-line call summary instead


# --- bad flags, files and environment: one line, never a traceback ------------------------------


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_validate_names_the_target_in_force(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", "-d", str(DESIRED), "--target", "live")
    assert code == 0 and out.splitlines()[0].endswith("; target live)"), out
    code, out, _ = run(capsys, "validate", "-d", str(DESIRED))
    assert code == 0 and out.splitlines()[0].endswith("; target sandbox)"), out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("plan", "--only", ""), "argument --only: needs at least one of aws, directory, okta"),
        (("plan", "--only", " , "), "argument --only: needs at least one of"),
        (("apply", "--only", "iam"), "argument --only: takes a comma list of aws, directory"),
        (("plan", "--max-deletions", "-1"), "argument --max-deletions: -1 is negative"),
        (("apply", "--max-deletions", "ten"), "argument --max-deletions: 'ten' is not a whole"),
        (("init", "repo", "--ci", "bitbucket"), "--ci: invalid choice: 'bitbucket' (choose"),
    ],
)
def test_bad_flag_values_are_one_line_errors_exit_1(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    assert exited.value.code == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"okta-aws {args[0]}: error: ") and message in line, line


def _plan_file(tmp_path: Path) -> Path:
    """A saved plan, made offline against the empty world (blocked, but written)."""
    path = tmp_path / "saved-plan.json"
    args = ["plan", "-d", str(DESIRED), "--live-snapshot", str(EMPTY_WORLD), "--out", str(path)]
    assert main(args) == 1 and path.is_file()
    return path


def _snapshot_problems(tmp_path: Path) -> list[tuple[Path, str]]:
    not_json = tmp_path / "not.json"
    not_json.write_text("{", encoding="utf-8")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00")
    return [
        (tmp_path / "missing.json", "cannot read it (No such file or directory)"),
        (not_json, "not JSON"),
        (binary, "not JSON (not UTF-8 text)"),
        (_plan_file(tmp_path), "not an okta-aws live snapshot"),
        (tmp_path, "cannot read it (Is a directory)"),
    ]


@pytest.mark.parametrize("command", ["plan", "access"])
def test_a_bad_live_snapshot_is_one_line_naming_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    for path, problem in _snapshot_problems(tmp_path):
        capsys.readouterr()
        code, _, err = run(capsys, command, "-d", str(DESIRED), "--live-snapshot", str(path))
        line = one_line(err)
        assert code == 1 and line.startswith(f"error: --live-snapshot {path}: "), err
        assert problem in line, line


@pytest.mark.parametrize("command", ["plan", "snapshot"])
def test_out_into_a_missing_folder_is_refused_before_reading(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    target = tmp_path / "no-such-folder" / "out.json"
    extra = ["--live-snapshot", str(EMPTY_WORLD)] if command == "plan" else []
    code, out, err = run(capsys, command, "-d", str(DESIRED), "--out", str(target), *extra)
    assert code == 1 and out == "", out
    assert one_line(err) == f"error: --out {target}: the folder {target.parent} does not exist"
    assert not (tmp_path / ".sandbox").exists() and not target.parent.exists()


@pytest.mark.parametrize(
    "url",
    [
        "https://admin:hunter2@example.okta.com",
        "admin:hunter2@example.okta.com",
        "https://example.okta.com/?token=hunter2",
        "https://[hunter2",
    ],
)
def test_an_okta_org_url_with_credentials_is_refused_without_showing_them(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("OKTA_ORG_URL", url)
    monkeypatch.setenv("OKTA_API_TOKEN", "a-token")
    code, out, err = run(capsys, "plan", "-d", str(DESIRED), "--target", "live", "--only", "okta")
    line = one_line(err)
    assert code == 1 and line.startswith("error: okta: OKTA_ORG_URL "), err
    assert "hunter2" not in out + err and "a-token" not in out + err


def test_a_saved_plan_that_cannot_be_read_or_is_damaged_is_not_applied(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.json"
    code, _, err = run(capsys, "apply", "-d", str(DESIRED), "--plan", str(missing))
    assert code == 1
    assert one_line(err) == f"error: --plan {missing}: cannot read it (No such file or directory)"

    saved = _plan_file(tmp_path)
    document = json.loads(saved.read_text(encoding="utf-8"))
    first = document["changes"][0]
    first["depends_on"] = [first["id"]]
    saved.write_text(json.dumps(document), encoding="utf-8")
    capsys.readouterr()
    code, _, err = run(capsys, "apply", "-d", str(DESIRED), "--plan", str(saved))
    assert code == 3
    line = one_line(err)
    assert line.startswith(f"refused: --plan {saved} is not a plan this engine wrote: ")
    assert f"$.changes[0].depends_on[0]: change '{first['id']}' depends on itself" in line
    assert not (tmp_path / ".sandbox").exists()  # refused before anything was started


@pytest.mark.parametrize(
    ("planned", "applied", "says"),
    [
        ((), ("--prune",), "prune (the plan: false, this apply: true)"),
        (("--prune",), (), "prune (the plan: true, this apply: false)"),
        ((), ("--only", "aws"), "systems (the plan: aws,directory,okta, this apply: aws)"),
    ],
    ids=["prune-added", "prune-from-the-file", "only"],
)
def test_a_saved_plan_applied_with_other_options_is_refused_before_reading(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    planned: tuple[str, ...],
    applied: tuple[str, ...],
    says: str,
) -> None:
    """The file never turns --prune on by itself: an edited artifact could otherwise
    make an apply delete what nobody asked it to."""
    saved = tmp_path / "saved-plan.json"
    args = ["plan", "-d", str(DESIRED), "--live-snapshot", str(EMPTY_WORLD), "--out", str(saved)]
    assert main([*args, *planned]) == 1 and saved.is_file()
    capsys.readouterr()
    code, _, err = run(capsys, "apply", "-d", str(DESIRED), "--plan", str(saved), *applied)
    assert code == 3
    line = one_line(err)
    assert line.startswith("refused: the saved plan was made with other options") and says in line


def test_an_interrupt_is_exit_130_with_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(**_: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr("engine.commands.validate", interrupted)
    code, _, err = run(capsys, "validate", "-d", str(DESIRED))
    assert code == 130 and one_line(err) == "interrupted: stopped"


# --- the end of an apply -------------------------------------------------------------------------


def _report(*outcomes: Outcome, message: str = "") -> ApplyReport:
    changes = [
        Change(kind=ResourceKind.ROLE, action=Action.CREATE, key=(f"{i:012d}", "r"), after=None)
        for i in range(len(outcomes))
    ]
    return ApplyReport(
        results=tuple(ChangeResult(c, o, message) for c, o in zip(changes, outcomes, strict=True))
    )


@pytest.mark.parametrize(
    ("outcomes", "replan", "expected", "says"),
    [
        ((Outcome.CREATED,), Plan(), 0, "Converged (target sandbox): the re-plan is empty."),
        ((Outcome.CREATED, Outcome.FAILED), Plan(), 1, "NOT a clean apply"),
        ((Outcome.CREATED, Outcome.SKIPPED), Plan(), 1, "NOT a clean apply"),
        ((Outcome.WAITING,), Plan(), 0, "Converged"),
    ],
    ids=["converged", "failed", "skipped", "waiting"],
)
def test_a_failed_or_skipped_change_never_exits_0(
    outcomes: tuple[Outcome, ...], replan: Plan, expected: int, says: str
) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = report_convergence(
        report=_report(*outcomes, message="boom"),
        replan=replan,
        providers=Providers(calls=CallCounter()),
        out=out,
        err=err,
    )
    assert code == expected and says in out.getvalue() + err.getvalue(), (out, err)
    assert ("failed or were skipped" in err.getvalue()) is (expected == 1)


def test_an_interrupted_apply_says_what_was_not_started() -> None:
    done, *rest = _report(*[Outcome.CREATED] * 23).results
    not_started = [ChangeResult(r.change, Outcome.SKIPPED, NOT_STARTED) for r in rest]
    report = ApplyReport(results=(done, *not_started), interrupted=True)
    out, err = io.StringIO(), io.StringIO()
    code = report_interrupted(
        report=report, providers=Providers(calls=CallCounter()), out=out, err=err
    )
    assert code == 130 and "Interrupted." in out.getvalue()
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("interrupted: 1 change(s) ran to an outcome (above), 22 were")
    assert lines[1:21] == [f"  not started: {r.change.id}" for r in not_started[:20]]
    assert lines[21:] == ["  … and 2 more (okta-aws plan lists them)"]


@pytest.mark.parametrize("args", [("plan",), ("sandbox", "reset"), ("sandbox", "import")])
def test_a_sandbox_folder_that_cannot_be_written_is_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    args: tuple[str, ...],
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    monkeypatch.setenv("OKTA_AWS_SANDBOX", str(a_file / "sandbox"))
    code, _, err = run(capsys, *args, "-d", str(DESIRED))
    last = err.strip().splitlines()[-1]
    assert code == 1 and "Traceback" not in err, err
    assert f"{a_file / 'sandbox'}/ cannot be used (Not a directory)" in last, err
    assert last.endswith("set OKTA_AWS_SANDBOX to a writable folder"), err


# One line a command: the fewest words that parse. The dispatch passes every option by its
# `dest`, so a `dest` that is not the name of a parameter would fail only when that
# command runs; this binds each command's options to its function without running it.
EVERY_COMMAND = [
    ("validate",),
    ("plan",),
    ("apply",),
    ("lock", "status"),
    ("force-unlock", "0" * 32),
    ("snapshot", "--out", "world.json"),
    ("sandbox", "show"),
    ("import", "--out", "adopted", "--no-members"),
    ("init", "repo", "--ci", "gitlab"),
    ("access",),
]


def test_the_table_covers_every_command() -> None:
    (commands,) = (a for a in build_parser()._actions if a.dest == "command")
    assert isinstance(commands.choices, dict)
    assert sorted(commands.choices) == sorted(words[0] for words in EVERY_COMMAND)


@pytest.mark.parametrize("words", EVERY_COMMAND, ids=lambda words: words[0])
def test_every_option_is_a_parameter_of_the_command_s_function(words: tuple[str, ...]) -> None:
    function, options = handler(build_parser().parse_args(words))
    inspect.signature(function).bind(**options, out=io.StringIO(), err=io.StringIO())


def test_a_flag_reaches_its_function_as_its_value() -> None:
    _, imported = handler(build_parser().parse_args(["import", "--out", "x", "--no-members"]))
    _, initialised = handler(build_parser().parse_args(["init", "repo", "--ci", "gitlab"]))
    assert imported["members"] is False and initialised["ci"] is Ci.GITLAB
    _, default = handler(build_parser().parse_args(["import", "--out", "x"]))
    assert default["members"] is True


def test_a_plan_file_that_cannot_be_written_is_one_line(
    capsys: pytest.CaptureFixture[str], converged_snapshot: Path
) -> None:
    full = Path("/dev/full")  # every write fails with ENOSPC, after the folder check passes
    if not full.exists():
        pytest.skip("no /dev/full here")
    code, _, err = run(
        capsys,
        "plan",
        "-d",
        str(DESIRED),
        "--live-snapshot",
        str(converged_snapshot),
        "--out",
        str(full),
    )
    assert code == 1
    assert one_line(err) == "error: --out /dev/full: cannot write it (No space left on device)"
