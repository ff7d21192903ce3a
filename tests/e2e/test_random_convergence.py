"""Property: any small desired state, from any brownfield world, converges.

Hypothesis draws a desired state and hand-made drift (`random_worlds.py` makes both);
each example resets a sandbox to the brownfield world for that state, applies the drift
through the systems' own APIs, then runs the engine's real providers in process
(`SandboxWorld.running()` and `engine.commands`) against a real Samba AD DC or slapd:
apply → Okta's import → apply (with or without `--prune`) → the re-plan must be empty,
with no change failing and no group duplicated, and the independent observer
(`observer.py`: the YAML and the systems' own APIs, no engine code) must find the live
world equal to the desired one, attribute by attribute, access included. Besides:

- ownership: a role of the desired state held by someone else (untagged, or under
  another owner's value of our tag) blocks the first plan with a conflict naming it and
  is left as it was; listed in `adopt_roles` it is then taken over. A role of another
  owner's that no desired state lists stays untouched, `--prune` or not.
- a provider rename: `saml_provider.name` changed after convergence converges again
  (roles trust the new provider, Okta's role value pattern names it, the old one goes
  with `--prune` and stays without).

Few examples (each is a full sandbox cycle); the shapes stay small on purpose.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from engine.commands import plan_options
from engine.commands_session import execute_plan, observe
from engine.model import System
from engine.plan import FindingKind, Outcome
from engine.providers.live import Connection, connect
from engine.render import render_text
from engine.sandbox.brownfield import LEGACY_ROLE, PILOT_GROUP
from engine.sandbox.directory_servers import DirectoryKind
from engine.sandbox.world import SAMBA_TEMPLATE_DIR, SandboxWorld
from engine.spec import DesiredState
from tests.directory_fixtures import require_directory
from tests.e2e.observer import Leftovers, assert_converged
from tests.e2e.random_worlds import (
    CONFLICTS,
    FOREIGN_POLICY,
    FOREIGN_ROLE,
    FOREIGN_TAGS,
    POLICY_DRIFT_STATE,
    SERVER_FOR_KIND,
    Drift,
    adopting,
    apply_drift,
    conflict_slot,
    desired_states,
    drifts,
    hold_role,
    renamed_provider,
    role_tags,
    without_adoption,
    write_state,
)
from tests.sandbox_iam import iam_client


def converge(world: SandboxWorld, state: DesiredState, *, prune: bool) -> None:
    """apply → Okta imports → apply, then the engine's own re-plan must be empty."""
    options = plan_options(state=state, prune=prune, max_deletions=None, only=frozenset(System))
    connection = Connection(env=dict(os.environ))
    with connect(state=state, systems=frozenset(System), connection=connection) as providers:
        for _ in range(2):
            seen = observe(state=state, providers=providers, options=options, target="sandbox")
            assert not seen.plan.blocked, render_text(seen.plan)
            assert seen.plan.guard is None, seen.plan.guard
            report = execute_plan(
                plan=seen.plan, providers=providers, out=io.StringIO(), state=state
            )
            failed = [r for r in report.results if r.outcome is Outcome.FAILED]
            assert not failed, [(r.change.id, r.message) for r in failed]
            world.import_directory()
        final = observe(state=state, providers=providers, options=options, target="sandbox")
    assert final.plan.empty, render_text(final.plan)


def assert_blocked_by(state: DesiredState, *, prune: bool, slot: tuple[str, str]) -> None:
    """The plan is blocked by a conflict naming the role held by someone else."""
    options = plan_options(state=state, prune=prune, max_deletions=None, only=frozenset(System))
    connection = Connection(env=dict(os.environ))
    with connect(state=state, systems=frozenset(System), connection=connection) as providers:
        seen = observe(state=state, providers=providers, options=options, target="sandbox")
    conflicts = [f for f in seen.plan.findings if f.kind is FindingKind.CONFLICT]
    assert seen.plan.blocked, render_text(seen.plan)
    assert any(f"role {slot[1]} " in f.subject and slot[0] in f.subject for f in conflicts), [
        (f.subject, f.message) for f in conflicts
    ]


# ~5-14 s an example (two applies, a re-plan, the observer's full read; a rename adds as
# much again): a handful locally, 12 in CI (16 took 3 min), plus the explicit examples.
@settings(
    max_examples=12 if os.environ.get("CI") else 5,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@example(
    documents=POLICY_DRIFT_STATE,
    drift=[Drift("aws_detach_policy", 0)],
    prune=True,
    conflict=None,
    rename=False,
)
# Every ownership case and a rename, with --prune (where leaving things alone is hardest).
@example(
    documents=POLICY_DRIFT_STATE,
    drift=[Drift("aws_foreign_role", 1)],
    prune=True,
    conflict="foreign",
    rename=True,
)
@given(
    documents=desired_states(),
    drift=drifts,
    prune=st.booleans(),
    conflict=st.sampled_from((None, *CONFLICTS)),
    rename=st.integers(min_value=0, max_value=3).map(lambda n: n == 0),
)
def test_any_small_desired_state_converges_from_a_drifted_brownfield(
    samba_template: Path,
    documents: dict[str, Any],
    drift: list[Drift],
    prune: bool,
    conflict: str | None,
    rename: bool,
) -> None:
    require_directory(DirectoryKind.LDAP)
    event(f"directory: {documents['settings.yaml']['settings']['directory']['kind']}")
    event(f"conflict: {conflict}, rename: {rename}, prune: {prune}")
    slot = conflict_slot(documents)
    if conflict is not None:
        documents = without_adoption(documents, slot)
    with (
        tempfile.TemporaryDirectory(prefix="okta-aws-e2e-") as tmp,
        pytest.MonkeyPatch.context() as env,
    ):
        root = Path(tmp)
        state = write_state(root, documents)
        world = SandboxWorld(root / ".sandbox")
        # Real servers, as everywhere outside unit tests: Samba for AD, slapd for LDAP.
        server = SERVER_FOR_KIND[documents["settings.yaml"]["settings"]["directory"]["kind"]]
        if server == "samba":
            world.root.mkdir(parents=True)
            (world.root / SAMBA_TEMPLATE_DIR).symlink_to(samba_template, target_is_directory=True)
        world.reset(state=state, directory=server)
        with world.running(directory=server) as ends:
            # The environment a user exports for this world (botocore reads it from os.environ).
            for name, value in ends.env().items():
                env.setenv(name, value)
            env.setenv("AWS_CONFIG_FILE", "/nonexistent/okta-aws-e2e-config")
            env.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/okta-aws-e2e-credentials")
            env.delenv("AWS_PROFILE", raising=False)
            if conflict is not None:
                held = hold_role(ends, slot, conflict)
                assert_blocked_by(state, prune=prune, slot=slot)
                assert role_tags(ends, *slot) == held, "a conflicting role was touched"
                documents = adopting(documents, slot)  # as the finding advises
                state = write_state(root, documents)
            for item in drift:
                apply_drift(ends, state, item)
            foreign = [
                a.id for a in state.accounts if role_tags(ends, a.id, FOREIGN_ROLE) is not None
            ]
            assert foreign or all(d.what != "aws_foreign_role" for d in drift), "not made"
            event(f"a role of another owner's: {bool(foreign)}")
            converge(world, state, prune=prune)
            # The engine's eyes say converged; so must an observer that uses none of it.
            legacy = (state.accounts[0].id, LEGACY_ROLE)
            leftovers = Leftovers(roles=frozenset([legacy]), assignments=frozenset([PILOT_GROUP]))
            assert_converged(
                desired_dir=root / "desired-state", env=ends.env(), prune=prune, leftovers=leftovers
            )
            if rename:
                old = state.settings.saml_provider.name
                state = write_state(root, renamed_provider(documents))
                converge(world, state, prune=prune)
                assert_converged(
                    desired_dir=root / "desired-state",
                    env=ends.env(),
                    prune=prune,
                    leftovers=Leftovers(
                        roles=leftovers.roles,
                        assignments=leftovers.assignments,
                        providers=frozenset([old]),
                    ),
                )
            for account_id in foreign:  # someone else's role: untouched, --prune or not
                iam = iam_client(ends, account_id)
                assert role_tags(ends, account_id, FOREIGN_ROLE) == FOREIGN_TAGS
                attached = iam.list_attached_role_policies(RoleName=FOREIGN_ROLE)
                assert [p["PolicyArn"] for p in attached["AttachedPolicies"]] == [FOREIGN_POLICY]
            names = Counter(
                (g.type.value, g.name.lower()) for g in ends.emulator.state.groups.values()
            )
            assert max(names.values()) == 1, names
