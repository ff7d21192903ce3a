"""The Okta read cache against the emulator: an incremental read is the full read.

Every test drives the real okta SDK against the emulator, with the emulator's clock
frozen and moved by hand (engine/sandbox/okta_emulator/clock.py), so same-millisecond
updates, clock skew between Okta's servers and a day-old cache are exact cases, not
races. The yardstick is always a second provider reading the same org without a cache.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.diff import diff
from engine.model import GroupRole
from engine.providers import okta_cache
from engine.providers.okta import OktaProvider, OktaRead, ReadMode, ReadScope
from engine.providers.okta_cache import (
    CACHE_DIR_ENV,
    CachedMembers,
    CacheStore,
    MemberCache,
    default_cache_dir,
)
from engine.sandbox.okta_emulator import GroupType, OktaEmulator, OktaState
from tests.providers.okta_fixtures import (
    OKTA_ONLY,
    converge,
    desired,
    emulator_for_test,
    import_directory,
    plain_http_allowed,
    provider_for,
    state_of,
)
from tests.unit.worlds import PROD, role_group_name

MEMBERS_ROUTE = "GET /api/v1/groups/{groupId}/users"
T0 = 1_900_000_000.0  # a whole second: Date and lastMembershipUpdated can then be equal
OVERSIZE = 64 << 10  # the size bound, lowered for the oversized case (a gzip bomb)
WORLD = desired(state_of())


@pytest.fixture(scope="module")
def converged_org() -> str:
    """The small world applied and imported, as emulator state JSON (built once)."""
    with emulator_for_test() as emulator:
        emulator.clock.freeze(T0)
        emulator.aws_app()
        import_directory(emulator, WORLD)
        with provider_for(emulator) as provider:
            converge(provider, WORLD)
        return emulator.state.to_json()


@pytest.fixture
def org(converged_org: str) -> Iterator[OktaEmulator]:
    state = OktaState.from_json(converged_org)
    state.clock.freeze(T0 + 1000)
    with plain_http_allowed(), OktaEmulator.start(token="okta-cache-test", state=state) as emu:
        yield emu


def open_provider(emulator: OktaEmulator, cache_dir: Path | None, **options: Any) -> OktaProvider:
    return OktaProvider(
        org_url=emulator.url,
        token=emulator.token,
        env={},
        cache_dir=cache_dir,
        max_retries=1,
        backoff_base=0.05,
        **options,
    )


def read_with(emulator: OktaEmulator, cache_dir: Path | None, **options: Any) -> OktaRead:
    with open_provider(emulator, cache_dir, **options) as provider:
        result = provider.read(scope=ReadScope.for_world(WORLD))
    assert result.errors == (), result.errors
    return result


def member_reads(result: OktaRead) -> int:
    return sum(s.calls for k, s in result.calls.items() if k.operation == MEMBERS_ROUTE)


def assert_same_as_full(emulator: OktaEmulator, cache_dir: Path, **options: Any) -> OktaRead:
    """The cached read equals a full read of the org now, as whole worlds and as plans."""
    cached = read_with(emulator, cache_dir, **options)
    full = read_with(emulator, None)
    assert cached.to_world() == full.to_world()
    assert diff(desired=WORLD, live=cached.to_world(), options=OKTA_ONLY) == diff(
        desired=WORLD, live=full.to_world(), options=OKTA_ONLY
    )
    return cached


def group_id(emulator: OktaEmulator, name: str) -> str:
    return next(g.id for g in emulator.state.groups.values() if g.name == name)


def role_group(account: str = PROD, role: str = "Admin") -> str:
    return role_group_name(account, role)


def replace_members(emulator: OktaEmulator, name: str, logins: set[str]) -> None:
    """What an import does to an imported group: its members replaced."""
    state = emulator.state
    ids = {u.id for u in state.users.values() if u.login.split("@")[0] in logins}
    state.set_members(group_id=group_id(emulator, name), user_ids=ids)


# --- the basics ------------------------------------------------------------------------------


def test_a_warm_cache_reads_no_member_list_and_gives_the_same_world(
    org: OktaEmulator, tmp_path: Path
) -> None:
    cold = read_with(org, tmp_path)
    assert cold.cache.mode is ReadMode.FULL and cold.cache.reason == "no cache yet"
    assert member_reads(cold) == cold.cache.read > 0
    warm = assert_same_as_full(org, tmp_path)
    assert warm.cache.mode is ReadMode.INCREMENTAL
    assert member_reads(warm) == 0 and warm.cache.reused == cold.cache.read
    assert warm.call_count == cold.call_count - member_reads(cold)


def test_only_the_groups_a_directory_import_changed_are_read_again(
    org: OktaEmulator, tmp_path: Path
) -> None:
    read_with(org, tmp_path)
    before = {g.id: g.last_membership_updated for g in org.state.groups.values()}
    org.clock.advance(30)
    devops = next(g for g in WORLD.directory_groups.values() if g.name == "DevOps")
    changed_world = dataclasses.replace(
        WORLD,
        directory_groups={
            **WORLD.directory_groups,
            devops.key: dataclasses.replace(devops, member_users=frozenset({"alice"})),
        },
    )
    import_directory(org, changed_world)
    changed = {
        g.id for g in org.state.groups.values() if before.get(g.id) != g.last_membership_updated
    }
    # bob leaves DevOps, and through it the role groups DevOps is a member of.
    assert len(changed) >= 2
    warm = assert_same_as_full(org, tmp_path)
    assert member_reads(warm) == len(changed) == warm.cache.read


def test_deleted_groups_drop_out_and_new_ones_are_read(org: OktaEmulator, tmp_path: Path) -> None:
    read_with(org, tmp_path)
    org.clock.advance(300)
    org.state.delete_group(group_id(org, role_group(PROD, "Audit")))
    created = org.state.add_group(
        name=role_group(PROD, "Extra"),
        description=None,
        group_type=GroupType.APP_GROUP,
        source_app_id=org.directory_app().id,
    )
    org.state.set_members(group_id=created.id, user_ids=set(list(org.state.users)[:1]))
    warm = assert_same_as_full(org, tmp_path)
    assert member_reads(warm) == 1
    entries = cached_entries(org, tmp_path)
    assert created.id in entries and group_id(org, "DevOps") in entries
    assert all(gid in org.state.groups for gid in entries)


def cached_entries(emulator: OktaEmulator, cache_dir: Path) -> dict[str, CachedMembers]:
    store = CacheStore(directory=cache_dir, org_url=emulator.url)
    cache, _ = store.load(emulator.aws_app().id)
    assert cache is not None
    return dict(cache.entries)


# --- same second, clock skew, age, another org, --full-read, a damaged file ---------------------


@pytest.mark.parametrize("overlap", [120.0, 0.0])
def test_two_updates_in_the_same_millisecond_around_a_read(
    org: OktaEmulator, tmp_path: Path, overlap: float
) -> None:
    """Update, read, update again in the same millisecond: the timestamp cannot tell the
    second update apart, so the overlap must make the read distrust that listing. With
    no overlap the cache would hide the second update: the test can fail."""
    admin = role_group()
    replace_members(org, admin, {"alice"})  # lastMembershipUpdated = the frozen now
    first = read_with(org, tmp_path, cache_overlap=overlap)
    assert admin.lower() in {g.name.lower() for g in first.groups}
    replace_members(org, admin, {"alice", "bob", "carol"})  # same instant, same stamp
    cached = read_with(org, tmp_path, cache_overlap=overlap)
    full = read_with(org, None)
    if overlap:
        assert cached.to_world() == full.to_world()
    else:
        assert cached.to_world() != full.to_world()


@pytest.mark.parametrize(("skew", "same"), [(-100.0, True), (100.0, True), (-130.0, False)])
def test_membership_stamps_from_a_clock_off_by_skew(
    org: OktaEmulator, tmp_path: Path, skew: float, same: bool
) -> None:
    """Okta's servers stamp lastMembershipUpdated by one clock and Date by another. The
    same-millisecond case with the stamping clock `skew` seconds off the Date clock: an
    overlap of 120 s covers a stamping clock up to 120 s behind."""
    org.state.stamp_skew = skew
    admin = role_group()
    replace_members(org, admin, {"alice"})
    read_with(org, tmp_path)
    replace_members(org, admin, {"alice", "bob", "carol"})
    cached = read_with(org, tmp_path)
    full = read_with(org, None)
    assert (cached.to_world() == full.to_world()) is same


def test_a_cache_older_than_its_bound_is_read_again_in_full(
    org: OktaEmulator, tmp_path: Path
) -> None:
    cold = read_with(org, tmp_path, cache_max_age=3600)
    org.clock.advance(3601)
    again = assert_same_as_full(org, tmp_path, cache_max_age=3600)
    assert member_reads(again) == cold.cache.read and again.cache.reused == 0
    assert again.cache.mode is ReadMode.FULL
    assert again.cache.reason == "no cached list could be reused"
    assert member_reads(read_with(org, tmp_path, cache_max_age=3600)) == 0


def test_a_cache_from_the_future_is_not_trusted(org: OktaEmulator, tmp_path: Path) -> None:
    cold = read_with(org, tmp_path)
    org.clock.advance(-3600)  # the org's clock went back (or the cache came from elsewhere)
    again = read_with(org, tmp_path)
    assert member_reads(again) == cold.cache.read


def test_full_read_ignores_the_cache_and_rewrites_it(org: OktaEmulator, tmp_path: Path) -> None:
    cold = read_with(org, tmp_path)
    org.clock.advance(600)
    forced = read_with(org, tmp_path, full_read=True)
    assert forced.cache.mode is ReadMode.FULL and forced.cache.reason == "--full-read"
    assert member_reads(forced) == cold.cache.read
    entries = cached_entries(org, tmp_path)
    assert {e.read_at for e in entries.values()} == {T0 + 1600}


def test_a_cache_of_another_org_or_app_is_not_used(org: OktaEmulator, tmp_path: Path) -> None:
    cold = read_with(org, tmp_path)
    store = CacheStore(directory=tmp_path, org_url=org.url)
    path = store.path_for(org.aws_app().id)
    document = json.loads(gzip.decompress(path.read_bytes()))
    for field, value in (("orgUrl", "https://other.okta.com"), ("appId", "0oaOTHERAPP")):
        path.write_bytes(gzip.compress(json.dumps({**document, field: value}).encode()))
        again = read_with(org, tmp_path)
        assert again.cache.reason == "the cache belongs to another org or app"
        assert member_reads(again) == cold.cache.read


@pytest.mark.parametrize(
    "content",
    [
        b"not gzip at all",
        gzip.compress(b"{truncated"),
        gzip.compress(b'{"version": 99}'),
        gzip.compress(b'{"version": 1, "orgUrl": "x", "appId": "y", "groups": {"g": 5}}'),
        gzip.compress(b"[" * 200_000 + b"]" * 200_000),
    ],
    ids=["not-gzip", "bad-json", "other-version", "bad-entry", "deep-nesting"],
)
def test_an_unusable_cache_is_ignored_with_a_warning_and_rewritten(
    org: OktaEmulator, tmp_path: Path, content: bytes
) -> None:
    cold = read_with(org, tmp_path)
    path = CacheStore(directory=tmp_path, org_url=org.url).path_for(org.aws_app().id)
    path.write_bytes(content)
    warnings: list[str] = []
    again = read_with(org, tmp_path, warn=warnings.append)
    assert again.complete and member_reads(again) == cold.cache.read
    assert len(warnings) == 1 and "ignored and rewritten" in warnings[0]
    assert str(content[:8]) not in warnings[0]  # never the file's content
    assert cached_entries(org, tmp_path)  # rewritten, parseable
    assert member_reads(read_with(org, tmp_path)) == 0


def test_a_cache_past_the_size_bound_is_not_decompressed_whole(
    org: OktaEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A valid cache padded past the bound (as a gzip bomb would be) is refused unread."""
    cold = read_with(org, tmp_path)
    path = CacheStore(directory=tmp_path, org_url=org.url).path_for(org.aws_app().id)
    valid = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(valid + b" " * OVERSIZE))
    monkeypatch.setattr(okta_cache, "MAX_CACHE_BYTES", OVERSIZE)
    warnings: list[str] = []
    again = read_with(org, tmp_path, warn=warnings.append)
    assert member_reads(again) == cold.cache.read
    assert len(warnings) == 1 and "larger than" in warnings[0]


def test_an_unwritable_cache_folder_costs_a_warning_not_the_read(
    org: OktaEmulator, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    warnings: list[str] = []
    result = read_with(org, blocker / "cache", warn=warnings.append)
    assert result.complete and len(warnings) == 1 and "not saved" in warnings[0]


def test_the_cache_folder_follows_the_environment(tmp_path: Path) -> None:
    assert default_cache_dir({CACHE_DIR_ENV: str(tmp_path)}) == tmp_path
    assert default_cache_dir({"XDG_CACHE_HOME": "/x/cache", "HOME": "/h"}) == Path(
        "/x/cache/okta-aws"
    )
    assert default_cache_dir({"XDG_CACHE_HOME": "relative", "HOME": "/h"}) == Path(
        "/h/.cache/okta-aws"
    )
    assert default_cache_dir({"HOME": "/h"}) == Path("/h/.cache/okta-aws")


# --- never more optimistic -------------------------------------------------------------------


def test_a_stale_cache_whose_timestamp_goes_backwards_gives_the_full_plan(
    org: OktaEmulator, tmp_path: Path
) -> None:
    """A cache restored from elsewhere claims a later lastMembershipUpdated (and fewer
    members) than the org has now: a rule that re-read only groups *newer* than the cache
    would keep it and plan from members that are not there. Any difference re-reads."""
    read_with(org, tmp_path)
    admin_id = group_id(org, role_group())
    store = CacheStore(directory=tmp_path, org_url=org.url)
    cache, _ = store.load(org.aws_app().id)
    assert cache is not None
    entry = cache.entries[admin_id]
    later = "2030-01-01T00:00:00.000Z"  # after the org's own stamp, before the read date
    stale = dataclasses.replace(
        entry, last_membership_updated=later, members=frozenset(), read_at=T0 + 1000
    )
    store.save(
        MemberCache(
            org_url=org.url, app_id=cache.app_id, entries={**cache.entries, admin_id: stale}
        )
    )
    org.clock.advance(600)
    cached = assert_same_as_full(org, tmp_path)
    assert member_reads(cached) == 1
    plan = diff(desired=WORLD, live=cached.to_world(), options=OKTA_ONLY)
    assert plan.empty  # the converged org, as a full read sees it


# --- the property ------------------------------------------------------------------------------

OPERATIONS = st.lists(
    st.one_of(
        st.tuples(
            st.just("advance"), st.sampled_from([0.0, 0.001, 0.5, 1.0, 119.0, 121.0, 4000.0])
        ),
        st.tuples(st.just("members"), st.integers(0, 50), st.sets(st.integers(0, 4))),
        st.tuples(st.just("create"), st.sampled_from(["Extra", "Ops"]), st.sets(st.integers(0, 4))),
        st.tuples(st.just("delete"), st.integers(0, 50)),
        st.tuples(st.just("assign"), st.integers(0, 50)),
        st.tuples(st.just("unassign"), st.integers(0, 50)),
        st.tuples(
            st.just("import"),
            st.sampled_from(["DevOps", "Finance"]),
            st.sets(st.sampled_from(["alice", "bob", "carol", "dave"])),
        ),
    ),
    max_size=6,
)


def run(emulator: OktaEmulator, operation: tuple[Any, ...], counter: list[int]) -> None:
    state = emulator.state
    users = sorted(state.users)
    groups = sorted(
        (g for g in state.groups.values() if g.type is not GroupType.BUILT_IN), key=lambda g: g.id
    )
    kind = operation[0]
    if kind == "advance":
        emulator.clock.advance(float(operation[1]))
    elif kind == "import":
        name, logins = operation[1], operation[2]
        imported = next(g for g in WORLD.directory_groups.values() if g.name == name)
        changed = dataclasses.replace(imported, member_users=frozenset(logins))
        import_directory(
            emulator,
            dataclasses.replace(
                WORLD, directory_groups={**WORLD.directory_groups, imported.key: changed}
            ),
        )
    elif kind == "create":
        counter[0] += 1
        created = state.add_group(
            name=role_group(PROD, f"{operation[1]}{counter[0]}"),
            description=None,
            group_type=GroupType.APP_GROUP,
            source_app_id=emulator.directory_app().id,
        )
        picked = {users[i % len(users)] for i in operation[2]}
        state.set_members(group_id=created.id, user_ids=picked)
    elif groups:
        group = groups[int(operation[1]) % len(groups)]
        app_id = emulator.aws_app().id
        if kind == "members":
            picked = {users[i % len(users)] for i in operation[2]}
            state.set_members(group_id=group.id, user_ids=picked)
        elif kind == "delete":
            state.delete_group(group.id)
        elif kind == "assign":
            state.assign_group(app_id=app_id, group_id=group.id, priority=None)
        elif kind == "unassign":
            state.unassign_group(app_id=app_id, group_id=group.id)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(before=OPERATIONS, between=OPERATIONS, after=OPERATIONS)
def test_property_an_incremental_read_equals_a_full_read(
    converged_org: str,
    tmp_path_factory: pytest.TempPathFactory,
    before: list[tuple[Any, ...]],
    between: list[tuple[Any, ...]],
    after: list[tuple[Any, ...]],
) -> None:
    """Random membership changes, group creations and deletions, assignments, imports and
    clock moves (same millisecond to over an hour) before a first read, between it and a
    second, and after it: every cached read is the full read, as the whole World."""
    cache_dir = tmp_path_factory.mktemp("cache")
    state = OktaState.from_json(converged_org)
    state.clock.freeze(T0 + 1000)
    counter = [0]
    with plain_http_allowed(), OktaEmulator.start(token="okta-cache-test", state=state) as org:
        for operation in before:
            run(org, operation, counter)
        assert_same_as_full(org, cache_dir)
        for operation in between:
            run(org, operation, counter)
        assert_same_as_full(org, cache_dir)
        for operation in after:
            run(org, operation, counter)
        assert_same_as_full(org, cache_dir)


def test_management_groups_are_what_the_cache_skips_most(org: OktaEmulator, tmp_path: Path) -> None:
    """Sanity of the fixture: the world has role and management groups whose members are
    read, so the tests above exercise reuse of both."""
    cold = read_with(org, tmp_path)
    roles = {g.name.lower() for g in WORLD.directory_groups.values() if g.role is GroupRole.ROLE}
    with_members = {g.name.lower() for g in cold.groups if g.members is not None}
    assert roles & with_members and with_members - roles
