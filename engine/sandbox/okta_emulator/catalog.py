"""The app instances an org starts with, and the fields Okta fills in for them.

The `amazon_aws` app's `settings.app` is exactly what Okta returns for a fresh AWS
Account Federation app (docs/facts.md §Okta's AWS Account Federation app); the directory
integrations are the app instances imported groups point at (`_links.source`). Bodies
mirror the bookmark/SAML apps recorded in the okta SDK's cassettes (accessibility,
visibility, notifications…).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import textwrap
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from engine.sandbox.okta_emulator.state import App, OktaState

AWS_APP_NAME = "amazon_aws"
AWS_APP_LABEL = "Amazon Web Services"
ACTIVE_DIRECTORY_APP_NAME = "active_directory"
LDAP_APP_NAME = "ldap_sun_one"


def aws_settings_app() -> dict[str, Any]:
    """A fresh AWS app's `settings.app`, key order and nulls as Okta returns them."""
    return {
        "appFilter": "okta",
        "groupFilter": "aws_(?{{accountid}}\\d+)_(?{{role}}[a-zA-Z0-9+=,.@\\-_]+)",
        "useGroupMapping": False,
        "joinAllRoles": False,
        "identityProviderArn": None,
        "overrideAcsURL": None,
        "sessionDuration": 3600,
        "roleValuePattern": (
            "arn:aws:iam::${accountid}:saml-provider/OKTA,arn:aws:iam::${accountid}:role/${role}"
        ),
        "accountID": None,
        "awsEnvironmentType": "aws.amazon",
        "loginURL": "https://console.aws.amazon.com/ec2/home",
        "accessKey": None,
        "secretKey": None,
        "secretKeyEnc": None,
        "webSSOAllowedClient": None,
    }


def signing_kid(app_id: str) -> str:
    digest = hashlib.sha256(f"kid:{app_id}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _common_body() -> dict[str, Any]:
    return {
        "accessibility": {"selfService": False, "errorRedirectUrl": None, "loginRedirectUrl": None},
        "visibility": {
            "autoLaunch": False,
            "autoSubmitToolbar": False,
            "hide": {"iOS": False, "web": False},
            "appLinks": {"login": True},
        },
        "features": [],
    }


def _notifications() -> dict[str, Any]:
    return {"vpn": {"network": {"connection": "DISABLED"}, "message": None, "helpUrl": None}}


def aws_app_body(*, settings_app: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        **_common_body(),
        "credentials": {
            "userNameTemplate": {"template": "${source.login}", "type": "BUILT_IN"},
            "signing": {},
        },
        "settings": {
            "app": settings_app if settings_app is not None else aws_settings_app(),
            "notifications": _notifications(),
            "manualProvisioning": False,
            "implicitAssignment": False,
            "notes": {"admin": None, "enduser": None},
        },
    }


def add_aws_app(state: OktaState, *, label: str = AWS_APP_LABEL) -> App:
    with state.lock:
        app = state.add_app(
            name=AWS_APP_NAME, label=label, sign_on_mode="SAML_2_0", body=aws_app_body()
        )
        # The signing key id depends on the app id, so it is filled in after creation.
        body = dict(app.body)
        body["credentials"] = {**body["credentials"], "signing": {"kid": signing_kid(app.id)}}
        return state.replace_app(app_id=app.id, label=app.label, body=body)


def add_directory_app(state: OktaState, *, name: str, label: str) -> App:
    """A directory integration (`active_directory` or `ldap_sun_one`) app instance.

    Unverified: the recorded responses have no directory app, so its `signOnMode` is a
    guess; only `name`, `id` and the `_links.source` of its groups matter to clients.
    """
    if name not in (ACTIVE_DIRECTORY_APP_NAME, LDAP_APP_NAME):
        raise ValueError(f"unknown directory app {name!r}")
    body = {
        **_common_body(),
        "credentials": {
            "userNameTemplate": {"template": "${source.login}", "type": "BUILT_IN"},
            "signing": {},
        },
        "settings": {"app": {}, "notifications": _notifications()},
    }
    return state.add_app(name=name, label=label, sign_on_mode="AUTO_LOGIN", body=body)


@functools.cache
def _signing_certificate(app_id: str) -> bytes:
    """A real self-signed X.509 certificate (DER), the same for the same app every time.

    okta-aws checks metadata before it uploads it (a parseable signing certificate, its
    expiry), so the emulator's must be real. Ed25519 signatures are deterministic and
    the key is derived from the app id, so the document stays stable per app, as Okta's
    is per signing key."""
    key = ed25519.Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(f"signing-key:{app_id}".encode()).digest()
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"okta-emulator {app_id}")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(hashlib.sha256(app_id.encode()).digest()[:8], "big"))
        .not_valid_before(datetime(2025, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2045, 1, 1, tzinfo=UTC))
        .sign(key, None)
    )
    return certificate.public_bytes(serialization.Encoding.DER)


def saml_metadata(*, app: App, base_url: str) -> str:
    """IdP metadata for an app: stable per app id, as the real one is per signing key."""
    entity = "exk" + hashlib.sha256(f"entity:{app.id}".encode()).hexdigest()[:17]
    cert = "\n".join(textwrap.wrap(base64.b64encode(_signing_certificate(app.id)).decode(), 76))
    sso = f"{base_url}/app/{app.name}/{entity}/sso/saml"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'entityID="http://www.okta.com/{entity}">\n'
        '  <md:IDPSSODescriptor WantAuthnRequestsSigned="false" '
        'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">\n'
        '    <md:KeyDescriptor use="signing">\n'
        '      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">\n'
        f"        <ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data>\n"
        "      </ds:KeyInfo>\n"
        "    </md:KeyDescriptor>\n"
        "    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
        "</md:NameIDFormat>\n"
        "    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
        "</md:NameIDFormat>\n"
        '    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
        f'Location="{sso}"/>\n'
        '    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
        f'Location="{sso}"/>\n'
        "  </md:IDPSSODescriptor>\n"
        "</md:EntityDescriptor>\n"
    )
