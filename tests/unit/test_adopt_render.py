"""`import`'s YAML, golden: what a person reviews before committing it.

The golden folders under `tests/unit/golden/import-<case>/` are the files `import`
writes for a small converged world (every kind), one with untagged roles and a
management group outside the OU (adopted), and one with a role defined two ways.
After an intended change of the output, regenerate and review the diff:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_adopt_render.py
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import yaml

from engine.adopt import adopt
from engine.adopt_discover import discover
from engine.adopt_model import ImportOptions
from engine.adopt_render import render_files, scalar
from engine.model import World
from tests.unit.test_adopt import live_of
from tests.unit.worlds import AD, LDAP, OKTA, PROD, small_state

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
SCHEMA = "../schemas/desired-state.schema.json"


def untagged(live: World) -> World:
    roles = {k: dataclasses.replace(r, managed=k[0] != PROD) for k, r in live.roles.items()}
    return dataclasses.replace(live, roles=roles)


def two_definitions(live: World) -> World:
    key = next(k for k in sorted(live.roles) if k[0] == PROD)
    role = dataclasses.replace(live.roles[key], max_session_duration=43200)
    return dataclasses.replace(live, roles={**live.roles, key: role})


CASES = {
    "ad": lambda: live_of(small_state(kind=AD)),
    "ldap-untagged": lambda: untagged(live_of(small_state(kind=LDAP))),
    "okta": lambda: live_of(small_state(kind=OKTA)),
    "ad-two-definitions": lambda: two_definitions(live_of(small_state(kind=AD))),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_import_files_match_the_golden_folder(case: str) -> None:
    live = CASES[case]()
    adoption = adopt(world=live, discovery=discover(okta=live), options=ImportOptions())
    files = render_files(adoption=adoption, schema_ref=SCHEMA)
    folder = GOLDEN / f"import-{case}"
    if UPDATE:
        for name, text in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text, encoding="utf-8")
    on_disk = {
        str(p.relative_to(folder)): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
    assert files == on_disk


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("Admin", "Admin"),
        ("", '""'),
        ("yes", '"yes"'),
        ("null", '"null"'),
        ("123", '"123"'),
        ("a: b", '"a: b"'),
        ("a #b", '"a #b"'),
        ("OU=x,DC=y", '"OU=x,DC=y"'),
        ("{role}", '"{role}"'),
        ("tab\there", '"tab\\there"'),
        ("trailing ", '"trailing "'),
        ("Zoë", '"Zoë"'),
    ],
)
def test_scalars_read_back_as_written(value: str, written: str) -> None:
    assert scalar(value) == written
    assert yaml.safe_load(f"k: {written}")["k"] == value
