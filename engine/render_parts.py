"""What every plan rendering shares: the plan as a reviewer reads it.

`render` writes text, markdown and JSON; all of them show the same things in the same
order, so what they share lives here: display names (`prod-payments (111111111111)`, a
group's name rather than its DN), one entry per change with its details, the sections
per system in the plan's order, findings ranked security first, the summary, refusal
and target lines, and the words of the access section. Formatting only: every decision
was made by `diff` and is read from the Plan.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.dn import InvalidDnError, rdn_value
from engine.escape import printable
from engine.model import (
    AppAssignment,
    DirectoryGroup,
    GroupMember,
    OktaApp,
    OktaGroup,
    Role,
    SamlProvider,
    System,
    UserMember,
)
from engine.plan import (
    AccessChange,
    Action,
    Change,
    Finding,
    FindingKind,
    Plan,
    Reason,
    Resource,
    ResourceKind,
)

NO_CHANGES = "No changes. Live state matches the desired state."
STYLE = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.DELETE: "red"}
SYSTEM_TITLE = {System.AWS: "AWS", System.DIRECTORY: "Directory", System.OKTA: "Okta"}


@dataclass(frozen=True)
class Detail:
    """`<marker> <path>: <old> → <new>`; `+`/`-` details have one side only."""

    marker: str
    path: str
    old: str = ""
    new: str = ""


@dataclass(frozen=True)
class Entry:
    """One rendered change: `<sign> <body>  <old> → <new>   (<note>)`, details below."""

    sign: Action
    body: str
    note: str = ""
    details: tuple[Detail, ...] = ()
    inline: tuple[str, str] | None = None  # an attribute change shown on the head line
    sep: str = "  "  # between body and inline change


@dataclass(frozen=True)
class Section:
    system: System
    title: str
    entries: list[Entry] = field(default_factory=list)


# --- Values and names ------------------------------------------------------------------


def value_text(value: Any) -> str:
    """A detail value as a reviewer reads it: strings quoted but not JSON-escaped (a
    group filter's backslashes stay single) unless they hold quotes or control chars."""
    if isinstance(value, str):
        if '"' in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
            return json.dumps(value, ensure_ascii=False)
        return f'"{value}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{value_text(str(k))}: {value_text(v)}" for k, v in value.items())
            + "}"
        )
    return json.dumps(value)


def short_digests(before: str, after: str) -> tuple[str, str]:
    # Four hex digits (docs/cli.md §Plan output), more only when needed to tell them apart.
    n = 4
    while n < min(len(before), len(after)) and before[:n] == after[:n]:
        n += 1
    return before[:n] + "…", after[:n] + "…"


class Names:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.aliases = {a.account_id: a.account_alias for a in plan.access_delta}
        self.aliases.update({k: v for k, v in plan.names.accounts.items() if v})

    def account(self, account_id: str) -> str:
        alias = self.aliases.get(account_id)
        return f"{alias} ({account_id})" if alias else account_id

    def group(self, dn: str) -> str:
        name = self.plan.names.groups.get(dn)
        if name:
            return name
        try:
            return rdn_value(dn)
        except InvalidDnError:
            return dn

    def okta_app(self) -> str:
        if self.plan.names.okta_app:
            return self.plan.names.okta_app
        apps = [c.resource for c in self.plan.changes if isinstance(c.resource, OktaApp)]
        return apps[0].label if apps else ""


# --- Changes ---------------------------------------------------------------------------


def details_of(change: Change, *, skip: frozenset[str] = frozenset()) -> tuple[Detail, ...]:
    # The diff reports an item added to (removed from) a list against the list's path
    # with the other side None: that reads as `+ path: item` (`- path: item`).
    out = []
    for d in change.details:
        if d.path in skip:
            continue
        if d.before is None and d.after is not None:
            out.append(Detail("+", d.path, new=value_text(d.after)))
        elif d.after is None and d.before is not None:
            out.append(Detail("-", d.path, old=value_text(d.before)))
        else:
            out.append(Detail("~", d.path, value_text(d.before), value_text(d.after)))
    return tuple(out)


def note_of(change: Change) -> str:
    notes = []
    if change.waits_for:
        notes.append(f"waits for {change.waits_for}")
    before, after = change.before, change.after
    if (
        isinstance(before, Role | SamlProvider)
        and isinstance(after, Role | SamlProvider)
        and not before.managed
        and after.managed
    ):
        notes.append("adopt: add managed tag")
    if change.destructive and change.action is Action.UPDATE:
        notes.append("destructive")
    if change.kind is ResourceKind.OKTA_GROUP_MEMBER and change.reason is not Reason.NONE:
        # Kind okta: which management group puts a user into a role group (Okta cannot
        # nest, so the plan is the only place a reviewer sees it).
        notes.append(reason_text(change))
    return "; ".join(notes)


# The words of each reason code: `{name}` is the change's argument of that name (a list
# of names is joined with ", "). Every code has words (tests/unit/test_render.py).
REASON_WORDS: dict[Reason, str] = {
    Reason.NONE: "",
    Reason.IN_DESIRED_STATE: "in the desired state",
    Reason.PROVIDER_NEEDED: "every desired account needs the SAML provider Okta signs in through",
    Reason.ADOPT: "adopt (add managed tag)",
    Reason.METADATA_DIFFERS: "metadata differs from the desired document",
    Reason.ATTRIBUTES_DIFFER: "differs from the desired state: {attributes}",
    Reason.CREATE_APP: "okta.create_app is set and the app does not exist",
    Reason.APP_SETTINGS_DIFFER: "settings.app differs from the desired state",
    Reason.DESCRIPTION_DIFFERS: "description differs from the desired state",
    Reason.OKTA_GROUP_IN_DESIRED_STATE: (
        "in the desired state (directory.kind okta: groups live in Okta)"
    ),
    Reason.ROLE_GROUP_IN_DESIRED_STATE: "role group for {account} / {role} in the desired state",
    Reason.MANAGEMENT_GROUP_IN_DESIRED_STATE: "management group in the desired state",
    Reason.MEMBER_VIA: "via {via}",
    Reason.MEMBER_LISTED: "listed in the desired state",
    Reason.MEMBER_NOT_GRANTED: "in no management group granting {group}",
    Reason.MEMBER_NOT_LISTED: "not listed in the desired state (its member list is ours)",
    Reason.HAS_GRANTS: "{group} has grants: its members need the app",
    Reason.HAS_NO_GRANTS: "{group} has no grants in the desired state (its assignment is ours)",
    Reason.GRANTED: "{group} is granted {role_group}",
    Reason.NOT_GRANTED: (
        "{group} is not granted {role_group} in the desired state (role groups are authoritative)"
    ),
    Reason.GROUP_DROPPED: "{group} is no longer in the desired state, so it leaves {role_group}",
    Reason.GROUP_DROPPED_KEPT: (
        "{group} is no longer in the desired state, so it leaves {role_group}; the group "
        "itself stays until --prune deletes it"
    ),
    Reason.USER_LISTED: "{login} is listed in the members of {group}",
    Reason.USER_NOT_LISTED: (
        "{login} is not listed in the members of {group} (a listed member list is authoritative)"
    ),
    Reason.NOT_A_MANAGEMENT_GROUP: (
        "{group} is no management group of the desired state (a way into {role_group} that "
        "no grant describes)"
    ),
    Reason.DIRECT_MEMBER: (
        "{login} is a direct member of {role_group} (users join management groups, never "
        "role groups)"
    ),
    Reason.NESTED_GROUP: (
        "{group} is nested in {management_group}, whose members the desired state lists "
        "(Okta flattens nesting: a way into its roles that no listed member describes)"
    ),
    Reason.PRUNED: "no longer in the desired state (--prune)",
}


def reason_text(change: Change) -> str:
    """Why `change` is planned, in the words a reviewer reads. An argument its words
    need and the change lacks (a hand-edited saved plan) reads as `?`."""
    args = dict(change.reason_args)
    owner_managed = args.get("owner_managed", ())
    if change.reason is Reason.MEMBER_VIA and isinstance(args.get("via"), tuple):
        # Whose members their owners run in Okta is said, so the reviewer knows the
        # role group follows them at each reconcile.
        args["via"] = tuple(
            f"{g} (members managed in Okta)" if g in owner_managed else g for g in args["via"]
        )
    values = {
        name: ", ".join(value) if isinstance(value, tuple) else value
        for name, value in args.items()
    }
    return REASON_WORDS[change.reason].format_map(_Missing(values))


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def subject_of(resource: Resource, names: Names) -> str:
    if isinstance(resource, SamlProvider):
        return f"saml-provider {resource.name}"
    if isinstance(resource, Role):
        return f"role {resource.name}"
    if isinstance(resource, DirectoryGroup | OktaGroup):
        return f"group {resource.name}"
    if isinstance(resource, GroupMember):
        return f"member {names.group(resource.member_dn)} → {names.group(resource.group_dn)}"
    if isinstance(resource, UserMember):
        return f"user {resource.login} → {names.group(resource.group)}"
    if isinstance(resource, AppAssignment):
        return f"assign {resource.group_name}"
    return f"app {resource.label}"


def entries_of(change: Change, names: Names) -> list[Entry]:
    resource, note = change.resource, note_of(change)
    if isinstance(resource, OktaApp) and change.action is Action.UPDATE and change.details:
        # Each setting is its own line, as Okta's admin console shows them.
        return [
            Entry(Action.UPDATE, d.path, note, inline=(value_text(d.before), value_text(d.after)))
            for d in change.details
        ]
    body = subject_of(resource, names)
    skip: frozenset[str] = frozenset()
    inline = None
    before, after = change.before, change.after
    if isinstance(before, SamlProvider) and isinstance(after, SamlProvider):
        if before.metadata_sha256 != after.metadata_sha256:
            inline = short_digests(before.metadata_sha256, after.metadata_sha256)
            body += "  metadata sha256"
        skip = frozenset({"metadata_sha256"})
    return [Entry(change.action, body, note, details_of(change, skip=skip), inline, sep=" ")]


def sections_of(plan: Plan, names: Names) -> list[Section]:
    by_account: dict[str, Section] = {}
    directory = Section(System.DIRECTORY, "Directory")
    okta_app = names.okta_app()
    okta = Section(System.OKTA, f"Okta ({okta_app})" if okta_app else "Okta")
    for change in plan.changes:
        resource = change.resource
        if isinstance(resource, SamlProvider | Role):
            account = resource.account_id
            section = by_account.setdefault(
                account, Section(System.AWS, f"AWS {names.account(account)}")
            )
        elif change.system is System.AWS:
            section = by_account.setdefault("", Section(System.AWS, "AWS"))
        else:
            section = directory if change.system is System.DIRECTORY else okta
        section.entries.extend(entries_of(change, names))
    aws = [by_account[k] for k in sorted(by_account)]
    return [s for s in [*aws, directory, okta] if s.entries]


# --- Access, findings, summary ---------------------------------------------------------


def access_rows(plan: Plan, names: Names) -> list[tuple[AccessChange, str]]:
    return [(a, f"{names.account(a.account_id)} / {a.role}") for a in plan.access_delta]


def ranked_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Security first, then what blocks the plan, then notes; plan order within each."""

    def rank(f: Finding) -> int:
        return 0 if f.kind is FindingKind.ROGUE_GROUP else 1 if f.blocking else 2

    return sorted(findings, key=rank)


def finding_label(f: Finding) -> tuple[str, str, str]:
    """(marker, label, style)."""
    label = f.kind.value.replace("_", " ")
    if f.kind is FindingKind.ROGUE_GROUP:
        return "!!", f"SECURITY {label}", "bold red"
    if f.blocking:
        return "! ", label, "red"
    return "· ", label, "dim"


def summary_line(plan: Plan) -> str:
    if plan.empty:
        if plan.blocked:
            return "No changes can be planned until the blocking findings are resolved."
        return NO_CHANGES
    counts = plan.counts()
    return (
        f"Plan: {counts[Action.CREATE]} to add, {counts[Action.UPDATE]} to change, "
        f"{counts[Action.DELETE]} to destroy."
    )


def refusal_line(plan: Plan) -> str | None:
    if plan.guard:
        return f"Apply will refuse: {plan.guard}"
    blocking = sum(1 for f in plan.findings if f.blocking)
    if blocking:
        s = "" if blocking == 1 else "s"
        return f"Apply will refuse: {blocking} blocking finding{s} (see Findings)."
    return None


def target_line(plan: Plan) -> str:
    line = f"Target: {plan.target}"
    if plan.options.systems != frozenset(System):
        only = ", ".join(sorted(s.value for s in plan.options.systems))
        line += f" (only {only}; other systems were not planned)"
    return line


# --- Text ------------------------------------------------------------------------------


def entry_lines(entry: Entry, *, width: int, sign: str) -> list[tuple[str, str]]:
    """(text, style) lines of one entry. A change too wide for one line is split into
    its old and new value on lines of their own, never cut: reviewers must see it all."""
    # Escaped before measuring: the width is that of what the terminal will show.
    note = f"   ({printable(entry.note)})" if entry.note else ""
    body = printable(entry.body)
    style = STYLE[entry.sign]
    lines: list[tuple[str, str]] = []
    if entry.inline is None:
        lines.append((f"{sign} {body}{note}", style))
    else:
        old, new = (printable(v) for v in entry.inline)
        head = f"{sign} {body}{entry.sep}{old} → {new}{note}"
        if len(head) <= width:
            lines.append((head, style))
        else:
            lines += [(f"{sign} {body}{note}", style)]
            lines += [(f"      - {old}", "red"), (f"      + {new}", "green")]
    for d in entry.details:
        path, old, new = printable(d.path), printable(d.old), printable(d.new)
        if d.marker != "~":
            value = new if d.marker == "+" else old
            lines.append((f"    {d.marker} {path}: {value}", STYLE[Action(d.marker)]))
            continue
        line = f"    ~ {path}: {old} → {new}"
        if len(line) <= width:
            lines.append((line, ""))
        else:
            lines += [(f"    ~ {path}:", ""), (f"        - {old}", "red")]
            lines.append((f"        + {new}", "green"))
    return lines


def removal_label(change: Change, names: Names) -> str:
    """A change that can take access away, on one line: `- role Admin in prod (1111…)`."""
    resource = change.resource
    label = f"{change.action.value} {subject_of(resource, names)}"
    if isinstance(resource, Role | SamlProvider):
        label += f" in {names.account(resource.account_id)}"
    if change.action is Action.UPDATE:
        label += " (destructive)"
    return label


ACCESS_SEEN = "As far as the systems read show:"
ACCESS_CHECK = "Changes that can take access away (check who loses what by hand):"
ACCESS_NO_REMOVALS = "No change in this plan takes access away."


PENDING_LATER = " until the directory import; then many do (see the pending access finding)"


def pending_unlisted(plan: Plan) -> bool:
    """Whether access changes too many to list follow the directory import: an empty
    delta must not read as "none" then."""
    return any(f.kind is FindingKind.PENDING_ACCESS for f in plan.findings)
