"""The schemas are generated from the typed model, and the loader decodes through it.

The committed schema files must be exactly what `python -m engine.spec_schema` writes
(else an edit to a setting's bounds would reach editors but not the engine, or the
reverse); the generator must carry every part of a field's metadata into the schema;
and `spec_field.decode` must give typed values, defaults and `file:line` locations.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from engine import spec_schema
from engine.codec import CodecError
from engine.compile import DERIVED_APP_SETTINGS, app_settings_as_written
from engine.load import LoadError, load
from engine.model import DirectoryKind, OktaAppSettings
from engine.spec import UNKNOWN_LOCATION, DesiredState, Location, Settings
from engine.spec_field import Section, decode, setting, yaml_field
from engine.spec_settings import DEFAULT_LOCK_LEASE_SECONDS, OktaSpec, Target
from tests.unit.test_adopt import changes, imported, live_of
from tests.unit.worlds import small_state

REPO = Path(__file__).resolve().parents[2]


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    assert not duplicated, f"duplicate keys {duplicated}: JSON keeps only the last"
    return dict(pairs)


@pytest.mark.parametrize("name", sorted(spec_schema.expected_files()))
@pytest.mark.parametrize("directory", spec_schema.SCHEMA_DIRS, ids=lambda d: d.parent.name)
def test_committed_schema_is_the_generated_one_byte_for_byte(directory: Path, name: str) -> None:
    committed = (directory / name).read_text(encoding="utf-8")
    assert committed == spec_schema.expected_files()[name], (
        f"{directory.name}/{name} is stale: run `make schemas` (python -m engine.spec_schema)"
    )


def test_check_mode_exits_0_when_nothing_is_stale(capsys: pytest.CaptureFixture[str]) -> None:
    assert spec_schema.main(["--check"]) == 0
    assert capsys.readouterr().err == ""


def test_check_mode_names_a_stale_file_and_write_mode_fixes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dirs = (tmp_path / "schemas", tmp_path / "engine" / "schemas")
    for directory, real in zip(dirs, spec_schema.SCHEMA_DIRS, strict=True):
        directory.mkdir(parents=True)
        for path in real.glob("*.json"):
            (directory / path.name).write_bytes(path.read_bytes())
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    stale = dirs[1] / spec_schema.DESIRED_STATE
    stale.write_text(stale.read_text(encoding="utf-8").replace("900", "901"), encoding="utf-8")
    monkeypatch.setattr(spec_schema, "REPO", tmp_path)
    monkeypatch.setattr(spec_schema, "SCHEMA_DIRS", dirs)

    assert spec_schema.main(["--check"]) == 1
    assert capsys.readouterr().err == (
        "engine/schemas/desired-state.schema.json: stale; run `make schemas`\n"
    )
    assert spec_schema.main([]) == 0
    assert capsys.readouterr().out == "wrote engine/schemas/desired-state.schema.json\n"
    assert spec_schema.main(["--check"]) == 0


def test_writing_refuses_outside_a_source_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An installed engine has no schemas/ to regenerate: never write into site-packages.
    monkeypatch.setattr(spec_schema, "REPO", tmp_path)
    assert spec_schema.main([]) == 1
    assert "not a source checkout" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_usage_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert spec_schema.main(["--write"]) == 1
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("path", sorted((REPO / "schemas").glob("*.json")), ids=lambda p: p.name)
def test_no_schema_file_repeats_a_key(path: Path) -> None:
    # plan.schema.json had `options.description` twice; the first one (the one a reader
    # of the file sees) was silently dropped by every JSON parser.
    json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_no_duplicate_keys)


def _yaml_keys(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if yaml_field(f) is not None]


def test_every_settings_field_is_a_schema_property_and_no_other() -> None:
    defs = spec_schema.desired_state_schema()["$defs"]
    for cls in (Settings, OktaSpec):
        section = cls.SECTION.name
        assert list(defs[section]["properties"]) == _yaml_keys(cls), section
    # bookkeeping fields never become YAML keys
    assert "loc" not in defs["okta"]["properties"]
    assert "value_locs" not in defs["settings"]["properties"]
    assert "metadata" not in defs["samlProvider"]["properties"]


def test_schema_defaults_are_the_dataclass_defaults() -> None:
    okta = spec_schema.desired_state_schema()["$defs"]["okta"]["properties"]
    defaults = OktaSpec()
    for name in ("session_duration", "join_all_roles", "create_app", "rate_limit_share"):
        assert okta[name]["default"] == getattr(defaults, name), name
    assert "default" not in okta["app_label"]  # show_default=False
    assert "default" not in okta["app_filter"]  # required


# --- the generator on a made-up section --------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Inner:
    SECTION: ClassVar[Section] = Section("inner", "An inner section.", rules={"minProperties": 1})

    size: int = setting(5, minimum=1, maximum=9, doc="A size.")
    name: str | None = setting(None, nullable=True, pattern="^a", doc="A name.")
    label: str = setting("x", required=True, doc="A label.")
    loc: Location = UNKNOWN_LOCATION


@dataclasses.dataclass(frozen=True)
class _Outer:
    SECTION: ClassVar[Section] = Section("outer", "An outer section.")

    inner: _Inner = setting(default_factory=_Inner, doc="The inner part.")  # noqa: RUF009
    items: tuple[_Inner, ...] = setting((), doc="Inner parts.")


def test_generator_carries_type_bounds_default_nullability_and_rules() -> None:
    defs: dict[str, Any] = {}
    spec_schema._define(_Outer, defs)
    assert list(defs) == ["inner", "outer"]  # used definitions first
    assert defs["inner"] == {
        "type": "object",
        "additionalProperties": False,
        "required": ["label"],
        "description": "An inner section.",
        "properties": {
            "size": {
                "type": "integer",
                "minimum": 1,
                "maximum": 9,
                "default": 5,
                "description": "A size.",
            },
            "name": {
                "type": ["string", "null"],
                "pattern": "^a",
                "default": None,
                "description": "A name.",
            },
            "label": {"type": "string", "description": "A label."},
        },
        "minProperties": 1,
    }
    assert defs["outer"]["properties"] == {
        "inner": {"$ref": "#/$defs/inner", "description": "The inner part."},
        "items": {
            "type": "array",
            "items": {"$ref": "#/$defs/inner"},
            "default": [],
            "description": "Inner parts.",
        },
    }


def test_a_field_whose_type_cannot_be_derived_must_say_it() -> None:
    @dataclasses.dataclass(frozen=True)
    class Odd:
        SECTION: ClassVar[Section] = Section("odd", "Odd.")
        pairs: tuple[tuple[str, str], ...] = setting((), doc="No derivable type.")

    with pytest.raises(TypeError, match="'pairs': give its schema type"):
        spec_schema._define(Odd, {})


# --- decoding ----------------------------------------------------------------------------


def _at(path: tuple[str | int, ...]) -> Location:
    return Location("s.yaml", len(path))


def _decode(raw: Mapping[str, Any], *, lenient: bool = False) -> _Outer:
    return decode(_Outer, raw, path=("outer",), loc_at=_at, lenient=lenient)


def test_decode_fills_defaults_types_and_locations() -> None:
    got = _decode({"inner": {"size": 7.0, "label": "y"}})
    assert got.inner == _Inner(size=7, name=None, label="y", loc=Location("s.yaml", 2))
    assert isinstance(got.inner.size, int)  # YAML's 7.0 is JSON Schema's integer 7
    assert _decode({}).inner == _Inner(loc=Location("s.yaml", 2))


@pytest.mark.parametrize(
    "raw",
    [
        {"inner": {"size": "7"}},  # wrong type
        {"inner": {"size": True}},  # a bool is no integer
        {"inner": {"size": 10}},  # above the schema's maximum
        {"inner": {"name": 3}},
    ],
)
def test_decode_is_strict_and_lenient_falls_back_to_the_default(raw: dict[str, Any]) -> None:
    with pytest.raises(CodecError, match=r"^outer\.inner\."):
        _decode(raw)
    lenient = _decode(raw, lenient=True).inner
    assert (lenient.size, lenient.name) == (5, None)


def test_decode_overrides_win_by_path() -> None:
    got = decode(
        _Outer,
        {"inner": {"size": 2}},
        path=("outer",),
        loc_at=_at,
        lenient=False,
        overrides={("outer", "inner", "label"): "forced"},
    )
    assert (got.inner.size, got.inner.label) == (2, "forced")


def test_desired_state_sections_are_the_top_level_keys() -> None:
    top = spec_schema.desired_state_schema()["properties"]
    assert list(top) == _yaml_keys(DesiredState)
    assert list(top) == ["settings", "roles", "accounts", "management_groups"]


def test_lenient_decode_never_guesses_an_enum() -> None:
    @dataclasses.dataclass(frozen=True)
    class WithKind:
        SECTION: ClassVar[Section] = Section("k", "K.")
        target: Target = setting(Target.SANDBOX, doc="T.")  # noqa: RUF009

    with pytest.raises(CodecError, match="'cloud' is not one of"):
        decode(WithKind, {"target": "cloud"}, path=(), loc_at=_at, lenient=True)


# --- through the loader: typed values, defaults, lines ------------------------------------

SETTINGS = """\
settings:
  target: live
  saml_provider: {name: OKTA}
  aws:
    managed_tag: {owner: platform}
    concurrency: 4.0
  directory: {kind: okta}
  okta:
    app_id: 0oa1234567890abcdefg
    app_filter: okta
    session_duration: 7200
    rate_limit_share: 1
  safety:
    protected: [B, A]
  lock: {s3: s3://bucket/apply.lock}
"""


def _load(tmp_path: Path, text: str) -> DesiredState:
    (tmp_path / "settings.yaml").write_text(text, encoding="utf-8")
    try:
        return load(directory=tmp_path)
    except LoadError as error:
        assert error.partial is not None, error.problems
        return error.partial


def test_loader_decodes_settings_through_the_spec(tmp_path: Path) -> None:
    settings = _load(tmp_path, SETTINGS).settings
    assert settings.target is Target.LIVE
    assert settings.aws.managed_tag == ("owner", "platform")
    assert settings.aws.concurrency == 4 and isinstance(settings.aws.concurrency, int)
    assert settings.directory.kind is DirectoryKind.OKTA
    assert (settings.okta.app_label, settings.okta.app_id) == (None, "0oa1234567890abcdefg")
    assert settings.okta.session_duration == 7200
    assert settings.okta.rate_limit_share == 1.0
    assert settings.okta.read_cache_max_age == OktaSpec.read_cache_max_age  # default
    assert settings.lock.s3 == "s3://bucket/apply.lock"
    assert settings.lock.lease_seconds == DEFAULT_LOCK_LEASE_SECONDS
    assert settings.safety.protected == frozenset({"A", "B"})
    assert [(n, loc.line) for n, loc in settings.safety.protected_locs] == [("B", 14), ("A", 14)]
    assert settings.okta.loc.line == 8 and settings.lock.loc.line == 15
    assert settings.loc_of("okta.session_duration").line == 11


@pytest.mark.parametrize(
    ("key", "value", "line"),
    [
        ("session_duration", "long", 11),
        ("rate_limit_share", "5", 12),  # out of the schema's bounds
        ("join_all_roles", "'yes'", 11),
    ],
)
def test_a_schema_invalid_setting_is_named_at_its_line_and_defaults_in_the_partial_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: str, line: int
) -> None:
    monkeypatch.chdir(tmp_path)
    lines = SETTINGS.splitlines(keepends=True)
    lines[line - 1] = f"    {key}: {value}\n"
    (tmp_path / "settings.yaml").write_text("".join(lines), encoding="utf-8")
    with pytest.raises(LoadError) as raised:
        load(directory=tmp_path)
    [problem] = raised.value.problems
    assert (problem.loc.file, problem.loc.line) == ("settings.yaml", line)
    assert f"okta.{key}" in problem.message
    assert raised.value.partial is not None
    assert getattr(raised.value.partial.settings.okta, key) == getattr(OktaSpec(), key)


# --- the model's Okta settings: names, reading, destructiveness ---------------------------


def test_every_okta_app_setting_is_derived_or_written_in_the_spec() -> None:
    spec_fields = {f.name for f in dataclasses.fields(OktaSpec)}
    as_written = app_settings_as_written()
    assert "login_url" in as_written
    for f in dataclasses.fields(OktaAppSettings):
        assert (f.name in DERIVED_APP_SETTINGS) != (f.name in as_written), f.name
        assert f.name in DERIVED_APP_SETTINGS or f.name in spec_fields, f.name
        assert f.metadata["okta"], f"{f.name} has no Okta JSON name"


def test_okta_settings_round_trip_through_okta_json() -> None:
    settings = OktaAppSettings(
        use_group_mapping=False,
        app_filter="okta,active_directory",
        group_filter="g",
        role_value_pattern="r",
        session_duration=7200,
        join_all_roles=True,
    )
    assert OktaAppSettings.from_okta(settings.to_okta()) == dataclasses.replace(
        settings, app_filter="active_directory,okta"
    )


@pytest.mark.parametrize(
    ("okta_json", "expected"),
    [
        ({}, OktaAppSettings()),  # left out: the defaults
        # a null filter selects no source: it is not the default one
        ({"appFilter": None}, OktaAppSettings(app_filter="")),
        ({"groupFilter": None, "roleValuePattern": None}, OktaAppSettings()),
        ({"sessionDuration": None}, OktaAppSettings()),
        ({"sessionDuration": "7200"}, OktaAppSettings(session_duration=7200)),
        (
            {"appFilter": "okta, active_directory"},
            OktaAppSettings(app_filter="active_directory,okta"),
        ),
    ],
)
def test_okta_settings_from_okta_json(okta_json: dict[str, Any], expected: OktaAppSettings) -> None:
    assert OktaAppSettings.from_okta(okta_json) == expected


_BASE = OktaAppSettings(
    app_filter="active_directory,okta", group_filter="g", role_value_pattern="r"
)


@pytest.mark.parametrize(
    ("change", "unmaps"),
    [
        ({"use_group_mapping": False}, True),
        ({"app_filter": "okta"}, True),  # a source removed
        ({"app_filter": "active_directory,ldap_sun_one,okta"}, False),  # one added
        ({"group_filter": "h"}, True),
        ({"role_value_pattern": "s"}, True),
        ({"session_duration": 7200}, False),
        ({"join_all_roles": True}, False),
    ],
)
def test_which_settings_updates_can_take_access_away(change: dict[str, Any], unmaps: bool) -> None:
    assert _BASE.unmaps_groups(dataclasses.replace(_BASE, **change)) is unmaps
    assert not _BASE.unmaps_groups(_BASE)


@pytest.mark.parametrize("kind", [DirectoryKind.ACTIVE_DIRECTORY, DirectoryKind.OKTA])
def test_import_writes_every_app_setting_stated_as_written(kind: DirectoryKind) -> None:
    # okta.login_url was added to the spec and the model only: import writes it back
    # like session_duration, so the imported folder plans nothing for the app.
    state = small_state(kind=kind)
    custom = "https://console.aws.amazon.com/console/home?region=eu-west-1"
    okta = dataclasses.replace(state.settings.okta, login_url=custom, join_all_roles=True)
    state = dataclasses.replace(state, settings=dataclasses.replace(state.settings, okta=okta))
    live = live_of(state)
    _, again = imported(live)
    assert again.settings.okta.login_url == custom
    assert again.settings.okta.join_all_roles is True
    assert changes(again, live) == []
