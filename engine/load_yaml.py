"""Parse one desired-state YAML file into plain data with the line of every value, bounded.

Whoever opens a pull request writes these files, and CI parses them, so parsing must
end quickly and in little memory whatever the bytes, and every failure must be one line
at `file:line` that names what is wrong without echoing the file (a file may be
something other than what its name says). The bounds:

- a file is at most `MAX_FILE_BYTES` (10 MiB; the loader checks before reading);
- YAML aliases may add at most `MAX_ALIAS_NODES` (100,000) values beyond those written
  in the file: the expansion is counted on the parsed node graph before anything is
  built, so a 9-line "billion laughs" is refused in milliseconds, and an alias that
  contains itself is refused rather than recursed into;
- nesting, aliases included, is at most `MAX_DEPTH` (50) levels (the deepest desired
  state needs 6);
- only plain values, lists and mappings: a tag other than the standard ones (`!Ref`,
  `!!set`, `!!omap`, `!!python/…`, `!foo [a]`) is an error, as is a list or a mapping
  used as a mapping key (`? [a, b]`) and a key that YAML reads as something other than
  a string (`1:`, `yes:`, `~:`: quoting it says what was meant);
- a value YAML's rules make a date or a number that is none (`2024-13-45`, `!!int x`)
  is an error at its line, not an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.spec import Location, Problem

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_ALIAS_NODES = 100_000
MAX_DEPTH = 50

JsonPath = tuple[str | int, ...]
_TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep (aliases included)"

_CORE = "tag:yaml.org,2002:"
_MERGE_TAG = _CORE + "merge"
# The tags the schema's plain data can carry; `timestamp` and `merge` are what plain
# `2024-01-01` and `<<` resolve to.
_ALLOWED_TAGS: dict[type[yaml.Node], frozenset[str]] = {
    yaml.ScalarNode: frozenset(
        _CORE + t for t in ("str", "int", "float", "bool", "null", "timestamp", "merge")
    ),
    yaml.SequenceNode: frozenset({_CORE + "seq"}),
    yaml.MappingNode: frozenset({_CORE + "map"}),
}
_KIND = {yaml.ScalarNode: "value", yaml.SequenceNode: "list", yaml.MappingNode: "mapping"}


def brief(value: object, limit: int = 60) -> str:
    """`value` for a message: repr of a short one-line scalar, else only what it is.

    A value in a message is one the user wrote on that line; anything longer, or a whole
    list or mapping, is described instead of printed, so a file that is not what its
    name says (a key, a secret) never reaches a CI log through an error message.
    """
    if isinstance(value, dict):
        return f"a mapping of {len(value)} key(s)"
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    text = repr(value)
    if len(text) > limit or not text.isprintable():
        return f"a {type(value).__name__} of {len(str(value))} characters"
    return text


def printable(text: str, limit: int = 120) -> str:
    """`text` with control characters escaped and cut to `limit` characters."""
    escaped = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return escaped if len(escaped) <= limit else escaped[: limit - 1] + "…"


@dataclass
class ParsedFile:
    """One parsed file: plain data plus the line of every key and list item."""

    path: Path
    display: str
    raw: bytes
    data: Any
    lines: dict[JsonPath, int] = field(default_factory=dict)
    # Top-level entry → the lines below it (dotted path relative to it, location).
    _below_entries: dict[JsonPath, list[tuple[str, Location]]] | None = None

    def loc(self, path: JsonPath) -> Location:
        # Fall back to the nearest enclosing node that has a line.
        while path and path not in self.lines:
            path = path[:-1]
        return Location(file=self.display, line=self.lines.get(path, 1))

    def locs_below(self, node: JsonPath) -> tuple[tuple[str, Location], ...]:
        """Every line below a node (`("settings",)`, `("accounts", 3)`,
        `("management_groups", 0, "grants", 1)`) as dotted paths relative to it."""
        if len(node) < 2:
            return tuple(
                (".".join(str(p) for p in path[len(node) :]), Location(self.display, line))
                for path, line in self.lines.items()
                if len(path) > len(node) and path[: len(node)] == node
            )
        if self._below_entries is None:
            # One pass over all lines, so large files stay linear in their size.
            self._below_entries = {}
            for path, line in self.lines.items():
                if len(path) > 2:
                    dotted = ".".join(str(p) for p in path[2:])
                    below = self._below_entries.setdefault(path[:2], [])
                    below.append((dotted, Location(self.display, line)))
        entry = self._below_entries.get(node[:2], [])
        if len(node) == 2:
            return tuple(entry)
        prefix = ".".join(str(p) for p in node[2:]) + "."
        return tuple((d[len(prefix) :], loc) for d, loc in entry if d.startswith(prefix))


class _PureLoader(yaml.SafeLoader):
    """SafeLoader whose composer stops at `MAX_DEPTH` (it recurses once per level)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _Refused(int(mark.line) + 1, _TOO_DEEP)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


# libyaml, which PyYAML's wheels include, parses ten times faster than the pure-Python
# parser (a 10 MiB file in seconds, not minutes) and stops nesting at 1,000 levels itself;
# its messages never quote the text. The pure parser is the fallback where it is missing.
_FAST: type[yaml.constructor.SafeConstructor] | None = getattr(yaml, "CSafeLoader", None)


def _loader(text: str) -> Any:
    return _FAST(text) if _FAST is not None else _PureLoader(text)  # type: ignore[call-arg]


class _Refused(Exception):
    """The node graph breaks a bound; `line` is where."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def parse_file(
    *, path: Path, display: str, raw: bytes, problems: list[Problem]
) -> ParsedFile | None:
    """The file's data, or None with the reasons appended to `problems`."""
    at = Location
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        problems.append(Problem(at(display, line), f"not UTF-8 text: {exc.reason}"))
        return None
    parsed = ParsedFile(path=path, display=display, raw=raw, data=None)
    loader = None
    try:
        loader = _loader(text)  # the pure reader refuses control characters right away
        node = loader.get_single_node()
        if node is None:
            parsed.data = {}
            return parsed
        issues: list[Problem] = []
        _measure_root(node, display, issues)
        if issues:
            problems.extend(issues)
            return None
        parsed.data = _Builder(parsed, loader, problems).build(node, ())
    except yaml.reader.ReaderError as exc:
        # libyaml counts bytes of UTF-8, the pure reader characters.
        if _FAST is not None:
            line = raw.count(b"\n", 0, exc.position) + 1
        else:
            line = text.count("\n", 0, exc.position) + 1
        what = f"U+{exc.character:04X}" if isinstance(exc.character, int) else "a character"
        problems.append(
            Problem(
                at(display, line),
                f"{what} is not allowed in YAML (write control characters as escapes "
                'such as "\\t" inside double quotes)',
            )
        )
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problems.append(Problem(at(display, line), f"YAML syntax: {printable(exc.problem or '')}"))
        return None
    except _Refused as exc:
        problems.append(Problem(at(display, exc.line), exc.message))
        return None
    except yaml.YAMLError as exc:  # any other: still one line, without the text
        problems.append(Problem(at(display, 1), f"YAML: {type(exc).__name__}"))
        return None
    finally:
        if loader is not None:
            loader.dispose()
    return parsed


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _measure_root(root: yaml.Node, display: str, issues: list[Problem]) -> None:
    """Check tags, keys, depth and alias expansion over the node graph, building nothing.

    The graph holds each node once however many aliases point at it, so this is linear
    in the file; what building would cost is summed from it: a node reached through k
    aliases counts k times.
    """
    memo: dict[int, tuple[int, int]] = {}  # id → (values when expanded, height)
    size, _ = _measure(root, 0, memo, set(), display, issues)
    extra = size - len(memo)
    if extra > MAX_ALIAS_NODES:
        # Point at the top-level entry that expands most.
        line = _line(root)
        if isinstance(root, yaml.MappingNode) and root.value:
            key, _value = max(root.value, key=lambda kv: memo.get(id(kv[1]), (0, 0))[0])
            line = _line(key)
        raise _Refused(
            line,
            f"YAML aliases expand this file by more than {MAX_ALIAS_NODES:,} values "
            "(an alias bomb?): write the values out or use fewer aliases",
        )


def _measure(
    node: yaml.Node,
    depth: int,
    memo: dict[int, tuple[int, int]],
    open_nodes: set[int],
    display: str,
    issues: list[Problem],
) -> tuple[int, int]:
    key = id(node)
    if key in open_nodes:
        raise _Refused(_line(node), "a YAML alias refers to a node that contains it")
    known = memo.get(key)
    height = known[1] if known else 0
    if depth + height > MAX_DEPTH:
        raise _Refused(_line(node), _TOO_DEEP)
    if known:
        return known
    if node.tag not in _ALLOWED_TAGS[type(node)]:
        tag = "!!" + node.tag.removeprefix(_CORE) if node.tag.startswith(_CORE) else node.tag
        issues.append(
            Problem(
                Location(display, _line(node)),
                f"unsupported YAML tag {printable(tag, 40)!r} on a {_KIND[type(node)]}: "
                "only plain values, lists and mappings are allowed",
            )
        )
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                issues.append(
                    Problem(
                        Location(display, _line(key_node)),
                        f"a {_KIND[type(key_node)]} used as a mapping key: "
                        "keys must be plain values",
                    )
                )
            children += (key_node, value_node)
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    open_nodes.add(key)
    size, height = 1, 0
    for child in children:
        seen = memo.get(id(child))
        if seen and depth + 1 + seen[1] > MAX_DEPTH:
            # An alias stacks a measured node this deep: point at where it is used.
            raise _Refused(_line(node), _TOO_DEEP)
        child_size, child_height = _measure(child, depth + 1, memo, open_nodes, display, issues)
        size += child_size
        height = max(height, child_height + 1)
    open_nodes.discard(key)
    memo[key] = (size, height)
    return size, height


# What building a scalar of a valid tag can still raise: `2024-13-45` is a timestamp by
# the YAML regex but no date, `!!bool maybe`, an int of more digits than Python converts.
_SCALAR_ERRORS = (ValueError, LookupError, ArithmeticError, TypeError)


def _type_name(value: object) -> str:
    return {bool: "boolean", int: "number", float: "number", type(None): "null"}.get(
        type(value), type(value).__name__
    )


_SCALAR_KIND = {
    _CORE + "int": "integer",
    _CORE + "float": "number",
    _CORE + "bool": "boolean",
    _CORE + "timestamp": "date",
}


class _Builder:
    """Plain data from the (already measured) node graph, recording lines."""

    def __init__(
        self, parsed: ParsedFile, loader: yaml.constructor.SafeConstructor, problems: list[Problem]
    ) -> None:
        self.parsed = parsed
        self.loader = loader
        self.problems = problems

    def build(self, node: yaml.Node, path: JsonPath) -> Any:
        lines = self.parsed.lines
        lines.setdefault(path, _line(node))
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key, (key_node, value_node) in self.pairs(node).items():
                lines[(*path, key)] = _line(key_node)
                result[key] = self.build(value_node, (*path, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                lines[(*path, index)] = _line(item)
                items.append(self.build(item, (*path, index)))
            return items
        return self.scalar(node)

    def scalar(self, node: yaml.Node) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError:
            raise
        except _SCALAR_ERRORS:
            kind = _SCALAR_KIND.get(node.tag, "value")
            raise _Refused(
                _line(node), f"not a valid {kind} (quote it to make it a string)"
            ) from None

    def pairs(self, node: yaml.MappingNode) -> dict[Any, tuple[yaml.Node, yaml.Node]]:
        """The effective key → (key node, value node) pairs of a mapping, merges resolved.

        As the YAML merge-key spec says: a key written in the mapping itself overrides a
        merged one (that is not a duplicate), and with `<<: [*a, *b]` the earlier mapping
        wins. (PyYAML's `flatten_mapping` lets the later one win, so it is not used.)
        """
        own: dict[Any, tuple[yaml.Node, yaml.Node]] = {}
        sources: list[yaml.MappingNode] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in merged:
                    if not isinstance(source, yaml.MappingNode):
                        raise yaml.constructor.ConstructorError(
                            "while constructing a mapping",
                            node.start_mark,
                            "expected a mapping or list of mappings for merging, "
                            f"but found {source.id}",
                            source.start_mark,
                        )
                    sources.append(source)
                continue
            key = self.scalar(key_node)
            if not isinstance(key, str):
                # Every key of the schema is a string; `1:`, `yes:` or `~:` read as a
                # number, a boolean or null would be a different name than the one written.
                self.problems.append(
                    Problem(
                        Location(self.parsed.display, _line(key_node)),
                        f"key {brief(key)} is read as a {_type_name(key)}: quote it "
                        "to make it a string",
                    )
                )
                continue
            if key in own:
                first = _line(own[key][0])
                self.problems.append(
                    Problem(
                        Location(self.parsed.display, _line(key_node)),
                        f"duplicate key {brief(key)} (first at line {first})",
                    )
                )
                continue
            own[key] = (key_node, value_node)
        pairs: dict[Any, tuple[yaml.Node, yaml.Node]] = {}
        for source in sources:
            for key, pair in self.pairs(source).items():
                pairs.setdefault(key, pair)
        pairs.update(own)
        return pairs
