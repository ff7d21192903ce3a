"""Runs one job of a generated GitHub Actions workflow the way a runner does: its own
`run:` steps, in order, with `bash --noprofile --norc -eo pipefail` (what `shell: bash`
means on GitHub), the workflow's, job's and step's `env:` layered, `$GITHUB_OUTPUT`,
`$GITHUB_STEP_SUMMARY` and step outcomes wired for the `if:` conditions of later steps.

It understands only what the generated workflows use: `${{ }}` lookups of `secrets.*`,
`vars.*`, `github.*`, `env.*` and `steps.*`, conditions joined by `&&` of `==`/`!=`
comparisons and `!cancelled()`, and the few actions they call (checkout and setup-python
are the working tree and this Python; configure-aws-credentials is the environment the
test hands in; upload/download-artifact copy files to and from a folder). Anything else
raises, so a workflow that grows past this fails the test rather than being half-run.

The install step (`pip install` of the pinned okta-aws from the registry) is the only step
not run: the okta-aws on PATH is this checkout's, installed by `make setup`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

INSTALL_STEP = "Install okta-aws"
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_STATUS_FUNCTIONS = {"!cancelled()", "always()", "success()"}


@dataclass(frozen=True)
class Context:
    """What GitHub would hand the job: secrets, variables, the event, the runner's env."""

    secrets: dict[str, str]
    vars: dict[str, str]
    github: dict[str, str]  # dotted paths below `github.`: "token", "event.pull_request.number"
    expressions: dict[str, str]  # whole expressions that are not lookups, with their value
    base_env: dict[str, str]
    artifacts: Path  # artifact name → folder of its files


@dataclass
class Step:
    name: str
    outcome: str  # success | failure | skipped
    log: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class Job:
    steps: list[Step]
    summary: str
    work: Path

    @property
    def failed(self) -> bool:
        return any(step.outcome == "failure" for step in self.steps)

    def step(self, name: str) -> Step:
        (found,) = [s for s in self.steps if s.name == name]
        return found

    def log(self) -> str:
        return "\n".join(f"--- {s.name} ({s.outcome})\n{s.log}" for s in self.steps)


class _Scope:
    def __init__(self, context: Context, steps: dict[str, Step]) -> None:
        self.context = context
        self.steps = steps
        self.env: dict[str, str] = {}

    def value(self, expression: str) -> str:
        context = self.context
        if expression in context.expressions:
            return context.expressions[expression]
        head, _, rest = expression.partition(".")
        if head == "secrets":
            return context.secrets.get(rest, "")
        if head == "vars":
            return context.vars.get(rest, "")
        if head == "github":
            return context.github[rest]
        if head == "env":
            return self.env.get(rest, "")
        if head == "steps":
            step_id, kind, *key = rest.split(".")
            step = self.steps.get(step_id)
            if kind == "outcome":
                return step.outcome if step else ""
            if kind == "outputs" and len(key) == 1:
                return step.outputs.get(key[0], "") if step else ""
        raise AssertionError(f"the runner stand-in cannot evaluate {expression!r}")

    def substitute(self, text: str) -> str:
        return _EXPRESSION.sub(lambda m: self.value(m.group(1)), text)

    def condition(self, raw: str | None, *, failed: bool) -> bool:
        """Whether a step runs: its `if:`, and success() unless a status function says."""
        if raw is None:
            return not failed
        text = raw.strip()
        if text.startswith("${{"):
            text = text.removeprefix("${{").removesuffix("}}").strip()
        verdict = True
        status_checked = False
        for term in (t.strip() for t in text.split("&&")):
            if term in _STATUS_FUNCTIONS:
                status_checked = True
                verdict = verdict and (term != "success()" or not failed)
                continue
            match = re.fullmatch(r"([\w.-]+) (==|!=) '([^']*)'", term)
            assert match, f"the runner stand-in cannot evaluate the condition {term!r}"
            equal = self.value(match.group(1)) == match.group(3)
            verdict = verdict and (equal if match.group(2) == "==" else not equal)
        return verdict and (status_checked or not failed)


def run_job(*, workflow: Path, job: str, context: Context, cwd: Path, work: Path) -> Job:
    """Run `job` of `workflow` in `cwd` (the checkout); step files and logs go to `work`."""
    document: dict[Any, Any] = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    assert document["defaults"]["run"]["shell"] == "bash"
    spec = document["jobs"][job]
    work.mkdir(parents=True, exist_ok=True)
    summary = work / "step-summary"
    summary.touch()
    steps: dict[str, Step] = {}
    done: list[Step] = []
    scope = _Scope(context, steps)
    scope.env = {k: scope.substitute(str(v)) for k, v in document.get("env", {}).items()}
    scope.env.update({k: scope.substitute(str(v)) for k, v in spec.get("env", {}).items()})
    for index, raw in enumerate(spec["steps"]):
        name = raw.get("name") or raw["uses"].split("@")[0]
        failed = any(s.outcome == "failure" for s in done)
        if not scope.condition(raw.get("if"), failed=failed):
            step = Step(name=name, outcome="skipped")
        elif "uses" in raw:
            step = _action(raw, name=name, scope=scope, cwd=cwd)
        elif name == INSTALL_STEP:
            assert raw["run"] == 'python -m pip install "$OKTA_AWS_PACKAGE"', raw["run"]
            step = Step(name=name, outcome="success", log="(not run: okta-aws is on PATH)")
        else:
            step = _run(raw, name=name, scope=scope, cwd=cwd, work=work / f"step-{index}")
        done.append(step)
        if "id" in raw:
            steps[raw["id"]] = step
    return Job(steps=done, summary=summary.read_text(encoding="utf-8"), work=work)


def _run(raw: dict[str, Any], *, name: str, scope: _Scope, cwd: Path, work: Path) -> Step:
    work.mkdir(parents=True)
    script = work / "script.sh"
    script.write_text(raw["run"], encoding="utf-8")
    output = work / "output"
    output.touch()
    env = {
        **scope.context.base_env,
        **scope.env,
        **{k: scope.substitute(str(v)) for k, v in raw.get("env", {}).items()},
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(work.parent / "step-summary"),
        "GITHUB_REPOSITORY": scope.context.github["repository"],
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_RUN_ID": scope.context.github["run_id"],
    }
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        check=False,
    )
    (work / "log.txt").write_text(done.stdout, encoding="utf-8")
    outputs = dict(
        line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines() if line
    )
    return Step(
        name=name,
        outcome="success" if done.returncode == 0 else "failure",
        log=done.stdout,
        outputs=outputs,
    )


def _action(raw: dict[str, Any], *, name: str, scope: _Scope, cwd: Path) -> Step:
    action = raw["uses"].split("@")[0]
    inputs = {k: scope.substitute(str(v)) for k, v in raw.get("with", {}).items()}
    if action in ("actions/checkout", "actions/setup-python"):
        return Step(name=name, outcome="success", log="(the working tree and this Python)")
    if action == "aws-actions/configure-aws-credentials":
        assert inputs["role-to-assume"], "no role to assume"
        return Step(name=name, outcome="success", log="(the sandbox's AWS credentials)")
    if action in ("actions/cache/restore", "actions/cache/save"):
        return _cache(
            action, inputs, name=name, caches=scope.context.artifacts / ".caches", cwd=cwd
        )
    store = scope.context.artifacts / inputs["name"]
    if action == "actions/upload-artifact":
        source = cwd / inputs["path"]
        if not source.exists():
            assert inputs.get("if-no-files-found") == "ignore", f"no {source} to upload"
            return Step(name=name, outcome="success", log="(nothing to upload)")
        store.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, store / source.name)
        return Step(name=name, outcome="success", log=f"uploaded {inputs['path']}")
    if action == "actions/download-artifact":
        assert inputs["run-id"], "no run id to download from"
        for item in store.iterdir():
            shutil.copy2(item, cwd / item.name)
        return Step(name=name, outcome="success", log=f"downloaded {inputs['name']}")
    raise AssertionError(f"the runner stand-in does not know the action {action}")


def _cache(action: str, inputs: dict[str, str], *, name: str, caches: Path, cwd: Path) -> Step:
    """actions/cache's restore and save: kept across the jobs of one test, keyed as
    GitHub keys them (an exact key, else the newest entry whose key has a restore prefix)."""
    path = cwd / inputs["path"]
    if action == "actions/cache/save":
        if not path.exists():
            return Step(name=name, outcome="success", log="(nothing to cache)")
        entry = caches / inputs["key"]
        assert not entry.exists(), f"cache key {inputs['key']} saved twice"
        shutil.copytree(path, entry)
        return Step(name=name, outcome="success", log=f"saved {inputs['key']}")
    prefixes = [inputs["key"], *inputs.get("restore-keys", "").split()]
    entries = sorted(caches.iterdir(), key=lambda e: e.stat().st_mtime) if caches.exists() else []
    for prefix in prefixes:
        found = [e for e in entries if e.name == prefix or e.name.startswith(prefix)]
        if found:
            shutil.copytree(found[-1], path, dirs_exist_ok=True)
            return Step(name=name, outcome="success", log=f"restored {found[-1].name}")
    return Step(name=name, outcome="success", log="(no cache yet)")
