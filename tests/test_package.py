"""The built wheel works once installed, away from this repository.

Users install okta-aws on CI runners with pip, not from a checkout: this builds the
wheel, checks what it holds (the schemas and `init` templates as package data, the
sandbox's heavy dependencies only behind the `[sandbox]` extra, an SPDX license), installs
it into a fresh venv that sees nothing of this repository or of `.venv` (so the wheel's
declared dependencies must be enough) and runs `init`, `validate` and
`plan --live-snapshot` from a folder outside the source tree, as a new user would. A
sandbox command there says in one line what to install.

Cost: about a minute (pip resolves the dependencies through its cache).
"""

from __future__ import annotations

import dataclasses
import email
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.sandbox.extra import INSTALL_HINT
from engine.snapshot import load_snapshot, write_snapshot

REPO = Path(__file__).resolve().parents[1]
EMPTY_WORLD = REPO / "tests" / "data" / "worlds" / "empty-world.json"
# The init example's accounts (engine/templates/desired-state/accounts.yaml).
INIT_ACCOUNTS = frozenset({"111111111111", "222222222222"})
SANDBOX_ONLY = ("moto", "flask", "werkzeug")  # distributions only the sandbox needs


def _run(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args} → {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The wheel built from a copy of the sources (the tree itself stays clean), and the
    build's output."""
    root = tmp_path_factory.mktemp("build")
    source = root / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(
        REPO / "engine", source / "engine", ignore=shutil.ignore_patterns("__pycache__")
    )
    dist = root / "dist"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    output = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--verbose",
            "--no-deps",
            "--no-build-isolation",  # .venv has setuptools>=77 (dev extra): offline, fast
            "--wheel-dir",
            str(dist),
            str(source),
        ],
        cwd=root,
        env=env,
    )
    (built,) = dist.glob("okta_aws-*.whl")
    yield built, output


def test_the_build_has_no_deprecation_warning(wheel: tuple[Path, str]) -> None:
    """`project.license` as a table is deprecated since setuptools 77: an SPDX string."""
    _, output = wheel
    assert "bdist_wheel" in output, "the backend's own output is not captured"
    # setuptools says `BuildBackendWarning: `project.license` as a TOML table is deprecated`
    # (SetuptoolsDeprecationWarning in older releases): no deprecation of any kind.
    deprecations = [line for line in output.splitlines() if "deprecat" in line.lower()]
    assert not deprecations, deprecations


def test_the_wheel_holds_every_runtime_file(wheel: tuple[Path, str]) -> None:
    built, _ = wheel
    names = set(zipfile.ZipFile(built).namelist())
    packaged = REPO / "engine"
    runtime_files = [
        path.relative_to(REPO).as_posix()
        for folder in ("schemas", "templates")
        for path in (packaged / folder).rglob("*")
        if path.is_file()
    ]
    assert len(runtime_files) >= 10
    missing = [f for f in [*runtime_files, "engine/py.typed"] if f not in names]
    assert not missing, f"not in the wheel: {missing}"
    sources = {p.relative_to(REPO).as_posix() for p in packaged.rglob("*.py")}
    assert not sources - names, f"modules not in the wheel: {sorted(sources - names)}"
    # Only the package: no tests, no example desired state, no top-level schemas/ copy.
    stray = sorted(n for n in names if not n.startswith(("engine/", "okta_aws-")))
    assert not stray, stray


def test_the_wheel_metadata_keeps_the_sandbox_behind_its_extra(wheel: tuple[Path, str]) -> None:
    built, _ = wheel
    archive = zipfile.ZipFile(built)
    (meta_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    meta = email.message_from_string(archive.read(meta_name).decode())
    assert meta["License-Expression"] == "Apache-2.0"
    assert "sandbox" in meta.get_all("Provides-Extra", [])
    requires = meta.get_all("Requires-Dist", [])
    for name in SANDBOX_ONLY[:1]:
        lines = [r for r in requires if r.lower().startswith(name)]
        assert lines and all('extra == "sandbox"' in r for r in lines), lines


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, wheel: tuple[Path, str]) -> Path:
    """A fresh venv (no system or .venv site-packages) with only the wheel installed: its
    bin folder."""
    built, _ = wheel
    home = tmp_path_factory.mktemp("venv") / "v"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(home)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    _run(
        [str(home / "bin" / "python"), "-m", "pip", "install", "--quiet", str(built)],
        cwd=home,
        env=env,
        timeout=900,
    )
    return home / "bin"


def _user_env(bin_dir: Path, home: Path) -> dict[str, str]:
    """A user's shell: the venv first on PATH, nothing of this repository importable."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith(("AWS_", "OKTA_", "LDAP_"))
    }
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["OKTA_AWS_SANDBOX"] = str(home / ".sandbox")
    env["NO_COLOR"] = "1"
    return env


def test_a_production_install_pulls_no_sandbox_dependency(installed: Path) -> None:
    frozen = _run(
        [str(installed / "python"), "-m", "pip", "list", "--format=freeze"],
        cwd=installed,
        env=_user_env(installed, installed),
    )
    names = {line.split("==")[0].lower() for line in frozen.splitlines() if "==" in line}
    assert "okta-aws" in names
    assert not names & set(SANDBOX_ONLY), sorted(names & set(SANDBOX_ONLY))


def test_init_validate_and_plan_from_a_snapshot_outside_the_tree(
    installed: Path, tmp_path: Path
) -> None:
    env = _user_env(installed, tmp_path)
    okta_aws = str(installed / "okta-aws")
    # The console script is the venv's own, and it imports the installed package.
    where = _run(
        [str(installed / "python"), "-c", "import engine; print(engine.__file__)"],
        cwd=tmp_path,
        env=env,
    )
    assert str(installed.parent) in where and str(REPO) not in where, where

    init = _run([okta_aws, "init", "access-repo"], cwd=tmp_path, env=env)
    assert "wrote" in init
    repo = tmp_path / "access-repo"
    assert (repo / ".github" / "workflows" / "okta-aws-plan.yml").is_file()

    validate = _run([okta_aws, "validate"], cwd=repo, env=env)
    assert "desired-state: valid (2 accounts, 2 roles, 2 management groups" in validate

    # A snapshot of an empty world holding the example's accounts: everything is to add.
    world = load_snapshot(path=EMPTY_WORLD).world
    snapshot = repo / "live.json"
    write_snapshot(
        world=dataclasses.replace(world, accounts=INIT_ACCOUNTS), path=snapshot, target="live"
    )
    done = subprocess.run(
        [okta_aws, "plan", "--live-snapshot", "live.json"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert "+ role Admin" in done.stdout, done.stdout
    assert "+ user alice → Platform Admins" in done.stdout
    assert "Target: live (snapshot live.json)" in done.stdout
    # The empty world has no Okta app: the plan says so and is blocked (exit 1).
    assert "AWS Account Federation app was not found" in done.stdout
    assert done.returncode == 1


@pytest.mark.parametrize(
    "args",
    [("sandbox", "show"), ("plan", "--target", "sandbox")],
    ids=["sandbox-command", "sandbox-target"],
)
def test_a_sandbox_command_without_the_extra_says_what_to_install(
    installed: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    env = _user_env(installed, tmp_path)
    _run([str(installed / "okta-aws"), "init", "repo"], cwd=tmp_path, env=env)
    done = subprocess.run(
        [str(installed / "okta-aws"), *args],
        cwd=tmp_path / "repo",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert INSTALL_HINT in lines[0]
    assert "moto" in lines[0]
