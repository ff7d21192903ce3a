"""The order a plan runs in, and the stages apply may run concurrently.

Order is part of safety, not just of correctness. Creations go from the back door to
the front: SAML provider → role → role group → Member Of → membership → Okta settings
→ assignment, so nobody is let in before the role behind the door exists. Removals go
the other way, and access is removed at the front door (Okta, the directory) before
anything in AWS is deleted, so a half-applied plan never leaves a user pointed at a
role that is gone while they still hold the group, nor a role alive that a reviewer
believed unreachable. Creations and updates run before removals (make before break),
so a renamed group never leaves its members without access in between.

The hard constraints are the changes' own `depends_on` plus that front-door rule; the
rest is a deterministic tie-break (phase, kind rank, key) so the same plan always
prints and runs the same way. `graphlib` does the topological sort; a cycle is a bug
in the diff and raises.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable
from graphlib import CycleError, TopologicalSorter

from engine.model import System
from engine.plan import Action, Change, ResourceKind

# Creation rank; removals use the reverse.
KIND_RANK: dict[ResourceKind, int] = {
    ResourceKind.SAML_PROVIDER: 0,
    ResourceKind.ROLE: 1,
    ResourceKind.DIRECTORY_GROUP: 2,
    ResourceKind.OKTA_GROUP: 2,
    ResourceKind.GROUP_MEMBER: 3,
    ResourceKind.USER_MEMBER: 4,
    ResourceKind.OKTA_GROUP_MEMBER: 4,
    ResourceKind.OKTA_APP: 5,
    ResourceKind.APP_ASSIGNMENT: 6,
}
_TOP = max(KIND_RANK.values())

# A node that stands for "the front door is closed": every non-AWS destructive change
# precedes it and every AWS deletion follows it (n + m edges instead of n × m).
_FRONT_DOOR = "\x00front-door-closed"


class PlanCycleError(RuntimeError):
    """The changes' dependencies form a cycle: the diff has a bug."""


def _phase(change: Change) -> int:
    return 1 if change.action is Action.DELETE else 0


SortKey = tuple[int, int, tuple[str, ...], str]


def sort_key(change: Change, change_id: str | None = None) -> SortKey:
    """Tie-break among changes free to run: phase, kind rank (reversed for removals), key."""
    rank = KIND_RANK[change.kind]
    phase = _phase(change)
    return (phase, _TOP - rank if phase else rank, change.key, change_id or change.id)


def _graph(items: dict[str, Change]) -> dict[str, set[str]]:
    """Predecessors of every change id (and of the front-door node)."""
    graph: dict[str, set[str]] = {
        i: {d for d in c.depends_on if d in items} for i, c in items.items()
    }
    front_door = {i for i, c in items.items() if c.destructive and c.system is not System.AWS}
    aws_deletions = [
        i for i, c in items.items() if c.action is Action.DELETE and c.system is System.AWS
    ]
    if front_door and aws_deletions:
        graph[_FRONT_DOOR] = front_door
        for change_id in aws_deletions:
            graph[change_id].add(_FRONT_DOOR)
    return graph


def _by_id(changes: Iterable[Change]) -> dict[str, Change]:
    """Changes by id (computed once: it is a formatted string), rejecting duplicates."""
    pairs = [(c.id, c) for c in changes]
    items = dict(pairs)
    if len(items) != len(pairs):
        counts = Counter(i for i, _ in pairs)
        twice = sorted(i for i, n in counts.items() if n > 1)
        raise ValueError(f"duplicate change ids: {', '.join(twice)}")
    return items


def order(*, changes: Iterable[Change]) -> tuple[Change, ...]:
    """The changes in execution order: every change after all it depends on.

    Unknown ids in `depends_on` (changes not in this set) are ignored. Raises
    PlanCycleError if the dependencies form a cycle.
    """
    return tuple(c for _, c in _ordered(_by_id(changes)))


def _ordered(items: dict[str, Change]) -> list[tuple[str, Change]]:
    sorter = TopologicalSorter(_graph(items))
    try:
        sorter.prepare()
    except CycleError as exc:
        raise PlanCycleError(f"dependency cycle among changes: {exc.args[1]}") from exc

    def entry(node: str) -> tuple[SortKey, str]:
        # The front-door node sorts first among what is ready: it only gates.
        if node == _FRONT_DOOR:
            return ((-1, 0, (), ""), node)
        return (sort_key(items[node], node), node)

    ready = [entry(n) for n in sorter.get_ready()]
    heapq.heapify(ready)
    result: list[tuple[str, Change]] = []
    while ready:
        _, node = heapq.heappop(ready)
        if node != _FRONT_DOOR:
            result.append((node, items[node]))
        sorter.done(node)
        for n in sorter.get_ready():
            heapq.heappush(ready, entry(n))
    return result


def stages(*, changes: Iterable[Change]) -> list[list[Change]]:
    """The ordered changes cut into stages whose changes are independent of each other.

    A stage holds changes of one phase and kind rank (so the door order above holds
    even for changes with no explicit dependency between them) and none depends on
    another in the same stage; running stages one after the other, each concurrently,
    respects every constraint `order` does. Concatenated, the stages are `order`'s
    result.
    """
    items = _by_id(changes)
    graph = _graph(items)
    result: list[list[Change]] = []
    current: list[Change] = []
    current_ids: set[str] = set()
    current_band: tuple[int, int] | None = None
    front_door = graph.get(_FRONT_DOOR, set())
    holds_front_door = False  # the current stage has a change the front-door node gates on
    for change_id, change in _ordered(items):
        band = sort_key(change, change_id)[:2]
        needs = graph[change_id]
        gated = _FRONT_DOOR in needs and holds_front_door
        if current and (band != current_band or gated or not needs.isdisjoint(current_ids)):
            result.append(current)
            current, current_ids, holds_front_door = [], set(), False
        current.append(change)
        current_ids.add(change_id)
        holds_front_door = holds_front_door or change_id in front_door
        current_band = band
    if current:
        result.append(current)
    return result
