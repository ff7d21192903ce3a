"""Real directory servers (Samba AD DC, OpenLDAP slapd) started in a temp dir.

The directory provider must be proven against what real servers do (cn limits, member
ranges, DN escaping, memberOf), not against ldap3's mock. These launchers start a
throwaway server as a child process on loopback only, hand back how to bind to it, and
make sure it dies with us: `stop()`, context manager, an atexit hook and, where util-linux
`setpriv` exists, a parent-death signal for when the test process is killed outright.

Samba's ports are fixed (389/636/3268/3269), so each instance gets its own 127.x.y.z
address. Provisioning takes seconds, so it is done once into a template that each
instance copies. slapd takes a free port on 127.0.0.1 and starts in a tenth of a second.
Both are used by the pytest fixtures and by `okta-aws sandbox serve --directory …`.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException

from engine.model import DirectoryKind  # re-exported: servers exist for its AD and LDAP kinds

__all__ = [
    "DirectoryKind",
    "DirectoryServer",
    "DirectoryServerError",
    "binaries_available",
    "missing_binaries",
    "provision_samba_template",
    "start_samba",
    "start_slapd",
]

SAMBA_REALM = "EXAMPLE.TEST"
SAMBA_DOMAIN = "EXAMPLE"
SAMBA_BASE_DN = "DC=example,DC=test"
SLAPD_BASE_DN = "dc=example,dc=test"
SLAPD_MODULE_DIR = Path("/usr/lib/ldap")
SLAPD_SCHEMA_DIR = Path("/etc/ldap/schema")
SAMBA_PROVISION_DATA = Path("/usr/share/samba/setup/ad-schema")
_TEMPLATE_INFO = "okta-aws-template.json"
# Run-time state a started template leaves behind; a copy must not inherit it.
_SAMBA_RUNTIME = ("run", "log", "msg.lock", "msg.sock", "samba.out", "provision.log")


class DirectoryServerError(RuntimeError):
    """A server could not be provisioned or started; carries the tail of its log."""


class DirectoryServer:
    """A running directory server and how to bind to it as its administrator."""

    def __init__(
        self,
        *,
        kind: DirectoryKind,
        url: str,
        bind_dn: str,
        password: str,
        base_dn: str,
        users_dn: str,
        workdir: Path,
        process: subprocess.Popen[bytes],
    ) -> None:
        self.kind = kind
        self.url = url
        self.bind_dn = bind_dn
        self.password = password
        self.base_dn = base_dn
        self.users_dn = users_dn
        self.workdir = workdir
        self._process = process
        _LIVE.add(self)

    def __repr__(self) -> str:  # never shows the password
        return f"DirectoryServer(kind={self.kind.value!r}, url={self.url!r}, pid={self.pid})"

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    def connection(self, **options: Any) -> ldap3.Connection:
        """A bound ldap3 connection; `options` go to `ldap3.Connection` (e.g. auto_range)."""
        server = ldap3.Server(self.url, get_info=ldap3.NONE, connect_timeout=5)
        settings: dict[str, Any] = {"receive_timeout": 60, "raise_exceptions": False}
        settings.update(options)
        return ldap3.Connection(
            server, user=self.bind_dn, password=self.password, auto_bind=True, **settings
        )

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 10 s); safe to call twice."""
        _LIVE.discard(self)
        _terminate(self._process)

    def __enter__(self) -> DirectoryServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


_LIVE: set[DirectoryServer] = set()


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop()


def missing_binaries(kind: DirectoryKind | str) -> list[str]:
    """What this machine lacks to run `kind` (empty when it can); names for a skip reason."""
    if DirectoryKind(kind) is DirectoryKind.ACTIVE_DIRECTORY:
        missing = [b for b in ("samba", "samba-tool") if not _which(b)]
        if not SAMBA_PROVISION_DATA.is_dir():
            missing.append(f"{SAMBA_PROVISION_DATA} (package samba-ad-provision)")
        return missing
    missing = [] if _which("slapd") else ["slapd"]
    if not (SLAPD_MODULE_DIR / "back_mdb.so").exists():
        missing.append(str(SLAPD_MODULE_DIR / "back_mdb.so"))
    return missing


def binaries_available(kind: DirectoryKind | str) -> bool:
    return not missing_binaries(kind)


def provision_samba_template(*, dest: Path, timeout: float = 300.0) -> Path:
    """Provision a Samba AD DC (`EXAMPLE.TEST`) into `dest` (absent or empty), start it once.

    The one start generates the TLS keys, which would otherwise cost every copy about a
    second. Returns `dest`, ready to be passed to `start_samba(template=…)`.
    """
    dest = dest.resolve()
    if dest.exists() and any(dest.iterdir()):
        raise DirectoryServerError(f"{dest} is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    # Meets AD's complexity rules whatever the random part holds.
    password = secrets.token_urlsafe(18) + "Aa1-"
    address = _free_samba_address()
    command = [
        _which_or_fail("samba-tool"),
        "domain",
        "provision",
        f"--realm={SAMBA_REALM}",
        f"--domain={SAMBA_DOMAIN}",
        "--server-role=dc",
        "--dns-backend=NONE",
        f"--adminpass={password}",
        "--host-name=dc1",
        f"--targetdir={dest}",
        f"--option=interfaces={address}/8",
        "--option=bind interfaces only=yes",
    ]
    log = dest / "provision.log"
    with log.open("wb") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    if done.returncode != 0:
        raise DirectoryServerError(f"samba-tool domain provision failed:\n{_tail(log)}")
    _configure_samba(dest, address=address)
    info = {"realm": SAMBA_REALM, "base_dn": SAMBA_BASE_DN, "password": password}
    info_file = dest / _TEMPLATE_INFO
    info_file.write_text(json.dumps(info))
    info_file.chmod(0o600)
    with _launch_samba(dest, address=address, password=password, timeout=60.0):
        pass
    return dest


def start_samba(
    *,
    workdir: Path,
    address: str | None = None,
    template: Path | None = None,
    timeout: float = 60.0,
) -> DirectoryServer:
    """Start a Samba AD DC copied from `template` (provisioned into `workdir` if None).

    `address` is the 127.x.y.z it listens on (389, 636); None picks a free one. The
    instance lives in `workdir/samba`; the caller owns and removes `workdir`.
    """
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if template is None:
        template = provision_samba_template(dest=workdir / "template")
    info = json.loads((template / _TEMPLATE_INFO).read_text())
    instance = workdir / "samba"
    shutil.copytree(template, instance, symlinks=True, ignore=_runtime_files)
    address = address or _free_samba_address()
    conf = instance / "etc" / "smb.conf"
    text = conf.read_text().replace(str(template.resolve()), str(instance))
    conf.write_text(re.sub(r"(?m)^(\s*interfaces\s*=).*$", rf"\g<1> {address}/8", text))
    return _launch_samba(instance, address=address, password=info["password"], timeout=timeout)


def start_slapd(
    *,
    workdir: Path,
    address: str = "127.0.0.1",
    port: int | None = None,
    timeout: float = 30.0,
) -> DirectoryServer:
    """Start slapd with an mdb database for `dc=example,dc=test`, seeded with its OUs.

    memberof and refint overlays are on (as in most real deployments). Seeded:
    the base entry, `ou=people` (users_dn) and `ou=groups`.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(18)
    bind_dn = f"cn=admin,{SLAPD_BASE_DN}"
    (workdir / "db").mkdir(exist_ok=True)
    conf = workdir / "slapd.conf"
    conf.write_text(_slapd_conf(workdir, bind_dn=bind_dn, password=password))
    conf.chmod(0o600)
    attempts = 1 if port else 5  # a picked free port can be taken before slapd binds it
    for attempt in range(attempts):
        chosen = port or _free_port(address)
        url = f"ldap://{address}:{chosen}"
        log = workdir / "slapd.out"
        process = _spawn(
            [_which_or_fail("slapd"), "-d", "0", "-h", f"{url}/", "-f", str(conf)], log
        )
        server = DirectoryServer(
            kind=DirectoryKind.LDAP,
            url=url,
            bind_dn=bind_dn,
            password=password,
            base_dn=SLAPD_BASE_DN,
            users_dn=f"ou=people,{SLAPD_BASE_DN}",
            workdir=workdir,
            process=process,
        )
        try:
            _wait_ready(server, log=log, timeout=timeout)
        except DirectoryServerError:
            server.stop()
            if attempt + 1 == attempts:
                raise
            continue
        except BaseException:
            server.stop()
            raise
        try:
            _seed_slapd(server)
        except BaseException:
            server.stop()
            raise
        return server
    raise AssertionError("unreachable")


def _runtime_files(directory: str, names: list[str]) -> set[str]:
    """Run-time state of a started template (pid files, sockets), not to be copied."""
    skip = {name for name in names if name in _SAMBA_RUNTIME}
    for name in names:
        mode = os.lstat(os.path.join(directory, name)).st_mode
        if stat.S_ISSOCK(mode) or stat.S_ISFIFO(mode):
            skip.add(name)
    return skip


def _configure_samba(target: Path, *, address: str) -> None:
    conf = target / "etc" / "smb.conf"
    text = conf.read_text()
    # Provision writes its own `log file` and full `server services`; ours replace them.
    text = re.sub(r"(?m)^\s*(log file|server services)\s*=.*\n", "", text)
    settings = {
        "pid directory": target / "run",
        "ncalrpc dir": target / "run" / "ncalrpc",
        "winbindd socket directory": target / "run" / "winbindd",
        "log file": target / "log" / "samba.log",
        # LDAP is all the provider uses; simple binds (UPN or DN) need nothing else.
        "server services": "ldap",
        "ldap server require strong auth": "no",
        # Samba's own test suite runs this way: no fsync, a throwaway DC seeds 3x faster.
        "ldb:nosync": "true",
    }
    extra = "".join(f"\t{key} = {value}\n" for key, value in settings.items())
    text = text.replace("[global]\n", "[global]\n" + extra, 1)
    conf.write_text(re.sub(r"(?m)^(\s*interfaces\s*=).*$", rf"\g<1> {address}/8", text))


def _launch_samba(
    instance: Path, *, address: str, password: str, timeout: float
) -> DirectoryServer:
    for sub in ("run", "log"):
        (instance / sub).mkdir(exist_ok=True)
    log = instance / "samba.out"
    conf = instance / "etc" / "smb.conf"
    command = [_which_or_fail("samba"), "-i", "-M", "single", "-s", str(conf)]
    server = DirectoryServer(
        kind=DirectoryKind.ACTIVE_DIRECTORY,
        url=f"ldap://{address}:389",
        bind_dn=f"CN=Administrator,CN=Users,{SAMBA_BASE_DN}",
        password=password,
        base_dn=SAMBA_BASE_DN,
        users_dn=f"CN=Users,{SAMBA_BASE_DN}",
        workdir=instance,
        process=_spawn(command, log),
    )
    try:
        _wait_ready(server, log=log, timeout=timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _slapd_conf(workdir: Path, *, bind_dn: str, password: str) -> str:
    schemas = "".join(
        f"include {SLAPD_SCHEMA_DIR / name}.schema\n"
        for name in ("core", "cosine", "inetorgperson", "nis")
    )
    return (
        f"{schemas}"
        f"pidfile {workdir / 'slapd.pid'}\n"
        f"argsfile {workdir / 'slapd.args'}\n"
        f"modulepath {SLAPD_MODULE_DIR}\n"
        "moduleload back_mdb\nmoduleload memberof\nmoduleload refint\n"
        "database mdb\n"
        f'suffix "{SLAPD_BASE_DN}"\n'
        f'rootdn "{bind_dn}"\n'
        f"rootpw {_ssha(password)}\n"
        f"directory {workdir / 'db'}\n"
        "maxsize 1073741824\n"
        "dbnosync\n"
        "index objectClass,cn,uid,member eq\n"
        "overlay memberof\n"
        "memberof-refint TRUE\n"
        "overlay refint\n"
        "refint_attributes member\n"
    )


def _ssha(password: str) -> str:
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _seed_slapd(server: DirectoryServer) -> None:
    entries: list[tuple[str, list[str], dict[str, str]]] = [
        (SLAPD_BASE_DN, ["dcObject", "organization"], {"dc": "example", "o": "example"}),
        (f"ou=people,{SLAPD_BASE_DN}", ["organizationalUnit"], {}),
        (f"ou=groups,{SLAPD_BASE_DN}", ["organizationalUnit"], {}),
    ]
    conn = server.connection()
    try:
        for dn, object_classes, attrs in entries:
            if not conn.add(dn, object_classes, attrs):
                raise DirectoryServerError(f"seeding {dn}: {conn.result['description']}")
    finally:
        conn.unbind()


def _spawn(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    # setpriv's parent-death signal kills the server even if we are SIGKILLed; it follows
    # the spawning thread, so start servers from a thread that outlives them.
    setpriv = _which("setpriv")
    prefix = [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []
    with log.open("ab") as out:
        return subprocess.Popen(
            prefix + command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: killed as a whole in _terminate
        )


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_ready(server: DirectoryServer, *, log: Path, timeout: float) -> None:
    """Poll the rootDSE until it answers, then check the administrator bind works."""
    deadline = time.monotonic() + timeout
    while True:
        if not server.running:
            raise DirectoryServerError(f"{server!r} exited during start:\n{_tail(log)}")
        try:
            probe = ldap3.Connection(
                ldap3.Server(server.url, get_info=ldap3.NONE, connect_timeout=1),
                receive_timeout=5,
            )
            probe.open()
            answered = probe.search(
                "", "(objectClass=*)", ldap3.BASE, attributes=["namingContexts"]
            )
            probe.unbind()
            if answered:
                break
        except LDAPException:
            pass
        if time.monotonic() > deadline:
            raise DirectoryServerError(f"{server!r} not ready after {timeout} s:\n{_tail(log)}")
        time.sleep(0.05)
    try:
        server.connection().unbind()
    except LDAPException as exc:
        raise DirectoryServerError(f"{server!r} refused the admin bind: {exc}") from exc


def _free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def _free_samba_address() -> str:
    """A random 127.x.y.z whose LDAP ports are free (random: parallel runs rarely meet)."""
    for _ in range(50):
        address = f"127.{random.randint(64, 250)}.{random.randint(0, 255)}.{random.randint(2, 254)}"
        if all(_port_free(address, port) for port in (389, 636, 3268, 3269)):
            return address
    raise DirectoryServerError("no free loopback address for Samba")


def _port_free(address: str, port: int) -> bool:
    # A connect probe rather than a bind: binding ports below 1024 needs root.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((address, port)) != 0


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")


def _which_or_fail(name: str) -> str:
    found = _which(name)
    if not found:
        raise DirectoryServerError(f"{name} not found (run .ci/install-system-deps)")
    return found


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
