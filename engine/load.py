"""Read a desired-state directory: every `*.yaml` below it, merged, with line numbers.

Users split large orgs over many files and reviewers read errors in CI logs, so every
value keeps the file and line it came from. Loading happens in two passes: YAML syntax
and the JSON Schema are checked per file (all files, all errors at once); only a fully
schema-valid set of files is turned into the typed `spec.DesiredState`. Semantic checks
(references, naming rules, duplicates) are `validate`'s job.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from engine.model import DirectoryKind
from engine.spec import (
    AccountSpec,
    AwsSpec,
    DesiredState,
    DirectorySpec,
    GrantSpec,
    Location,
    ManagementGroupSpec,
    OktaSpec,
    Problem,
    RoleSpec,
    SafetySpec,
    SamlProviderSpec,
    Settings,
    Target,
)

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "desired-state.schema.json"

JsonPath = tuple[str | int, ...]


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


@dataclass
class _File:
    """One parsed file: plain data plus the line of every key and list item."""

    path: Path
    display: str
    data: Any
    lines: dict[JsonPath, int] = field(default_factory=dict)
    _below_entries: dict[JsonPath, list[tuple[JsonPath, int]]] | None = None

    def loc(self, path: JsonPath) -> Location:
        # Fall back to the nearest enclosing node that has a line.
        while path and path not in self.lines:
            path = path[:-1]
        return Location(file=self.display, line=self.lines.get(path, 1))

    def locs_below(self, entry: JsonPath) -> tuple[tuple[str, Location], ...]:
        """Every line below a top-level entry (`("accounts", 3)`) as dotted relative paths."""
        if self._below_entries is None:
            # One pass over all lines, so large files stay linear in their size.
            self._below_entries = {}
            for path, line in self.lines.items():
                if len(path) > 2:
                    self._below_entries.setdefault(path[:2], []).append((path, line))
        return tuple(
            (".".join(str(p) for p in path[2:]), Location(self.display, line))
            for path, line in self._below_entries.get(entry, ())
        )


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return Draft202012Validator(schema)


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _parse(path: Path, problems: list[Problem]) -> _File | None:
    display = _display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problems.append(Problem(Location(display, 1), f"not UTF-8 text: {exc.reason}"))
        return None
    loader = yaml.SafeLoader(text)
    parsed = _File(path=path, display=display, data=None)
    try:
        node = loader.get_single_node()
        # Constructing values can fail too (an unknown tag such as `!Ref`, `<<: 5`).
        parsed.data = {} if node is None else _to_python(node, (), parsed, loader, problems)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problems.append(Problem(Location(display, line), f"YAML syntax: {exc.problem}"))
        return None
    finally:
        loader.dispose()
    return parsed


def _to_python(
    node: yaml.Node, path: JsonPath, parsed: _File, loader: yaml.SafeLoader, problems: list[Problem]
) -> Any:
    parsed.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key, (key_node, value_node) in _mapping_pairs(node, parsed, loader, problems).items():
            parsed.lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _to_python(value_node, (*path, key), parsed, loader, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            parsed.lines[(*path, index)] = item.start_mark.line + 1
            items.append(_to_python(item, (*path, index), parsed, loader, problems))
        return items
    return loader.construct_object(node, deep=True)


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _mapping_pairs(
    node: yaml.MappingNode, parsed: _File, loader: yaml.SafeLoader, problems: list[Problem]
) -> dict[Any, tuple[yaml.Node, yaml.Node]]:
    """The effective key → (key node, value node) pairs of a mapping, merge keys resolved.

    As the YAML merge-key spec says: a key written in the mapping itself overrides a
    merged one (that is not a duplicate), and with `<<: [*a, *b]` the earlier mapping
    wins. (PyYAML's `flatten_mapping` lets the later one win, so it is not used.)
    """
    own: dict[Any, tuple[yaml.Node, yaml.Node]] = {}
    sources: list[yaml.MappingNode] = []
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE_TAG:
            merged = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in merged:
                if not isinstance(source, yaml.MappingNode):
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        "expected a mapping or list of mappings for merging, "
                        f"but found {source.id}",
                        source.start_mark,
                    )
                sources.append(source)
            continue
        key = loader.construct_object(key_node, deep=True)
        if key in own:
            first = own[key][0].start_mark.line + 1
            problems.append(
                Problem(
                    Location(parsed.display, key_node.start_mark.line + 1),
                    f"duplicate key {key!r} (first at line {first})",
                )
            )
            continue
        own[key] = (key_node, value_node)
    pairs: dict[Any, tuple[yaml.Node, yaml.Node]] = {}
    for source in sources:
        for key, pair in _mapping_pairs(source, parsed, loader, problems).items():
            pairs.setdefault(key, pair)
    pairs.update(own)
    return pairs


_UNEXPECTED = re.compile(r"'([^']+)' (?:was|were) unexpected")


def _schema_problems(parsed: _File) -> Iterator[Problem]:
    for error in sorted(_validator().iter_errors(parsed.data), key=lambda e: list(e.path)):
        yield _describe(error, parsed)


def _describe(error: ValidationError, parsed: _File) -> Problem:
    path: JsonPath = tuple(error.absolute_path)
    if error.context:
        # oneOf/anyOf: the branch that got furthest explains the problem best.
        deepest = best_match(error.context)
        path = (*path, *deepest.relative_path)
        message = deepest.message
    else:
        message = error.message
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        if extra:
            path = (*path, extra[0])
            message = f"unknown key {extra[0]!r}" + (
                f" (allowed: {', '.join(sorted(allowed))})" if allowed else ""
            )
    where = ".".join(str(p) for p in path) or "(top level)"
    if isinstance(error.instance, int) and path[-1:] == ("id",) and path[:1] == ("accounts",):
        message = (
            f"account id {error.instance} must be a quoted string of 12 digits "
            '(write id: "…"; unquoted, YAML reads a number and drops leading zeros)'
        )
    return Problem(parsed.loc(path), f"{where}: {message}")


def load(*, directory: Path) -> DesiredState:
    """Load and merge every `*.yaml` under `directory`; raise LoadError with all problems."""
    if not directory.is_dir():
        raise LoadError([Problem(Location(str(directory), 0), "no such desired-state directory")])
    paths = sorted(p for p in directory.rglob("*.yaml") if p.is_file())
    if not paths:
        raise LoadError([Problem(Location(str(directory), 0), "no *.yaml files found")])
    problems: list[Problem] = []
    files = [f for f in (_parse(p, problems) for p in paths) if f is not None]
    parse_failed = len(files) < len(paths) or bool(problems)
    for parsed in files:
        problems.extend(_schema_problems(parsed))
    if problems:
        best_effort = None
        if not parse_failed:
            best_effort = _build(directory=directory, files=files, problems=problems, lenient=True)
        raise LoadError(problems, partial=best_effort)
    state = _build(directory=directory, files=files, problems=problems)
    if problems or state is None:
        raise LoadError(problems)
    return state


def _build(
    *, directory: Path, files: list[_File], problems: list[Problem], lenient: bool = False
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
    try:
        settings = _settings(settings_files[0], problems)
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
        digest.update(parsed.display.encode() + b"\0" + parsed.path.read_bytes() + b"\0")
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
    )


# What building a typed entry from schema-invalid data raises: a missing key, a value of
# the wrong type or outside an enum.
_SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError)


def _settings(parsed: _File, problems: list[Problem]) -> Settings:
    raw: dict[str, Any] = parsed.data["settings"] or {}
    at = parsed.loc
    saml_raw = raw.get("saml_provider") or {}
    metadata: str | None = None
    metadata_file = saml_raw.get("metadata_file")
    if metadata_file:
        metadata_path = parsed.path.parent / metadata_file
        try:
            metadata = metadata_path.read_text(encoding="utf-8")
        except OSError as exc:
            problems.append(
                Problem(
                    at(("settings", "saml_provider", "metadata_file")),
                    f"cannot read SAML metadata file {metadata_file!r}: {exc.strerror}",
                )
            )
    defaults = OktaSpec()
    okta_raw = raw.get("okta") or {}
    directory_raw = raw.get("directory") or {}
    aws_raw = raw.get("aws") or {}
    tag = aws_raw.get("managed_tag") or {"managed-by": "okta-aws"}
    safety_raw = raw.get("safety") or {}
    value_locs = tuple(
        (".".join(str(p) for p in path[1:]), Location(parsed.display, line))
        for path, line in parsed.lines.items()
        if path[:1] == ("settings",) and len(path) > 1
    )
    return Settings(
        target=Target(raw.get("target", "sandbox")),
        saml_provider=SamlProviderSpec(
            name=saml_raw.get("name", "OKTA"),
            metadata_file=metadata_file,
            metadata=metadata,
            adopt=bool(saml_raw.get("adopt", False)),
            loc=at(("settings", "saml_provider")),
        ),
        aws=AwsSpec(
            access_role=aws_raw.get("access_role", AwsSpec.access_role),
            managed_tag=next(iter((str(k), str(v)) for k, v in tag.items())),
            concurrency=int(aws_raw.get("concurrency", AwsSpec.concurrency)),
        ),
        directory=DirectorySpec(
            kind=DirectoryKind(directory_raw.get("kind", "active_directory")),
            role_groups_ou=directory_raw.get("role_groups_ou") or "",
            management_groups_ou=directory_raw.get("management_groups_ou") or "",
            users_base=directory_raw.get("users_base") or "",
            loc=at(("settings", "directory")),
        ),
        role_group_name=raw.get("role_group_name") or Settings.role_group_name,
        role_group_description=raw.get("role_group_description"),
        okta=OktaSpec(
            app_label=okta_raw.get("app_label")
            if "app_id" in okta_raw
            else okta_raw.get("app_label", defaults.app_label),
            app_id=okta_raw.get("app_id"),
            app_filter=okta_raw.get("app_filter"),
            group_filter=okta_raw.get("group_filter"),
            role_value_pattern=okta_raw.get("role_value_pattern"),
            session_duration=int(okta_raw.get("session_duration", defaults.session_duration)),
            join_all_roles=bool(okta_raw.get("join_all_roles", False)),
            create_app=bool(okta_raw.get("create_app", False)),
            loc=at(("settings", "okta")),
        ),
        safety=SafetySpec(
            max_deletions=int(safety_raw.get("max_deletions", SafetySpec.max_deletions)),
            protected=frozenset(str(p) for p in safety_raw.get("protected") or ()),
            protected_locs=tuple(
                (str(p), at(("settings", "safety", "protected", i)))
                for i, p in enumerate(safety_raw.get("protected") or ())
            ),
        ),
        loc=at(("settings",)),
        value_locs=value_locs,
    )


def _role(parsed: _File, name: str, entry: dict[str, Any]) -> RoleSpec:
    return RoleSpec(
        name=name,
        managed_policies=tuple(entry.get("managed_policies") or ()),
        max_session_duration=int(entry.get("max_session_duration", 3600)),
        description=entry.get("description") or "",
        adopt=bool(entry.get("adopt", False)),
        loc=parsed.loc(("roles", name)),
        value_locs=parsed.locs_below(("roles", name)),
    )


def _account(parsed: _File, index: int, entry: dict[str, Any]) -> AccountSpec:
    path: JsonPath = ("accounts", index)
    roles = tuple(str(r) for r in entry.get("roles") or ())
    return AccountSpec(
        id=str(entry["id"]),
        alias=str(entry["alias"]),
        roles=roles,
        tags=tuple(sorted((str(k), str(v)) for k, v in (entry.get("tags") or {}).items())),
        adopt_roles=tuple(str(r) for r in entry.get("adopt_roles") or ()),
        loc=parsed.loc(path),
        role_locs=tuple(parsed.loc((*path, "roles", i)) for i in range(len(roles))),
        value_locs=parsed.locs_below(path),
    )


def _group(parsed: _File, index: int, entry: dict[str, Any]) -> ManagementGroupSpec:
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
    members = None if members_raw is None else tuple(str(m) for m in members_raw)
    return ManagementGroupSpec(
        name=str(entry["name"]),
        dn=entry.get("dn"),
        description=entry.get("description") or "",
        grants=tuple(grants),
        members=members,
        loc=parsed.loc(path),
        member_locs=tuple(parsed.loc((*path, "members", i)) for i in range(len(members or ()))),
        value_locs=value_locs,
    )
