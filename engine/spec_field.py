"""How a field of the typed desired state (`engine.spec`) is written in YAML.

One home for each setting: the dataclass field in `spec` carries its default, the JSON
Schema fragment of its YAML key (pattern, bounds, description) and how YAML spells it
(`setting(...)`); the schema file is generated from those fields (`engine.spec_schema`)
and `load` reads the desired state through them (`decode`), so a new setting is one field,
not a field plus a schema entry plus a loader line repeating its default. Fields without
this metadata (`loc`, `value_locs`, …) are the engine's bookkeeping and never in YAML.
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, dataclass
from enum import Enum
from functools import cache
from typing import Any, TypeVar, Union, cast, get_args, get_origin

from engine.codec import CodecError, field_types, from_jsonable

META_KEY = "okta_aws.yaml"
ITEM_LOCS_KEY = "okta_aws.item_locs"  # see `item_locs`
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


def item_locs(of: str) -> Any:
    """A bookkeeping field holding the file and line of each item of the list field
    `of`, in order (`decode` fills it), for messages about one item."""
    return dataclasses.field(default=(), metadata={ITEM_LOCS_KEY: of})


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


LocsBelow = Callable[[Path], tuple[tuple[str, Location], ...]]


def decode(
    cls: type[_T],
    raw: Any,
    *,
    path: Path,
    loc_at: Callable[[Path], Any],
    lenient: bool,
    overrides: Mapping[Path, Any] | None = None,
    locs_below: LocsBelow | None = None,
) -> _T:
    """The spec `cls` that the YAML mapping `raw` (at `path` in its file) describes.

    Every value goes through the typed codec (`engine.codec`), so it is of its field's
    declared type; a key left out takes the field's default; a nested section is
    decoded likewise (from `{}` when absent), and so is each entry of a list of sections
    (a management group's grants) at its own path. The engine's bookkeeping fields are
    filled from where the values were written: `loc` gets `loc_at(path)`, the file and
    line of the mapping; `value_locs` gets `locs_below(path)`, the line of every value
    below it by dotted path; a field made with `item_locs(of)` the line of each item of
    the list `of`. `overrides` (by path) set values the YAML does not hold as such (the
    metadata document a file names, a catalogue entry's key).

    Schema-valid data always decodes; a missing required value or a value of the wrong
    type raises `CodecError` naming its path. `lenient`: the data broke the schema
    (which already said where), so a value of the wrong type or outside the fragment's
    bounds becomes the default instead of reaching the semantic checks, except an
    enum's; a number or boolean where a list item, a label or a required text is
    expected is read as its text (lists keep their length, so the line of each item
    stays right, and an entry keeps what identifies it); and an entry of a list of
    sections that cannot be decoded is left out.
    """
    where = ".".join(map(str, path))
    if not isinstance(raw, Mapping):
        raise CodecError(f"{where}: expected a mapping, got {type(raw).__name__}")
    overrides = overrides or {}
    values: dict[str, Any] = {}
    for f in _plan(cast(type, cls)):
        here = (*path, f.name)
        if overrides and here in overrides:
            values[f.name] = overrides[here]
        elif f.meta is None:  # bookkeeping
            if f.name == "loc":
                values[f.name] = loc_at(path)
            elif f.name == "value_locs" and locs_below is not None:
                values[f.name] = locs_below(path)
            elif f.item_locs_of is not None:
                items = values.get(f.item_locs_of) or ()
                values[f.name] = tuple(
                    loc_at((*path, f.item_locs_of, i)) for i in range(len(items))
                )
        elif f.section is not None and (f.nested or isinstance(raw.get(f.name), list)):
            value: Any = raw.get(f.name)
            parts = [value if isinstance(value, Mapping) else {}] if f.nested else value
            decoded = _entries(
                f.section,
                parts,
                path=here,
                indexed=not f.nested,
                loc_at=loc_at,
                lenient=lenient,
                overrides=overrides,
                locs_below=locs_below,
            )
            values[f.name] = next(decoded) if f.nested else tuple(decoded)
        elif f.name in raw:
            try:
                values[f.name] = _typed(
                    f.tp,
                    f.meta,
                    raw[f.name],
                    where=".".join(map(str, here)),
                    lenient=lenient,
                    required=f.required,
                )
            except CodecError:
                # An enum (the directory kind, the target) decides what the other values
                # mean: guessing one would check them against the wrong rules.
                if not lenient or f.enum or f.required:
                    raise
        elif f.required:
            raise CodecError(f"{where}: missing {f.name!r}")
    return cls(**values)


@dataclass(frozen=True)
class _Field:
    """What `decode` needs to know of one dataclass field, worked out once per class."""

    name: str
    tp: Any
    meta: YamlField | None  # None: bookkeeping, not in YAML
    section: type | None  # the spec class of a nested section or of a list of them
    nested: bool  # a nested section itself (not a list of them)
    required: bool  # no default: the dataclass cannot be built without it
    enum: bool
    item_locs_of: str | None  # `item_locs(of)`


@cache
def _plan(cls: type) -> tuple[_Field, ...]:
    hints = field_types(cls)
    fields = [
        _Field(
            name=f.name,
            tp=hints[f.name],
            meta=yaml_field(f),
            section=section_class(hints[f.name]),
            nested=section_class(hints[f.name]) is hints[f.name],
            required=f.default is MISSING and f.default_factory is MISSING,
            enum=_is_enum(hints[f.name]),
            item_locs_of=f.metadata.get(ITEM_LOCS_KEY),
        )
        for f in dataclasses.fields(cls)
    ]
    # Item lines are filled once their list is decoded, whatever the field order.
    return tuple(sorted(fields, key=lambda f: f.item_locs_of is not None))


def _entries(
    section: type,
    items: list[Any],
    *,
    path: Path,
    indexed: bool,
    loc_at: Callable[[Path], Any],
    lenient: bool,
    overrides: Mapping[Path, Any],
    locs_below: LocsBelow | None,
) -> Iterator[Any]:
    """Each of `items` decoded as a `section` (at `path`, or at its index below `path`
    when `indexed`); in a lenient read, an entry of a list that cannot be decoded is
    left out."""
    for index, item in enumerate(items):
        try:
            yield decode(
                section,
                item,
                path=(*path, index) if indexed else path,
                loc_at=loc_at,
                lenient=lenient,
                overrides=overrides,
                locs_below=locs_below,
            )
        except CodecError:
            if not lenient or not indexed:
                raise


def _typed(
    tp: Any,
    meta: YamlField,
    value: Any,
    *,
    where: str,
    lenient: bool = False,
    required: bool = False,
) -> Any:
    if meta.from_yaml is not None:
        value = meta.from_yaml(value)
    if isinstance(value, float) and value.is_integer() and int in _scalar_types(tp):
        value = int(value)  # JSON Schema's integer includes 7200.0
    try:
        typed = from_jsonable(tp, value, where=where)
    except CodecError:
        if not lenient:
            raise
        typed = from_jsonable(tp, _as_text(tp, value, optional=not required), where=where)
    if isinstance(typed, int | float) and not isinstance(typed, bool):
        _check_bounds(typed, meta.schema, where=where)
    return typed


def _as_text(tp: Any, value: Any, *, optional: bool = False) -> Any:
    """`value` with each number or boolean where `tp` wants text written as text, except
    a standalone optional text, whose default is the safer reading (see `decode`)."""
    if tp is str:
        scalar = isinstance(value, bool | int | float) and not optional
        return str(value) if scalar else value
    if not isinstance(value, list):
        return value
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _as_text(inner[0], value) if len(inner) == 1 else value
    if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        return [_as_text(a, v) for a, v in zip(args, value, strict=False)]
    return [_as_text(args[0], v) for v in value] if args else value


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
