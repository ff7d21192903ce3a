"""An independent observer: is the live world the desired one, attribute by attribute?

An empty re-plan only says the engine sees no difference; a bug in the engine's read or
diff path (say, `diff_aws` ignoring managed policies) hides from its own re-plan. So
the end-to-end tests judge convergence with nothing of the engine's: the expectation is
derived from the desired-state YAML (`tests/observer_expect.py`), the live world is read
with plain boto3, ldap3 and raw HTTP against Okta's REST API (`observer_reads.py`), and
the two are compared attribute by attribute, access included (`tests/observer_judge.py`,
which lists what is checked). It imports no engine module.

Cost: one pass of reads (a few hundred local requests), so every end-to-end test can
afford it at its end.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tests.e2e.observer_reads import read_aws, read_directory, read_okta
from tests.observer_expect import (
    expected_trust,
    okta_regex,
    policy_meaning,
    read_desired,
)
from tests.observer_judge import NO_LEFTOVERS, Leftovers, judge

__all__ = [
    "Leftovers",
    "assert_converged",
    "differences",
    "expected_trust",
    "okta_regex",
    "policy_meaning",
    "read_desired",
]


def differences(
    *,
    desired_dir: Path,
    env: Mapping[str, str],
    prune: bool = False,
    leftovers: Leftovers = NO_LEFTOVERS,
) -> list[str]:
    """Every way the live world differs from the desired one (empty: converged)."""
    want = read_desired(desired_dir)
    settings = want.settings
    okta = read_okta(
        env,
        app_label=settings["okta"]["app_label"],
        wanted_names=set(want.role_group_names.values()) | {g.name for g in want.groups},
    )
    aws = read_aws(env, settings["aws"]["access_role"], sorted(want.aliases))
    directory = None
    if want.kind != "okta":
        spec = settings["directory"]
        directory = read_directory(
            env,
            users_base=spec["users_base"],
            kind=want.kind,
            member_of_under=[spec["management_groups_ou"]] + [g.dn for g in want.groups if g.dn],
        )
    return judge(
        want=want, aws=aws, directory=directory, okta=okta, prune=prune, leftovers=leftovers
    )


def assert_converged(
    *,
    desired_dir: Path,
    env: Mapping[str, str],
    prune: bool = False,
    leftovers: Leftovers = NO_LEFTOVERS,
) -> None:
    """Fail with every difference between the live world and `desired_dir`'s YAML."""
    found = differences(desired_dir=desired_dir, env=env, prune=prune, leftovers=leftovers)
    assert not found, "the live world is not the desired one:\n  " + "\n  ".join(found)
