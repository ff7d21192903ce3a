"""The saved-plan schema is generated from the dataclasses and the writer it describes.

The whole of `schemas/plan.schema.json` must be what `engine.plan_schema` derives (no
part copied from the committed file), every field of every model and plan class must
be a property with the JSON type its hint says, a key the writer adds must be described
or the generation fails, and plans as the engine writes them must validate while plans
missing or adding a field must not. (tests/unit/test_spec_schema.py checks the committed
files byte for byte; test_render, test_saved_plan and test_snapshot validate the plans
and snapshots the engine writes against them.)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from engine import model, plan_schema, spec_schema
from engine.codec import field_types
from engine.model import OMIT_WHEN_EMPTY, GroupRole, OktaAppSettings, OktaGroupType, Role, System
from engine.plan import (
    AccessChange,
    Action,
    AttributeChange,
    Change,
    Finding,
    FindingKind,
    Plan,
    Reason,
    ResourceKind,
)
from engine.render import render_json
from engine.saved_plan import plan_to_json
from tests.unit.worlds import PROD, converged_live, desired_world, edit_role, plan_for

REPO = Path(__file__).resolve().parents[2]


@cache
def _generated() -> dict[str, Any]:
    return plan_schema.plan_schema()


@pytest.mark.parametrize("directory", spec_schema.SCHEMA_DIRS, ids=lambda d: d.parent.name)
def test_the_whole_committed_plan_schema_is_the_generated_one(directory: Path) -> None:
    committed = json.loads((directory / spec_schema.PLAN).read_text(encoding="utf-8"))
    assert committed == _generated(), "plan.schema.json is stale: run `make schemas`"


def test_generation_reads_no_committed_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It once regenerated two definitions and copied the rest from the committed file.
    monkeypatch.setattr(spec_schema, "SCHEMA_DIRS", (tmp_path / "a", tmp_path / "b"))
    expected = spec_schema.expected_files()[spec_schema.PLAN]
    assert expected == (REPO / "schemas" / spec_schema.PLAN).read_text(encoding="utf-8")


NAMED_CLASSES = [c for c in plan_schema.DEF_NAMES if dataclasses.is_dataclass(c)]


@pytest.mark.parametrize("cls", NAMED_CLASSES, ids=lambda c: c.__name__)
def test_every_field_is_a_property_and_required_unless_it_may_be_absent(cls: type) -> None:
    shape = _generated()["$defs"][plan_schema.DEF_NAMES[cls]]
    names = [f.name for f in dataclasses.fields(cls)]
    renamed = {v: k.split(".")[1] for k, v in plan_schema.RENAMED.items()}
    assert {renamed.get(n, n) for n in names} <= set(shape["properties"])
    optional = {
        f.name
        for f in dataclasses.fields(cls)
        if f"{cls.__name__}.{f.name}" in plan_schema.MAY_BE_ABSENT
        or f.metadata.get(OMIT_WHEN_EMPTY)
    }
    assert set(shape["required"]) == set(shape["properties"]) - optional
    assert shape["additionalProperties"] is False


def test_okta_app_settings_list_every_model_field() -> None:
    generated = _generated()["$defs"]["OktaAppSettings"]
    names = [f.name for f in dataclasses.fields(OktaAppSettings)]
    assert generated["required"] == names
    assert list(generated["properties"]) == names
    assert (
        generated["description"] == "The fields of the AWS app's settings.app that the engine owns."
    )


def _at(schema: Mapping[str, Any], *path: str) -> Any:
    for step in path:
        schema = schema[step]
    return schema


@pytest.mark.parametrize(
    ("path", "enum"),
    [
        (("$defs", "system"), System),
        (("$defs", "reasonCode"), Reason),
        (("$defs", "change", "properties", "kind"), ResourceKind),
        (("$defs", "change", "properties", "action"), Action),
        (("$defs", "finding", "properties", "kind"), FindingKind),
        (("$defs", "DirectoryGroup", "properties", "role"), GroupRole),
        (("$defs", "OktaGroup", "properties", "type"), OktaGroupType),
    ],
)
def test_enums_are_their_values_in_order(path: tuple[str, ...], enum: type[Enum]) -> None:
    assert _at(_generated(), *path)["enum"] == [m.value for m in enum]


def test_the_plan_document_keys_are_what_the_writer_writes() -> None:
    written = plan_to_json(Plan())
    properties = _generated()["properties"]
    assert list(properties) == list(written)
    assert list(properties["summary"]["properties"]) == list(written["summary"])
    assert properties["format_version"]["const"] == written["format_version"]
    assert "access_unknown" not in _generated()["required"]  # older plans lack it


@pytest.mark.parametrize(
    ("hint", "schema"),
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (bool, {"type": "boolean"}),
        (str | None, {"type": ["string", "null"]}),
        (frozenset[str], {"type": "array", "items": {"type": "string"}, "uniqueItems": True}),
        (tuple[str, ...], {"type": "array", "items": {"type": "string"}}),
        (Mapping[str, str], {"type": "object", "additionalProperties": {"type": "string"}}),
        (
            frozenset[str] | None,
            {
                "oneOf": [
                    {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                    {"type": "null"},
                ]
            },
        ),
        (GroupRole, {"enum": ["role", "management"]}),
        (System, {"$ref": "#/$defs/system"}),
        (
            frozenset[System],
            {"type": "array", "items": {"$ref": "#/$defs/system"}, "uniqueItems": True},
        ),
        (Role, {"$ref": "#/$defs/Role"}),
        (model.OktaApp | None, {"oneOf": [{"$ref": "#/$defs/OktaApp"}, {"type": "null"}]}),
        (Any, {}),
    ],
)
def test_json_type_of_a_hint(hint: Any, schema: dict[str, Any]) -> None:
    assert plan_schema.json_type(hint, where="x") == schema


def test_the_resource_union_is_the_tagged_resource_definition() -> None:
    assert plan_schema.json_type(field_types(Change)["before"], where="x") == {
        "oneOf": [{"$ref": "#/$defs/resource"}, {"type": "null"}]
    }
    tags = [o["properties"]["type"]["const"] for o in _generated()["$defs"]["resource"]["oneOf"]]
    assert tags == [
        "SamlProvider",
        "Role",
        "DirectoryGroup",
        "GroupMember",
        "UserMember",
        "OktaApp",
        "OktaGroup",
        "AppAssignment",
    ]


# --- a field added to a class reaches the schema; what cannot be derived must be said ----


@dataclasses.dataclass(frozen=True)
class _Grown:
    """A record that grew. Its second sentence is not the description."""

    name: str
    tags: frozenset[str] = frozenset()
    note: str | None = None
    later: tuple[str, ...] = dataclasses.field(default=(), metadata={OMIT_WHEN_EMPTY: True})


def test_a_new_field_becomes_a_typed_property() -> None:
    assert plan_schema.object_schema(_Grown) == {
        "description": "A record that grew.",
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "tags", "note"],  # `later` is left out while empty
        "properties": {
            "name": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "note": {"type": ["string", "null"]},
            "later": {"type": "array", "items": {"type": "string"}},
        },
    }


def test_a_field_of_no_derivable_type_is_named() -> None:
    @dataclasses.dataclass(frozen=True)
    class Odd:
        pairs: tuple[tuple[str, str], ...] = ()

    with pytest.raises(TypeError, match=r"^Odd\.pairs: no schema"):
        plan_schema.object_schema(Odd)


def test_a_written_key_that_is_no_field_and_not_described_fails() -> None:
    with pytest.raises(TypeError, match=r"_Grown\.extra: written, but neither a field"):
        plan_schema.object_schema(_Grown, keys=["name", "tags", "note", "later", "extra"])


def test_a_field_the_writer_leaves_out_fails() -> None:
    with pytest.raises(TypeError, match=r"_Grown: field\(s\) tags, later not written"):
        plan_schema.object_schema(_Grown, keys=["name", "note"])


@pytest.mark.parametrize("table", ["DOCS", "CONSTRAINTS"])
def test_a_table_entry_naming_no_field_fails(table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    entries = {**getattr(plan_schema, table), "Role.renamed_away": {"minimum": 0}}
    monkeypatch.setattr(plan_schema, table, entries)
    with pytest.raises(TypeError, match=r"'Role\.renamed_away' names no written key or field"):
        plan_schema.plan_schema()


@pytest.mark.parametrize(
    ("cls", "doc"),
    [
        (model.OktaGroup, "A group as Okta sees it."),  # the first sentence, not line
        (
            AttributeChange,
            "One attribute that differs, e.g. trust_policy.Statement[0].Condition a → b.",
        ),
        (Finding, None),  # no docstring: dataclasses' signature is no description
        (Change, "One idempotent step, in execution order."),  # the table wins
        (AccessChange, "A user gains or loses a role in an account (what reviewers read first)."),
    ],
)
def test_class_description(cls: type, doc: str | None) -> None:
    assert plan_schema.class_doc(cls) == doc


# --- the schema accepts what the engine writes and refuses what it would not ------------


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = _generated()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize(
    "path", sorted((REPO / "tests" / "unit" / "golden").glob("plan-*.json")), ids=lambda p: p.name
)
def test_the_golden_json_plans_validate(path: Path) -> None:
    _validator().validate(json.loads(path.read_text(encoding="utf-8")))


def _role_edit_json() -> dict[str, Any]:
    desired = desired_world(kind=model.DirectoryKind.ACTIVE_DIRECTORY)
    live = converged_live(desired)
    [role] = [r for r in live.roles.values() if r.account_id == PROD and r.name == "Admin"]
    inline = dataclasses.replace(role, inline_policies=frozenset({"extra"}))
    live = dataclasses.replace(live, roles={**live.roles, role.key: inline})
    edited = edit_role(desired, PROD, "Admin", managed_policies=frozenset({"arn:x"}))
    data: dict[str, Any] = json.loads(render_json(plan_for(desired=edited, live=live)))
    return data


def test_a_plan_with_every_optional_part_validates() -> None:
    data = _role_edit_json()
    [change] = [c for c in data["changes"] if c["kind"] == "role"]
    assert change["before"]["value"]["inline_policies"] == ["extra"]
    assert "inline_policies" not in change["after"]["value"]  # left out while empty
    _validator().validate(data)


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: r.pop("adopt"),  # a field missing
        lambda r: r.update(bogus=1),  # a key no field holds
        lambda r: r.update(max_session_duration="3600"),  # the wrong type
        lambda r: r.update(account_id="123"),  # not an account id
        lambda r: r.update(managed_policies=["a", "a"]),  # a set holds each once
    ],
)
def test_a_resource_the_engine_would_not_write_is_invalid(damage: Any) -> None:
    data = _role_edit_json()
    [change] = [c for c in data["changes"] if c["kind"] == "role"]
    damage(change["after"]["value"])
    assert not _validator().is_valid(data)
