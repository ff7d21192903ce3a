"""Check an identity provider's SAML metadata before it is uploaded to every account.

The metadata file arrives with a pull request, and `apply` uploads it as the SAML
provider of every account: whatever it says decides which signatures AWS trusts. So it
is untrusted XML. It is parsed without DTDs, entities or external references (defusedxml;
an entity "billion laughs" or a `file:///etc/passwd` entity is refused, nothing is
fetched), and it must look like what Okta publishes for an app: one `EntityDescriptor`
with an `entityID`, an `IDPSSODescriptor`, at least one signing certificate that is a
real X.509 certificate, and a `SingleSignOnService` location. Certificates past their
`notAfter` break sign-in, so their expiry is reported.

Pure: a document and the current time in, a `MetadataReport` out; callers (the loader
for `metadata_file`, a provider for metadata fetched from the Okta app) place the
findings in files.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from xml.etree.ElementTree import Element, ParseError, TreeBuilder
from xml.parsers.expat import ErrorString

from cryptography import x509
from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden
from defusedxml.ElementTree import DefusedXMLParser

from engine.spec import Severity

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
# A certificate expiring within this long gets a warning: time to fetch the new metadata.
EXPIRY_WARNING = timedelta(days=30)

__all__ = [
    "EXPIRY_WARNING",
    "Finding",
    "MetadataReport",
    "SigningCertificate",
    "check_metadata",
]


@dataclass(frozen=True)
class Finding:
    """One thing to say about the document; `line` is 1-based, None when it has none."""

    line: int | None
    message: str
    severity: Severity = Severity.ERROR


@dataclass(frozen=True)
class SigningCertificate:
    line: int
    sha256: str  # of the DER bytes, hex
    not_after: datetime  # UTC


@dataclass(frozen=True)
class MetadataReport:
    entity_id: str | None = None
    certificates: tuple[SigningCertificate, ...] = ()
    sso_locations: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        """No error: the document may be uploaded (warnings and information aside)."""
        return not any(f.severity is Severity.ERROR for f in self.findings)


def check_metadata(*, document: str | bytes, now: datetime) -> MetadataReport:
    """Parse and check `document` (bytes must be UTF-8); `now` is timezone-aware."""
    if isinstance(document, str):
        text = document
    else:
        try:
            text = document.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = document.count(b"\n", 0, exc.start) + 1
            return _failed(line, f"not UTF-8 text ({exc.reason}): is it a binary file?")
    parsed = _parse(text)
    if isinstance(parsed, Finding):
        return MetadataReport(findings=(parsed,))
    root, lines = parsed
    return _Checker(root, lines, now).report()


def _failed(line: int | None, message: str) -> MetadataReport:
    return MetadataReport(findings=(Finding(line, f"SAML metadata: {message}"),))


class _LineRecorder:
    """A parser target that builds the tree and notes the line of every start tag."""

    def __init__(self) -> None:
        self.builder = TreeBuilder()
        self.lines: list[int] = []
        self.expat: Any = None  # the expat parser, to ask for the current line

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        self.lines.append(int(self.expat.CurrentLineNumber))
        return self.builder.start(tag, attrs)

    def end(self, tag: str) -> Element:
        return self.builder.end(tag)

    def data(self, data: str) -> None:
        self.builder.data(data)

    def close(self) -> Element:
        return self.builder.close()


def _parse(document: str) -> tuple[Element, dict[int, int]] | Finding:
    """The root element and the line of each element (by id), or why it does not parse."""
    recorder = _LineRecorder()
    parser = DefusedXMLParser(
        target=recorder, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    recorder.expat = parser.parser
    try:
        # Bytes, so that expat honours (and checks) an encoding declaration.
        parser.feed(document.encode("utf-8"))
        root = parser.close()
    except ParseError as exc:
        line = exc.position[0] if exc.position else None
        return Finding(line, f"SAML metadata: not well-formed XML: {ErrorString(exc.code)}")
    except DefusedXmlException as exc:
        what = (
            "a DOCTYPE"
            if isinstance(exc, DTDForbidden)
            else "an entity declaration"
            if isinstance(exc, EntitiesForbidden)
            else "an external reference"
        )
        return Finding(
            int(recorder.expat.CurrentLineNumber),
            f"SAML metadata: {what} is not allowed (DTDs, entities and external "
            "references are refused: Okta's metadata has none)",
        )
    elements = list(root.iter())
    return root, {id(e): line for e, line in zip(elements, recorder.lines, strict=False)}


class _Checker:
    def __init__(self, root: Element, lines: dict[int, int], now: datetime) -> None:
        self.root = root
        self.lines = lines
        self.now = now
        self.findings: list[Finding] = []

    def line(self, element: Element) -> int | None:
        return self.lines.get(id(element))

    def add(self, element: Element, message: str, severity: Severity = Severity.ERROR) -> None:
        self.findings.append(Finding(self.line(element), f"SAML metadata: {message}", severity))

    def report(self) -> MetadataReport:
        root = self.root
        local = root.tag.rsplit("}", 1)[-1]
        if root.tag != f"{{{MD}}}EntityDescriptor":
            if local == "EntitiesDescriptor":
                why = "holds several entities (EntitiesDescriptor); give the Okta app's one"
            elif local == "EntityDescriptor":
                why = f"EntityDescriptor is not in the SAML metadata namespace {MD}"
            else:
                why = "the document is not an EntityDescriptor"  # its name is content
            self.add(root, why)
            return MetadataReport(findings=tuple(self.findings))
        entity_id = root.get("entityID") or None
        if entity_id is None:
            self.add(root, "EntityDescriptor has no entityID")
        idps = root.findall(f"{{{MD}}}IDPSSODescriptor")
        if not idps:
            self.add(root, "no IDPSSODescriptor: not an identity provider's metadata")
            return MetadataReport(entity_id=entity_id, findings=tuple(self.findings))
        certificates = tuple(c for idp in idps for c in self.certificates(idp))
        if not certificates and not self.findings:
            self.add(
                idps[0],
                'no signing certificate (a KeyDescriptor with use="signing" or no use, '
                "holding a ds:X509Certificate)",
            )
        locations = tuple(
            location
            for idp in idps
            for sso in idp.findall(f"{{{MD}}}SingleSignOnService")
            if (location := (sso.get("Location") or "").strip())
        )
        if not locations:
            self.add(idps[0], "no SingleSignOnService with a Location")
        self.expiry(certificates)
        return MetadataReport(
            entity_id=entity_id,
            certificates=certificates,
            sso_locations=locations,
            findings=tuple(self.findings),
        )

    def certificates(self, idp: Element) -> list[SigningCertificate]:
        found = []
        for key in idp.findall(f"{{{MD}}}KeyDescriptor"):
            if key.get("use", "signing") != "signing":
                continue  # an encryption key signs nothing
            for element in key.iter(f"{{{DS}}}X509Certificate"):
                try:
                    der = base64.b64decode("".join((element.text or "").split()), validate=True)
                    cert = x509.load_der_x509_certificate(der)
                    not_after = cert.not_valid_after_utc
                except (binascii.Error, ValueError, TypeError):
                    self.add(element, "X509Certificate is not a base64 DER X.509 certificate")
                    continue
                found.append(
                    SigningCertificate(
                        line=self.line(element) or 1,
                        sha256=hashlib.sha256(der).hexdigest(),
                        not_after=not_after,
                    )
                )
        return found

    def expiry(self, certificates: tuple[SigningCertificate, ...]) -> None:
        """Information on each, and: expired → error when none is left, else a warning."""
        current = [c for c in certificates if c.not_after > self.now]
        for cert in certificates:
            when = cert.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
            name = f"signing certificate sha256:{cert.sha256[:16]}"
            if cert.not_after <= self.now:
                severity = Severity.WARNING if current else Severity.ERROR
                message = f"{name} expired on {when}"
                if not current:
                    message += "; download the current metadata from the Okta app"
            elif cert.not_after - self.now <= EXPIRY_WARNING:
                days = (cert.not_after - self.now).days
                severity = Severity.WARNING
                message = f"{name} expires on {when} (in {days} days)"
            else:
                severity = Severity.INFO
                message = f"{name} valid until {when}"
            self.findings.append(Finding(cert.line, f"SAML metadata: {message}", severity))
