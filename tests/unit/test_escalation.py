"""The reported escalations, through the command line: refused before anything is read.

A pull request adopting the `prod-payments` PowerUser role group as a management group
(`dn:` naming it, `members: [zoe]`) used to validate, and after apply and an import zoe
held PowerUser directly. Now `validate` and `plan` refuse it at the file and line of the
`dn`, and so does a group filter that backtracks exponentially.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parents[2]
DESIRED = ROOT / "desired-state"
EMPTY_WORLD = ROOT / "tests" / "data" / "worlds" / "empty-world.json"

ESCALATION = """\
management_groups:
  - name: Payments Helpers
    dn: "CN=aws#prod-payments#PowerUser#314159265358,OU=AWS Role Groups,DC=example,DC=test"
    members: [zoe]
"""


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # file names in messages are relative to the cwd
    target = tmp_path / "desired-state"
    shutil.copytree(DESIRED, target)
    return target


def test_a_role_group_adopted_as_a_management_group_is_refused(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (copy / "groups" / "escalation.yaml").write_text(ESCALATION, encoding="utf-8")

    code, _, err = run(capsys, "validate", "-d", str(copy))
    assert code == 1
    at_dn = [line for line in err.splitlines() if "groups/escalation.yaml:3: " in line]
    assert any("lies in directory.role_groups_ou" in line for line in at_dn), err
    assert any("matches the group filter" in line for line in at_dn), err

    code, out, err = run(
        capsys, "plan", "-d", str(copy), "--live-snapshot", str(EMPTY_WORLD), "--format", "json"
    )
    assert code == 1
    assert out == ""  # no plan: nothing was read, nothing could be applied
    assert "groups/escalation.yaml:3: " in err


def test_a_backtracking_group_filter_is_refused_at_its_line(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = copy / "settings.yaml"
    text = settings.read_text(encoding="utf-8")
    assert "group_filter: null" in text
    nested = r"group_filter: '(?{{role}}(\w+)+)#(?{{accountid}}\d{12})$'"
    settings.write_text(text.replace("group_filter: null", nested, 1), encoding="utf-8")
    line = 1 + next(i for i, t in enumerate(settings.read_text().splitlines()) if "(\\w+)+" in t)

    code, _, err = run(capsys, "validate", "-d", str(copy))

    assert code == 1
    assert f"settings.yaml:{line}: okta.group_filter" in err
    assert "nested quantifier" in err
