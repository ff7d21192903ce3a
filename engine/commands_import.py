"""`okta-aws import`: write a desired-state folder from what is live.

The readers are scoped by a desired state, which an import does not have yet, so it
reads in two steps with the same providers and calls as a plan: Okta first (the AWS app
by label or id, its assignments, the groups its filter matches, their members), from
which `adopt_discover` finds the accounts, the directory kind and its OUs; then AWS and
the directory for that scope (`adopt_discover.probe_state`). `adopt` decides, and
`adopt_render` writes; the written folder is then validated like any other, and every
finding (what the model cannot express) is printed.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path
from typing import TextIO

from engine.adopt import adopt
from engine.adopt_discover import Discovery, ImportRefused, discover, probe_state
from engine.adopt_model import Adoption, Effect, ImportOptions
from engine.adopt_render import render_files
from engine.adopt_tags import AccountTagsError, Tags, read_account_tags
from engine.commands import load_valid, written
from engine.commands_session import SESSION_ERRORS
from engine.compile import compile_world
from engine.escape import printable
from engine.exit_codes import ExitCode
from engine.load import SCHEMA_PATH
from engine.model import DirectoryKind, GroupRole, System, World
from engine.naming import DEFAULT_ROLE_GROUP_NAME, NamingError, derive_group_filter
from engine.plan import FindingKind
from engine.providers.live import (
    LiveRead,
    Providers,
    connect,
    directory_logins,
    merge_worlds,
    read_live,
)
from engine.providers.okta import ReadScope
from engine.providers.okta_read import syntax_literal_prefix
from engine.snapshot import SnapshotError, load_snapshot
from engine.spec import DesiredState, OktaSpec, Settings, Target
from engine.targets import open_target

LISTED = 10  # entries of a non-empty --out folder named in the refusal


def _not_empty(out_dir: Path, err: TextIO) -> bool:
    """Whether `out_dir` cannot be written into (printed): a file, or a folder with entries."""
    if out_dir.exists() and not out_dir.is_dir():
        print(f"error: --out {out_dir} is a file; give a new or empty folder", file=err)
        return True
    if not out_dir.is_dir():
        return False
    entries = sorted(p.name for p in out_dir.iterdir())
    if not entries:
        return False
    shown = ", ".join(entries[:LISTED]) + (
        f" and {len(entries) - LISTED} more" if len(entries) > LISTED else ""
    )
    print(
        f"error: --out {out_dir} is not empty ({shown}); import writes only into a new or "
        "empty folder, so nothing was written",
        file=err,
    )
    return True


def _unresolved(findings: tuple[object, ...]) -> dict[str, str]:
    """Member DN → why, from the directory's findings on members that are no user/group."""
    found: dict[str, str] = {}
    for finding in findings:
        subject = getattr(finding, "subject", "")
        if (
            getattr(finding, "kind", None) is FindingKind.UNMANAGED
            and getattr(finding, "system", None) is System.DIRECTORY
            and subject.startswith("member ")
            and " of " in subject
        ):
            dn = subject[len("member ") :].split(" of ", 1)[0]
            found[dn] = str(getattr(finding, "message", "")).split(";", 1)[0]
    return found


def okta_scope(
    *, app_label: str | None, app_id: str | None, role_group_name: str | None
) -> ReadScope:
    """What to read from Okta before anything is known: the app, and the groups named by
    the role-group syntax (given, else the default; the app's own filter is added by the
    reader), so an app with Okta's empty default filter still shows its role groups."""
    syntax = role_group_name or DEFAULT_ROLE_GROUP_NAME
    try:
        filters: tuple[str, ...] = (derive_group_filter(syntax=syntax),)
    except NamingError as exc:
        raise ImportRefused(f"--role-group-name: {exc}") from None
    return ReadScope(
        app_label=None if app_id else app_label,
        app_id=app_id,
        group_filters=filters,
        name_prefixes=(syntax_literal_prefix(syntax),),
    )


def _with_member_groups(
    *, read: LiveRead, probe: DesiredState, discovery: Discovery, providers: Providers
) -> LiveRead:
    """The read, with the groups outside the managed OUs that are Member Of role groups
    but that Okta did not show as assigned (so the first read did not reach them): one
    more directory read, only when there are such groups, adopting them by DN."""
    if providers.directory is None:
        return read
    groups = read.world.directory_groups
    known = set(_unresolved(read.findings))
    missing = sorted(
        {
            member
            for group in groups.values()
            if group.role is GroupRole.ROLE
            for member in group.member_groups
            if member not in groups and member not in known
        }
    )
    if not missing:
        return read
    adopted = [*discovery.adopted_dns, *missing]
    again = providers.directory.read(
        adopted_dns=adopted, logins=(), group_filter=discovery.group_filter
    )
    if again.errors:
        return dataclasses.replace(read, findings=(*read.findings, *again.findings()))
    part = again.to_world()
    world = dataclasses.replace(
        read.world,
        directory_groups={**groups, **part.directory_groups},
        directory_users={**read.world.directory_users, **part.directory_users},
    )
    kept = [f for f in read.findings if f.system is not System.DIRECTORY]
    return dataclasses.replace(read, world=world, findings=(*kept, *again.findings()))


def read_for_import(
    *,
    target: str,
    app_label: str | None,
    app_id: str | None,
    role_group_name: str | None,
    err: TextIO,
) -> tuple[World, Discovery, ImportOptions, dict[str, int]]:
    """The live world, its scope, what the read could not see, and API calls by system.

    Raises ImportRefused (no app, no usable role groups, an incomplete read) and the
    session errors of `commands.SESSION_ERRORS`."""
    label = app_label if app_label or app_id else OktaSpec.app_label
    bootstrap = DesiredState(
        root=Path("."), settings=Settings(okta=OktaSpec(app_label=label, app_id=app_id))
    )
    calls: dict[str, int] = {}
    if target == Target.SANDBOX.value:
        from engine.sandbox.world import SandboxWorld
        from engine.targets import sandbox_root

        if not SandboxWorld(sandbox_root()).exists():
            raise ImportRefused(
                f"there is no sandbox in {sandbox_root()}/ to import: run `okta-aws sandbox "
                "reset -d DIR` with a desired state first"
            )
    with open_target(name=target, state=bootstrap, err=err) as opened:
        with connect(
            state=bootstrap, systems=frozenset({System.OKTA}), connection=opened.connection
        ) as first:
            assert first.okta is not None
            okta_read = first.okta.read(
                scope=okta_scope(app_label=label, app_id=app_id, role_group_name=role_group_name)
            )
            calls["okta"] = first.calls.total(system="okta")
        if not okta_read.complete:
            raise ImportRefused("Okta could not be read: " + "; ".join(okta_read.errors))
        discovery = discover(okta=okta_read.to_world(), role_group_name=role_group_name)
        probe = probe_state(discovery=discovery)
        kind = discovery.kind
        systems = {System.AWS} | ({System.DIRECTORY} if kind is not DirectoryKind.OKTA else set())
        with connect(
            state=probe, systems=frozenset(systems), connection=opened.connection
        ) as second:
            read = read_live(state=probe, desired=compile_world(state=probe), providers=second)
            read = _with_member_groups(
                read=read, probe=probe, discovery=discovery, providers=second
            )
            for system in systems:
                calls[system.value] = second.calls.total(system=system.value)
    blocking = [
        f for f in read.findings if f.kind is FindingKind.READ_ERROR and f.system is not System.AWS
    ]
    if blocking:
        raise ImportRefused(
            "the live read was incomplete: "
            + "; ".join(f"{f.subject}: {f.message}" for f in blocking)
        )
    unreadable = {
        f.subject.removeprefix("account "): f.message
        for f in read.findings
        if f.kind is FindingKind.READ_ERROR and f.system is System.AWS
    }
    okta_world = okta_read.to_world()
    if kind is not DirectoryKind.OKTA:
        okta_world = directory_logins(okta_world)
    world = merge_worlds([read.world, okta_world])
    extra = {System.DIRECTORY} if kind is DirectoryKind.OKTA else set()
    world = dataclasses.replace(
        world,
        systems=world.systems | extra,
        directory_kind=kind,
        account_aliases=dict(read.world.account_aliases),
    )
    options = ImportOptions(unresolved=_unresolved(read.findings), unreadable=unreadable)
    return world, discovery, options, calls


def _schema_ref(out_dir: Path) -> str:
    """The schema, relative to the folder's top files (an editor's hint only)."""
    try:
        return os.path.relpath(str(SCHEMA_PATH), out_dir.resolve())
    except ValueError:  # another drive (Windows)
        return str(SCHEMA_PATH)


def write_files(out_dir: Path, files: dict[str, str]) -> None:
    """Write the folder whole or not at all: into a sibling temporary folder first, then
    renamed into place (an interrupted import leaves no half-written desired state)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for name in sorted(files):
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(files[name], encoding="utf-8")
        if out_dir.is_dir():
            out_dir.rmdir()  # empty: checked before anything was read
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def import_(
    *,
    out_dir: Path,
    target: str | None,
    live_snapshot: Path | None,
    role_group_name: str | None,
    members: bool,
    app_label: str | None,
    app_id: str | None,
    out: TextIO,
    err: TextIO,
    account_tags: Path | None = None,
) -> int:
    if _not_empty(out_dir, err):
        return ExitCode.ERROR
    tags: dict[str, Tags] = {}
    if account_tags is not None:
        try:
            tags = read_account_tags(account_tags)
        except AccountTagsError as exc:
            print(f"error: --account-tags {exc}", file=err)
            return ExitCode.ERROR
    target_name = target or Target.SANDBOX.value
    calls: dict[str, int] = {}
    try:
        if live_snapshot is not None:
            try:
                world = load_snapshot(path=live_snapshot).world
            except SnapshotError as exc:
                print(f"error: --live-snapshot {exc}", file=err)
                return ExitCode.ERROR
            discovery = discover(okta=world, role_group_name=role_group_name)
            options = ImportOptions()
        else:
            world, discovery, options, calls = read_for_import(
                target=target_name,
                app_label=app_label,
                app_id=app_id,
                role_group_name=role_group_name,
                err=err,
            )
    except (ImportRefused, *SESSION_ERRORS) as exc:
        print(f"error: {exc}", file=err)
        return ExitCode.ERROR
    options = dataclasses.replace(
        options, target=Target(target_name), members=members, app_id=app_id, account_tags=tags
    )
    adoption = adopt(world=world, discovery=discovery, options=options)
    files = render_files(adoption=adoption, schema_ref=_schema_ref(out_dir))
    if not written(out_dir, lambda path: write_files(path, files), flag="--out", err=err):
        return ExitCode.ERROR
    _report(adoption=adoption, out_dir=out_dir, files=files, calls=calls, out=out, err=err)
    # The folder is checked like any desired state: warnings the live world deserves
    # (a session longer than a role allows) are printed here.
    return ExitCode.OK if load_valid(directory=out_dir, err=err) is not None else ExitCode.ERROR


def _report(
    *,
    adoption: Adoption,
    out_dir: Path,
    files: dict[str, str],
    calls: dict[str, int],
    out: TextIO,
    err: TextIO,
) -> None:
    for finding in adoption.findings:  # live names are anyone's: escaped like a plan's
        print(printable(str(finding)), file=err)
    changing = sum(1 for f in adoption.findings if f.effect in (Effect.WILL_CHANGE, Effect.ADOPTED))
    left = sum(1 for f in adoption.findings if f.effect is Effect.LEFT_OUT)
    print(
        f"wrote {out_dir}: {len(files)} files ({len(adoption.accounts)} accounts, "
        f"{len(adoption.roles)} roles, {len(adoption.groups)} management groups); "
        f"{left} item(s) left out, {changing} the next plan changes",
        file=out,
    )
    if calls:
        parts = ", ".join(f"{system} {count}" for system, count in sorted(calls.items()))
        print(f"API calls: {parts}", file=err)
