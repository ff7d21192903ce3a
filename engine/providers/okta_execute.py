"""Carry out one Okta change, idempotently: the goal already met is success, not an error.

Each function looks at what is there (from the provider's cache of the last read, else
one search), then makes at most the one write the change needs. Rules Okta enforces
are checked before calling it, so the error says why in our words: imported
(`APP_GROUP`) and built-in groups are never edited, renamed, deleted or given members
by okta-aws; only `settings.app` fields we own are written, the rest of the app is put
back as read (with its nulls: the request executor keeps them, typed SDK calls would
drop them). A desired assignment whose group has not been imported yet is WAITING.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.model import (
    AppAssignment,
    OktaApp,
    OktaAppSettings,
    OktaGroup,
    OktaGroupType,
    UserMember,
)
from engine.plan import Action, Change, Outcome, ResourceKind
from engine.providers.okta_http import OktaError, OktaHttp
from engine.providers.okta_read import (
    AWS_APP_NAME,
    OKTA_SOURCE,
    PAGE_SIZE,
    ReadScope,
    find_app,
    gather,
    quoted,
    raw_group,
    resolve_sources,
    search_batches,
    search_groups,
    source_of,
)

GroupKey = tuple[str, str]
_HYPERMEDIA = ("_links", "_embedded")


class OktaRefused(OktaError):
    """A change okta-aws must not make (e.g. editing an imported APP_GROUP)."""


@dataclass
class OktaCache:
    """What the provider learned from reads and writes: ids by natural key."""

    app_id: str | None = None
    app_label: str | None = None
    groups: dict[GroupKey, OktaGroup] = field(default_factory=dict)
    source_names: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, str] = field(default_factory=dict)  # lower-cased login → id
    lock: threading.Lock = field(default_factory=threading.Lock)

    def remember(self, group: OktaGroup) -> None:
        with self.lock:
            self.groups[group.key] = group

    def forget(self, key: GroupKey) -> None:
        with self.lock:
            self.groups.pop(key, None)


async def lookup_groups(http: OktaHttp, cache: OktaCache, names: Iterable[str]) -> None:
    """Find groups by name (batched) and cache them under their (source, name) keys."""
    wanted = sorted({n for n in names})
    if not wanted:
        return
    docs = await search_groups(
        http, [f"profile.name eq {quoted(n)}" for n in wanted], list_all=False
    )
    raws = [raw_group(d) for d in docs]
    await resolve_sources(http, (g.source_id for g in raws if g.source_id), cache.source_names)
    for raw in raws:
        cache.remember(
            OktaGroup(
                name=raw.name,
                source=source_of(raw, cache.source_names),
                type=raw.type,
                id=raw.id,
                source_id=raw.source_id,
                dn=raw.dn,
                description=raw.description,
            )
        )


async def lookup_users(http: OktaHttp, cache: OktaCache, logins: Iterable[str]) -> None:
    """Resolve logins to user ids with batched `profile.login eq` searches."""
    missing = sorted({login.lower() for login in logins} - cache.user_ids.keys())
    if not missing:
        return
    batches = search_batches([f"profile.login eq {quoted(login)}" for login in missing])
    pages = await gather(
        http.get_all("/api/v1/users", query={"search": b, "limit": PAGE_SIZE}) for b in batches
    )
    with cache.lock:
        for user in (u for page in pages for u in page):
            login = str((user.get("profile") or {}).get("login") or "").lower()
            cache.user_ids[login] = str(user["id"])


async def _group(http: OktaHttp, cache: OktaCache, key: GroupKey, name: str) -> OktaGroup | None:
    if key not in cache.groups:
        await lookup_groups(http, cache, [name])
    return cache.groups.get(key)


async def app_id_of(http: OktaHttp, cache: OktaCache) -> str:
    if cache.app_id is None:
        if cache.app_label is None:
            raise OktaError("the AWS app is unknown: read Okta first or name the app")
        document = await find_app(http, ReadScope(app_label=cache.app_label))
        if document is None:
            raise OktaError(f"the AWS app {cache.app_label!r} does not exist in Okta")
        cache.app_id = str(document["id"])
    return cache.app_id


def _refuse_unless_ours(group: OktaGroup, what: str) -> None:
    if group.type is not OktaGroupType.OKTA_GROUP:
        why = (
            f"imported from {group.source}; only its directory import changes it"
            if group.type is OktaGroupType.APP_GROUP
            else "Okta's own group"
        )
        raise OktaRefused(
            f"refusing to {what} Okta group {group.name!r}: it is a {group.type.value} ({why})"
        )


# --- the app ------------------------------------------------------------------------------


async def ensure_app(http: OktaHttp, cache: OktaCache, app: OktaApp, *, create: bool) -> Outcome:
    """Create the AWS app (create=True and none found) or write the settings we own."""
    # The app a read or an earlier write found is looked up again by its id.
    known = cache.app_id is not None
    scope = (
        ReadScope(app_id=cache.app_id) if known else ReadScope(app_label=app.label, app_id=app.id)
    )
    document = await find_app(http, scope)
    if document is None:
        if not create:
            raise OktaError(f"the AWS app {app.label!r} does not exist in Okta")
        if app.id:
            raise OktaError(f"no app with id {app.id} to update; creating one needs app_label")
        body = {
            "name": AWS_APP_NAME,
            "label": app.label,
            "signOnMode": "SAML_2_0",
            "settings": {"app": app.settings.to_okta()},
        }
        created = (await http.call("POST", "/api/v1/apps", body=body)).json()
        cache.app_id = str(created["id"])
        return Outcome.CREATED
    cache.app_id = str(document["id"])
    settings = dict(document.get("settings") or {})
    current = dict(settings.get("app") or {})
    if OktaAppSettings.from_okta(current) == app.settings:
        return Outcome.UNCHANGED
    body = {k: v for k, v in document.items() if k not in _HYPERMEDIA}
    body["settings"] = {**settings, "app": {**current, **app.settings.to_okta()}}
    await http.call("PUT", "/api/v1/apps/{appId}", path_params={"appId": cache.app_id}, body=body)
    return Outcome.UPDATED


# --- assignments -----------------------------------------------------------------------------


async def _delete(http: OktaHttp, route: str, params: dict[str, str]) -> Outcome:
    """DELETE `route`: DELETED, or UNCHANGED when Okta says it is already gone (404)."""
    response = await http.call("DELETE", route, path_params=params, ok_statuses=frozenset({404}))
    return Outcome.UNCHANGED if response.status == 404 else Outcome.DELETED


async def assignment(
    http: OktaHttp, cache: OktaCache, item: AppAssignment, action: Action
) -> Outcome:
    app_id = await app_id_of(http, cache)
    group = await _group(http, cache, item.key, item.group_name)
    if group is None or group.id is None:
        return Outcome.WAITING if action is Action.CREATE else Outcome.UNCHANGED
    params = {"appId": app_id, "groupId": group.id}
    route = "/api/v1/apps/{appId}/groups/{groupId}"
    if action is Action.DELETE:
        return await _delete(http, route, params)
    response = await http.call(
        "PUT", route, path_params=params, body={}, ok_statuses=frozenset({404})
    )
    if response.status == 404:  # the group went away since it was read
        cache.forget(item.key)
        return Outcome.WAITING
    return Outcome.CREATED


# --- groups (directory.kind okta) ---------------------------------------------------------------


async def _put_description(http: OktaHttp, group: OktaGroup, description: str) -> None:
    assert group.id is not None
    route, params = "/api/v1/groups/{groupId}", {"groupId": group.id}
    document = (await http.call("GET", route, path_params=params)).json()
    profile = {**(document.get("profile") or {}), "description": description}
    await http.call("PUT", route, path_params=params, body={"profile": profile})


async def okta_group(http: OktaHttp, cache: OktaCache, want: OktaGroup, action: Action) -> Outcome:
    if want.source != OKTA_SOURCE:
        raise OktaRefused(
            f"refusing to change Okta group {want.name!r}: groups from {want.source} "
            "are imported (APP_GROUP) and only their directory import changes them"
        )
    have = await _group(http, cache, want.key, want.name)
    if action is Action.DELETE:
        if have is None or have.id is None:
            return Outcome.UNCHANGED
        _refuse_unless_ours(have, "delete")
        outcome = await _delete(http, "/api/v1/groups/{groupId}", {"groupId": have.id})
        cache.forget(want.key)
        return outcome
    if have is None:
        if action is Action.UPDATE:
            raise OktaError(f"Okta group {want.name!r} does not exist (cannot update it)")
        profile = {"name": want.name, "description": want.description or None}
        document = (await http.call("POST", "/api/v1/groups", body={"profile": profile})).json()
        raw = raw_group(document)
        cache.remember(OktaGroup(name=raw.name, source=OKTA_SOURCE, type=raw.type, id=raw.id))
        return Outcome.CREATED
    _refuse_unless_ours(have, "update")
    if have.description == want.description:
        return Outcome.UNCHANGED
    await _put_description(http, have, want.description)
    cache.remember(
        OktaGroup(
            name=have.name,
            source=OKTA_SOURCE,
            type=have.type,
            id=have.id,
            description=want.description,
        )
    )
    return Outcome.UPDATED


async def okta_member(
    http: OktaHttp, cache: OktaCache, item: UserMember, action: Action
) -> Outcome:
    key = (OKTA_SOURCE, item.group.lower())
    group = await _group(http, cache, key, item.group)
    if group is None or group.id is None:
        if action is Action.DELETE:
            return Outcome.UNCHANGED
        for other in list(cache.groups.values()):
            if other.name.lower() == item.group.lower():
                _refuse_unless_ours(other, "change the members of")
        raise OktaError(f"Okta group {item.group!r} does not exist (cannot add {item.login})")
    _refuse_unless_ours(group, "change the members of")
    login = item.login.lower()
    if login not in cache.user_ids:
        await lookup_users(http, cache, [login])
    user_id = cache.user_ids.get(login)
    if user_id is None:
        if action is Action.DELETE:
            return Outcome.UNCHANGED
        raise OktaError(f"no Okta user has the login {item.login!r} (cannot add to {item.group!r})")
    params = {"groupId": group.id, "userId": user_id}
    route = "/api/v1/groups/{groupId}/users/{userId}"
    if action is Action.DELETE:
        return await _delete(http, route, params)
    await http.call("PUT", route, path_params=params)
    return Outcome.CREATED


async def execute_change(http: OktaHttp, cache: OktaCache, change: Change) -> Outcome:
    """Dispatch one Okta change; raises OktaError (OktaRefused) when it cannot be done."""
    resource = change.resource
    if change.kind is ResourceKind.OKTA_APP and isinstance(resource, OktaApp):
        if change.action is Action.DELETE:
            raise OktaRefused("okta-aws never deletes the AWS app")
        return await ensure_app(http, cache, resource, create=change.action is Action.CREATE)
    if change.kind is ResourceKind.APP_ASSIGNMENT and isinstance(resource, AppAssignment):
        return await assignment(http, cache, resource, change.action)
    if change.kind is ResourceKind.OKTA_GROUP and isinstance(resource, OktaGroup):
        return await okta_group(http, cache, resource, change.action)
    if change.kind is ResourceKind.OKTA_GROUP_MEMBER and isinstance(resource, UserMember):
        return await okta_member(http, cache, resource, change.action)
    raise OktaError(f"not an Okta change: {change.id}")


async def prepare(http: OktaHttp, cache: OktaCache, changes: Iterable[Change]) -> None:
    """Resolve every group and user the changes name in a few batched searches, so
    executing them makes no per-item lookups (N+1 is what users of the anchors hate)."""
    names: set[str] = set()
    logins: set[str] = set()
    for change in changes:
        resource = change.resource
        if isinstance(resource, AppAssignment) and resource.key not in cache.groups:
            names.add(resource.group_name)
        elif isinstance(resource, OktaGroup) and resource.key not in cache.groups:
            names.add(resource.name)
        elif change.kind is ResourceKind.OKTA_GROUP_MEMBER and isinstance(resource, UserMember):
            if (OKTA_SOURCE, resource.group.lower()) not in cache.groups:
                names.add(resource.group)
            logins.add(resource.login)
    await gather([lookup_groups(http, cache, names), lookup_users(http, cache, logins)])
