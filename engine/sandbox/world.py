"""The embedded sandbox world: emulated AWS, Okta and a directory, persisted in `.sandbox/`.

With `--target sandbox` every command runs against this world, so a user can try the
whole loop (`plan`, `apply`, `plan`, edit `desired-state/`, `plan` again) with nothing but
Python. Each CLI invocation is one `running()` session: it starts the emulators in
process, replays the persisted state into them, hands the engine real endpoints (moto's
HTTP API, the Okta API emulator, an LDAP directory), and writes everything back on exit.

Directory modes (`DirectoryMode`): `mock` (ldap3 MOCK_SYNC in process; no system
packages), `slapd` or `samba` (real servers from Debian packages, seeded from the same
persisted entries). `reset`'s `auto` picks `mock`: a fresh machine with Python only must
work, and it starts in milliseconds; a real server can be chosen per session (or at reset)
and the entries move between them. `kind: okta` has no directory (`none`).

What `reset` seeds, and why, is documented in `engine/sandbox/brownfield.py`.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import ldap3

from engine.dn import normalize_dn
from engine.lock import apply_lock
from engine.model import DirectoryKind
from engine.sandbox.aws_state import (
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    AccountIam,
    dump_aws,
    load_aws,
    moto_account_ids,
    replay_aws,
    save_aws,
)
from engine.sandbox.brownfield import build_brownfield
from engine.sandbox.directory_servers import (
    DirectoryServer,
    provision_samba_template,
    start_samba,
    start_slapd,
)
from engine.sandbox.directory_store import (
    MockDirectory,
    canonical_records,
    dump_server,
    load_entries,
    save_entries,
    seed_server,
    server_dns,
)
from engine.sandbox.modes import check_mode, require_binaries
from engine.sandbox.moto_server import MotoServer
from engine.sandbox.okta_emulator import ImportResult, OktaEmulator, records_from_ldap3
from engine.sandbox.persist import (
    OKTA_FILE,
    DirectoryMode,
    SandboxError,
    SandboxMeta,
    read_meta,
    write_meta,
)
from engine.sandbox.serve import serve_world
from engine.spec import DesiredState

__all__ = [
    "OKTA_TOKEN",
    "DirectoryMode",
    "SandboxEndpoints",
    "SandboxError",
    "SandboxWorld",
]

_log = logging.getLogger(__name__)
OKTA_TOKEN = "sandbox-okta-api-token"  # the emulator's dummy, not a secret
SAMBA_TEMPLATE_DIR = "samba-template"  # kept across `reset`: provisioning takes seconds
SESSION_LOCK = "session.lock"  # held by the one process using the sandbox


@dataclass(frozen=True)
class SandboxEndpoints:
    """How to reach the running sandbox: what `--target live` would read from the env."""

    aws_endpoint_url: str
    okta_org_url: str
    okta_token: str
    kind: DirectoryMode  # mock | slapd | samba | none
    emulator: OktaEmulator = field(repr=False)
    ldap_url: str | None = None  # real servers
    bind_dn: str | None = None
    password: str | None = field(default=None, repr=False)
    connection_factory: Callable[[], ldap3.Connection] | None = field(default=None, repr=False)
    aws_access_key_id: str = ACCESS_KEY_ID
    aws_secret_access_key: str = field(default=SECRET_ACCESS_KEY, repr=False)
    aws_region: str = REGION

    def env(self) -> dict[str, str]:
        """Environment variables for `--target live` against this sandbox.

        The LDAP_* variables are present only for real servers: the in-process mock has no
        address (use `connection_factory`)."""
        env = {
            "AWS_ENDPOINT_URL": self.aws_endpoint_url,
            "AWS_ACCESS_KEY_ID": self.aws_access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.aws_secret_access_key,
            "AWS_DEFAULT_REGION": self.aws_region,
            "OKTA_ORG_URL": self.okta_org_url,
            "OKTA_API_TOKEN": self.okta_token,
            "OKTA_TESTING_TESTINGDISABLEHTTPSCHECK": "true",
        }
        if self.ldap_url is not None and self.bind_dn is not None and self.password is not None:
            env.update(
                {
                    "LDAP_URL": self.ldap_url,
                    "LDAP_BIND_DN": self.bind_dn,
                    "LDAP_PASSWORD": self.password,
                }
            )
        return env


@dataclass
class _Session:
    meta: SandboxMeta
    mode: DirectoryMode
    moto: MotoServer
    emulator: OktaEmulator
    clients: AccountIam
    mock: MockDirectory | None = None
    server: DirectoryServer | None = None
    baseline: frozenset[str] = frozenset()

    def connection(self) -> ldap3.Connection:
        if self.mock is not None:
            return self.mock.connection()
        if self.server is not None:
            return self.server.connection()
        raise SandboxError("this sandbox has no directory (directory.kind okta)")


class SandboxWorld:
    """The sandbox persisted under `root` (normally `./.sandbox`)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._session: _Session | None = None
        self._busy = False
        self._lock = threading.Lock()

    # --- setup ------------------------------------------------------------------------------

    def exists(self) -> bool:
        return (self.root / "sandbox.json").exists()

    def meta(self) -> SandboxMeta:
        return read_meta(self.root)

    def reset(self, *, state: DesiredState, directory: str = "auto") -> SandboxMeta:
        """Wipe `root` and write the brownfield world for `state` (no server is started)."""
        flavor = state.settings.directory.kind
        mode = check_mode(DirectoryMode(directory), kind=flavor, at_reset=True)
        require_binaries(mode)
        if self._busy:
            raise SandboxError("cannot reset while a sandbox session is running")
        world = build_brownfield(state=state, mode=mode)
        self.root.mkdir(parents=True, exist_ok=True)
        with self._session_lock():
            self._wipe()
            save_aws(self.root, world.aws)
            save_entries(self.root, flavor=flavor, entries=world.entries)
            world.okta.save(self.root / OKTA_FILE)
            write_meta(self.root, world.meta)  # last: its presence means "complete"
        return world.meta

    def _wipe(self) -> None:
        if not self.root.exists():
            return
        for child in self.root.iterdir():
            if child.name in (SAMBA_TEMPLATE_DIR, SESSION_LOCK):
                continue  # the template is slow to make; the lock is held by this reset
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()

    # --- a session --------------------------------------------------------------------------

    @contextmanager
    def running(
        self, *, directory: str = "auto", aws_port: int = 0, okta_port: int = 0
    ) -> Iterator[SandboxEndpoints]:
        """Start every system in process for one command; persist everything on exit.

        moto's IAM backends are process-global: starting a session resets them, so run one
        session at a time per process (nested sessions are refused)."""
        meta = self.meta()
        mode = check_mode(DirectoryMode(directory), kind=meta.flavor, at_reset=False)
        if mode is DirectoryMode.AUTO:
            mode = meta.directory_mode
        require_binaries(mode)
        with self._lock:
            if self._busy:
                raise SandboxError("a sandbox session is already running in this process")
            self._busy = True
        try:
            with ExitStack() as stack:
                # One session per sandbox across processes: each replays the persisted
                # world and writes it back at the end, so a second one (a plan during an
                # apply, a command while `sandbox serve` runs) would overwrite the first's
                # writes with its older copy.
                stack.enter_context(self._session_lock())
                session = self._start(
                    stack, meta=meta, mode=mode, aws_port=aws_port, okta_port=okta_port
                )
                self._session = session
                try:
                    yield self._endpoints(session)
                finally:
                    self._persist(session)
        finally:
            self._session = None
            self._busy = False

    def _session_lock(self) -> AbstractContextManager[None]:
        return apply_lock(
            path=self.root / SESSION_LOCK,
            command=" ".join(["okta-aws", *sys.argv[1:]]),
            holder="sandbox session",
        )

    def _start(
        self,
        stack: ExitStack,
        *,
        meta: SandboxMeta,
        mode: DirectoryMode,
        aws_port: int,
        okta_port: int,
    ) -> _Session:
        # Read every file first: a damaged sandbox fails before anything starts.
        aws_state = load_aws(self.root)
        entries = load_entries(self.root) if meta.flavor is not DirectoryKind.OKTA else []
        moto = MotoServer(port=aws_port).start()
        stack.callback(moto.stop)
        moto.reset()  # the backends are process-global: forget any earlier session
        clients = AccountIam(endpoint_url=moto.endpoint_url, access_role=meta.access_role)
        replay_aws(clients=clients, state=aws_state)
        stack.callback(clients.close)
        emulator = OktaEmulator.start(
            token=OKTA_TOKEN, port=okta_port, state_path=self.root / OKTA_FILE
        )
        stack.callback(emulator.stop)
        session = _Session(meta=meta, mode=mode, moto=moto, emulator=emulator, clients=clients)
        if mode is DirectoryMode.MOCK:
            session.mock = MockDirectory(flavor=meta.flavor, base_dn=meta.base_dn)
            session.mock.load(entries)
        elif mode in (DirectoryMode.SLAPD, DirectoryMode.SAMBA):
            workdir = Path(tempfile.mkdtemp(prefix=f"okta-aws-sandbox-{mode.value}-"))
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
            if mode is DirectoryMode.SLAPD:
                server = start_slapd(workdir=workdir)
            else:
                server = start_samba(workdir=workdir, template=self._samba_template())
            stack.callback(server.stop)
            if normalize_dn(server.base_dn) != normalize_dn(meta.base_dn):
                raise SandboxError(
                    f"the {mode.value} server serves {server.base_dn}, the desired state's "
                    f"directory is under {meta.base_dn}: use --directory mock"
                )
            session.server = server
            session.baseline = server_dns(server)
            seed_server(server, entries=entries, flavor=meta.flavor)
        return session

    def _samba_template(self) -> Path:
        template = self.root / SAMBA_TEMPLATE_DIR
        if not (template / "okta-aws-template.json").exists():
            shutil.rmtree(template, ignore_errors=True)
            provision_samba_template(dest=template)
        return template

    def _endpoints(self, session: _Session) -> SandboxEndpoints:
        server = session.server
        return SandboxEndpoints(
            aws_endpoint_url=session.moto.endpoint_url,
            okta_org_url=session.emulator.url,
            okta_token=OKTA_TOKEN,
            kind=session.mode,
            emulator=session.emulator,
            ldap_url=server.url if server is not None else None,
            bind_dn=server.bind_dn if server is not None else None,
            password=server.password if server is not None else None,
            connection_factory=session.mock.connection if session.mock is not None else None,
        )

    def _persist(self, session: _Session) -> None:
        save_aws(self.root, dump_aws(clients=session.clients, account_ids=moto_account_ids()))
        if session.mock is not None:
            save_entries(self.root, flavor=session.meta.flavor, entries=session.mock.dump())
        elif session.server is not None and session.server.running:
            entries = dump_server(
                session.server, baseline=session.baseline, flavor=session.meta.flavor
            )
            save_entries(self.root, flavor=session.meta.flavor, entries=entries)
        session.emulator.autosave()

    # --- inside a session -------------------------------------------------------------------

    def import_directory(self, *, ous: Sequence[str] | None = None) -> ImportResult:
        """Okta's directory agent, run now: import the groups of `ous` (default: the OUs
        chosen at reset), nesting flattened. Only inside `running()`."""
        session = self._session
        if session is None:
            raise SandboxError("import_directory needs a running sandbox session")
        if session.meta.flavor is DirectoryKind.OKTA:
            return ImportResult((), (), (), (), 0)
        bases = list(ous if ous is not None else session.meta.imported_ous)
        conn = session.connection()
        try:
            records = canonical_records(
                records_from_ldap3(conn, base_dns=bases), flavor=session.meta.flavor
            )
        finally:
            conn.unbind()
        source = session.emulator.directory_app(name=session.meta.okta_directory_app)
        return session.emulator.import_directory(
            source_app_id=source.id,
            imported_ou_dns=bases,
            groups=list(records.groups),
            users=list(records.users),
        )

    # --- outside a session ------------------------------------------------------------------

    def show(self, *, aliases: Mapping[str, str] | None = None) -> str:
        """What the sandbox holds now, per system, from its persisted files."""
        from engine.sandbox.show import render_show

        return render_show(self.root, meta=self.meta(), aliases=aliases or {})

    def serve(
        self,
        *,
        directory: str = "auto",
        import_every: float | None = None,
        out: TextIO = sys.stdout,
        stop: threading.Event | None = None,
        aws_port: int = 0,
        okta_port: int = 0,
    ) -> None:
        """Serve every system as a real local endpoint until SIGINT/SIGTERM (or `stop`).

        Call from the main thread: signal handlers need it, and the directory servers die
        with the thread that started them."""
        serve_world(
            self,
            directory=directory,
            import_every=import_every,
            out=out,
            stop=stop,
            aws_port=aws_port,
            okta_port=okta_port,
        )
