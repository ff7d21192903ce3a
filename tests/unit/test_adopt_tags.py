"""`import --account-tags FILE`: the tags file's parser, the choice of a tag set for a
grant, and random tagged worlds that still import to an empty plan."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.adopt_model import Effect
from engine.adopt_tags import AccountTagsError, Tags, parse_account_tags, tag_selector
from engine.commands_import import import_
from engine.snapshot import write_snapshot
from engine.spec import AccountSpec, DesiredState, GrantSpec
from tests.unit.strategies import ACCOUNTS, desired_states
from tests.unit.test_adopt import changes, imported, live_of
from tests.unit.test_adopt_render import account_tags, tagged_state

# --- the file -----------------------------------------------------------------------------


def test_both_shapes_are_read_sorted_by_key() -> None:
    text = (
        '"111111111111": {team: payments, env: prod}\n'
        '"222222222222": {"Tags": [{"Key": "env", "Value": "dev"}, {"Key": "x", "Value": ""}]}\n'
        '"333333333333": {}\n'
    )
    assert parse_account_tags(raw=text.encode(), display="tags.yaml") == {
        "111111111111": (("env", "prod"), ("team", "payments")),
        "222222222222": (("env", "dev"), ("x", "")),
        "333333333333": (),
    }


def test_the_readme_loop_output_is_read() -> None:
    """What the README's shell loop writes: the CLI's indented JSON on one line."""
    cli = json.dumps({"Tags": [{"Key": "env", "Value": "prod"}]}, indent=4)
    line = '"111111111111": ' + cli.replace("\n", "") + "\n"
    assert parse_account_tags(raw=line.encode(), display="t.yaml") == {
        "111111111111": (("env", "prod"),)
    }


def test_json_is_read_too() -> None:
    text = '{"111111111111": {"Tags": [{"Key": "env", "Value": "prod"}]}}'
    assert parse_account_tags(raw=text.encode(), display="t.json") == {
        "111111111111": (("env", "prod"),)
    }


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("- 111111111111\n", 1, "expected a mapping of account id to tags"),
        ('"111111111111": {env: prod}\n111111111112: {env: dev}\n', 2, "quot"),
        ('"11111111111": {env: prod}\n', 1, "is not a 12-digit account id"),
        ('"111111111111": [env, prod]\n', 1, "an account's tags are a mapping"),
        ('"111111111111":\n  env: 1\n', 2, "quote the value"),
        ('"111111111111":\n  env: prod\n  "": x\n', 3, "may not be empty"),
        ('"111111111111": {env: "' + "v" * 257 + '"}\n', 1, "at most 256 characters"),
        ('"111111111111": {env: "a\\u001bb"}\n', 1, "control character"),
        ('"111111111111": {env: "prod "}\n', 1, "trailing whitespace"),
        (
            '"111111111111":\n  Tags:\n    - {Key: env, Value: a}\n    - {Key: env, Value: b}\n',
            4,
            "'env' is given twice",
        ),
        ('"111111111111":\n  Tags:\n    - {Key: env}\n', 3, '{"Key": K, "Value": V}'),
        ('"111111111111": {env: [prod\n', 2, "YAML syntax"),
        ("a: &a [*a]\n", 1, "refers to a node that contains it"),
    ],
)
def test_a_bad_file_is_one_line_at_its_line(text: str, line: int, says: str) -> None:
    with pytest.raises(AccountTagsError) as caught:
        parse_account_tags(raw=text.encode(), display="tags.yaml")
    message = str(caught.value)
    assert message.startswith(f"tags.yaml:{line}: "), message
    assert says in message and "\n" not in message
    assert "v" * 100 not in message  # a long value is described, never echoed


# --- the choice -------------------------------------------------------------------------

PROD, DEV, LAB, QA = "111111111111", "222222222222", "333333333333", "444444444444"
TAGS: dict[str, Tags] = {
    PROD: (("env", "prod"), ("team", "pay")),
    DEV: (("env", "dev"), ("team", "pay")),
    LAB: (("env", "dev"), ("team", "lab")),
    QA: (("env", "dev"), ("team", "pay"), ("tier", "2")),
}


@pytest.mark.parametrize(
    ("held", "having", "expected"),
    [
        ({PROD, DEV, QA}, {PROD, DEV, LAB, QA}, (("team", "pay"),)),
        ({DEV, LAB, QA}, {PROD, DEV, LAB, QA}, (("env", "dev"),)),
        # Two pairs needed: env=dev alone adds lab, team=pay alone adds prod.
        ({DEV, QA}, {PROD, DEV, LAB, QA}, (("env", "dev"), ("team", "pay"))),
        # Among the accounts having the role only: lab lacks it, so env=dev is exact.
        ({DEV, QA}, {PROD, DEV, QA}, (("env", "dev"),)),
        ({PROD}, {PROD, DEV}, None),  # one account: by its alias
        ({PROD, LAB}, {PROD, DEV, LAB, QA}, None),  # no shared pair
        ({DEV, LAB}, {PROD, DEV, LAB, QA}, None),  # env=dev also selects qa
        ({PROD, DEV}, {PROD, DEV, "555555555555"}, (("team", "pay"),)),  # untagged ones
    ],
)
def test_the_smallest_tag_set_that_selects_exactly_the_accounts(
    held: set[str], having: set[str], expected: Tags | None
) -> None:
    assert tag_selector(held=held, having=having, tags=TAGS) == expected


def test_ties_go_to_the_first_in_sorted_order() -> None:
    tags: dict[str, Tags] = {
        PROD: (("b", "1"), ("a", "1")),
        DEV: (("a", "1"), ("b", "1")),
        LAB: (),
    }
    assert tag_selector(held={PROD, DEV}, having={PROD, DEV, LAB}, tags=tags) == (("a", "1"),)


# --- import with tags ----------------------------------------------------------------------


def test_the_tagged_golden_world_imports_to_an_empty_plan() -> None:
    state = tagged_state()
    live = live_of(state)
    options = account_tags(state)
    adoption, again = imported(live, account_tags=options.account_tags)
    assert changes(again, live) == []
    assert {a.id: a.tags for a in again.accounts} == {a.id: a.tags for a in state.accounts}
    grants = {(g.name, r.role, r.account_tags) for g in again.management_groups for r in g.grants}
    assert ("DevOps", "Admin", (("team", "payments"),)) in grants
    assert ("Finance", "ReadOnly", (("env", "dev"),)) in grants
    assert not [f for f in adoption.findings if f.effect is Effect.WILL_CHANGE]


POOL = (("env", "prod"), ("env", "dev"), ("team", "a"), ("team", "b"), ("tier", "1"), ("x", ""))
# Dense: every account has an env and a team, so tags often fit a grant's accounts.
account_tag_sets = st.tuples(
    st.sampled_from(POOL[:2]), st.sampled_from(POOL[2:4]), st.sets(st.sampled_from(POOL[4:]))
).map(lambda t: tuple(sorted({t[0], t[1], *t[2]})))


@st.composite
def tagged_states(draw: st.DrawFn) -> tuple[DesiredState, dict[str, Tags]]:
    """A random desired state over all three accounts, tagged from a small pool, some of
    whose grants select accounts by tags: its live world is what import must write back
    (by tags where they fit exactly, else by account)."""
    state = draw(desired_states())
    names = tuple(r.name for r in state.roles)
    have = {a.id: a for a in state.accounts}
    accounts = tuple(
        dataclasses.replace(
            have.get(account_id) or AccountSpec(id=account_id, alias=alias, roles=()),
            roles=tuple(n for n in names if draw(st.integers(0, 3))),  # most of them
            adopt_roles=(),
            tags=draw(account_tag_sets),
        )
        for account_id, alias in sorted(ACCOUNTS.items())
    )
    selectors = st.lists(st.sampled_from(POOL[:4]), min_size=1, max_size=2).map(
        lambda pairs: tuple(sorted(dict(pairs).items()))
    )
    groups = tuple(
        dataclasses.replace(
            group,
            grants=tuple(
                GrantSpec(role=grant.role, account=None, account_tags=draw(selectors))
                if draw(st.booleans())
                else grant
                for grant in group.grants
            ),
        )
        for group in state.management_groups
    )
    state = dataclasses.replace(state, accounts=accounts, management_groups=groups)
    return state, {a.id: a.tags for a in accounts}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=tagged_states(), members=st.booleans())
def test_tagged_worlds_import_to_an_empty_plan(
    case: tuple[DesiredState, dict[str, Tags]], members: bool
) -> None:
    state, tags = case
    assume(any(a.roles for a in state.accounts))
    live = live_of(state)  # tags live in Organizations: the live world has none
    adoption, again = imported(live, members=members, account_tags=tags)
    assert changes(again, live) == []
    assert {a.id: a.tags for a in again.accounts} == {a.id: tags[a.id] for a in again.accounts}
    by_id = {a.id: a for a in again.accounts}
    for group in again.management_groups:
        for grant in group.grants:
            if grant.account_tags is not None:
                selected = [
                    a
                    for a in by_id.values()
                    if set(grant.account_tags) <= set(a.tags) and grant.role in a.roles
                ]
                assert len(selected) >= 2, (group.name, grant)
    assert not [f for f in adoption.findings if f.effect is Effect.WILL_CHANGE]


# --- the flag --------------------------------------------------------------------------------


def run_import(tmp_path: Path, tags_file: Path) -> tuple[int, str, str]:
    live = live_of(tagged_state())
    write_snapshot(world=live, path=tmp_path / "live.json", target="sandbox")
    out, err = io.StringIO(), io.StringIO()
    code = import_(
        out_dir=tmp_path / "imported",
        target="sandbox",
        live_snapshot=tmp_path / "live.json",
        role_group_name=None,
        members=True,
        app_label=None,
        app_id=None,
        account_tags=tags_file,
        out=out,
        err=err,
    )
    return code, out.getvalue(), err.getvalue()


def test_the_flag_writes_tags_and_grants_by_them(tmp_path: Path) -> None:
    tags_file = tmp_path / "tags.yaml"
    tags_file.write_text(
        "".join(
            f'"{a.id}": {{{", ".join(f"{k}: {json.dumps(v)}" for k, v in a.tags)}}}\n'
            for a in tagged_state().accounts
        ),
        encoding="utf-8",
    )
    code, _, err = run_import(tmp_path, tags_file)
    assert code == 0, err
    groups = (tmp_path / "imported" / "groups" / "management-groups.yaml").read_text("utf-8")
    assert "{account_tags: {team: payments}, role: Admin}" in groups


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot read it (No such file or directory)"),
        ("- a\n", ":1: expected a mapping of account id to tags"),
        ('"111111111111": {env: 7}\n', ":1: tag keys and values are strings"),
        (b"\xff\xfe", ":1: not UTF-8 text"),
    ],
)
def test_a_bad_tags_file_is_one_line_naming_the_flag_and_nothing_is_written(
    tmp_path: Path, content: str | bytes | None, says: str
) -> None:
    tags_file = tmp_path / "tags.yaml"
    if isinstance(content, bytes):
        tags_file.write_bytes(content)
    elif content is not None:
        tags_file.write_text(content, encoding="utf-8")
    code, _, err = run_import(tmp_path, tags_file)
    assert code == 1
    assert err.startswith(f"error: --account-tags {tags_file}") and err.count("\n") == 1, err
    assert says in err, err
    assert not (tmp_path / "imported").exists()
