"""`import --account-tags FILE`: account tags from AWS Organizations, and grants by tags.

Account tags live in AWS Organizations, not in the member accounts' IAM, and reading
them takes the organization's management account, which a plan never reads. So they
are given in a file (YAML or JSON; JSON is YAML), made once with the AWS CLI:

    "111111111111": {env: prod, team: payments}
    "222222222222": {"Tags": [{"Key": "env", "Value": "prod"}]}

Each account id (quoted: 12 digits unquoted are a number) maps to its tags, written as
a mapping, or as the output of `aws organizations list-tags-for-resource --resource-id
<id>` unchanged. The file is parsed with the desired state's bounded parser
(`load_yaml`): every error is one line at `file:line`, and nothing of the file is
echoed but short values.

`tag_selector` is the decision: the smallest set of tag pairs that selects exactly the
accounts where a group holds a role, among the accounts having that role (what an
`account_tags` grant reaches, `compile._grant_targets`). Pure but for `read_account_tags`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from engine.load_yaml import MAX_FILE_BYTES, ParsedFile, brief, parse_file
from engine.spec import Problem
from engine.spec_field import LABEL_KEY, LABEL_VALUE
from engine.validate_text import text_problem

Tags = tuple[tuple[str, str], ...]
"""An account's tags as (key, value) pairs sorted by key: what `AccountSpec.tags` holds."""

MAX_SEARCH = 3  # tag sets tried by size up to this many pairs; beyond, all shared pairs
_ACCOUNT_ID = re.compile(r"[0-9]{12}\Z")
_EXAMPLE = 'e.g. "111111111111": {env: prod}'


class AccountTagsError(ValueError):
    """The tags file cannot be used; the message is one line starting `file:line:`."""


def read_account_tags(path: Path) -> dict[str, Tags]:
    """Account id → its tags, from the file at `path`. Raises AccountTagsError."""
    display = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise AccountTagsError(
                f"{display}: {size} bytes, more than the {MAX_FILE_BYTES} a tags file may have"
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise AccountTagsError(f"{display}: cannot read it ({exc.strerror or exc})") from None
    return parse_account_tags(raw=raw, display=display)


def parse_account_tags(*, raw: bytes, display: str) -> dict[str, Tags]:
    """Account id → its tags, from the text of a tags file. Raises AccountTagsError."""
    problems: list[Problem] = []
    parsed = parse_file(path=Path(display), display=display, raw=raw, problems=problems)
    if parsed is None or problems:  # problems: also those the parser got past
        raise AccountTagsError(str(problems[0]))
    if not isinstance(parsed.data, dict):
        raise _error(parsed, (), f"expected a mapping of account id to tags, {_EXAMPLE}")
    result: dict[str, Tags] = {}
    for account_id, tags in parsed.data.items():
        if not _ACCOUNT_ID.match(account_id):
            raise _error(parsed, (account_id,), f"{brief(account_id)} is not a 12-digit account id")
        result[account_id] = _tags(parsed, (account_id,), tags)
    return result


def _error(parsed: ParsedFile, path: tuple[str | int, ...], message: str) -> AccountTagsError:
    return AccountTagsError(str(Problem(parsed.loc(path), message)))


def _tags(parsed: ParsedFile, at: tuple[str | int, ...], value: Any) -> Tags:
    """An account's tags: `{key: value}`, or list-tags-for-resource's `{"Tags": [...]}`."""
    if isinstance(value, dict) and set(value) == {"Tags"} and isinstance(value["Tags"], list):
        pairs: list[tuple[str, Any, tuple[str | int, ...]]] = []
        for index, item in enumerate(value["Tags"]):
            where = (*at, "Tags", index)
            if not isinstance(item, dict) or set(item) != {"Key", "Value"}:
                raise _error(parsed, where, 'a tag is {"Key": K, "Value": V}')
            pairs.append((item["Key"], item["Value"], where))
    elif isinstance(value, dict):
        pairs = [(key, tag_value, (*at, key)) for key, tag_value in value.items()]
    else:
        raise _error(parsed, at, f"an account's tags are a mapping of key to value, {_EXAMPLE}")
    seen: dict[str, str] = {}
    for key, tag_value, where in pairs:
        if not isinstance(key, str) or not isinstance(tag_value, str):
            raise _error(parsed, where, "tag keys and values are strings (quote the value)")
        why = _label_problem(key, LABEL_KEY, "key") or _label_problem(
            tag_value, LABEL_VALUE, "value"
        )
        if why is not None:
            raise _error(parsed, where, why)
        if key in seen:
            raise _error(parsed, where, f"tag {brief(key)} is given twice")
        seen[key] = tag_value
    return tuple(sorted(seen.items()))


def _label_problem(text: str, bounds: Mapping[str, Any], what: str) -> str | None:
    if len(text) < bounds.get("minLength", 0):
        return f"a tag {what} may not be empty"
    if len(text) > bounds["maxLength"]:
        return f"a tag {what} is at most {bounds['maxLength']} characters"
    why = text_problem(text)
    return f"tag {what} {brief(text)} {why}" if why is not None else None


def tag_selector(*, held: set[str], having: Iterable[str], tags: Mapping[str, Tags]) -> Tags | None:
    """The smallest tag set whose accounts among `having` are exactly `held`, or None.

    Only for two accounts or more (one account is clearest by its alias). The pairs all
    of `held` share are the candidates: if all of them together select more than
    `held`, no subset can select less. Ties go to the first in sorted order, so the same
    tags give the same grant; past `MAX_SEARCH` pairs the whole shared set is used.
    """
    if len(held) < 2:
        return None
    shared = set.intersection(*(set(tags.get(a, ())) for a in held))
    if not shared:
        return None
    having_tags = {a: set(tags.get(a, ())) for a in having}

    def selects(pairs: Iterable[tuple[str, str]]) -> bool:
        wanted = set(pairs)
        return {a for a, own in having_tags.items() if wanted <= own} == held

    candidates = sorted(shared)
    if not selects(candidates):
        return None
    for size in range(1, min(len(candidates), MAX_SEARCH) + 1):
        for combination in itertools.combinations(candidates, size):
            if selects(combination):
                return combination
    return tuple(candidates)
