"""Okta's error bodies, so clients exercise the same error paths as against a real org.

Codes and summaries are copied from Okta's spec examples and from real responses recorded
in the okta SDK's cassettes (see tests/sandbox/okta_emulator/data/README.md).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from typing import Any

_ERROR_ID_ALPHABET = string.ascii_letters + string.digits + "-_"


class OktaApiError(Exception):
    """An error the emulator answers with, shaped like Okta's `Error` object."""

    def __init__(
        self,
        *,
        status: int,
        code: str,
        summary: str,
        causes: tuple[str, ...] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {summary}")
        self.status = status
        self.code = code
        self.summary = summary
        self.causes = causes
        # Extra response headers (e.g. an OAuth WWW-Authenticate challenge).
        self.headers: Mapping[str, str] = dict(headers or {})

    def body(self) -> dict[str, Any]:
        # Real error ids start with "oae" followed by 22 url-safe characters.
        error_id = "oae" + "".join(secrets.choice(_ERROR_ID_ALPHABET) for _ in range(22))
        return {
            "errorCode": self.code,
            "errorSummary": self.summary,
            "errorLink": self.code,
            "errorId": error_id,
            "errorCauses": [{"errorSummary": cause} for cause in self.causes],
        }


def not_found(*, resource_id: str, resource_type: str) -> OktaApiError:
    """404 E0000007; types seen in real responses: User, UserGroup, AppInstance."""
    return OktaApiError(
        status=404,
        code="E0000007",
        summary=f"Not found: Resource not found: {resource_id} ({resource_type})",
    )


def validation_failed(*, field: str, causes: tuple[str, ...]) -> OktaApiError:
    return OktaApiError(
        status=400, code="E0000001", summary=f"Api validation failed: {field}", causes=causes
    )


def already_exists(*, field: str) -> OktaApiError:
    return validation_failed(
        field=field,
        causes=(f"{field}: An object with this field already exists in the current organization",),
    )


def access_denied(*, headers: Mapping[str, str] | None = None) -> OktaApiError:
    # What Okta answers when an API token touches an imported (APP_GROUP) or BUILT_IN
    # group's members or profile: terraform-provider-okta PR #118 quotes this summary.
    # Also an OAuth token lacking a scope (with a WWW-Authenticate challenge).
    return OktaApiError(
        status=403,
        code="E0000006",
        summary="You do not have permission to perform the requested action",
        headers=headers,
    )


def invalid_token() -> OktaApiError:
    return OktaApiError(status=401, code="E0000011", summary="Invalid token provided")


def rate_limited() -> OktaApiError:
    return OktaApiError(
        status=429,
        code="E0000047",
        summary="API call exceeded rate limit due to too many requests.",
    )


def invalid_cursor() -> OktaApiError:
    return OktaApiError(
        status=400,
        code="E0000029",
        summary="Invalid paging request.",
        causes=("Invalid cursor.",),
    )


def invalid_search(*, detail: str) -> OktaApiError:
    return OktaApiError(
        status=400, code="E0000031", summary="Invalid search criteria.", causes=(detail,)
    )


def malformed_body() -> OktaApiError:
    return OktaApiError(
        status=400, code="E0000003", summary="The request body was not well-formed."
    )


def unsupported_method() -> OktaApiError:
    return OktaApiError(
        status=405,
        code="E0000022",
        summary="The endpoint does not support the provided HTTP method",
    )


def server_error(*, status: int) -> OktaApiError:
    return OktaApiError(
        status=status,
        code="E0000009",
        summary="Internal Server Error",
    )
