"""``molops models list``: a readable time in the table, ISO 8601 in --json."""

from __future__ import annotations

import json

import pytest

from molops.cli._output import fmt_time

from .conftest import Run, list_models

ROW = {
    "name": "sol-logS",
    "versions": 2,
    "latest_version": 2,
    "aliases": {"champion": 2},
    "target": "logS",
    "updated": "2026-11-27T09:37:45+02:00",
}


@pytest.fixture
def fake_registry(monkeypatch):
    list_models(monkeypatch, ROW)
    monkeypatch.setenv("COLUMNS", "120")


def test_table_shows_the_time_in_utc_without_t_or_offset(run: Run, fake_registry):
    res = run("models", "list")
    assert res.code == 0, res
    assert "updated (UTC)" in res.stdout
    assert "2026-11-27 07:37:45" in res.stdout
    assert "T07" not in res.stdout and "+00:00" not in res.stdout


def test_json_keeps_iso_8601(run: Run, fake_registry):
    res = run("models", "list", "--json")
    assert json.loads(res.stdout)["models"][0]["updated"] == ROW["updated"]


@pytest.mark.parametrize(
    ("iso", "shown"),
    [
        ("2026-11-27T07:37:45+00:00", "2026-11-27 07:37:45"),
        ("2026-11-27T00:30:00-05:00", "2026-11-27 05:30:00"),
        ("2026-11-27T07:37:45.123456+00:00", "2026-11-27 07:37:45"),
        ("2026-11-27T07:37:45", "2026-11-27 07:37:45"),
        (None, ""),
        ("", ""),
        ("yesterday", "yesterday"),
    ],
)
def test_fmt_time(iso, shown):
    assert fmt_time(iso) == shown
