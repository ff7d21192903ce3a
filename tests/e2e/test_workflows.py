"""The CI workflows `okta-aws init` writes, run step by step against `sandbox serve`.

A desired-state repository made by `okta-aws init` (a git repository, branch main) meets
the served sandbox (moto over HTTP, the Okta emulator, a real slapd) the way it meets a
real org on a runner: every `run:` step of the generated workflows runs with bash, in
order, with the job's environment; every okta-aws command in them runs for real. `gh` is
a recording stand-in (tests/e2e/gh_standin.py): what we hand GitHub (comment and issue
bodies, which comment or issue to edit, close or delete) is what the test reads.

The story: a pull request that adds a member gets a plan comment naming them, and a
second push edits that comment rather than adding one; a push whose plan is blocked fails
the check while the comment says why; an apply that fails (a token Okta refuses) fails the
job with what to do next in its summary; the merge applies and converges;
a hand-made change in AWS (boto3 against the served endpoint) is found by the scheduled
job and reported as an issue naming it; with reconcile opted in the next run applies it
away, and the run after closes the issue. A fork's pull request, with no secret, plans
against the snapshot the scheduled job published and says so. No file, comment, issue,
summary or log produced anywhere holds the sandbox's Okta token or LDAP password.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.sandbox.directory_servers import DirectoryKind
from tests.directory_fixtures import require_directory
from tests.e2e.actions_runner import Context, Job, run_job
from tests.e2e.harness import Served, Workspace

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
PR_NUMBER = "7"
DRIFT_TITLE = "okta-aws: drift on the live target"
FORK_EXPRESSION = "github.event.pull_request.head.repo.full_name != github.repository"
# What a runner gets from `sandbox serve`'s exports without any secret or variable: the AWS
# session configure-aws-credentials would make, the endpoints a self-hosted runner has.
RUNNER_AWS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
MARKER = "<!-- okta-aws plan -->"


def _git(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "e2e",
        "GIT_AUTHOR_EMAIL": "e2e@example.test",
        "GIT_COMMITTER_NAME": "e2e",
        "GIT_COMMITTER_EMAIL": "e2e@example.test",
    }
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def _ldap_flavour(repo: Path) -> None:
    """The example's directory moved to the sandbox's slapd (base dc=example,dc=test)."""
    path = repo / "desired-state" / "settings.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    settings = document["settings"]
    settings["directory"] = {
        "kind": "ldap",
        "role_groups_ou": "ou=AWS Role Groups,dc=example,dc=test",
        "management_groups_ou": "ou=AWS Management Groups,dc=example,dc=test",
        "users_base": "ou=people,dc=example,dc=test",
    }
    settings["okta"]["app_filter"] = "ldap_sun_one"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def _add_member(repo: Path, group: str, login: str) -> None:
    path = repo / "desired-state" / "groups" / "teams.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for entry in document["management_groups"]:
        if entry["name"] == group:
            entry["members"].append(login)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


class Runner:
    """The generated workflows of one repository, run against one served sandbox."""

    def __init__(self, *, root: Path, repo: Path, served: Served) -> None:
        self.root = root
        self.repo = repo
        self.exported = served.live.env
        self.gh = root / "gh"
        self.gh.mkdir(parents=True)
        tools = root / "bin"
        tools.mkdir()
        standin = f'#!/bin/sh\nexec {sys.executable} {HERE / "gh_standin.py"} "$@"\n'
        (tools / "gh").write_text(standin)
        (tools / "gh").chmod(0o755)
        okta_aws = BIN / "okta-aws"
        assert okta_aws.is_file(), "okta-aws is not installed in this venv: make setup"
        self.base_env = {
            "PATH": f"{tools}:{BIN}:/usr/bin:/bin",
            "HOME": str(root / "home"),
            "GH_STANDIN_DIR": str(self.gh),
            "NO_COLOR": "1",
            "AWS_DEFAULT_REGION": self.exported["AWS_DEFAULT_REGION"],
            "AWS_CONFIG_FILE": "/nonexistent/okta-aws-e2e-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/okta-aws-e2e-credentials",
            "OKTA_TESTING_TESTINGDISABLEHTTPSCHECK": "true",
        }
        self.artifacts = root / "artifacts"
        self.runs = 0

    def secrets(self) -> dict[str, str]:
        return {
            "OKTA_API_TOKEN": self.exported["OKTA_API_TOKEN"],
            "LDAP_PASSWORD": self.exported["LDAP_PASSWORD"],
        }

    def variables(self, **extra: str) -> dict[str, str]:
        return {
            "OKTA_ORG_URL": self.exported["OKTA_ORG_URL"],
            "LDAP_URL": self.exported["LDAP_URL"],
            "LDAP_BIND_DN": self.exported["LDAP_BIND_DN"],
            "AWS_REGION": self.exported["AWS_DEFAULT_REGION"],
            "OKTA_AWS_PLAN_ROLE_ARN": "arn:aws:iam::000000000000:role/okta-aws-plan",
            "OKTA_AWS_APPLY_ROLE_ARN": "arn:aws:iam::000000000000:role/okta-aws-apply",
            **extra,
        }

    def job(
        self,
        workflow: str,
        job: str,
        *,
        fork: bool = False,
        variables: dict[str, str] | None = None,
        secrets: dict[str, str] | None = None,
    ) -> Job:
        """One run of `job` on a fresh checkout of the repository's current branch."""
        self.runs += 1
        checkout = self.root / f"checkout-{self.runs}"
        shutil.copytree(self.repo, checkout, ignore=shutil.ignore_patterns(".git"))
        base = dict(self.base_env)
        if not fork:  # a fork's run has no AWS session either
            base.update({k: self.exported[k] for k in RUNNER_AWS})
        context = Context(
            secrets={} if fork else (secrets or self.secrets()),
            vars={} if fork else (variables or self.variables()),
            github={
                "token": "ghs_standin_token",
                "repository": "example/aws-access",
                "run_id": str(1000 + self.runs),
                "event.pull_request.number": PR_NUMBER,
            },
            expressions={FORK_EXPRESSION: "true" if fork else "false"},
            base_env=base,
            artifacts=self.artifacts,
        )
        return run_job(
            workflow=self.repo / ".github" / "workflows" / workflow,
            job=job,
            context=context,
            cwd=checkout,
            work=self.root / f"run-{self.runs}",
        )

    def state(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.gh / "state.json").read_text())
        return loaded


@pytest.fixture
def served_repo(tmp_path: Path) -> Any:
    require_directory(DirectoryKind.LDAP)
    repo = tmp_path / "aws-access"
    init = subprocess.run(
        [str(BIN / "okta-aws"), "init", str(repo), "--ci", "github"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    _ldap_flavour(repo)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "okta-aws init")
    # The sandbox world is seeded from the same desired state (a brownfield org).
    workspace = Workspace(tmp_path / "sandbox")
    shutil.rmtree(workspace.desired)
    shutil.copytree(repo / "desired-state", workspace.desired)
    served = workspace.serve(directory="slapd")
    try:
        yield repo, served
    finally:
        assert served.stop() == 0


def test_pull_request_merge_drift_and_reconcile(
    tmp_path: Path, served_repo: tuple[Path, Served]
) -> None:
    repo, served = served_repo
    runner = Runner(root=tmp_path / "ci", repo=repo, served=served)

    # --- a pull request: walter asks to join Platform Admins -----------------------------
    _git(repo, "checkout", "-q", "-b", "walter-admin")
    _add_member(repo, "Platform Admins", "walter")
    _git(repo, "commit", "-q", "-am", "walter joins Platform Admins")
    pr = runner.job("okta-aws-plan.yml", "plan")
    assert not pr.failed, pr.log()
    parts = sorted((pr.work.parent / "checkout-1" / "plan-comments").glob("plan-comment-*.md"))
    assert parts and "walter" in "".join(p.read_text() for p in parts)
    assert pr.step("Plan").outcome == "success", pr.log()  # --comment-limit exists: no fallback
    assert all(len(p.read_text(encoding="utf-8")) <= 65_000 for p in parts)
    (comment,) = runner.state()["comments"]
    assert comment["body"].startswith(MARKER)
    assert "+ user walter → Platform Admins" in comment["body"]
    assert "walter" in comment["body"].split("<details>")[0], "not in the access changes"
    assert (runner.artifacts / "okta-aws-plan" / "plan.json").is_file()

    # A second push edits the same comment: still one, now naming wendy too.
    _add_member(repo, "Developers", "wendy")
    _git(repo, "commit", "-q", "-am", "wendy joins Developers")
    again = runner.job("okta-aws-plan.yml", "plan")
    assert not again.failed, again.log()
    (edited,) = runner.state()["comments"]
    assert edited["id"] == comment["id"] and edited["edits"] == 1
    assert "+ user wendy → Developers" in edited["body"]
    assert "+ user walter → Platform Admins" in edited["body"]

    # A push whose plan is blocked (a login the directory lacks) fails the check, and the
    # comment, edited again, says why; the next push takes it back.
    _add_member(repo, "Developers", "nobody")
    _git(repo, "commit", "-q", "-am", "nobody joins Developers")
    blocked = runner.job("okta-aws-plan.yml", "plan")
    assert blocked.failed and blocked.step("Plan").outcome == "failure", blocked.log()
    assert blocked.step("Comment the plan").outcome == "success"
    (refused,) = runner.state()["comments"]
    assert refused["edits"] == 2
    assert "Apply will refuse" in refused["body"] and "nobody" in refused["body"]
    # The blocking finding opens the comment, before any change listing.
    assert "nobody" in refused["body"].split("<details>")[0], refused["body"]
    _git(repo, "revert", "--no-edit", "HEAD")

    # --- a fork's pull request: no secret, no AWS session; the published snapshot --------
    # (published by a scheduled run below; here the first one, made now)
    _git(repo, "checkout", "-q", "main")  # a scheduled run checks out main
    first_schedule = runner.job("okta-aws-reconcile.yml", "reconcile")
    status = first_schedule.step("Plan (exit 2 = drift)").outputs.get("status")
    assert status == "2", first_schedule.log()
    assert first_schedule.step("Restore the Okta read cache").log == "(no cache yet)"
    first_log = first_schedule.step("Plan (exit 2 = drift)").log
    assert "okta members: full read" in first_log
    assert "no cached list could be reused" not in first_log  # there was no cache at all
    assert first_schedule.step("Save the Okta read cache").outcome == "success"
    _git(repo, "checkout", "-q", "walter-admin")
    fork = runner.job("okta-aws-plan.yml", "plan", fork=True)
    assert not fork.failed, fork.log()
    assert fork.step("Plan").outcome == "skipped"
    assert "(snapshot live-snapshot.json)" in fork.summary
    assert "walter" in fork.summary
    assert len(runner.state()["comments"]) == 1  # a fork's token cannot comment

    # --- merge: apply on main converges (Okta imports the directory in between) ----------
    _git(repo, "checkout", "-q", "main")
    _git(repo, "merge", "-q", "--no-ff", "walter-admin", "-m", "Merge pull request #7")
    # An apply that cannot work (Okta refuses the token) fails the job, and the summary
    # says what to do next.
    wrong = {**runner.secrets(), "OKTA_API_TOKEN": "not-the-token"}
    failed = runner.job("okta-aws-apply.yml", "apply", secrets=wrong)
    assert failed.failed and failed.step("Apply").outcome == "failure"
    assert "## okta-aws apply: failure" in failed.summary
    assert "What to do next:" in failed.summary, failed.summary
    applied = runner.job("okta-aws-apply.yml", "apply")
    assert not applied.failed, applied.log()
    assert "## okta-aws apply: success" in applied.summary
    assert "Converged (target live)" in applied.summary
    served.live.import_directory()  # the directory agent's schedule
    rerun = runner.job("okta-aws-apply.yml", "apply")
    assert not rerun.failed, rerun.log()
    assert "Converged (target live): the re-plan is empty." in rerun.summary

    # The first scheduled run found the brownfield's drift and opened the issue; now the
    # world is the desired state and the next run closes it.
    (issue,) = runner.state()["issues"]
    assert issue["title"] == DRIFT_TITLE and issue["state"] == "open"
    clean = runner.job("okta-aws-reconcile.yml", "reconcile")
    assert clean.step("Plan (exit 2 = drift)").outputs["status"] == "0", clean.log()
    # The scheduled runs keep Okta's member lists between them (an actions cache); the
    # run in the midnight UTC hour reads them all afresh.
    # (Lists that changed within the cache's overlap window, as all have in this quick
    # story, are read again: the restored cache was consulted, not trusted blindly.)
    assert clean.step("Restore the Okta read cache").log.startswith("restored ")
    consulted = ("okta members: incremental read", "full read (no cached list could be reused)")
    plan_log = clean.step("Plan (exit 2 = drift)").log
    if _utc_hour() != "00":
        assert any(words in plan_log for words in consulted), clean.log()
    assert runner.state()["issues"][0]["state"] == "closed"

    # --- drift made by hand: ReadOnly's session length in sandbox-dev --------------------
    served.live.iam("111111111111").update_role(RoleName="ReadOnly", MaxSessionDuration=3600)
    drift = runner.job("okta-aws-reconcile.yml", "reconcile")
    assert not drift.failed, drift.log()
    assert drift.step("Plan (exit 2 = drift)").outputs["status"] == "2"
    assert drift.step("Reconcile (opted in)").outcome == "skipped"
    issues = runner.state()["issues"]
    assert [i["state"] for i in issues] == ["closed", "open"]
    body = issues[1]["body"]
    assert "ReadOnly" in body and "sandbox-dev" in body and "3600" in body, body

    # Opted in: the next run updates the issue and applies exactly that plan.
    opted = runner.job(
        "okta-aws-reconcile.yml",
        "reconcile",
        variables=runner.variables(OKTA_AWS_AUTO_RECONCILE="true"),
    )
    assert not opted.failed, opted.log()
    assert opted.step("Reconcile (opted in)").outcome == "success"
    assert runner.state()["issues"][1]["edits"] == 1
    assert (
        served.live.iam("111111111111").get_role(RoleName="ReadOnly")["Role"]["MaxSessionDuration"]
        == 14400
    )

    # The run after the reconcile finds nothing and closes the issue.
    after = runner.job("okta-aws-reconcile.yml", "reconcile")
    assert after.step("Plan (exit 2 = drift)").outputs["status"] == "0", after.log()
    assert [i["state"] for i in runner.state()["issues"]] == ["closed", "closed"]
    assert (runner.artifacts / "okta-aws-live-snapshot" / "live-snapshot.json").is_file()

    # --- no secret anywhere we produced ---------------------------------------------------
    # Secrets reach only the okta-aws steps: no gh call ever had one in its environment.
    calls = [json.loads(line) for line in (runner.gh / "calls.jsonl").read_text().splitlines()]
    assert len(calls) > 10
    assert [c for c in calls if c["secrets_in_env"]] == []
    secrets = runner.secrets().values()
    assert all(len(secret) >= 8 for secret in secrets)
    produced = [p for p in (tmp_path / "ci").rglob("*") if p.is_file()]
    produced += [p for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts]
    assert len(produced) > 50
    for path in produced:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"a secret is in {path}"


def _utc_hour() -> str:
    return datetime.now(UTC).strftime("%H")
