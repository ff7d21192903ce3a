"""The Okta app's IdP metadata is checked before upload, like a `metadata_file` is."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.commands_session import fetched_metadata_findings
from engine.model import System
from engine.plan import FindingKind
from engine.sandbox.brownfield import old_metadata

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def _emulator_metadata() -> str:
    return old_metadata()  # the emulator's metadata of the brownfield's earlier app


def test_the_emulators_metadata_is_real_and_passes() -> None:
    document = _emulator_metadata()
    assert fetched_metadata_findings(document=document, now=NOW) == ()
    assert document == _emulator_metadata()  # stable per app, as Okta's is per key


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ("<html>login page</html>", "EntityDescriptor"),
        ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>', "SAML metadata"),
        (
            '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>',
            "IDPSSODescriptor",
        ),
    ],
)
def test_metadata_that_fails_the_check_blocks_the_plan(document: str, fragment: str) -> None:
    findings = fetched_metadata_findings(document=document, now=NOW)
    assert findings, "a bad document must block"
    for finding in findings:
        assert finding.kind is FindingKind.CONFLICT and finding.blocking
        assert finding.system is System.AWS
        assert finding.subject == "SAML metadata of the Okta app"
        assert finding.message.endswith("it is not uploaded")
    assert any(fragment in f.message for f in findings)


def test_an_expired_certificate_blocks() -> None:
    document = _emulator_metadata()  # valid until 2045
    findings = fetched_metadata_findings(document=document, now=datetime(2046, 1, 1, tzinfo=UTC))
    assert [f.kind for f in findings] == [FindingKind.CONFLICT]
    assert "expired" in findings[0].message or "2045" in findings[0].message
