"""Live snapshot files: the normalized live world as JSON, and its fingerprint.

A pull request from a fork must not get cloud credentials, so a scheduled job publishes
what it read (`okta-aws snapshot --out FILE`) and PR checks plan against that file
(`plan --live-snapshot FILE`); tests keep worlds as fixtures the same way. The same
encoding gives the fingerprint a saved plan carries, so `apply --plan` can tell whether
the world moved since the plan was made.

The codec (`engine.codec`) is generic over the frozen dataclasses of `engine.model`
(fields and type hints drive it), so a field added to the model is serialized without
touching this module. A world's resource mappings are
written as lists of resources, sorted by natural key, and rebuilt with `World.build`:
keys are derived from the resources, never trusted from the file. Decoding is strict
(unknown or mistyped fields are errors naming their JSON path) because snapshots are
files people publish, download and occasionally edit by hand.

Fingerprint choice: it covers the whole normalized world, server ids and memberships
included. A plan's changes carry the live objects they were computed from (ids and
all: an Okta group deleted and recreated under the same name has a new id the old
plan would not address), and its access delta is computed from memberships, so
anything coarser would let `apply --plan` execute against a world nobody reviewed.
The cost: any churn in what was read (a user joining a group) makes a saved plan
stale, and `plan` must simply be run again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

from engine.codec import CodecError, field_types, from_jsonable, to_jsonable
from engine.model import World, canonical_json, sha256_hex

SNAPSHOT_FORMAT_VERSION = 1
SNAPSHOT_KIND = "okta-aws/live-snapshot"

__all__ = [
    "SNAPSHOT_FORMAT_VERSION",
    "Snapshot",
    "SnapshotError",
    "fingerprint",
    "load_snapshot",
    "read_snapshot",
    "world_from_json",
    "world_to_json",
    "write_snapshot",
]


# A snapshot that does not decode fails with the codec's error, whose message names
# the JSON path; callers catch it under this name.
SnapshotError = CodecError


def _fail(where: str, message: str) -> SnapshotError:
    return SnapshotError(f"{where}: {message}")


# --- Worlds ----------------------------------------------------------------------------


def _resource_type(tp: Any) -> type | None:
    """The resource class of a `Mapping[key, Resource]` field of World, else None."""
    args = get_args(tp)
    if get_origin(tp) is Mapping and len(args) == 2 and isinstance(args[1], type):
        resource: type = args[1]
        if dataclasses.is_dataclass(resource):
            return resource
    return None


def world_to_json(world: World) -> dict[str, Any]:
    """The world as plain JSON data; resource mappings become lists sorted by key."""
    out: dict[str, Any] = {}
    hints = field_types(World)
    for f in dataclasses.fields(World):
        value = getattr(world, f.name)
        if _resource_type(hints[f.name]) is not None:
            ordered = sorted(value.items(), key=lambda kv: canonical_json(to_jsonable(kv[0])))
            out[f.name] = [to_jsonable(resource) for _, resource in ordered]
        else:
            out[f.name] = to_jsonable(value)
    return out


def world_from_json(data: Any, *, where: str = "$") -> World:
    """The world `world_to_json` wrote; keys are rebuilt from the resources. `where` is
    the JSON path of `data` in its document, for error messages."""
    if not isinstance(data, dict):
        raise _fail(where, "a world is a JSON object")
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(World)})
    if unknown:
        raise _fail(where, f"unknown field(s) of World: {', '.join(unknown)}")
    hints = field_types(World)
    values: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for f in dataclasses.fields(World):
        if f.name not in data:
            continue
        resource = _resource_type(hints[f.name])
        if resource is None:
            values[f.name] = from_jsonable(hints[f.name], data[f.name], where=f"{where}.{f.name}")
            continue
        listed = data[f.name]
        if not isinstance(listed, list):
            raise _fail(f"{where}.{f.name}", f"expected a list, got {type(listed).__name__}")
        values[f.name] = [
            from_jsonable(resource, item, where=f"{where}.{f.name}[{i}]")
            for i, item in enumerate(listed)
        ]
        counts[f.name] = len(listed)
    world = World.build(**values)
    for name, count in counts.items():
        if len(getattr(world, name)) != count:
            # World.build keeps the last of two equal keys: silently dropping one
            # resource from a snapshot would plan against a world that was never read.
            raise _fail(f"{where}.{name}", "two entries share one natural key")
    return world


def fingerprint(world: World) -> str:
    """sha256 of the canonical JSON of the whole world (see the module docstring)."""
    return sha256_hex(canonical_json(world_to_json(world)))


# --- Files -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A snapshot file's contents: the world and the target it was read from."""

    world: World
    target: str
    format_version: int = SNAPSHOT_FORMAT_VERSION

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.world)


def snapshot_to_json(*, world: World, target: str) -> dict[str, Any]:
    return {
        "kind": SNAPSHOT_KIND,
        "format_version": SNAPSHOT_FORMAT_VERSION,
        "target": target,
        "fingerprint": fingerprint(world),
        "world": world_to_json(world),
    }


def snapshot_from_json(data: Any) -> Snapshot:
    if not isinstance(data, dict) or data.get("kind") != SNAPSHOT_KIND:
        raise _fail("$", f"not an okta-aws live snapshot (kind must be {SNAPSHOT_KIND!r})")
    version = data.get("format_version")
    if version != SNAPSHOT_FORMAT_VERSION:
        raise _fail(
            "$.format_version",
            f"snapshot format {version!r} is not supported (this engine reads "
            f"{SNAPSHOT_FORMAT_VERSION}); write the snapshot again with this version",
        )
    target = data.get("target")
    if not isinstance(target, str):
        raise _fail("$.target", "expected the target the snapshot was read from")
    world = world_from_json(data.get("world"), where="$.world")
    recorded = data.get("fingerprint")
    if recorded is not None and recorded != fingerprint(world):
        raise _fail(
            "$.fingerprint",
            "does not match the world: the file was damaged or edited "
            "(to accept an edit, delete the fingerprint field)",
        )
    return Snapshot(world=world, target=target)


def write_snapshot(*, world: World, path: Path, target: str) -> None:
    """Write the snapshot atomically (a reader never sees half a file)."""
    text = json.dumps(snapshot_to_json(world=world, target=target), indent=2, ensure_ascii=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_snapshot(*, path: Path) -> Snapshot:
    """The snapshot at `path`; `SnapshotError` (naming the file) if it is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SnapshotError(f"{path}: cannot read it ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise SnapshotError(f"{path}: not JSON (not UTF-8 text)") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        raise SnapshotError(f"{path}: not JSON: {error}") from None
    try:
        return snapshot_from_json(data)
    except SnapshotError as error:
        raise SnapshotError(f"{path}: {error}") from None


def read_snapshot(*, path: Path) -> World:
    """The world of the snapshot at `path` (see `load_snapshot` for its target)."""
    return load_snapshot(path=path).world
