"""How the sandbox world survives between CLI invocations: small versioned JSON files.

`plan`, `apply`, `plan` are separate processes, so everything the embedded world holds
is written under `.sandbox/` when a command ends and read back when the next starts:

- `sandbox.json`: what `reset` decided (directory mode and flavour, the OUs Okta's
  agent imports, the few settings the sandbox itself needs);
- `aws.json`: every account's SAML providers and roles (see `aws_state`);
- `directory.json`: the directory's entries (see `directory_store`);
- `okta.json`: the Okta emulator's own state file (`OktaState.save`).

Each file carries a `format` name and a `version`, so a sandbox made by another version
of the tool is refused with a clear message instead of being half-read. Writes are atomic
(temp file + rename in the same directory): a command killed mid-write leaves the
previous file intact. No lock: `apply` holds the apply lock for the whole command.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from engine.model import DirectoryKind

FORMAT_VERSION = 1
META_FILE = "sandbox.json"
AWS_FILE = "aws.json"
DIRECTORY_FILE = "directory.json"
OKTA_FILE = "okta.json"


class SandboxError(RuntimeError):
    """The sandbox cannot do what was asked; the message says why and what to run."""


class DirectoryMode(StrEnum):
    """Which directory backs the sandbox in a session."""

    AUTO = "auto"  # whatever `reset` chose (reset's own auto: mock, or none for kind okta)
    MOCK = "mock"  # ldap3 MOCK_SYNC in-process: Python only, no system packages
    SLAPD = "slapd"  # a real OpenLDAP slapd (flavour ldap)
    SAMBA = "samba"  # a real Samba AD DC (flavour active_directory)
    NONE = "none"  # directory.kind okta: groups live in Okta, there is no directory


_LEGACY_FLAVORS = {"none": DirectoryKind.OKTA.value}  # sandbox.json before one kind enum


@dataclass(frozen=True)
class SandboxMeta:
    """`sandbox.json`: the choices `reset` made, needed by every later session."""

    directory_mode: DirectoryMode
    flavor: DirectoryKind  # settings.directory.kind at reset (okta: there is no directory)
    base_dn: str = ""
    users_base: str = ""
    # The OUs Okta's directory agent imports: the two managed OUs and those of adopted
    # groups, fixed at reset as an admin configures the agent once.
    imported_ous: tuple[str, ...] = ()
    access_role: str = "OrganizationAccountAccessRole"
    managed_tag: tuple[str, str] = ("managed-by", "okta-aws")
    okta_app_label: str = ""
    okta_directory_app: str = ""  # active_directory | ldap_sun_one | "" (kind okta)
    created_from: str = ""  # digest of the desired state reset was made for
    extra: dict[str, Any] = field(default_factory=dict)

    def to_document(self) -> dict[str, Any]:
        data = asdict(self)
        data["directory_mode"] = self.directory_mode.value
        data["flavor"] = self.flavor.value
        data["imported_ous"] = list(self.imported_ous)
        data["managed_tag"] = list(self.managed_tag)
        return data

    @classmethod
    def from_document(cls, data: dict[str, Any]) -> SandboxMeta:
        key, value = data["managed_tag"]
        return cls(
            directory_mode=DirectoryMode(data["directory_mode"]),
            flavor=DirectoryKind(_LEGACY_FLAVORS.get(data["flavor"], data["flavor"])),
            base_dn=str(data["base_dn"]),
            users_base=str(data["users_base"]),
            imported_ous=tuple(str(ou) for ou in data["imported_ous"]),
            access_role=str(data["access_role"]),
            managed_tag=(str(key), str(value)),
            okta_app_label=str(data["okta_app_label"]),
            okta_directory_app=str(data["okta_directory_app"]),
            created_from=str(data.get("created_from", "")),
            extra=dict(data.get("extra") or {}),
        )


def write_json(path: Path, *, format_name: str, body: dict[str, Any]) -> None:
    """Write `{"format", "version", **body}` atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"format": format_name, "version": FORMAT_VERSION, **body}
    text = json.dumps(document, indent=1, sort_keys=True) + "\n"
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as handle:
        handle.write(text)
    os.replace(handle.name, path)


RESET = "run `okta-aws sandbox reset` (it starts the sandbox over)"


def _json_object(path: Path) -> dict[str, Any]:
    """The JSON object in `path`; SandboxError naming the file and saying what to run
    when it is unreadable, truncated, or not an object (never a traceback)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SandboxError(f"{path} cannot be read ({exc.strerror or exc}): {RESET}") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        reason = str(exc).split(":")[0] if isinstance(exc, UnicodeDecodeError) else str(exc)
        raise SandboxError(f"{path} is not valid JSON ({reason}): {RESET}") from None
    if not isinstance(document, dict):
        raise SandboxError(
            f"{path} is damaged (a JSON {type(document).__name__}, not an object): {RESET}"
        )
    return document


def check_state_files(root: Path) -> None:
    """Every state file under `root` that exists is a readable JSON object.

    The files this module reads are checked again, in full, when read; the Okta
    emulator's own file is read by the emulator, which would raise a bare JSON error."""
    for name in (META_FILE, AWS_FILE, DIRECTORY_FILE, OKTA_FILE):
        if (root / name).exists():
            _json_object(root / name)


def damaged(root: Path, error: Exception) -> SandboxError:
    """A file's content the sandbox could not use, past the checks above."""
    return SandboxError(
        f"the sandbox in {root}/ is damaged ({type(error).__name__} while loading it): {RESET}"
    )


def read_json(path: Path, *, format_name: str) -> dict[str, Any]:
    """Read a file written by `write_json`; SandboxError if missing or of another version."""
    if not path.exists():
        raise SandboxError(f"{path} does not exist: run `okta-aws sandbox reset` first")
    document = _json_object(path)
    if document.get("format") != format_name:
        raise SandboxError(f"{path} is not a sandbox {format_name} file: {RESET}")
    if document.get("version") != FORMAT_VERSION:
        raise SandboxError(
            f"{path} has format version {document.get('version')}, this tool reads "
            f"{FORMAT_VERSION}: run `okta-aws sandbox reset`"
        )
    return document


def write_meta(root: Path, meta: SandboxMeta) -> None:
    write_json(root / META_FILE, format_name="okta-aws-sandbox", body=meta.to_document())


def read_meta(root: Path) -> SandboxMeta:
    document = read_json(root / META_FILE, format_name="okta-aws-sandbox")
    try:
        return SandboxMeta.from_document(document)
    except (KeyError, ValueError, TypeError) as exc:
        raise SandboxError(f"{root / META_FILE} is damaged ({exc}): {RESET}") from None
