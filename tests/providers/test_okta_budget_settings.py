"""`okta.rate_limit_share` and `okta.read_cache_max_age`: loaded with their defaults,
bounded by the schema (one `file:line` problem each), and handed to the Okta provider."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.load import LoadError, load
from engine.model import System
from engine.providers.live import Connection, connect
from engine.providers.okta_cache import CACHE_DIR_ENV

REPO = Path(__file__).resolve().parents[2]


def desired_with(tmp_path: Path, extra: str) -> Path:
    root = tmp_path / "desired-state"
    shutil.copytree(REPO / "desired-state", root)
    settings = root / "settings.yaml"
    text = settings.read_text(encoding="utf-8")
    anchor = "    join_all_roles: false\n"
    assert anchor in text
    settings.write_text(text.replace(anchor, anchor + extra), encoding="utf-8")
    return root


def test_defaults_when_unset(tmp_path: Path) -> None:
    okta = load(directory=desired_with(tmp_path, "")).settings.okta
    assert (okta.rate_limit_share, okta.read_cache_max_age) == (0.5, 86400)


def test_values_are_read(tmp_path: Path) -> None:
    extra = "    rate_limit_share: 0.25\n    read_cache_max_age: 3600\n"
    okta = load(directory=desired_with(tmp_path, extra)).settings.okta
    assert (okta.rate_limit_share, okta.read_cache_max_age) == (0.25, 3600)


@pytest.mark.parametrize(
    "extra",
    [
        "    rate_limit_share: 0\n",
        "    rate_limit_share: 1.5\n",
        "    rate_limit_share: half\n",
        "    read_cache_max_age: -1\n",
        "    read_cache_max_age: 99999999\n",
    ],
)
def test_out_of_range_values_are_one_problem_at_their_line(tmp_path: Path, extra: str) -> None:
    with pytest.raises(LoadError) as caught:
        load(directory=desired_with(tmp_path, extra))
    problems = [str(p) for p in caught.value.problems]
    assert len(problems) == 1, problems
    assert "settings.yaml:27" in problems[0], problems
    assert extra.split(":")[0].strip() in problems[0], problems


def test_connect_hands_them_to_the_okta_provider(tmp_path: Path) -> None:
    extra = "    rate_limit_share: 0.25\n"
    state = load(directory=desired_with(tmp_path, extra))
    env = {
        "OKTA_ORG_URL": "https://example.okta.com",
        "OKTA_API_TOKEN": "not-a-secret",
        CACHE_DIR_ENV: str(tmp_path / "cache"),
    }
    with connect(
        state=state, systems=frozenset({System.OKTA}), connection=Connection(env=env)
    ) as providers:
        okta = providers.okta
        assert okta is not None and okta.pacer is not None
        assert okta.pacer.share == 0.25
        assert okta.config.rate_limit_share == 0.25
        assert not okta.full_read
    with connect(
        state=state,
        systems=frozenset({System.OKTA}),
        connection=Connection(env=env, okta_full_read=True),
    ) as providers:
        assert providers.okta is not None and providers.okta.full_read
