"""Tables piped to another program keep a row on one line (rich assumed 80 columns and folded them)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from molops.cli._output import UNWRAPPED_WIDTH, _Console, out

from .conftest import Run, list_models

LONG = {
    "name": "solubility-logS-measured-at-pH-7.4-by-the-shake-flask-method",
    "versions": 12,
    "latest_version": 12,
    "aliases": {"champion": 10, "challenger": 11, "canary": 12},
    "target": "logS_shake_flask_pH_7_4_25C",
    "updated": "2026-11-27T09:37:45+02:00",
}


@pytest.fixture
def long_model(monkeypatch):
    list_models(monkeypatch, LONG)


def _rows(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("│")]


@pytest.fixture
def not_a_terminal(monkeypatch):
    """stdout is captured (not a terminal, as in `molops models list | cat`), and nothing in the
    environment tells rich to treat it as one."""
    for name in ("COLUMNS", "FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)


def _state() -> str:
    return f"(out: terminal {out.is_terminal}, width {out._width}, size {out.size})"


def test_a_piped_table_keeps_each_row_on_one_line(run: Run, long_model, not_a_terminal):
    res = run("models", "list")
    assert res.code == 0, res
    rows = _rows(res.stdout)
    assert len(rows) == 1, res.stdout + _state()
    for cell in (LONG["name"], LONG["target"], "2026-11-27 07:37:45", "canary→v12"):
        assert cell in rows[0], res.stdout


def test_columns_set_by_the_user_is_the_width(run: Run, long_model, not_a_terminal, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    res = run("models", "list")
    assert res.code == 0, res
    assert len(_rows(res.stdout)) > 1, res.stdout + _state()  # folded to fit, as asked
    assert max(len(line) for line in res.stdout.splitlines()) <= 60, res.stdout + _state()


def test_the_columns_of_the_moment_count_not_those_at_import(not_a_terminal, monkeypatch):
    # rich fixes $COLUMNS as a console's width when it is made; ours are made at import
    monkeypatch.setenv("COLUMNS", "80")
    console = _Console(file=io.StringIO())
    assert console.width == 80
    monkeypatch.delenv("COLUMNS")
    assert console.width == UNWRAPPED_WIDTH


def test_a_terminal_keeps_the_width_rich_gives_it(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    ours = _Console(file=io.StringIO(), force_terminal=True)
    assert ours.width == Console(file=io.StringIO(), force_terminal=True).width
    assert ours.width < UNWRAPPED_WIDTH


def test_a_width_set_on_the_console_wins(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    console = _Console(file=io.StringIO())
    assert console.width == UNWRAPPED_WIDTH
    console.width = 70
    assert console.width == 70
