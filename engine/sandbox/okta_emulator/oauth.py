"""Okta's org authorization server, as far as an OAuth 2.0 service app uses it.

An API service app (what `OKTA_CLIENT_ID` + `OKTA_PRIVATE_KEY_FILE` configure) gets its
access tokens from `POST /oauth2/v1/token` with the client-credentials grant and a
`private_key_jwt` client assertion, then calls the Management API with
`Authorization: Bearer <token>`, limited to the `okta.*` scopes it was granted. The okta
SDK builds that assertion itself (okta/jwt.py: RS256, `iss` = `sub` = client id,
`aud` = org URL + `/oauth2/v1/token`, a fresh `jti`, `exp` 50 minutes out, `kid` only if
configured), so the emulator checks it the way Okta does: signature against the public
key registered for the client, `aud` equal to the endpoint invoked, not expired, not too
long-lived, `jti` not replayed. Failures use the OAuth error format
(`{"error", "error_description"}`), not Okta's `errorCode` one.

DPoP: okta SDK 3.4.6 sends no DPoP proof unless `dpopEnabled` (env
`OKTA_CLIENT_DPOPENABLED`) is set, and okta-aws does not set it; an app registered with
`require_dpop=True` answers as Okta does for such apps (`invalid_dpop_proof`), so that
misconfiguration is testable. Issuing DPoP-bound tokens is not emulated.

Service apps, tokens and consumed `jti`s live in memory only (not in the saved state).
Error descriptions marked (Okta) are quoted from Okta's support articles; the others are
ours, in Okta's style.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from engine.sandbox.okta_emulator import errors

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "MANAGEMENT_SCOPES",
    "TOKEN_PATH",
    "AuthorizationServer",
    "OAuthError",
    "ServiceApp",
    "required_scopes",
]

TOKEN_PATH = "/oauth2/v1/token"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MANAGEMENT_SCOPES = frozenset(
    f"okta.{resource}.{level}"
    for resource in ("apps", "groups", "users")
    for level in ("read", "manage")
)
TOKEN_LIFETIME = 3600
# Okta refuses client assertions valid for more than an hour.
MAX_ASSERTION_LIFETIME = 3600
_ALGORITHMS = ["RS256", "RS384", "RS512"]
_CLAIMS = ["iss", "sub", "aud", "exp", "jti"]


class OAuthError(Exception):
    """A token-endpoint failure, answered in the OAuth 2.0 error format."""

    def __init__(self, *, status: int, error: str, description: str) -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status, self.error, self.description = status, error, description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def _invalid_client(description: str) -> OAuthError:
    return OAuthError(status=401, error="invalid_client", description=description)


def _invalid_scope(description: str) -> OAuthError:
    return OAuthError(status=400, error="invalid_scope", description=description)


@dataclass(frozen=True)
class ServiceApp:
    """An API service app: its client id, registered public key and granted scopes."""

    client_id: str
    public_key: Any = field(repr=False)  # a cryptography RSA public key
    granted_scopes: frozenset[str] = MANAGEMENT_SCOPES
    kid: str | None = None
    require_dpop: bool = False

    @classmethod
    def from_key_text(
        cls,
        *,
        client_id: str,
        public_key: str | bytes,
        granted_scopes: Iterable[str] = MANAGEMENT_SCOPES,
        kid: str | None = None,
        require_dpop: bool = False,
    ) -> ServiceApp:
        """`public_key`: a PEM public key (or certificate-less SubjectPublicKeyInfo) or a
        public JWK as JSON, as pasted into Okta's admin console. A JWK's `kid` is used
        unless `kid` is given."""
        text = public_key.decode() if isinstance(public_key, bytes) else public_key
        if text.lstrip().startswith("{"):
            jwk = json.loads(text)
            key = jwt.PyJWK(jwk).key
            kid = kid or jwk.get("kid")
        else:
            key = serialization.load_pem_public_key(text.encode())
        unknown = set(granted_scopes) - MANAGEMENT_SCOPES
        if unknown:
            raise ValueError(f"unknown scopes: {sorted(unknown)}")
        return cls(
            client_id=client_id,
            public_key=key,
            granted_scopes=frozenset(granted_scopes),
            kid=kid,
            require_dpop=require_dpop,
        )


@dataclass(frozen=True)
class IssuedToken:
    client_id: str
    scopes: frozenset[str]
    expires_at: float


def required_scopes(method: str, route: str) -> frozenset[str] | None:
    """Scopes any one of which allows a Management API call (`manage` implies `read`);
    None for paths outside apps, groups and users."""
    parts = route.split("/")
    if len(parts) < 4 or parts[:3] != ["", "api", "v1"]:
        return None
    resource = parts[3]
    if resource not in ("apps", "groups", "users"):
        return None
    if method in ("GET", "HEAD"):
        return frozenset({f"okta.{resource}.read", f"okta.{resource}.manage"})
    return frozenset({f"okta.{resource}.manage"})


class AuthorizationServer:
    """Registered service apps, issued tokens and consumed assertion ids (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._apps: dict[str, ServiceApp] = {}
        self._tokens: dict[str, IssuedToken] = {}
        self._used_jti: set[tuple[str, str]] = set()
        self.tokens_issued = 0

    def add_service_app(self, app: ServiceApp) -> ServiceApp:
        with self._lock:
            self._apps[app.client_id] = app
        return app

    @property
    def enabled(self) -> bool:
        with self._lock:
            return bool(self._apps)

    # --- the token endpoint -----------------------------------------------------------

    def token(
        self,
        *,
        form: Mapping[str, str],
        token_url: str,
        dpop_proof: str | None = None,
        now: float | None = None,
    ) -> dict[str, Any]:
        """The token response for a client-credentials request, or OAuthError."""
        now = time.time() if now is None else now
        if form.get("grant_type") != "client_credentials":
            raise OAuthError(
                status=400,
                error="unsupported_grant_type",
                description="The authorization grant type is not supported by the "
                "authorization server. Configured grant types: [client_credentials].",
            )
        assertion = form.get("client_assertion") or ""
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE or not assertion:
            raise _invalid_client(
                "Client authentication failed: a private_key_jwt client_assertion is required."
            )
        app = self._authenticate(assertion, token_url=token_url, now=now)
        if app.require_dpop and not dpop_proof:
            raise OAuthError(
                status=400,
                error="invalid_dpop_proof",
                description="The DPoP proof JWT header is missing.",
            )
        requested = frozenset((form.get("scope") or "").split())
        if not requested:
            raise _invalid_scope("The scope parameter is required.")
        unknown = requested - MANAGEMENT_SCOPES
        if unknown:
            # (Okta) what the org authorization server says of scopes it does not know.
            raise _invalid_scope(
                "One or more scopes are not configured for the authorization server resource."
            )
        refused = requested - app.granted_scopes
        if refused:
            raise _invalid_scope(
                "The following scopes were requested but not granted to the client: "
                + " ".join(sorted(refused))
            )
        access_token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[access_token] = IssuedToken(
                client_id=app.client_id, scopes=requested, expires_at=now + TOKEN_LIFETIME
            )
            self.tokens_issued += 1
        return {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "access_token": access_token,
            "scope": " ".join(sorted(requested)),
        }

    def _authenticate(self, assertion: str, *, token_url: str, now: float) -> ServiceApp:
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _invalid_client("The client_assertion is not a well-formed JWT.") from None
        client_id = str(claims.get("sub") or "")
        with self._lock:
            app = self._apps.get(client_id)
        if app is None:
            raise _invalid_client("Invalid value for 'client_id' parameter.")
        if claims.get("iss") != client_id:
            raise _invalid_client(
                "The client_assertion token's iss and sub claims must both be the client_id."
            )
        kid = header.get("kid")
        if kid is not None and app.kid is not None and kid != app.kid:
            raise _invalid_client("The client_assertion JWT kid is invalid.")  # (Okta)
        try:
            verified = jwt.decode(
                assertion,
                key=app.public_key,
                algorithms=_ALGORITHMS,
                audience=token_url,
                options={"require": _CLAIMS},
                leeway=30,
            )
        except jwt.InvalidSignatureError:
            raise _invalid_client("The client_assertion signature is invalid.") from None  # (Okta)
        except jwt.InvalidAlgorithmError:
            raise _invalid_client(
                "The client_assertion token's alg must be one of RS256, RS384, RS512."
            ) from None
        except jwt.InvalidAudienceError:
            # (Okta)
            raise _invalid_client(
                "The audience claim for client_assertion must be the endpoint invoked for "
                "the request."
            ) from None
        except jwt.ExpiredSignatureError:
            raise _invalid_client("The client_assertion token is expired.") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _invalid_client(
                f"The client_assertion token is missing the '{exc.claim}' claim."
            ) from None
        except jwt.PyJWTError:
            raise _invalid_client("The client_assertion token is invalid.") from None
        issued = float(verified.get("iat", now))
        if float(verified["exp"]) - min(issued, now) > MAX_ASSERTION_LIFETIME + 60:
            raise _invalid_client(
                "The client_assertion token has an expiration too far into the future."
            )
        replay = (client_id, str(verified["jti"]))
        with self._lock:
            if replay in self._used_jti:
                raise _invalid_client("The client_assertion token has already been used.")
            self._used_jti.add(replay)
        return app

    # --- API requests ---------------------------------------------------------------------

    def authorize(
        self, *, access_token: str, method: str, route: str, now: float | None = None
    ) -> None:
        """Allow an API call made with `Bearer <access_token>`, or raise Okta's 401/403."""
        now = time.time() if now is None else now
        with self._lock:
            issued = self._tokens.get(access_token)
            if issued is not None and issued.expires_at <= now:
                del self._tokens[access_token]
                issued = None
        if issued is None:
            raise errors.invalid_token()
        needed = required_scopes(method, route)
        if needed is None or issued.scopes & needed:
            return
        wanted = min(needed, key=lambda scope: scope.endswith(".manage"))  # read, if enough
        # What Okta answers for a token without the scope: 403 E0000006 and the reason in
        # a WWW-Authenticate challenge.
        raise errors.access_denied(
            headers={
                "WWW-Authenticate": (
                    'Bearer realm="IdP", error="insufficient_scope", '
                    'error_description="The access token provided does not contain the '
                    f'required scopes.", scope="{wanted}", resource="{route}"'
                )
            }
        )
