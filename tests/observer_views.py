"""What the observer compares with the desired state: each system's holdings, raw.

Plain dataclasses with no interpretation beyond decoding, filled either by reading the
live systems (`tests/e2e/observer_reads.py`: boto3, ldap3, Okta's REST API) or, in the
property tests, from a simulated world (`tests/observer_world.py`). Whatever filled
them, `tests/observer_judge.py` judges them the same way. No engine code here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_UNESCAPED_COMMA = re.compile(r"(?<!\\),")
_ESCAPE = re.compile(r"\\([0-9a-fA-F]{2}|.)")


def normalized_dn(dn: str) -> str:
    """A DN as compared: case, spaces around RDNs and escaping (`\\#`, `\\23`) are noise
    (servers escape a leading `#` in their own DNs but not in memberOf values)."""

    def unescape(match: re.Match[str]) -> str:
        code = match.group(1)
        return chr(int(code, 16)) if len(code) == 2 else code

    return ",".join(
        _ESCAPE.sub(unescape, part).strip().lower() for part in _UNESCAPED_COMMA.split(dn)
    )


@dataclass
class LiveRole:
    trust: Any  # the document: a dict, or JSON text (URL-encoded or not)
    policies: set[str]
    max_session: int
    description: str
    tags: dict[str, str]


@dataclass
class LiveAccount:
    roles: dict[str, LiveRole] = field(default_factory=dict)  # by role name
    providers: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)


@dataclass
class LiveGroup:
    dn: str
    name: str
    description: str
    member_dns: set[str]  # normalized
    member_of: set[str]  # normalized; as the server keeps it (AD), else empty


@dataclass
class LiveDirectory:
    groups: dict[str, LiveGroup]  # by normalized DN
    users: dict[str, str]  # normalized DN → login (lower case)
    member_of_kept: bool  # the server keeps memberOf back-links (AD) worth checking


@dataclass
class OktaView:
    app: dict[str, Any]
    metadata: str
    assigned: set[str]  # group ids
    groups: dict[str, dict[str, Any]]  # id → group (`profile.name`, `profile.description`)
    sources: dict[str, str]  # group id → source (okta, active_directory, ldap_sun_one)
    members: dict[str, set[str]]  # group id → logins (read for the groups that matter)

    def name(self, group_id: str) -> str:
        return str(self.groups[group_id]["profile"]["name"])

    def assigned_names(self) -> set[str]:
        return {self.name(i) for i in self.assigned if i in self.groups}
