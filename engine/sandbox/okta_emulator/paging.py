"""Okta's cursor pagination: `limit` + opaque `after`, announced in `Link` headers.

Pagination bugs (a page of exactly `limit` items, the 200/201 boundary) are what clients
get wrong, so the emulator follows Okta precisely: items ordered by id, the cursor is the
last id of the page, `rel="self"` always, and a second, separate `rel="next"` header only
when another page exists. A `limit` above an endpoint's maximum is clamped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import urlencode

from engine.sandbox.okta_emulator import errors
from engine.sandbox.okta_emulator.state import is_okta_id

T = TypeVar("T")


@dataclass(frozen=True)
class LimitRule:
    """Per-endpoint bounds from Okta's spec and recorded responses."""

    default: int
    maximum: int


APPS = LimitRule(default=20, maximum=200)
APP_GROUPS = LimitRule(default=20, maximum=200)
GROUPS = LimitRule(default=10000, maximum=10000)
GROUPS_QUERY = LimitRule(default=300, maximum=10000)
USERS = LimitRule(default=200, maximum=200)
USERS_QUERY = LimitRule(default=10, maximum=200)
GROUP_USERS = LimitRule(default=1000, maximum=1000)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    links: list[str]


def parse_limit(raw: str | None, rule: LimitRule) -> int:
    if raw is None or raw == "":
        return rule.default
    try:
        value = int(raw)
    except ValueError:
        raise errors.validation_failed(
            field="limit", causes=(f"limit: '{raw}' is not a valid integer",)
        ) from None
    if value <= 0:
        return rule.default
    return min(value, rule.maximum)


def paginate(
    items: Sequence[T],
    *,
    key: Callable[[T], str],
    query: Mapping[str, str],
    base_url: str,
    path: str,
    rule: LimitRule,
    pageable: bool = True,
) -> Page[T]:
    """One page of `items` (any order in, id order out) and its Link header values.

    `pageable=False` is Okta's `q` behaviour on groups: one capped page, never a next link.
    """
    limit = parse_limit(query.get("limit"), rule)
    after = query.get("after")
    ordered = sorted(items, key=key)
    if after:
        if not is_okta_id(after):
            raise errors.invalid_cursor()
        ordered = [item for item in ordered if key(item) > after]
    page = ordered[:limit]
    base_params = {k: v for k, v in query.items() if k not in ("after", "limit")}
    links = [f'<{_url(base_url, path, {**base_params, "limit": str(limit)}, after)}>; rel="self"']
    if pageable and len(ordered) > limit:
        cursor = key(page[-1])
        next_params = {**base_params, "after": cursor, "limit": str(limit)}
        links.append(f'<{_url(base_url, path, next_params, None)}>; rel="next"')
    return Page(items=page, links=links)


def _url(base_url: str, path: str, params: Mapping[str, str], after: str | None) -> str:
    merged = dict(params)
    if after:
        merged["after"] = after
    return f"{base_url}{path}?{urlencode(sorted(merged.items()))}"
