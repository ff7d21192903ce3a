"""Read the Okta part of the live world in the fewest calls, and never silently in part.

What the diff and access need from Okta: the AWS app (with its raw `settings.app`), the
groups assigned to it, every group the group filter matches (role groups, and the
look-alikes from other sources that rogue detection reports), the management groups
by name, and the members of the groups through which access flows. Okta has no bulk
membership call, so members cost one listing per group; everything else is batched:
groups come from `search` expressions (`profile.name sw "<literal prefix>"` and
`profile.name eq "…"` joined by `or`, split to keep URLs short), assigned groups not
found that way by `id eq` batches, source apps (to name a group's source) by one
`filter=id eq …` listing, cached for the provider's lifetime. So a read costs: one
app lookup, ⌈assigned/200⌉ assignment pages (at least one), the search pages, one
source-app listing when a source is new, and one page per 1,000 members of each group
whose members are read (role groups from app-filter sources, assigned groups, and with
kind okta the desired groups). A test holds the read to that formula. With a read cache
(okta_cache), a group whose listing shows an unchanged `lastMembershipUpdated` costs no
member call: a converged org's read is then the searches and assignment pages alone.

Any failing call fails the read (`OktaError`): a partial read would plan deletions of
what it did not see.
"""

from __future__ import annotations

import asyncio
import string
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from engine.dn import normalize_dn
from engine.model import (
    AppAssignment,
    DirectoryKind,
    GroupRole,
    OktaApp,
    OktaAppSettings,
    OktaGroup,
    OktaGroupType,
    World,
)
from engine.naming import NamingError, compile_group_filter, okta_to_python, parse_group_name
from engine.providers.okta_cache import CachedMembers, MemberCache
from engine.providers.okta_http import OktaError, OktaHttp

T = TypeVar("T")

AWS_APP_NAME = "amazon_aws"
OKTA_SOURCE = DirectoryKind.OKTA.okta_source
PAGE_SIZE = 200  # apps, app groups, group searches (Okta recommends ≤ 200 for groups)
MEMBER_PAGE_SIZE = 1000  # group members: Okta's default and maximum
MAX_SEARCH_LENGTH = 3000  # URL-encoded characters of one `search=` expression
_REGEX_META = frozenset(".^$*+?{}[]\\|()")


@dataclass(frozen=True)
class ReadScope:
    """What to read: which app, which groups, whose members.

    `name_prefixes` feed `profile.name sw` searches; an empty prefix means the group
    filter has no literal start, and every group is listed instead. `member_names`
    are groups whose members are read even if neither assigned nor role groups
    (directory.kind okta: our management groups' member lists are compared).
    """

    app_label: str | None = None
    app_id: str | None = None
    group_filters: tuple[str, ...] = ()
    app_sources: frozenset[str] = frozenset()
    name_prefixes: tuple[str, ...] = ()
    group_names: tuple[str, ...] = ()
    member_names: tuple[str, ...] = ()

    @staticmethod
    def for_world(desired: World, *, role_group_name: str | None = None) -> ReadScope:
        """The scope a desired world needs (`role_group_name`: the naming syntax)."""
        app = desired.okta_app
        filters = (app.settings.group_filter,) if app is not None else ()
        prefixes = [regex_literal_prefix(f) for f in filters if f]
        if role_group_name is not None:
            prefixes.append(syntax_literal_prefix(role_group_name))
        names = [g.name for g in desired.okta_groups.values()]
        names += [
            g.name for g in desired.directory_groups.values() if g.role is GroupRole.MANAGEMENT
        ]
        names += [a.group_name for a in desired.app_assignments.values()]
        members: tuple[str, ...] = ()
        if desired.directory_kind is DirectoryKind.OKTA:
            members = tuple(sorted({g.name for g in desired.okta_groups.values()}))
        return ReadScope(
            app_label=None if app is None or app.id else app.label,
            app_id=None if app is None else app.id,
            group_filters=filters,
            app_sources=app.settings.app_sources() if app is not None else frozenset(),
            name_prefixes=tuple(dict.fromkeys(prefixes)),
            group_names=tuple(sorted(set(names))),
            member_names=members,
        )


@dataclass(frozen=True)
class ReadResult:
    app: OktaApp | None
    groups: tuple[OktaGroup, ...]
    assignments: tuple[AppAssignment, ...]
    by_id: Mapping[str, OktaGroup] = field(default_factory=dict)
    # What the next read may reuse (members read or reused now), keyed by group id.
    member_entries: Mapping[str, CachedMembers] = field(default_factory=dict)
    members_reused: int = 0
    members_read: int = 0


def syntax_literal_prefix(syntax: str) -> str:
    """The fixed text a role-group name starts with (`aws#` for `aws#{alias}#…`)."""
    for literal, _, _, _ in string.Formatter().parse(syntax):
        return literal
    return ""


def _has_top_level_alternation(pattern: str) -> bool:
    depth, index, in_class = 0, 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return True
        index += 1
    return False


def regex_literal_prefix(pattern: str) -> str:
    """Literal text every match of an anchored (`^…`) group filter starts with.

    "" when unknown (unanchored, top-level alternation, a leading group): then only a
    full listing finds every group the filter matches. Stops before a character a
    quantifier makes optional.
    """
    pattern = okta_to_python(pattern)
    if not pattern.startswith("^") or _has_top_level_alternation(pattern):
        return ""
    out: list[str] = []
    index = 1
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            following = pattern[index + 1 : index + 2]
            if not following or following.isalnum() or following == "_":
                break  # a class (\d, \w…), a back reference, or a dangling escape
            literal, step = following, 2
        elif char in _REGEX_META:
            break
        else:
            literal, step = char, 1
        quantifier = pattern[index + step : index + step + 1]
        if quantifier in ("?", "*", "{"):
            break
        out.append(literal)
        if quantifier == "+":
            break
        index += step
    return "".join(out)


def quoted(value: str) -> str:
    """A SCIM filter string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def search_batches(terms: Sequence[str], *, max_length: int = MAX_SEARCH_LENGTH) -> list[str]:
    """`a or b or …` expressions, each at most `max_length` URL-encoded characters
    (a single longer term still gets its own batch)."""
    joiner = len(quote(" or "))
    batches: list[str] = []
    current: list[str] = []
    length = 0
    for term in terms:
        size = len(quote(term))
        if current and length + joiner + size > max_length:
            batches.append(" or ".join(current))
            current, length = [], 0
        length += size + (joiner if current else 0)
        current.append(term)
    if current:
        batches.append(" or ".join(current))
    return batches


def group_search_terms(scope: ReadScope, *, extra_prefixes: Iterable[str] = ()) -> list[str]:
    """Search terms for the scope's groups; names a prefix already covers are left out."""
    prefixes = list(dict.fromkeys([*scope.name_prefixes, *extra_prefixes]))
    folded = [p.casefold() for p in prefixes]
    terms = [f"profile.name sw {quoted(p)}" for p in prefixes]
    seen: set[str] = set()
    for name in scope.group_names:
        key = name.casefold()
        if key in seen or any(key.startswith(p) for p in folded):
            continue
        seen.add(key)
        terms.append(f"profile.name eq {quoted(name)}")
    return terms


async def gather(coroutines: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """All results, or one OktaError naming every failed call (others still finish)."""
    results = await asyncio.gather(*coroutines, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    for failure in failures:
        if not isinstance(failure, OktaError):
            raise failure
    if failures:
        raise OktaError("; ".join(dict.fromkeys(str(f) for f in failures)))
    return [r for r in results if not isinstance(r, BaseException)]


@dataclass(frozen=True)
class RawGroup:
    id: str
    name: str
    type: OktaGroupType
    source_id: str | None
    dn: str | None
    description: str
    last_membership_updated: str = ""


def raw_group(document: Mapping[str, Any]) -> RawGroup:
    profile = document.get("profile") or {}
    source_id = (document.get("source") or {}).get("id")
    if not source_id:
        href = ((document.get("_links") or {}).get("source") or {}).get("href")
        source_id = str(href).rstrip("/").rsplit("/", 1)[-1] if href else None
    dn: str | None = None
    raw_dn = profile.get("dn")
    if isinstance(raw_dn, str) and raw_dn:
        try:
            dn = normalize_dn(raw_dn)
        except ValueError:
            dn = raw_dn.lower()
    try:
        group_type = OktaGroupType(str(document.get("type")))
    except ValueError:
        group_type = OktaGroupType.APP_GROUP
    return RawGroup(
        id=str(document["id"]),
        name=str(profile.get("name") or ""),
        type=group_type,
        source_id=source_id if group_type is OktaGroupType.APP_GROUP else None,
        dn=dn,
        description=str(profile.get("description") or ""),
        last_membership_updated=str(document.get("lastMembershipUpdated") or ""),
    )


def okta_app(document: Mapping[str, Any]) -> OktaApp:
    settings_app = (document.get("settings") or {}).get("app") or {}
    return OktaApp(
        label=str(document.get("label") or ""),
        settings=OktaAppSettings.from_okta(settings_app),
        id=str(document["id"]),
        name=str(document.get("name") or ""),
    )


async def find_app(http: OktaHttp, scope: ReadScope) -> dict[str, Any] | None:
    """The raw AWS app document by id or by exact label; None when there is none."""
    if scope.app_id:
        response = await http.call(
            "GET",
            "/api/v1/apps/{appId}",
            path_params={"appId": scope.app_id},
            ok_statuses=frozenset({404}),
        )
        found = response.json() if response.status == 200 else None
        return found if isinstance(found, dict) else None
    if not scope.app_label:
        return None
    apps = await http.get_all("/api/v1/apps", query={"q": scope.app_label, "limit": PAGE_SIZE})
    matches = [
        a for a in apps if a.get("label") == scope.app_label and a.get("name") == AWS_APP_NAME
    ]
    if len(matches) > 1:
        ids = ", ".join(str(a.get("id")) for a in matches)
        raise OktaError(
            f"{len(matches)} AWS apps are labelled {scope.app_label!r} ({ids}); "
            "name one in okta.app_id"
        )
    return matches[0] if matches else None


async def resolve_sources(http: OktaHttp, source_ids: Iterable[str], names: dict[str, str]) -> None:
    """Fill `names` (source app id → app name, e.g. active_directory) for unknown ids."""
    missing = sorted({s for s in source_ids if s not in names})
    if not missing:
        return
    batches = search_batches([f"id eq {quoted(s)}" for s in missing])
    pages = await gather(
        http.get_all("/api/v1/apps", query={"filter": b, "limit": PAGE_SIZE}) for b in batches
    )
    for app in (a for page in pages for a in page):
        names[str(app["id"])] = str(app.get("name") or "")
    for source_id in missing:
        names.setdefault(source_id, f"app:{source_id}")  # deleted source: never in a filter


def source_of(group: RawGroup, names: Mapping[str, str]) -> str:
    if group.type is not OktaGroupType.APP_GROUP:
        return OKTA_SOURCE
    return names.get(group.source_id or "", f"app:{group.source_id}")


async def search_groups(http: OktaHttp, terms: Sequence[str], *, list_all: bool) -> list[Any]:
    """Groups matching any term (batched `or` searches), or every group with `list_all`."""
    if list_all:
        return await http.get_all("/api/v1/groups", query={"limit": PAGE_SIZE})
    pages = await gather(
        http.get_all("/api/v1/groups", query={"search": b, "limit": PAGE_SIZE})
        for b in search_batches(terms)
    )
    return [g for page in pages for g in page]


async def group_members(http: OktaHttp, group_id: str) -> tuple[frozenset[str], float | None]:
    """The group's member logins, and the server's Date on the listing's first page."""
    users, date = await http.get_all_dated(
        "/api/v1/groups/{groupId}/users",
        path_params={"groupId": group_id},
        query={"limit": MEMBER_PAGE_SIZE},
    )
    logins = frozenset(str((u.get("profile") or {}).get("login") or "").lower() for u in users)
    return logins, date


def _filters(patterns: Iterable[str]) -> list[Any]:
    compiled = []
    for pattern in dict.fromkeys(patterns):
        try:
            compiled.append(compile_group_filter(pattern))
        except NamingError:
            continue  # a filter that cannot work maps nothing; nothing to look for
    return compiled


async def read_okta(
    http: OktaHttp,
    scope: ReadScope,
    *,
    source_names: dict[str, str],
    load_cache: Callable[[str], MemberCache | None] | None = None,
) -> ReadResult:
    """Read the app, its assignments, the scope's groups and the members access needs.

    `load_cache(app_id)` gives the member lists an earlier read left (okta_cache): a
    group's list is reused where `MemberCache.reusable` holds, judged by the server's
    Date of this read's app lookup; every other list is read."""
    app_doc = await find_app(http, scope)
    now = http.latest_date
    app = okta_app(app_doc) if app_doc is not None else None
    cache = load_cache(app.id) if load_cache is not None and app is not None and app.id else None
    live_filter = app.settings.group_filter if app is not None else ""
    filters = _filters([*scope.group_filters, live_filter] if live_filter else scope.group_filters)
    live_prefix = [regex_literal_prefix(live_filter)] if live_filter else []
    terms = group_search_terms(scope, extra_prefixes=live_prefix)
    list_all = "" in scope.name_prefixes or "" in live_prefix

    async def assigned_ids() -> list[str]:
        if app is None or app.id is None:
            return []
        rows = await http.get_all(
            "/api/v1/apps/{appId}/groups", path_params={"appId": app.id}, query={"limit": PAGE_SIZE}
        )
        return [str(r["id"]) for r in rows]

    assigned, found = await gather([assigned_ids(), search_groups(http, terms, list_all=list_all)])
    groups = {str(d["id"]): raw_group(d) for d in found}
    unseen = [gid for gid in dict.fromkeys(assigned) if gid not in groups]
    if unseen:
        terms_by_id = [f"id eq {quoted(g)}" for g in unseen]
        for doc in await search_groups(http, terms_by_id, list_all=False):
            groups[str(doc["id"])] = raw_group(doc)
    await resolve_sources(http, (g.source_id for g in groups.values() if g.source_id), source_names)

    sources = scope.app_sources | (app.settings.app_sources() if app is not None else frozenset())
    names = {n.casefold() for n in scope.group_names}
    member_names = {n.casefold() for n in scope.member_names}
    assigned_set = set(assigned)
    kept: dict[str, tuple[RawGroup, str, bool]] = {}
    for group in groups.values():
        source = source_of(group, source_names)
        role_like = any(parse_group_name(name=group.name, group_filter=f) for f in filters)
        is_assigned = group.id in assigned_set
        if not (role_like or is_assigned or group.name.casefold() in names):
            continue
        wants_members = (
            (role_like and source in sources)
            or is_assigned
            or group.name.casefold() in member_names
        )
        kept[group.id] = (group, source, wants_members)
    wanted = [gid for gid, (_, _, wants) in kept.items() if wants]
    entries: dict[str, CachedMembers] = {}
    if cache is not None and now is not None:
        for gid in wanted:
            updated = kept[gid][0].last_membership_updated
            if cache.reusable(group_id=gid, last_membership_updated=updated, now=now):
                entries[gid] = cache.entries[gid]
    to_read = [gid for gid in wanted if gid not in entries]
    listed = await gather(http.bounded(group_members(http, gid)) for gid in to_read)
    reused = len(entries)
    for gid, (logins, date) in zip(to_read, listed, strict=True):
        if date is not None:  # without the server's Date a list cannot be judged later
            updated = kept[gid][0].last_membership_updated
            entries[gid] = CachedMembers(
                last_membership_updated=updated, read_at=date, members=logins
            )
    members = {gid: logins for gid, (logins, _) in zip(to_read, listed, strict=True)}
    members.update({gid: entries[gid].members for gid in wanted if gid not in members})
    by_id = {
        gid: OktaGroup(
            name=group.name,
            source=source,
            type=group.type,
            id=gid,
            source_id=group.source_id,
            dn=group.dn,
            description=group.description,
            members=members.get(gid),
        )
        for gid, (group, source, _) in kept.items()
    }
    assignments = tuple(
        AppAssignment(group_source=by_id[gid].source, group_name=by_id[gid].name)
        for gid in dict.fromkeys(assigned)
        if gid in by_id  # a group deleted between the two listings is no longer assigned
    )
    return ReadResult(
        app=app,
        groups=tuple(by_id.values()),
        assignments=assignments,
        by_id=by_id,
        member_entries=entries,
        members_reused=reused,
        members_read=len(to_read),
    )
