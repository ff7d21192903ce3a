"""How a field of the typed desired state (`engine.spec`) is written in YAML.

One home for each setting: the dataclass field in `spec` carries its default, the JSON
Schema fragment of its YAML key (pattern, bounds, description) and how YAML spells it
(`setting(...)`); the schema file is generated from those fields (`engine.spec_schema`)
and `load` reads the settings through them (`decode`), so a new setting is one field,
not a field plus a schema entry plus a loader line repeating its default. Fields without
this metadata (`loc`, `value_locs`, …) are the engine's bookkeeping and never in YAML.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass
from enum import Enum
from typing import Any, TypeVar, get_args

from engine.codec import CodecError, field_types, from_jsonable

META_KEY = "okta_aws.yaml"
# Keys of a schema fragment that say the value's type themselves (no derived "type").
TYPE_KEYWORDS = frozenset({"type", "$ref", "enum", "const", "oneOf"})

Path = tuple[str | int, ...]
_T = TypeVar("_T")


class _Missing(Enum):
    MISSING = "missing"


NO_VALUE = _Missing.MISSING


@dataclass(frozen=True)
class YamlField:
    """A spec field as the desired-state YAML has it (see `setting`)."""

    doc: str
    schema: Mapping[str, Any]
    nullable: bool = False
    required: bool = False
    show_default: bool = True
    yaml_default: Any = NO_VALUE
    from_yaml: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class Section:
    """A spec class that is a YAML mapping of its own: its `$defs` name in the schema,
    its description, and the rules across its fields (`oneOf`, `if`/`then`)."""

    name: str
    doc: str
    rules: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def setting(
    default: Any = MISSING,
    *,
    doc: str,
    default_factory: Callable[[], Any] | Any = MISSING,
    nullable: bool = False,
    required: bool = False,
    show_default: bool = True,
    yaml_default: Any = NO_VALUE,
    from_yaml: Callable[[Any], Any] | None = None,
    ref: str | None = None,
    **schema: Any,
) -> Any:
    """A dataclass field written in YAML under its own name.

    `doc` is the schema description; `ref` names a shared definition (`COMMON_DEFS`)
    and the other keywords are the JSON Schema fragment (`pattern=`, `maxLength=`…), in
    the order given. The schema type comes from the annotation unless the fragment says
    it. `nullable`: YAML may write null. `required`: the schema requires the key (the
    dataclass default then only serves code building specs by hand). `show_default`:
    False when the default is not a value a user could write (an empty OU, a label
    implied by the absence of app_id). `yaml_default`: the default as YAML spells it,
    when it is not the JSON form of `default`. `from_yaml`: reshapes the YAML value into
    the JSON form of the field's type before the typed codec reads it.
    """
    fragment = ({"$ref": f"#/$defs/{ref}"} if ref else {}) | schema
    meta = {
        META_KEY: YamlField(
            doc=doc,
            schema=fragment,
            nullable=nullable,
            required=required,
            show_default=show_default,
            yaml_default=yaml_default,
            from_yaml=from_yaml,
        )
    }
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def yaml_field(f: dataclasses.Field[Any]) -> YamlField | None:
    meta = f.metadata.get(META_KEY)
    return meta if isinstance(meta, YamlField) else None


def section_class(tp: Any) -> type | None:
    """The spec class with a `SECTION` in the annotation `tp` (itself, `X | None`,
    `tuple[X, ...]`), else None."""
    if isinstance(tp, type) and isinstance(getattr(tp, "SECTION", None), Section):
        return tp
    for arg in get_args(tp):
        found = section_class(arg)
        if found is not None:
            return found
    return None


@dataclass(frozen=True, order=True)
class Location:
    """Where a value came from: a file and a 1-based line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


UNKNOWN_LOCATION = Location(file="<desired-state>", line=0)


# --- Reading YAML ------------------------------------------------------------------------


def decode(
    cls: type[_T],
    raw: Mapping[str, Any],
    *,
    path: Path,
    loc_at: Callable[[Path], Any],
    lenient: bool,
    overrides: Mapping[Path, Any] | None = None,
) -> _T:
    """The spec `cls` that the YAML mapping `raw` (at `path` in its file) describes.

    Every value goes through the typed codec (`engine.codec`), so it is of its field's
    declared type; a key left out takes the field's default; a nested section is
    decoded likewise (from `{}` when absent); a field named `loc` gets `loc_at(path)`,
    the file and line of the mapping. `overrides` (by path) set values the YAML does
    not hold as such (the metadata document a file names, the lines of list items).

    Schema-valid data always decodes. `lenient`: the data broke the schema (which
    already said where), so a value of the wrong type or outside the fragment's bounds
    becomes the default instead of reaching the semantic checks, except an enum's;
    otherwise it raises `CodecError`.
    """
    overrides = overrides or {}
    values: dict[str, Any] = {}
    spec: Any = cls  # a dataclass (mypy cannot say so of a type variable)
    hints = field_types(spec)
    for f in dataclasses.fields(spec):
        here = (*path, f.name)
        if here in overrides:
            values[f.name] = overrides[here]
            continue
        meta = yaml_field(f)
        if meta is None:
            if f.name == "loc":
                values[f.name] = loc_at(path)
            continue
        value = raw.get(f.name)
        if section_class(hints[f.name]) is hints[f.name]:  # a nested section
            nested = value if isinstance(value, Mapping) else {}
            values[f.name] = decode(
                hints[f.name],
                nested,
                path=here,
                loc_at=loc_at,
                lenient=lenient,
                overrides=overrides,
            )
        elif f.name in raw:
            try:
                values[f.name] = _typed(hints[f.name], meta, value, where=".".join(map(str, here)))
            except CodecError:
                # An enum (the directory kind, the target) decides what the other values
                # mean: guessing one would check them against the wrong rules.
                if not lenient or _is_enum(hints[f.name]):
                    raise
    return cls(**values)


def _typed(tp: Any, meta: YamlField, value: Any, *, where: str) -> Any:
    if meta.from_yaml is not None:
        value = meta.from_yaml(value)
    if isinstance(value, float) and value.is_integer() and int in _scalar_types(tp):
        value = int(value)  # JSON Schema's integer includes 7200.0
    typed = from_jsonable(tp, value, where=where)
    if isinstance(typed, int | float) and not isinstance(typed, bool):
        _check_bounds(typed, meta.schema, where=where)
    return typed


def _is_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Enum)


def _scalar_types(tp: Any) -> tuple[Any, ...]:
    return get_args(tp) or (tp,)


def _check_bounds(number: float, schema: Mapping[str, Any], *, where: str) -> None:
    low, high = schema.get("minimum", -math.inf), schema.get("maximum", math.inf)
    above = schema.get("exclusiveMinimum", -math.inf)
    if not (low <= number <= high and number > above):
        raise CodecError(f"{where}: {number} is out of bounds")


# --- Reshaping YAML values ---------------------------------------------------------------


def one_pair(value: Any) -> Any:
    """`{key: value}` as the pair `[key, value]`; anything else as it is (the codec
    then refuses it)."""
    if isinstance(value, Mapping) and len(value) == 1:
        return list(next(iter(value.items())))
    return value


def sorted_pairs(value: Any) -> Any:
    """A mapping as its `[key, value]` pairs sorted by key (labels compare as sets)."""
    if isinstance(value, Mapping):
        return [list(item) for item in sorted(value.items(), key=lambda kv: str(kv[0]))]
    return value


# --- Shared schema definitions -----------------------------------------------------------

DN_PATTERN = "^[A-Za-z][A-Za-z0-9-]*=[^\\s,=].*$"
ROLE_NAME_PATTERN = "^[A-Za-z0-9_+=,.@-]+$"
ALIAS_PATTERN = "^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$"
LABEL_KEY = {"minLength": 1, "maxLength": 128}
LABEL_VALUE = {"type": "string", "maxLength": 256}

# Value shapes several fields share, emitted as the schema's `$defs` (`ref=` names them).
COMMON_DEFS: dict[str, dict[str, Any]] = {
    "roleName": {
        "type": "string",
        "pattern": ROLE_NAME_PATTERN,
        "maxLength": 64,
        "description": "An IAM role name: 1-64 characters of letters, digits and + = , . @ _ "
        "-. Names equal case-insensitively are the same role to IAM.",
    },
    "roleNameList": {
        "type": "array",
        "items": {"$ref": "#/$defs/roleName"},
        "uniqueItems": True,
        "description": "A list of role names from the role catalogue (`roles`), each at most once.",
    },
    "accountId": {
        "type": "string",
        "pattern": "^[0-9]{12}$",
        "maxLength": 12,
        "description": 'A 12-digit AWS account id as a QUOTED string, e.g. "012345678901": an '
        "unquoted number is an error (YAML would read it as an integer and drop leading "
        "zeros).",
    },
    "alias": {
        "type": "string",
        "pattern": ALIAS_PATTERN,
        "description": "An AWS account alias: 3-63 lowercase letters, digits and single "
        "hyphens, starting and ending with a letter or digit.",
    },
    "dn": {
        "type": "string",
        "pattern": DN_PATTERN,
        "maxLength": 1024,
        "description": "An LDAP distinguished name, e.g. `OU=AWS Role Groups,DC=example,DC=test`.",
    },
    "labels": {
        "type": "object",
        "propertyNames": LABEL_KEY,
        "additionalProperties": LABEL_VALUE,
        "description": "String keys to string values (quote values YAML would read as numbers "
        "or booleans).",
    },
}
