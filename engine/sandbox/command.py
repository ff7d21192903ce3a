"""`okta-aws sandbox reset|show|import|serve`: commands on the embedded world itself."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from engine.commands import load_valid
from engine.exit_codes import ExitCode
from engine.targets import SANDBOX_ROOT_ENV, sandbox_root


def sandbox(
    *,
    action: str,
    directory: Path,
    directory_mode: str,
    import_every: float | None,
    out: TextIO,
    err: TextIO,
) -> int:
    """Run one sandbox action; every problem is reported, never raised."""
    from engine.sandbox.extra import sandbox_unavailable

    if (reason := sandbox_unavailable()) is not None:
        print(f"okta-aws sandbox: {reason}", file=err)
        return ExitCode.ERROR
    from engine.lock import LockHeld, LockUnavailable
    from engine.sandbox.persist import check_state_files
    from engine.sandbox.world import SandboxError, SandboxWorld

    world = SandboxWorld(sandbox_root())
    try:
        if action == "show":
            if not world.exists():
                print(f"no sandbox in {world.root}/ yet: run okta-aws sandbox reset", file=err)
                return ExitCode.ERROR
            check_state_files(world.root)
            out.write(world.show())
            return ExitCode.OK
        state = load_valid(directory=directory, err=err)
        if state is None:
            return ExitCode.ERROR
        if action == "reset":
            meta = world.reset(state=state, directory=directory_mode)
            print(
                f"sandbox reset in {world.root}/: brownfield world for {directory} "
                f"({len(state.accounts)} accounts, directory {meta.directory_mode.value})",
                file=out,
            )
            return ExitCode.OK
        if not world.exists():
            world.reset(state=state)
        check_state_files(world.root)  # damaged: one line saying to reset, not a traceback
        if action == "import":
            with world.running(directory=directory_mode):
                result = world.import_directory()
            print(
                "Okta imported the directory: "
                f"{len(result.created_groups)} groups created, "
                f"{len(result.updated_groups)} updated, {len(result.removed_groups)} removed, "
                f"{len(result.created_users)} users created, "
                f"{result.membership_changes} membership changes",
                file=out,
            )
            return ExitCode.OK
        if action == "serve":
            world.serve(directory=directory_mode, import_every=import_every, out=out)
            return ExitCode.OK
    except LockHeld as exc:
        print(f"sandbox: {exc}", file=err)
        print(
            "sandbox: one command at a time; while `sandbox serve` runs, use the variables "
            "it printed with --target live (it imports with --import-every SECONDS)",
            file=err,
        )
        return ExitCode.ERROR
    except (SandboxError, LockUnavailable) as exc:
        print(f"sandbox: {exc}", file=err)
        return ExitCode.ERROR
    except OSError as exc:  # e.g. OKTA_AWS_SANDBOX names a folder that cannot be written
        print(
            f"sandbox: {world.root}/ cannot be used ({exc.strerror or exc}): set "
            f"{SANDBOX_ROOT_ENV} to a writable folder",
            file=err,
        )
        return ExitCode.ERROR
    raise AssertionError(f"unknown sandbox action {action}")
