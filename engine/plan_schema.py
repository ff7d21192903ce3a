"""The saved-plan JSON Schema, generated from the dataclasses and the writer it describes.

`schemas/plan.schema.json` documents what `saved_plan.plan_to_json` writes (and
`snapshot.schema.json` borrows its resource definitions). Kept by hand, it drifted from
`engine.model` and `engine.plan` whenever a field was added; here all of it is derived:

- which keys an object has, in what order, is what the writer writes: every field for
  what the codec writes (the model's resources, the options, the names), and for the
  plan document, a change, a finding and an access change, the keys `plan_to_json` gives
  a sample plan. A written key that is no field and not in `DERIVED`, or a field that is
  not written, fails the generation: the writer cannot drift from the schema unseen;
- a field's JSON type comes from its type hint (`json_type`): `str`/`int`/`bool`, `str`
  enums as their values (a `$ref` when named in `DEF_NAMES`), frozensets as unique
  arrays, tuples as arrays, mappings as objects, `X | None` as nullable, dataclasses as
  `$ref`s or inline objects, `plan.Resource` as the tagged `resource` union; a field the
  codec leaves out while empty (`model.OMIT_WHEN_EMPTY`) is not required;
- a definition's description is the first sentence of its class's docstring, or
  `CLASS_DOCS` where it has none; the summary is typed from the values the writer gives.

What a type cannot say is in tables by `Class.field`: descriptions (`DOCS`), bounds and
shared string formats (`CONSTRAINTS`), keys older plans may lack (`MAY_BE_ABSENT`), and
the keys the writer derives (`DERIVED`: a change's `id`, `system`, `reason` in words and
`reason_args` written as an object, a finding's `blocking`; `RENAMED`: `reason_code`). A
table entry naming no written key or field fails the generation. Written by hand, as no
class holds them: the document's title and description and the string formats `sha256`
and `accountId` (patterns).

`spec_schema` writes the file (`make schemas`); tests/unit/test_spec_schema.py and
tests/unit/test_plan_schema.py prove the committed copies are what this generates.
"""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Mapping
from enum import Enum
from typing import Any, Union, get_args, get_origin

from engine import model
from engine.codec import field_types
from engine.model import OMIT_WHEN_EMPTY
from engine.plan import (
    PLAN_FORMAT_VERSION,
    AccessChange,
    Action,
    AttributeChange,
    Change,
    DisplayNames,
    Finding,
    FindingKind,
    Plan,
    PlanOptions,
    Reason,
    Resource,
    ResourceKind,
)
from engine.saved_plan import PLAN_KIND, plan_to_json

__all__ = ["DEF_NAMES", "class_doc", "json_type", "object_schema", "plan_schema"]

DEFS = "#/$defs/"
ACCOUNT_ID = {"$ref": DEFS + "accountId"}
SHA256 = {"$ref": DEFS + "sha256"}
SET_SORTED = "a set, written sorted"

# The classes and enums written once under `$defs` (by these names: snapshot.schema.json
# refers to several); any other dataclass or enum is written inline where it is used.
DEF_NAMES: dict[type, str] = {
    model.SamlProvider: "SamlProvider",
    model.Role: "Role",
    model.DirectoryUser: "DirectoryUser",
    model.DirectoryGroup: "DirectoryGroup",
    model.GroupMember: "GroupMember",
    model.UserMember: "UserMember",
    model.OktaAppSettings: "OktaAppSettings",
    model.OktaApp: "OktaApp",
    model.OktaGroup: "OktaGroup",
    model.AppAssignment: "AppAssignment",
    model.System: "system",
    Change: "change",
    Reason: "reasonCode",
    Finding: "finding",
    AccessChange: "accessChange",
}

# A definition's description where the class's docstring has none (dataclasses without
# one) or its first sentence is not what a reader of the JSON needs.
CLASS_DOCS: dict[type, str] = {
    model.SamlProvider: "An IAM SAML identity provider in one account.",
    model.Role: "An IAM role in one account, assumable through the SAML provider.",
    model.DirectoryUser: "A directory user.",
    model.DirectoryGroup: "A role group or management group of the directory.",
    model.GroupMember: "A management group nested in (Member Of) a role group.",
    model.UserMember: "A user in a management group (or, with directory kind okta, an Okta group).",
    model.OktaApp: "The Okta AWS Account Federation app.",
    Change: "One idempotent step, in execution order.",
    Reason: "why a change is planned (engine.plan.Reason; like Terraform's action_reason)",
}
_FIRST_SENTENCE = re.compile(r"^(.*?\.)(?=\s+[A-Z]|\s*$)", re.DOTALL)


def class_doc(cls: type) -> str | None:
    """`CLASS_DOCS`, or else the first sentence of the class's own docstring."""
    if cls in CLASS_DOCS:
        return CLASS_DOCS[cls]
    doc = cls.__doc__ or ""
    if dataclasses.is_dataclass(cls) and doc.startswith(cls.__name__ + "("):
        return None  # the signature dataclasses write for a class without a docstring
    found = _FIRST_SENTENCE.match(doc.strip())
    return " ".join(found.group(1).replace("`", "").split()) if found else None


# A written key's description, by `Class.key` (a field, or a key in `DERIVED`).
DOCS: dict[str, str] = {
    "Plan.format_version": "engine.plan.PLAN_FORMAT_VERSION",
    "Plan.target": "sandbox | live",
    "Plan.live_fingerprint": "sha256 of the canonical JSON of the live world the plan was "
    "made from",
    "Plan.desired_digest": "sha256 of the desired-state files",
    "Plan.options": "PlanOptions: what the plan was made with; `apply --plan` takes systems "
    "from here unless its command line says otherwise (then they must agree); prune must "
    "equal the apply's --prune (the file alone never turns deletions on); max_deletions is "
    "never taken from the file (the apply's setting or --max-deletions guards the fresh plan)",
    "Plan.summary": "Derived counts, for tools.",
    "Plan.guard": "why apply must refuse (e.g. over max_deletions), if it must",
    "Plan.access_unknown": "why the access delta cannot be complete (a system that decides "
    "access was not read: --only, a read error); null when it is complete. When set, the "
    "changes that can take access away (deletions, destructive updates) must be checked by "
    "hand",
    "Plan.names": "Display names for renderings only.",
    "PlanOptions.protected": SET_SORTED,
    "PlanOptions.systems": "systems planned (--only)",
    "PlanOptions.create_app": "okta.create_app: a missing AWS app is created, not an error",
    "summary.destructive": "changes that count toward max_deletions",
    "summary.waiting": "changes that wait (e.g. for a directory import)",
    "summary.complete": "every system and account in scope was read (no read_error finding)",
    "DisplayNames.accounts": "account id → alias",
    "DisplayNames.groups": "normalized DN → group name",
    "SamlProvider.metadata": "the SAML metadata document (compared by sha256)",
    "SamlProvider.managed": "carries the managed tag (live); always true when desired",
    "SamlProvider.adopt": "desired only: take over an untagged provider of this name",
    "Role.trust_policy": "the trust policy as canonical JSON text (normalized)",
    "Role.managed_policies": SET_SORTED,
    "Role.inline_policies": "live only: the names of the role's inline policies (the model "
    "has none; never compared); left out when there are none",
    "DirectoryUser.login": "sAMAccountName or uid, lower-cased",
    "DirectoryGroup.name": "cn",
    "DirectoryGroup.member_groups": "normalized DNs of nested groups",
    "DirectoryGroup.member_users": "lower-cased logins; null: user membership not managed "
    "(desired) or not read",
    "GroupMember.group_dn": "normalized DN of the role group",
    "GroupMember.member_dn": "normalized DN of the management group",
    "UserMember.group": "normalized DN (directory) or Okta group name",
    "OktaGroup.source": "okta, or the source app (active_directory, ldap_sun_one…)",
    "OktaGroup.members": f"lower-cased logins ({SET_SORTED}); null: not read or not managed",
    "OktaGroup.member_groups": "kind okta, role groups: the management groups whose members "
    f"make up this group's ({SET_SORTED}); absent in plans written before it existed",
    "Change.id": "<kind>:<key joined by />:<action>; stable across runs",
    "Change.action": " ".join(f"{a.value} {a.name.lower()}," for a in Action).rstrip(","),
    "Change.key": "the natural key",
    "Change.before": "the live resource; null when creating",
    "Change.after": "the desired resource; null when deleting",
    "Change.details": "attribute-level differences",
    "Change.destructive": "removes something or someone's access; counts toward max_deletions",
    "Change.reason": "why the change is planned, in words: made from reason_code and "
    "reason_args (derived; checked on reading)",
    "Change.reason_args": "the names the reason's words need, by argument name (e.g. group, "
    "role_group, login); a list where there are several",
    "Change.depends_on": "ids of other changes of this plan that must succeed first (never "
    "its own id, no cycles)",
    "Change.waits_for": "e.g. 'directory import': not executable yet, not an error",
    "AttributeChange.before": "JSON value; null: an item added",
    "AttributeChange.after": "JSON value; null: an item removed",
    "Finding.blocking": "derived: the plan cannot be applied while it stands",
    "AccessChange.via": "groups that grant (granted) it",
    "AccessChange.waits_for": "set when it happens only after this (e.g. the directory "
    "import) and the next apply",
}

# What a field's type cannot say: a shared format or a bound, by `Class.field`.
CONSTRAINTS: dict[str, dict[str, Any]] = {
    "Plan.live_fingerprint": SHA256,
    "Plan.desired_digest": SHA256,
    "PlanOptions.max_deletions": {"minimum": 0},
    "SamlProvider.account_id": ACCOUNT_ID,
    "Role.account_id": ACCOUNT_ID,
    "Role.managed_policies": {"items": {"description": "policy ARN"}},
    "Role.inline_policies": {"items": {"description": "policy name"}},
    "Role.max_session_duration": {"minimum": 0},
    "DirectoryGroup.account_id": ACCOUNT_ID,
    "Change.key": {"minItems": 1},
    "Change.depends_on": {"uniqueItems": True},
    "AccessChange.account_id": ACCOUNT_ID,
}

# Keys a reader takes as absent in older plans (the writer writes them). A field the
# codec leaves out while empty (`model.OMIT_WHEN_EMPTY`) is never required either.
MAY_BE_ABSENT = frozenset(
    {"Plan.access_unknown", "OktaGroup.member_groups", "AccessChange.waits_for"}
)

# Keys the writer adds to an object that no field of its class holds, by `Class.key`.
DERIVED: dict[str, dict[str, Any]] = {
    "Plan.kind": {"const": PLAN_KIND},
    "Plan.format_version": {"const": PLAN_FORMAT_VERSION},
    "Change.id": {"type": "string"},
    "Change.system": {"$ref": DEFS + DEF_NAMES[model.System]},
    "Change.reason": {"type": "string"},
    "Change.reason_args": {
        "type": "object",
        "additionalProperties": {
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
        },
    },
    "Finding.blocking": {"type": "boolean"},
}

# Keys written under another name than their field's: `Class.key` → the field.
RENAMED = {"Change.reason_code": "reason"}

_SCALARS: dict[Any, str] = {str: "string", int: "integer", bool: "boolean", float: "number"}
_TYPE_KEYWORDS = frozenset({"$ref", "type", "enum", "const", "oneOf"})


def json_type(tp: Any, *, where: str) -> dict[str, Any]:
    """The schema of values of type `tp` as the codec writes them; `where` names the
    field in the error when the type has no derivable schema."""
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if frozenset(options) == frozenset(get_args(Resource)):
            shape = {"$ref": DEFS + "resource"}
        elif len(options) == 1:
            shape = json_type(options[0], where=where)
        else:
            raise TypeError(f"{where}: an untagged union of {options} has no schema")
        return _nullable(shape) if len(options) < len(args) else shape
    if tp is Any:
        return {}
    if isinstance(tp, type) and tp in DEF_NAMES:
        return {"$ref": DEFS + DEF_NAMES[tp]}
    if isinstance(tp, type) and issubclass(tp, Enum):
        return {"enum": [m.value for m in tp]}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return object_schema(tp)
    if origin is frozenset:
        return {"type": "array", "items": json_type(args[0], where=where), "uniqueItems": True}
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return {"type": "array", "items": json_type(args[0], where=where)}
    if origin in (dict, Mapping) and args[0] is str:
        return {"type": "object", "additionalProperties": json_type(args[1], where=where)}
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}
    raise TypeError(f"{where}: no schema for {tp!r}; describe it in plan_schema.DERIVED")


def _nullable(shape: dict[str, Any]) -> dict[str, Any]:
    if shape.keys() == {"type"} and isinstance(shape["type"], str):
        return {"type": [shape["type"], "null"]}
    return {"oneOf": [shape, {"type": "null"}]}


def _property(
    owner: str, key: str, hints: Mapping[str, Any], derived: Mapping[str, Any]
) -> dict[str, Any]:
    """The schema of `key` as the writer writes it in an object of class `owner`."""
    name = f"{owner}.{key}"
    field = RENAMED.get(name, key)
    if name in derived:
        shape = dict(derived[name])
    elif field in hints:
        constraints = CONSTRAINTS.get(f"{owner}.{field}", {})
        if _TYPE_KEYWORDS & constraints.keys():  # a shared format stands for the type
            shape = _nullable(dict(constraints)) if _optional(hints[field]) else dict(constraints)
        else:
            shape = json_type(hints[field], where=name)
            for keyword, value in constraints.items():
                shape[keyword] = shape[keyword] | value if keyword == "items" else value
    else:
        raise TypeError(f"{name}: written, but neither a field nor in plan_schema.DERIVED")
    if name in DOCS:
        shape["description"] = DOCS[name]
    return shape


def _optional(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType) and type(None) in get_args(tp)


def object_schema(
    cls: type, *, keys: list[str] | None = None, derived: Mapping[str, Any] = DERIVED
) -> dict[str, Any]:
    """An object of dataclass `cls` as written: `keys` (by default its fields, the
    codec's order) typed from the fields' hints or, for keys no field holds, `derived`."""
    owner = cls.__name__
    hints = field_types(cls)
    keys = keys if keys is not None else [f.name for f in dataclasses.fields(cls)]
    written_fields = {RENAMED.get(f"{owner}.{k}", k) for k in keys}
    unwritten = [f.name for f in dataclasses.fields(cls) if f.name not in written_fields]
    if unwritten:
        raise TypeError(f"{owner}: field(s) {', '.join(unwritten)} not written")
    omitted = {
        f"{owner}.{f.name}" for f in dataclasses.fields(cls) if f.metadata.get(OMIT_WHEN_EMPTY)
    }
    doc = class_doc(cls)
    shape: dict[str, Any] = {"description": doc} if doc else {}
    return shape | {
        "type": "object",
        "additionalProperties": False,
        "required": [k for k in keys if f"{owner}.{k}" not in MAY_BE_ABSENT | omitted],
        "properties": {k: _property(owner, k, hints, derived) for k in keys},
    }


def _sample() -> dict[str, Any]:
    """What `plan_to_json` writes for a plan with one of each record: its keys are the
    keys the schema describes."""
    member = model.UserMember(group="g", login="u")
    change = Change(
        kind=ResourceKind.USER_MEMBER,
        action=Action.CREATE,
        key=member.key,
        after=member,
        details=(AttributeChange(path="p", before=None, after=None),),
    )
    finding = Finding(kind=FindingKind.UNMANAGED, system=model.System.AWS, subject="", message="")
    access = AccessChange(user="u", account_id="1" * 12, role="r", gained=True)
    return plan_to_json(Plan(changes=(change,), findings=(finding,), access_delta=(access,)))


def _summary(written: Mapping[str, Any]) -> dict[str, Any]:
    """The summary's counts and flags, typed from the values the writer gives them."""
    properties: dict[str, Any] = {}
    for key, value in written.items():
        shape: dict[str, Any] = {"type": _SCALARS[type(value)]}
        if type(value) is int:
            shape["minimum"] = 0  # counts
        if f"summary.{key}" in DOCS:
            shape["description"] = DOCS[f"summary.{key}"]
        properties[key] = shape
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(written),
        "properties": properties,
    }


def _check_tables(sample: Mapping[str, Any]) -> None:
    """Every table entry names a written key or a field: a renamed or dropped field
    cannot leave a description or bound behind that describes nothing."""
    classes = (*DEF_NAMES, Plan, PlanOptions, DisplayNames, AttributeChange)
    known = {c.__name__: set(field_types(c)) for c in classes}
    known["Plan"] |= set(sample)
    known["summary"] = set(sample["summary"])
    for owner, records in (("Change", "changes"), ("Finding", "findings")):
        known[owner] |= set(sample[records][0])
    for name in (*DOCS, *CONSTRAINTS, *MAY_BE_ABSENT, *DERIVED, *RENAMED):
        owner, key = name.split(".", 1)
        if key not in known.get(owner, ()):
            raise TypeError(f"plan_schema table entry {name!r} names no written key or field")


def plan_schema() -> dict[str, Any]:
    """The saved-plan schema as data (`spec_schema.expected_files` renders it)."""
    sample = _sample()
    _check_tables(sample)
    # The records the writer builds itself have the keys it gives them; the rest are
    # written by the codec, field by field.
    written = {
        Change: list(sample["changes"][0]),
        Finding: list(sample["findings"][0]),
        AccessChange: list(sample["access_delta"][0]),
    }
    defs: dict[str, Any] = {
        "sha256": {
            "type": "string",
            "pattern": "^([0-9a-f]{64})?$",
            "description": "hex sha256, or empty when not recorded",
        },
        "accountId": {
            "type": "string",
            "pattern": "^[0-9]{12}$",
            "description": "12-digit AWS account id",
        },
        "resource": _resource(),
    }
    for tp, name in DEF_NAMES.items():
        if issubclass(tp, Enum):
            doc = class_doc(tp)
            defs[name] = ({"description": doc} if doc else {}) | {"enum": [m.value for m in tp]}
        else:
            defs[name] = object_schema(tp, keys=written.get(tp))
    document = object_schema(
        Plan, keys=list(sample), derived={**DERIVED, "Plan.summary": _summary(sample["summary"])}
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:okta-aws:schema:plan:v1",
        "title": "okta-aws saved plan",
        "description": DOCUMENT,
        **document,
        "$defs": defs,
    }


def _resource() -> dict[str, Any]:
    """`plan.Resource` as `saved_plan` writes it: tagged with its class name."""
    return {
        "description": "A model object tagged with its class name.",
        "oneOf": [
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["type", "value"],
                "properties": {
                    "type": {"const": cls.__name__},
                    "value": {"$ref": DEFS + DEF_NAMES[cls]},
                },
            }
            for cls in get_args(Resource)
        ],
    }


DOCUMENT = (
    "A plan as `okta-aws plan --format json` and `plan --out FILE` write it and `apply "
    "--plan FILE` reads it. `summary`, change `id`/`system` and finding `blocking` are "
    "derived and recomputed on reading. `apply --plan` never executes the file's changes: it "
    "plans afresh and refuses the file (exit 3) when `live_fingerprint` (sha256 of the "
    "canonical live world), `desired_digest` or `target` no longer match, when its changes, "
    "access delta or findings differ from the fresh plan's, or when a change's `depends_on` "
    "names itself, a change not in the plan, or forms a cycle."
)
