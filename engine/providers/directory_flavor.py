"""Active Directory and OpenLDAP, side by side: every difference the provider knows of.

The two directories hold the same idea (groups with `member` DNs, users with a login)
in different shapes: object classes, the login attribute (`sAMAccountName` vs `uid`),
whether a group may be empty (`groupOfNames` may not), whether `member` comes in
ranges (AD cuts at 1,500 values), which result codes mean "already a member" / "not a
member", and AD's `sAMAccountName`, which every group needs and which may not contain
some characters. Keeping all of it in this one table means the read and execute code
is written once, and a third flavor would be one more entry here.

The sandbox and the tests seed and persist directories of both kinds from the same
table (the user and container classes, how users are named, whether a `member` must
name an existing entry, how the server spells DNs), so they never keep a second copy
of these differences.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from engine.dn import escape_rdn_value
from engine.model import DirectoryKind
from engine.naming import sam_account_name

__all__ = [
    "AD",
    "AD_GLOBAL_SECURITY_GROUP",
    "LDAP",
    "PLACEHOLDER_MEMBER",
    "Flavor",
    "flavor_for",
]

AD_GLOBAL_SECURITY_GROUP = -2147483646

# groupOfNames must have a member: every group we create on LDAP carries this one, a DN
# that names no entry (slapd accepts it; refint and memberof ignore it) and that the
# reader never reports. Keeping it for the group's whole life means no add or remove
# ever meets the "last member" rule, and refint can always drop a deleted user.
PLACEHOLDER_MEMBER = "cn=okta-aws-placeholder"

# LDAP result codes (RFC 4511) the flavors tell apart.
NO_SUCH_ATTRIBUTE = 16
ATTRIBUTE_OR_VALUE_EXISTS = 20
UNWILLING_TO_PERFORM = 53
OBJECT_CLASS_VIOLATION = 65
ENTRY_ALREADY_EXISTS = 68


@dataclass(frozen=True)
class Flavor:
    """What differs between directory servers, as data."""

    kind: DirectoryKind
    group_class: str  # objectClass of the groups we create and read
    group_search: str  # filter for groups (read from the managed OUs)
    user_search: str  # filter ANDed with the login alternatives
    login_attribute: str  # sAMAccountName / uid
    dn_attribute: str  # an attribute holding the entry's DN, for OR filters on DNs
    range_retrieval: bool  # `member` must be read in windows
    placeholder: str | None  # a member every group we create keeps (None: may be empty)
    already_member: frozenset[int]  # codes of "add member" meaning it already is one
    not_member: frozenset[int]  # codes of "remove member" meaning it already is not
    last_member: frozenset[int]  # codes of "remove member" refused as the last one
    user_classes: frozenset[str]  # lower-cased objectClasses of users
    non_user_classes: frozenset[str]  # classes that disqualify (AD computers are users)
    group_classes: frozenset[str]  # lower-cased objectClasses of groups
    # How seeded directories (the sandbox's, the tests') look on this kind of server:
    group_type: int | None  # AD's groupType of the groups we create (None: no such thing)
    user_class: str  # structural objectClass of a person
    user_must: tuple[str, ...]  # attributes a person must have besides cn and its login
    principal_attribute: str | None  # AD's user@realm sign-in name (None: none)
    user_rdn: str  # a person's naming attribute (AD: cn; LDAP: uid, the login itself)
    container_class: str  # a `cn=` entry that only holds others (AD's CN=Users)
    members_must_exist: bool  # a `member` value must name an existing entry
    upper_case_dn_types: bool  # DNs come back as `CN=…,DC=…` rather than `cn=…,dc=…`

    def group_attributes(self, *, cn: str, description: str, attempt: int = 0) -> dict[str, Any]:
        """Attributes of a new group. `cn` is always sent: Samba checks its 64-character
        limit only then. `attempt` > 0 asks for the attempt-th alternative
        sAMAccountName after a clash with another object's (AD only)."""
        attributes: dict[str, Any] = {"cn": cn}
        if description:  # neither server accepts an empty value
            attributes["description"] = description
        if self.kind is DirectoryKind.ACTIVE_DIRECTORY:
            sam = sam_account_name(cn)
            attributes["sAMAccountName"] = f"{sam}_{attempt + 1}" if attempt else sam
        if self.group_type is not None:
            attributes["groupType"] = self.group_type
        if self.placeholder is not None:
            attributes["member"] = [self.placeholder]
        return attributes

    def user_dn(self, *, login: str, parent: str) -> str:
        """The DN of a person seeded with `login` under `parent`."""
        rdn_type = self.user_rdn.upper() if self.upper_case_dn_types else self.user_rdn
        return f"{rdn_type}={escape_rdn_value(login)},{parent.strip()}"

    def is_user(self, object_classes: Iterable[str]) -> bool:
        classes = {c.lower() for c in object_classes}
        return bool(classes & self.user_classes) and not classes & self.non_user_classes

    def is_group(self, object_classes: Iterable[str]) -> bool:
        return bool({c.lower() for c in object_classes} & self.group_classes)


AD = Flavor(
    kind=DirectoryKind.ACTIVE_DIRECTORY,
    group_class="group",
    group_search="(objectClass=group)",
    user_search="(objectClass=user)",
    login_attribute="sAMAccountName",
    dn_attribute="distinguishedName",
    range_retrieval=True,
    placeholder=None,
    already_member=frozenset({ENTRY_ALREADY_EXISTS, ATTRIBUTE_OR_VALUE_EXISTS}),
    not_member=frozenset({UNWILLING_TO_PERFORM, NO_SUCH_ATTRIBUTE}),
    last_member=frozenset(),
    user_classes=frozenset({"user", "inetorgperson"}),
    non_user_classes=frozenset({"computer"}),
    group_classes=frozenset({"group"}),
    group_type=AD_GLOBAL_SECURITY_GROUP,
    user_class="user",
    user_must=(),
    principal_attribute="userPrincipalName",
    user_rdn="cn",
    container_class="container",
    members_must_exist=True,
    upper_case_dn_types=True,
)

LDAP = Flavor(
    kind=DirectoryKind.LDAP,
    group_class="groupOfNames",
    group_search="(objectClass=groupOfNames)",
    user_search="(objectClass=*)",
    login_attribute="uid",
    dn_attribute="entryDN",
    range_retrieval=False,
    placeholder=PLACEHOLDER_MEMBER,
    already_member=frozenset({ATTRIBUTE_OR_VALUE_EXISTS}),
    not_member=frozenset({NO_SUCH_ATTRIBUTE}),
    last_member=frozenset({OBJECT_CLASS_VIOLATION}),
    user_classes=frozenset({"inetorgperson", "posixaccount", "account", "person"}),
    non_user_classes=frozenset(),
    group_classes=frozenset({"groupofnames", "groupofuniquenames", "posixgroup"}),
    group_type=None,
    user_class="inetOrgPerson",
    user_must=("sn",),  # person's surname
    principal_attribute=None,
    user_rdn="uid",
    container_class="organizationalRole",
    members_must_exist=False,  # slapd takes a member before (or without) its entry
    upper_case_dn_types=False,
)


def flavor_for(kind: DirectoryKind) -> Flavor:
    """The flavor of a directory kind; `okta` has no directory and raises ValueError."""
    if kind is DirectoryKind.ACTIVE_DIRECTORY:
        return AD
    if kind is DirectoryKind.LDAP:
        return LDAP
    raise ValueError(f"directory.kind {kind.value!r} has no directory to connect to")
