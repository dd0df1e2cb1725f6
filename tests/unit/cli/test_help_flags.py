"""``--help`` shows no type after a flag: ``--json <bool>`` read as if the flag took a value."""

from __future__ import annotations

import pytest

from .conftest import Run


def _row(help_text: str, option: str) -> str:
    """The help screen's line that names *option* (the row's first line: types sit there)."""
    rows = [line for line in help_text.splitlines() if f" {option} " in line]
    assert len(rows) == 1, help_text
    return rows[0]


@pytest.fixture(autouse=True)
def _wide_help(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # typer's help console reads it: one line per row


def test_flags_show_no_metavar_and_value_options_keep_theirs(run: Run):
    res = run("campaign", "simulate", "--help")
    assert res.code == 0, res
    for flag in ("--minimize", "--json", "--help"):
        assert "<bool>" not in _row(res.stdout, flag), flag
    assert "<path>" in _row(res.stdout, "--data")
    assert "<int>" in _row(res.stdout, "--iterations")


@pytest.mark.parametrize(
    "command",
    [(), ("campaign", "run"), ("retrain",), ("serve",), ("models", "export")],
    ids=lambda c: " ".join(c) or "root",
)
def test_no_help_screen_shows_a_bool_metavar(run: Run, command: tuple[str, ...]):
    """Flags of every kind: eager (``--version``), paired (``--track/--no-track``), single."""
    res = run(*command, "--help")
    assert res.code == 0, res
    assert "<bool>" not in res.stdout, res.stdout
    assert "<" in res.stdout  # the value options still show their types
