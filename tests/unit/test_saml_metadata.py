"""The SAML metadata check: what an IdP document must hold, each failure at its line.

Documents are built here in Okta's shape around certificates made on the spot (their
`notAfter` chosen per case), and `now` is fixed, so no case depends on the clock.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.saml_metadata import EXPIRY_WARNING, MetadataReport, check_metadata
from engine.spec import Severity

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
EXAMPLE = Path(__file__).resolve().parents[2] / "desired-state" / "okta-idp-metadata.xml"
SSO = "https://example.okta.com/app/amazon_aws/exk1/sso/saml"


@cache
def certificate(not_after: datetime) -> str:
    """A self-signed certificate valid until `not_after`, base64 DER on 64-column lines."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(not_after - timedelta(days=3650))
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    encoded = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    return "\n".join(encoded[i : i + 64] for i in range(0, len(encoded), 64))


VALID = certificate(NOW + timedelta(days=3000))
EXPIRED = certificate(NOW - timedelta(days=1))
SOON = certificate(NOW + timedelta(days=10))


def key(cert: str, use: str | None = "signing") -> str:
    use_attr = f' use="{use}"' if use else ""
    return (
        f"    <md:KeyDescriptor{use_attr}>\n"
        '      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">\n'
        f"        <ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data>\n"
        "      </ds:KeyInfo>\n"
        "    </md:KeyDescriptor>\n"
    )


def document(
    *,
    keys: str | None = None,
    sso: str = f'    <md:SingleSignOnService Binding="x" Location="{SSO}"/>\n',
    entity: str = ' entityID="http://www.okta.com/exk1"',
) -> str:
    """Okta-shaped metadata; line 3 is the IDPSSODescriptor, line 4 the first key."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"{entity}>\n'
        "  <md:IDPSSODescriptor "
        'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">\n'
        + (key(VALID) if keys is None else keys)
        + sso
        + "  </md:IDPSSODescriptor>\n"
        "</md:EntityDescriptor>\n"
    )


def errors(report: MetadataReport) -> list[tuple[int | None, str]]:
    return [(f.line, f.message) for f in report.findings if f.severity is Severity.ERROR]


def test_okta_shaped_document_passes_and_reports_the_expiry() -> None:
    report = check_metadata(document=document(), now=NOW)
    assert report.ok
    assert report.entity_id == "http://www.okta.com/exk1"
    assert report.sso_locations == (SSO,)
    (cert,) = report.certificates
    assert cert.line == 6  # the X509Certificate element
    assert cert.not_after == NOW + timedelta(days=3000)
    (finding,) = report.findings
    assert finding.severity is Severity.INFO
    assert finding.line == 6
    assert finding.message == (
        f"SAML metadata: signing certificate sha256:{cert.sha256[:16]} valid until "
        f"{cert.not_after:%Y-%m-%dT%H:%M:%SZ}"
    )


def test_the_example_metadata_passes() -> None:
    report = check_metadata(document=EXAMPLE.read_bytes(), now=NOW)
    assert report.ok, report.findings
    assert [c.not_after for c in report.certificates] == [datetime(2035, 1, 15, 9, 30, tzinfo=UTC)]


TRUNCATED = document().split("  </md:IDPSSODescriptor>")[0]
MD_OPEN = '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"'

# Each document, and the one error it must get: (line, message after "SAML metadata: ").
CASES: dict[str, tuple[str | bytes, int | None, str]] = {
    "not-xml": ("hello\n", 1, "not well-formed XML: syntax error"),
    "empty": ("", 1, "not well-formed XML: no element found"),
    "truncated": (TRUNCATED, TRUNCATED.count("\n") + 1, "not well-formed XML: no element found"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\xff\xfe", 1, "not UTF-8 text"),
    "no-namespace": ("<EntityDescriptor/>", 1, "EntityDescriptor is not in the SAML"),
    "not-an-entity": (
        '<x:Envelope xmlns:x="urn:x"/>',
        1,
        "the document is not an EntityDescriptor",
    ),
    "several-entities": (
        '<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"/>',
        1,
        "holds several entities (EntitiesDescriptor)",
    ),
    "no-entity-id": (document(entity=""), 2, "EntityDescriptor has no entityID"),
    "service-provider": (
        f'<?xml version="1.0"?>\n{MD_OPEN} entityID="x">\n  <md:SPSSODescriptor/>\n'
        "</md:EntityDescriptor>",
        2,
        "no IDPSSODescriptor: not an identity provider's metadata",
    ),
    "no-key": (document(keys=""), 3, "no signing certificate"),
    "encryption-key-only": (document(keys=key(VALID, "encryption")), 3, "no signing certificate"),
    "certificate-not-base64": (
        document(keys=key("not base64!")),
        6,
        "X509Certificate is not a base64 DER X.509 certificate",
    ),
    "certificate-not-der": (
        document(keys=key(base64.b64encode(b"\x30\x03\x02\x01\x01" * 40).decode())),
        6,
        "X509Certificate is not a base64 DER X.509 certificate",
    ),
    "no-sso": (document(sso=""), 3, "no SingleSignOnService with a Location"),
    "sso-without-location": (
        document(sso='    <md:SingleSignOnService Binding="x"/>\n'),
        3,
        "no SingleSignOnService with a Location",
    ),
    "expired": (
        document(keys=key(EXPIRED)),
        6,
        "signing certificate sha256:",  # … expired on …; download the current metadata …
    ),
    # Entities and DTDs are refused outright: no expansion, no file or network read.
    "billion-laughs": (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
        ' <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n]>\n'
        "<lolz>&lol2;</lolz>\n",
        2,
        "a DOCTYPE is not allowed",
    ),
    "external-entity": (
        '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
        "<x>&e;</x>\n",
        2,
        "a DOCTYPE is not allowed",
    ),
}


@pytest.mark.parametrize(("doc", "line", "message"), CASES.values(), ids=CASES.keys())
def test_each_failure_is_named_at_its_line(doc: str | bytes, line: int, message: str) -> None:
    report = check_metadata(document=doc, now=NOW)
    assert not report.ok
    found = errors(report)
    assert len(found) == 1, found
    assert found[0][0] == line
    assert found[0][1].startswith(f"SAML metadata: {message}"), found


def test_a_key_without_use_signs() -> None:
    report = check_metadata(document=document(keys=key(VALID, use=None)), now=NOW)
    assert report.ok and len(report.certificates) == 1


def test_an_expired_certificate_is_an_error_when_none_is_left() -> None:
    report = check_metadata(document=document(keys=key(EXPIRED)), now=NOW)
    (error,) = errors(report)
    expiry = (NOW - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert error[1].endswith(
        f"expired on {expiry}; download the current metadata from the Okta app"
    )


def test_an_expired_certificate_beside_a_valid_one_is_a_warning() -> None:
    # Okta publishes the old and the new key side by side during a rotation.
    report = check_metadata(document=document(keys=key(EXPIRED) + key(VALID)), now=NOW)
    assert report.ok
    doc = document(keys=key(EXPIRED) + key(VALID))
    second = doc.count("\n", 0, doc.rindex("<ds:X509Certificate>")) + 1
    severities = [(f.line, f.severity) for f in report.findings]
    assert severities == [(6, Severity.WARNING), (second, Severity.INFO)]


def test_a_certificate_expiring_soon_is_a_warning() -> None:
    report = check_metadata(document=document(keys=key(SOON)), now=NOW)
    assert report.ok
    (finding,) = report.findings
    assert finding.severity is Severity.WARNING
    assert finding.message.endswith("(in 10 days)")
    assert timedelta(days=10) <= EXPIRY_WARNING


def test_the_encoding_declaration_is_honoured() -> None:
    latin = document().replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
    assert check_metadata(document=latin, now=NOW).ok


def test_messages_never_quote_the_document() -> None:
    secret = "AKIAIOSFODNN7EXAMPLEwJalrXUtnFEMI"
    for doc in (secret, f"<a>{secret}</a>", f"<{secret}/>", f"<a>\n{secret} &x;</a>"):
        for finding in check_metadata(document=doc, now=NOW).findings:
            assert secret not in finding.message


@settings(max_examples=200, deadline=timedelta(seconds=2))
@given(st.one_of(st.binary(max_size=400), st.text(max_size=400)))
def test_any_input_gives_a_report_not_an_exception(doc: str | bytes) -> None:
    report = check_metadata(document=doc, now=NOW)
    assert not report.ok  # random input is never an IdP document
    assert all(f.message.startswith("SAML metadata: ") for f in report.findings)


@settings(max_examples=100, deadline=timedelta(seconds=2))
@given(
    st.lists(
        st.sampled_from(
            [
                "<md:EntityDescriptor",
                ' xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"',
                ' entityID="e"',
                ">",
                "<md:IDPSSODescriptor>",
                "</md:IDPSSODescriptor>",
                key(VALID),
                key("AAAA"),
                f'<md:SingleSignOnService Location="{SSO}"/>',
                "</md:EntityDescriptor>",
                "\n",
                "&amp;",
                "<!--c-->",
            ]
        ),
        max_size=12,
    )
)
def test_any_arrangement_of_metadata_parts_gives_a_report(parts: list[str]) -> None:
    report = check_metadata(document="".join(parts), now=NOW)
    # Whatever is reported is at a line of the document, or at none.
    lines = "".join(parts).count("\n") + 1
    assert all(f.line is None or 1 <= f.line <= lines for f in report.findings)
    if report.ok:
        assert report.certificates and report.sso_locations
