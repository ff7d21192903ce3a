"""Live snapshots: the world survives JSON exactly, and its fingerprint tracks every change.

A plan computed from a snapshot must be the plan computed from the live read, so the
round trip is checked as a property over generated worlds (every resource kind, odd
characters, optional fields both ways), through JSON text, not just dicts. The
fingerprint is what `apply --plan` trusts to detect a moved world: a table of single
edits (each thing a plan depends on, server ids included) must each change it, while
representation (insertion order, a round trip) must not. Files are checked for what
users do with them: publish, download, hand-edit, and feed a newer or older engine.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import referencing
from hypothesis import given
from hypothesis import strategies as st

from engine.dn import build_dn, normalize_dn
from engine.model import (
    AppAssignment,
    DirectoryGroup,
    DirectoryKind,
    DirectoryUser,
    GroupRole,
    OktaApp,
    OktaAppSettings,
    OktaGroup,
    OktaGroupType,
    Role,
    SamlProvider,
    System,
    World,
    saml_trust_policy,
)
from engine.snapshot import (
    SNAPSHOT_FORMAT_VERSION,
    SnapshotError,
    fingerprint,
    load_snapshot,
    read_snapshot,
    world_from_json,
    world_to_json,
    write_snapshot,
)
from tests.unit.worlds import AD, LDAP, OKTA, converged_live, desired_world

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
ACCOUNTS = ("111111111111", "222222222222", "333333333333")
OU = "OU=AWS Management Groups,DC=example,DC=test"

# --- a generated world -----------------------------------------------------------------

text = st.text(st.characters(codec="utf-8"), max_size=12)
names = st.text('abcXYZ019 #,+=;-_.\\"<>é', min_size=1, max_size=12)
logins = st.text("abcdefgh", min_size=1, max_size=6)
accounts = st.sampled_from(ACCOUNTS)
optional_ids = st.none() | st.text("0123456789abcdef", min_size=1, max_size=8)
login_sets = st.frozensets(logins, max_size=3)


@st.composite
def directory_groups(draw: st.DrawFn) -> DirectoryGroup:
    name = draw(names)
    return DirectoryGroup(
        dn=build_dn(cn=name, parent=OU),
        name=name,
        role=draw(st.sampled_from(GroupRole)),
        description=draw(text),
        member_groups=draw(
            st.frozensets(names.map(lambda n: normalize_dn(build_dn(cn=n, parent=OU))), max_size=2)
        ),
        member_users=draw(st.none() | login_sets),
        adopted=draw(st.booleans()),
        account_id=draw(st.none() | accounts),
        role_name=draw(st.none() | names),
    )


app_settings = st.builds(
    OktaAppSettings,
    use_group_mapping=st.booleans(),
    app_filter=st.sampled_from(["active_directory", "ldap_sun_one", "active_directory,okta"]),
    group_filter=text,
    role_value_pattern=text,
    session_duration=st.integers(900, 43200),
    join_all_roles=st.booleans(),
)

worlds = st.builds(
    World.build,
    saml_providers=st.lists(
        st.builds(
            SamlProvider,
            account_id=accounts,
            name=names,
            metadata=text,
            managed=st.booleans(),
            adopt=st.booleans(),
        ),
        max_size=3,
    ),
    roles=st.lists(
        st.builds(
            Role,
            account_id=accounts,
            name=names,
            trust_policy=st.builds(
                lambda a, p: saml_trust_policy(account_id=a, provider_name=p), accounts, names
            ),
            managed_policies=st.frozensets(text, max_size=3),
            max_session_duration=st.integers(3600, 43200),
            description=text,
            managed=st.booleans(),
            adopt=st.booleans(),
            inline_policies=st.frozensets(names, max_size=2),
        ),
        max_size=3,
    ),
    directory_groups=st.lists(directory_groups(), max_size=3),
    directory_users=st.lists(
        st.builds(DirectoryUser, login=logins, dn=logins.map(lambda u: f"cn={u},cn=users")),
        max_size=3,
    ),
    okta_app=st.none() | st.builds(OktaApp, label=names, settings=app_settings, id=optional_ids),
    okta_groups=st.lists(
        st.builds(
            OktaGroup,
            name=names,
            source=st.sampled_from(["okta", "active_directory", "ldap_sun_one"]),
            type=st.sampled_from(OktaGroupType),
            id=optional_ids,
            source_id=optional_ids,
            dn=st.none() | names,
            description=text,
            members=st.none() | login_sets,
        ),
        max_size=3,
    ),
    app_assignments=st.lists(st.builds(AppAssignment, group_source=names, group_name=names)),
    accounts=st.frozensets(accounts),
    systems=st.frozensets(st.sampled_from(System)),
    account_aliases=st.dictionaries(accounts, names, max_size=2),
    directory_kind=st.none() | st.sampled_from(DirectoryKind),
)


@cache
def _validator() -> jsonschema.Draft202012Validator:
    plan_schema = json.loads((SCHEMAS / "plan.schema.json").read_text(encoding="utf-8"))
    snapshot_schema = json.loads((SCHEMAS / "snapshot.schema.json").read_text(encoding="utf-8"))
    registry: referencing.Registry[Any] = referencing.Registry().with_resources(
        [(s["$id"], referencing.Resource.from_contents(s)) for s in (plan_schema, snapshot_schema)]
    )
    jsonschema.Draft202012Validator.check_schema(snapshot_schema)
    return jsonschema.Draft202012Validator(snapshot_schema, registry=registry)


def _through_text(data: Any) -> Any:
    return json.loads(json.dumps(data, ensure_ascii=False))


# --- properties ------------------------------------------------------------------------


@given(worlds)
def test_world_round_trips_exactly_through_json_text(world: World) -> None:
    assert world_from_json(_through_text(world_to_json(world))) == world


@given(worlds)
def test_fingerprint_ignores_insertion_order_and_survives_round_trip(world: World) -> None:
    reversed_world = dataclasses.replace(
        world,
        roles=dict(reversed(list(world.roles.items()))),
        okta_groups=dict(reversed(list(world.okta_groups.items()))),
        account_aliases=dict(reversed(list(world.account_aliases.items()))),
    )
    assert fingerprint(reversed_world) == fingerprint(world)
    assert fingerprint(world_from_json(_through_text(world_to_json(world)))) == fingerprint(world)


@given(world=worlds)
def test_snapshot_documents_validate_against_the_schema(
    world: World, tmp_path_factory: Any
) -> None:
    path = tmp_path_factory.mktemp("snap") / "live.json"
    write_snapshot(world=world, path=path, target="sandbox")
    _validator().validate(json.loads(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("kind", [AD, LDAP, OKTA], ids=str)
def test_realistic_worlds_round_trip(kind: DirectoryKind) -> None:
    desired = desired_world(kind=kind)
    for world in (desired, converged_live(desired)):
        data = _through_text(world_to_json(world))
        _validator().validate(
            {
                "kind": "okta-aws/live-snapshot",
                "format_version": 1,
                "target": "sandbox",
                "world": data,
            }
        )
        assert world_from_json(data) == world


def test_resources_are_listed_in_natural_key_order() -> None:
    roles = [
        Role(account_id=a, name=n, trust_policy="{}")
        for a, n in [("222222222222", "b"), ("111111111111", "Z"), ("111111111111", "a")]
    ]
    listed = world_to_json(World.build(roles=roles))["roles"]
    assert [(r["account_id"], r["name"]) for r in listed] == [
        ("111111111111", "a"),
        ("111111111111", "Z"),
        ("222222222222", "b"),
    ]


# --- the fingerprint moves with everything a plan depends on ---------------------------

BASE = converged_live(desired_world(kind=AD))


def _first(mapping: Any) -> Any:
    return next(iter(sorted(mapping.items())))[1]


def _replace_in(field: str, **changes: Any) -> Callable[[World], World]:
    def edit(world: World) -> World:
        items = dict(getattr(world, field))
        key = sorted(items)[0]
        items[key] = dataclasses.replace(items[key], **changes)
        replaced: dict[str, Any] = {field: items}
        return dataclasses.replace(world, **replaced)

    return edit


def _drop_nesting(world: World) -> World:
    groups = dict(world.directory_groups)
    key = next(k for k in sorted(groups) if groups[k].member_groups)
    groups[key] = dataclasses.replace(groups[key], member_groups=frozenset())
    return dataclasses.replace(world, directory_groups=groups)


def _edit_app(world: World, **changes: Any) -> World:
    assert world.okta_app is not None
    return dataclasses.replace(world, okta_app=dataclasses.replace(world.okta_app, **changes))


def _add_member(world: World) -> World:
    group = _first(world.okta_groups)
    members = (group.members or frozenset()) | {"zoe"}
    return _replace_in("okta_groups", members=members)(world)


EDITS: dict[str, Callable[[World], World]] = {
    "provider metadata": _replace_in("saml_providers", metadata="<other/>"),
    "provider loses its tag": _replace_in("saml_providers", managed=False),
    "role policy": _replace_in("roles", managed_policies=frozenset({"arn:x"})),
    "role trust policy": _replace_in("roles", trust_policy="{}"),
    "role description": _replace_in("roles", description="changed by hand"),
    "role inline policy": _replace_in("roles", inline_policies=frozenset({"extra"})),
    "group description": _replace_in("directory_groups", description="x"),
    "group nesting": _drop_nesting,
    "group users": _replace_in("directory_groups", member_users=frozenset({"zoe"})),
    "okta group id (recreated)": _replace_in("okta_groups", id="00gNEW"),
    "okta group members": _add_member,
    "okta app id": lambda w: _edit_app(w, id="0oaNEW"),
    "okta app settings": lambda w: _edit_app(w, settings=OktaAppSettings(group_filter="other")),
    "an assignment removed": lambda w: dataclasses.replace(
        w, app_assignments=dict(sorted(w.app_assignments.items())[1:])
    ),
    "a user added": lambda w: dataclasses.replace(
        w, directory_users={**w.directory_users, "zoe": DirectoryUser(login="zoe", dn="cn=zoe")}
    ),
    "systems read (--only)": lambda w: dataclasses.replace(w, systems=frozenset({System.AWS})),
    "accounts covered": lambda w: dataclasses.replace(w, accounts=w.accounts | {"999999999999"}),
    "account alias": lambda w: dataclasses.replace(w, account_aliases={}),
}


@pytest.mark.parametrize("edit", list(EDITS.values()), ids=list(EDITS))
def test_every_edit_changes_the_fingerprint(edit: Callable[[World], World]) -> None:
    edited = edit(BASE)
    assert edited != BASE  # the edit itself is real
    assert fingerprint(edited) != fingerprint(BASE)


def test_an_empty_field_marked_omit_when_empty_is_not_written() -> None:
    """Role.inline_policies came later: worlds without any keep their bytes (and plans
    and snapshots written before it still read), worlds with some keep them."""
    plain = _first(BASE.roles)
    assert "inline_policies" not in world_to_json(BASE)["roles"][0]
    with_inline = _replace_in("roles", inline_policies=frozenset({"b", "a"}))(BASE)
    assert world_to_json(with_inline)["roles"][0]["inline_policies"] == ["a", "b"]
    assert world_from_json(_through_text(world_to_json(with_inline))) == with_inline
    assert plain.inline_policies == frozenset()


def test_fingerprint_is_a_sha256_of_the_world() -> None:
    value = fingerprint(BASE)
    assert len(value) == 64 and set(value) <= set("0123456789abcdef")
    assert fingerprint(World()) != value


# --- files -----------------------------------------------------------------------------


def test_snapshot_file_keeps_world_and_target(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "live.json"
    write_snapshot(world=BASE, path=path, target="live")
    snapshot = load_snapshot(path=path)
    assert (snapshot.world, snapshot.target) == (BASE, "live")
    assert snapshot.fingerprint == fingerprint(BASE)
    assert read_snapshot(path=path) == BASE
    assert [p.name for p in path.parent.iterdir()] == ["live.json"]  # no temp file left


def test_snapshot_files_are_byte_identical_for_equal_worlds(tmp_path: Path) -> None:
    write_snapshot(world=BASE, path=tmp_path / "a.json", target="sandbox")
    rebuilt = world_from_json(world_to_json(BASE))
    write_snapshot(world=rebuilt, path=tmp_path / "b.json", target="sandbox")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def _document(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "live.json"
    write_snapshot(world=BASE, path=path, target="sandbox")
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _edit_role_name(doc: dict[str, Any]) -> None:
    doc["world"]["roles"][0]["name"] = "Renamed"


def _accept_edit(doc: dict[str, Any]) -> None:
    _edit_role_name(doc)
    del doc["fingerprint"]


BAD_DOCUMENTS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "newer format",
        lambda d: d.update(format_version=SNAPSHOT_FORMAT_VERSION + 1),
        "$.format_version",
    ),
    ("not a snapshot", lambda d: d.update(kind="okta-aws/plan"), "not an okta-aws live snapshot"),
    ("no target", lambda d: d.pop("target"), "$.target"),
    ("hand edit keeps old fingerprint", _edit_role_name, "delete the fingerprint"),
    (
        "unknown field",
        lambda d: d["world"]["roles"][0].update(colour="red"),
        "$.world.roles[0]: unknown field(s) of Role: colour",
    ),
    (
        "wrong type",
        lambda d: d["world"]["roles"][0].update(max_session_duration="1h"),
        "$.world.roles[0].max_session_duration: expected int",
    ),
    (
        "bool is not int",
        lambda d: d["world"]["roles"][0].update(max_session_duration=True),
        "expected int, got bool",
    ),
    (
        "bad enum",
        lambda d: d["world"]["directory_groups"][0].update(role="owner"),
        "'owner' is not one of 'role', 'management'",
    ),
    ("missing field", lambda d: d["world"]["roles"][0].pop("name"), "missing field 'name'"),
    (
        "duplicate key",
        lambda d: d["world"]["roles"].append(d["world"]["roles"][0]),
        "$.world.roles: two entries share one natural key",
    ),
    (
        "resources not a list",
        lambda d: d["world"].update(roles={}),
        "$.world.roles: expected a list",
    ),
]


@pytest.mark.parametrize(
    ("edit", "message"), [(e, m) for _, e, m in BAD_DOCUMENTS], ids=[i for i, _, _ in BAD_DOCUMENTS]
)
def test_bad_snapshot_files_are_refused_with_the_path(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    doc = _document(tmp_path)
    edit(doc)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(SnapshotError) as raised:
        read_snapshot(path=path)
    assert message in str(raised.value)
    assert str(path) in str(raised.value)


def test_a_hand_edit_is_accepted_once_the_fingerprint_is_deleted(tmp_path: Path) -> None:
    doc = _document(tmp_path)
    _accept_edit(doc)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    world = read_snapshot(path=path)
    assert "Renamed" in {r.name for r in world.roles.values()}


def test_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(SnapshotError, match="not JSON"):
        read_snapshot(path=path)
