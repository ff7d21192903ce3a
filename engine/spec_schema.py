"""The JSON Schemas generated from the typed model: never edit the schema files by hand.

`schemas/desired-state.schema.json` (what editors validate YAML with, through the
yaml-language-server modeline, and what `load` checks first) is generated from the
fields of `engine.spec` and their `setting(...)` metadata (`engine.spec_field`): one
home for a setting's default, bounds and description. In `schemas/plan.schema.json`
the Okta app settings' definition is generated from `model.OktaAppSettings` and the
reason codes' from `plan.Reason`; the rest of that file is kept by hand (it describes
the plan document, not a model class).

    python -m engine.spec_schema          # (re)write schemas/ and engine/schemas/
    python -m engine.spec_schema --check  # exit 1 naming each file that is stale

`make schemas` runs the first; tests/unit/test_spec_schema.py runs the second's check.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
from dataclasses import MISSING
from enum import Enum
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from engine.codec import field_types, to_jsonable
from engine.model import OktaAppSettings
from engine.plan import Reason
from engine.spec import DesiredState
from engine.spec_field import (
    COMMON_DEFS,
    NO_VALUE,
    TYPE_KEYWORDS,
    YamlField,
    section_class,
    yaml_field,
)

REPO = Path(__file__).resolve().parents[1]
# The package's copy is what an installed engine reads; the top-level one is for editors.
SCHEMA_DIRS = (REPO / "schemas", REPO / "engine" / "schemas")
DESIRED_STATE = "desired-state.schema.json"
PLAN = "plan.schema.json"

_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}


def desired_state_schema() -> dict[str, Any]:
    """The desired-state schema as data (`expected_files` renders it)."""
    defs: dict[str, Any] = {name: dict(shape) for name, shape in COMMON_DEFS.items()}
    properties = _properties(DesiredState, defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:okta-aws:schema:desired-state:v1",
        "title": "okta-aws desired state (one file)",
        "description": "One YAML file of the okta-aws desired state. Every *.yaml below the "
        "desired-state directory is merged: settings in exactly one file, roles merged by "
        "name, accounts and management_groups concatenated.",
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "$defs": defs,
    }


def _properties(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    hints = field_types(cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        meta = yaml_field(f)
        if meta is not None:
            out[f.name] = _property(f, hints[f.name], meta, defs)
    return out


def _define(cls: type, defs: dict[str, Any]) -> str:
    """Add `cls`'s definition to `defs` (after those it uses); its name."""
    section = cls.SECTION  # type: ignore[attr-defined]
    if section.name not in defs:
        properties = _properties(cls, defs)
        required = [f.name for f in dataclasses.fields(cls) if (m := yaml_field(f)) and m.required]
        shape: dict[str, Any] = {"type": "object", "additionalProperties": False}
        if required:
            shape["required"] = required
        shape |= {"description": section.doc, "properties": properties, **section.rules}
        defs[section.name] = shape
    name: str = section.name
    return name


def _property(
    f: dataclasses.Field[Any], tp: Any, meta: YamlField, defs: dict[str, Any]
) -> dict[str, Any]:
    nested = section_class(tp)
    ref = f"#/$defs/{_define(nested, defs)}" if nested is not None else None
    # A section's default is its own fields' defaults; a list of sections defaults to [].
    shows_default = ref is None or get_origin(tp) is tuple
    out: dict[str, Any] = {}
    if not TYPE_KEYWORDS & meta.schema.keys():
        out |= _derived_type(f.name, tp, ref=ref, nullable=meta.nullable)
    out |= meta.schema
    default = _default(f, meta)
    if default is not NO_VALUE and shows_default:
        out["default"] = default
    out["description"] = meta.doc
    return out


def _derived_type(name: str, tp: Any, *, ref: str | None, nullable: bool) -> dict[str, Any]:
    if get_origin(tp) in (Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        if len(options) == 1:
            tp = options[0]
    if ref is not None:
        if get_origin(tp) is tuple:
            return {"type": "array", "items": {"$ref": ref}}
        return {"$ref": ref}
    if isinstance(tp, type) and issubclass(tp, Enum):
        return {"enum": [m.value for m in tp]}
    if tp in _SCALARS:
        kind = _SCALARS[tp]
        return {"type": [kind, "null"] if nullable else kind}
    raise TypeError(f"spec field {name!r}: give its schema type (type=, ref=) in setting()")


def _default(f: dataclasses.Field[Any], meta: YamlField) -> Any:
    """The default the schema shows, or NO_VALUE."""
    if meta.required or not meta.show_default:
        return NO_VALUE
    if meta.yaml_default is not NO_VALUE:
        return meta.yaml_default
    if f.default is not MISSING:
        value = to_jsonable(f.default)
    elif f.default_factory is not MISSING:
        value = to_jsonable(f.default_factory())
    else:
        return NO_VALUE
    return NO_VALUE if value is None and not meta.nullable else value


# --- The plan schema's model-derived part -------------------------------------------------


def okta_app_settings_schema() -> dict[str, Any]:
    """`$defs.OktaAppSettings` of the plan schema: a saved plan holds the settings as
    the codec writes them (every field, by its Python name)."""
    hints = field_types(OktaAppSettings)
    fields = dataclasses.fields(OktaAppSettings)
    doc = (OktaAppSettings.__doc__ or "").strip().splitlines()[0]
    return {
        "description": doc.replace("`", ""),
        "type": "object",
        "additionalProperties": False,
        "required": [f.name for f in fields],
        "properties": {
            f.name: _derived_type(f.name, hints[f.name], ref=None, nullable=False) for f in fields
        },
    }


def plan_schema(current: dict[str, Any]) -> dict[str, Any]:
    """The plan schema `current` with its model-derived definitions regenerated."""
    defs = dict(current["$defs"])
    defs["OktaAppSettings"] = okta_app_settings_schema()
    defs["reasonCode"] = {
        "description": "why a change is planned (engine.plan.Reason; like Terraform's "
        "action_reason)",
        "enum": [r.value for r in Reason],
    }
    return {**current, "$defs": defs}


# --- Files ---------------------------------------------------------------------------------


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def expected_files() -> dict[str, str]:
    """Each generated schema file's name and its text."""
    current_plan = json.loads((SCHEMA_DIRS[0] / PLAN).read_text(encoding="utf-8"))
    return {
        DESIRED_STATE: render(desired_state_schema()),
        PLAN: render(plan_schema(current_plan)),
    }


def stale_files() -> list[Path]:
    """The committed schema files that differ from what the model generates."""
    stale = []
    for name, text in expected_files().items():
        for directory in SCHEMA_DIRS:
            path = directory / name
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path)
    return stale


def write_files() -> list[Path]:
    """Write every stale schema file; the paths written."""
    written = []
    for name, text in expected_files().items():
        for directory in SCHEMA_DIRS:
            path = directory / name
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
                written.append(path)
    return written


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        stale = stale_files()
        for path in stale:
            print(f"{path.relative_to(REPO)}: stale; run `make schemas`", file=sys.stderr)
        return 1 if stale else 0
    if argv:
        print("usage: python -m engine.spec_schema [--check]", file=sys.stderr)
        return 1
    if not (REPO / "pyproject.toml").is_file():
        print(f"{REPO}: not a source checkout of okta-aws; run this in one", file=sys.stderr)
        return 1
    for path in write_files():
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
