"""The directory provider over StartTLS and LDAPS against a real Samba AD DC.

Samba generates a self-signed certificate at its first start, for the host name it was
provisioned with (dc1.example.test); the test servers are reached by a 127.x address,
which that certificate does not name. Rather than teach the provider to accept another
name (or the tests to edit /etc/hosts), this module's Samba gets a certificate from
engine/sandbox/tls.py for exactly its address, via smb.conf `tls keyfile/certfile/cafile`
(as an operator would install their CA-issued certificate): the provider then verifies
chain and name for real with nothing but `LDAP_START_TLS` and `LDAP_CA_FILE`.
"""

from __future__ import annotations

import random
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.model import DirectoryKind, System
from engine.plan import FindingKind
from engine.providers.directory import DirectoryProvider, DirectoryRead
from engine.sandbox import directory_seed as seed

# The template holds a started DC's run-time state; its copier's filter skips it.
from engine.sandbox.directory_servers import DirectoryServer, _runtime_files, start_samba
from engine.sandbox.tls import TlsFiles, make_tls_files
from engine.spec import DirectorySpec

# ldap3 2.9.1 checks names with ssl.match_hostname, deprecated in Python 3.11.
pytestmark = pytest.mark.filterwarnings("ignore:ssl.match_hostname:DeprecationWarning")

ROLE_OU = "OU=TLS Role Groups"
MGMT_OU = "OU=TLS Management Groups"
GROUP_FILTER = r"^aws#\S+#(?{{role}}[\w\-]+)#(?{{accountid}}\d+)$"


@dataclass(frozen=True)
class TlsSamba:
    server: DirectoryServer
    address: str
    tls: TlsFiles  # the certificate Samba serves, and its CA
    samba_ca: Path  # the CA Samba generated for itself: not the one that signed ours
    other: TlsFiles  # an unrelated CA, and a certificate for the right address from it
    login: str
    group_dn: str


def _free_loopback_address() -> str:
    """A 127.x address with Samba's LDAP ports free (connect probe: no root needed)."""
    for _ in range(50):
        address = f"127.{random.randint(64, 250)}.{random.randint(0, 255)}.{random.randint(2, 254)}"
        with socket.socket() as probe:
            probe.settimeout(1.0)
            if probe.connect_ex((address, 389)) != 0:
                return address
    raise RuntimeError("no free loopback address for Samba")


def _tls_template(*, template: Path, dest: Path, tls: TlsFiles) -> Path:
    """A copy of the provisioned template whose smb.conf points at our certificate."""
    shutil.copytree(template, dest, symlinks=True, ignore=_runtime_files)
    conf = dest / "etc" / "smb.conf"
    text = conf.read_text().replace(str(template.resolve()), str(dest))
    settings = (
        "\ttls enabled = yes\n"
        f"\ttls keyfile = {tls.key_file}\n"
        f"\ttls certfile = {tls.cert_file}\n"
        f"\ttls cafile = {tls.ca_file}\n"
    )
    conf.write_text(text.replace("[global]\n", "[global]\n" + settings, 1))
    return dest


@pytest.fixture(scope="module")
def tls_samba(samba_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsSamba]:
    root = tmp_path_factory.mktemp("samba-tls")
    address = _free_loopback_address()
    tls = make_tls_files(directory=root / "pki", hosts=(address,))
    other = make_tls_files(directory=root / "other-pki", hosts=(address,), common_name="other")
    template = _tls_template(template=samba_template, dest=root / "template", tls=tls)
    server = start_samba(workdir=root / "run", template=template, address=address)
    try:
        login = "tlsuser"
        users = seed.add_users(server, logins=[login])
        seed.add_ous(server, dns=[f"{ROLE_OU},{server.base_dn}", f"{MGMT_OU},{server.base_dn}"])
        group_dn = f"CN=aws#prod#Admin#111111111111,{ROLE_OU},{server.base_dn}"
        seed.add_group(
            server, dn=group_dn, cn="aws#prod#Admin#111111111111", members=[users[login]]
        )
        yield TlsSamba(
            server=server,
            address=address,
            tls=tls,
            samba_ca=samba_template / "private" / "tls" / "ca.pem",
            other=other,
            login=login,
            group_dn=group_dn,
        )
    finally:
        server.stop()


def _env(samba: TlsSamba, **settings: str) -> dict[str, str]:
    return {
        "LDAP_BIND_DN": samba.server.bind_dn,
        "LDAP_PASSWORD": samba.server.password,
        **settings,
    }


def _read(samba: TlsSamba, env: dict[str, str]) -> DirectoryRead:
    spec = DirectorySpec(
        kind=DirectoryKind.ACTIVE_DIRECTORY,
        role_groups_ou=f"{ROLE_OU},{samba.server.base_dn}",
        management_groups_ou=f"{MGMT_OU},{samba.server.base_dn}",
        users_base=samba.server.users_dn,
    )
    with DirectoryProvider.from_env(directory=spec, env=env) as provider:
        return provider.read(adopted_dns=[], logins=[samba.login], group_filter=GROUP_FILTER)


def _url(address: str, mode: str) -> dict[str, str]:
    if mode == "starttls":
        return {"LDAP_URL": f"ldap://{address}:389", "LDAP_START_TLS": "true"}
    return {"LDAP_URL": f"ldaps://{address}:636"}


@pytest.mark.parametrize("mode", ["starttls", "ldaps"])
def test_provider_reads_over_verified_tls(tls_samba: TlsSamba, mode: str) -> None:
    """Only the CA is configured; chain and address are checked (the refusals below
    show the same settings do verify)."""
    ca = str(tls_samba.tls.ca_file)
    read = _read(tls_samba, _env(tls_samba, LDAP_CA_FILE=ca, **_url(tls_samba.address, mode)))
    assert read.errors == ()
    (group,) = read.groups
    assert group.name == "aws#prod#Admin#111111111111"
    assert group.member_users == frozenset({tls_samba.login})
    assert [u.login for u in read.users] == [tls_samba.login]
    assert System.DIRECTORY in read.to_world().systems


@pytest.mark.parametrize("mode", ["starttls", "ldaps"])
@pytest.mark.parametrize(
    ("ca", "expected"),
    [
        # Samba's own self-signed CA: what a hand-made setup often trusts, but it did
        # not sign the certificate this server presents.
        ("samba", ("certificate verify failed", "is LDAP_CA_FILE the CA")),
        ("other", ("certificate verify failed", "is LDAP_CA_FILE the CA")),  # unrelated CA
        ("missing", ("LDAP_CA_FILE", "absent.pem does not exist")),
    ],
)
def test_an_untrusted_server_certificate_is_refused_clearly(
    tls_samba: TlsSamba, mode: str, ca: str, expected: tuple[str, ...]
) -> None:
    ca_file = {
        "samba": str(tls_samba.samba_ca),
        "other": str(tls_samba.other.ca_file),
        "missing": str(tls_samba.tls.ca_file.parent / "absent.pem"),
    }[ca]
    read = _read(tls_samba, _env(tls_samba, LDAP_CA_FILE=ca_file, **_url(tls_samba.address, mode)))
    (error,) = read.errors
    assert all(part in error for part in expected), error
    assert "Traceback" not in error and '("(' not in error  # one plain sentence
    assert tls_samba.server.password not in error
    assert read.groups == () and System.DIRECTORY not in read.to_world().systems
    assert [f.kind for f in read.findings()] == [FindingKind.READ_ERROR]


def test_a_certificate_for_another_name_is_refused(samba_server: DirectoryServer) -> None:
    """The chain alone is not enough. A stock Samba serves the certificate it generated
    for dc1.example.test; trusting its CA still fails for a URL by address, clearly."""
    address = samba_server.url.removeprefix("ldap://").rsplit(":", 1)[0]
    samba = TlsSamba(
        server=samba_server,
        address=address,
        tls=TlsFiles(
            ca_file=samba_server.workdir / "private" / "tls" / "ca.pem",
            cert_file=samba_server.workdir / "private" / "tls" / "cert.pem",
            key_file=samba_server.workdir / "private" / "tls" / "key.pem",
            hosts=("dc1.example.test",),
        ),
        samba_ca=samba_server.workdir / "private" / "tls" / "ca.pem",
        other=make_tls_files(directory=samba_server.workdir / "unused-pki"),
        login="nobody",
        group_dn="",
    )
    for mode in ("starttls", "ldaps"):
        env = _env(samba, LDAP_CA_FILE=str(samba.tls.ca_file), **_url(address, mode))
        (error,) = _read(samba, env).errors
        assert "doesn't match any name in ['" + address in error, error
        assert "must name the host in LDAP_URL" in error
