"""Skip the mutants of a cosmic-ray session that cannot tell anything (`scripts/mutate.sh`).

Every module under test starts with `from __future__ import annotations`, so a mutant
inside a type annotation (`str | None` → `str - None`) changes nothing Python runs:
it always survives and costs a full test run. Those are marked skipped, as are whatever
sits under `if TYPE_CHECKING:` and the mutants of a keyword-only marker `*`.

With `--sample K` only every K-th of the remaining mutants is kept, in source order so
the same ones each time: a deterministic sample for modules too big to run whole.
`--offset J` keeps the J-th of each K instead of the first, so runs with offsets
0..K-1 together cover every mutant. Prints the counts for the record.
"""

from __future__ import annotations

import argparse
import ast
import io
import itertools
import sqlite3
import sys
import tokenize
from pathlib import Path


def _annotation_spans(tree: ast.Module) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) positions, as (row, column), of every annotation and TYPE_CHECKING block."""
    nodes: list[ast.expr | ast.stmt] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            nodes.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns:
            nodes.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            nodes.append(node.annotation)
        elif (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Name)
            and node.test.id == "TYPE_CHECKING"
        ):
            nodes.extend(node.body)
    return [
        ((n.lineno, n.col_offset), (n.end_lineno or n.lineno, n.end_col_offset or 0)) for n in nodes
    ]


def _keyword_only_markers(source: str) -> set[tuple[int, int]]:
    """Positions of the bare `*` that makes the following parameters keyword-only: not
    an operator, but cosmic-ray turns it into `/` (positional-only before it), which
    changes nothing for callers that pass those parameters by keyword, as ours do."""
    tokens = [
        t
        for t in tokenize.generate_tokens(io.StringIO(source).readline)
        if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT)
    ]
    return {
        tok.start
        for tok, nxt in itertools.pairwise(tokens)
        if tok.string == "*" and nxt.string in (",", ")")
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("session")
    parser.add_argument("module")
    parser.add_argument("--sample", type=int, default=1)
    parser.add_argument("--offset", type=int, default=0, help="which of the K: 0..K-1")
    args = parser.parse_args(argv)
    source = Path(args.module).read_text(encoding="utf-8")
    spans = _annotation_spans(ast.parse(source))
    markers = _keyword_only_markers(source)
    db = sqlite3.connect(args.session)
    rows = db.execute(
        "SELECT job_id, start_pos_row, start_pos_col, operator_name, occurrence"
        " FROM mutation_specs WHERE job_id NOT IN (SELECT job_id FROM work_results)"
        " ORDER BY start_pos_row, start_pos_col, operator_name, occurrence"
    ).fetchall()
    skip: list[tuple[str, str]] = []
    kept = 0
    for job_id, row, col, operator, _occurrence in rows:
        if any(start <= (row, col) < end for start, end in spans):
            skip.append((job_id, "annotation (not evaluated at run time)"))
            continue
        if operator.startswith("core/ReplaceBinaryOperator_Mul_") and (row, col) in markers:
            skip.append((job_id, "keyword-only marker `*` (not an operator)"))
            continue
        if kept % args.sample != args.offset:
            skip.append((job_id, f"not in the 1-in-{args.sample} sample"))
        kept += 1
    db.executemany(
        "INSERT INTO work_results (worker_outcome, output, test_outcome, diff, job_id)"
        " VALUES ('SKIPPED', ?, NULL, NULL, ?)",  # an Enum column holds the member's name
        [(why, job_id) for job_id, why in skip],
    )
    db.commit()
    annotations = sum(1 for _, why in skip if why.startswith("annotation"))
    stars = sum(1 for _, why in skip if why.startswith("keyword-only"))
    print(
        f"{args.module}: {len(rows)} mutants, {annotations} in annotations and {stars} on"
        " keyword-only markers skipped,"
        f" {len(rows) - len(skip)} to run (sample 1 in {args.sample})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
