"""`okta-aws init DIR --ci github|gitlab`: a new desired-state repository, ready for CI.

Users keep their desired state in a repository of their own and run okta-aws on CI
runners (a plan per pull request, apply on merge, a scheduled reconcile). This writes that
repository's first commit: a commented settings file and example roles, accounts and
groups that pass `validate`, the CI wiring for GitHub Actions or GitLab CI, a README for
the people who ask for access through pull requests, and a CODEOWNERS example.

The files are package data (`engine/templates/`, read with importlib.resources), so an
installed okta-aws writes them anywhere. It never overwrites: when any file it would write
exists, it lists them all and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from importlib import metadata, resources
from pathlib import Path
from typing import TextIO

from engine.exit_codes import ExitCode

# Where the pinned install in the CI files goes: `pip install "<this>"`.
PACKAGE_PLACEHOLDER = "@OKTA_AWS_PACKAGE@"
DISTRIBUTION = "okta-aws"


class Ci(StrEnum):
    GITHUB = "github"
    GITLAB = "gitlab"


@dataclass(frozen=True)
class Scaffold:
    """One file `init` writes: its path in the new repository and its template."""

    path: str
    template: str


_COMMON = (
    Scaffold("desired-state/settings.yaml", "desired-state/settings.yaml"),
    Scaffold("desired-state/roles.yaml", "desired-state/roles.yaml"),
    Scaffold("desired-state/accounts.yaml", "desired-state/accounts.yaml"),
    Scaffold("desired-state/groups/teams.yaml", "desired-state/groups/teams.yaml"),
    Scaffold("README.md", "README.md"),
    # Dot-files are stored without the dot: package-data globs skip hidden files.
    Scaffold(".gitignore", "gitignore"),
)
_CI = {
    Ci.GITHUB: (
        Scaffold(".github/workflows/okta-aws-plan.yml", "github/okta-aws-plan.yml"),
        Scaffold(".github/workflows/okta-aws-apply.yml", "github/okta-aws-apply.yml"),
        Scaffold(".github/workflows/okta-aws-reconcile.yml", "github/okta-aws-reconcile.yml"),
        Scaffold(".github/CODEOWNERS", "github/CODEOWNERS"),
    ),
    Ci.GITLAB: (
        Scaffold(".gitlab-ci.yml", "gitlab/gitlab-ci.yml"),
        Scaffold(".gitlab/CODEOWNERS", "gitlab/CODEOWNERS"),
    ),
}


def pinned_requirement() -> str:
    """The requirement the CI files install: this very version of okta-aws."""
    try:
        return f"{DISTRIBUTION}=={metadata.version(DISTRIBUTION)}"
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return DISTRIBUTION


def scaffold_files(*, ci: Ci) -> dict[str, str]:
    """Every file `init` writes for `ci`: path in the new repository → text."""
    templates = resources.files("engine").joinpath("templates")
    requirement = pinned_requirement()
    return {
        item.path: templates.joinpath(*item.template.split("/"))
        .read_text(encoding="utf-8")
        .replace(PACKAGE_PLACEHOLDER, requirement)
        for item in (*_COMMON, *_CI[ci])
    }


def init(*, directory: Path, ci: Ci, out: TextIO, err: TextIO) -> int:
    """Write the scaffold into `directory` (made if missing); nothing if any file exists."""
    if directory.exists() and not directory.is_dir():
        print(f"okta-aws init: {directory} is a file, not a folder", file=err)
        return ExitCode.ERROR
    files = scaffold_files(ci=ci)
    # A dangling symlink is a file too: writing through it would land somewhere else.
    existing = [p for p in files if (directory / p).exists() or (directory / p).is_symlink()]
    if existing:
        print(
            f"okta-aws init: {directory} already has {len(existing)} of the files init "
            "writes; nothing written (move them away or pick another folder):",
            file=err,
        )
        for path in existing:
            print(f"  {directory / path}", file=err)
        return ExitCode.ERROR
    try:
        for path, text in files.items():
            target = directory / path
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("x", encoding="utf-8") as handle:  # never overwrite, even racing
                handle.write(text)
    except OSError as exc:
        print(f"okta-aws init: cannot write into {directory} ({exc.strerror or exc})", file=err)
        return ExitCode.ERROR
    print(f"okta-aws init: wrote {len(files)} files into {directory} ({ci.value} CI):", file=out)
    for path in files:
        print(f"  {path}", file=out)
    print(
        "Next: replace the example accounts and groups, run `okta-aws validate`, and set the "
        f"CI variables and secrets listed in {directory / 'README.md'} (For maintainers).",
        file=out,
    )
    return ExitCode.OK
