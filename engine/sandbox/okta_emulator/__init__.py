"""An Okta Management API emulator, so the engine's Okta provider and the sandbox run offline.

It behaves like Okta where the engine can tell: paths, `Link` pagination with `after`
cursors, `X-Rate-Limit-*` headers and 429s, Okta's error bodies, read-only imported
`APP_GROUP`s with memberships flattened by a directory import, and the `amazon_aws` app's
`settings.app`.
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
    "App",
    "Assignment",
    "DirectoryGroupRecord",
    "DirectoryRecords",
    "DirectoryUserRecord",
    "FaultKind",
    "FaultRule",
    "Group",
    "GroupType",
    "ImportResult",
    "OktaApiError",
    "OktaEmulator",
    "OktaState",
    "RateLimitPolicy",
    "User",
    "add_aws_app",
    "add_directory_app",
    "aws_settings_app",
    "import_directory",
    "records_from_ldap3",
    "running_emulator",
]
