"""`okta-aws init`: what it writes validates, it never overwrites, and its CI files pass
actionlint (with shellcheck on every `run:` step) and zizmor with zero findings.

The workflows themselves are run step by step in tests/e2e/test_workflows.py.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.cli import build_parser, main
from engine.commands import load_valid
from engine.scaffold import PACKAGE_PLACEHOLDER, Ci, init, pinned_requirement, scaffold_files

BIN = Path(sys.executable).parent
WORKFLOWS = (
    ".github/workflows/okta-aws-plan.yml",
    ".github/workflows/okta-aws-apply.yml",
    ".github/workflows/okta-aws-reconcile.yml",
)
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
OKTA_AWS_COMMAND = re.compile(r"\bokta-aws (validate|plan|apply|snapshot)\b")


def _init(directory: Path, ci: Ci) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = init(directory=directory, ci=ci, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _tool(name: str) -> str:
    """A linter from the dev extra (next to this Python): missing is a failure, not a skip."""
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[dev]'"
    return found


@pytest.mark.parametrize("ci", list(Ci))
def test_init_writes_a_desired_state_that_validates(tmp_path: Path, ci: Ci) -> None:
    code, out, err = _init(tmp_path / "repo", ci)
    assert (code, err) == (0, "")
    written = sorted(
        p.relative_to(tmp_path / "repo").as_posix()
        for p in (tmp_path / "repo").rglob("*")
        if p.is_file()
    )
    assert written == sorted(scaffold_files(ci=ci))
    for path in written:
        assert path in out
    problems = io.StringIO()
    state = load_valid(directory=tmp_path / "repo" / "desired-state", err=problems)
    assert state is not None, problems.getvalue()
    assert problems.getvalue() == ""
    assert {a.alias for a in state.accounts} == {"sandbox-dev", "shared-services"}
    assert len(state.management_groups) == 2
    # The settings are commented for a newcomer.
    settings = (tmp_path / "repo" / "desired-state" / "settings.yaml").read_text()
    assert sum(line.lstrip().startswith("#") for line in settings.splitlines()) >= 10


def test_the_ci_files_pin_this_okta_aws(tmp_path: Path) -> None:
    for ci in Ci:
        for path, text in scaffold_files(ci=ci).items():
            assert PACKAGE_PLACEHOLDER not in text, path
    requirement = pinned_requirement()
    assert re.fullmatch(r"okta-aws==\d+\.\d+\.\d+\S*", requirement)
    for path in WORKFLOWS:
        assert f'OKTA_AWS_PACKAGE: "{requirement}"' in scaffold_files(ci=Ci.GITHUB)[path]
    assert f'OKTA_AWS_PACKAGE: "{requirement}"' in scaffold_files(ci=Ci.GITLAB)[".gitlab-ci.yml"]


@pytest.mark.parametrize(
    "existing",
    [["README.md"], ["desired-state/settings.yaml", ".github/workflows/okta-aws-plan.yml"]],
)
def test_init_never_overwrites_it_lists_the_conflicts_and_writes_nothing(
    tmp_path: Path, existing: list[str]
) -> None:
    repo = tmp_path / "repo"
    for path in existing:
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text("mine\n")
    before = sorted(p.relative_to(repo) for p in repo.rglob("*"))
    code, out, err = _init(repo, Ci.GITHUB)
    assert code == 1
    assert out == ""
    assert f"already has {len(existing)} of the files" in err
    assert "nothing written" in err
    for path in existing:
        assert str(repo / path) in err
        assert (repo / path).read_text() == "mine\n"
    assert sorted(p.relative_to(repo) for p in repo.rglob("*")) == before


def test_init_counts_a_dangling_symlink_as_a_conflict(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README.md").symlink_to(tmp_path / "elsewhere")
    code, _, err = _init(repo, Ci.GITHUB)
    assert code == 1 and "README.md" in err
    assert not (tmp_path / "elsewhere").exists()


def test_init_into_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    code, _, err = _init(tmp_path / "f", Ci.GITLAB)
    assert code == 1
    assert err.count("\n") == 1 and "is a file, not a folder" in err


def test_init_through_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path / "r"), "--ci", "gitlab"]) == 0
    assert (tmp_path / "r" / ".gitlab-ci.yml").is_file()
    assert main(["init", str(tmp_path / "r"), "--ci", "gitlab"]) == 1
    assert "nothing written" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["init", str(tmp_path / "s"), "--ci", "jenkins"])
    assert exited.value.code == 1


# --- the GitHub workflows -------------------------------------------------------------------


def _workflow(path: str) -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(scaffold_files(ci=Ci.GITHUB)[path])
    return loaded


@pytest.mark.parametrize("path", WORKFLOWS)
def test_workflow_hardening(path: str) -> None:
    workflow = _workflow(path)
    assert workflow["permissions"] == {}, "no default permissions: each job says its own"
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, name
        assert "write-all" not in str(job["permissions"])
        assert "contents: write" not in yaml.safe_dump(job["permissions"])
        for step in job["steps"]:
            if "uses" in step:
                assert SHA_PIN.match(step["uses"]), f"{step['uses']} is not pinned by SHA"
            if "run" in step:
                # Expressions go through env, never into a script (template injection).
                assert "${{" not in step["run"], step["run"]
                commands = OKTA_AWS_COMMAND.findall(step["run"])
                # Thin steps: okta-aws (the plan step's feature check aside) plus gh.
                assert len(set(commands)) <= 1, step["run"]


def test_the_workflows_use_oidc_and_secrets_only_where_needed() -> None:
    for path in WORKFLOWS:
        text = scaffold_files(ci=Ci.GITHUB)[path]
        assert "role-to-assume: ${{ vars.OKTA_AWS_" in text
        assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text
        for line in text.splitlines():
            if "secrets." in line:
                assert re.search(r"(OKTA_API_TOKEN|LDAP_PASSWORD): \$\{\{ secrets\.\1 \}\}", line)
    apply = _workflow(".github/workflows/okta-aws-apply.yml")
    assert apply["concurrency"] == {"group": "okta-aws-apply", "cancel-in-progress": False}
    assert apply["jobs"]["apply"]["env"]["OKTA_AWS_LOCK_URL"] == "${{ vars.OKTA_AWS_LOCK_URL }}"
    reconcile = _workflow(".github/workflows/okta-aws-reconcile.yml")
    assert reconcile["concurrency"]["group"] == "okta-aws-apply"


def test_actionlint_and_zizmor_find_nothing(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    assert _init(repo, Ci.GITHUB)[0] == 0
    files = [str(repo / p) for p in WORKFLOWS]
    shellcheck = _tool("shellcheck")  # actionlint checks run: scripts only when it is on PATH
    env = {"PATH": f"{Path(shellcheck).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    linted = subprocess.run(
        [_tool("actionlint"), "-verbose", *files],
        capture_output=True,
        text=True,
        env=env,
        cwd=repo,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert 'Rule "shellcheck" was disabled' not in linted.stderr, linted.stderr
    for persona in ("regular", "auditor"):
        audited = subprocess.run(
            [_tool("zizmor"), "--offline", "--persona", persona, str(repo / ".github/workflows")],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert audited.returncode == 0, audited.stdout + audited.stderr
        assert "No findings to report" in audited.stdout, audited.stdout


def test_the_linters_do_find_a_broken_workflow(tmp_path: Path) -> None:
    """The zero-findings test above can fail: the same tools flag an unpinned action, an
    expression inside a script and a bad shell line."""
    bad = scaffold_files(ci=Ci.GITHUB)[WORKFLOWS[0]]
    bad = re.sub(r"actions/checkout@[0-9a-f]{40}", "actions/checkout@v4", bad)
    bad = bad.replace(
        "run: okta-aws validate", "run: okta-aws validate ${{ github.event.pull_request.title }}"
    )
    bad = bad.replace('run: python -m pip install "$OKTA_AWS_PACKAGE"', "run: cd $UNSET_DIR")
    path = tmp_path / ".github" / "workflows" / "bad.yml"
    path.parent.mkdir(parents=True)
    path.write_text(bad)
    env = {"PATH": f"{Path(_tool('shellcheck')).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    linted = subprocess.run(
        [_tool("actionlint"), str(path)], capture_output=True, text=True, env=env, check=False
    )
    assert linted.returncode == 1
    assert "shellcheck" in linted.stdout and "untrusted" in linted.stdout, linted.stdout
    audited = subprocess.run(
        [_tool("zizmor"), "--offline", str(path.parent)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert audited.returncode != 0
    assert "unpinned-uses" in audited.stdout and "template-injection" in audited.stdout


# --- GitLab CI ------------------------------------------------------------------------------


def test_gitlab_ci_has_the_same_three_jobs_and_commands() -> None:
    text = scaffold_files(ci=Ci.GITLAB)[".gitlab-ci.yml"]
    pipeline = yaml.safe_load(text)
    jobs = {name for name in pipeline if name.startswith("okta-aws-")}
    assert jobs == {"okta-aws-plan", "okta-aws-apply", "okta-aws-reconcile"}
    for name in jobs:
        assert pipeline[name]["rules"], name
    assert pipeline["okta-aws-apply"]["resource_group"] == "okta-aws-apply"
    assert pipeline["okta-aws-reconcile"]["resource_group"] == "okta-aws-apply"
    assert pipeline["default"]["id_tokens"]["AWS_OIDC_TOKEN"]["aud"] == "sts.amazonaws.com"
    github = "\n".join(scaffold_files(ci=Ci.GITHUB)[p] for p in WORKFLOWS)

    def command_lines(source: str) -> set[str]:
        plain = source.replace(" 2>&1", "")
        found = re.findall(r"okta-aws (?:validate|plan|apply|snapshot)[^\n|>]*", plain)
        return {re.sub(r'"\$\{snapshot\[@\]\}" ', "", line).strip() for line in found}

    gitlab_commands = command_lines(text)
    github_commands = {
        line.replace('"$ISSUE_LIMIT"', '"$COMMENT_LIMIT"') for line in command_lines(github)
    }
    # Every okta-aws command GitLab runs is one GitHub runs (the e2e test runs GitHub's).
    assert gitlab_commands <= github_commands, gitlab_commands - github_commands
    assert "okta-aws apply --auto-approve 2>&1" in text
    assert "okta-aws apply --plan plan.json --auto-approve" in text


def test_gitlab_job_scripts_pass_shellcheck() -> None:
    """GitLab has no offline linter here; its scripts are bash, so shellcheck reads each
    job's as GitLab runs it (before_script then script in one shell; after_script apart)."""
    pipeline = yaml.safe_load(scaffold_files(ci=Ci.GITLAB)[".gitlab-ci.yml"])
    checked = 0
    for name, job in pipeline.items():
        if not name.startswith("okta-aws-"):
            continue
        for lines in (
            [*pipeline["default"]["before_script"], *job["script"]],
            job.get("after_script", []),
        ):
            if not lines:
                continue
            done = subprocess.run(
                [_tool("shellcheck"), "--shell", "bash", "-"],
                input="\n".join(lines),
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 0, f"{name}: {done.stdout}"
            checked += 1
    assert checked == 5


@pytest.mark.parametrize("ci", list(Ci))
def test_every_markdown_plan_is_cut_into_comments_by_flags_the_cli_has(ci: Ci) -> None:
    """The CI files call `plan --comment-limit --out-dir` directly (no probing `--help`
    for an okta-aws without them), and the parser takes each call as written."""
    text = "\n".join(scaffold_files(ci=ci).values())
    assert "--help" not in text
    calls = re.findall(r"okta-aws plan [^\n|]*--format markdown[^\n|]*", text)
    assert len(calls) == (3 if ci is Ci.GITHUB else 2)
    for call in calls:
        # Arrays of optional flags stand for what they may hold: the parser must take them.
        call = call.split(" || ")[0].replace('"${snapshot[@]}" ', "")
        call = call.replace('"${read[@]}"', "--full-read")
        words = re.sub(r'"\$(\w+)"', r"\1", call).split()[1:]
        limit = words.index("--comment-limit") + 1
        words[limit] = {"COMMENT_LIMIT": "65000", "ISSUE_LIMIT": "65000"}[words[limit]]
        args = build_parser().parse_args(words)
        assert args.comments_dir is not None and args.comment_limit == 65_000, call
