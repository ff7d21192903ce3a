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

import hashlib
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache, partial
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from engine.load_yaml import MAX_FILE_BYTES, ParsedFile, brief, parse_file, printable
from engine.saml_metadata import check_metadata
from engine.spec import (
    AccountSpec,
    DesiredState,
    GrantSpec,
    Location,
    ManagementGroupSpec,
    Problem,
    RoleSpec,
    Settings,
    Severity,
)
from engine.spec_field import decode

# Shipped in the package (an installed okta-aws has no repository checkout around it);
# schemas/ at the top of the repository is the same file, for editors.
SCHEMA_PATH = resources.files("engine").joinpath("schemas", "desired-state.schema.json")

JsonPath = tuple[str | int, ...]
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


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return Draft202012Validator(schema)


def _display_path(path: Path) -> str:
    """`path` relative to the working directory, for messages: its own name, not a
    symlink's target (which may be anywhere), control characters escaped."""
    shown = Path(os.path.realpath(path.parent)) / path.name
    try:
        return printable(str(shown.relative_to(Path.cwd().resolve())), limit=300)
    except ValueError:
        return printable(str(path), limit=300)


_UNEXPECTED = re.compile(r"'([^']+)' (?:was|were) unexpected")


def _schema_problems(parsed: ParsedFile) -> Iterator[Problem]:
    for error in sorted(_validator().iter_errors(parsed.data), key=lambda e: list(e.path)):
        yield _describe(error, parsed)


def _describe(error: ValidationError, parsed: ParsedFile) -> Problem:
    path: JsonPath = tuple(error.absolute_path)
    instance = error.instance
    if error.context:
        # oneOf/anyOf: the branch that got furthest explains the problem best.
        deepest = best_match(error.context)
        path = (*path, *deepest.relative_path)
        message = deepest.message
        instance = deepest.instance
    else:
        message = error.message
    message = _without_content(message, instance, top_level=not path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        if extra:
            path = (*path, extra[0])
            message = f"unknown key {brief(extra[0])}" + (
                f" (allowed: {', '.join(sorted(allowed))})" if allowed else ""
            )
    where = ".".join(printable(str(p), 60) for p in path) or "(top level)"
    if isinstance(error.instance, int) and path[-1:] == ("id",) and path[:1] == ("accounts",):
        message = (
            f"account id {error.instance} must be a quoted string of 12 digits "
            '(write id: "…"; unquoted, YAML reads a number and drops leading zeros)'
        )
    return Problem(parsed.loc(path), f"{where}: {message}")


def _without_content(message: str, instance: Any, *, top_level: bool) -> str:
    """jsonschema's message with the offending value shown only if it is short.

    jsonschema starts most messages with the repr of the whole value ("{…} is not of
    type 'array'"): for a list, a mapping, a long string, or a file whose top level is
    not a mapping at all, that would print the file. Those are described instead.
    """
    shown = repr(instance)
    short = brief(instance, limit=0 if top_level else 60)
    if shown == short:
        return message
    if message.startswith(shown):
        return short + message[len(shown) :]
    return message.replace(shown, short)


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
    roles: list[RoleSpec] = []
    accounts: list[AccountSpec] = []
    groups: list[ManagementGroupSpec] = []

    def collect(into: list[Any], build: Callable[[], Any]) -> None:
        try:
            into.append(build())
        except _SHAPE_ERRORS:
            if not lenient:
                raise

    for parsed in files:
        roles_raw = parsed.data.get("roles") or {}
        accounts_raw = parsed.data.get("accounts") or []
        groups_raw = parsed.data.get("management_groups") or []
        if lenient:  # a section of the wrong type: the schema said so, nothing to build
            roles_raw = roles_raw if isinstance(roles_raw, dict) else {}
            accounts_raw = accounts_raw if isinstance(accounts_raw, list) else []
            groups_raw = groups_raw if isinstance(groups_raw, list) else []
        for name, entry in roles_raw.items():
            collect(roles, partial(_role, parsed, str(name), entry or {}))
        for index, entry in enumerate(accounts_raw):
            collect(accounts, partial(_account, parsed, index, entry))
        for index, entry in enumerate(groups_raw):
            collect(groups, partial(_group, parsed, index, entry))
    digest = hashlib.sha256()
    for parsed in files:
        digest.update(parsed.display.encode() + b"\0" + parsed.raw + b"\0")
    if settings.saml_provider.metadata is not None:
        digest.update(settings.saml_provider.metadata.encode())
    return DesiredState(
        root=directory,
        settings=settings,
        roles=tuple(roles),
        accounts=tuple(accounts),
        management_groups=tuple(groups),
        files=tuple(f.display for f in files),
        digest=digest.hexdigest(),
        notes=tuple(sorted(notes)),
    )


# What building a typed entry from schema-invalid data raises: a missing key, a value of
# the wrong type or outside an enum.
_SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, OverflowError)


# Schema-valid data has the right types, so these return the value itself; in a lenient
# build a value of the wrong type (reported by the schema) becomes the default instead of
# reaching the semantic checks as something other than its declared type.
def _text(value: Any, default: _T) -> str | _T:
    return value if isinstance(value, str) else default


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _integer(value: Any, default: int) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # JSON Schema's integer includes 7200.0
    return value if isinstance(value, int) and not isinstance(value, bool) else default


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
    metadata_file = _text(saml_raw.get("metadata_file"), None)
    metadata = (
        _metadata(parsed, metadata_file, problems, root=root, now=now, notes=notes)
        if metadata_file
        else None
    )
    overrides: dict[tuple[str | int, ...], Any] = {
        ("settings", "saml_provider", "metadata"): metadata,
        ("settings", "value_locs"): tuple(
            (".".join(str(p) for p in path[1:]), Location(parsed.display, line))
            for path, line in parsed.lines.items()
            if path[:1] == ("settings",) and len(path) > 1
        ),
    }
    if "app_id" in okta_raw and "app_label" not in okta_raw:
        overrides[("settings", "okta", "app_label")] = None  # named by id alone
    settings = decode(
        Settings, raw, path=("settings",), loc_at=parsed.loc, lenient=lenient, overrides=overrides
    )
    written = _mapping(raw.get("safety")).get("protected")
    protected_locs = tuple(
        (name, parsed.loc(("settings", "safety", "protected", i)))
        for i, name in enumerate(written if isinstance(written, list) else ())
        if name in settings.safety.protected
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


def _role(parsed: ParsedFile, name: str, entry: dict[str, Any]) -> RoleSpec:
    return RoleSpec(
        name=name,
        managed_policies=_texts(entry.get("managed_policies")),
        max_session_duration=_integer(entry.get("max_session_duration"), 3600),
        description=_text(entry.get("description"), ""),
        adopt=bool(entry.get("adopt", False)),
        iam_name=_text(entry.get("iam_name"), None),
        loc=parsed.loc(("roles", name)),
        value_locs=parsed.locs_below(("roles", name)),
    )


def _account(parsed: ParsedFile, index: int, entry: dict[str, Any]) -> AccountSpec:
    path: JsonPath = ("accounts", index)
    roles = _texts(entry.get("roles"))
    return AccountSpec(
        id=str(entry["id"]),
        alias=str(entry["alias"]),
        roles=roles,
        tags=tuple(sorted((str(k), str(v)) for k, v in (entry.get("tags") or {}).items())),
        adopt_roles=_texts(entry.get("adopt_roles")),
        loc=parsed.loc(path),
        role_locs=tuple(parsed.loc((*path, "roles", i)) for i in range(len(roles))),
        value_locs=parsed.locs_below(path),
    )


def _group(parsed: ParsedFile, index: int, entry: dict[str, Any]) -> ManagementGroupSpec:
    path: JsonPath = ("management_groups", index)
    value_locs = parsed.locs_below(path)
    grant_locs: dict[str, list[tuple[str, Location]]] = {}
    for dotted, loc in value_locs:
        parts = dotted.split(".", 2)
        if len(parts) == 3 and parts[0] == "grants":
            grant_locs.setdefault(parts[1], []).append((parts[2], loc))
    grants = []
    for g_index, grant in enumerate(entry.get("grants") or ()):
        tags = grant.get("account_tags")
        grants.append(
            GrantSpec(
                role=str(grant["role"]),
                account=str(grant["account"]) if "account" in grant else None,
                account_tags=(
                    tuple(sorted((str(k), str(v)) for k, v in tags.items()))
                    if tags is not None
                    else None
                ),
                loc=parsed.loc((*path, "grants", g_index)),
                value_locs=tuple(grant_locs.get(str(g_index), ())),
            )
        )
    members_raw = entry.get("members")
    members = _texts(members_raw) if isinstance(members_raw, list) else None
    return ManagementGroupSpec(
        name=str(entry["name"]),
        dn=_text(entry.get("dn"), None),
        description=_text(entry.get("description"), ""),
        grants=tuple(grants),
        members=members,
        loc=parsed.loc(path),
        member_locs=tuple(parsed.loc((*path, "members", i)) for i in range(len(members or ()))),
        value_locs=value_locs,
    )
