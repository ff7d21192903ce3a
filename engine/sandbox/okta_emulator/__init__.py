"""An Okta Management API emulator, so the engine's Okta provider and the sandbox run offline.

It behaves like Okta where the engine can tell: paths, `Link` pagination with `after`
cursors, `X-Rate-Limit-*` headers and 429s, Okta's error bodies, read-only imported
`APP_GROUP`s with memberships flattened by a directory import, the `amazon_aws` app's
`settings.app`, and OAuth 2.0 service apps (private_key_jwt client credentials at
`/oauth2/v1/token`, scoped Bearer tokens). Serve it over HTTPS with an `ssl_context`
(engine/sandbox/tls.py makes the certificates).
"""

from engine.sandbox.okta_emulator.catalog import (
    ACTIVE_DIRECTORY_APP_NAME,
    AWS_APP_LABEL,
    AWS_APP_NAME,
    LDAP_APP_NAME,
    add_aws_app,
    add_directory_app,
    aws_settings_app,
)
from engine.sandbox.okta_emulator.errors import OktaApiError
from engine.sandbox.okta_emulator.faults import FaultKind, FaultRule, RateLimitPolicy
from engine.sandbox.okta_emulator.importer import (
    DirectoryGroupRecord,
    DirectoryUserRecord,
    ImportResult,
    import_directory,
)
from engine.sandbox.okta_emulator.ldap_records import DirectoryRecords, records_from_ldap3
from engine.sandbox.okta_emulator.oauth import (
    MANAGEMENT_SCOPES,
    AuthorizationServer,
    OAuthError,
    ServiceApp,
)
from engine.sandbox.okta_emulator.server import OktaEmulator, running_emulator
from engine.sandbox.okta_emulator.state import (
    App,
    Assignment,
    Group,
    GroupType,
    OktaState,
    User,
)

__all__ = [
    "ACTIVE_DIRECTORY_APP_NAME",
    "AWS_APP_LABEL",
    "AWS_APP_NAME",
    "LDAP_APP_NAME",
    "MANAGEMENT_SCOPES",
    "App",
    "Assignment",
    "AuthorizationServer",
    "DirectoryGroupRecord",
    "DirectoryRecords",
    "DirectoryUserRecord",
    "FaultKind",
    "FaultRule",
    "Group",
    "GroupType",
    "ImportResult",
    "OAuthError",
    "OktaApiError",
    "OktaEmulator",
    "OktaState",
    "RateLimitPolicy",
    "ServiceApp",
    "User",
    "add_aws_app",
    "add_directory_app",
    "aws_settings_app",
    "import_directory",
    "records_from_ldap3",
    "running_emulator",
]
