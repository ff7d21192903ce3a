"""`import` as a pure function: a live world in, a desired-state folder out, whose plan
against the same world is empty; what the model cannot express is exactly the findings."""

from __future__ import annotations

import dataclasses
import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.adopt import adopt
from engine.adopt_discover import ImportRefused, discover, syntax_from_filter
from engine.adopt_model import Adoption, Effect, ImportFinding, ImportOptions
from engine.adopt_render import render_files
from engine.adopt_roles import Definition, definition, variant_name
from engine.commands_import import import_
from engine.compile import compile_world
from engine.diff import diff
from engine.dn import build_dn, normalize_dn, parent_dn
from engine.load import load
from engine.model import AppAssignment, DirectoryKind, World
from engine.naming import DEFAULT_ROLE_GROUP_NAME, derive_group_filter
from engine.plan import PlanOptions
from engine.snapshot import write_snapshot
from engine.spec import DesiredState, RoleSpec
from tests.unit.strategies import desired_states
from tests.unit.worlds import AD, OKTA, PROD, converged_live, small_state

REPO = Path(__file__).resolve().parents[2]
METADATA = (REPO / "desired-state" / "okta-idp-metadata.xml").read_text(encoding="utf-8")


def live_of(state: DesiredState) -> World:
    """The world `state` converges to, with a real IdP metadata document everywhere."""
    live = converged_live(compile_world(state=state, metadata=METADATA))
    return dataclasses.replace(live, account_aliases={})


def imported(live: World, **options: object) -> tuple[Adoption, DesiredState]:
    adoption = adopt(
        world=live,
        discovery=discover(okta=live),
        options=ImportOptions(**options),  # type: ignore[arg-type]
    )
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name, text in render_files(adoption=adoption, schema_ref="schema.json").items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text, encoding="utf-8")
        state = load(directory=root)
    return adoption, state


def definition_of(spec: RoleSpec) -> Definition:
    return (tuple(sorted(spec.managed_policies)), spec.max_session_duration, spec.description)


def changes(state: DesiredState, live: World) -> list[str]:
    plan = diff(desired=compile_world(state=state), live=live, options=PlanOptions())
    return [c.id for c in plan.changes]


# Hand edits that make one account's role another definition of the same IAM role.
REDEFINITIONS = (
    {"max_session_duration": 43200},
    {"max_session_duration": 5400},
    {"description": "edited by hand"},
    {"managed_policies": frozenset({"arn:aws:iam::aws:policy/ViewOnlyAccess"})},
    {"max_session_duration": 43200, "description": "edited by hand"},
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=desired_states(), members=st.booleans(), data=st.data())
def test_expressible_worlds_import_to_an_empty_plan(
    state: DesiredState, members: bool, data: st.DataObject
) -> None:
    # Without a role group there is nothing to tell where the directory's groups live.
    assume(any(a.roles for a in state.accounts))
    live = live_of(state)
    # Some roles defined differently in some accounts: distinct entries, one IAM name.
    roles = dict(live.roles)
    for key in data.draw(st.lists(st.sampled_from(sorted(roles)), unique=True, max_size=3)):
        edit = data.draw(st.sampled_from(REDEFINITIONS))
        roles[key] = dataclasses.replace(roles[key], **edit)  # type: ignore[arg-type]
    live = dataclasses.replace(live, roles=roles)
    adoption, again = imported(live, members=members)
    assert changes(again, live) == []
    changing = [f for f in adoption.findings if f.effect in (Effect.WILL_CHANGE, Effect.ADOPTED)]
    assert changing == []
    # Every live role is written, by the entry with its definition; none is left out.
    left = [f for f in adoption.findings if f.effect is Effect.LEFT_OUT]
    assert not [f for f in left if f.subject.startswith("role ")]
    definitions = {(r.iam_role_name, definition_of(r)) for r in again.roles}
    assert len(definitions) == len(again.roles)
    assert {(r.name, definition(r)) for r in live.roles.values()} <= definitions


@pytest.mark.parametrize("kind", [AD, DirectoryKind.LDAP, OKTA])
def test_same_world_gives_byte_identical_files(kind: DirectoryKind) -> None:
    live = live_of(small_state(kind=kind))
    adoption = adopt(world=live, discovery=discover(okta=live), options=ImportOptions())
    first = render_files(adoption=adoption, schema_ref="s.json")
    again = render_files(
        adoption=adopt(world=live, discovery=discover(okta=live), options=ImportOptions()),
        schema_ref="s.json",
    )
    assert first == again
    assert first["settings.yaml"].startswith("# yaml-language-server: $schema=s.json\n")


def test_inexpressible_parts_are_exactly_the_findings() -> None:
    live = live_of(small_state(kind=AD))
    role_key = next(
        k
        for k, g in live.directory_groups.items()
        if g.account_id == PROD and g.role_name == "Admin"
    )
    role_group = live.directory_groups[role_key]
    contact = normalize_dn(build_dn(cn="printer", parent="OU=Devices,DC=example,DC=test"))
    edited = dataclasses.replace(
        role_group,
        member_users=frozenset({"erin"}),
        member_groups=role_group.member_groups | {contact},
    )
    stray = AppAssignment(group_source="okta", group_name="Console Pilot")
    read_only = (PROD, "readonly")
    with_inline = dataclasses.replace(
        live.roles[read_only], inline_policies=frozenset({"s3-extra"})
    )
    live = dataclasses.replace(
        live,
        directory_groups={**live.directory_groups, role_key: edited},
        app_assignments={**live.app_assignments, stray.key: stray},
        roles={**live.roles, read_only: with_inline},
    )
    options = ImportOptions(unresolved={contact: "neither a user nor a group (device)"})
    adoption = adopt(world=live, discovery=discover(okta=live), options=options)
    interesting = {f for f in adoption.findings if f.effect is not Effect.NOTE}
    assert interesting == {
        ImportFinding(
            Effect.WILL_CHANGE,
            f"role group {role_group.name}",
            "users erin are in it directly (the model puts users in management groups only): "
            "the plan removes them",
        ),
        ImportFinding(
            Effect.WILL_CHANGE,
            f"role group {role_group.name}",
            f"its member {contact} is neither a user nor a group (device): the model cannot "
            "express it, and the plan removes it",
        ),
        ImportFinding(
            Effect.LEFT_OUT,
            "assignment of Console Pilot (okta)",
            "assigned to the app, but the group is not a management group (it fills no role "
            "group): left alone",
        ),
        ImportFinding(
            Effect.LEFT_OUT,
            f"role ReadOnly in {PROD}",
            "has inline policies (s3-extra), which the model cannot express (importing it "
            "would keep them unseen)",
        ),
    }


def test_differing_definitions_are_never_merged() -> None:
    """Two definitions of ReadOnly, one account each: the tie goes to the first in a stable
    order (1 hour), which keeps the name; the other is its own entry, named for what
    differs, creating the IAM role ReadOnly in the account whose live role it matches."""
    live = live_of(small_state(kind=AD))
    key = next(k for k in live.roles if k[1] == "readonly" and k[0] != PROD)
    live = dataclasses.replace(
        live,
        roles={**live.roles, key: dataclasses.replace(live.roles[key], max_session_duration=3600)},
    )
    adoption, again = imported(live)
    [note] = [f for f in adoption.findings if f.subject == "role ReadOnly"]
    assert note.effect is Effect.NOTE and "max_session_duration" in note.message
    assert "'ReadOnly-2h'" in note.message
    entry = again.role("ReadOnly-2h")
    assert entry is not None and entry.iam_name == "ReadOnly"
    assert entry.max_session_duration == 7200
    accounts = {a.id: a.roles for a in again.accounts}
    assert "ReadOnly-2h" in accounts[PROD] and "ReadOnly" in accounts[key[0]]
    assert changes(again, live) == []


def test_distinct_entries_validate_without_warnings_through_the_command(tmp_path: Path) -> None:
    live = live_of(small_state(kind=AD))
    roles = {
        k: dataclasses.replace(r, max_session_duration=43200) if k[0] == PROD else r
        for k, r in live.roles.items()
    }
    live = dataclasses.replace(live, roles=roles)
    write_snapshot(world=live, path=tmp_path / "live.json", target="sandbox")
    code, out, err = run_import(tmp_path / "imported", tmp_path / "live.json")
    assert code == 0, err
    assert "warning" not in err and "0 the next plan changes" in out, err
    written = (tmp_path / "imported" / "roles.yaml").read_text(encoding="utf-8")
    assert "iam_name: Admin" in written and "Admin-12h:" in written
    assert changes(load(directory=tmp_path / "imported"), live) == []


@pytest.mark.parametrize(
    ("this", "chosen", "taken", "expected"),
    [
        ((("p",), 43200, "d"), (("p",), 3600, "d"), set(), "Admin-12h"),
        ((("p",), 5400, "d"), (("p",), 3600, "d"), set(), "Admin-5400s"),
        ((("q",), 3600, "d"), (("p",), 3600, "d"), set(), "Admin-policies"),
        ((("q",), 3600, "d"), (("p",), 3600, "d"), {"admin-policies"}, "Admin-policies-2"),
        ((("p",), 3600, "e"), (("p",), 3600, "d"), set(), "Admin-description"),
        ((("q",), 7200, "e"), (("p",), 3600, "d"), set(), "Admin-policies-2h-description"),
        ((("p",), 43200, "d"), (("p",), 3600, "d"), {"admin-12h"}, "Admin-12h-2"),
    ],
)
def test_a_second_definition_is_named_for_what_differs(
    this: Definition, chosen: Definition, taken: set[str], expected: str
) -> None:
    assert variant_name("Admin", this, chosen, taken) == expected


def test_a_variant_name_stays_within_iam_limits() -> None:
    name = "R" * 64
    variant = variant_name(name, (("p",), 43200, "d"), (("p",), 3600, "d"), set())
    assert len(variant) == 64 and variant.endswith("-12h")


def test_untagged_roles_are_adopted() -> None:
    live = live_of(small_state(kind=AD))
    key = next(iter(sorted(live.roles)))
    live = dataclasses.replace(
        live, roles={**live.roles, key: dataclasses.replace(live.roles[key], managed=False)}
    )
    adoption, again = imported(live)
    assert [f.effect for f in adoption.findings if f.subject.startswith("role ")] == [
        Effect.ADOPTED
    ]
    account = next(a for a in again.accounts if a.id == key[0])
    role = live.roles[key].name
    assert role in account.adopt_roles or again.role(role).adopt  # type: ignore[union-attr]


def test_a_world_without_the_aws_app_is_refused() -> None:
    live = dataclasses.replace(live_of(small_state(kind=AD)), okta_app=None)
    with pytest.raises(ImportRefused, match="no AWS app"):
        discover(okta=live)


def test_the_syntax_is_read_back_from_a_derived_filter() -> None:
    for syntax in (DEFAULT_ROLE_GROUP_NAME, "{account_id}-{role}", "AWS_{role}_{account_id}.x"):
        assert syntax_from_filter(derive_group_filter(syntax=syntax)) == syntax
    assert syntax_from_filter(r"aws_(?{{accountid}}\d+)_(?{{role}}[\w\-]+)") is None


def test_a_non_empty_out_folder_is_refused_and_nothing_written(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    err = io.StringIO()
    code = import_(
        out_dir=tmp_path,
        target="sandbox",
        live_snapshot=None,
        role_group_name=None,
        members=True,
        app_label=None,
        app_id=None,
        out=io.StringIO(),
        err=err,
    )
    assert code == 1
    assert "not empty (notes.txt)" in err.getvalue()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def run_import(out_dir: Path, snapshot: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = import_(
        out_dir=out_dir,
        target="sandbox",
        live_snapshot=snapshot,
        role_group_name=None,
        members=True,
        app_label=None,
        app_id=None,
        out=out,
        err=err,
    )
    return code, out.getvalue(), err.getvalue()


def test_import_of_a_snapshot_writes_a_valid_folder(tmp_path: Path) -> None:
    live = live_of(small_state(kind=AD))
    write_snapshot(world=live, path=tmp_path / "live.json", target="sandbox")
    code, out, err = run_import(tmp_path / "imported", tmp_path / "live.json")
    assert code == 0, err
    assert "wrote " in out and "0 the next plan changes" in out
    assert changes(load(directory=tmp_path / "imported"), live) == []


def test_findings_are_printed_with_control_characters_escaped(tmp_path: Path) -> None:
    # Live names are anyone's: a group assigned by hand in Okta named with a terminal
    # escape must not rewrite the CI log it is printed to.
    live = live_of(small_state(kind=AD))
    stray = AppAssignment(group_source="okta", group_name="Pilot\x1b[2J")
    live = dataclasses.replace(live, app_assignments={**live.app_assignments, stray.key: stray})
    write_snapshot(world=live, path=tmp_path / "live.json", target="sandbox")
    code, _, err = run_import(tmp_path / "imported", tmp_path / "live.json")
    assert code == 0, err
    assert "left out: assignment of Pilot\\x1b[2J (okta)" in err
    assert "\x1b" not in err


def test_a_snapshot_without_the_aws_app_is_refused_with_nothing_written(tmp_path: Path) -> None:
    live = dataclasses.replace(live_of(small_state(kind=AD)), okta_app=None)
    write_snapshot(world=live, path=tmp_path / "live.json", target="sandbox")
    code, _, err = run_import(tmp_path / "imported", tmp_path / "live.json")
    assert code == 1
    assert err.startswith("error: Okta has no AWS app") and err.count("\n") == 1
    assert not (tmp_path / "imported").exists()


def test_an_out_folder_that_cannot_be_made_is_one_line_and_nothing_written(
    tmp_path: Path,
) -> None:
    live = live_of(small_state(kind=AD))
    write_snapshot(world=live, path=tmp_path / "live.json", target="sandbox")
    (tmp_path / "a-file").write_text("x")
    code, out, err = run_import(tmp_path / "a-file" / "imported", tmp_path / "live.json")
    assert code == 1 and out == ""
    assert err.startswith(f"error: --out {tmp_path / 'a-file' / 'imported'}: cannot write it (")
    assert err.count("\n") == 1
    assert (tmp_path / "a-file").read_text() == "x"


@st.composite
def spoiled_worlds(
    draw: st.DrawFn,
) -> tuple[World, ImportOptions, set[tuple[Effect, str]], set[tuple[str, str, str]]]:
    """A converged directory world with random inexpressible parts, the findings they must
    give (effect, subject) and the changes they must cause (kind, action, key)."""
    kind = draw(st.sampled_from([AD, DirectoryKind.LDAP]))
    state = draw(desired_states(kind))
    assume(any(a.roles for a in state.accounts))
    live = live_of(state)
    role_keys = sorted(k for k, g in live.directory_groups.items() if g.account_id)
    groups = dict(live.directory_groups)
    findings: set[tuple[Effect, str]] = set()
    planned: set[tuple[str, str, str]] = set()
    unresolved: dict[str, str] = {}
    kept = role_keys
    roles = dict(live.roles)
    if draw(st.booleans()):  # an inline policy: that role (and its role group) left out
        key = draw(st.sampled_from(role_keys))
        kept = [k for k in role_keys if k != key]
        slot = groups[key]
        assert slot.account_id is not None and slot.role_name is not None
        role_key = (slot.account_id, slot.role_name.lower())
        roles[role_key] = dataclasses.replace(roles[role_key], inline_policies=frozenset({"extra"}))
        findings.add((Effect.LEFT_OUT, f"role {slot.role_name} in {slot.account_id}"))
        held = {m for k in kept for m in groups[k].member_groups}
        for member in sorted(slot.member_groups - held):
            if groups[member].adopted:  # not okta-aws's: the plan removes it (rogue)
                findings.add((Effect.WILL_CHANGE, f"role group {slot.name}"))
                planned.add(("group_member", "delete", f"{key}|{member}"))
            if member in groups:
                name = groups[member].name
                findings.add((Effect.LEFT_OUT, f"group {name}"))
                if (kind.okta_source, name.lower()) in live.app_assignments:
                    subject = f"assignment of {name} ({kind.okta_source})"
                    findings.add((Effect.LEFT_OUT, subject))
    if bool(kept) and draw(st.booleans()):  # a user added to a role group by hand
        key = draw(st.sampled_from(kept))
        groups[key] = dataclasses.replace(groups[key], member_users=frozenset({"mallory"}))
        findings.add((Effect.WILL_CHANGE, f"role group {groups[key].name}"))
        planned.add(("user_member", "delete", f"{key}|mallory"))
    if bool(kept) and draw(st.booleans()):  # a member that is neither a user nor a group
        key = draw(st.sampled_from(kept))
        device = normalize_dn("CN=printer,OU=Devices,DC=example,DC=test")
        groups[key] = dataclasses.replace(
            groups[key], member_groups=groups[key].member_groups | {device}
        )
        unresolved[device] = "neither a user nor a group (device)"
        findings.add((Effect.WILL_CHANGE, f"role group {groups[key].name}"))
        planned.add(("group_member", "delete", f"{key}|{device}"))
    managers = sorted({m for k in kept for m in groups[k].member_groups if m in groups})
    if bool(managers) and draw(st.booleans()):  # a group nested by hand in a management group
        key = draw(st.sampled_from(managers))
        contractors = normalize_dn("CN=Contractors,OU=Departments,DC=example,DC=test")
        groups[key] = dataclasses.replace(
            groups[key], member_groups=groups[key].member_groups | {contractors}
        )
        findings.add((Effect.WILL_CHANGE, f"group {groups[key].name}"))
        planned.add(("group_member", "delete", f"{key}|{contractors}"))
    assignments = dict(live.app_assignments)
    if draw(st.booleans()):  # a group assigned by hand that fills no role group
        stray = AppAssignment(group_source="okta", group_name="Console Pilot")
        assignments[stray.key] = stray
        findings.add((Effect.LEFT_OUT, "assignment of Console Pilot (okta)"))
    # Groups that grant nothing are no management groups; those in the management OU
    # (as the assignments in Okta show it) are named, since a plan sees them there.
    mgmt_ou = normalize_dn(discover(okta=live).management_groups_ou)
    for key, group in groups.items():
        granting = any(key in groups[k].member_groups for k in role_keys)
        if group.account_id is None and not granting and parent_dn(key) == mgmt_ou:
            findings.add((Effect.LEFT_OUT, f"group {group.name}"))
    live = dataclasses.replace(
        live, directory_groups=groups, app_assignments=assignments, roles=roles
    )
    options = ImportOptions(unresolved=unresolved)
    return live, options, findings, planned


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=spoiled_worlds())
def test_inexpressible_parts_give_exactly_their_findings_and_changes(
    case: tuple[World, ImportOptions, set[tuple[Effect, str]], set[tuple[str, str, str]]],
) -> None:
    live, options, expected, planned = case
    adoption = adopt(world=live, discovery=discover(okta=live), options=options)
    assert {(f.effect, f.subject) for f in adoption.findings if f.effect is not Effect.NOTE} == (
        expected
    )
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name, text in render_files(adoption=adoption, schema_ref="s.json").items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text, encoding="utf-8")
        state = load(directory=root)
    plan = diff(desired=compile_world(state=state), live=live, options=PlanOptions())
    made = {(c.kind.value, c.action.name.lower(), "|".join(map(str, c.key))) for c in plan.changes}
    assert made == planned


def test_a_filter_of_another_shape_is_kept_and_names_follow_the_given_syntax() -> None:
    """Okta's documented filter is not one okta-aws derives: it is written as is, and the
    names are read with the default syntax (or --role-group-name)."""
    live = live_of(small_state(kind=AD))
    assert live.okta_app is not None
    okta_filter = r"^aws\#\S+\#(?{{role}}[\w\-]+)\#(?{{accountid}}\d+)$"
    app = dataclasses.replace(
        live.okta_app,
        settings=dataclasses.replace(live.okta_app.settings, group_filter=okta_filter),
    )
    live = dataclasses.replace(live, okta_app=app)
    for syntax in (None, DEFAULT_ROLE_GROUP_NAME):
        discovery = discover(okta=live, role_group_name=syntax)
        assert discovery.syntax == DEFAULT_ROLE_GROUP_NAME
        assert discovery.write_group_filter == okta_filter
        adoption, again = imported(live)
        assert again.settings.okta.group_filter == okta_filter
        assert changes(again, live) == []
        assert not [f for f in adoption.findings if f.effect is Effect.WILL_CHANGE]


def test_a_bad_role_group_name_is_refused() -> None:
    live = live_of(small_state(kind=AD))
    with pytest.raises(ImportRefused, match="--role-group-name"):
        discover(okta=live, role_group_name="aws-{role}")


def test_an_unreadable_account_is_left_out_with_its_reason() -> None:
    live = live_of(small_state(kind=AD))
    options = ImportOptions(unreadable={PROD: "AssumeRole was denied"})
    adoption = adopt(world=live, discovery=discover(okta=live), options=options)
    assert ImportFinding(Effect.LEFT_OUT, f"account {PROD}", "AssumeRole was denied") in (
        adoption.findings
    )
    assert PROD not in {a.id for a in adoption.accounts}


def test_a_warning_the_live_world_deserves_is_printed(tmp_path: Path) -> None:
    """Okta asks for 12-hour sessions; a role allows 1 hour: signing in to it fails today,
    and the imported folder says so (a warning, exit 0)."""
    live = live_of(small_state(kind=AD))
    assert live.okta_app is not None
    settings_app = dataclasses.replace(live.okta_app.settings, session_duration=43200)
    live = dataclasses.replace(
        live, okta_app=dataclasses.replace(live.okta_app, settings=settings_app)
    )
    write_snapshot(world=live, path=tmp_path / "live.json", target="sandbox")
    code, _, err = run_import(tmp_path / "imported", tmp_path / "live.json")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if ": warning: " in line]
    assert warnings and all("okta.session_duration 43200" in w for w in warnings), err
    assert all(w.startswith(str(tmp_path / "imported" / "roles.yaml")) for w in warnings), err


def test_a_syntax_without_alias_is_read_back_and_aliases_are_made_up() -> None:
    state = small_state(kind=AD)
    # Descriptions that name no alias either (one that did would be a finding each: the
    # import cannot know the alias they name).
    settings = dataclasses.replace(
        state.settings,
        role_group_name="aws-{account_id}-{role}",
        role_group_description="AWS role {role} in {account_id}",
    )
    state = dataclasses.replace(state, settings=settings)
    live = live_of(state)
    adoption, again = imported(live)
    assert again.settings.role_group_name == "aws-{account_id}-{role}"
    assert {a.alias for a in again.accounts} == {f"account-{a.id}" for a in again.accounts}
    assert all("made up" in a.comment for a in adoption.accounts)
    assert changes(again, live) == []


def test_the_app_named_by_id_is_written_by_its_id() -> None:
    live = live_of(small_state(kind=AD))
    assert live.okta_app is not None
    app_id = "0oa1aws0app0imported"
    live = dataclasses.replace(live, okta_app=dataclasses.replace(live.okta_app, id=app_id))
    _, again = imported(live, app_id=app_id)
    assert again.settings.okta.app_id == app_id
    assert again.settings.okta.app_label is None
    assert changes(again, live) == []


def test_an_account_aws_was_not_read_in_is_left_out_saying_why() -> None:
    """A role group Okta has not imported yet names an account the import did not read."""
    live = live_of(small_state(kind=AD))
    live = dataclasses.replace(live, accounts=live.accounts - {PROD})
    adoption = adopt(world=live, discovery=discover(okta=live), options=ImportOptions())
    [finding] = [f for f in adoption.findings if f.subject == f"account {PROD}"]
    assert finding.effect is Effect.LEFT_OUT and "not in Okta yet" in finding.message
    assert PROD not in {a.id for a in adoption.accounts}
