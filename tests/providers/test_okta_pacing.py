"""Pacing against the emulator enforcing Okta-style per-family limits: okta-aws keeps its
own use under its share of each limit and waits for the window instead of taking 429s.

Time is simulated: the pacer's sleep moves the emulator's clock (and the pacer's own)
instead of waiting, so a read spanning several rate-limit windows takes a moment.
Nothing here asserts how long anything took.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Iterator

import pytest

from engine.providers.okta import OktaProvider, OktaRead, ReadScope
from engine.providers.okta_pacing import OKTA_DEFAULT_LIMITS, Pacer, RateHeaders, family_of
from engine.sandbox.okta_emulator import GroupType, OktaEmulator, RateLimitPolicy
from tests.providers.okta_fixtures import (
    converge,
    desired,
    emulator_for_test,
    import_directory,
    provider_for,
    state_of,
)
from tests.unit.worlds import PROD, role_group_name

GROUPS = "/api/v1/groups"
WORLD = desired(state_of())


class SimulatedTime:
    """The pacer's clock and sleep, moving the emulator's clock instead of waiting."""

    def __init__(self, emulator: OktaEmulator) -> None:
        self.emulator = emulator
        self.slept = 0.0

    def clock(self) -> float:
        return time.monotonic() + self.slept

    async def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.emulator.clock.advance(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def org() -> Iterator[OktaEmulator]:
    """The small world converged, plus 40 more role groups: ~50 calls in the groups family."""
    with emulator_for_test() as emulator:
        emulator.aws_app()
        import_directory(emulator, WORLD)
        with provider_for(emulator, rate_limit_share=0) as provider:
            converge(provider, WORLD)
        source = emulator.directory_app().id
        users = set(list(emulator.state.users)[:3])
        for index in range(40):
            group = emulator.state.add_group(
                name=role_group_name(PROD, f"Extra{index}"),
                description=None,
                group_type=GroupType.APP_GROUP,
                source_app_id=source,
            )
            emulator.state.set_members(group_id=group.id, user_ids=users)
        emulator.reset_faults()
        yield emulator


def enforce(emulator: OktaEmulator, **limits: int) -> None:
    emulator.set_rate_limits(
        RateLimitPolicy(limits={**OKTA_DEFAULT_LIMITS, **limits}, enforce=True)
    )


def paced_read(emulator: OktaEmulator, *, share: float) -> tuple[OktaRead, Pacer, list[float]]:
    simulated = SimulatedTime(emulator)
    waits: list[float] = []
    pacer = Pacer(
        share=share,
        clock=simulated.clock,
        sleep=simulated.sleep,
        on_wait=lambda family, seconds: waits.append(seconds),
    )
    with provider_for(emulator, pacer=pacer, max_retries=0, backoff_attempts=0) as provider:
        result = provider.read(scope=ReadScope.for_world(WORLD))
    return result, pacer, waits


@pytest.mark.parametrize("share", [0.5, 0.25, 1.0])
def test_a_paced_read_stays_under_its_share_and_gets_no_429(
    org: OktaEmulator, share: float
) -> None:
    enforce(org, **{GROUPS: 20})
    result, pacer, waits = paced_read(org, share=share)
    assert result.errors == ()
    assert org.rate_limited() == {}
    group_calls = sum(
        s.calls for k, s in result.calls.items() if family_of("GET", k.operation[4:]) == GROUPS
    )
    assert group_calls > 20  # more than one window's worth: the read had to wait
    assert waits and pacer.stats.waits == len(waits)
    # What the emulator counted in its busiest window, and what the pacer saw of its own.
    assert org.peak_share()[GROUPS] <= share
    assert pacer.stats.peak_share[GROUPS] <= share


def test_without_pacing_the_same_read_is_rate_limited(org: OktaEmulator) -> None:
    """The yardstick: the emulator does enforce the limit the paced read stayed under."""
    enforce(org, **{GROUPS: 20})
    with provider_for(org, rate_limit_share=0, max_retries=0, backoff_attempts=0) as provider:
        result = provider.read(scope=ReadScope.for_world(WORLD))
    assert result.errors and "HTTP 429" in result.errors[0]
    assert org.rate_limited().get(GROUPS, 0) > 0


def test_the_last_calls_of_a_window_others_used_are_left_alone(org: OktaEmulator) -> None:
    """Another integration has used most of the window: the read waits for the next
    window rather than take the org past its limit."""
    enforce(org, **{GROUPS: 20})
    for _ in range(17):
        request = urllib.request.Request(
            f"{org.url}/api/v1/groups?limit=1", headers={"Authorization": f"SSWS {org.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
    result, _, waits = paced_read(org, share=0.5)
    assert result.errors == () and org.rate_limited() == {} and waits


def test_the_first_call_of_a_family_probes_alone() -> None:
    """Before a family's limit is known, one call at a time: eight concurrent calls
    cannot overrun a limit nobody has seen yet."""

    async def scenario() -> list[int]:
        pacer = Pacer(share=0.5)
        in_flight: list[int] = []
        current = 0

        async def call() -> None:
            nonlocal current
            await pacer.acquire(GROUPS)
            current += 1
            in_flight.append(current)
            await asyncio.sleep(0)
            current -= 1
            await pacer.release(GROUPS, None)

        await asyncio.gather(*(call() for _ in range(8)))
        return in_flight

    assert max(asyncio.run(scenario())) == 1


@pytest.mark.parametrize(
    ("method", "route", "family"),
    [
        ("GET", "/api/v1/apps", "/api/v1/apps"),
        ("GET", "/api/v1/apps/{appId}", "/api/v1/apps/{id}"),
        ("PUT", "/api/v1/apps/{appId}", "/api/v1/apps/{id}"),
        ("GET", "/api/v1/apps/{appId}/groups", "/api/v1/apps"),
        ("PUT", "/api/v1/apps/{appId}/groups/{groupId}", "/api/v1/apps"),
        ("GET", "/api/v1/groups", "/api/v1/groups"),
        ("GET", "/api/v1/groups/{groupId}", "/api/v1/groups/{id}"),
        ("GET", "/api/v1/groups/{groupId}/users", "/api/v1/groups"),
        ("PUT", "/api/v1/groups/{groupId}/users/{userId}", "/api/v1/groups"),
        ("GET", "/api/v1/users", "/api/v1/users"),
        ("GET", "/api/v1/users/{userId}", "GET /api/v1/users/{id}"),
        ("POST", "/api/v1/users/{userId}", "/api/v1/users/{id}"),
        ("GET", "/api/v1/logs", "/api/v1"),
    ],
)
def test_endpoint_families_follow_okta(method: str, route: str, family: str) -> None:
    assert family_of(method, route) == family
    assert family in OKTA_DEFAULT_LIMITS


def test_the_emulator_announces_each_familys_own_limit() -> None:
    with emulator_for_test() as emulator:
        limits = {}
        for path in ("/api/v1/groups", "/api/v1/apps"):
            request = urllib.request.Request(
                f"{emulator.url}{path}", headers={"Authorization": f"SSWS {emulator.token}"}
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                limits[path] = int(response.headers["X-Rate-Limit-Limit"])
    assert limits == {"/api/v1/groups": 500, "/api/v1/apps": 100}


def test_share_must_be_a_fraction() -> None:
    for share in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="share"):
            Pacer(share=share)
    assert Pacer(share=0.5).allowance(500) == 250 and Pacer(share=0.001).allowance(100) == 1


def test_provider_without_pacing_has_no_pacer() -> None:
    provider = OktaProvider(
        org_url="https://example.okta.com", token="t", env={}, rate_limit_share=0
    )
    assert provider.pacer is None
    provider.close()


def test_answers_from_the_next_window_during_a_wait_still_count() -> None:
    """Found by the reference benchmark (255 calls in a 250-call budget): a call in flight
    when the budget ran out is answered in the next window while the pacer waits; the
    end of the wait must not forget it."""
    family = GROUPS
    now = [1000.0]

    def headers(reset: float, remaining: int) -> RateHeaders:
        return RateHeaders(limit=10, remaining=remaining, reset=reset, date=now[0])

    async def scenario() -> int:
        async def sleep(seconds: float) -> None:
            now[0] += seconds
            sleeps.append(seconds)
            if len(sleeps) == 1:
                # The last call of the old window lands in the new one meanwhile.
                await pacer.release(family, headers(reset=1120.0, remaining=9))

        sleeps: list[float] = []
        pacer = Pacer(share=0.5, clock=lambda: now[0], sleep=sleep)
        await pacer.acquire(family)  # the probe
        await pacer.release(family, headers(reset=1060.0, remaining=9))
        for _ in range(4):
            await pacer.acquire(family)
        for remaining in (8, 7, 6):
            await pacer.release(family, headers(reset=1060.0, remaining=remaining))
        # 4 answered, 1 in flight: the budget of 5 is spent; the next call waits.
        taken = 0
        while True:
            await pacer.acquire(family)  # the first waits for the window, then the rest
            if len(sleeps) > 1:  # this one had to wait for the window after
                return taken
            taken += 1

    # In the new window: 1 call already answered in it, so 4 more, not 5. (A pacer that
    # lost count of its window could also wait forever: bounded, it fails instead.)
    assert asyncio.run(asyncio.wait_for(scenario(), timeout=30)) == 4


def test_a_wait_is_one_line_in_a_ci_log_while_reading() -> None:
    """Off a terminal the progress display is silent except for pacing waits: one line
    each, naming the family, the wait and the share; the listener ends with the read."""
    from io import StringIO

    from engine.commands_session import reading_progress
    from engine.model import System
    from engine.providers.calls import CallCounter
    from engine.providers.live import Providers

    err = StringIO()
    with OktaProvider(org_url="https://example.okta.com", token="t", env={}) as okta:
        pacer = okta.pacer
        assert pacer is not None
        providers = Providers(calls=CallCounter(), okta=okta)
        with reading_progress(err=err, systems=frozenset({System.OKTA}), providers=providers):
            assert pacer.on_wait is not None
            pacer.on_wait(GROUPS, 41.2)
        assert pacer.on_wait is None
    assert err.getvalue() == (
        "okta: waiting 41 s for the next /api/v1/groups rate-limit window "
        "(okta-aws uses at most 50%)\n"
    )
