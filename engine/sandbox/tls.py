"""Throwaway TLS material: a CA and a server certificate for loopback, and RSA keys.

TLS must be tested for real (the okta SDK over HTTPS without its "disable the https
check" escape hatch, LDAPS and StartTLS to a real Samba DC), and a self-signed
certificate that names some other host proves nothing about hostname checks. So this
makes, per test session or sandbox, a private CA whose certificate the client is told to
trust and a server certificate it signs whose subjectAltNames are exactly the loopback
names and addresses the server is reached by (IP SANs: clients match an IP URL against
them, never against the CN). Keys are written 0600: Samba refuses a key file anyone else
can read. Nothing here is meant for production use.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "DEFAULT_HOSTS",
    "TlsFiles",
    "make_tls_files",
    "new_rsa_key",
    "private_key_pem",
    "public_key_pem",
    "write_private_key",
]

DEFAULT_HOSTS = ("127.0.0.1", "localhost")
_KEY_BITS = 2048


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: the CA certificate clients trust, and the server's certificate and key."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    hosts: tuple[str, ...]

    def server_context(self) -> ssl.SSLContext:
        """What a Python server (the Okta emulator) wraps its socket with."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(certfile=self.cert_file, keyfile=self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts only this CA (hostname checked)."""
        return ssl.create_default_context(cafile=str(self.ca_file))


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)


def private_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    """PKCS#8, unencrypted: what Okta's admin console hands out and the SDK reads."""
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def public_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )


def make_tls_files(
    *,
    directory: Path,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    common_name: str = "okta-aws sandbox",
    days: int = 30,
    prefix: str = "",
) -> TlsFiles:
    """Write `{prefix}ca.pem`, `{prefix}cert.pem` and `{prefix}key.pem` into `directory`.

    `hosts` are DNS names or IP addresses (each becomes a DNS or IP subjectAltName). The
    CA's key is not kept: nothing can be signed with it later.
    """
    if not hosts:
        raise ValueError("at least one host name or address is needed")
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    not_before, not_after = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)

    ca_key = new_rsa_key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{common_name} CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = new_rsa_key()
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )

    files = TlsFiles(
        ca_file=directory / f"{prefix}ca.pem",
        cert_file=directory / f"{prefix}cert.pem",
        key_file=directory / f"{prefix}key.pem",
        hosts=tuple(hosts),
    )
    files.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(files.key_file, private_key_pem(server_key))
    return files


def write_private_key(path: Path, key: rsa.RSAPrivateKey) -> Path:
    """`key` as PKCS#8 PEM in a file only its owner can read."""
    _write_private(path, private_key_pem(key))
    return path


def _write_private(path: Path, data: bytes) -> None:
    # Created 0600 rather than chmod-ed afterwards: the key is never readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    path.chmod(0o600)


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)
