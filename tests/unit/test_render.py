"""Plan renderings: golden files for text, markdown and JSON, plus their properties.

Golden files live in `tests/unit/golden/` (`plan-<case>.txt|md|json`). They are the
reviewed look of a plan: a change to a renderer shows up as a diff of these files in
the pull request. Regenerate them only on purpose, then read the diff:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_render.py

Plans are built by hand here (Change, Finding and AccessChange objects) so the
renderer is tested apart from the diff: an empty plan, and a representative one with
every change kind and action, access gains and losses, a change waiting for the
directory import, an adoption, a conflict, a rogue group, a skipped prune and a guard.
Properties: rendering is deterministic, every section keeps the plan's order, colour
only adds ANSI styling to the plain text, and a wide value is split, never cut.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from engine.dn import build_dn, normalize_dn
from engine.model import (
    AppAssignment,
    DirectoryGroup,
    GroupMember,
    GroupRole,
    OktaApp,
    OktaAppSettings,
    OktaGroup,
    Role,
    SamlProvider,
    System,
    UserMember,
    saml_trust_policy,
)
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
    ReasonArgs,
    ResourceKind,
    reason_args,
)
from engine.render import (
    MARKDOWN_ACCESS_LINES,
    NO_CHANGES,
    render_json,
    render_markdown,
    render_text,
)
from engine.render_parts import REASON_WORDS, reason_text

GOLDEN = Path(__file__).resolve().parent / "golden"
SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "plan.schema.json"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# How GitHub finds a user or team mention in rendered text (html-pipeline's pattern).
GITHUB_MENTION = re.compile(r"(?:^|\W)@[a-z0-9]", re.I)

PROD, DEV = "111111111111", "222222222222"
ROLE_OU = "OU=AWS Role Groups,DC=example,DC=test"
MGMT_OU = "OU=AWS Management Groups,DC=example,DC=test"
APP = "Amazon Web Services"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
BILLING = "arn:aws:iam::aws:policy/job-function/Billing"
OLD_FILTER = r"^aws\#\S+\#(?{{role}}[\w\-]+)\#(?{{accountid}}\d+)$"
NEW_FILTER = r"^aws#(?{{alias}}[a-z0-9-]+)#(?{{role}}[\w+=,.@-]+)#(?{{accountid}}\d{12})$"


def _dn(name: str, ou: str) -> str:
    return normalize_dn(build_dn(cn=name, parent=ou))


RG_ADMIN = f"aws#prod-payments#Admin#{PROD}"
RG_OLD = f"aws#dev-sandbox#Legacy#{DEV}"
DEVOPS = "DevOps Sys Admins"


def _role(name: str, account: str = PROD, **kw: Any) -> Role:
    trust = saml_trust_policy(account_id=account, provider_name="OKTA")
    return Role(account_id=account, name=name, trust_policy=trust, **kw)


def _change(
    kind: ResourceKind, action: Action, before: Any = None, after: Any = None, **kw: Any
) -> Change:
    resource = after if after is not None else before
    key = resource.key if isinstance(resource.key, tuple) else (resource.key,)
    return Change(kind=kind, action=action, key=key, before=before, after=after, **kw)


def representative_plan() -> Plan:
    old_provider = SamlProvider(account_id=PROD, name="OKTA", metadata="<md>old</md>")
    new_provider = SamlProvider(account_id=PROD, name="OKTA", metadata="<md>new</md>")
    readonly_live = _role("ReadOnly", managed_policies=frozenset({READONLY, BILLING}))
    readonly = _role("ReadOnly", managed_policies=frozenset({READONLY}), max_session_duration=7200)
    untagged = _role("Audit", managed=False, description="made by hand")
    adopted = _role("Audit", adopt=True, description="Security audit")
    role_group = DirectoryGroup(
        dn=build_dn(cn=RG_ADMIN, parent=ROLE_OU), name=RG_ADMIN, role=GroupRole.ROLE
    )
    old_group = DirectoryGroup(
        dn=build_dn(cn=RG_OLD, parent=ROLE_OU), name=RG_OLD, role=GroupRole.ROLE
    )
    old_app = OktaApp(label=APP, settings=OktaAppSettings(group_filter=OLD_FILTER), id="0oa1")
    new_app = OktaApp(
        label=APP, settings=OktaAppSettings(group_filter=NEW_FILTER, session_duration=7200)
    )
    changes = (
        _change(
            ResourceKind.SAML_PROVIDER,
            Action.CREATE,
            after=SamlProvider(account_id=DEV, name="OKTA", metadata="<md>new</md>"),
        ),
        _change(
            ResourceKind.SAML_PROVIDER,
            Action.UPDATE,
            old_provider,
            new_provider,
            details=(
                AttributeChange(
                    "metadata_sha256", old_provider.metadata_sha256, new_provider.metadata_sha256
                ),
            ),
        ),
        _change(
            ResourceKind.ROLE,
            Action.CREATE,
            after=_role("Admin", managed_policies=frozenset({ADMIN})),
        ),
        _change(
            ResourceKind.ROLE,
            Action.UPDATE,
            readonly_live,
            readonly,
            destructive=True,
            details=(
                AttributeChange("managed_policies", BILLING, None),
                AttributeChange("max_session_duration", 3600, 7200),
            ),
        ),
        _change(
            ResourceKind.ROLE,
            Action.UPDATE,
            untagged,
            adopted,
            reason=Reason.ADOPT,
            details=(AttributeChange("description", "made by hand", "Security audit"),),
        ),
        _change(ResourceKind.DIRECTORY_GROUP, Action.CREATE, after=role_group),
        _change(
            ResourceKind.GROUP_MEMBER,
            Action.CREATE,
            after=GroupMember(group_dn=_dn(RG_ADMIN, ROLE_OU), member_dn=_dn(DEVOPS, MGMT_OU)),
        ),
        _change(
            ResourceKind.USER_MEMBER,
            Action.CREATE,
            after=UserMember(group=_dn(DEVOPS, MGMT_OU), login="alice"),
        ),
        _change(
            ResourceKind.USER_MEMBER,
            Action.DELETE,
            before=UserMember(group=_dn(DEVOPS, MGMT_OU), login="carol"),
            destructive=True,
        ),
        _change(
            ResourceKind.OKTA_APP,
            Action.UPDATE,
            old_app,
            new_app,
            details=(
                AttributeChange("settings.app.groupFilter", OLD_FILTER, NEW_FILTER),
                AttributeChange("settings.app.sessionDuration", 3600, 7200),
            ),
        ),
        _change(
            ResourceKind.OKTA_GROUP,
            Action.CREATE,
            after=OktaGroup(name="aws#dev-sandbox#Admin#222222222222", source="okta"),
        ),
        _change(
            ResourceKind.OKTA_GROUP_MEMBER,
            Action.CREATE,
            after=UserMember(group="aws#dev-sandbox#Admin#222222222222", login="bob"),
        ),
        _change(
            ResourceKind.APP_ASSIGNMENT,
            Action.CREATE,
            after=AppAssignment("active_directory", DEVOPS),
            waits_for="directory import",
        ),
        _change(
            ResourceKind.APP_ASSIGNMENT,
            Action.DELETE,
            before=AppAssignment("active_directory", "Old Team"),
            destructive=True,
        ),
        _change(ResourceKind.DIRECTORY_GROUP, Action.DELETE, before=old_group, destructive=True),
        _change(ResourceKind.ROLE, Action.DELETE, before=_role("Legacy", DEV), destructive=True),
    )
    return Plan(
        changes=changes,
        findings=(
            Finding(
                FindingKind.PRUNE_SKIPPED,
                System.AWS,
                f"role Old in {DEV}",
                "no longer in the desired state; would be deleted with --prune",
            ),
            Finding(
                FindingKind.CONFLICT,
                System.AWS,
                f"role Billing in prod-payments ({PROD})",
                "exists without the managed tag; okta-aws will not change it",
            ),
            Finding(
                FindingKind.ROGUE_GROUP,
                System.OKTA,
                f"group {RG_ADMIN} (ldap_sun_one)",
                "matches the group filter but its source is not in the app filter",
            ),
        ),
        access_delta=(
            AccessChange(
                "alice", PROD, "Admin", True, "prod-payments", (DEVOPS,), "directory import"
            ),
            AccessChange("bob", DEV, "Admin", True, "dev-sandbox", ("bob",)),
            AccessChange("carol", DEV, "ReadOnly", False, "dev-sandbox"),
        ),
        options=PlanOptions(prune=True, max_deletions=3),
        target="sandbox",
        live_fingerprint="a" * 64,
        desired_digest="b" * 64,
        guard="5 destructive changes exceed max_deletions 3 (override with --max-deletions)",
        names=DisplayNames(
            accounts={PROD: "prod-payments", DEV: "dev-sandbox"},
            groups={_dn(RG_ADMIN, ROLE_OU): RG_ADMIN, _dn(DEVOPS, MGMT_OU): DEVOPS},
            okta_app=APP,
        ),
    )


def empty_plan() -> Plan:
    return Plan(target="sandbox", live_fingerprint="c" * 64, desired_digest="d" * 64)


def unknown_access_plan() -> Plan:
    """`plan --prune --only aws`: Okta and the directory were not read, so who loses
    what cannot be said; the changes that can take it away are listed instead."""
    return Plan(
        changes=(
            _change(ResourceKind.ROLE, Action.DELETE, before=_role("Admin"), destructive=True),
            _change(
                ResourceKind.ROLE,
                Action.UPDATE,
                _role("ReadOnly", managed_policies=frozenset({READONLY, BILLING})),
                _role("ReadOnly", managed_policies=frozenset({READONLY})),
                destructive=True,
                details=(AttributeChange("managed_policies", BILLING, None),),
            ),
            _change(ResourceKind.ROLE, Action.CREATE, after=_role("Audit", DEV)),
        ),
        options=PlanOptions(prune=True, systems=frozenset({System.AWS})),
        target="sandbox",
        live_fingerprint="e" * 64,
        desired_digest="f" * 64,
        names=DisplayNames(accounts={PROD: "prod-payments", DEV: "dev-sandbox"}),
        access_unknown="the directory and Okta were not read (--only aws)",
    )


CASES = {"empty": empty_plan, "representative": representative_plan, "unknown": unknown_access_plan}
RENDERERS = {
    "txt": lambda p: render_text(p),
    "md": render_markdown,
    "json": render_json,
}


def _check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1 and review it"
    assert actual == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("ext", list(RENDERERS))
def test_golden(case: str, ext: str) -> None:
    _check_golden(f"plan-{case}.{ext}", RENDERERS[ext](CASES[case]()))


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("case", list(CASES))
def test_json_rendering_validates_against_the_schema(case: str) -> None:
    _validator().validate(json.loads(render_json(CASES[case]())))


# --- reason codes -----------------------------------------------------------------------

REASONS: list[tuple[Reason, ReasonArgs, str]] = [
    (Reason.NONE, (), ""),
    (Reason.ADOPT, (), "adopt (add managed tag)"),
    (
        Reason.ATTRIBUTES_DIFFER,
        reason_args(attributes=("managed_policies", "max_session_duration")),
        "differs from the desired state: managed_policies, max_session_duration",
    ),
    (
        Reason.ROLE_GROUP_IN_DESIRED_STATE,
        reason_args(account=PROD, role="Admin"),
        f"role group for {PROD} / Admin in the desired state",
    ),
    (Reason.MEMBER_VIA, reason_args(via=(DEVOPS,)), f"via {DEVOPS}"),
    (
        Reason.MEMBER_VIA,
        reason_args(via=("Auditors", DEVOPS), owner_managed=("Auditors",)),
        f"via Auditors (members managed in Okta), {DEVOPS}",
    ),
    (
        Reason.GROUP_DROPPED_KEPT,
        reason_args(group="Auditors", role_group="aws#prod#Audit#1"),
        "Auditors is no longer in the desired state, so it leaves aws#prod#Audit#1; the "
        "group itself stays until --prune deletes it",
    ),
    (
        Reason.DIRECT_MEMBER,
        reason_args(login="mallory", role_group="aws#prod#Admin#1"),
        "mallory is a direct member of aws#prod#Admin#1 (users join management groups, "
        "never role groups)",
    ),
    (
        Reason.NESTED_GROUP,
        reason_args(group="Contractors", management_group="DevOps"),
        "Contractors is nested in DevOps, whose members the desired state lists (Okta "
        "flattens nesting: a way into its roles that no listed member describes)",
    ),
    # A hand-edited saved plan that lacks an argument renders, with `?` in its place.
    (Reason.GRANTED, reason_args(group="DevOps"), "DevOps is granted ?"),
]


@pytest.mark.parametrize(("reason", "args", "words"), REASONS)
def test_reason_words_are_made_from_the_code_and_its_arguments(
    reason: Reason, args: ReasonArgs, words: str
) -> None:
    user = UserMember(group="g", login="alice")
    change = Change(
        kind=ResourceKind.USER_MEMBER,
        action=Action.CREATE,
        key=("g", "alice"),
        after=user,
        reason=reason,
        reason_args=args,
    )
    assert reason_text(change) == words


def test_every_reason_code_has_words_and_is_in_the_plan_schema() -> None:
    assert set(REASON_WORDS) == set(Reason)
    assert all(REASON_WORDS[r] for r in Reason if r is not Reason.NONE)
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["$defs"]["reasonCode"]["enum"] == [r.value for r in Reason]


def test_json_carries_the_reason_code_and_its_arguments() -> None:
    [adopt] = [c for c in json.loads(render_json(representative_plan()))["changes"] if c["reason"]]
    assert (adopt["reason_code"], adopt["reason_args"]) == ("adopt", {})
    assert adopt["reason"] == "adopt (add managed tag)"


# --- the look, piece by piece ----------------------------------------------------------


def test_representative_text_reads_as_designed() -> None:
    text = render_text(representative_plan())
    lines = text.splitlines()
    assert lines[0] == "Access changes"
    assert lines[1] == (
        f"  + alice   gains  prod-payments ({PROD}) / Admin    via {DEVOPS}"
        "   (after the directory import)"
    )
    assert lines[3] == f"  - carol   loses  dev-sandbox ({DEV}) / ReadOnly"
    headers = [line for line in lines if line and not line.startswith(" ")]
    assert headers == [
        "Access changes",
        f"AWS prod-payments ({PROD})",
        f"AWS dev-sandbox ({DEV})",
        "Directory",
        f"Okta ({APP})",
        "Findings",
        "Plan: 8 to add, 4 to change, 4 to destroy.",
        "Apply will refuse: " + representative_plan().guard,  # type: ignore[operator]
        "Target: sandbox",
    ]
    assert f"  + member {DEVOPS} → {RG_ADMIN}" in lines
    assert f"  + user alice → {DEVOPS}" in lines
    assert f"  + assign {DEVOPS}   (waits for directory import)" in lines
    assert "  ~ role Audit   (adopt: add managed tag)" in lines
    assert "  ~ settings.app.sessionDuration  3600 → 7200" in lines
    # Security first among findings, then what blocks, then notes.
    findings = lines[lines.index("Findings") + 1 : lines.index("Findings") + 4]
    assert [f.split()[0] for f in findings] == ["!!", "!", "·"]


def test_metadata_digests_are_short_but_distinguishable() -> None:
    before = SamlProvider(account_id=PROD, name="OKTA", metadata="x")
    # Find a pair of documents whose digests share their first four hex digits.
    after = next(
        SamlProvider(account_id=PROD, name="OKTA", metadata=str(i))
        for i in range(200_000)
        if SamlProvider(account_id=PROD, name="OKTA", metadata=str(i)).metadata_sha256[:4]
        == before.metadata_sha256[:4]
    )
    plan = Plan(changes=(_change(ResourceKind.SAML_PROVIDER, Action.UPDATE, before, after),))
    line = render_text(plan).splitlines()[2]
    old, new = re.findall(r"([0-9a-f]+)…", line)
    assert old != new and len(old) == len(new) > 4
    assert before.metadata_sha256.startswith(old) and after.metadata_sha256.startswith(new)


@pytest.mark.parametrize(
    ("plan", "summary"),
    [
        (empty_plan(), NO_CHANGES),
        (
            Plan(findings=(Finding(FindingKind.CONFLICT, System.AWS, "role X", "untagged"),)),
            "No changes can be planned until the blocking findings are resolved.",
        ),
        (representative_plan(), "Plan: 8 to add, 4 to change, 4 to destroy."),
    ],
    ids=["empty", "blocked", "changes"],
)
def test_summary_line(plan: Plan, summary: str) -> None:
    assert summary in render_text(plan).splitlines()
    assert f"**{summary}**" == render_markdown(plan).splitlines()[0]


def test_blocking_findings_without_guard_say_apply_will_refuse() -> None:
    plan = Plan(findings=(Finding(FindingKind.READ_ERROR, System.OKTA, "okta", "timed out"),))
    assert "Apply will refuse: 1 blocking finding (see Findings)." in render_text(plan)


def test_target_line_names_systems_left_out() -> None:
    plan = Plan(target="live", options=PlanOptions(systems=frozenset({System.AWS})))
    last = render_text(plan).splitlines()[-1]
    assert last == "Target: live (only aws; other systems were not planned)"


def test_wide_values_are_split_never_cut() -> None:
    long_a, long_b = "a" * 150, "b" * 150
    role_a, role_b = _role("R", description=long_a), _role("R", description=long_b)
    change = _change(
        ResourceKind.ROLE,
        Action.UPDATE,
        role_a,
        role_b,
        details=(AttributeChange("description", long_a, long_b),),
    )
    plan = Plan(changes=(change,))
    narrow = render_text(plan, width=80)
    assert f'          - "{long_a}"' in narrow.splitlines()
    assert f'          + "{long_b}"' in narrow.splitlines()
    wide = render_text(plan, width=400)
    assert f'      ~ description: "{long_a}" → "{long_b}"' in wide.splitlines()


def test_colour_only_adds_styling() -> None:
    plan = representative_plan()
    coloured = render_text(plan, color=True)
    assert ANSI.sub("", coloured) == render_text(plan)
    lines = coloured.splitlines()
    create = next(line for line in lines if "+ role Admin" in line)
    delete = next(line for line in lines if "- role Legacy" in line)
    update = next(line for line in lines if "~ role ReadOnly" in line)
    assert "\x1b[32m" in create and "\x1b[31m" in delete and "\x1b[33m" in update
    assert "\x1b[" not in render_text(plan)


def test_markdown_has_one_collapsible_diff_per_system() -> None:
    md = render_markdown(representative_plan())
    summaries = re.findall(r"<details><summary>(.*?)</summary>", md)
    assert summaries == ["AWS (6 changes)", "Directory (5 changes)", "Okta (5 changes)"]
    assert md.count("```diff") == 3
    assert "! role ReadOnly   (destructive)" in md  # `~` as `!`: GitHub highlights it
    assert md.rstrip().endswith("Target: sandbox")


def test_markdown_neutralises_names_from_live_systems() -> None:
    hostile = "<img src=x onerror=alert(1)> @org/admins ```"
    plan = Plan(
        changes=(
            _change(
                ResourceKind.APP_ASSIGNMENT, Action.CREATE, after=AppAssignment("okta", hostile)
            ),
        ),
        access_delta=(AccessChange(hostile, PROD, "Admin", True),),
        findings=(Finding(FindingKind.UNMANAGED, System.OKTA, hostile, hostile),),
    )
    md = render_markdown(plan)
    html = MarkdownIt("commonmark").render(md)
    assert "<img" not in html  # shown as text (&lt;img), in code or escaped
    # GitHub finds mentions in the rendered text outside code (a backslash before `@`
    # is gone by then): outside code, `@` is followed by a zero-width space.
    outside_code = re.sub(r"<code[^>]*>.*?</code>", "", html, flags=re.S)
    assert not GITHUB_MENTION.search(outside_code)
    assert outside_code.count("@\u200borg/admins") == 2
    assert html.count("<pre>") == 1  # the fence outgrows the backticks inside
    assert md.count("</details>") == 1


# --- properties ------------------------------------------------------------------------

logins = st.text("abcdefghij", min_size=1, max_size=8)


@st.composite
def membership_plans(draw: st.DrawFn) -> Plan:
    """Plans of user-membership changes in any order, across directory and Okta."""
    users = draw(st.lists(logins, min_size=1, max_size=12, unique=True))
    changes = []
    for login in users:
        okta = draw(st.booleans())
        action = draw(st.sampled_from([Action.CREATE, Action.DELETE]))
        member = UserMember(group="Team" if okta else _dn("Team", MGMT_OU), login=login)
        kind = ResourceKind.OKTA_GROUP_MEMBER if okta else ResourceKind.USER_MEMBER
        side = {"after": member} if action is Action.CREATE else {"before": member}
        changes.append(_change(kind, action, **side))
    return Plan(changes=tuple(changes))


@given(membership_plans())
def test_each_section_keeps_the_plan_order(plan: Plan) -> None:
    text = render_text(plan)
    rendered = re.findall(r"^  [+-] user (\w+) → ", text, flags=re.M)
    for system in (System.DIRECTORY, System.OKTA):
        expected = [c.resource.login for c in plan.changes if c.system is system]  # type: ignore[union-attr]
        section = [u for u in rendered if u in expected]
        assert section == expected
    md = render_markdown(plan)
    assert re.findall(r"^[+-] user (\w+) → ", md, flags=re.M) == rendered


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_rendering_is_deterministic_across_processes(fmt: str) -> None:
    """The example org planned from nothing (every kind of change, findings, access),
    in processes with different hash seeds: set and dict orders differ between them,
    the rendered plan must not."""
    repo = Path(__file__).resolve().parents[2]
    command = [
        sys.executable,
        "-m",
        "engine",
        "plan",
        "-d",
        str(repo / "desired-state"),
        "--live-snapshot",
        str(repo / "tests" / "data" / "worlds" / "empty-world.json"),
        "--format",
        fmt,
    ]
    outputs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "NO_COLOR": "1", "PYTHONPATH": str(repo)}
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=repo)
        assert done.returncode == 1 and done.stdout, done.stderr  # blocked: no Okta app
        outputs.add(done.stdout)
    assert len(outputs) == 1


def test_a_large_access_delta_is_one_line_per_account_role_in_markdown() -> None:
    """A pull-request comment holds 65,536 characters: past MARKDOWN_ACCESS_LINES the
    markdown counts users per (account, role) and names a few; text lists every one."""
    many = [
        AccessChange(f"user{i:03d}", PROD, "Admin", True, "prod-payments", (DEVOPS,))
        for i in range(MARKDOWN_ACCESS_LINES)
    ]
    many += [
        AccessChange("carol", DEV, "ReadOnly", False, "dev-sandbox"),
        AccessChange("dave", DEV, "Admin", True, "dev-sandbox", ("Ops",), "directory import"),
    ]
    plan = Plan(access_delta=tuple(many))
    md = render_markdown(plan)
    assert "user042" not in md
    assert md.count("\n- ") == 3
    assert f"_{len(many):,} access changes in 3 account roles" in md
    assert (
        f"- ➕ **{MARKDOWN_ACCESS_LINES} users** gain `prod-payments ({PROD}) / Admin` via "
        f"`{DEVOPS}`: user000, user001, user002, user003, user004, … "
        f"{MARKDOWN_ACCESS_LINES - 5} more"
    ) in md
    assert f"- ➖ **1 user** loses `dev-sandbox ({DEV}) / ReadOnly`: carol" in md
    assert "_(after the directory import)_: dave" in md
    assert render_text(plan).count(" gains ") == MARKDOWN_ACCESS_LINES + 1
    assert len(render_markdown(Plan(access_delta=tuple(many[:MARKDOWN_ACCESS_LINES])))) > len(md)


# --- what the plan could not see -------------------------------------------------------


def test_unknown_access_is_said_and_the_removals_listed() -> None:
    plan = unknown_access_plan()
    lines = render_text(plan).splitlines()
    assert lines[:4] == [
        "Access changes: unknown: the directory and Okta were not read (--only aws)",
        "  Changes that can take access away (check who loses what by hand):",
        f"    - role Admin in prod-payments ({PROD})",
        f"    ~ role ReadOnly in prod-payments ({PROD}) (destructive)",
    ]
    assert "none" not in render_text(plan)
    md = render_markdown(plan)
    assert "> **Unknown:** the directory and Okta were not read (--only aws)" in md
    assert f"- `- role Admin in prod-payments ({PROD})`" in md
    assert "No user gains or loses access" not in md
    doc = json.loads(render_json(plan))
    assert doc["access_unknown"] == plan.access_unknown


@pytest.mark.parametrize("removals", [False, True])
@pytest.mark.parametrize("rows", [False, True])
def test_unknown_access_never_reads_none(removals: bool, rows: bool) -> None:
    changes = unknown_access_plan().changes if removals else unknown_access_plan().changes[2:]
    delta = (AccessChange("bob", DEV, "Admin", True, "dev-sandbox", ("Ops",)),) if rows else ()
    plan = Plan(changes=changes, access_delta=delta, access_unknown="Okta was not read")
    text, md = render_text(plan), render_markdown(plan)
    assert "Access changes: none" not in text and "No user gains or loses access" not in md
    assert text.startswith("Access changes: unknown: Okta was not read\n")
    assert ("As far as the systems read show:" in text) is rows
    assert ("  + bob   gains  dev-sandbox (222222222222) / Admin" in text) is rows
    assert ("No change in this plan takes access away." in text) is not removals
    assert ("No change in this plan takes access away." in md) is not removals


# --- names that are not safe to print --------------------------------------------------

HOSTILE = "\x1bc\x00\x07\x7f\x9b2J\u202eevil\u2028 @acme/admins <img src=x> a|b ``x``\nend"
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e\u2028]")  # all but the line feed


def hostile_plan() -> Plan:
    group = DirectoryGroup(dn=build_dn(cn="x", parent=MGMT_OU), name=HOSTILE, role=GroupRole.ROLE)
    return Plan(
        changes=(
            _change(ResourceKind.ROLE, Action.DELETE, before=_role(HOSTILE), destructive=True),
            _change(ResourceKind.DIRECTORY_GROUP, Action.CREATE, after=group),
            _change(
                ResourceKind.USER_MEMBER,
                Action.CREATE,
                after=UserMember(group=_dn("x", MGMT_OU), login=HOSTILE),
            ),
            _change(
                ResourceKind.APP_ASSIGNMENT, Action.CREATE, after=AppAssignment("okta", HOSTILE)
            ),
            _change(
                ResourceKind.ROLE,
                Action.UPDATE,
                _role("R", description="a"),
                _role("R", description=HOSTILE),
                details=(AttributeChange("description", "a", HOSTILE),),
            ),
        ),
        access_delta=(AccessChange(HOSTILE, PROD, HOSTILE, True, HOSTILE, (HOSTILE,), HOSTILE),),
        findings=(Finding(FindingKind.ROGUE_GROUP, System.OKTA, HOSTILE, HOSTILE),),
        target=HOSTILE,
        names=DisplayNames(accounts={PROD: HOSTILE}, groups={_dn("x", MGMT_OU): HOSTILE}),
        access_unknown=HOSTILE,
    )


@pytest.mark.parametrize(
    "render",
    [
        lambda p: render_text(p),
        lambda p: ANSI.sub("", render_text(p, color=True)),
        render_markdown,
        render_json,
    ],
    ids=["text", "colour", "markdown", "json"],
)
def test_no_output_prints_a_control_character(render: Any) -> None:
    out = render(hostile_plan())
    assert not CONTROL.search(out), CONTROL.findall(out)
    assert "\\x1bc" in out or "\\u001bc" in out


def test_colour_adds_only_colour_codes_to_hostile_names() -> None:
    plan = hostile_plan()
    assert ANSI.sub("", render_text(plan, color=True)) == render_text(plan)


def test_markdown_of_hostile_names_is_inert() -> None:
    md = render_markdown(hostile_plan())
    html = MarkdownIt("commonmark").enable("table").render(md)
    assert "<img" not in html
    assert not GITHUB_MENTION.search(re.sub(r"<(code|pre)[^>]*>.*?</\1>", "", html, flags=re.S))
    assert md.count("</details>") == 3 and html.count("<pre>") == 3


def test_json_keeps_hostile_names_exact() -> None:
    plan = hostile_plan()
    doc = json.loads(render_json(plan))
    assert doc["access_delta"][0]["user"] == HOSTILE
    assert doc["access_unknown"] == HOSTILE
