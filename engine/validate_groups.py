"""The management-group checks of `validate`: names, DNs, adopted places and members.

A management group is how access reaches a role, so its checks guard the one way in:
a `dn` may adopt only a group from elsewhere (never a role group, a managed OU, a group
in the management-groups OU or a user), and members are logins, nothing else. They
live apart from `validate`'s other checks for size, not for a different rule: the
checker (`validate._Checker`) is one object that inherits these.

Pure: no I/O.
"""

from __future__ import annotations

from engine.dn import InvalidDnError, build_dn, dn_is_under, normalize_dn, parse_rdns
from engine.model import DirectoryKind
from engine.spec import DesiredState, Location, ManagementGroupSpec, Problem, Settings, Severity
from engine.validate_names import DIRECTORY_KINDS

# Characters of DNs and LDAP filters: a login holding one is an attempt at something
# else (the schema refuses them too; a state built by code must be refused here).
_NOT_IN_LOGINS = frozenset(',;"<>\\=()*')


class GroupChecks:
    """The state and the problems found so far (what every check shares), and the
    management-group checks."""

    def __init__(self, state: DesiredState) -> None:
        self.state = state
        self.settings: Settings = state.settings
        self.kind = state.settings.directory.kind
        self.problems: list[Problem] = []

    def error(self, loc: Location, message: str) -> None:
        self.problems.append(Problem(loc, message))

    def warn(self, loc: Location, message: str) -> None:
        self.problems.append(Problem(loc, message, Severity.WARNING))

    def check_groups(self) -> None:
        names: dict[str, ManagementGroupSpec] = {}
        dns: dict[str, ManagementGroupSpec] = {}
        ou = self.settings.directory.management_groups_ou
        for group in self.state.management_groups:
            first = names.setdefault(group.name.lower(), group)
            if first is not group:
                self.error(
                    group.loc_of("name"),
                    f"management group {group.name!r} is listed again (first at "
                    f"{first.loc_of('name')}); group names are compared ignoring case",
                )
            if group.dn is not None and self.kind is DirectoryKind.OKTA:
                self.error(
                    group.loc_of("dn"),
                    f"management group {group.name!r} sets dn, but directory kind okta has "
                    "no directory to adopt a group from; remove dn",
                )
            elif self.kind in DIRECTORY_KINDS and first is group:
                self._check_group_dn(group, ou, dns)
            if group.members is not None:
                self._check_members(group)

    def _check_group_dn(
        self, group: ManagementGroupSpec, ou: str, dns: dict[str, ManagementGroupSpec]
    ) -> None:
        try:
            dn = group.dn if group.dn is not None else build_dn(cn=group.name, parent=ou)
            key = normalize_dn(dn)
        except InvalidDnError as exc:
            if group.dn is not None:
                self.error(group.loc_of("dn"), f"dn {group.dn!r} is not a valid DN: {exc}")
            return  # an invalid OU is reported with the settings
        first = dns.setdefault(key, group)
        if first is not group:
            self.error(
                group.loc_of("dn" if group.dn is not None else "name"),
                f"management group {group.name!r} has the same DN as {first.name!r} "
                f"({first.loc}): {dn!r}",
            )
        if group.dn is not None:
            self._check_adopted_place(group, group.dn, key)

    def _check_adopted_place(self, group: ManagementGroupSpec, dn: str, key: str) -> None:
        """A dn may adopt a group from elsewhere (a department group), nothing we own.

        Adopting a role group would make the management group's members members of
        the role itself; adopting a group in the management-groups OU would hand a
        group okta-aws owns to rules meant for somebody else's; a user or an OU is no
        group at all. Each would let the desired state reach a role group other than
        through a management group's grant.
        """
        what = f"management group {group.name!r}: dn {dn!r}"
        loc = group.loc_of("dn")
        places = self._directory_places()
        for setting, base in places.items():
            if key == base or dn_is_under(base, base=key):
                self.error(
                    loc,
                    f"{what} {'is' if key == base else 'contains'} directory.{setting}, a "
                    "container, not a group; adopt a group from elsewhere (e.g. a "
                    "department group) or drop dn",
                )
                return
        if "role_groups_ou" in places and dn_is_under(dn, base=places["role_groups_ou"]):
            self.error(
                loc,
                f"{what} lies in directory.role_groups_ou, where every group is a role "
                "group: its members would hold the role directly, not through a grant. "
                "Adopt a group from elsewhere (e.g. a department group) and grant it roles",
            )
        elif "management_groups_ou" in places and dn_is_under(
            dn, base=places["management_groups_ou"]
        ):
            self.error(
                loc,
                f"{what} lies in directory.management_groups_ou, where okta-aws creates "
                "and owns management groups by name; drop dn to let okta-aws manage the "
                "group there by its name, or adopt a group from elsewhere",
            )
        elif self._is_user_place(dn, places):
            self.error(
                loc,
                f"{what} names a user (it lies under directory.users_base); a management "
                "group adopts a group, and users are listed in members",
            )

    def _directory_places(self) -> dict[str, str]:
        """The directory settings that parse, normalized, by setting name."""
        d = self.settings.directory
        places: dict[str, str] = {}
        for setting, value in (
            ("role_groups_ou", d.role_groups_ou),
            ("management_groups_ou", d.management_groups_ou),
            ("users_base", d.users_base),
        ):
            try:
                if value:
                    places[setting] = normalize_dn(value)
            except InvalidDnError:
                continue  # reported with the settings
        return places

    @staticmethod
    def _is_user_place(dn: str, places: dict[str, str]) -> bool:
        """Whether `dn` is where a user is: an LDAP `uid=` entry, or under users_base.

        A users_base that also holds a managed OU (say the domain root) says nothing
        about what lies below it; there the plan's read decides (it adopts groups only).
        """
        rdns = parse_rdns(dn)
        if rdns and rdns[0][0][0] == "uid":
            return True
        base = places.get("users_base")
        if base is None or not dn_is_under(dn, base=base):
            return False
        managed = (places.get("role_groups_ou"), places.get("management_groups_ou"))
        return not any(
            ou is not None and (ou == base or dn_is_under(ou, base=base)) for ou in managed
        )

    def _check_members(self, group: ManagementGroupSpec) -> None:
        seen: dict[str, Location] = {}
        for index, login in enumerate(group.members or ()):
            loc = group.member_loc(index)
            if not login.strip():
                self.error(loc, f"management group {group.name!r}: empty member login")
                continue
            if any(c.isspace() for c in login):
                self.error(
                    loc,
                    f"management group {group.name!r}: member login {login!r} contains whitespace",
                )
            special = "".join(sorted({c for c in login if c in _NOT_IN_LOGINS}))
            if special:
                self.error(
                    loc,
                    f"management group {group.name!r}: member {login!r} contains {special!r}: "
                    "members are logins (sAMAccountName, uid), never a DN or a search "
                    "filter; only users under directory.users_base are looked up by them",
                )
            if login.lower() in seen:
                self.error(
                    loc,
                    f"management group {group.name!r} lists member {login!r} twice (first at "
                    f"{seen[login.lower()]}); logins are compared ignoring case",
                )
            seen.setdefault(login.lower(), loc)
