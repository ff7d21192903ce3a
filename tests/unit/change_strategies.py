"""Hypothesis strategies for plans as graphs: random acyclic changes with dependencies.

Shared by the order properties (`test_order.py`) and the safety properties
(`test_safety_properties.py`), which run them through `order`, `stages` and `apply`.
"""

from __future__ import annotations

from hypothesis import strategies as st

from engine.model import System
from engine.plan import Action, Change, ResourceKind

ACTIONS = list(Action)


@st.composite
def change_graphs(draw: st.DrawFn) -> list[Change]:
    """Random acyclic changes. Nothing depends on an AWS deletion except another one: the
    diff never makes the front door wait for AWS (that would contradict the rule)."""
    count = draw(st.integers(min_value=0, max_value=25))
    changes: list[Change] = []
    for index in range(count):
        kind = draw(st.sampled_from(list(ResourceKind)))
        action = draw(st.sampled_from(ACTIONS))
        destructive = action is Action.DELETE or draw(st.booleans())
        aws_deletion = kind.system is System.AWS and action is Action.DELETE
        candidates = [
            c.id
            for c in changes
            if aws_deletion or not (c.system is System.AWS and c.action is Action.DELETE)
        ]
        deps = (
            draw(st.lists(st.sampled_from(candidates), max_size=3, unique=True))
            if candidates
            else []
        )
        changes.append(
            Change(
                kind=kind,
                action=action,
                key=(f"k{index}",),
                destructive=destructive,
                depends_on=tuple(deps),
            )
        )
    return changes
