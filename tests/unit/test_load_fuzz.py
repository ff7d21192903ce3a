"""Fuzzing the loader and the validator: whatever a pull request puts in the folder,
`load` and `validate` answer with problems (`LoadError`, a list of `Problem`), one line
each, and finish within hypothesis's deadline: never another exception, never a hang.

Three sources of input, from blind to informed: random bytes; random text made of YAML's
own punctuation and the schema's words (reaching anchors, tags, merges and flow
collections that random bytes rarely form); and the valid example state of
`test_load` with a random subtree replaced by a random YAML tree (reaching the builder
and the semantic checks with values of every shape in every place).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.load import LoadError, load
from engine.spec import Problem
from engine.validate import validate
from tests.unit.test_load import BASE

FUZZ = settings(
    max_examples=200,
    # A generous bound per example: a slow path (an alias expanding, a regex backtracking)
    # shows up as a DeadlineExceeded, not as a test suite that never ends.
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow],
)
BASE_DATA: dict[str, Any] = {
    name: yaml.safe_load(text) for name, text in BASE.items() if name.endswith(".yaml")
}


@contextmanager
def folder(files: dict[str, str | bytes]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            (root / name).write_bytes(data)
        yield root


def load_and_validate(root: Path) -> list[Problem]:
    """What `okta-aws validate` does: load, then the semantic checks on what was built."""
    try:
        state = load(directory=root)
    except LoadError as exc:
        assert exc.problems, "a LoadError names at least one problem"
        problems = list(exc.problems)
        if exc.partial is not None:
            problems += validate(state=exc.partial)
        return problems
    return validate(state=state)


def assert_one_line_each(problems: list[Problem]) -> None:
    for problem in problems:
        text = str(problem)
        assert "\n" not in text and "\r" not in text, text
        assert problem.loc.line >= 0


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes(data: bytes) -> None:
    with folder({**BASE, "fuzz.yaml": data}) as root:
        problems = load_and_validate(root)
    assert_one_line_each(problems)


YAML_PIECES = [
    *("- ", ": ", "? ", ", ", "[", "]", "{", "}", "\n", "  ", "    ", "#c", "---\n", "...\n"),
    *("&a ", "&b ", "*a", "*b", "<<: ", "!!set ", "!!omap ", "!!str ", "!!int ", "!foo ", "! "),
    *("'x'", '"\\x1b"', '"\\0"', "|\n  ", ">-\n  ", "~", "null", "true", "yes", "0x1F"),
    *("1e999", "-.inf", ".nan", "2024-13-45", "2024-01-01", "12:30:00", "0o17", "1_000"),
    *('"111111111111"', "111111111111", "prod", "Admin", "aws#prod#Admin#111111111111"),
    *("settings", "roles", "accounts", "management_groups", "id", "alias", "grants", "role"),
    *("account", "account_tags", "members", "dn", "name", "saml_provider", "metadata_file"),
    *("directory", "okta", "group_filter", "role_value_pattern", "safety", "protected"),
    *("kind", "role_group_name", "'{alias}#{role}'", "(?{{role}}.*)", "CN=x,DC=y", "*"),
]


@FUZZ
@given(st.lists(st.sampled_from(YAML_PIECES), max_size=60))
def test_random_yaml_text(pieces: list[str]) -> None:
    with folder({**BASE, "fuzz.yaml": "".join(pieces)}) as root:
        problems = load_and_validate(root)
    assert_one_line_each(problems)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "111111111111",
            "prod",
            "Admin",
            "ReadOnly",
            "*",
            "alice",
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "CN=Users,DC=example,DC=test",
            "aws#{alias}#{role}#{account_id}",
            "{role}",
            "(a+)+$",
            "idp.xml",
            "../idp.xml",
            "/etc/passwd",
            "okta",
            "ldap",
            "sandbox",
            "\x1b[2J",
            " Admin ",
        ]
    ),
)
KEYS = st.one_of(
    st.sampled_from([k for k in YAML_PIECES if k.isidentifier()]),
    st.text(max_size=12),
    st.integers(min_value=-5, max_value=5),
)
TREES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=4)
    ),
    max_leaves=20,
)


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value in plain data (the root too)."""
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from paths(value, (*prefix, index))


def replaced(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(data, dict):
        return {**data, head: replaced(data[head], rest, value)}
    items = list(data)
    items[head] = replaced(items[head], rest, value)
    return items


@FUZZ
@given(st.data())
def test_valid_state_with_a_random_subtree(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(BASE_DATA)))
    original = BASE_DATA[name]
    path = data.draw(st.sampled_from(list(paths(original))))
    mutated = replaced(original, path, data.draw(TREES))
    text = yaml.safe_dump(mutated, allow_unicode=data.draw(st.booleans()))
    with folder({**BASE, name: text}) as root:
        problems = load_and_validate(root)
    assert_one_line_each(problems)


@FUZZ
@given(TREES, st.sampled_from(["settings", "roles", "accounts", "management_groups", None]))
def test_random_tree_as_a_file(tree: Any, section: str | None) -> None:
    document = tree if section is None else {section: tree}
    with folder({**BASE, "fuzz.yaml": yaml.safe_dump(document)}) as root:
        problems = load_and_validate(root)
    assert_one_line_each(problems)
