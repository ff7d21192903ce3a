"""One typed JSON codec for the frozen dataclasses of the engine.

Snapshots (`snapshot`), saved plans (`saved_plan`) and the desired state's settings
(`load`) are all plain JSON-shaped data turned into typed values. One codec does it, so
that every reader is equally strict: fields and type hints drive it (enums as their
values, sets as sorted lists, tuples as lists), and a field added to a dataclass is read
and written without touching a reader. Decoding is strict (unknown or mistyped fields
are errors naming their path) because all of these files come from outside.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from enum import Enum
from functools import cache
from typing import Any, Union, get_args, get_origin, get_type_hints

from engine.model import OMIT_WHEN_EMPTY, canonical_json

__all__ = ["CodecError", "field_types", "from_jsonable", "to_jsonable"]


class CodecError(ValueError):
    """JSON data that does not describe a value of the type asked for; the message
    starts with the path of the offending value (`$.world.roles[0].name: …`)."""


def to_jsonable(value: Any) -> Any:
    """Plain JSON data for a model value: dataclasses as objects (every field, but an
    empty one marked `model.OMIT_WHEN_EMPTY`), enums as their values, sets as lists
    sorted by canonical JSON, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) or not f.metadata.get(OMIT_WHEN_EMPTY)
        }
    if isinstance(value, Enum):  # before str: StrEnum members are strs
        return value.value
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, frozenset | set):
        return sorted((to_jsonable(v) for v in value), key=canonical_json)
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("only mappings with str keys have a JSON form")
        return {k: to_jsonable(v) for k, v in value.items()}
    raise TypeError(f"no JSON form for {type(value).__name__}")


@cache
def field_types(cls: type) -> dict[str, Any]:
    """The resolved type hints of a dataclass's fields (postponed annotations)."""
    return get_type_hints(cls)


def _fail(where: str, message: str) -> CodecError:
    return CodecError(f"{where}: {message}")


def _from_union(args: tuple[Any, ...], data: Any, where: str) -> Any:
    if data is None and type(None) in args:
        return None
    options = [a for a in args if a is not type(None)]
    if len(options) != 1:
        # Unions of several types need a tag in the JSON; callers handle those.
        raise _fail(where, f"cannot decode an untagged union of {options}")
    return from_jsonable(options[0], data, where=where)


def _from_scalar(tp: type, data: Any, where: str) -> Any:
    if tp is bool:
        ok = isinstance(data, bool)
    elif tp is int:
        ok = isinstance(data, int) and not isinstance(data, bool)
    elif tp is float:
        ok = isinstance(data, int | float) and not isinstance(data, bool)
    else:
        ok = isinstance(data, tp)
    if not ok:
        raise _fail(where, f"expected {tp.__name__}, got {type(data).__name__}")
    return data


def from_jsonable(tp: Any, data: Any, *, where: str = "$") -> Any:
    """The value of type `tp` that `to_jsonable` turned into `data`.

    Strict: a wrong type, an unknown enum value or an unknown field raises `CodecError`
    naming the path (`where`) of the offending value.
    """
    if tp is Any:
        return data
    origin, args = get_origin(tp), get_args(tp)
    if origin is Union or origin is types.UnionType:
        return _from_union(args, data, where)
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(data)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in tp)
            raise _fail(where, f"{data!r} is not one of {allowed}") from None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _from_dataclass(tp, data, where)
    if origin in (frozenset, set, list, tuple):
        if not isinstance(data, list):
            raise _fail(where, f"expected a list, got {type(data).__name__}")
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(data):
                raise _fail(where, f"expected {len(args)} items, got {len(data)}")
            return tuple(
                from_jsonable(a, d, where=f"{where}[{i}]")
                for i, (a, d) in enumerate(zip(args, data, strict=True))
            )
        items = [from_jsonable(args[0], d, where=f"{where}[{i}]") for i, d in enumerate(data)]
        return origin(items)
    if origin in (dict, Mapping):
        if not isinstance(data, dict):
            raise _fail(where, f"expected an object, got {type(data).__name__}")
        return {
            from_jsonable(args[0], k, where=where): from_jsonable(args[1], v, where=f"{where}.{k}")
            for k, v in data.items()
        }
    if tp in (str, bool, int, float):
        return _from_scalar(tp, data, where)
    raise _fail(where, f"no JSON decoding for {tp!r}")


def _from_dataclass(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise _fail(where, f"expected a {cls.__name__} object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise _fail(where, f"unknown field(s) of {cls.__name__}: {', '.join(unknown)}")
    hints = field_types(cls)
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name in data:
            values[name] = from_jsonable(hints[name], data[name], where=f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise _fail(where, f"missing field {name!r} of {cls.__name__}")
    return cls(**values)
