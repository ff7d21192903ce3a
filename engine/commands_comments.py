"""`plan --out-dir DIR [--comment-limit N]` and `plan --summary-file FILE`: the files.

`render_comments` cuts the plan into comments; this writes them where a CI step posts
them from (`plan-comment-<k>.md`, k = 1, 2, …) and the job-summary variant.
The step posts every `plan-comment-<k>.md` it finds from 1 on, so a previous run's parts
beyond this run's count are removed: they would be posted as if they were this plan's.
Flags are checked before anything is read (a typo costs no live read); the one check
that needs the plan, a limit too small for it, comes after, as one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from engine.plan import Plan
from engine.render_comments import (
    COMMENT_LIMITS,
    DEFAULT_COMMENT_LIMIT,
    CommentLimitTooSmallError,
    comment_parts,
    job_summary,
)
from engine.render_parts import summary_line

PART_FILE = "plan-comment-{k}.md"
_PART_NAME = re.compile(r"plan-comment-([1-9][0-9]*)\.md")


def parse_comment_limit(value: str) -> int:
    """`--comment-limit`: characters (a whole number ≥ 1), or `github` / `gitlab`."""
    if value in COMMENT_LIMITS:
        return COMMENT_LIMITS[value]
    try:
        number = int(value.replace(",", "").replace("_", ""))
    except ValueError:
        names = " or ".join(COMMENT_LIMITS)
        raise ValueError(f"{value!r} is neither a number of characters nor {names}") from None
    if number < 1:
        raise ValueError(f"{value} is not a positive number of characters")
    return number


@dataclass(frozen=True)
class CommentFlags:
    """`plan`'s comment flags: `--out-dir`, `--comment-limit`, `--summary-file`."""

    out_dir: Path | None = None
    limit: int | None = None  # None: not given (DEFAULT_COMMENT_LIMIT)
    summary_file: Path | None = None


def check_comment_flags(flags: CommentFlags, *, fmt: str, err: TextIO) -> bool:
    """Whether the comment flags make sense together and their paths can be written;
    else the reason is printed, one line."""
    out_dir, comment_limit, summary_file = flags.out_dir, flags.limit, flags.summary_file
    problem = None
    if comment_limit is not None and out_dir is None:
        problem = "--comment-limit needs --out-dir DIR, where the parts are written"
    elif out_dir is not None and fmt != "markdown":
        problem = f"--out-dir writes markdown comments: add --format markdown (not {fmt})"
    elif out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        problem = f"--out-dir {out_dir} is a file, not a folder"
    elif out_dir is not None and not out_dir.parent.is_dir():
        problem = f"--out-dir {out_dir}: the folder {out_dir.parent} does not exist"
    elif summary_file is not None and summary_file.is_dir():
        problem = f"--summary-file {summary_file} is a folder, not a file"
    elif summary_file is not None and not summary_file.parent.is_dir():
        problem = f"--summary-file {summary_file}: the folder {summary_file.parent} does not exist"
    if problem:
        print(f"error: {problem}", file=err)
    return problem is None


def write_comment_outputs(flags: CommentFlags, *, plan: Plan, out: TextIO, err: TextIO) -> bool:
    """Write the parts into `--out-dir` and the job summary into `--summary-file` (each
    when given); say on `out` what was written. False, with the reason printed, when
    the limit is too small for this plan or a file cannot be written."""
    out_dir, summary_file = flags.out_dir, flags.summary_file
    limit = DEFAULT_COMMENT_LIMIT if flags.limit is None else flags.limit
    try:
        parts = comment_parts(plan=plan, limit=limit) if out_dir is not None else []
        summary = job_summary(plan=plan) if summary_file is not None else None
    except CommentLimitTooSmallError as exc:
        print(f"error: {exc}", file=err)
        return False
    try:
        if out_dir is not None:
            out_dir.mkdir(exist_ok=True)
            for k, text in enumerate(parts, start=1):
                (out_dir / PART_FILE.format(k=k)).write_text(text, encoding="utf-8")
            for stale in out_dir.iterdir():
                match = _PART_NAME.fullmatch(stale.name)
                if match and int(match.group(1)) > len(parts) and stale.is_file():
                    stale.unlink()
        if summary_file is not None and summary is not None:
            # Appended, as steps write `$GITHUB_STEP_SUMMARY` (one file per step there).
            with summary_file.open("a", encoding="utf-8") as stream:
                stream.write(summary)
    except OSError as exc:
        where = exc.filename or out_dir or summary_file
        print(f"error: cannot write {where} ({exc.strerror or exc})", file=err)
        return False
    if out_dir is not None:
        s = "" if len(parts) == 1 else "s"
        print(
            f"{summary_line(plan)} Wrote {len(parts)} comment{s} of at most {limit:,} "
            f"characters to {out_dir}/ ({PART_FILE.format(k=1)}"
            + (f" … {PART_FILE.format(k=len(parts))})." if len(parts) > 1 else ")."),
            file=out,
        )
    if summary_file is not None:
        print(f"Added the job summary to {summary_file}.", file=out)
    return True
