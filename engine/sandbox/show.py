"""`okta-aws sandbox show`: what the embedded world holds now, per system.

Users of the sandbox need to see the world the engine plans against (which roles are
tagged, which groups exist with how many members, how Okta's app is set up) without
starting anything, so this reads the persisted files directly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from engine.dn import normalize_dn, parent_dn
from engine.model import DirectoryKind, metadata_digest
from engine.sandbox.aws_state import load_aws
from engine.sandbox.directory_store import load_entries
from engine.sandbox.okta_emulator import OktaState
from engine.sandbox.okta_emulator.state import GroupType
from engine.sandbox.persist import OKTA_FILE, SandboxMeta


def _short_policy(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def render_show(root: Path, *, meta: SandboxMeta, aliases: Mapping[str, str]) -> str:
    lines = [
        f"Sandbox {root} (directory: {meta.directory_mode.value}, flavour {meta.flavor.value})",
        "",
        *_aws_lines(root, meta=meta, aliases=aliases),
        "",
        *_directory_lines(root, meta=meta),
        "",
        *_okta_lines(root),
    ]
    return "\n".join(lines) + "\n"


def _aws_lines(root: Path, *, meta: SandboxMeta, aliases: Mapping[str, str]) -> list[str]:
    key, value = meta.managed_tag
    state = load_aws(root)
    lines = [f"AWS ({len(state)} accounts; managed tag {key}={value})"]
    for account_id, record in sorted(state.items()):
        alias = aliases.get(account_id)
        lines.append(f"  {alias} ({account_id})" if alias else f"  {account_id}")
        for provider in record.saml_providers:
            tagged = "tagged" if provider.tags.get(key) == value else "UNTAGGED"
            digest = metadata_digest(provider.metadata)[:12]
            lines.append(f"    saml-provider {provider.name}  {tagged}  metadata sha256 {digest}…")
        for role in sorted(record.roles, key=lambda r: r.name.lower()):
            tagged = "tagged" if role.tags.get(key) == value else "UNTAGGED"
            policies = ", ".join(_short_policy(p) for p in role.managed_policies) or "-"
            lines.append(
                f"    role {role.name}  {tagged}  max {role.max_session_duration}s  "
                f"policies: {policies}"
            )
    return lines


def _directory_lines(root: Path, *, meta: SandboxMeta) -> list[str]:
    if meta.flavor is DirectoryKind.OKTA:
        return ["Directory: none (directory.kind okta)"]
    entries = load_entries(root)
    groups = [e for e in entries if e.is_group]
    group_keys = {normalize_dn(g.dn) for g in groups}
    users = [e for e in entries if e.is_user]
    lines = [f"Directory ({meta.flavor.value}: {len(groups)} groups, {len(users)} users)"]
    by_parent: dict[str, list[str]] = {}
    for group in sorted(groups, key=lambda g: normalize_dn(g.dn)):
        members = group.values("member")
        nested = sum(1 for m in members if normalize_dn(m) in group_keys)
        name = group.values("cn")[0] if group.values("cn") else group.dn
        line = (
            f"    {name}  {len(members)} members ({nested} groups, {len(members) - nested} users)"
        )
        by_parent.setdefault(parent_dn(group.dn), []).append(line)
    for parent, group_lines in sorted(by_parent.items()):
        lines.append(f"  {parent}")
        lines.extend(group_lines)
    return lines


def _okta_lines(root: Path) -> list[str]:
    state = OktaState.load(root / OKTA_FILE)
    lines = ["Okta (emulator)"]
    for app in sorted(state.apps.values(), key=lambda a: a.label):
        lines.append(f"  app {app.label} ({app.name}, {app.id})")
        settings = dict((app.body.get("settings") or {}).get("app") or {})
        if app.name == "amazon_aws":
            for field in ("useGroupMapping", "appFilter", "groupFilter", "roleValuePattern"):
                lines.append(f"    settings.app.{field}: {settings.get(field)!r}")
    sources = {app.id: app.name for app in state.apps.values()}
    counts = Counter(
        g.type.value
        if g.type is not GroupType.APP_GROUP
        else f"APP_GROUP({sources.get(g.source_app_id or '', '?')})"
        for g in state.groups.values()
    )
    lines.append(
        f"  {len(state.users)} users; groups: "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    )
    for group in sorted(state.groups.values(), key=lambda g: (g.type.value, g.name.lower())):
        if group.type is GroupType.BUILT_IN:
            continue
        source = sources.get(group.source_app_id or "", "okta")
        count = len(state.members[group.id])
        lines.append(f"    {group.type.value:<10} {source:<16} {group.name}  {count} members")
    for app_id, assignments in sorted(state.assignments.items()):
        if not assignments:
            continue
        names = sorted(state.groups[g].name for g in assignments if g in state.groups)
        lines.append(f"  assigned to {state.apps[app_id].label}: {', '.join(names)}")
    return lines
