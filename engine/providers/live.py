"""Read the whole live world at once: the three providers, concurrently, as one `World`.

Commands need the same thing from every target: providers connected (from the
environment for `live`, from the embedded world for `sandbox`), a read of the systems
in scope merged into one normalized world, and every read problem turned into a
blocking finding — a system that could not be read completely is left out of the
world's `systems`, so nothing is ever planned from half a picture.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from engine.apply import Executor, SystemRead
from engine.compile import with_role_group_sources
from engine.model import DirectoryKind, System, World
from engine.plan import Finding, FindingKind
from engine.providers.aws import AwsProvider
from engine.providers.calls import CallCounter
from engine.providers.directory import DirectoryError, DirectoryProvider
from engine.providers.directory_ldap import ConnectionFactory
from engine.providers.okta import OktaError, OktaProvider
from engine.providers.okta_cache import default_cache_dir
from engine.spec import DesiredState


class ConnectionProblem(Exception):
    """A system is not configured or cannot be reached; the message names it and why."""


@dataclass(frozen=True)
class Connection:
    """How to reach the three systems; `env` stands in for os.environ (tests, sandbox)."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    ldap_connection_factory: ConnectionFactory | None = None  # the sandbox's in-process mock
    aws_max_attempts: int = 5
    okta_full_read: bool = False  # --full-read: every member list, not the read cache
    # Where the Okta read cache lives (None: OKTA_AWS_CACHE_DIR / XDG / ~/.cache); the
    # sandbox keeps its own inside .sandbox/, its throwaway org never in the user's home.
    okta_cache_dir: Path | None = None


@dataclass
class Providers:
    """Connected providers for the systems in scope (None for systems out of scope)."""

    calls: CallCounter
    aws: AwsProvider | None = None
    directory: DirectoryProvider | None = None
    okta: OktaProvider | None = None

    def executors(self) -> dict[System, Executor]:
        found: dict[System, Executor] = {}
        if self.aws is not None:
            found[System.AWS] = self.aws
        if self.directory is not None:
            found[System.DIRECTORY] = self.directory
        if self.okta is not None:
            found[System.OKTA] = self.okta
        return found


@contextmanager
def connect(
    *, state: DesiredState, systems: frozenset[System], connection: Connection
) -> Iterator[Providers]:
    """Providers for `systems`, closed on exit.

    Raises `ConnectionProblem` (naming the system and the variable) when a system in scope
    is not configured or its settings are malformed; nothing else escapes for bad input."""
    settings = state.settings
    calls = CallCounter()
    providers = Providers(calls=calls)
    with ExitStack() as stack:
        if System.AWS in systems:
            providers.aws = AwsProvider(
                access_role=settings.aws.access_role,
                managed_tag=settings.aws.managed_tag,
                concurrency=settings.aws.concurrency,
                max_attempts=_positive_int(
                    connection.env, "AWS_MAX_ATTEMPTS", connection.aws_max_attempts
                ),
                session=_aws_session(connection.env),
                calls=calls,
            )
        kind = settings.directory.kind
        if System.DIRECTORY in systems and kind is not DirectoryKind.OKTA:
            try:
                directory = DirectoryProvider.from_env(
                    directory=settings.directory,
                    env=connection.env,
                    connection_factory=connection.ldap_connection_factory,
                    calls=calls,
                )
            except DirectoryError as exc:
                raise ConnectionProblem(f"directory: {exc}") from exc
            providers.directory = stack.enter_context(directory)
        if System.OKTA in systems:
            try:
                okta = OktaProvider(
                    env=connection.env,
                    calls=calls,
                    app_label=settings.okta.app_label,
                    # The read cache and the pacing (README: Okta's budget).
                    cache_dir=connection.okta_cache_dir or default_cache_dir(connection.env),
                    cache_max_age=float(settings.okta.read_cache_max_age),
                    full_read=connection.okta_full_read,
                    rate_limit_share=settings.okta.rate_limit_share,
                )
            except OktaError as exc:
                raise ConnectionProblem(f"okta: {exc}") from exc
            providers.okta = stack.enter_context(okta)
        yield providers


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    """An operator's override from the environment (botocore's own AWS_MAX_ATTEMPTS
    counts attempts, the first included, as ours does)."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConnectionProblem(f"{name}={raw!r} is not a whole number ≥ 1")
    return int(raw)


def _aws_session(env: Mapping[str, str]) -> boto3.Session:
    """A boto3 session from `env` (explicit keys, else a profile, else the default chain)."""
    return boto3.Session(
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
        region_name=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or "us-east-1",
        profile_name=env.get("AWS_PROFILE") or None,
    )


@dataclass(frozen=True)
class LiveRead:
    world: World
    findings: tuple[Finding, ...] = ()
    metadata: str | None = None  # the Okta app's IdP metadata, when the spec names no file

    @property
    def complete(self) -> bool:
        return not any(f.kind is FindingKind.READ_ERROR for f in self.findings)


def _missing_user_findings(state: DesiredState, missing: frozenset[str]) -> list[Finding]:
    findings = []
    for group in state.management_groups:
        for index, login in enumerate(group.members or ()):
            if login.lower() in missing:
                findings.append(
                    Finding(
                        FindingKind.MISSING_USER,
                        System.DIRECTORY,
                        f"user {login}",
                        f"{group.member_loc(index)}: {login!r} (a member of {group.name!r}) "
                        "does not exist in the directory",
                    )
                )
    return findings


def missing_group_findings(state: DesiredState, world: World) -> list[Finding]:
    """Kind okta: management groups left to their owners (members omitted) that Okta
    does not have. Their members cannot be read, so the grant would reach nobody (and
    creating the group empty would only hide that): blocking, at the group's file:line."""
    if state.settings.directory.kind is not DirectoryKind.OKTA or System.OKTA not in world.systems:
        return []
    source = DirectoryKind.OKTA.okta_source
    return [
        Finding(
            FindingKind.MISSING_GROUP,
            System.OKTA,
            f"okta group {group.name}",
            f"{group.loc}: {group.name!r} leaves its members to their owners (members "
            "omitted) but Okta has no such group, so its members cannot be read; create "
            "it in Okta, or list its members in the desired state",
        )
        for group in state.management_groups
        if group.members is None and (source, group.name.lower()) not in world.okta_groups
    ]


def read_live(
    *,
    state: DesiredState,
    desired: World,
    providers: Providers,
    on_read: Callable[[System], None] | None = None,
) -> LiveRead:
    """Read every connected provider concurrently and merge the parts into one World.

    `on_read` is told as each system's read finishes (progress display)."""
    settings = state.settings
    adopted = [g.dn for g in desired.directory_groups.values() if g.adopted]
    logins = sorted(
        {login for g in desired.directory_groups.values() for login in g.member_users or ()}
    )
    group_filter = desired.okta_app.settings.group_filter if desired.okta_app else ""

    def part(result: SystemRead) -> tuple[World, list[Finding]]:
        return result.to_world(), list(result.findings())

    def read_aws() -> tuple[World, list[Finding]]:
        assert providers.aws is not None
        return part(providers.aws.read(accounts=sorted(desired.accounts)))

    def read_directory() -> tuple[World, list[Finding]]:
        assert providers.directory is not None
        result = providers.directory.read(
            adopted_dns=adopted, logins=logins, group_filter=group_filter
        )
        world, findings = part(result)
        return world, findings + _missing_user_findings(state, result.missing_logins)

    def read_okta() -> tuple[World, list[Finding]]:
        assert providers.okta is not None
        # A missing app is not among the findings: it is the diff's to report.
        world, findings = part(
            providers.okta.read_for(desired=desired, role_group_name=settings.role_group_name)
        )
        if settings.directory.kind is not DirectoryKind.OKTA:
            world = directory_logins(world)
        return world, findings

    jobs: list[tuple[System, Callable[[], tuple[World, list[Finding]]]]] = []
    if providers.aws is not None:
        jobs.append((System.AWS, read_aws))
    if providers.directory is not None:
        jobs.append((System.DIRECTORY, read_directory))
    if providers.okta is not None:
        jobs.append((System.OKTA, read_okta))

    def run(
        job: tuple[System, Callable[[], tuple[World, list[Finding]]]],
    ) -> tuple[World, list[Finding]]:
        system, read = job
        part = read()
        if on_read is not None:
            on_read(system)
        return part

    with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        parts = list(pool.map(run, jobs))
    world = merge_worlds([w for w, _ in parts])
    if settings.directory.kind is DirectoryKind.OKTA and System.OKTA in world.systems:
        # There is no directory to read: Okta's groups are the directory.
        world = dataclasses.replace(world, systems=world.systems | {System.DIRECTORY})
    world = dataclasses.replace(
        with_role_group_sources(live=world, desired=desired),
        account_aliases=dict(desired.account_aliases),
        directory_kind=settings.directory.kind,
    )
    findings = (
        *(f for _, part in parts for f in part),
        *missing_group_findings(state, world),
    )
    metadata = None
    needs_metadata = settings.saml_provider.metadata is None
    if needs_metadata and providers.okta is not None and world.okta_app is not None:
        metadata = providers.okta.idp_metadata(app_id=world.okta_app.id)
    return LiveRead(world=world, findings=findings, metadata=metadata)


def directory_logins(world: World) -> World:
    """Okta logins of directory-imported users as the directory knows them.

    Okta's AD/LDAP agents import users with their UPN or mail as Okta login
    (`alice@example.test`) while the directory and the desired state name them by
    sAMAccountName/uid (`alice`); people are compared by that local part, lower-cased.
    """
    groups = {
        key: dataclasses.replace(
            group,
            members=None
            if group.members is None
            else frozenset(m.split("@", 1)[0].lower() for m in group.members),
        )
        for key, group in world.okta_groups.items()
    }
    return dataclasses.replace(world, okta_groups=groups)


def merge_worlds(parts: list[World]) -> World:
    """One world from per-system parts; each part holds only its own systems' data."""
    merged = World.build(systems=())
    for part in parts:
        merged = dataclasses.replace(
            merged,
            saml_providers={**merged.saml_providers, **part.saml_providers},
            roles={**merged.roles, **part.roles},
            directory_groups={**merged.directory_groups, **part.directory_groups},
            directory_users={**merged.directory_users, **part.directory_users},
            okta_app=part.okta_app or merged.okta_app,
            okta_groups={**merged.okta_groups, **part.okta_groups},
            app_assignments={**merged.app_assignments, **part.app_assignments},
            accounts=merged.accounts | part.accounts,
            systems=merged.systems | part.systems,
        )
    return merged
