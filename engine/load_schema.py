"""The JSON Schema check of one desired-state file, each problem as one line at its line.

The schema (generated from `engine.spec`, `make schemas`) is the first check a file
meets, before anything is built from it. jsonschema's own messages start with the whole
offending value; a file comes with a pull request and lands in a CI log, so values are
shown only when short, described otherwise ("a mapping of 3 key(s)"), and the common
mistakes (an unknown key, an unquoted account id) get a message that says what to do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from engine.load_yaml import JsonPath, ParsedFile, brief, printable
from engine.spec import Problem

# Shipped in the package (an installed okta-aws has no repository checkout around it);
# schemas/ at the top of the repository is the same file, for editors.
SCHEMA_PATH = resources.files("engine").joinpath("schemas", "desired-state.schema.json")


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return Draft202012Validator(schema)


def schema_problems(parsed: ParsedFile) -> Iterator[Problem]:
    """Every JSON Schema problem of one parsed file, one line each at its file:line."""
    for error in sorted(_validator().iter_errors(parsed.data), key=lambda e: list(e.path)):
        yield _describe(error, parsed)


def _describe(error: ValidationError, parsed: ParsedFile) -> Problem:
    path: JsonPath = tuple(error.absolute_path)
    instance = error.instance
    if error.context:
        # oneOf/anyOf: the branch that got furthest explains the problem best.
        deepest = best_match(error.context)
        path = (*path, *deepest.relative_path)
        message = deepest.message
        instance = deepest.instance
    else:
        message = error.message
    message = _without_content(message, instance, top_level=not path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        if extra:
            path = (*path, extra[0])
            message = f"unknown key {brief(extra[0])}" + (
                f" (allowed: {', '.join(sorted(allowed))})" if allowed else ""
            )
    where = ".".join(printable(str(p), 60) for p in path) or "(top level)"
    if isinstance(error.instance, int) and path[-1:] == ("id",) and path[:1] == ("accounts",):
        message = (
            f"account id {error.instance} must be a quoted string of 12 digits "
            '(write id: "…"; unquoted, YAML reads a number and drops leading zeros)'
        )
    return Problem(parsed.loc(path), f"{where}: {message}")


def _without_content(message: str, instance: Any, *, top_level: bool) -> str:
    """jsonschema's message with the offending value shown only if it is short.

    jsonschema starts most messages with the repr of the whole value ("{…} is not of
    type 'array'"): for a list, a mapping, a long string, or a file whose top level is
    not a mapping at all, that would print the file. Those are described instead.
    """
    shown = repr(instance)
    short = brief(instance, limit=0 if top_level else 60)
    if shown == short:
        return message
    if message.startswith(shown):
        return short + message[len(shown) :]
    return message.replace(shown, short)
