"""`import`'s YAML, golden: what a person reviews before committing it.

The golden folders under `tests/unit/golden/import-<case>/` are the files `import`
writes for a small converged world (every kind), one with untagged roles and a
management group outside the OU (adopted), one with a role defined two ways, and one
given account tags (`--account-tags`) that describe some grants' accounts exactly.
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
from engine.spec import AccountSpec, DesiredState, GrantSpec
from tests.unit.test_adopt import live_of
from tests.unit.worlds import AD, DEV, LDAP, OKTA, PROD, small_state

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


LAB = "333333333333"


def tagged_state() -> DesiredState:
    """small_state with a third account, lab, and tags: {team: payments} is prod and dev,
    {env: dev} is dev and lab. DevOps holds Admin in prod and dev (of the three that have
    it), Finance ReadOnly in dev and lab; Auditors Audit in prod only (one account: by
    alias), DevOps ReadOnly everywhere (`"*"`)."""
    state = small_state(kind=AD)
    tags = {
        PROD: (("env", "prod"), ("team", "payments")),
        DEV: (("env", "dev"), ("team", "payments")),
        LAB: (("cost-center", "4711"), ("env", "dev"), ("team", "research")),
    }
    lab = AccountSpec(id=LAB, alias="lab", roles=("Admin", "ReadOnly"))
    accounts = tuple(dataclasses.replace(a, tags=tags[a.id]) for a in (*state.accounts, lab))
    by_name = {g.name: g for g in state.management_groups}
    groups = (
        dataclasses.replace(
            by_name["DevOps"],
            grants=(
                GrantSpec(role="Admin", account="prod"),
                GrantSpec(role="Admin", account="dev"),
                GrantSpec(role="ReadOnly", account="*"),
            ),
        ),
        by_name["Auditors"],
        dataclasses.replace(
            by_name["Finance"],
            grants=(
                GrantSpec(role="ReadOnly", account="dev"),
                GrantSpec(role="ReadOnly", account="lab"),
            ),
        ),
    )
    return dataclasses.replace(state, accounts=accounts, management_groups=groups)


def account_tags(state: DesiredState) -> ImportOptions:
    return ImportOptions(account_tags={a.id: a.tags for a in state.accounts})


CASES = {
    "ad": lambda: live_of(small_state(kind=AD)),
    "ldap-untagged": lambda: untagged(live_of(small_state(kind=LDAP))),
    "okta": lambda: live_of(small_state(kind=OKTA)),
    "ad-two-definitions": lambda: two_definitions(live_of(small_state(kind=AD))),
    "ad-account-tags": lambda: live_of(tagged_state()),
}
OPTIONS = {"ad-account-tags": lambda: account_tags(tagged_state())}


@pytest.mark.parametrize("case", sorted(CASES))
def test_import_files_match_the_golden_folder(case: str) -> None:
    live = CASES[case]()
    options = OPTIONS.get(case, ImportOptions)()
    adoption = adopt(world=live, discovery=discover(okta=live), options=options)
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
