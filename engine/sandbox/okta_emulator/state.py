"""The emulated Okta org's data, kept apart from HTTP so the sandbox can persist it.

Everything a client can observe (ids, timestamps, group types, memberships, app
assignments) lives here; the server only renders it. The store is thread-safe (one
re-entrant lock, which handlers also hold for compound operations) and round-trips
through JSON so `.sandbox/` can keep an org across CLI invocations.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import secrets
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from engine.sandbox.okta_emulator import errors
from engine.sandbox.okta_emulator.clock import Clock

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ID_LENGTH = 20
FORMAT_VERSION = 1

T = TypeVar("T")


class IdPrefix(StrEnum):
    USER = "00u"
    GROUP = "00g"
    APP = "0oa"


class GroupType(StrEnum):
    OKTA_GROUP = "OKTA_GROUP"
    APP_GROUP = "APP_GROUP"
    BUILT_IN = "BUILT_IN"


def okta_timestamp(moment: datetime | None = None) -> str:
    """Okta's format: millisecond precision, always `.000Z` for whole seconds."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def is_okta_id(value: str) -> bool:
    return len(value) == ID_LENGTH and all(ch in _BASE62 for ch in value)


@dataclass(frozen=True)
class User:
    id: str
    status: str
    created: str
    last_updated: str
    profile: Mapping[str, Any]

    @property
    def login(self) -> str:
        return str(self.profile["login"])


@dataclass(frozen=True)
class Group:
    id: str
    type: GroupType
    created: str
    last_updated: str
    last_membership_updated: str
    profile: Mapping[str, Any]
    object_class: tuple[str, ...]
    # For APP_GROUP: the app instance (active_directory, ldap_sun_one…) that imported it.
    source_app_id: str | None = None

    @property
    def name(self) -> str:
        return str(self.profile["name"])


@dataclass(frozen=True)
class App:
    id: str
    name: str
    label: str
    sign_on_mode: str
    status: str
    created: str
    last_updated: str
    # Every other top-level field (settings, credentials, visibility…) exactly as last
    # written, so `settings.app` nulls survive a PUT/GET round trip.
    body: Mapping[str, Any] = field(default_factory=dict)

    @property
    def signing_kid(self) -> str | None:
        """The id of the app's SAML signing key (`credentials.signing.kid`), if any."""
        kid = ((self.body.get("credentials") or {}).get("signing") or {}).get("kid")
        return str(kid) if kid else None


@dataclass(frozen=True)
class Assignment:
    app_id: str
    group_id: str
    priority: int
    last_updated: str
    profile: Mapping[str, Any] = field(default_factory=dict)


class OktaState:
    """One Okta org. Public methods take the lock; callers may hold it across calls."""

    def __init__(self, *, seed: int | None = None, clock: Clock | None = None) -> None:
        self.lock = threading.RLock()
        self.clock = clock or Clock()
        self.stamp_skew = 0.0  # seconds the stamping clock is off the Date clock (tests)
        self.seed = seed if seed is not None else secrets.randbits(64)
        self._id_counter = 0
        self.users: dict[str, User] = {}
        self.groups: dict[str, Group] = {}
        self.apps: dict[str, App] = {}
        self.assignments: dict[str, dict[str, Assignment]] = {}
        self.members: dict[str, set[str]] = {}
        self.add_group(
            name="Everyone",
            description="All users in your organization",
            group_type=GroupType.BUILT_IN,
        )

    def timestamp(self) -> str:
        """Now, by the org's clock, in Okta's format."""
        return okta_timestamp(datetime.fromtimestamp(self.clock.time() + self.stamp_skew, UTC))

    # ids -------------------------------------------------------------------------------
    def new_id(self, prefix: IdPrefix) -> str:
        """Deterministic per (seed, n): a reloaded state keeps producing fresh ids."""
        with self.lock:
            while True:
                self._id_counter += 1
                digest = hashlib.sha256(f"{self.seed}:{self._id_counter}".encode()).digest()
                number = int.from_bytes(digest, "big")
                chars = []
                for _ in range(ID_LENGTH - len(prefix.value)):
                    number, rem = divmod(number, 62)
                    chars.append(_BASE62[rem])
                candidate = prefix.value + "".join(chars)
                if candidate not in self.users and candidate not in self.groups:
                    return candidate

    # users -----------------------------------------------------------------------------
    def add_user(
        self, *, login: str, email: str, first_name: str, last_name: str, status: str = "ACTIVE"
    ) -> User:
        with self.lock:
            if self.find_user(login) is not None:
                raise errors.already_exists(field="login")
            now = self.timestamp()
            user = User(
                id=self.new_id(IdPrefix.USER),
                status=status,
                created=now,
                last_updated=now,
                profile={
                    "firstName": first_name,
                    "lastName": last_name,
                    "mobilePhone": None,
                    "secondEmail": None,
                    "login": login,
                    "email": email,
                },
            )
            self.users[user.id] = user
            everyone = self.everyone()
            self._add_member_unchecked(group_id=everyone.id, user_id=user.id)
            return user

    def find_user(self, id_or_login: str) -> User | None:
        with self.lock:
            if id_or_login in self.users:
                return self.users[id_or_login]
            wanted = id_or_login.casefold()
            for user in self.users.values():
                if user.login.casefold() == wanted:
                    return user
            return None

    def get_user(self, id_or_login: str) -> User:
        user = self.find_user(id_or_login)
        if user is None:
            raise errors.not_found(resource_id=id_or_login, resource_type="User")
        return user

    # groups ----------------------------------------------------------------------------
    def everyone(self) -> Group:
        with self.lock:
            return next(g for g in self.groups.values() if g.type is GroupType.BUILT_IN)

    def add_group(
        self,
        *,
        name: str,
        description: str | None,
        group_type: GroupType = GroupType.OKTA_GROUP,
        source_app_id: str | None = None,
        extra_profile: Mapping[str, Any] | None = None,
        object_class: tuple[str, ...] = ("okta:user_group",),
    ) -> Group:
        with self.lock:
            if group_type is GroupType.OKTA_GROUP:
                self._check_name_free(name)
            now = self.timestamp()
            group = Group(
                id=self.new_id(IdPrefix.GROUP),
                type=group_type,
                created=now,
                last_updated=now,
                last_membership_updated=now,
                profile={"name": name, "description": description, **(extra_profile or {})},
                object_class=object_class,
                source_app_id=source_app_id,
            )
            self.groups[group.id] = group
            self.members[group.id] = set()
            return group

    def get_group(self, group_id: str) -> Group:
        return _get(self.groups, group_id, resource_type="UserGroup", lock=self.lock)

    def _check_name_free(self, name: str, *, renamed: str | None = None) -> None:
        """Okta's OKTA_GROUP names are unique, ignoring case (`renamed`: the group whose
        own name it may keep)."""
        if any(
            g.id != renamed
            and g.type is GroupType.OKTA_GROUP
            and g.name.casefold() == name.casefold()
            for g in self.groups.values()
        ):
            raise errors.already_exists(field="name")

    def replace_group_profile(self, *, group_id: str, profile: Mapping[str, Any]) -> Group:
        """The API path: only OKTA_GROUPs may be edited (imports use `put_group`)."""
        with self.lock:
            group = self.get_group(group_id)
            if group.type is not GroupType.OKTA_GROUP:
                raise errors.access_denied()
            name = profile.get("name")
            if not isinstance(name, str) or not name:
                raise errors.validation_failed(
                    field="name", causes=("name: The field cannot be left blank",)
                )
            self._check_name_free(name, renamed=group_id)
            return self.put_group(dataclasses.replace(group, profile=dict(profile)))

    def put_group(self, group: Group) -> Group:
        with self.lock:
            stored = dataclasses.replace(group, last_updated=self.timestamp())
            self.groups[group.id] = stored
            self.members.setdefault(group.id, set())
            return stored

    def delete_group(self, group_id: str) -> None:
        with self.lock:
            group = self.get_group(group_id)
            if group.type is GroupType.BUILT_IN:
                raise errors.access_denied()
            del self.groups[group_id]
            self.members.pop(group_id, None)
            for by_group in self.assignments.values():
                by_group.pop(group_id, None)

    # memberships -----------------------------------------------------------------------
    def add_member(self, *, group_id: str, user_id: str) -> None:
        with self.lock:
            self._check_editable(group_id=group_id, user_id=user_id)
            self._add_member_unchecked(group_id=group_id, user_id=user_id)

    def remove_member(self, *, group_id: str, user_id: str) -> None:
        with self.lock:
            self._check_editable(group_id=group_id, user_id=user_id)
            self.set_members(group_id=group_id, user_ids=self.members[group_id] - {user_id})

    def _check_editable(self, *, group_id: str, user_id: str) -> None:
        """Both exist, and the API may change the group's members (an OKTA_GROUP's only:
        imported and built-in groups are their source's)."""
        group = self.get_group(group_id)
        self.get_user(user_id)
        if group.type is not GroupType.OKTA_GROUP:
            raise errors.access_denied()

    def _add_member_unchecked(self, *, group_id: str, user_id: str) -> None:
        self.set_members(group_id=group_id, user_ids=self.members[group_id] | {user_id})

    def set_members(self, *, group_id: str, user_ids: set[str]) -> None:
        """Replace a group's members as an import does; no type check."""
        with self.lock:
            if self.members.get(group_id) == user_ids:
                return
            self.members[group_id] = set(user_ids)
            group = self.groups[group_id]
            self.groups[group_id] = dataclasses.replace(
                group, last_membership_updated=self.timestamp()
            )

    # apps ------------------------------------------------------------------------------
    def add_app(
        self,
        *,
        name: str,
        label: str,
        sign_on_mode: str,
        body: Mapping[str, Any],
        status: str = "ACTIVE",
    ) -> App:
        with self.lock:
            now = self.timestamp()
            app = App(
                id=self.new_id(IdPrefix.APP),
                name=name,
                label=label,
                sign_on_mode=sign_on_mode,
                status=status,
                created=now,
                last_updated=now,
                body=dict(body),
            )
            self.apps[app.id] = app
            self.assignments[app.id] = {}
            return app

    def get_app(self, app_id: str) -> App:
        return _get(self.apps, app_id, resource_type="AppInstance", lock=self.lock)

    def replace_app(self, *, app_id: str, label: str, body: Mapping[str, Any]) -> App:
        with self.lock:
            app = self.get_app(app_id)
            stored = dataclasses.replace(
                app, label=label, body=dict(body), last_updated=self.timestamp()
            )
            self.apps[app_id] = stored
            return stored

    def apps_named(self, name: str) -> Iterator[App]:
        with self.lock:
            return iter([app for app in self.apps.values() if app.name == name])

    # app group assignments -------------------------------------------------------------
    def assign_group(self, *, app_id: str, group_id: str, priority: int | None) -> Assignment:
        with self.lock:
            self.get_app(app_id)
            self.get_group(group_id)
            current = self.assignments[app_id]
            existing = current.get(group_id)
            if existing is not None and (priority is None or priority == existing.priority):
                return existing
            if priority is None:
                priority = max((a.priority for a in current.values()), default=-1) + 1
            assignment = Assignment(
                app_id=app_id, group_id=group_id, priority=priority, last_updated=self.timestamp()
            )
            current[group_id] = assignment
            return assignment

    def unassign_group(self, *, app_id: str, group_id: str) -> None:
        with self.lock:
            self.get_app(app_id)
            self.get_group(group_id)
            self.assignments[app_id].pop(group_id, None)

    # persistence -----------------------------------------------------------------------
    def to_json(self) -> str:
        with self.lock:
            document = {
                "version": FORMAT_VERSION,
                "seed": self.seed,
                "idCounter": self._id_counter,
                "users": [dataclasses.asdict(u) for u in self.users.values()],
                "groups": [
                    {**dataclasses.asdict(g), "type": g.type.value} for g in self.groups.values()
                ],
                "apps": [dataclasses.asdict(a) for a in self.apps.values()],
                "assignments": [
                    dataclasses.asdict(a) for by in self.assignments.values() for a in by.values()
                ],
                "members": {gid: sorted(uids) for gid, uids in self.members.items()},
            }
        return json.dumps(document, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> OktaState:
        document = json.loads(text)
        if document.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported Okta emulator state version {document.get('version')}")
        state = cls.__new__(cls)
        state.lock = threading.RLock()
        state.clock = Clock()
        state.stamp_skew = 0.0
        state.seed = int(document["seed"])
        state._id_counter = int(document["idCounter"])
        state.users = {u["id"]: User(**u) for u in document["users"]}
        state.groups = {}
        for raw in document["groups"]:
            raw = {
                **raw,
                "type": GroupType(raw["type"]),
                "object_class": tuple(raw["object_class"]),
            }
            state.groups[raw["id"]] = Group(**raw)
        state.apps = {a["id"]: App(**a) for a in document["apps"]}
        state.assignments = {app_id: {} for app_id in state.apps}
        for raw in document["assignments"]:
            state.assignments[raw["app_id"]][raw["group_id"]] = Assignment(**raw)
        state.members = {gid: set(uids) for gid, uids in document["members"].items()}
        return state

    def save(self, path: str | os.PathLike[str]) -> None:
        """Atomic write: a crash mid-save never leaves a truncated state file."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = self.to_json()
        with tempfile.NamedTemporaryFile(
            "w", dir=target.parent, prefix=target.name, suffix=".tmp", delete=False
        ) as handle:
            handle.write(text)
        os.replace(handle.name, target)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> OktaState:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def _get(table: Mapping[str, T], key: str, *, resource_type: str, lock: threading.RLock) -> T:
    """`table[key]`, or Okta's 404 naming the resource type."""
    with lock:
        found = table.get(key)
        if found is None:
            raise errors.not_found(resource_id=key, resource_type=resource_type)
        return found
