"""Every name and text of the desired state: printable, trimmed, NFC; look-alikes warned.

A pull request writes these strings, a plan prints them to a reviewer's terminal and a
PR comment, and apply sends them to AWS, the directory and Okta. A control character
(`"\\x1bc"` resets the terminal; a newline forges a plan line; Okta answers HTTP 400),
a trailing space or a decomposed `é` makes a name that reads the same as another yet is
a different name to the systems. So each is an error at the line that holds it, and the
message shows the character as an escape (`\\x1b`), never raw. The unsafe characters
are those `escape.printable` escapes (C0, DEL, C1, line and paragraph separators, bidi
controls): one home for that list.

Homoglyphs are subtler: `Аdmins` with a Cyrillic `А` is a valid name that a reviewer
takes for `Admins`. Two names of one kind (group names, logins, role names, aliases)
with the same confusables skeleton (Unicode TR39: characters mapped to a
representative of what they can be confused with, from the `confusable_homoglyphs`
package's copy of Unicode's confusables.txt) but different spellings give a warning, when
at least one of them has a character outside ASCII (so `team1`/`teaml` stay quiet).

Pure: no I/O (the confusables table is package data, read on first use).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Sequence
from functools import cache

from engine.escape import printable
from engine.spec import DesiredState, Location, Problem, Severity

__all__ = ["check_text", "skeleton", "text_problem"]

Text = tuple[Location, str, str]
"""Where a string is written, what it is ("management group name"), the string."""


def check_text(*, state: DesiredState, role_group_names: Sequence[Text] = ()) -> list[Problem]:
    """An error per string with a control character, surrounding whitespace or a form
    other than NFC; a warning per pair of look-alike names. `role_group_names`: the
    rendered role-group names (they share the namespace of management group names)."""
    problems: list[Problem] = []
    for loc, label, value in _texts(state):
        why = text_problem(value)
        if why is not None:
            problems.append(Problem(loc, f"{label} '{printable(value)}' {why}"))
    groups = [
        (g.loc_of("name"), "management group", g.name) for g in state.management_groups
    ] + list(role_group_names)
    logins = [
        (g.member_loc(i), "member", login)
        for g in state.management_groups
        for i, login in enumerate(g.members or ())
    ]
    roles = [(r.loc, "role", r.name) for r in state.roles]
    aliases = [(a.loc_of("alias"), "account alias", a.alias) for a in state.accounts]
    for names in (groups, logins, roles, aliases):
        problems += _lookalikes(names)
    return problems


def text_problem(value: str) -> str | None:
    """Why `value` cannot be a name or description, or None."""
    unsafe = sorted({c for c in value if printable(c) != c})
    if unsafe:
        hint = (
            " (YAML's '|' and '>' keep a final newline: use '>-' or a plain string)"
            if value.endswith("\n")
            else ""
        )
        return (
            f"contains the control character(s) {' '.join(printable(c) for c in unsafe)}: "
            f"names and descriptions hold printable text only{hint}"
        )
    if value != value.strip():
        return (
            "has leading or trailing whitespace: it would be another name to AWS, the "
            "directory and Okta, yet read the same; remove it"
        )
    if not unicodedata.is_normalized("NFC", value):
        return (
            "is not in Unicode NFC form (a character written decomposed, e.g. 'e' and a "
            f"combining accent): write it as '{printable(unicodedata.normalize('NFC', value))}'"
        )
    return None


def skeleton(text: str) -> str:
    """What `text` looks like: equal skeletons are look-alikes (TR39, case folded)."""
    # Folded first (`I` is confusable with `l`, but `ADMINS` is just `admins`), and
    # again after mapping, whose representatives may be capitals.
    mapped = "".join(_representative(c) for c in unicodedata.normalize("NFKC", text).casefold())
    return "".join(_representative(c) for c in mapped.casefold())


def _lookalikes(names: list[Text]) -> Iterator[Problem]:
    if all(value.isascii() for _, _, value in names):
        return  # ASCII look-alikes (l/I/1, O/0) are not what this check is for
    first: dict[str, Text] = {}
    for loc, label, value in names:
        key = skeleton(value)
        seen = first.setdefault(key, (loc, label, value))
        other_loc, other_label, other = seen
        if other.casefold() == value.casefold() or (value.isascii() and other.isascii()):
            continue  # the same name (duplicates are reported elsewhere), or plain ASCII
        if value.isascii():  # the warning goes where the unusual characters are
            loc, label, value, other_loc, other_label, other = (
                other_loc,
                other_label,
                other,
                loc,
                label,
                value,
            )
        yield Problem(
            loc,
            f"{label} '{printable(value)}' looks like {other_label} '{printable(other)}' "
            f"({other_loc}) but is spelled with other characters ({_spelling(value)}): "
            "a reviewer cannot tell them apart; rename one if both are meant",
            Severity.WARNING,
        )


def _spelling(value: str) -> str:
    odd = [c for c in dict.fromkeys(value) if not c.isascii()]
    return ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, '?')}" for c in odd) or "ASCII"


def _representative(char: str) -> str:
    return _representatives().get(char, char)


@cache
def _representatives() -> dict[str, str]:
    """Character → the smallest character of its confusable class (union of Unicode's
    confusables.txt pairs of single characters)."""
    from confusable_homoglyphs import confusables  # type: ignore[import-untyped]

    parent: dict[str, str] = {}

    def find(char: str) -> str:
        while parent.get(char, char) != char:
            parent[char] = parent.get(parent[char], parent[char])
            char = parent[char]
        return char

    table: dict[str, list[dict[str, str]]] = confusables.confusables_data
    for char, homoglyphs in table.items():
        for entry in homoglyphs:
            other = entry["c"]
            if len(char) != 1 or len(other) != 1:
                continue  # sequences ('rn' for 'm') are out of scope
            a, b = find(char), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {char: find(char) for char in parent}


def _texts(state: DesiredState) -> Iterator[Text]:
    """Every string of the desired state a person wrote, with where and what it is."""
    s = state.settings
    settings: list[tuple[str, str | None]] = [
        ("saml_provider.name", s.saml_provider.name),
        ("saml_provider.metadata_file", s.saml_provider.metadata_file),
        ("aws.access_role", s.aws.access_role),
        ("aws.managed_tag", s.aws.managed_tag[0]),
        ("aws.managed_tag", s.aws.managed_tag[1]),
        ("directory.role_groups_ou", s.directory.role_groups_ou or None),
        ("directory.management_groups_ou", s.directory.management_groups_ou or None),
        ("directory.users_base", s.directory.users_base or None),
        ("role_group_name", s.role_group_name),
        ("role_group_description", s.role_group_description),
        ("okta.app_label", s.okta.app_label),
        ("okta.app_id", s.okta.app_id),
        ("okta.app_filter", s.okta.app_filter),
        ("okta.group_filter", s.okta.group_filter),
        ("okta.role_value_pattern", s.okta.role_value_pattern),
    ]
    for dotted, value in settings:
        if value is not None:
            yield s.loc_of(dotted), dotted, value
    for name, loc in s.safety.protected_locs:
        yield loc, "protected name", name
    for role in state.roles:
        yield role.loc, "role name", role.name
        if role.iam_name is not None:
            yield role.loc_of("iam_name"), f"role {role.name!r}: iam_name", role.iam_name
        yield role.loc_of("description"), f"role {role.name!r}: description", role.description
        for i, arn in enumerate(role.managed_policies):
            yield role.loc_of(f"managed_policies.{i}"), "managed policy", arn
    for account in state.accounts:
        yield account.loc_of("id"), "account id", account.id
        yield account.loc_of("alias"), "account alias", account.alias
        for i, role_name in enumerate(account.roles):
            yield account.role_loc(i), f"account {account.alias!r}: role", role_name
        for i, role_name in enumerate(account.adopt_roles):
            yield account.loc_of(f"adopt_roles.{i}"), "adopt_roles entry", role_name
        for key, value in account.tags:
            where = account.loc_of(f"tags.{key}")
            yield where, f"account {account.alias!r}: tag key", key
            yield where, f"account {account.alias!r}: tag {key!r}", value
    for group in state.management_groups:
        yield group.loc_of("name"), "management group name", group.name
        if group.dn is not None:
            yield group.loc_of("dn"), f"management group {group.name!r}: dn", group.dn
        what = f"management group {group.name!r}:"
        yield group.loc_of("description"), f"{what} description", group.description
        for i, login in enumerate(group.members or ()):
            yield group.member_loc(i), f"{what} member", login
        for grant in group.grants:
            yield grant.loc_of("role"), f"{what} grant role", grant.role
            if grant.account is not None:
                yield grant.loc_of("account"), f"{what} grant account", grant.account
            for key, value in grant.account_tags or ():
                where = grant.loc_of(f"account_tags.{key}")
                yield where, f"{what} grant tag key", key
                yield where, f"{what} grant tag {key!r}", value
