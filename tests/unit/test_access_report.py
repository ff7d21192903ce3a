"""The access report: filters, order, and the exact bytes of each machine format."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from markdown_it import MarkdownIt

from engine.access_report import AccessRow, access_rows, render_access
from engine.model import Entitlement

P, D = "111111111111", "222222222222"
ALIASES = {P: "prod-pay", D: "dev-pay"}
TITLE = "Access (desired state, target sandbox)"

ENTITLEMENTS = frozenset(
    {
        Entitlement("bob", D, "ReadOnly", frozenset({"Ops", "Finance"})),
        Entitlement("alice", P, "ReadOnly", frozenset({"Ops"})),
        Entitlement("alice", P, "Admin", frozenset({"Ops"})),
        Entitlement("alice", "333333333333", "Admin", frozenset({"aws#x#Admin#333333333333"})),
    }
)


def rows(**filters: str) -> list[AccessRow]:
    return access_rows(entitlements=ENTITLEMENTS, aliases=ALIASES, **filters)


def test_rows_are_sorted_and_complete() -> None:
    assert rows() == [
        AccessRow("alice", P, "Admin", "prod-pay", f"arn:aws:iam::{P}:role/Admin", ("Ops",)),
        AccessRow("alice", P, "ReadOnly", "prod-pay", f"arn:aws:iam::{P}:role/ReadOnly", ("Ops",)),
        AccessRow(
            "alice",
            "333333333333",
            "Admin",
            "",
            "arn:aws:iam::333333333333:role/Admin",
            ("aws#x#Admin#333333333333",),
        ),
        AccessRow(
            "bob", D, "ReadOnly", "dev-pay", f"arn:aws:iam::{D}:role/ReadOnly", ("Finance", "Ops")
        ),
    ]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (
            {"user": "alice"},
            {("alice", P, "Admin"), ("alice", P, "ReadOnly"), ("alice", "333333333333", "Admin")},
        ),
        (
            {"user": "ALICE"},
            {("alice", P, "Admin"), ("alice", P, "ReadOnly"), ("alice", "333333333333", "Admin")},
        ),
        ({"account": "prod-pay"}, {("alice", P, "Admin"), ("alice", P, "ReadOnly")}),
        ({"account": P}, {("alice", P, "Admin"), ("alice", P, "ReadOnly")}),
        ({"account": "333333333333"}, {("alice", "333333333333", "Admin")}),
        ({"user": "bob", "account": "dev-pay"}, {("bob", D, "ReadOnly")}),
        ({"user": "bob", "account": "prod-pay"}, set()),
        ({"user": "nobody"}, set()),
        ({"account": "pay"}, set()),  # no partial matches
    ],
)
def test_filters(filters: dict[str, str], expected: set[tuple[str, str, str]]) -> None:
    assert {(r.user, r.account_id, r.role) for r in rows(**filters)} == expected


def test_csv_golden() -> None:
    assert render_access(rows=rows(), fmt="csv", title=TITLE) == (
        "user,account_id,account_alias,role,role_arn,via\n"
        "alice,111111111111,prod-pay,Admin,arn:aws:iam::111111111111:role/Admin,Ops\n"
        "alice,111111111111,prod-pay,ReadOnly,arn:aws:iam::111111111111:role/ReadOnly,Ops\n"
        "alice,333333333333,,Admin,arn:aws:iam::333333333333:role/Admin,aws#x#Admin#333333333333\n"
        "bob,222222222222,dev-pay,ReadOnly,arn:aws:iam::222222222222:role/ReadOnly,Finance;Ops\n"
    )


def test_csv_quotes_awkward_values() -> None:
    awkward = [AccessRow("u", P, "R", "a", "arn", ('Team "A", B', "C"))]
    text = render_access(rows=awkward, fmt="csv", title=TITLE)
    assert list(csv.reader(io.StringIO(text)))[1][-1] == 'Team "A", B;C'


def test_json_golden() -> None:
    text = render_access(rows=rows(user="bob"), fmt="json", title=TITLE)
    assert text == (
        "[\n"
        "  {\n"
        '    "user": "bob",\n'
        '    "account_id": "222222222222",\n'
        '    "account_alias": "dev-pay",\n'
        '    "role": "ReadOnly",\n'
        '    "role_arn": "arn:aws:iam::222222222222:role/ReadOnly",\n'
        '    "via": [\n'
        '      "Finance",\n'
        '      "Ops"\n'
        "    ]\n"
        "  }\n"
        "]\n"
    )
    full = json.loads(render_access(rows=rows(), fmt="json", title=TITLE))
    assert [list(o) for o in full] == [
        ["user", "account_id", "account_alias", "role", "role_arn", "via"]
    ] * 4


def test_markdown_golden() -> None:
    assert render_access(rows=rows(), fmt="markdown", title=TITLE) == (
        "### Access (desired state, target sandbox)\n"
        "\n"
        "| User | Account | Role | Via |\n"
        "| --- | --- | --- | --- |\n"
        "| alice | prod-pay (111111111111) | Admin | Ops |\n"
        "| alice | prod-pay (111111111111) | ReadOnly | Ops |\n"
        "| alice | 333333333333 | Admin | aws#x#Admin#333333333333 |\n"
        "| bob | dev-pay (222222222222) | ReadOnly | Finance, Ops |\n"
        "\n"
        "4 entitlements.\n"
    )


def test_markdown_escapes_table_syntax() -> None:
    row = AccessRow("u", P, "R", "a", "arn", ("A|B",))
    text = render_access(rows=[row], fmt="markdown", title="T")
    assert "| u | a (111111111111) | R | A\\|B |" in text.splitlines()


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_empty_report_says_so_and_names_its_target(fmt: str) -> None:
    text = render_access(rows=[], fmt=fmt, title=TITLE)
    assert TITLE in text and "No access." in text


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("csv", "user,account_id,account_alias,role,role_arn,via\n"), ("json", "[]\n")],
)
def test_empty_machine_formats_stay_parseable(fmt: str, expected: str) -> None:
    assert render_access(rows=[], fmt=fmt, title=TITLE) == expected


def test_table_names_its_target_and_holds_every_row() -> None:
    text = render_access(rows=rows(), fmt="table", title=TITLE, width=120)
    lines = text.splitlines()
    assert lines[0] == TITLE
    assert "\x1b[" not in text  # no colour codes unless asked for
    assert all(len(line) <= 120 for line in lines)
    body = [line for line in lines if line.startswith("│")]
    cells = [[c.strip() for c in line.strip("│").split("│")] for line in body]
    assert cells == [
        ["alice", "prod-pay (111111111111)", "Admin", "Ops"],
        ["alice", "prod-pay (111111111111)", "ReadOnly", "Ops"],
        ["alice", "333333333333", "Admin", "aws#x#Admin#333333333333"],
        ["bob", "dev-pay (222222222222)", "ReadOnly", "Finance, Ops"],
    ]
    assert lines[-1] == "4 entitlements."


def test_table_prints_names_literally() -> None:
    # Group names are data, not rich markup.
    row = AccessRow("u", P, "R", "", "arn", ("[bold]Team[/bold]",))
    assert "[bold]Team[/bold]" in render_access(rows=[row], fmt="table", title="[red]T")


def test_table_colour_on_request() -> None:
    assert "\x1b[" in render_access(rows=rows(), fmt="table", title=TITLE, color=True)


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="yaml"):
        render_access(rows=rows(), fmt="yaml", title=TITLE)


# Names from live systems: a terminal reset, a C1 CSI, a right-to-left override, a
# newline, a team mention, HTML, a table pipe and backticks.
HOSTILE = "\x1bc\x9b31m\u202e @acme/admins <img src=x onerror=alert(1)> a|b ``x``\nend"
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]")  # all but the line feed


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "markdown"])
def test_no_format_prints_a_control_character(fmt: str) -> None:
    hostile = [AccessRow(HOSTILE, P, "Admin", HOSTILE, "arn", (HOSTILE,))]
    text = render_access(rows=hostile, fmt=fmt, title=HOSTILE)
    assert not CONTROL.search(text)
    assert "\\x1bc" in text or "\\u001bc" in text


def test_json_keeps_the_names_exact() -> None:
    hostile = [AccessRow(HOSTILE, P, "Admin", "", "arn", (HOSTILE,))]
    [row] = json.loads(render_access(rows=hostile, fmt="json", title=""))
    assert row["user"] == HOSTILE and row["via"] == [HOSTILE]


def test_markdown_names_mention_nobody_and_stay_in_their_cell() -> None:
    hostile = [AccessRow(HOSTILE, P, "Admin", "", "arn", ("@acme/admins", "Ops|Dev"))]
    text = render_access(rows=hostile, fmt="markdown", title="Access @acme <b>")
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert "<img" not in html and "<b>" not in html
    assert not re.search(r"(?:^|\W)@[a-z0-9]", re.sub(r"<code>.*?</code>", "", html), re.I)
    [cells] = [
        re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>.*?</tr>", html, re.S)[1:]
    ]
    assert len(cells) == 4
    assert cells[3] == "@\u200bacme/admins, Ops|Dev"
