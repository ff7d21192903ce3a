"""Names from live systems and pull requests, made safe to print and to post.

Every name a plan or access report shows (users, groups, roles, DNs, the app label)
comes from a directory, Okta, AWS or a pull request: none of it is trusted. Printed
raw, a name holding ESC (`"\\x1bc"`) resets the reviewer's terminal, and a bidi
override makes a name read backwards; posted raw in a pull-request comment,
`@acme/admins` notifies a team and `<img …>` becomes HTML. So every renderer passes
names through this module, the one home of these rules:

- `printable`: C0, DEL and C1 control characters, the Unicode line and paragraph
  separators and the bidi controls are written as escapes (`\\x1b`, `\\u202e`),
  for every output format a person reads;
- `md_text`: literal text in markdown (`printable`, then every markdown- or
  HTML-significant character backslash-escaped, and a zero-width space after `@`:
  GitHub finds mentions in the rendered text, where a backslash no longer is);
- `md_code`: an inline code span that no backtick in the text can close;
- `json_safe`: JSON text with DEL and C1 characters as `\\uXXXX` escapes (JSON's
  encoder escapes only C0), which keeps the data exact.

Pure: no I/O.
"""

from __future__ import annotations

import re

__all__ = ["json_safe", "md_code", "md_text", "printable", "printable_many"]

# C0, DEL, C1; U+2028/2029 (line breaks to some viewers); bidi embeddings, overrides,
# isolates and marks (they reorder what a reviewer reads).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every control character written as an escape (`\\x1b`, `\\u202e`)."""
    return _UNSAFE.sub(_escape, text)


def printable_many(texts: list[str]) -> list[str]:
    """`printable` of each text; one pass over all of them when none needs escaping
    (the usual case, and a large plan holds hundreds of thousands of names)."""
    if _UNSAFE.search("".join(texts)) is None:
        return texts
    return [printable(text) for text in texts]


# Inline-significant characters (escaped text never starts a line, so line-start
# syntax such as `#`, `-` or `1.` cannot occur). `&` so no entity forms, `<` `>` so
# no HTML, `|` so a table cell never ends early.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|<>~&])")
_ZERO_WIDTH_SPACE = "\u200b"


def md_text(text: str) -> str:
    """Literal text in markdown (inline or in a table cell): no formatting, no HTML,
    no mention (`@` is followed by a zero-width space), no control characters."""
    escaped = _MD_SPECIAL.sub(r"\\\1", printable(text))
    return escaped.replace("@", "@" + _ZERO_WIDTH_SPACE)


def md_code(text: str, *, in_table: bool = False) -> str:
    """`text` as an inline code span (markdown processes nothing inside, GitHub finds
    no mention there). The fence is longer than any run of backticks in the text. In a
    table cell a `|` still ends the cell, even inside code, so it is escaped there."""
    text = printable(text)
    runs = [len(r) for r in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    if in_table:
        text = text.replace("|", "\\|")
    return f"{fence}{pad}{text}{pad}{fence}"


_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def json_safe(text: str) -> str:
    """JSON text (from `json.dumps(..., ensure_ascii=False)`) with the characters it
    leaves raw that a terminal or viewer would act on written as `\\uXXXX`. Such
    characters only occur inside JSON strings, where the escape means the same."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
