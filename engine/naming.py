"""Role-group names, Okta's group filter and role value pattern: one place, pure.

Okta maps a directory group to an AWS role only through strings: the group's name must
match the app's *group filter* (a Java regex with Okta's named groups `(?{{role}}…)`
and `(?{{accountid}}…)`), and the captured values are substituted into the *role value
pattern* to form the SAML provider and role ARNs. A plan that predicts access must
apply exactly the same string rules, so they live here and nowhere else.

Matching follows Java's `Matcher.find()` (a match anywhere in the name) because an
unanchored filter is treated that way by Okta; our derived filters are anchored, so
for them `find` and `matches` agree.

The group filter is a user's regex run on every live group name, so it is bounded
twice: validation refuses a nested quantifier such as `(\\w+)+` (exponential
backtracking, in Java as in Python) at the filter's line, and every match runs with
the `regex` module's time limit (`MATCH_TIMEOUT`), so a filter set by hand in Okta, or
a backtracking shape the check does not know, costs at most that per name. A name the
filter could not be evaluated on within the limit maps to no role and is remembered by
the compiled filter (`GroupFilter.timed_out`), so the plan reports it instead of
hanging or guessing. The `regex` module is also closer to Java's dialect than `re`
(possessive quantifiers, atomic groups, `\\p{…}` classes).
"""

from __future__ import annotations

import dataclasses
import re
import string
from dataclasses import dataclass
from functools import lru_cache

import regex

DEFAULT_ROLE_GROUP_NAME = "aws#{alias}#{role}#{account_id}"
PLACEHOLDERS = frozenset({"alias", "role", "account_id"})
REQUIRED_PLACEHOLDERS = frozenset({"role", "account_id"})

# Character classes of the values a placeholder stands for; the derived filter captures
# every IAM role name (Okta's own default `[\w\-]` would silently drop `+=,.@`).
ALIAS_CLASS = r"[a-z0-9-]+"
ROLE_CLASS = r"[\w+=,.@\-]+"
ACCOUNT_ID_CLASS = r"\d{12}"

# `\Z`, not `$`: `$` also matches before a trailing newline, which names must not have.
ROLE_NAME_RE = re.compile(r"^[\w+=,.@-]{1,64}\Z", re.ASCII)
ALIAS_RE = re.compile(r"^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]\Z")
ACCOUNT_ID_RE = re.compile(r"^[0-9]{12}\Z")

# Seconds one group-filter match may take. A sane filter decides a 255-character name
# in microseconds; a backtracking one can take minutes per name.
MATCH_TIMEOUT = 0.1

_OKTA_NAMED_GROUP = re.compile(r"\(\?\{\{(\w+)\}\}")
_PYTHON_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>")


class NamingError(ValueError):
    """A syntax, filter or pattern that cannot work; the message says why."""


@dataclass(frozen=True)
class RoleRef:
    """What Okta extracts from a group name: the account and the role."""

    account_id: str
    role: str


def template_fields(template: str) -> list[str]:
    """Placeholder names used in a `str.format`-style template, in order."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise NamingError(f"malformed template {template!r}: {exc}") from exc
    return [field for _, field, _, _ in parsed if field is not None]


def check_role_group_syntax(syntax: str) -> None:
    """Raise NamingError unless the syntax names {role} and {account_id}, each once."""
    fields = template_fields(syntax)
    unknown = sorted(set(fields) - PLACEHOLDERS)
    if unknown:
        raise NamingError(
            f"role_group_name {syntax!r} uses unknown placeholder(s) "
            f"{', '.join('{' + f + '}' for f in unknown)}; "
            "allowed: {alias} {role} {account_id}"
        )
    missing = sorted(REQUIRED_PLACEHOLDERS - set(fields))
    if missing:
        raise NamingError(
            f"role_group_name {syntax!r} must contain "
            f"{' and '.join('{' + f + '}' for f in missing)}"
        )
    repeated = sorted({f for f in fields if fields.count(f) > 1})
    if repeated:
        raise NamingError(f"role_group_name {syntax!r} repeats {', '.join(repeated)}")


def render_role_group_name(*, syntax: str, alias: str, role: str, account_id: str) -> str:
    """The directory group name for one (account, role), e.g. `aws#prod#Admin#111111111111`."""
    check_role_group_syntax(syntax)
    return syntax.format(alias=alias, role=role, account_id=account_id)


def render_description(*, template: str, alias: str, role: str, account_id: str) -> str:
    """A role group's description from its template (same placeholders as the name)."""
    return template.format(alias=alias, role=role, account_id=account_id)


def derive_group_filter(*, syntax: str) -> str:
    """Okta's group filter (Okta dialect) that captures exactly the names `syntax` renders."""
    check_role_group_syntax(syntax)
    pieces: list[str] = ["^"]
    for literal, field, _, _ in string.Formatter().parse(syntax):
        pieces.append(re.escape(literal))
        if field == "alias":
            pieces.append(ALIAS_CLASS)
        elif field == "role":
            pieces.append("(?{{role}}" + ROLE_CLASS + ")")
        elif field == "account_id":
            pieces.append("(?{{accountid}}" + ACCOUNT_ID_CLASS + ")")
    pieces.append("$")
    return "".join(pieces)


def okta_to_python(pattern: str) -> str:
    """Translate Okta's `(?{{name}}…)` named groups into Python's `(?P<name>…)`."""
    return _OKTA_NAMED_GROUP.sub(lambda m: f"(?P<{m.group(1)}>", pattern)


def python_to_okta(pattern: str) -> str:
    """Translate Python's `(?P<name>…)` named groups into Okta's `(?{{name}}…)`."""
    return _PYTHON_NAMED_GROUP.sub(lambda m: "(?{{" + m.group(1) + "}}", pattern)


class GroupFilterTimeout(NamingError):
    """The group filter took longer than MATCH_TIMEOUT on one name."""


@dataclass(frozen=True, eq=False)
class GroupFilter:
    """An Okta-dialect group filter compiled for time-bounded matching.

    `text` is the filter as Okta holds it. The names it timed out on are kept (a
    compiled filter is shared, see `compile_group_filter`): every stage of one run
    then gives the same answer for a name, and pays the time limit for it once.
    """

    text: str
    pattern: regex.Pattern[str]
    _slow: set[str] = dataclasses.field(default_factory=set, repr=False)
    # Answers of `parse`: a plan parses the same names for each world it looks at, and
    # a time-limited match costs several times an unlimited one.
    _parsed: dict[str, RoleRef | None] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def groupindex(self) -> dict[str, int]:
        return dict(self.pattern.groupindex)

    def search(self, name: str) -> regex.Match[str] | None:
        """`Matcher.find()` on `name`; GroupFilterTimeout past MATCH_TIMEOUT."""
        if name in self._slow:
            raise self._timeout(name)
        try:
            return self.pattern.search(name, timeout=MATCH_TIMEOUT)
        except TimeoutError:
            self._slow.add(name)
            raise self._timeout(name) from None

    def parse(self, name: str) -> RoleRef | None:
        """(account id, role) Okta extracts from `name`; GroupFilterTimeout past the limit."""
        if name in self._parsed:
            return self._parsed[name]
        match = self.search(name)
        ref = None
        if match is not None:
            account_id, role = match.group("accountid"), match.group("role")
            if account_id and role:
                ref = RoleRef(account_id=account_id, role=role)
        self._parsed[name] = ref
        return ref

    def timed_out(self, name: str) -> bool:
        """Whether matching `name` ran past the time limit (it then maps to no role)."""
        return name in self._slow

    def _timeout(self, name: str) -> GroupFilterTimeout:
        shown = name if len(name) <= 80 else name[:77] + "..."
        return GroupFilterTimeout(
            f"the group filter '{self.text}' took longer than {MATCH_TIMEOUT} s on the "
            f"name {shown!r} (it backtracks): simplify the filter"
        )


@lru_cache(maxsize=64)
def compile_group_filter(okta_pattern: str) -> GroupFilter:
    """Compile an Okta-dialect group filter; it must capture `role` and `accountid`.

    Cached by text: the readers, the diff and the access computation of one run share
    one compiled filter and so one record of the names it timed out on.
    """
    try:
        compiled = regex.compile(okta_to_python(okta_pattern))
    except (regex.error, ValueError, OverflowError) as exc:
        raise NamingError(f"group_filter {okta_pattern!r} is not a valid regex: {exc}") from exc
    missing = sorted({"role", "accountid"} - set(compiled.groupindex))
    if missing:
        raise NamingError(
            f"group_filter {okta_pattern!r} must capture "
            + " and ".join("(?{{" + m + "}}…)" for m in missing)
        )
    return GroupFilter(text=okta_pattern, pattern=compiled)


def parse_group_name(*, name: str, group_filter: GroupFilter) -> RoleRef | None:
    """(account id, role) as Okta extracts them from a group name, or None if no match.

    A name the filter times out on is None too: ask `group_filter.timed_out(name)`
    where an unknown answer matters (`match_group_name` raises instead).
    """
    try:
        return match_group_name(name=name, group_filter=group_filter)
    except GroupFilterTimeout:
        return None


def match_group_name(*, name: str, group_filter: GroupFilter) -> RoleRef | None:
    """`parse_group_name`, raising GroupFilterTimeout when the filter runs too long."""
    return group_filter.parse(name)


_QUANTIFIER = re.compile(r"[*+?]|\{(\d*)(,?)(\d*)\}")


def nested_quantifier(okta_pattern: str) -> str | None:
    """The first repeated group whose body also repeats, as written (`(\\w+)+`); None.

    Such a filter backtracks exponentially on a name that almost matches, in Okta's
    Java engine as in ours. A repeat here is a quantifier allowing more than one
    count (`*`, `+`, `{2,}`, `{1,3}`; not `?` or `{12}`). A scan of the pattern text:
    escapes and character classes are skipped, groups are tracked on a stack.
    """
    text = okta_to_python(okta_pattern)
    stack: list[tuple[int, bool]] = []  # (start of the group, its body repeats)
    repeats = False  # the body read so far at the current level repeats
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "(":
            stack.append((i, repeats))
            repeats = False
            i += 1
            continue
        if ch == ")" and stack:
            start, outer = stack.pop()
            body_repeats = repeats
            found, i = _repeat_at(text, i + 1)
            if found and body_repeats:
                return python_to_okta(text[start:i])
            repeats = outer or body_repeats or found
            continue
        # One atom: an escape, a character class or a character, maybe repeated.
        if ch == "\\":
            i += 2
        elif ch == "[":
            i = _class_end(text, i)
        else:
            i += 1
        found, i = _repeat_at(text, i)
        repeats = repeats or found
    return None


def _repeat_at(text: str, i: int) -> tuple[bool, int]:
    """Whether a quantifier allowing more than one count starts at `i`; the index after
    it (and after a lazy `?` or possessive `+`)."""
    match = _QUANTIFIER.match(text, i)
    if match is None:
        return False, i
    end = match.end()
    if end < len(text) and text[end] in "?+":
        end += 1
    token = match.group()
    if token in "*+":
        return True, end
    if token == "?":
        return False, end
    low, comma, high = match.groups()
    if not comma:
        return False, end  # {n}: an exact count
    return (not high or int(high) > max(1, int(low or 0))), end


def _class_end(text: str, i: int) -> int:
    """The index after the character class opening at `i` (`]` first is literal)."""
    j = i + 1
    if j < len(text) and text[j] == "^":
        j += 1
    if j < len(text) and text[j] == "]":
        j += 1
    while j < len(text) and text[j] != "]":
        j += 2 if text[j] == "\\" else 1
    return j + 1


def derive_role_value_pattern(*, saml_provider_name: str) -> str:
    """Okta's role value pattern for a SAML provider of this name in every account."""
    return (
        f"arn:aws:iam::${{accountid}}:saml-provider/{saml_provider_name},"
        "arn:aws:iam::${accountid}:role/${role}"
    )


@dataclass(frozen=True)
class RoleValue:
    """The pair of ARNs Okta puts in the SAML `Role` attribute for one entitlement."""

    provider_arn: str
    role_arn: str


_PROVIDER_ARN_RE = re.compile(r"^arn:aws:iam::(\d{12}):saml-provider/([\w.-]{1,128})$")
_ROLE_ARN_RE = re.compile(r"^arn:aws:iam::(\d{12}):role/(?:[\w+=,.@/-]*/)?([\w+=,.@-]{1,64})$")


def check_role_value_pattern(pattern: str) -> None:
    """Raise NamingError unless the pattern yields a provider ARN and a role ARN."""
    for needed in ("${accountid}", "${role}"):
        if needed not in pattern:
            raise NamingError(f"role_value_pattern {pattern!r} must contain {needed}")
    probe = expand_role_value(pattern=pattern, account_id="123456789012", role="Probe")
    if probe is None:
        raise NamingError(
            f"role_value_pattern {pattern!r} must expand to "
            "'arn:aws:iam::ACCOUNT:saml-provider/NAME,arn:aws:iam::ACCOUNT:role/ROLE'"
        )


def expand_role_value(*, pattern: str, account_id: str, role: str) -> RoleValue | None:
    """Substitute captures into the pattern as Okta does; None if it is not two ARNs."""
    value = pattern.replace("${accountid}", account_id).replace("${role}", role)
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 2:
        return None
    providers = [p for p in parts if _PROVIDER_ARN_RE.match(p)]
    roles = [p for p in parts if _ROLE_ARN_RE.match(p)]
    if len(providers) != 1 or len(roles) != 1:
        return None
    return RoleValue(provider_arn=providers[0], role_arn=roles[0])


def split_provider_arn(arn: str) -> tuple[str, str] | None:
    """(account id, provider name) of a SAML provider ARN."""
    match = _PROVIDER_ARN_RE.match(arn)
    return (match.group(1), match.group(2)) if match else None


def split_role_arn(arn: str) -> tuple[str, str] | None:
    """(account id, role name) of a role ARN (path ignored, as IAM's trust does)."""
    match = _ROLE_ARN_RE.match(arn)
    return (match.group(1), match.group(2)) if match else None


def role_arn(*, account_id: str, role: str) -> str:
    return f"arn:aws:iam::{account_id}:role/{role}"


def saml_provider_arn(*, account_id: str, name: str) -> str:
    return f"arn:aws:iam::{account_id}:saml-provider/{name}"


# Not allowed in an AD sAMAccountName; every AD group needs one, derived from its cn.
SAM_ILLEGAL_CHARS = frozenset('"[]:;|=+*?<>/\\,')


def sam_account_name(name: str) -> str:
    """The sAMAccountName the directory provider derives from a group's cn."""
    return "".join("_" if c in SAM_ILLEGAL_CHARS else c for c in name)
