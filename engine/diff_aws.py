"""The AWS part of the diff: SAML providers and roles, account by account.

Ownership in AWS is the managed tag and nothing else (there is no state file): a tagged
resource is ours, an untagged one with a desired name is a conflict unless the entry
says `adopt`, and every other untagged resource is invisible to us. Only accounts the
desired state lists are looked at, so an account dropped from the desired state is left
exactly as it is rather than emptied; and only accounts that were read (`live.accounts`):
an account whose read failed would otherwise look empty, and the plan would recreate
what is already there. Nothing is planned for it; a blocking finding says so.

Pure: no I/O, no globals.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from engine.diff_common import DiffContext, attribute_details
from engine.model import Role, SamlProvider, System, normalize_policy, trusted_saml_providers
from engine.naming import saml_provider_arn
from engine.plan import Action, FindingKind, Reason, ResourceKind, change_id, reason_args

_MAKES = (Action.CREATE, Action.UPDATE)
_NAMED = 5  # unread accounts named in a finding; the rest are counted


def _account(ctx: DiffContext, account_id: str) -> str:
    alias = ctx.desired.account_aliases.get(account_id) or ctx.live.account_aliases.get(account_id)
    return f"{alias} ({account_id})" if alias else account_id


def _role_attributes(have: Role, want: Role) -> tuple[dict[str, Any], dict[str, Any]]:
    """What is compared of two roles. Trust policies spelled differently (order, single
    item vs list) are normalized again, in case a reader did not: equal must not differ."""
    old, new = have.attributes(), want.attributes()
    if have.trust_policy != want.trust_policy:
        old["trust_policy"] = json.loads(normalize_policy(have.trust_policy))
        new["trust_policy"] = json.loads(normalize_policy(want.trust_policy))
    return old, new


def diff_aws(ctx: DiffContext) -> None:
    """Plan SAML providers first, then roles (which depend on their account's provider),
    then the removal of providers no longer desired (which depends on the roles)."""
    accounts = ctx.desired.accounts & ctx.live.accounts
    unread = sorted(ctx.desired.accounts - ctx.live.accounts)
    if unread:
        # One finding for all of them: the read names each account and why already.
        shown = ", ".join(_account(ctx, a) for a in unread[:_NAMED])
        more = f" and {len(unread) - _NAMED} more" if len(unread) > _NAMED else ""
        one = len(unread) == 1
        ctx.finding(
            FindingKind.READ_ERROR,
            System.AWS,
            f"account{'' if one else 's'} {shown}{more}",
            f"not read, so nothing is planned for {'it' if one else 'them'} (what is "
            "there would look missing and be created again); fix the read and plan again",
        )
    _diff_providers(ctx, accounts)
    _diff_roles(ctx, accounts)
    _prune_providers(ctx, accounts)


def _in_accounts(items: Iterable[Any], accounts: frozenset[str]) -> dict[Any, Any]:
    return {item.key: item for item in items if item.account_id in accounts}


def _diff_providers(ctx: DiffContext, accounts: frozenset[str]) -> None:
    desired = _in_accounts(ctx.desired.saml_providers.values(), accounts)
    live = _in_accounts(ctx.live.saml_providers.values(), accounts)
    for key in sorted(desired.keys() | live.keys()):
        want: SamlProvider | None = desired.get(key)
        have: SamlProvider | None = live.get(key)
        subject = f"saml-provider {key[1]} in {_account(ctx, key[0])}"
        if want is None:
            continue  # removals are planned after the roles: see _prune_providers
        if have is None:
            ctx.create(ResourceKind.SAML_PROVIDER, key, want, reason=Reason.PROVIDER_NEEDED)
            continue
        details = attribute_details(have.attributes(), want.attributes())
        advice = "Set saml_provider.adopt: true to take it over, or remove it by hand"
        adopting = _adopting(ctx, have, want, subject=subject, advice=advice)
        if adopting is None or not (adopting or details):
            continue
        reason = Reason.ADOPT if adopting else Reason.METADATA_DIFFERS
        ctx.update(ResourceKind.SAML_PROVIDER, key, have, want, details=details, reason=reason)


def _adopting(
    ctx: DiffContext,
    have: SamlProvider | Role,
    want: SamlProvider | Role,
    *,
    subject: str,
    advice: str,
) -> bool | None:
    """Whether the plan takes over `have`, untagged (True), or it is ours already
    (False); None when it is neither ours nor to be adopted: a conflict, reported, and
    nothing is planned for it."""
    if have.managed:
        return False
    if want.adopt:
        return True
    ctx.finding(
        FindingKind.CONFLICT,
        System.AWS,
        subject,
        f"exists without the managed tag; okta-aws will not change it. {advice}",
    )
    return None


def _prune_providers(ctx: DiffContext, accounts: frozenset[str]) -> None:
    """Remove our providers the desired state no longer has (a renamed
    `saml_provider.name` leaves the old one behind), but never one a role that stays
    still trusts. `diff` makes the removal wait for every role change of the account."""
    desired = _in_accounts(ctx.desired.saml_providers.values(), accounts)
    live = _in_accounts(ctx.live.saml_providers.values(), accounts)
    for key in sorted(live.keys() - desired.keys()):
        have: SamlProvider = live[key]
        if not have.managed:
            continue
        subject = f"saml-provider {have.name} in {_account(ctx, have.account_id)}"
        arn = saml_provider_arn(account_id=have.account_id, name=have.name)
        trusting = [
            role
            for role in ctx.live.roles.values()
            if role.account_id == have.account_id
            and arn in trusted_saml_providers(normalize_policy(role.trust_policy))
        ]
        staying = sorted(r.name for r in trusting if not _moves_off(ctx, r))
        if staying:
            ctx.finding(
                FindingKind.PRUNE_SKIPPED,
                System.AWS,
                subject,
                "no longer in the desired state, but still trusted by role(s) okta-aws "
                f"keeps: {', '.join(staying)}; deleting it would lock them out",
            )
            continue
        ctx.delete_or_skip(ResourceKind.SAML_PROVIDER, key, have, name=have.name, subject=subject)


def _moves_off(ctx: DiffContext, role: Role) -> bool:
    """Whether this plan stops `role` trusting what it trusts now: it is desired (its
    trust is rewritten) or ours and pruned."""
    want = ctx.desired.roles.get(role.key)
    if want is not None:
        return role.managed or want.adopt
    return role.managed and ctx.options.prune and not ctx.protection.keeps_role(role)


def _role_update_is_destructive(have: Role, want: Role) -> bool:
    """Removing a policy or a trusted provider takes access away: it counts as a deletion."""
    if have.managed_policies - want.managed_policies:
        return True
    old = trusted_saml_providers(normalize_policy(have.trust_policy))
    new = trusted_saml_providers(normalize_policy(want.trust_policy))
    return bool(old - new)


def _diff_roles(ctx: DiffContext, accounts: frozenset[str]) -> None:
    desired = _in_accounts(ctx.desired.roles.values(), accounts)
    live = _in_accounts(ctx.live.roles.values(), accounts)
    providers = {p.account_id: p for p in ctx.desired.saml_providers.values()}
    for key in sorted(desired.keys() | live.keys()):
        want: Role | None = desired.get(key)
        have: Role | None = live.get(key)
        some = want if want is not None else have
        assert some is not None
        subject = f"role {some.name} in {_account(ctx, key[0])}"
        if want is None:
            assert have is not None
            if have.managed:
                # Dependencies on the front door's removals are added by `diff` once
                # every system is planned.
                ctx.delete_or_skip(ResourceKind.ROLE, key, have, name=have.name, subject=subject)
            continue
        provider = providers.get(key[0])
        provider_dep = (
            ctx.existing(*(change_id(ResourceKind.SAML_PROVIDER, provider.key, a) for a in _MAKES))
            if provider is not None
            else ()
        )
        if have is None:
            reason = Reason.IN_DESIRED_STATE
            ctx.create(ResourceKind.ROLE, key, want, reason=reason, depends_on=provider_dep)
            continue
        details = attribute_details(*_role_attributes(have, want))
        advice = (
            f"Add adopt: true to the role (or {want.name} to the account's adopt_roles) to "
            "take it over, or rename/remove it by hand"
        )
        adopting = _adopting(ctx, have, want, subject=subject, advice=advice)
        if adopting is None or not (adopting or details):
            continue
        names = tuple(dict.fromkeys(d.path.split(".")[0].split("[")[0] for d in details))
        ctx.update(
            ResourceKind.ROLE,
            key,
            have,
            want,
            details=details,
            destructive=_role_update_is_destructive(have, want),
            reason=Reason.ADOPT if adopting else Reason.ATTRIBUTES_DIFFER,
            args=reason_args() if adopting else reason_args(attributes=names),
            depends_on=provider_dep,
        )
