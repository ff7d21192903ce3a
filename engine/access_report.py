"""The `okta-aws access` report: entitlements as rows, in four formats.

Auditors ask "who can assume what, and why?" and want the answer in whatever their
tooling eats: a table for a terminal, CSV for a spreadsheet, JSON for scripts, a
markdown table for a ticket or pull request. Rows are sorted so two runs over the same
world produce byte-identical output (diffable in git). CSV and JSON carry exactly the
documented columns and nothing else, so parsers never trip over a title line; the
human formats (table, markdown) start with the title, which names the target.

Names come from live systems: every format escapes control characters (JSON with its
own `\\uXXXX` escapes, so the data stays exact), and markdown escapes formatting, HTML
and mentions, with the same escaper as the plan (`engine.escape`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from rich.console import Console
from rich.table import Table

from engine.escape import json_safe, md_text, printable
from engine.model import Entitlement
from engine.naming import role_arn

CSV_COLUMNS = ("user", "account_id", "account_alias", "role", "role_arn", "via")


class AccessFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"
    MARKDOWN = "markdown"


@dataclass(frozen=True, order=True)
class AccessRow:
    """One (user, account, role) a user may assume; `via` sorted."""

    user: str
    account_id: str
    role: str
    account_alias: str = ""
    role_arn: str = ""
    via: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, str | list[str]]:
        return {
            "user": self.user,
            "account_id": self.account_id,
            "account_alias": self.account_alias,
            "role": self.role,
            "role_arn": self.role_arn,
            "via": list(self.via),
        }

    @property
    def account_label(self) -> str:
        return (
            f"{self.account_alias} ({self.account_id})" if self.account_alias else self.account_id
        )


def access_rows(
    *,
    entitlements: Iterable[Entitlement],
    aliases: Mapping[str, str],
    user: str | None = None,
    account: str | None = None,
) -> list[AccessRow]:
    """Rows for the report, sorted by (user, account id, role).

    `user` matches a login case-insensitively (logins are lower-cased); `account`
    matches an account id or its alias.
    """
    wanted_user = user.lower() if user is not None else None
    rows = [
        AccessRow(
            user=e.user,
            account_id=e.account_id,
            role=e.role,
            account_alias=aliases.get(e.account_id, ""),
            role_arn=role_arn(account_id=e.account_id, role=e.role),
            via=tuple(sorted(e.via)),
        )
        for e in entitlements
        if (wanted_user is None or e.user == wanted_user)
        and (account is None or account in (e.account_id, aliases.get(e.account_id)))
    ]
    return sorted(rows)


def render_access(
    *, rows: Iterable[AccessRow], fmt: str, title: str, width: int = 120, color: bool = False
) -> str:
    """The report in `fmt` (table, csv, json, markdown), ending with a newline.

    `title` (which should name the target) heads the table and markdown outputs; CSV
    and JSON hold the rows only. `width` and `color` apply to the table: colour only
    when the caller writes to a terminal.
    """
    rows = list(rows)
    match AccessFormat(fmt):
        case AccessFormat.CSV:
            return _csv(rows)
        case AccessFormat.JSON:
            return json_safe(
                json.dumps([r.as_dict() for r in rows], indent=2, ensure_ascii=False) + "\n"
            )
        case AccessFormat.MARKDOWN:
            return _markdown(rows, title)
        case AccessFormat.TABLE:
            return _table(rows, title, width=width, color=color)


def _csv(rows: list[AccessRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        cells = (row.user, row.account_id, row.account_alias, row.role, row.role_arn)
        writer.writerow([printable(c) for c in (*cells, ";".join(row.via))])
    return buffer.getvalue()


def _markdown(rows: list[AccessRow], title: str) -> str:
    lines = [f"### {md_text(title)}", ""]
    if not rows:
        lines.append("_No access._")
        return "\n".join(lines) + "\n"
    lines += ["| User | Account | Role | Via |", "| --- | --- | --- | --- |"]
    for row in rows:
        cells = (row.user, row.account_label, row.role, ", ".join(row.via))
        lines.append("| " + " | ".join(md_text(c) for c in cells) + " |")
    lines += ["", f"{len(rows)} entitlement{'' if len(rows) == 1 else 's'}."]
    return "\n".join(lines) + "\n"


def _table(rows: list[AccessRow], title: str, *, width: int, color: bool) -> str:
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        no_color=not color,
        highlight=False,
        emoji=False,
        markup=False,
    )
    console.print(printable(title))
    if not rows:
        console.print("No access.")
        return buffer.getvalue()
    table = Table(show_lines=False)
    for header in ("User", "Account", "Role", "Via"):
        # Long values wrap rather than being cut: a truncated role name misleads.
        table.add_column(header, overflow="fold")
    for row in rows:
        cells = (row.user, row.account_label, row.role, ", ".join(row.via))
        table.add_row(*(printable(c) for c in cells))
    console.print(table)
    console.print(f"{len(rows)} entitlement{'' if len(rows) == 1 else 's'}.")
    return buffer.getvalue()
