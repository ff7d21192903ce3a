"""The project documents itself: what code and docs cite exists in this repository.

A newcomer who clones the project has only the repository. So a docstring or comment that
points at a file (`engine/sandbox/brownfield.py`, `docs/facts.md`) or at a section of the
docs (`docs/architecture.md §Ownership`) must point at something that is here, and the
links between the Markdown pages must resolve, anchors included. Design notes kept outside
the repository are never cited.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", ".sandbox", "node_modules", "__pycache__", ".mypy_cache"}
# Spelled apart so this file does not cite them itself.
OUTSIDE_NOTES = ("DESIGN" + ".md", "FACTS" + ".md")
PAGES = ("README.md", "docs/*.md", "tests/bench/README.md")

# A file name with an extension, optionally under one of the repository's top folders.
_REPO_PATH = re.compile(
    r"(?<![\w/.-])((?:engine|tests|docs|schemas|scripts)/[\w./{},*-]*"
    r"\.(?:py|md|json|yaml|yml|sh|txt|xml|toml))\b"
)
_MD_NAME = re.compile(r"(?<![\w/.-])([\w.-]+\.md)\b")
_DOC = re.compile(r"docs/[\w.-]+\.md")
_SECTION = re.compile(r"§\s*([^§]+)")
_LINK = re.compile(r"\]\(([^()\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_TEST_NAME = re.compile(r"\b(test_\w+)\b(?!\.py)")
_TEST_IN_FILE = re.compile(r"([\w.-]+\.py)::(test_\w+)")


def repo_files(root: Path = ROOT) -> Iterator[Path]:
    for path in root.rglob("*"):
        if path.is_file() and not SKIP_DIRS & set(path.relative_to(root).parts):
            yield path


def code_files(root: Path = ROOT) -> list[Path]:
    """Python under engine/ and tests/ (this file aside: it names what must not be cited)."""
    here = Path(__file__).resolve()
    found = [p for top in ("engine", "tests") for p in sorted((root / top).rglob("*.py"))]
    return [p for p in found if p.resolve() != here and not SKIP_DIRS & set(p.parts)]


def flatten(text: str) -> str:
    """Text with line breaks, indentation and comment markers folded into single spaces,
    so a citation wrapped over two lines of a docstring or comment reads as one."""
    return re.sub(r"[ \t]*\n[ \t]*(?:#[ \t]*)?", " ", text)


def headings(markdown: str) -> list[str]:
    """A page's headings, code blocks aside, with inline code marks removed."""
    return [h.replace("`", "") for h in _HEADING.findall(_FENCE.sub("", markdown))]


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def missing_paths(text: str, *, root: Path = ROOT) -> list[str]:
    """Repository paths named in `text` that do not exist (globs must match a file)."""
    missing = []
    for name in sorted(set(_REPO_PATH.findall(text))):
        if any(c in name for c in "*{"):
            if not any(root.glob(name.replace("{", "").replace("}", ""))):
                missing.append(name)
        elif not (root / name).exists():
            missing.append(name)
    return missing


def missing_md_names(text: str, *, names: set[str]) -> list[str]:
    """`*.md` names in `text` (with or without a folder) that name no file of the repo."""
    return sorted({m for m in _MD_NAME.findall(text) if m not in names})


def bad_sections(text: str, *, root: Path = ROOT) -> list[str]:
    """`docs/<page>.md §<section>` citations whose page or section does not exist.

    A `§` belongs to the last docs page named before it (`docs/a.md §X, §Y`), and its
    text must start with one of that page's headings (case aside)."""
    text = flatten(text)
    problems = []
    for match in _SECTION.finditer(text):
        pages = _DOC.findall(text, 0, match.start())
        if not pages:
            problems.append(f"§{match.group(1)[:40]!r} names no docs/ page before it")
            continue
        page = root / pages[-1]
        if not page.exists():
            problems.append(f"{pages[-1]} does not exist")
            continue
        cited = match.group(1).lower()
        if not any(cited.startswith(h.lower()) for h in headings(page.read_text("utf-8"))):
            problems.append(f"{pages[-1]} has no section {match.group(1)[:40].strip()!r}")
    return problems


def broken_links(page: Path, *, root: Path = ROOT) -> list[str]:
    """Relative links of a Markdown page to files (and their #anchors) that do not exist."""
    problems = []
    text = page.read_text("utf-8")
    for target in _LINK.findall(_FENCE.sub("", text)):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path_part, _, fragment = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists() or root.resolve() not in [linked, *linked.parents]:
            problems.append(f"{target}: no such file in the repository")
        elif (
            fragment
            and linked.suffix == ".md"
            and fragment not in {anchor(h) for h in headings(linked.read_text("utf-8"))}
        ):
            problems.append(f"{target}: {linked.name} has no heading #{fragment}")
    return problems


def defined_tests(root: Path = ROOT) -> dict[str, set[str]]:
    """File name → the test functions it defines, for every test module under tests/."""
    found: dict[str, set[str]] = {}
    for path in (root / "tests").rglob("test_*.py"):
        found.setdefault(path.name, set()).update(
            re.findall(r"^\s*(?:async )?def (test_\w+)", path.read_text("utf-8"), re.MULTILINE)
        )
    return found


def missing_tests(text: str, *, tests: dict[str, set[str]]) -> list[str]:
    """Tests a page names as evidence (`test_x`, `file.py::test_x`) that do not exist."""
    every = set().union(*tests.values()) if tests else set()
    problems = {f"{name}: no such test" for name in _TEST_NAME.findall(text) if name not in every}
    problems |= {
        f"{file}::{name}: no such test in {file}"
        for file, name in _TEST_IN_FILE.findall(text)
        if name not in tests.get(file, set())
    }
    return sorted(problems)


def pages(root: Path = ROOT) -> list[Path]:
    return sorted({p for pattern in PAGES for p in root.glob(pattern)})


CODE = code_files()
TESTS = defined_tests()
MD_NAMES = {p.name for p in repo_files() if p.suffix == ".md"}


def test_the_docs_exist() -> None:
    assert {"README.md", "architecture.md", "cli.md", "facts.md"} <= {
        p.name for p in (ROOT / "docs").glob("*.md")
    }


@pytest.mark.parametrize("path", CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_cites_only_files_of_the_repository(path: Path) -> None:
    text = path.read_text("utf-8")
    assert [n for n in OUTSIDE_NOTES if n in text] == []
    assert missing_paths(text) == []
    assert missing_md_names(text, names=MD_NAMES) == []
    assert bad_sections(text) == []


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_link_only_to_what_exists(page: Path) -> None:
    text = page.read_text("utf-8")
    assert [n for n in OUTSIDE_NOTES if n in text] == []
    assert broken_links(page) == []
    assert bad_sections(text) == []
    assert missing_tests(text, tests=TESTS) == []


# --- the checkers can fail -------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "real.py").write_text("")
    (tmp_path / "docs" / "a.md").write_text(
        "# A\n\n## Ownership\n\n## Environment for `--target live`\n\n```\n# not a heading\n```\n"
    )
    return tmp_path


def test_a_wrapped_citation_of_an_existing_section_passes(repo: Path) -> None:
    text = '"""See docs/a.md\n    §Ownership and §Environment for --target live."""'
    assert bad_sections(text, root=repo) == []
    assert bad_sections("# docs/a.md §Owner-\n# ship", root=repo) == [
        "docs/a.md has no section 'Owner- ship'"
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("docs/a.md §Nowhere", "docs/a.md has no section 'Nowhere'"),
        ("docs/b.md §Ownership", "docs/b.md does not exist"),
        ("§Ownership", "§'Ownership' names no docs/ page before it"),
        ("docs/a.md §not a heading", "docs/a.md has no section 'not a heading'"),
    ],
)
def test_a_bad_section_citation_is_found(repo: Path, text: str, problem: str) -> None:
    assert bad_sections(text, root=repo) == [problem]


def test_missing_paths_and_md_names_are_found(repo: Path) -> None:
    text = "engine/real.py engine/gone.py docs/a.md docs/*.md tests/x/*.json NOTES.md a.md"
    assert missing_paths(text, root=repo) == ["engine/gone.py", "tests/x/*.json"]
    assert missing_md_names(text, names={"a.md"}) == ["NOTES.md"]


def test_tests_named_as_evidence_must_exist() -> None:
    tests = {"test_a.py": {"test_one"}, "test_b.py": {"test_two"}}
    text = "test_one, test_a.py::test_one, test_b.py::test_one, test_gone and test_a.py"
    assert missing_tests(text, tests=tests) == [
        "test_b.py::test_one: no such test in test_b.py",
        "test_gone: no such test",
    ]


def test_broken_links_and_anchors_are_found(repo: Path) -> None:
    page = repo / "docs" / "index.md"
    page.write_text(
        "[a](a.md) [own](a.md#ownership) [env](a.md#environment-for---target-live) "
        "[web](https://example.com/x.md) [gone](gone.md) [bad](a.md#nowhere) "
        "[out](../../etc/passwd)\n"
    )
    assert broken_links(page, root=repo) == [
        "gone.md: no such file in the repository",
        "a.md#nowhere: a.md has no heading #nowhere",
        "../../etc/passwd: no such file in the repository",
    ]
