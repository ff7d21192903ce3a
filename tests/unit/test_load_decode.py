"""The one typed decoder of the desired state (`spec_field.decode`) on entries.

`load` builds the role catalogue, the accounts and the management groups through the
same decoder as the settings: values typed by the codec, defaults from `setting(...)`,
lines from the parsed file. These pin what entries need beyond the settings: lists of
nested sections (grants), the line of each list item (`item_locs`), required values,
and the lenient rules of a state built despite schema problems.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import pytest

from engine.codec import CodecError
from engine.spec_field import Location, Section, decode, item_locs, setting

# ruff: noqa: RUF009  (`setting` and `item_locs` are dataclass field specifiers)

Path_ = tuple[str | int, ...]


@dataclasses.dataclass(frozen=True)
class _Part:
    SECTION: ClassVar[Section] = Section("part", "A part.")
    label: str = setting(required=True, doc="Required, no default.")
    note: str | None = setting(None, doc="Optional text.")
    loc: Location = Location("?", 0)
    value_locs: tuple[tuple[str, Location], ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Entry:
    SECTION: ClassVar[Section] = Section("entry", "An entry.")
    # Declared before its list on purpose: the decoder fills it once the list is known.
    name_locs: tuple[Location, ...] = item_locs("names")
    id: str = setting(required=True, doc="Required text.")
    names: tuple[str, ...] = setting((), type="array", doc="Texts.")
    size: int = setting(3, minimum=1, maximum=9, doc="Bounded.")
    parts: tuple[_Part, ...] = setting((), doc="Nested sections.")
    loc: Location = Location("?", 0)
    value_locs: tuple[tuple[str, Location], ...] = ()


def _at(path: Path_) -> Location:
    """A fake line per path: its depth, and a file named after the path."""
    return Location(".".join(map(str, path)), len(path))


def _below(path: Path_) -> tuple[tuple[str, Location], ...]:
    return (("below", _at((*path, "below"))),)


def _decode(raw: Any, *, lenient: bool = False) -> _Entry:
    return decode(_Entry, raw, path=("entries", 0), loc_at=_at, locs_below=_below, lenient=lenient)


def test_entry_with_nested_sections_keeps_every_location() -> None:
    got = _decode(
        {"id": "x", "names": ["a", "b"], "size": 4.0, "parts": [{"label": "p"}, {"label": "q"}]}
    )
    assert (got.id, got.names, got.size, got.loc) == ("x", ("a", "b"), 4, _at(("entries", 0)))
    assert got.name_locs == (_at(("entries", 0, "names", 0)), _at(("entries", 0, "names", 1)))
    assert got.value_locs == _below(("entries", 0))
    second = got.parts[1]
    assert (second.label, second.note) == ("q", None)
    assert second.loc == _at(("entries", 0, "parts", 1))
    assert second.value_locs == _below(("entries", 0, "parts", 1))


def test_defaults_and_empty_item_lines() -> None:
    got = _decode({"id": "x"})
    assert (got.names, got.size, got.parts, got.name_locs) == ((), 3, (), ())


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ({}, "entries.0: missing 'id'"),
        ({"id": 5}, "entries.0.id: expected str"),
        ({"id": "x", "parts": [{}]}, "entries.0.parts.0: missing 'label'"),
        ({"id": "x", "size": 10}, "entries.0.size: 10 is out of bounds"),
        ("not a mapping", "entries.0: expected a mapping"),
    ],
)
def test_strict_decoding_names_the_path(raw: Any, where: str) -> None:
    with pytest.raises(CodecError, match=f"^{where}"):
        _decode(raw)


def test_lenient_keeps_identity_and_list_length_and_drops_what_cannot_be_built() -> None:
    got = _decode(
        {
            "id": 12,  # required text: read as its text
            "names": ["a", 7, True],  # items: read as text, so each keeps its line
            "size": 10,  # out of bounds: the default
            "parts": [{"label": 1, "note": 2}, {"note": "no label"}, "junk"],
        },
        lenient=True,
    )
    assert (got.id, got.names, got.size) == ("12", ("a", "7", "True"), 3)
    assert len(got.name_locs) == 3
    # The first part keeps its label as text; its optional note falls back to None; the
    # parts that cannot be built are left out.
    assert [(p.label, p.note) for p in got.parts] == [("1", None)]


def test_lenient_still_refuses_an_entry_without_its_identity() -> None:
    with pytest.raises(CodecError, match="missing 'id'"):
        _decode({"names": ["a"]}, lenient=True)
