"""Carrying out one AWS change, idempotently, without ever touching what is not ours.

Each function takes the goal (the desired resource, or the one to delete) and
converges the live account to it from whatever it finds *now*, so re-running after a
partial failure or a race finishes the job instead of failing on "already exists".
Outcomes, precisely:

- CREATE: CREATED when we created it. On EntityAlreadyExists it converges the existing
  one instead: UNCHANGED if it is ours and already as desired, UPDATED if it had to be
  corrected (any write at all: tag, metadata, trust policy, settings, policies).
- UPDATE: UNCHANGED or UPDATED as above; CREATED if it vanished since the plan.
- DELETE: DELETED; UNCHANGED if it is already gone (NoSuchEntity at any step).
- A role's managed policies are the desired set exactly: extras are detached.

Ownership is re-checked against live tags before any write (defence in depth: the
diff already refuses): an untagged provider or role is changed only when the desired
entry says `adopt` (it is tagged first), and is never deleted; nor is a resource the
plan itself read as unmanaged. `AwsRefused` is raised instead. Any other failure is an
`AwsError` naming the account and the resource. "Invalid principal" right after the
SAML provider was created (IAM's eventual consistency) is retried with bounded waits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from engine.model import Role, SamlProvider, metadata_digest
from engine.plan import Outcome
from engine.providers.aws_clients import AwsError, AwsRefused, describe_error, error_code
from engine.providers.aws_read import is_managed, policy_text

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

T = TypeVar("T")

# IAM is eventually consistent: a role trusting a provider created a moment ago can be
# refused with this. Retrying shortly after succeeds (docs/facts.md §AWS IAM).
DEFAULT_CONSISTENCY_DELAYS = (1.0, 2.0, 4.0, 8.0)


def is_invalid_principal(exc: ClientError) -> bool:
    message = str(exc.response.get("Error", {}).get("Message", "")).lower()
    return error_code(exc) == "MalformedPolicyDocument" and "invalid principal" in message


@dataclass(frozen=True)
class IamTarget:
    """Where and how to execute: one account's client and the run's settings."""

    iam: IAMClient
    account_id: str
    managed_tag: tuple[str, str]
    consistency_delays: Sequence[float] = DEFAULT_CONSISTENCY_DELAYS
    sleep: Callable[[float], None] = time.sleep

    @property
    def tags(self) -> list[Any]:
        return [{"Key": self.managed_tag[0], "Value": self.managed_tag[1]}]

    def call(self, what: str, operation: Callable[[], T], *, consistency: bool = False) -> T:
        """Run one IAM call; unexpected errors become AwsError naming account and what."""
        delays = list(self.consistency_delays) if consistency else []
        while True:
            try:
                return operation()
            except ClientError as exc:
                if delays and is_invalid_principal(exc):
                    self.sleep(delays.pop(0))
                    continue
                raise
            except Exception as exc:  # transport failures: say where
                raise AwsError(
                    f"account {self.account_id}: {what}: {describe_error(exc)}",
                    account_id=self.account_id,
                ) from exc

    def fail(self, what: str, exc: ClientError) -> AwsError:
        return AwsError(
            f"account {self.account_id}: {what}: {describe_error(exc)}", account_id=self.account_id
        )


def _absent(exc: ClientError) -> bool:
    return error_code(exc) == "NoSuchEntity"


def _exists(exc: ClientError) -> bool:
    return error_code(exc) == "EntityAlreadyExists"


def _unless_absent(t: IamTarget, what: str, operation: Callable[[], T]) -> T | None:
    """What `operation` returns, or None when IAM has no such entity (NoSuchEntity)."""
    try:
        return t.call(what, operation)
    except ClientError as exc:
        if not _absent(exc):
            raise
        return None


def _ran(t: IamTarget, what: str, operation: Callable[[], object]) -> bool:
    """Run `operation`; False when IAM has no such entity (so nothing was done)."""
    return _unless_absent(t, what, lambda: operation() or True) is not None


def _untagged(t: IamTarget, what: str) -> AwsRefused:
    return AwsRefused(
        f"account {t.account_id}: {what} exists without the managed tag "
        f"{t.managed_tag[0]}={t.managed_tag[1]}; not changing it (adopt it to take over)",
        account_id=t.account_id,
    )


def _ensure(
    t: IamTarget,
    *,
    what: str,
    create_first: bool,
    create: Callable[[], None],
    read: Callable[[], Any],
    converge: Callable[[Any], Outcome],
) -> Outcome:
    """Create it, or converge the one that exists: creating first when the plan says it
    is new (a name taken since falls back to converging), reading first otherwise (one
    gone since is created)."""
    try:
        if create_first:
            try:
                create()
                return Outcome.CREATED
            except ClientError as exc:
                if not _exists(exc):
                    raise
        live = _unless_absent(t, f"read {what}", read)
        if live is None:
            create()
            return Outcome.CREATED
        return converge(live)
    except ClientError as exc:
        raise t.fail(what, exc) from exc


def _delete(
    t: IamTarget,
    *,
    what: str,
    managed: bool,
    read: Callable[[], Any],
    remove: Callable[[Any], bool],
) -> Outcome:
    """Delete it when it is ours by the plan and by its live tag (`remove` is False when
    it went meanwhile); it already gone is UNCHANGED."""
    try:
        live = _unless_absent(t, what, read)
        if live is None:
            return Outcome.UNCHANGED
        if not managed or not is_managed(live.get("Tags"), t.managed_tag):
            raise AwsRefused(
                f"account {t.account_id}: refusing to {what}: it has no managed tag",
                account_id=t.account_id,
            )
        return Outcome.DELETED if remove(live) else Outcome.UNCHANGED
    except ClientError as exc:
        raise t.fail(what, exc) from exc


# --- SAML providers ------------------------------------------------------------------


def _create_provider(t: IamTarget, provider: SamlProvider) -> None:
    t.call(
        f"create saml-provider {provider.name}",
        lambda: t.iam.create_saml_provider(
            Name=provider.name, SAMLMetadataDocument=provider.metadata, Tags=t.tags
        ),
    )


def ensure_provider(t: IamTarget, provider: SamlProvider, *, create_first: bool) -> Outcome:
    what = f"saml-provider {provider.name}"
    if not provider.metadata.strip():
        raise AwsError(f"account {t.account_id}: {what}: no metadata document to write")

    def converge(live: Any) -> Outcome:
        ours = is_managed(live.get("Tags"), t.managed_tag)
        if not ours and not provider.adopt:
            raise _untagged(t, what)
        changed = False
        if not ours:
            t.call(
                f"tag {what}",
                lambda: t.iam.tag_saml_provider(SAMLProviderArn=provider.arn, Tags=t.tags),
            )
            changed = True
        if metadata_digest(live.get("SAMLMetadataDocument", "")) != provider.metadata_sha256:
            t.call(
                f"update {what}",
                lambda: t.iam.update_saml_provider(
                    SAMLProviderArn=provider.arn, SAMLMetadataDocument=provider.metadata
                ),
            )
            changed = True
        return Outcome.UPDATED if changed else Outcome.UNCHANGED

    return _ensure(
        t,
        what=what,
        create_first=create_first,
        create=lambda: _create_provider(t, provider),
        read=lambda: t.iam.get_saml_provider(SAMLProviderArn=provider.arn),
        converge=converge,
    )


def delete_provider(t: IamTarget, provider: SamlProvider) -> Outcome:
    what = f"delete saml-provider {provider.name}"
    return _delete(
        t,
        what=what,
        managed=provider.managed,
        read=lambda: t.iam.get_saml_provider(SAMLProviderArn=provider.arn),
        remove=lambda _: _ran(
            t, what, lambda: t.iam.delete_saml_provider(SAMLProviderArn=provider.arn)
        ),
    )


# --- Roles ---------------------------------------------------------------------------


def _attached(t: IamTarget, name: str) -> set[str]:
    arns: set[str] = set()
    for page in t.iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
        arns.update(p["PolicyArn"] for p in page.get("AttachedPolicies", []))
    return arns


def _inline_policies(t: IamTarget, name: str) -> list[str]:
    paginator = t.iam.get_paginator("list_role_policies")
    return [p for page in paginator.paginate(RoleName=name) for p in page.get("PolicyNames", [])]


def _instance_profiles(t: IamTarget, name: str) -> list[str]:
    paginator = t.iam.get_paginator("list_instance_profiles_for_role")
    return [
        profile["InstanceProfileName"]
        for page in paginator.paginate(RoleName=name)
        for profile in page.get("InstanceProfiles", [])
    ]


def _create_role(t: IamTarget, role: Role) -> None:
    extra: dict[str, Any] = {"Description": role.description} if role.description else {}
    t.call(
        f"create role {role.name}",
        lambda: t.iam.create_role(
            RoleName=role.name,
            AssumeRolePolicyDocument=role.trust_policy,
            MaxSessionDuration=role.max_session_duration,
            Tags=t.tags,
            **extra,
        ),
        consistency=True,
    )
    for arn in sorted(role.managed_policies):
        t.call(
            f"attach {arn} to role {role.name}",
            partial(t.iam.attach_role_policy, RoleName=role.name, PolicyArn=arn),
        )


def _converge_role(t: IamTarget, role: Role, live: Any) -> Outcome:
    name = str(live.get("RoleName", role.name))  # IAM matches names ignoring case
    changed = False
    if not is_managed(live.get("Tags"), t.managed_tag):
        if not role.adopt:
            raise _untagged(t, f"role {name}")
        # Tag first: should a later step fail, the role is already ours and the next
        # plan shows plain drift rather than a conflict.
        t.call(f"tag role {name}", lambda: t.iam.tag_role(RoleName=name, Tags=t.tags))
        changed = True
    if policy_text(live.get("AssumeRolePolicyDocument") or {}) != role.trust_policy:
        t.call(
            f"update trust policy of role {name}",
            lambda: t.iam.update_assume_role_policy(
                RoleName=name, PolicyDocument=role.trust_policy
            ),
            consistency=True,
        )
        changed = True
    live_max = int(live.get("MaxSessionDuration") or 3600)
    if live_max != role.max_session_duration or live.get("Description", "") != role.description:
        # Both always: UpdateRole implementations disagree on what an omitted field means.
        t.call(
            f"update role {name}",
            lambda: t.iam.update_role(
                RoleName=name,
                Description=role.description,
                MaxSessionDuration=role.max_session_duration,
            ),
        )
        changed = True
    attached = t.call(f"list policies of role {name}", lambda: _attached(t, name))
    for arn in sorted(role.managed_policies - attached):
        t.call(
            f"attach {arn} to role {name}",
            partial(t.iam.attach_role_policy, RoleName=name, PolicyArn=arn),
        )
        changed = True
    for arn in sorted(attached - role.managed_policies):
        detach = partial(t.iam.detach_role_policy, RoleName=name, PolicyArn=arn)
        changed = _ran(t, f"detach {arn} from role {name}", detach) or changed
    return Outcome.UPDATED if changed else Outcome.UNCHANGED


def ensure_role(t: IamTarget, role: Role, *, create_first: bool) -> Outcome:
    return _ensure(
        t,
        what=f"role {role.name}",
        create_first=create_first,
        create=lambda: _create_role(t, role),
        read=lambda: t.iam.get_role(RoleName=role.name)["Role"],
        converge=lambda live: _converge_role(t, role, live),
    )


def delete_role(t: IamTarget, role: Role) -> Outcome:
    what = f"delete role {role.name}"
    iam = t.iam

    def remove(live: Any) -> bool:
        name = str(live["RoleName"])
        # IAM refuses to delete a role with anything attached (DeleteConflict).
        for arn in sorted(t.call(what, lambda: _attached(t, name))):
            _ran(t, what, partial(iam.detach_role_policy, RoleName=name, PolicyArn=arn))
        for policy in t.call(what, lambda: _inline_policies(t, name)):
            _ran(t, what, partial(iam.delete_role_policy, RoleName=name, PolicyName=policy))
        for profile in t.call(what, lambda: _instance_profiles(t, name)):
            _ran(
                t,
                what,
                partial(
                    iam.remove_role_from_instance_profile,
                    InstanceProfileName=profile,
                    RoleName=name,
                ),
            )
        return _ran(t, what, lambda: iam.delete_role(RoleName=name))

    return _delete(
        t,
        what=what,
        managed=role.managed,
        read=lambda: iam.get_role(RoleName=role.name)["Role"],
        remove=remove,
    )
