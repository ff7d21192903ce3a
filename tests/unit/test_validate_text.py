"""Names and texts of the desired state: printable, trimmed, NFC, and look-alikes warned.

The rules are checked one string at a time (table), then as properties: whatever text a
pull request puts in a name, `validate` never raises and never prints a control
character raw.
"""

from __future__ import annotations

import dataclasses
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.escape import printable
from engine.spec import ManagementGroupSpec, Severity
from engine.validate import validate
from engine.validate_text import skeleton, text_problem
from tests.unit.worlds import small_state


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("Admins", None),
        ("DevOps Sys Admins", None),
        ("Café Team", None),  # composed: NFC
        ("", None),
        ("\x1bc", "control character(s) \\x1b:"),
        ("a\x00b", "control character(s) \\x00:"),
        ("tab\there", "control character(s) \\x09:"),
        ("del\x7f", "control character(s) \\x7f:"),
        ("c1\x85\x9f", "control character(s) \\x85 \\x9f:"),
        ("line\u2028sep", "control character(s) \\u2028:"),
        ("bidi\u202eoverride", "control character(s) \\u202e:"),
        ("last\n", "use '>-' or a plain string"),
        (" lead", "leading or trailing whitespace"),
        ("trail ", "leading or trailing whitespace"),
        ("nbsp\u00a0", "leading or trailing whitespace"),
        ("Cafe\u0301", "not in Unicode NFC form"),
    ],
)
def test_text_rules(value: str, fragment: str | None) -> None:
    why = text_problem(value)
    if fragment is None:
        assert why is None
    else:
        assert why is not None and fragment in why
        assert printable(why) == why  # the message itself never carries the character


@pytest.mark.parametrize(
    ("a", "b", "alike"),
    [
        ("Admins", "\u0410dmins", True),  # Cyrillic A
        ("alice", "\u0430lice", True),  # Cyrillic a
        ("ops", "\u03bfps", True),  # Greek omicron
        ("prod", "pr\u043ed", True),  # Cyrillic o
        ("Admins", "ADMINS", True),  # case alone (duplicates are reported elsewhere)
        ("\uff21dmins", "Admins", True),  # fullwidth A (NFKC)
        ("Admins", "Admims", False),
        ("alice", "alicia", False),
    ],
)
def test_skeletons(a: str, b: str, alike: bool) -> None:
    assert (skeleton(a) == skeleton(b)) is alike


NAMES = st.text(min_size=1, max_size=20)


@given(value=st.text(max_size=30))
def test_a_text_with_no_problem_is_printable_trimmed_and_nfc(value: str) -> None:
    why = text_problem(value)
    if why is None:
        assert printable(value) == value
        assert value == value.strip()
        assert unicodedata.is_normalized("NFC", value)
    else:
        assert printable(why) == why


@given(name=NAMES, login=NAMES, description=st.text(max_size=20))
def test_validate_never_raises_nor_prints_a_control_character(
    name: str, login: str, description: str
) -> None:
    state = small_state()
    group = ManagementGroupSpec(name=name, description=description, members=(login,))
    state = dataclasses.replace(state, management_groups=(*state.management_groups, group))
    problems = validate(state=state)
    for problem in problems:
        assert printable(str(problem)) == str(problem)
    if any(text_problem(v) for v in (name, login, description)):
        assert any(p.severity is Severity.ERROR for p in problems)
