"""The one escaper for names in output: control characters, markdown, mentions, JSON.

Markdown is checked by rendering it (markdown-it, CommonMark plus GFM tables) and
looking at the HTML: no tag from a name, no table cell split by one, no mention where
GitHub would find one (in the rendered text outside code, where a backslash before
`@` no longer is).
"""

from __future__ import annotations

import json
import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from engine.escape import json_safe, md_code, md_text, printable, printable_many

# How GitHub finds a user or team mention in rendered text (html-pipeline's pattern).
GITHUB_MENTION = re.compile(r"(?:^|\W)@[a-z0-9]", re.I)
BIDI = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
UNSAFE = {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))} | set(BIDI) | {"\u2028", "\u2029"}


def gfm(text: str) -> str:
    html: str = MarkdownIt("commonmark").enable("table").render(text)
    return html


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1bc", "\\x1bc"),  # ESC c: resets a terminal
        ("a\x00b", "a\\x00b"),
        ("\x01\x7f", "\\x01\\x7f"),
        ("admins\n", "admins\\x0a"),
        ("tab\there", "tab\\x09here"),
        ("\x9b31m", "\\x9b31m"),  # C1 CSI
        ("adm\u202enimda", "adm\\u202enimda"),  # right-to-left override
        ("a\u2028b", "a\\u2028b"),
        ("Zoë Ops / 運用", "Zoë Ops / 運用"),  # ordinary text is left alone
        ("CN=a\\,b", "CN=a\\,b"),
    ],
)
def test_printable_escapes_control_characters(raw: str, shown: str) -> None:
    assert printable(raw) == shown


@given(st.text())
def test_printable_leaves_no_control_character(text: str) -> None:
    out = printable(text)
    assert not set(out) & UNSAFE
    assert all(unicodedata.category(c) != "Cc" for c in out)
    assert printable(out) == out  # escaping twice changes nothing more


@pytest.mark.parametrize(
    ("name", "must_not_render"),
    [
        ("@acme/admins", None),
        ("team @octocat", None),
        ("<img src=x onerror=alert(1)>", "<img"),
        ("<script>alert(1)</script>", "<script"),
        ("a|b", None),
        ("`code` and ``more``", "<code>"),
        ("line\nbreak", "<br"),
        ("[link](http://x) <http://y>", "<a "),
        ("_it_ *x* **b**", "<em>"),
        ("&#64;acme &commat;x", None),
    ],
)
def test_md_text_is_literal_in_a_table_cell_and_in_text(
    name: str, must_not_render: str | None
) -> None:
    table = f"| User | Via |\n| --- | --- |\n| {md_text(name)} | x |\n"
    for html in (gfm(table), gfm(f"- **{md_text(name)}** gains it\n")):
        if must_not_render is not None:
            assert must_not_render not in html
        assert not GITHUB_MENTION.search(re.sub(r"<code>.*?</code>", "", html, flags=re.S))
        assert "@" not in html or "@\u200b" in html
        assert "\n" not in md_text(name)
    cells = re.findall(r"<td>(.*?)</td>", gfm(table), flags=re.S)
    assert len(cells) == 2 and cells[1] == "x"  # a `|` in the name never splits the row


def test_md_text_keeps_the_name_readable() -> None:
    html = gfm(md_text("aws#prod_pay#Admin#1*2"))
    assert re.sub(r"<[^>]+>", "", html).strip() == "aws#prod_pay#Admin#1*2"


@pytest.mark.parametrize(
    "name", ["plain", "`tick`", "``double``", "a ``` fence", "`", "x|y", "@team", "<b>"]
)
def test_md_code_is_one_code_span_holding_the_name(name: str) -> None:
    html = gfm(f"see {md_code(name)} here\n")
    spans = re.findall(r"<code>(.*?)</code>", html, flags=re.S)
    assert len(spans) == 1
    assert spans[0].replace("&lt;", "<").replace("&gt;", ">") == name


def test_md_code_in_a_table_escapes_the_pipe() -> None:
    table = f"| A | B |\n| --- | --- |\n| {md_code('x|y', in_table=True)} | z |\n"
    cells = re.findall(r"<td>(.*?)</td>", gfm(table), flags=re.S)
    assert cells == ["<code>x|y</code>", "z"]


def test_md_code_escapes_control_characters() -> None:
    assert md_code("\x1bc\n") == "`\\x1bc\\x0a`"


@given(st.recursive(st.text() | st.none(), lambda inner: st.lists(inner, max_size=3)))
def test_json_safe_keeps_the_data_and_drops_raw_c1_and_del(value: object) -> None:
    text = json_safe(json.dumps(value, ensure_ascii=False))
    assert json.loads(text) == value
    assert not set(text) & UNSAFE


@given(st.lists(st.text(max_size=5), max_size=6))
def test_printable_many_is_printable_of_each(texts: list[str]) -> None:
    assert printable_many(texts) == [printable(t) for t in texts]
