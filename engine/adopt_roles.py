"""`import`, roles: the catalogue from IAM, and the role groups' description template.

The model defines a role once (policies, session length, description) and compiles the
same definition, with the SAML trust, into every account that lists it. So a live role
is importable only if its trust is exactly that SAML trust and it has no inline
policy; identical definitions across accounts become one catalogue entry. Where
definitions of one IAM role name differ, the most common keeps the plain name and each
other one becomes its own entry, named for what differs (`variant_name`: `Admin-12h`)
with `iam_name: Admin`, each account listing the entry its live role matches: never
merged silently, never left out. Pure.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections import Counter, defaultdict

from engine.adopt_discover import most_common
from engine.adopt_model import Effect, Findings, RoleEntry, Slot
from engine.compile import DEFAULT_ROLE_GROUP_DESCRIPTION
from engine.model import Role, World, saml_trust_policy, trusted_saml_providers
from engine.naming import render_description, saml_provider_arn

Definition = tuple[tuple[str, ...], int, str]
"""(managed policies, max session duration, description): what the catalogue holds."""

MAX_ROLE_NAME = 64  # IAM's limit, and the catalogue key's (the schema's roleName)


def definition(role: Role) -> Definition:
    return (tuple(sorted(role.managed_policies)), role.max_session_duration, role.description)


def _differences(have: Definition, want: Definition) -> str:
    names = ("managed policies", "max_session_duration", "description")
    return ", ".join(n for n, a, b in zip(names, have, want, strict=True) if a != b)


def variant_name(name: str, this: Definition, chosen: Definition, taken: set[str]) -> str:
    """The catalogue key of a second definition of IAM role `name`: the name and what
    differs from the most common definition, `Admin-12h` (a session of 12 hours, else
    `-5400s`), `Admin-policies`, `Admin-description`, joined when several differ
    (`Admin-policies-12h`); `-2`, `-3`… when that key is taken. At most 64 characters
    (an IAM role name's limit; the name is shortened)."""
    parts = []
    if this[0] != chosen[0]:
        parts.append("policies")
    if this[1] != chosen[1]:
        session = this[1]
        parts.append(f"{session // 3600}h" if session % 3600 == 0 else f"{session}s")
    if this[2] != chosen[2]:
        parts.append("description")
    suffix = "-".join(parts)
    for number in itertools.count(1):
        tail = suffix if number == 1 else f"{suffix}-{number}"
        candidate = f"{name[: MAX_ROLE_NAME - len(tail) - 1]}-{tail}"
        if candidate.lower() not in taken:
            return candidate
    raise AssertionError("unreachable: itertools.count is endless")


def adopt_roles(
    *,
    world: World,
    slots: list[Slot],
    provider: str,
    found: Findings,
) -> tuple[tuple[RoleEntry, ...], list[Slot], dict[str, list[str]]]:
    """(catalogue, the slots kept, account id → roles to adopt there)."""
    usable: list[tuple[Slot, Role]] = []
    for slot in slots:
        role = world.roles.get((slot.account_id, slot.role.lower()))
        subject = f"role {slot.role} in {slot.account_id}"
        if role is None or role.name != slot.role:
            found.add(
                Effect.LEFT_OUT,
                subject,
                f"role group {slot.group_name} names it, but the account has no such role "
                "(importing it would create one)",
            )
            continue
        trust = saml_trust_policy(account_id=slot.account_id, provider_name=provider)
        if role.trust_policy != trust:
            found.add(
                Effect.LEFT_OUT,
                subject,
                f"its trust policy is not the SAML trust of provider {provider!r} that the "
                "model writes (importing it would rewrite who may assume it)",
            )
            continue
        inline = sorted(role.inline_policies)
        if inline:
            found.add(
                Effect.LEFT_OUT,
                subject,
                f"has inline policies ({', '.join(inline)}), which the model cannot express "
                "(importing it would keep them unseen)",
            )
            continue
        usable.append((slot, role))
    _unclaimed_roles(world=world, slots=slots, provider=provider, found=found)

    by_name: dict[str, list[tuple[Slot, Role]]] = defaultdict(list)
    for slot, role in usable:
        by_name[role.name].append((slot, role))
    catalogue: list[RoleEntry] = []
    kept: list[Slot] = []
    adopt_by_account: dict[str, list[str]] = defaultdict(list)
    taken = {name.lower() for name in by_name}
    for name in sorted(by_name):
        members = by_name[name]
        counts = Counter(definition(r) for _, r in members)
        ordered = sorted(counts, key=lambda d: (-counts[d], repr(d)))
        chosen = ordered[0]
        for index, this in enumerate(ordered):
            entry = name if index == 0 else variant_name(name, this, chosen, taken)
            taken.add(entry.lower())
            same = [(s, r) for s, r in members if definition(r) == this]
            untagged = [s for s, r in same if not r.managed]
            all_adopted = len(untagged) == len(same)
            for slot in untagged:
                found.add(
                    Effect.ADOPTED,
                    f"role {name} in {slot.account_id}",
                    "untagged: imported with adopt (the plan tags it as ours)",
                )
                if not all_adopted:
                    adopt_by_account[slot.account_id].append(entry)
            comment = ""
            if index:
                differs = _differences(this, chosen)
                comment = (
                    f"IAM role {name} as {len(same)} account(s) define it (other {differs} "
                    f"than entry {name!r}, {counts[chosen]} account(s))."
                )
                found.add(
                    Effect.NOTE,
                    f"role {name}",
                    f"{len(same)} account(s) define it with other {differs} than the "
                    f"{counts[chosen]} of entry {name!r}: written as entry {entry!r} "
                    f"(iam_name {name!r})",
                )
            elif len(ordered) > 1:
                comment = (
                    f"IAM role {name} as {len(same)} account(s) define it; see the entries below."
                )
            policies, session, description = this
            catalogue.append(
                RoleEntry(
                    name=entry,
                    description=description,
                    managed_policies=policies,
                    max_session_duration=session,
                    adopt=all_adopted,
                    comment=comment,
                    iam_name=name if index else None,
                )
            )
            kept.extend(dataclasses.replace(s, entry=entry) for s, _ in same)
    return tuple(catalogue), kept, dict(adopt_by_account)


def _unclaimed_roles(*, world: World, slots: list[Slot], provider: str, found: Findings) -> None:
    """Roles that trust the provider in an imported account but have no role group."""
    accounts = {s.account_id for s in slots}
    claimed = {(s.account_id, s.role.lower()) for s in slots}
    for key, role in sorted(world.roles.items()):
        if key[0] not in accounts or key in claimed:
            continue
        arn = saml_provider_arn(account_id=role.account_id, name=provider)
        if arn in trusted_saml_providers(role.trust_policy):
            found.add(
                Effect.LEFT_OUT,
                f"role {role.name} in {role.account_id}",
                f"trusts provider {provider!r} but no role group maps to it "
                "(importing it would create one)",
            )


def _template_of(slot: Slot) -> str:
    """The description with the slot's alias, role and account id as placeholders."""
    text = slot.description.replace("{", "{{").replace("}", "}}")
    values = {slot.account_id: "{account_id}", slot.alias: "{alias}", slot.role: "{role}"}
    ordered = sorted((v for v in values if v), key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(v) for v in ordered))
    return pattern.sub(lambda m: values[m.group()], text)


def _renders(template: str, slot: Slot) -> str:
    return render_description(
        template=template, alias=slot.alias, role=slot.role, account_id=slot.account_id
    )


def description_template(*, slots: list[Slot], found: Findings) -> str | None:
    """The role_group_description that renders most role groups' descriptions.

    None means the default template. An empty description cannot be written (an empty
    template means the default), so such groups get the default, as do groups whose
    description no common template renders: each is a finding.
    """
    templates = [_template_of(s) for s in slots]
    chosen = most_common(t for t in templates if t) if templates else None
    if chosen is None:
        chosen = DEFAULT_ROLE_GROUP_DESCRIPTION
    for slot in slots:
        if _renders(chosen, slot) != slot.description:
            found.add(
                Effect.WILL_CHANGE,
                f"role group {slot.group_name}",
                f"its description {slot.description!r} is not role_group_description "
                f"{chosen!r}: the plan sets {_renders(chosen, slot)!r}",
            )
    return None if chosen == DEFAULT_ROLE_GROUP_DESCRIPTION else chosen
