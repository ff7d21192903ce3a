"""Okta's JSON for each stored object, field for field as recorded real responses show.

Links embed the emulator's own base URL (Okta's embed the org URL), so a client that
follows `_links` stays on the emulator.
"""

from __future__ import annotations

import json
from typing import Any

from engine.sandbox.okta_emulator.catalog import ACTIVE_DIRECTORY_APP_NAME
from engine.sandbox.okta_emulator.state import App, Assignment, Group, GroupType, OktaState, User

_LOGO_BASE = "https://ok11static.oktacdn.com/assets/img/logos/groups"


def user_json(user: User, *, base_url: str) -> dict[str, Any]:
    return {
        "id": user.id,
        "status": user.status,
        "created": user.created,
        "activated": user.created if user.status == "ACTIVE" else None,
        "statusChanged": user.created if user.status == "ACTIVE" else None,
        "lastLogin": None,
        "lastUpdated": user.last_updated,
        "passwordChanged": None,
        "type": {"id": "oty" + user.id[3:]},
        "profile": dict(user.profile),
        "credentials": {
            "emails": [
                {"value": user.profile.get("email"), "status": "VERIFIED", "type": "PRIMARY"}
            ],
            "provider": {"type": "OKTA", "name": "OKTA"},
        },
        "_links": {"self": {"href": f"{base_url}/api/v1/users/{user.id}"}},
    }


def user_json_text(user: User, *, base_url: str) -> str:
    """`user_json` as JSON text, kept per user object. Member pages of 1,000 users were
    most of the emulator's CPU, and the same users are listed page after page; a user
    changed in the state is a new (frozen) object, so a stale text is never served."""
    key = (user.id, base_url)
    cached = _USER_TEXT.get(key)
    if cached is not None and cached[0] is user:
        return cached[1]
    text = json.dumps(user_json(user, base_url=base_url))
    _USER_TEXT[key] = (user, text)
    return text


_USER_TEXT: dict[tuple[str, str], tuple[User, str]] = {}


def group_json(group: Group, *, state: OktaState, base_url: str) -> dict[str, Any]:
    logo = "okta"
    links: dict[str, Any] = {}
    if group.type is GroupType.APP_GROUP and group.source_app_id is not None:
        source = state.apps.get(group.source_app_id)
        if source is not None and source.name == ACTIVE_DIRECTORY_APP_NAME:
            logo = "active_directory"
        links["source"] = {"href": f"{base_url}/api/v1/apps/{group.source_app_id}"}
    return {
        "id": group.id,
        "created": group.created,
        "lastUpdated": group.last_updated,
        "lastMembershipUpdated": group.last_membership_updated,
        "objectClass": list(group.object_class),
        "type": group.type.value,
        "profile": dict(group.profile),
        "_links": {
            "logo": [
                {"name": "medium", "href": f"{_LOGO_BASE}/{logo}-medium.png", "type": "image/png"},
                {"name": "large", "href": f"{_LOGO_BASE}/{logo}-large.png", "type": "image/png"},
            ],
            **links,
            "users": {"href": f"{base_url}/api/v1/groups/{group.id}/users"},
            "apps": {"href": f"{base_url}/api/v1/groups/{group.id}/apps"},
        },
    }


def app_json(app: App, *, base_url: str) -> dict[str, Any]:
    api = f"{base_url}/api/v1/apps/{app.id}"
    links: dict[str, Any] = {
        "appLinks": [
            {
                "name": "login",
                "href": f"{base_url}/home/{app.name}/{app.id}/login",
                "type": "text/html",
            }
        ],
        "groups": {"href": f"{api}/groups"},
        "logo": [{"name": "medium", "href": f"{base_url}/assets/img/logos/{app.name}.png"}],
        "users": {"href": f"{api}/users"},
        "deactivate": {"href": f"{api}/lifecycle/deactivate"},
    }
    if app.sign_on_mode == "SAML_2_0":
        query = f"?kid={app.signing_kid}" if app.signing_kid else ""
        links["metadata"] = {"href": f"{api}/sso/saml/metadata{query}", "type": "application/xml"}
    return {
        "id": app.id,
        "name": app.name,
        "label": app.label,
        "status": app.status,
        "lastUpdated": app.last_updated,
        "created": app.created,
        **app.body,
        "signOnMode": app.sign_on_mode,
        "_links": links,
    }


def assignment_json(assignment: Assignment, *, base_url: str) -> dict[str, Any]:
    return {
        "id": assignment.group_id,
        "lastUpdated": assignment.last_updated,
        "priority": assignment.priority,
        "profile": dict(assignment.profile),
        "_links": {
            "app": {"href": f"{base_url}/api/v1/apps/{assignment.app_id}"},
            "self": {
                "href": f"{base_url}/api/v1/apps/{assignment.app_id}/groups/{assignment.group_id}"
            },
            "group": {"href": f"{base_url}/api/v1/groups/{assignment.group_id}"},
        },
    }
