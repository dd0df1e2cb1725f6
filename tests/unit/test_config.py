"""molops.toml parsing: defaults, unknown keys, invalid values, environment overrides."""

from __future__ import annotations

import tomllib

import pytest
from pydantic import ValidationError

from molops.config import (
    DEFAULT_ELEMENTS,
    TEMPLATE,
    IngestSection,
    MolopsConfig,
    ValueRange,
    load_config,
    parse_config,
)
from molops.errors import ConfigError


def test_empty_text_gives_the_defaults():
    cfg = parse_config("", environ={})
    assert cfg == MolopsConfig()
    assert cfg.workspace.storage == "."
    assert cfg.ingest.aggregation == "mean"
    assert cfg.ingest.on_existing == "replace"
    assert cfg.ingest.allowed_elements == DEFAULT_ELEMENTS
    assert cfg.ingest.ranges == {}
    assert cfg.ingest.replicate_tolerance is None


def test_template_parses_to_exactly_the_defaults():
    assert parse_config(TEMPLATE, environ={}) == MolopsConfig()


def test_template_documents_every_setting():
    for section in ("workspace", "ingest"):
        assert f"[{section}]" in TEMPLATE
    for key in IngestSection.model_fields:
        assert key in TEMPLATE, key
    # Every non-blank line that is not a table header or a key = value line is a comment.
    for line in TEMPLATE.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("["):
            assert stripped.startswith("#") or " = " in stripped, line


def test_template_is_commented():
    comments = [line for line in TEMPLATE.splitlines() if line.lstrip().startswith("#")]
    assert len(comments) >= 10


def test_values_are_read():
    cfg = parse_config(
        """
[workspace]
storage = "tables"

[ingest]
aggregation = "median"
on_existing = "accumulate"
workers = 3
replicate_tolerance = 0.25
allowed_elements = ["C", "N", "O"]

[ingest.ranges]
SOL = { min = -15.0, max = 5.0 }
pIC50 = { min = 0 }
""",
        environ={},
    )
    assert cfg.workspace.storage == "tables"
    assert cfg.ingest.aggregation == "median"
    assert cfg.ingest.on_existing == "accumulate"
    assert cfg.ingest.workers == 3
    assert cfg.ingest.replicate_tolerance == 0.25
    assert cfg.ingest.allowed_elements == ["C", "N", "O"]
    assert cfg.ingest.ranges == {
        "SOL": ValueRange(min=-15.0, max=5.0),
        "pIC50": ValueRange(min=0.0, max=None),
    }


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[ingest]\nworkerz = 2\n", "ingest.workerz"),
        ("[bogus]\nx = 1\n", "bogus"),
        ("top_level = 1\n", "top_level"),
        ("[workspace]\nstorage = '.'\nroot = 'x'\n", "workspace.root"),
        ("[ingest.ranges]\nSOL = { min = 1, mx = 2 }\n", "ingest.ranges.SOL.mx"),
    ],
)
def test_unknown_key_is_an_error_naming_the_key(text, key):
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="here.toml", environ={})
    message = str(info.value)
    assert message.startswith("here.toml: unknown key ")
    assert repr(key) in message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[ingest]\nworkers = -1\n", "ingest.workers"),
        ("[ingest]\naggregation = 'sum'\n", "ingest.aggregation"),
        ("[ingest]\non_existing = 'merge'\n", "ingest.on_existing"),
        ("[ingest]\nchunk_rows = 10\n", "ingest.chunk_rows"),
        ("[ingest]\nmax_heavy_atoms = 0\n", "ingest.max_heavy_atoms"),
        ("[ingest]\nmax_molecular_weight = 0\n", "ingest.max_molecular_weight"),
        ("[ingest]\nreplicate_tolerance = 0\n", "ingest.replicate_tolerance"),
        ("[ingest]\nmax_heavy_atoms = 'many'\n", "ingest.max_heavy_atoms"),
        ("[ingest]\nallowed_elements = 'C'\n", "ingest.allowed_elements"),
        ("[ingest]\nranges = 3\n", "ingest.ranges"),
        ("ingest = 3\n", "ingest"),
    ],
)
def test_invalid_value_is_an_error_naming_the_key(text, key):
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="here.toml", environ={})
    assert str(info.value).startswith(f"here.toml: invalid value for {key!r}: ")


def test_range_with_min_above_max_is_rejected():
    with pytest.raises(ConfigError) as info:
        parse_config("[ingest.ranges]\nSOL = { min = 5, max = 1 }\n", environ={})
    message = str(info.value)
    assert "'ingest.ranges.SOL'" in message
    assert "min (5.0) is greater than max (1.0)" in message


def test_value_range_allows_equal_and_open_ends():
    assert ValueRange(min=1, max=1).min == 1.0
    assert ValueRange().min is None and ValueRange().max is None
    with pytest.raises(ValidationError):
        ValueRange(min=2, max=1)


def test_not_toml_is_a_config_error():
    with pytest.raises(ConfigError, match=r"^cfg\.toml: not valid TOML"):
        parse_config("[ingest\nworkers = ", source="cfg.toml", environ={})


def test_sections_validate_assignment():
    cfg = MolopsConfig()
    with pytest.raises(ValidationError):
        cfg.ingest.workers = -5


# -- environment overrides ---------------------------------------------------------------------
def test_env_override_parses_toml_literals():
    env = {
        "MOLOPS_INGEST__WORKERS": "4",
        "MOLOPS_INGEST__REJECT_RADICALS": "false",
        "MOLOPS_INGEST__ALLOWED_ELEMENTS": '["C", "O"]',
        "MOLOPS_INGEST__MAX_MOLECULAR_WEIGHT": "900.5",
    }
    cfg = parse_config("", environ=env)
    assert cfg.ingest.workers == 4
    assert cfg.ingest.reject_radicals is False
    assert cfg.ingest.allowed_elements == ["C", "O"]
    assert cfg.ingest.max_molecular_weight == 900.5


def test_env_override_falls_back_to_a_plain_string():
    cfg = parse_config(
        "", environ={"MOLOPS_INGEST__AGGREGATION": "median", "MOLOPS_WORKSPACE__STORAGE": "data/tables"}
    )
    assert cfg.ingest.aggregation == "median"
    assert cfg.workspace.storage == "data/tables"


def test_env_override_wins_over_the_file():
    cfg = parse_config("[ingest]\nworkers = 2\nchunk_rows = 300\n", environ={"MOLOPS_INGEST__WORKERS": "7"})
    assert cfg.ingest.workers == 7
    assert cfg.ingest.chunk_rows == 300


def test_env_variables_without_a_section_are_ignored():
    env = {"MOLOPS_WORKSPACE": "/somewhere", "MOLOPS_DEBUG": "1", "OTHER__THING": "x", "INGEST__WORKERS": "9"}
    assert parse_config("", environ=env) == MolopsConfig()


def test_env_override_with_unknown_key_is_an_error():
    with pytest.raises(ConfigError, match=r"unknown key 'ingest\.bogus'"):
        parse_config("", environ={"MOLOPS_INGEST__BOGUS": "1"})


def test_env_override_with_invalid_value_is_an_error():
    with pytest.raises(ConfigError, match=r"invalid value for 'ingest\.workers'"):
        parse_config("", environ={"MOLOPS_INGEST__WORKERS": "-2"})


def test_env_override_into_a_non_table_is_an_error():
    with pytest.raises(ConfigError, match="'ingest' must be a table"):
        parse_config("ingest = 3\n", environ={"MOLOPS_INGEST__WORKERS": "2"})


def test_env_defaults_to_the_process_environment(monkeypatch):
    monkeypatch.setenv("MOLOPS_INGEST__CHUNK_ROWS", "200")
    assert parse_config("").ingest.chunk_rows == 200
    assert parse_config("", environ={}).ingest.chunk_rows == 5000


# -- files -------------------------------------------------------------------------------------
def test_load_config_reads_the_file(tmp_path):
    path = tmp_path / "molops.toml"
    path.write_text("[ingest]\nworkers = 5\n", encoding="utf-8")
    assert load_config(path).ingest.workers == 5


def test_load_config_names_the_file_in_errors(tmp_path):
    path = tmp_path / "molops.toml"
    path.write_text("[ingest]\nwrokers = 5\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}: unknown key 'ingest.wrokers'; see the commented template that `molops init` writes"
    )


def test_load_config_of_a_missing_file_is_a_config_error(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="cannot read the workspace config"):
        load_config(path)


def test_template_is_valid_toml_with_the_documented_sections():
    data = tomllib.loads(TEMPLATE)
    assert set(data) == set(MolopsConfig.model_fields)
    assert data["ingest"]["ranges"] == {}
