"""`import`'s output: an `Adoption` as the files of a desired-state folder.

Written by hand rather than by a YAML dumper so the files read like the ones people
write (flow-style grants, a schema comment on top, a comment on every adopted or
ambiguous item) and so the same live world always gives byte-identical files: every
list is sorted by a stable key, and scalars are quoted by one rule (plain when YAML
reads them back as the same string, JSON-quoted otherwise). Pure.
"""

from __future__ import annotations

import json
import re

from engine.adopt_model import AccountEntry, Adoption, GroupEntry, RoleEntry, SettingsEntry
from engine.model import DirectoryKind

SCHEMA_COMMENT = "# yaml-language-server: $schema={ref}\n"
HEADER = "# Written by `okta-aws import` from the live world; review it, then commit it.\n"
GROUPS_FILE = "groups/management-groups.yaml"

_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9 _./@()+=-]*\Z")
_RESERVED = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"})


def scalar(value: str | int | bool | None) -> str:
    """A YAML scalar that reads back as exactly `value`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    plain = (
        _PLAIN.match(value) is not None
        and value.lower() not in _RESERVED
        and not value.endswith(" ")
        and " #" not in value
        and ": " not in value
    )
    return value if plain else json.dumps(value, ensure_ascii=False)


def _comment(text: str, indent: str) -> list[str]:
    return [f"{indent}# {line}" for line in text.splitlines() if line]


def render_files(*, adoption: Adoption, schema_ref: str) -> dict[str, str]:
    """Relative path → file text (the metadata document too, when there is one)."""
    files = {
        "settings.yaml": _settings(adoption, schema_ref),
        "roles.yaml": _roles(adoption.roles, schema_ref),
        "accounts.yaml": _accounts(adoption, schema_ref),
        GROUPS_FILE: _groups(
            adoption.groups, "../" + schema_ref if not _absolute(schema_ref) else schema_ref
        ),
    }
    if adoption.settings.metadata is not None:
        files[adoption.metadata_file] = adoption.settings.metadata.rstrip("\n") + "\n"
    return files


def _absolute(ref: str) -> bool:
    return ref.startswith(("/", "urn:", "http:", "https:"))


def _head(schema_ref: str, what: str) -> list[str]:
    return [SCHEMA_COMMENT.format(ref=schema_ref).rstrip("\n"), HEADER.rstrip("\n"), f"# {what}"]


def _settings(adoption: Adoption, schema_ref: str) -> str:
    s: SettingsEntry = adoption.settings
    lines = _head(schema_ref, "Global settings, read from the Okta app, AWS and the directory.")
    lines += ["settings:", f"  target: {scalar(s.target.value)}", "  saml_provider:"]
    lines.append(f"    name: {scalar(s.provider_name)}")
    if s.metadata is not None:
        lines.append(
            f"    metadata_file: {scalar(adoption.metadata_file)}   # what the providers hold"
        )
    if s.provider_adopt:
        lines += _comment("Some accounts' providers are untagged: take them over.", "    ")
        lines.append("    adopt: true")
    tag_key, tag_value = s.aws.managed_tag
    lines += [
        "  aws:",
        f"    access_role: {scalar(s.aws.access_role)}",
        f"    managed_tag: {{{scalar(tag_key)}: {scalar(tag_value)}}}",
        f"    concurrency: {s.aws.concurrency}",
        "  directory:",
        f"    kind: {scalar(s.kind.value)}",
    ]
    if s.kind is not DirectoryKind.OKTA:
        lines += [
            f"    role_groups_ou: {scalar(s.role_groups_ou)}",
            f"    management_groups_ou: {scalar(s.management_groups_ou)}",
            f"    users_base: {scalar(s.users_base)}",
        ]
    lines.append(f"  role_group_name: {scalar(s.role_group_name)}")
    if s.role_group_description is not None:
        lines.append(f"  role_group_description: {scalar(s.role_group_description)}")
    filter_note = (
        "   # derived from role_group_name"
        if s.group_filter is None
        else "   # as the app has it: not a shape role_group_name derives"
    )
    pattern_note = "   # derived from saml_provider.name" if s.role_value_pattern is None else ""
    lines += [
        "  okta:",
        # One or the other (the schema says so): the id when the import was given it.
        f"    app_id: {scalar(s.app_id)}" if s.app_id else f"    app_label: {scalar(s.app_label)}",
        f"    app_filter: {scalar(s.app_filter)}",
        f"    group_filter: {scalar(s.group_filter)}{filter_note}",
        f"    role_value_pattern: {scalar(s.role_value_pattern)}{pattern_note}",
        *(f"    {name}: {scalar(value)}" for name, value in s.okta_as_written),
    ]
    return "\n".join(lines) + "\n"


def _roles(roles: tuple[RoleEntry, ...], schema_ref: str) -> str:
    lines = _head(schema_ref, "The role catalogue: each definition of a role, as IAM has it.")
    lines.append("roles:" if roles else "roles: {}")
    for role in roles:
        lines.append(f"  {scalar(role.name)}:")
        lines += _comment(role.comment, "    ")
        if role.adopt:
            lines += _comment("Untagged in every account: made by hand, taken over.", "    ")
        lines.append(f"    description: {scalar(role.description)}")
        policies = ", ".join(scalar(p) for p in role.managed_policies)
        lines.append(f"    managed_policies: [{policies}]")
        lines.append(f"    max_session_duration: {role.max_session_duration}")
        if role.iam_name is not None:
            lines.append(f"    iam_name: {scalar(role.iam_name)}")
        if role.adopt:
            lines.append("    adopt: true")
    return "\n".join(lines) + "\n"


def _accounts(adoption: Adoption, schema_ref: str) -> str:
    lines = _head(schema_ref, "AWS accounts, from the role groups' names.")
    lines.append("accounts:" if adoption.accounts else "accounts: []")
    for account in adoption.accounts:
        lines += _account(account)
    return "\n".join(lines) + "\n"


def _account(account: AccountEntry) -> list[str]:
    lines = [
        *_comment(account.comment, "  "),
        f"  - id: {json.dumps(account.id)}",
        f"    alias: {scalar(account.alias)}",
        f"    roles: [{', '.join(scalar(r) for r in account.roles)}]",
    ]
    if account.tags:
        lines.append(f"    tags: {_flow_map(account.tags)}")
    if account.adopt_roles:
        lines += _comment("Untagged here (made by hand): take them over.", "    ")
        lines.append(f"    adopt_roles: [{', '.join(scalar(r) for r in account.adopt_roles)}]")
    return lines


def _flow_map(pairs: tuple[tuple[str, str], ...]) -> str:
    return "{" + ", ".join(f"{scalar(k)}: {scalar(v)}" for k, v in pairs) + "}"


def _groups(groups: tuple[GroupEntry, ...], schema_ref: str) -> str:
    lines = _head(schema_ref, "Management groups: the groups that are Member Of role groups.")
    lines.append("management_groups:" if groups else "management_groups: []")
    for index, group in enumerate(groups):
        if index:
            lines.append("")
        lines += _comment(group.comment, "  ")
        lines.append(f"  - name: {scalar(group.name)}")
        if group.dn is not None:
            lines.append(f"    dn: {scalar(group.dn)}")
        lines.append(f"    description: {scalar(group.description)}")
        lines.append("    grants:" if group.grants else "    grants: []")
        for grant in group.grants:
            if grant.account_tags is not None:
                selector = f"account_tags: {_flow_map(grant.account_tags)}"
            elif grant.account == "*":
                selector = f"account: {json.dumps(grant.account)}"
            else:
                selector = f"account: {scalar(grant.account)}"
            lines.append(f"      - {{{selector}, role: {scalar(grant.role)}}}")
        if group.members is not None:
            lines.append(f"    members: [{', '.join(scalar(m) for m in group.members)}]")
        else:
            lines += _comment("members omitted: membership stays with the group's owners", "    ")
    return "\n".join(lines) + "\n"
