"""Read a desired-state directory: every `*.yaml` and `*.yml` below it, merged, with lines.

Users split large orgs over many files and reviewers read errors in CI logs, so every
value keeps the file and line it came from. Loading happens in two passes: YAML syntax
and the JSON Schema are checked per file (all files, all errors at once); only a fully
schema-valid set of files is turned into the typed `spec.DesiredState`. Semantic checks
(references, naming rules, duplicates) are `validate`'s job.

The files come with a pull request, so nothing in them is trusted (docs/security.md):
every file read, the desired-state files and `saml_provider.metadata_file`, must lie
inside the desired-state folder once symlinks are resolved, be a regular file and be at
most `MAX_FILE_BYTES` (10 MiB); the YAML parser's own bounds are in `load_yaml`; the SAML
metadata is checked by `saml_metadata` before anything can upload it; and no message
prints what a file holds beyond a short value on the line it names.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from engine.codec import CodecError, field_types
from engine.load_schema import SCHEMA_PATH as SCHEMA_PATH  # the schema the files meet
from engine.load_schema import schema_problems as _schema_problems
from engine.load_yaml import MAX_FILE_BYTES, JsonPath, ParsedFile, brief, parse_file, printable
from engine.saml_metadata import check_metadata
from engine.spec import DesiredState, Location, Problem, Settings, Severity
from engine.spec_field import decode, section_class, yaml_field

YAML_SUFFIXES = (".yaml", ".yml")
_T = TypeVar("_T")


class LoadError(Exception):
    """The desired state could not be loaded; `problems` says every reason.

    `partial` is the state built from what could be built despite schema problems
    (entries that cannot be built left out), so that the semantic checks can still run
    and a user sees every problem in one go rather than a round of fixes per layer;
    None when even the settings could not be built, or the files not parsed.
    """

    def __init__(self, problems: list[Problem], *, partial: DesiredState | None = None) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        # A node reached twice through a YAML alias reports its problems twice: once is enough.
        self.problems = sorted(set(problems))
        self.partial = partial


def _display_path(path: Path) -> str:
    """`path` relative to the working directory, for messages: its own name, not a
    symlink's target (which may be anywhere), control characters escaped."""
    shown = Path(os.path.realpath(path.parent)) / path.name
    try:
        return printable(str(shown.relative_to(Path.cwd().resolve())), limit=300)
    except ValueError:
        return printable(str(path), limit=300)


def load(*, directory: Path, now: datetime | None = None) -> DesiredState:
    """Load and merge every `*.yaml` and `*.yml` under `directory`; raise LoadError with
    all problems.

    Every file read must resolve inside `directory` and be a regular file of at most
    `MAX_FILE_BYTES` (10 MiB); YAML alias expansion and nesting are bounded
    (`load_yaml.MAX_ALIAS_NODES`, `load_yaml.MAX_DEPTH`). `now` (default: the clock)
    judges the SAML signing certificate's expiry.
    """
    if not directory.is_dir():
        raise LoadError([Problem(Location(str(directory), 0), "no such desired-state directory")])
    problems: list[Problem] = []
    root = Path(os.path.realpath(directory))
    paths = _desired_files(directory, root, problems)
    if not paths and not problems:
        raise LoadError([Problem(Location(str(directory), 0), "no *.yaml or *.yml files found")])
    files: list[ParsedFile] = []
    for path in paths:
        display = _display_path(path)
        raw = _read_confined(
            path, root=root, loc=Location(display, 1), label="this file", problems=problems
        )
        parsed = None
        if raw is not None:
            parsed = parse_file(path=path, display=display, raw=raw, problems=problems)
        if parsed is not None:
            files.append(parsed)
    parse_failed = len(files) < len(paths) or bool(problems)
    for parsed in files:
        problems.extend(_schema_problems(parsed))
    when = now or datetime.now(UTC)
    if problems:
        best_effort = None
        if not parse_failed:
            best_effort = _build(
                directory=directory, files=files, problems=problems, now=when, lenient=True
            )
        raise LoadError(problems, partial=best_effort)
    state = _build(directory=directory, files=files, problems=problems, now=when)
    if problems or state is None:
        raise LoadError(problems)
    return state


def _desired_files(directory: Path, root: Path, problems: list[Problem]) -> list[Path]:
    """Every `*.yaml`/`*.yml` below `directory`, sorted; symlinked directories are not
    followed (one pointing inside is read at its real place; one pointing outside is an
    error, as are directories that cannot be listed)."""
    found: list[Path] = []

    def unlistable(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else directory
        problems.append(
            Problem(
                Location(_display_path(where), 0),
                f"cannot list this directory: {exc.strerror}",
            )
        )

    for dirpath, dirnames, filenames in os.walk(directory, onerror=unlistable):
        base = Path(dirpath)
        for name in dirnames:
            link = base / name
            if link.is_symlink() and not Path(os.path.realpath(link)).is_relative_to(root):
                problems.append(
                    Problem(
                        Location(_display_path(link), 0),
                        "symlink to a directory outside the desired-state folder: refused "
                        "(move its files inside the folder)",
                    )
                )
        found += [base / name for name in filenames if name.endswith(YAML_SUFFIXES)]
    return sorted(found)


def _read_confined(
    path: Path, *, root: Path, loc: Location, label: str, problems: list[Problem]
) -> bytes | None:
    """The bytes of `path` if it resolves inside `root` and is a regular file of at most
    `MAX_FILE_BYTES`; else None with the reason at `loc`."""
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(root):
        problems.append(
            Problem(
                loc,
                f"{label} lies outside the desired-state folder {_display_path(root)} "
                "once symlinks are resolved: refused (keep every file inside the folder)",
            )
        )
        return None
    limit = f"over the {MAX_FILE_BYTES // 2**20} MiB limit of a desired-state file"
    try:
        info = real.stat()
        if not stat.S_ISREG(info.st_mode):
            problems.append(Problem(loc, f"{label} is not a regular file"))
            return None
        if info.st_size > MAX_FILE_BYTES:
            problems.append(Problem(loc, f"{label} is {info.st_size:,} bytes, {limit}"))
            return None
        with real.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        problems.append(Problem(loc, f"cannot read {label}: {exc.strerror or type(exc).__name__}"))
        return None
    if len(raw) > MAX_FILE_BYTES:  # grew since stat
        problems.append(Problem(loc, f"{label} is more than {MAX_FILE_BYTES:,} bytes, {limit}"))
        return None
    return raw


def _build(
    *,
    directory: Path,
    files: list[ParsedFile],
    problems: list[Problem],
    now: datetime,
    lenient: bool = False,
) -> DesiredState | None:
    """The typed state. `lenient`: the files broke the schema, so an entry whose shape
    cannot be built is left out (the schema problems already name it) instead of
    failing; None when the settings themselves cannot be built."""
    if lenient:
        files = [f for f in files if isinstance(f.data, dict)]
    settings_files = [f for f in files if "settings" in f.data]
    if not settings_files:
        problems.append(Problem(Location(_display_path(directory), 0), "no file holds `settings:`"))
        return None
    for extra in settings_files[1:]:
        problems.append(
            Problem(
                extra.loc(("settings",)),
                f"`settings:` given again (already in {settings_files[0].display}); "
                "exactly one file holds settings",
            )
        )
    notes: list[Problem] = []
    try:
        settings = _settings(
            settings_files[0],
            problems,
            root=Path(os.path.realpath(directory)),
            now=now,
            notes=notes,
            lenient=lenient,
        )
    except _SHAPE_ERRORS:
        if not lenient:
            raise
        return None
    entries: dict[str, list[Any]] = {name: [] for name in _ENTRY_SECTIONS}
    for parsed in files:
        for name, (entry_class, _keyed) in _ENTRY_SECTIONS.items():
            for path, raw in _entries_of(parsed, name):
                try:
                    entries[name].append(_decode(entry_class, parsed, path, raw, lenient))
                except _SHAPE_ERRORS:
                    if not lenient:
                        raise
    digest = hashlib.sha256()
    for parsed in files:
        digest.update(parsed.display.encode() + b"\0" + parsed.raw + b"\0")
    if settings.saml_provider.metadata is not None:
        digest.update(settings.saml_provider.metadata.encode())
    return DesiredState(
        root=directory,
        settings=settings,
        **{name: tuple(found) for name, found in entries.items()},
        files=tuple(f.display for f in files),
        digest=digest.hexdigest(),
        notes=tuple(sorted(notes)),
    )


# The sections of entries (`roles`, `accounts`, `management_groups`): YAML key → the spec
# of one entry, and whether the section is a mapping whose keys name its entries (the
# role catalogue) rather than a list.
_ENTRY_SECTIONS: dict[str, tuple[type, bool]] = {
    f.name: (spec, meta.schema.get("type") == "object")
    for f in dataclasses.fields(DesiredState)
    if (meta := yaml_field(f)) is not None
    and (spec := section_class(field_types(DesiredState)[f.name])) not in (None, Settings)
}

# What decoding an entry from schema-invalid data raises: the codec's error (a missing
# required value, a value of the wrong type, an enum outside its values).
_SHAPE_ERRORS = (CodecError,)


def _entries_of(parsed: ParsedFile, section: str) -> Iterator[tuple[JsonPath, Any]]:
    """(path, YAML value) of each entry of `section` in one file; a section of the wrong
    type (a schema problem already) has none."""
    raw = parsed.data.get(section)
    if _ENTRY_SECTIONS[section][1]:
        # `Admin:` with nothing after it is an entry with every default.
        for key, entry in _mapping(raw).items():
            yield (section, key), {} if entry is None else entry
    elif isinstance(raw, list):
        yield from (((section, index), entry) for index, entry in enumerate(raw))


def _decode(cls: type[_T], parsed: ParsedFile, path: JsonPath, raw: Any, lenient: bool) -> _T:
    """One entry through the typed spec (`spec_field.decode`), with the line of every value;
    a catalogue entry's name is its key."""
    overrides = {(*path, "name"): path[1]} if _ENTRY_SECTIONS[str(path[0])][1] else {}
    return decode(
        cls,
        raw,
        path=path,
        loc_at=parsed.loc,
        locs_below=parsed.locs_below,
        lenient=lenient,
        overrides=overrides,
    )


def _settings(
    parsed: ParsedFile,
    problems: list[Problem],
    *,
    root: Path,
    now: datetime,
    notes: list[Problem],
    lenient: bool,
) -> Settings:
    """`settings:` decoded through the typed spec (`spec_field.decode`): each value of
    its field's type, each section at its own line, defaults from the dataclasses."""
    raw = _mapping(parsed.data["settings"])
    saml_raw = _mapping(raw.get("saml_provider"))
    okta_raw = _mapping(raw.get("okta"))
    metadata_file = saml_raw.get("metadata_file")
    metadata_file = metadata_file if isinstance(metadata_file, str) else None
    metadata = (
        _metadata(parsed, metadata_file, problems, root=root, now=now, notes=notes)
        if metadata_file
        else None
    )
    overrides: dict[tuple[str | int, ...], Any] = {
        ("settings", "saml_provider", "metadata"): metadata,
    }
    if "app_id" in okta_raw and "app_label" not in okta_raw:
        overrides[("settings", "okta", "app_label")] = None  # named by id alone
    settings = decode(
        Settings,
        raw,
        path=("settings",),
        loc_at=parsed.loc,
        locs_below=parsed.locs_below,
        lenient=lenient,
        overrides=overrides,
    )
    written = _mapping(raw.get("safety")).get("protected")
    protected_locs = tuple(
        (name, parsed.loc(("settings", "safety", "protected", i)))
        for i, name in enumerate(written if isinstance(written, list) else ())
        if isinstance(name, str) and name in settings.safety.protected
    )
    return replace(
        settings,
        # An empty template (a schema error) would only repeat that error in validate.
        role_group_name=settings.role_group_name or Settings.role_group_name,
        safety=replace(settings.safety, protected_locs=protected_locs),
    )


def _metadata(
    parsed: ParsedFile,
    metadata_file: str,
    problems: list[Problem],
    *,
    root: Path,
    now: datetime,
    notes: list[Problem],
) -> str | None:
    """The SAML metadata document named by the settings, read confined and checked;
    its errors go to `problems`, its warnings and information to `notes`."""
    loc = parsed.loc(("settings", "saml_provider", "metadata_file"))
    label = f"SAML metadata file {brief(metadata_file)}"
    path = parsed.path.parent / metadata_file
    if "\0" in metadata_file:
        problems.append(Problem(loc, f"{label} is not a valid path (it holds a NUL character)"))
        return None
    raw = _read_confined(path, root=root, loc=loc, label=label, problems=problems)
    if raw is None:
        return None
    shown = _display_path(path)
    for finding in check_metadata(document=raw, now=now).findings:
        where = Location(shown, finding.line) if finding.line else loc
        problem = Problem(where, finding.message, finding.severity)
        (problems if finding.severity is Severity.ERROR else notes).append(problem)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None  # check_metadata said so


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
