"""Okta's `search`/`filter` expression language (a SCIM 2.0 filter subset), parsed and evaluated.

Clients page large orgs through `search=type eq "APP_GROUP" and profile.name sw "aws#"`,
so the emulator must filter exactly like Okta or page counts lie. Hand-rolled because
Okta's dialect is small (attribute paths, eq/ne/sw/co/gt/ge/lt/le/pr, and/or/not,
parentheses) and the available SCIM libraries target SQL generation. String comparisons
are case-insensitive, as Okta's are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lparen>\() | (?P<rparen>\)) |
        (?P<string>"(?:[^"\\]|\\.)*") |
        (?P<number>-?\d+(?:\.\d+)?) |
        (?P<word>[A-Za-z_][\w.:$-]*)
    )""",
    re.VERBOSE,
)


class FilterSyntaxError(ValueError):
    """The expression is not a filter Okta would accept."""


class Operator(StrEnum):
    EQ = "eq"
    NE = "ne"
    SW = "sw"
    CO = "co"
    GT = "gt"
    GE = "ge"
    LT = "lt"
    LE = "le"
    PR = "pr"


@dataclass(frozen=True)
class Compare:
    attribute: str
    operator: Operator
    value: Any = None


@dataclass(frozen=True)
class Logical:
    operator: str  # "and" | "or"
    left: Expression
    right: Expression


@dataclass(frozen=True)
class Not:
    operand: Expression


Expression = Compare | Logical | Not


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise FilterSyntaxError(f"unexpected character at {position}: {text[position:]!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FilterSyntaxError("unexpected end of expression")
        self.index += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "word" and token[1].lower() == word:
            self.index += 1
            return True
        return False

    def expression(self) -> Expression:
        node = self.conjunction()
        while self.keyword("or"):
            node = Logical("or", node, self.conjunction())
        return node

    def conjunction(self) -> Expression:
        node = self.factor()
        while self.keyword("and"):
            node = Logical("and", node, self.factor())
        return node

    def factor(self) -> Expression:
        if self.keyword("not"):
            return Not(self.factor())
        kind, text = self.take()
        if kind == "lparen":
            node = self.expression()
            if self.take()[0] != "rparen":
                raise FilterSyntaxError("expected ')'")
            return node
        if kind != "word":
            raise FilterSyntaxError(f"expected an attribute, got {text!r}")
        op_kind, op_text = self.take()
        try:
            operator = Operator(op_text.lower())
        except ValueError:
            raise FilterSyntaxError(f"unknown operator {op_text!r}") from None
        if op_kind != "word":
            raise FilterSyntaxError(f"unknown operator {op_text!r}")
        if operator is Operator.PR:
            return Compare(text, operator)
        return Compare(text, operator, self.literal())

    def literal(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            try:
                return json.loads(text)
            except ValueError:
                raise FilterSyntaxError(f"invalid string literal {text}") from None
        if kind == "number":
            return float(text) if "." in text else int(text)
        if kind == "word" and text.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text.lower()]
        raise FilterSyntaxError(f"expected a value, got {text!r}")


def parse_filter(text: str) -> Expression:
    parser = _Parser(_tokenize(text))
    if parser.peek() is None:
        raise FilterSyntaxError("empty expression")
    node = parser.expression()
    if parser.peek() is not None:
        raise FilterSyntaxError(f"unexpected {parser.peek()[1]!r}")  # type: ignore[index]
    return node


def _normalize(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _compare(actual: Any, operator: Operator, expected: Any) -> bool:
    if operator is Operator.PR:
        return actual is not None and actual != ""
    if isinstance(actual, list):
        return any(_compare(item, operator, expected) for item in actual)
    left, right = _normalize(actual), _normalize(expected)
    if operator is Operator.EQ:
        return bool(left == right)
    if operator is Operator.NE:
        return bool(left != right)
    if left is None or right is None:
        return False
    if operator is Operator.SW:
        return isinstance(left, str) and isinstance(right, str) and left.startswith(right)
    if operator is Operator.CO:
        return isinstance(left, str) and isinstance(right, str) and right in left
    try:
        if operator is Operator.GT:
            return bool(left > right)
        if operator is Operator.GE:
            return bool(left >= right)
        if operator is Operator.LT:
            return bool(left < right)
        return bool(left <= right)
    except TypeError:
        return False


def evaluate(expression: Expression, resolve: Callable[[str], Any]) -> bool:
    """`resolve` maps an attribute path (e.g. `profile.name`) to the object's value."""
    if isinstance(expression, Compare):
        return _compare(resolve(expression.attribute), expression.operator, expression.value)
    if isinstance(expression, Not):
        return not evaluate(expression.operand, resolve)
    if expression.operator == "and":
        return evaluate(expression.left, resolve) and evaluate(expression.right, resolve)
    return evaluate(expression.left, resolve) or evaluate(expression.right, resolve)


def matcher(expression: Expression) -> Callable[[Callable[[str], Any]], bool]:
    """`evaluate` bound to `expression`, with a set lookup for the shape clients send
    most (`a eq "x" or a eq "y" or …`, hundreds of names): the same answer as
    `evaluate`, without walking a chain of hundreds of comparisons for every object."""
    terms = _eq_terms(expression)
    if terms is None:
        return lambda resolve: evaluate(expression, resolve)
    attribute, values = terms

    def matches(resolve: Callable[[str], Any]) -> bool:
        actual = resolve(attribute)
        if isinstance(actual, list):
            return any(_normalize(item) in values for item in actual)
        return _normalize(actual) in values

    return matches


def _eq_terms(expression: Expression) -> tuple[str, frozenset[Any]] | None:
    """(attribute, normalized values) if `expression` is an `or` of string `eq`s on one
    attribute, else None."""
    attribute: str | None = None
    values: set[Any] = set()
    stack = [expression]
    while stack:
        node = stack.pop()
        if isinstance(node, Logical) and node.operator == "or":
            stack += (node.left, node.right)
            continue
        if not (
            isinstance(node, Compare)
            and node.operator is Operator.EQ
            and isinstance(node.value, str)
        ):
            return None
        if attribute not in (None, node.attribute):
            return None
        attribute = node.attribute
        values.add(_normalize(node.value))
    assert attribute is not None
    return attribute, frozenset(values)


def attributes(expression: Expression) -> set[str]:
    """Every attribute path the expression names, to reject unsupported ones up front."""
    if isinstance(expression, Compare):
        return {expression.attribute}
    if isinstance(expression, Not):
        return attributes(expression.operand)
    return attributes(expression.left) | attributes(expression.right)


def resolve_path(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
