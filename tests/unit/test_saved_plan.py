"""Saved plans: what was reviewed is exactly what `apply --plan` executes, or nothing is.

A saved plan must come back equal to the Plan that was rendered (every resource kind
as before/after, details, findings, access delta, options, names), so round trips are
properties over generated plans and are also run on real diffs of the shared test
worlds. Produced JSON must validate against `schemas/plan.schema.json`, the golden
JSON must read back byte for byte, malformed files are refused with the JSON path of
the problem, and `check_fresh` reports exactly what moved: the live world, the desired
state, or both.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.model import (
    AppAssignment,
    DirectoryGroup,
    DirectoryKind,
    GroupMember,
    GroupRole,
    OktaApp,
    OktaAppSettings,
    OktaGroup,
    OktaGroupType,
    Role,
    SamlProvider,
    System,
    UserMember,
    World,
)
from engine.order import PlanCycleError, order
from engine.plan import (
    AccessChange,
    Action,
    AttributeChange,
    Change,
    DisplayNames,
    Finding,
    FindingKind,
    Plan,
    PlanOptions,
    Reason,
    ResourceKind,
    reason_args,
)
from engine.render import render_json
from engine.saved_plan import (
    PlanFormatError,
    check_fresh,
    check_same,
    plan_from_json,
    plan_from_text,
    plan_to_json,
)
from engine.snapshot import fingerprint, world_from_json, world_to_json
from tests.unit.worlds import (
    AD,
    LDAP,
    OKTA,
    PROD,
    converged_live,
    desired_world,
    edit_app,
    edit_role,
    plan_for,
)

GOLDEN = Path(__file__).resolve().parent / "golden"
SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "plan.schema.json"

# --- generated plans -------------------------------------------------------------------

text = st.text(st.characters(codec="utf-8"), max_size=10)
names = st.text("abcXYZ09 #,=-_.é", min_size=1, max_size=10)
accounts = st.sampled_from(["111111111111", "222222222222"])
dns = names.map(lambda n: f"cn={n.strip() or 'x'},ou=groups,dc=example,dc=test")
optional = st.none() | names
login_sets = st.frozensets(st.text("abcdef", min_size=1, max_size=5), max_size=3)
sha = st.sampled_from(["", "0" * 64, "f" * 64])

resources = st.one_of(
    st.builds(SamlProvider, account_id=accounts, name=names, metadata=text, managed=st.booleans()),
    st.builds(
        Role,
        account_id=accounts,
        name=names,
        trust_policy=text,
        managed_policies=st.frozensets(names, max_size=3),
        max_session_duration=st.integers(3600, 43200),
        description=text,
        managed=st.booleans(),
        adopt=st.booleans(),
    ),
    st.builds(
        DirectoryGroup,
        dn=dns,
        name=names,
        role=st.sampled_from(GroupRole),
        member_groups=st.frozensets(dns, max_size=2),
        member_users=st.none() | login_sets,
        adopted=st.booleans(),
        account_id=st.none() | accounts,
        role_name=optional,
    ),
    st.builds(GroupMember, group_dn=dns, member_dn=dns),
    st.builds(UserMember, group=names, login=names),
    st.builds(
        OktaApp,
        label=names,
        settings=st.builds(OktaAppSettings, group_filter=text, session_duration=st.integers()),
        id=optional,
    ),
    st.builds(
        OktaGroup,
        name=names,
        source=names,
        type=st.sampled_from(OktaGroupType),
        id=optional,
        members=st.none() | login_sets,
    ),
    st.builds(AppAssignment, group_source=names, group_name=names),
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def changes(draw: st.DrawFn) -> Change:
    action = draw(st.sampled_from(Action))
    before = None if action is Action.CREATE else draw(resources)
    after = None if action is Action.DELETE else draw(resources)
    return Change(
        kind=draw(st.sampled_from(ResourceKind)),
        action=action,
        key=tuple(draw(st.lists(names, min_size=1, max_size=3))),
        before=before,
        after=after,
        details=tuple(
            draw(st.lists(st.builds(AttributeChange, text, json_values, json_values), max_size=3))
        ),
        destructive=draw(st.booleans()),
        reason=draw(st.sampled_from(Reason)),
        reason_args=reason_args(
            **draw(
                st.dictionaries(
                    st.sampled_from(["group", "role_group", "login", "via", "owner_managed"]),
                    text | st.tuples(names, names),
                    max_size=3,
                )
            )
        ),
        waits_for=draw(st.none() | text),
    )


@st.composite
def change_lists(draw: st.DrawFn) -> tuple[Change, ...]:
    """Changes with unique ids, each depending on some earlier ones: what a diff writes
    (a saved plan whose `depends_on` names itself, an unknown id or a cycle is refused)."""
    drawn = draw(st.lists(changes(), max_size=5, unique_by=lambda c: c.id))
    linked: list[Change] = []
    for change in drawn:
        earlier = [c.id for c in linked]
        depends = (
            draw(st.lists(st.sampled_from(earlier), max_size=2, unique=True)) if earlier else []
        )
        linked.append(dataclasses.replace(change, depends_on=tuple(depends)))
    try:
        order(changes=linked)
    except PlanCycleError:  # the front-door rule can close a loop through random links
        return tuple(drawn)
    return tuple(linked)


plans = st.builds(
    Plan,
    changes=change_lists(),
    findings=st.lists(
        st.builds(Finding, st.sampled_from(FindingKind), st.sampled_from(System), text, text),
        max_size=3,
    ).map(tuple),
    access_delta=st.lists(
        st.builds(
            AccessChange,
            user=names,
            account_id=accounts,
            role=names,
            gained=st.booleans(),
            account_alias=text,
            via=st.lists(names, max_size=2).map(tuple),
            waits_for=st.none() | st.just("directory import"),
        ),
        max_size=3,
    ).map(tuple),
    options=st.builds(
        PlanOptions,
        prune=st.booleans(),
        max_deletions=st.integers(0, 1000),
        protected=st.frozensets(names, max_size=2),
        systems=st.frozensets(st.sampled_from(System)),
        create_app=st.booleans(),
    ),
    target=st.sampled_from(["sandbox", "live"]),
    live_fingerprint=sha,
    desired_digest=sha,
    guard=st.none() | text,
    names=st.builds(
        DisplayNames,
        accounts=st.dictionaries(accounts, names, max_size=2),
        groups=st.dictionaries(dns, names, max_size=2),
        okta_app=text,
    ),
)


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@given(plans)
def test_plan_round_trips_exactly_through_its_file_text(plan: Plan) -> None:
    assert plan_from_text(render_json(plan)) == plan


@given(plans)
def test_saved_plans_validate_against_the_schema(plan: Plan) -> None:
    _validator().validate(json.loads(render_json(plan)))


def _real_plans() -> dict[str, Plan]:
    """Plans the diff really produces: from nothing, and after edits of a converged world."""
    out: dict[str, Plan] = {}
    for kind in (AD, LDAP, OKTA):
        desired = desired_world(kind=kind)
        empty = World(systems=desired.systems, accounts=desired.accounts)
        out[f"{kind.value} from scratch"] = plan_for(desired=desired, live=empty)
        live = converged_live(desired)
        edited = edit_role(desired, PROD, "Admin", managed_policies=frozenset({"arn:x"}))
        out[f"{kind.value} role edit"] = plan_for(desired=edited, live=live)
        out[f"{kind.value} app edit"] = plan_for(
            desired=edit_app(desired, session_duration=7200, group_filter="x"), live=live
        )
        out[f"{kind.value} prune"] = plan_for(desired=empty, live=live, prune=True)
    return out


REAL = _real_plans()


@pytest.mark.parametrize("name", list(REAL))
def test_real_diff_plans_round_trip_and_validate(name: str) -> None:
    plan = REAL[name]
    assert plan.changes  # each case plans something
    data = json.loads(render_json(plan))
    _validator().validate(data)
    assert plan_from_json(data) == plan


@pytest.mark.parametrize("case", ["empty", "representative"])
def test_golden_plan_files_read_back_byte_for_byte(case: str) -> None:
    text = (GOLDEN / f"plan-{case}.json").read_text(encoding="utf-8")
    assert render_json(plan_from_text(text)) == text


def test_every_resource_kind_is_tagged_with_its_class() -> None:
    data = json.loads((GOLDEN / "plan-representative.json").read_text(encoding="utf-8"))
    tags = {
        side["type"]
        for change in data["changes"]
        for side in (change["before"], change["after"])
        if side is not None
    }
    expected = {"SamlProvider", "Role", "DirectoryGroup", "GroupMember", "UserMember"}
    assert tags == expected | {"OktaApp", "OktaGroup", "AppAssignment"}


# --- malformed files -------------------------------------------------------------------


def _golden() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (GOLDEN / "plan-representative.json").read_text(encoding="utf-8")
    )
    return loaded


def _role_change(doc: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in doc["changes"] if c["kind"] == "role")
    return found


BAD: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("another format", lambda d: d.update(format_version=1), "$.format_version"),
    ("not a plan", lambda d: d.update(kind="okta-aws/live-snapshot"), "not an okta-aws plan"),
    ("id disagrees", lambda d: _role_change(d).update(id="role:x:+"), ".id: 'role:x:+'"),
    (
        "unknown resource type",
        lambda d: _role_change(d)["after"].update(type="Bucket"),
        ".after.type: 'Bucket'",
    ),
    (
        "neither side",
        lambda d: _role_change(d).update(before=None, after=None),
        "a change has a before or an after",
    ),
    ("bad action", lambda d: _role_change(d).update(action="*"), ".action: '*' is not one of"),
    (
        "reason words not its code's",
        lambda d: _role_change(d).update(reason="looks harmless"),
        ".reason: 'looks harmless' is not what its reason_code and reason_args say",
    ),
    (
        "unknown reason code",
        lambda d: _role_change(d).update(reason_code="because"),
        ".reason_code: 'because' is not one of",
    ),
    ("reason code missing", lambda d: _role_change(d).pop("reason_code"), ".reason_code"),
    (
        "reason argument not text",
        lambda d: _role_change(d).update(reason_args={"group": 1}),
        ".reason_args.group: expected str",
    ),
    (
        "bad field",
        lambda d: _role_change(d)["after"]["value"].update(managed="yes"),
        ".after.value.managed: expected bool",
    ),
    ("changes missing", lambda d: d.pop("changes"), "$.changes: expected a list"),
    (
        "bad finding",
        lambda d: d["findings"][0].update(kind="oops"),
        "$.findings[0].kind: 'oops' is not one of",
    ),
    ("bad options", lambda d: d["options"].update(prune=1), "$.options.prune: expected bool"),
    (
        "depends on itself",
        lambda d: _role_change(d).update(depends_on=[_role_change(d)["id"]]),
        "depends_on[0]: change 'role:",
    ),
    (
        "depends on an unknown change",
        lambda d: _role_change(d).update(depends_on=["role:nobody/x:+"]),
        "depends_on[0]: 'role:nobody/x:+' is not a change of this plan",
    ),
    (
        "an id twice",
        lambda d: d["changes"].append(dict(_role_change(d))),
        "appears twice",
    ),
    ("a cycle", lambda d: _make_cycle(d), "$.changes: dependency cycle among changes"),
    (
        "details nested too deep",
        lambda d: _role_change(d).update(details=[{"path": "x", "before": _nested(80)}]),
        ".details[0]: nested deeper than 64 levels",
    ),
]


def _nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def _make_cycle(doc: dict[str, Any]) -> None:
    first, second = doc["changes"][0], doc["changes"][1]
    first["depends_on"] = [second["id"]]
    second["depends_on"] = [first["id"]]


@pytest.mark.parametrize(
    ("edit", "message"), [(e, m) for _, e, m in BAD], ids=[name for name, _, _ in BAD]
)
def test_malformed_plans_are_refused_with_the_path(
    edit: Callable[[dict[str, Any]], Any], message: str
) -> None:
    doc = _golden()
    edit(doc)
    with pytest.raises(PlanFormatError) as raised:
        plan_from_json(doc)
    assert message in str(raised.value)


@pytest.mark.parametrize("text", ["{", "[" * 100_000 + "]" * 100_000], ids=["cut", "deep"])
def test_not_json_is_refused(text: str) -> None:
    with pytest.raises(PlanFormatError, match="not JSON"):
        plan_from_text(text)


def test_derived_fields_are_recomputed_not_trusted() -> None:
    doc = _golden()
    doc["summary"]["applyable"] = True
    doc["findings"][0]["blocking"] = False
    plan = plan_from_json(doc)
    assert not plan.applyable
    assert plan_to_json(plan) == _golden()


# --- freshness -------------------------------------------------------------------------

LIVE, DESIRED = "1" * 64, "2" * 64
FRESH = Plan(target="sandbox", live_fingerprint=LIVE, desired_digest=DESIRED)

STALE_CASES: list[tuple[str, Plan, str, str, str | None, list[str]]] = [
    ("fresh", FRESH, LIVE, DESIRED, None, []),
    ("fresh, same target", FRESH, LIVE, DESIRED, "sandbox", []),
    ("live moved", FRESH, "3" * 64, DESIRED, None, ["live state changed", "111111111111…"]),
    ("desired moved", FRESH, LIVE, "4" * 64, None, ["desired state changed", "444444444444…"]),
    ("both moved", FRESH, "3" * 64, "4" * 64, None, ["live state changed", "desired state"]),
    (
        "no fingerprint",
        dataclasses.replace(FRESH, live_fingerprint=""),
        LIVE,
        DESIRED,
        None,
        ["no live-state fingerprint"],
    ),
    (
        "no digest",
        dataclasses.replace(FRESH, desired_digest=""),
        LIVE,
        "",
        None,
        ["no desired-state digest"],
    ),
    ("other target", FRESH, LIVE, DESIRED, "live", ["made for target 'sandbox', not 'live'"]),
]


@pytest.mark.parametrize(
    ("plan", "live", "desired", "target", "expected"),
    [case[1:] for case in STALE_CASES],
    ids=[case[0] for case in STALE_CASES],
)
def test_check_fresh(
    plan: Plan, live: str, desired: str, target: str | None, expected: list[str]
) -> None:
    message = check_fresh(plan=plan, live_fingerprint=live, desired_digest=desired, target=target)
    if not expected:
        assert message is None
        return
    assert message is not None and message.startswith("the saved plan is stale: ")
    assert message.endswith(". Run plan again.") and message.count("plan again") == 1
    for part in expected:
        assert part in message
    if "desired" not in " ".join(expected):
        assert "desired state changed" not in message
    if "live" not in " ".join(expected):
        assert "live state changed" not in message


@pytest.mark.parametrize("kind", [AD, LDAP, OKTA], ids=str)
def test_saved_plan_is_fresh_against_an_unchanged_reread_and_stale_after_drift(
    kind: DirectoryKind,
) -> None:
    desired = desired_world(kind=kind)
    live = converged_live(desired)
    plan = dataclasses.replace(
        plan_for(desired=edit_app(desired, session_duration=7200), live=live),
        live_fingerprint=fingerprint(live),
        desired_digest=DESIRED,
    )
    saved = plan_from_text(render_json(plan))
    reread = world_from_json(json.loads(json.dumps(world_to_json(live))))
    fresh = check_fresh(plan=saved, live_fingerprint=fingerprint(reread), desired_digest=DESIRED)
    assert fresh is None
    drifted = edit_role(live, PROD, "Admin", description="edited in the console")
    stale = check_fresh(plan=saved, live_fingerprint=fingerprint(drifted), desired_digest=DESIRED)
    assert stale is not None and "live state changed" in stale


# --- the saved plan against the plan made now -------------------------------------------

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
SCRATCH, PRUNE = "active_directory from scratch", "active_directory prune"


def _change(doc: dict[str, Any], change_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in doc["changes"] if c["id"] == change_id)
    return found


def _escalate(doc: dict[str, Any]) -> None:
    role = _change(doc, "role:111111111111/readonly:+")["after"]["value"]
    role["managed_policies"] = [ADMIN]


def _inject_deletion(doc: dict[str, Any]) -> None:
    victim = Role(account_id="222222222222", name="Payroll", trust_policy="{}", managed=True)
    injected = Change(kind=ResourceKind.ROLE, action=Action.DELETE, key=victim.key, before=victim)
    doc["changes"].append(plan_to_json(Plan(changes=(injected,)))["changes"][0])


def _drop_a_change(doc: dict[str, Any]) -> None:
    needed = {d for c in doc["changes"] for d in c["depends_on"]}
    doc["changes"].remove(next(c for c in doc["changes"] if c["id"] not in needed))


def _flip_access(doc: dict[str, Any]) -> None:
    doc["access_delta"][0]["gained"] = not doc["access_delta"][0]["gained"]


def _swap_changes(doc: dict[str, Any]) -> None:
    doc["changes"][0], doc["changes"][1] = doc["changes"][1], doc["changes"][0]


TAMPERED: list[tuple[str, str, Callable[[dict[str, Any]], Any], str]] = [
    ("escalation", SCRATCH, _escalate, r"change 'role:111111111111/readonly:\+' differs"),
    (
        "injected deletion",
        SCRATCH,
        _inject_deletion,
        r"change 'role:222222222222/payroll:-' is not in the plan made now",
    ),
    ("dropped change", PRUNE, _drop_a_change, "of the plan made now is missing from it"),
    ("hidden access loss", PRUNE, lambda d: d["access_delta"].pop(0), "access change '"),
    ("flipped access", PRUNE, _flip_access, "is not in the plan made now"),
    (
        "hidden finding",
        PRUNE,
        lambda d: d["findings"].clear(),
        "now: finding '[a-z_]+: .*' of the plan made now is missing from it",
    ),
    ("reordered", SCRATCH, _swap_changes, "repeated or in another order"),
    (
        "access said known",
        PRUNE,
        lambda d: d.update(access_unknown="the directory and Okta were not read"),
        "its access_unknown differs",
    ),
]


@pytest.mark.parametrize(
    ("base", "edit", "expected"),
    [case[1:] for case in TAMPERED],
    ids=[case[0] for case in TAMPERED],
)
def test_a_saved_plan_that_says_anything_else_than_the_fresh_plan_is_refused(
    base: str, edit: Callable[[dict[str, Any]], Any], expected: str
) -> None:
    fresh = REAL[base]
    doc = plan_to_json(fresh)
    edit(doc)
    saved = plan_from_json(doc)
    message = check_same(saved=saved, fresh=fresh)
    assert message is not None and re.search(expected, message), message
    assert message.startswith("the saved plan is not the plan made now: ")
    assert "\n" not in message


@pytest.mark.parametrize("name", list(REAL))
def test_a_saved_plan_read_back_is_the_plan_made_now(name: str) -> None:
    plan = REAL[name]
    assert check_same(saved=plan_from_text(render_json(plan)), fresh=plan) is None


def test_options_guard_and_names_are_not_what_is_compared() -> None:
    """The command line and the desired state choose the options (an apply may raise
    max_deletions), the guard follows from them, names only label: none of these is
    what would run."""
    fresh = REAL[PRUNE]
    saved = dataclasses.replace(
        fresh,
        options=dataclasses.replace(fresh.options, max_deletions=1),
        guard="16 destructive changes exceed max_deletions (1)",
        names=DisplayNames(okta_app="Another label"),
    )
    assert check_same(saved=plan_from_text(render_json(saved)), fresh=fresh) is None


@given(plans)
def test_any_plan_read_back_from_its_file_is_the_same_plan(plan: Plan) -> None:
    assert check_same(saved=plan_from_text(render_json(plan)), fresh=plan) is None


@given(plans, st.data())
def test_any_edit_of_a_change_access_line_or_finding_is_a_difference(
    plan: Plan, data: st.DataObject
) -> None:
    """Whatever one record of the file says differently, the comparison names it."""
    parts = [key for key in ("changes", "access_delta", "findings") if getattr(plan, key)]
    if not parts:
        return
    key = data.draw(st.sampled_from(parts))
    records = list(getattr(plan, key))
    index = data.draw(st.integers(0, len(records) - 1))
    if data.draw(st.booleans()):
        del records[index]
    elif key == "changes":
        edited_args = (*records[index].reason_args, ("zz", "!"))
        records[index] = dataclasses.replace(records[index], reason_args=edited_args)
    elif key == "access_delta":
        records[index] = dataclasses.replace(records[index], gained=not records[index].gained)
    else:
        records[index] = dataclasses.replace(records[index], message=records[index].message + "!")
    replacement: dict[str, Any] = {key: tuple(records)}
    edited = dataclasses.replace(plan, **replacement)
    message = check_same(saved=edited, fresh=plan)
    assert message is not None and message.startswith("the saved plan is not the plan made now")
