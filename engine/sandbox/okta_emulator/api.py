"""The Okta Management API operations the engine uses, with Okta's paths and semantics.

Transport-free: each handler takes an `ApiRequest` and returns an `ApiResponse` or raises
`OktaApiError`, so the HTTP server stays a thin shell and the rules (APP_GROUPs are
read-only, assignments are idempotent, searches filter like Okta) live in one place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from engine.sandbox.okta_emulator import catalog, errors, paging, render, scim
from engine.sandbox.okta_emulator.state import Group, OktaState, User


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    query: Mapping[str, str]
    body: Any
    base_url: str
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: Any = None
    content_type: str = "application/json"
    links: tuple[str, ...] = ()


Handler = Callable[[OktaState, ApiRequest], ApiResponse]
T = TypeVar("T")


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    pattern: re.Pattern[str]


def _compile(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")


def _paginated(
    items: Sequence[T],
    request: ApiRequest,
    *,
    key: Callable[[T], str],
    rule: paging.LimitRule,
    pageable: bool = True,
) -> paging.Page[T]:
    """The page of `items` the request's `limit` and `after` ask for."""
    return paging.paginate(
        items,
        key=key,
        query=request.query,
        base_url=request.base_url,
        path=request.path,
        rule=rule,
        pageable=pageable,
    )


def _matching(
    items: list[T],
    expressions: tuple[scim.Expression | None, ...],
    document: Callable[[T], dict[str, Any]],
) -> list[T]:
    """The items every given `search`/`filter` expression matches, each read as the
    attributes of its JSON document."""
    for expression in expressions:
        if expression is not None:
            matches = scim.matcher(expression)
            items = [
                item
                for item in items
                if matches(lambda a, item=item: scim.resolve_path(document(item), a))  # type: ignore[misc]
            ]
    return items


def _starting_with(items: list[T], prefix: str, words: Callable[[T], Iterable[object]]) -> list[T]:
    """Okta's `q`: the items one of whose `words` starts with `prefix`, ignoring case."""
    wanted = prefix.casefold()
    return [
        item
        for item in items
        if any(str(word or "").casefold().startswith(wanted) for word in words(item))
    ]


def _page(page: paging.Page[Any], render_item: Callable[[Any], Any]) -> ApiResponse:
    return ApiResponse(200, [render_item(item) for item in page.items], links=tuple(page.links))


def _user_page(page: paging.Page[User], *, base_url: str) -> ApiResponse:
    """A page of users as JSON text built from each user's cached text."""
    items = ",".join(render.user_json_text(u, base_url=base_url) for u in page.items)
    return ApiResponse(200, f"[{items}]", links=tuple(page.links))


def _search(text: str | None, allowed: Callable[[str], bool]) -> scim.Expression | None:
    if not text:
        return None
    try:
        expression = scim.parse_filter(text)
    except scim.FilterSyntaxError as exc:
        raise errors.invalid_search(detail=str(exc)) from None
    unknown = sorted(a for a in scim.attributes(expression) if not allowed(a))
    if unknown:
        raise errors.invalid_search(detail=f"Unsupported attribute: {unknown[0]}")
    return expression


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise errors.malformed_body()
    return body


def _blank(field_name: str) -> errors.OktaApiError:
    return errors.validation_failed(
        field=field_name, causes=(f"{field_name}: The field cannot be left blank",)
    )


# groups ----------------------------------------------------------------------------------
def _group_document(state: OktaState, group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "type": group.type.value,
        "created": group.created,
        "lastUpdated": group.last_updated,
        "lastMembershipUpdated": group.last_membership_updated,
        "source": {"id": group.source_app_id},
        "profile": dict(group.profile),
    }


_GROUP_ATTRIBUTES = {"id", "type", "created", "lastUpdated", "lastMembershipUpdated", "source.id"}


def list_groups(state: OktaState, request: ApiRequest) -> ApiResponse:
    query = request.query
    search = _search(
        query.get("search"), lambda a: a in _GROUP_ATTRIBUTES or a.startswith("profile.")
    )
    filter_ = _search(query.get("filter"), lambda a: a in _GROUP_ATTRIBUTES)
    prefix = query.get("q") or ""
    with state.lock:
        groups = _starting_with(list(state.groups.values()), prefix, lambda g: (g.name,))
        groups = _matching(groups, (search, filter_), lambda g: _group_document(state, g))
        page = _paginated(
            groups,
            request,
            key=lambda g: g.id,
            rule=paging.GROUPS_QUERY if prefix else paging.GROUPS,
            pageable=not prefix,
        )
        return _page(page, lambda g: render.group_json(g, state=state, base_url=request.base_url))


def _profile_from(body: Any) -> dict[str, Any]:
    profile = _object(body).get("profile")
    if not isinstance(profile, dict):
        raise _blank("profile")
    name = profile.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _blank("name")
    return {"description": None, **profile}


def create_group(state: OktaState, request: ApiRequest) -> ApiResponse:
    profile = _profile_from(request.body)
    extra = {k: v for k, v in profile.items() if k not in ("name", "description")}
    group = state.add_group(
        name=profile["name"], description=profile["description"], extra_profile=extra
    )
    return ApiResponse(200, render.group_json(group, state=state, base_url=request.base_url))


def get_group(state: OktaState, request: ApiRequest) -> ApiResponse:
    group = state.get_group(request.params["groupId"])
    return ApiResponse(200, render.group_json(group, state=state, base_url=request.base_url))


def replace_group(state: OktaState, request: ApiRequest) -> ApiResponse:
    with state.lock:
        state.get_group(request.params["groupId"])
        profile = _profile_from(request.body)
        group = state.replace_group_profile(group_id=request.params["groupId"], profile=profile)
        return ApiResponse(200, render.group_json(group, state=state, base_url=request.base_url))


def delete_group(state: OktaState, request: ApiRequest) -> ApiResponse:
    state.delete_group(request.params["groupId"])
    return ApiResponse(204)


def list_group_users(state: OktaState, request: ApiRequest) -> ApiResponse:
    with state.lock:
        group = state.get_group(request.params["groupId"])
        users = [state.users[uid] for uid in state.members[group.id]]
        page = _paginated(users, request, key=lambda u: u.id, rule=paging.GROUP_USERS)
        return _user_page(page, base_url=request.base_url)


def assign_user(state: OktaState, request: ApiRequest) -> ApiResponse:
    state.add_member(group_id=request.params["groupId"], user_id=request.params["userId"])
    return ApiResponse(204)


def unassign_user(state: OktaState, request: ApiRequest) -> ApiResponse:
    state.remove_member(group_id=request.params["groupId"], user_id=request.params["userId"])
    return ApiResponse(204)


# users -----------------------------------------------------------------------------------
def _user_document(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "status": user.status,
        "created": user.created,
        "lastUpdated": user.last_updated,
        "profile": dict(user.profile),
    }


_USER_ATTRIBUTES = {"id", "status", "created", "lastUpdated"}


def list_users(state: OktaState, request: ApiRequest) -> ApiResponse:
    query = request.query
    search = _search(
        query.get("search"), lambda a: a in _USER_ATTRIBUTES or a.startswith("profile.")
    )
    filter_ = _search(
        query.get("filter"),
        lambda a: (
            a in _USER_ATTRIBUTES
            or a in ("profile.login", "profile.email", "profile.firstName", "profile.lastName")
        ),
    )
    prefix = query.get("q") or ""
    with state.lock:
        users = _starting_with(
            list(state.users.values()),
            prefix,
            lambda u: (u.profile.get(k) for k in ("firstName", "lastName", "email", "login")),
        )
        users = _matching(users, (search, filter_), _user_document)
        page = _paginated(
            users, request, key=lambda u: u.id, rule=paging.USERS_QUERY if prefix else paging.USERS
        )
        return _user_page(page, base_url=request.base_url)


def get_user(state: OktaState, request: ApiRequest) -> ApiResponse:
    user = state.get_user(request.params["userId"])
    return ApiResponse(200, render.user_json(user, base_url=request.base_url))


def create_user(state: OktaState, request: ApiRequest) -> ApiResponse:
    profile = _object(request.body).get("profile")
    if not isinstance(profile, dict):
        raise _blank("profile")
    for required in ("login", "email"):
        if not isinstance(profile.get(required), str) or not profile[required]:
            raise _blank(required)
    activate = request.query.get("activate", "true").lower() != "false"
    user = state.add_user(
        login=profile["login"],
        email=profile["email"],
        first_name=str(profile.get("firstName") or ""),
        last_name=str(profile.get("lastName") or ""),
        status="ACTIVE" if activate else "STAGED",
    )
    return ApiResponse(200, render.user_json(user, base_url=request.base_url))


# apps ------------------------------------------------------------------------------------
_READ_ONLY_APP_FIELDS = (
    "id",
    "name",
    "label",
    "signOnMode",
    "status",
    "created",
    "lastUpdated",
    "orn",
    "features",
    "_links",
    "_embedded",
)


def list_apps(state: OktaState, request: ApiRequest) -> ApiResponse:
    query = request.query
    filter_ = _search(query.get("filter"), lambda a: a in ("id", "status", "name"))
    with state.lock:
        apps = _starting_with(
            list(state.apps.values()), query.get("q") or "", lambda a: (a.label, a.name)
        )
        apps = _matching(
            apps, (filter_,), lambda a: {"id": a.id, "status": a.status, "name": a.name}
        )
        page = _paginated(apps, request, key=lambda a: a.id, rule=paging.APPS)
        return _page(page, lambda a: render.app_json(a, base_url=request.base_url))


def get_app(state: OktaState, request: ApiRequest) -> ApiResponse:
    app = state.get_app(request.params["appId"])
    return ApiResponse(200, render.app_json(app, base_url=request.base_url))


def _label_from(body: dict[str, Any]) -> str:
    label = body.get("label")
    if not isinstance(label, str) or not label.strip():
        raise _blank("label")
    return label


def create_app(state: OktaState, request: ApiRequest) -> ApiResponse:
    body = _object(request.body)
    label = _label_from(body)
    name = body.get("name")
    if name != catalog.AWS_APP_NAME:
        raise errors.validation_failed(
            field="name", causes=("name: The emulator only creates amazon_aws apps",)
        )
    with state.lock:
        app = catalog.add_aws_app(state, label=label)
        sent_settings = body.get("settings")
        if isinstance(sent_settings, dict) and isinstance(sent_settings.get("app"), dict):
            merged = dict(app.body)
            settings = dict(merged["settings"])
            settings["app"] = {**settings["app"], **sent_settings["app"]}
            merged["settings"] = settings
            app = state.replace_app(app_id=app.id, label=label, body=merged)
        return ApiResponse(200, render.app_json(app, base_url=request.base_url))


def replace_app(state: OktaState, request: ApiRequest) -> ApiResponse:
    body = _object(request.body)
    with state.lock:
        app = state.get_app(request.params["appId"])
        label = _label_from(body)
        sign_on_mode = body.get("signOnMode", app.sign_on_mode)
        if sign_on_mode != app.sign_on_mode:
            raise errors.validation_failed(
                field="signOnMode", causes=("signOnMode: The sign on mode cannot be changed",)
            )
        new_body = {k: v for k, v in body.items() if k not in _READ_ONLY_APP_FIELDS}
        new_body["features"] = list(app.body.get("features", []))
        # Okta keeps the signing key when a PUT omits it (typed SDK calls strip `{}`).
        kid = app.signing_kid
        credentials = new_body.get("credentials")
        if kid and isinstance(credentials, dict):
            signing = credentials.get("signing") or {}
            new_body["credentials"] = {**credentials, "signing": {"kid": kid, **signing}}
        updated = state.replace_app(app_id=app.id, label=label, body=new_body)
        return ApiResponse(200, render.app_json(updated, base_url=request.base_url))


def saml_metadata(state: OktaState, request: ApiRequest) -> ApiResponse:
    """Okta's spec makes `kid` (the app's signing key id) a required query parameter
    and answers `text/xml`; an unknown key is not found."""
    app = state.get_app(request.params["appId"])
    if app.sign_on_mode != "SAML_2_0":
        raise errors.not_found(resource_id=app.id, resource_type="AppInstance")
    kid = request.query.get("kid")
    if not kid:
        raise _blank("kid")
    if kid != app.signing_kid:
        raise errors.not_found(resource_id=kid, resource_type="AppInstanceKey")
    xml = catalog.saml_metadata(app=app, base_url=request.base_url)
    return ApiResponse(200, xml, content_type="text/xml")


def list_app_groups(state: OktaState, request: ApiRequest) -> ApiResponse:
    with state.lock:
        app = state.get_app(request.params["appId"])
        assignments = _starting_with(
            list(state.assignments[app.id].values()),
            request.query.get("q") or "",
            lambda a: (state.groups[a.group_id].name,),
        )
        page = _paginated(assignments, request, key=lambda a: a.group_id, rule=paging.APP_GROUPS)
        return _page(page, lambda a: render.assignment_json(a, base_url=request.base_url))


def get_app_group(state: OktaState, request: ApiRequest) -> ApiResponse:
    with state.lock:
        app = state.get_app(request.params["appId"])
        group_id = request.params["groupId"]
        assignment = state.assignments[app.id].get(group_id)
        if assignment is None:
            # Unverified resource type name: no recorded response shows this case.
            raise errors.not_found(resource_id=group_id, resource_type="AppGroupAssignment")
        return ApiResponse(200, render.assignment_json(assignment, base_url=request.base_url))


def assign_app_group(state: OktaState, request: ApiRequest) -> ApiResponse:
    body = request.body if request.body is not None else {}
    priority = _object(body).get("priority")
    if priority is not None and (not isinstance(priority, int) or priority < 0):
        raise errors.validation_failed(
            field="priority", causes=("priority: Priority must be a non-negative integer",)
        )
    assignment = state.assign_group(
        app_id=request.params["appId"], group_id=request.params["groupId"], priority=priority
    )
    return ApiResponse(200, render.assignment_json(assignment, base_url=request.base_url))


def unassign_app_group(state: OktaState, request: ApiRequest) -> ApiResponse:
    state.unassign_group(app_id=request.params["appId"], group_id=request.params["groupId"])
    return ApiResponse(204)


_ROUTE_TABLE: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/api/v1/apps", list_apps),
    ("POST", "/api/v1/apps", create_app),
    ("GET", "/api/v1/apps/{appId}", get_app),
    ("PUT", "/api/v1/apps/{appId}", replace_app),
    ("GET", "/api/v1/apps/{appId}/sso/saml/metadata", saml_metadata),
    ("GET", "/api/v1/apps/{appId}/groups", list_app_groups),
    ("GET", "/api/v1/apps/{appId}/groups/{groupId}", get_app_group),
    ("PUT", "/api/v1/apps/{appId}/groups/{groupId}", assign_app_group),
    ("DELETE", "/api/v1/apps/{appId}/groups/{groupId}", unassign_app_group),
    ("GET", "/api/v1/groups", list_groups),
    ("POST", "/api/v1/groups", create_group),
    ("GET", "/api/v1/groups/{groupId}", get_group),
    ("PUT", "/api/v1/groups/{groupId}", replace_group),
    ("DELETE", "/api/v1/groups/{groupId}", delete_group),
    ("GET", "/api/v1/groups/{groupId}/users", list_group_users),
    ("PUT", "/api/v1/groups/{groupId}/users/{userId}", assign_user),
    ("DELETE", "/api/v1/groups/{groupId}/users/{userId}", unassign_user),
    ("GET", "/api/v1/users", list_users),
    ("POST", "/api/v1/users", create_user),
    ("GET", "/api/v1/users/{userId}", get_user),
)

ROUTES: tuple[Route, ...] = tuple(
    Route(method, template, handler, _compile(template))
    for method, template, handler in _ROUTE_TABLE
)


def match_route(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route for a request, or Okta's 404/405 error."""
    path_matched = False
    for route in ROUTES:
        found = route.pattern.match(path)
        if found is None:
            continue
        path_matched = True
        if route.method == method:
            return route, found.groupdict()
    if path_matched:
        raise errors.unsupported_method()
    raise errors.not_found(resource_id=path, resource_type="Endpoint")


def route_template(method: str, path: str) -> str:
    """The template a path counts under; unknown paths count as themselves."""
    for route in ROUTES:
        if route.pattern.match(path):
            return route.template
    return path
