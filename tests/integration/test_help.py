"""``--help`` everywhere, ``--version``, and usage errors without tracebacks."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

import pytest

from molops._version import __version__

from ._cli import molops

pytestmark = pytest.mark.integration

DATA_COMMANDS = ["ingest", "list", "versions", "show", "diff", "export", "quarantine", "rollback"]


def _commands_listed(help_text: str) -> set[str]:
    """Command names in the 'Commands' panel of a typer/rich help screen."""
    panel = help_text.split("Commands", 1)[1]
    return set(re.findall(r"^[│|]?\s+([a-z][a-z-]*)\s{2,}", panel, flags=re.MULTILINE))


def test_root_help_lists_the_command_groups():
    res = molops("--help").ok()
    assert "Usage: molops" in res.stdout
    assert _commands_listed(res.stdout) >= {"data", "demo", "init"}
    assert res.stderr == ""


def test_data_help_lists_every_subcommand():
    res = molops("data", "--help").ok()
    assert "Usage: molops data" in res.stdout
    assert _commands_listed(res.stdout) >= set(DATA_COMMANDS)


@pytest.mark.parametrize(
    "command", [["init"], ["demo"], *(["data", c] for c in DATA_COMMANDS)], ids=lambda c: " ".join(c)
)
def test_every_command_has_help(command):
    res = molops(*command, "--help").ok()
    assert f"Usage: molops {' '.join(command)}" in res.stdout
    assert "--help" in res.stdout
    assert res.stderr == ""
    if command != ["init"]:  # every command that reports something takes --json
        assert "--json" in res.stdout


def _help_in_process(monkeypatch, capsys, command: Sequence[str], columns: int) -> tuple[int, str, str]:
    """``molops COMMAND --help`` through :func:`molops.cli.main.main`, the console script's own entry
    point (the click tree of ``command()``, flags without a metavar, its error handling), in process:
    exit status, stdout and stderr."""
    from molops.cli.main import main

    monkeypatch.setenv("COLUMNS", str(columns))  # the help console's width, read when it prints
    monkeypatch.setattr(sys, "argv", ["molops", *command, "--help"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main()
    captured = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 0 if code is None else 1), captured.out, captured.err


def test_commands_added_later_have_help_too(monkeypatch, capsys):
    """Walk every group the root lists; every command must answer --help, as users see it.

    In process, through the entry point itself: the subprocess path is covered above, and thirty
    interpreter start-ups would cost a minute of the suite.
    """
    todo: list[tuple[str, ...]] = [()]
    seen = 0
    while todo:
        command = todo.pop()
        code, stdout, stderr = _help_in_process(monkeypatch, capsys, command, columns=100)
        assert code == 0 and stderr == "", (command, stdout, stderr)
        assert f"Usage: molops {' '.join(command)}".rstrip() in stdout
        assert "<bool>" not in stdout, (command, stdout)  # flags take no value (command() hides it)
        seen += 1
        if "COMMAND [ARGS]" in stdout:  # a group: walk its commands too
            todo += [(*command, sub) for sub in _commands_listed(stdout)]
    assert seen > 25


def test_version():
    res = molops("--version").ok()
    assert res.stdout.strip() == f"molops {__version__}"


@pytest.mark.parametrize(
    "argv",
    [["data", "ingest", "--no-such-option"], ["data", "diff"], ["no-such-command"]],
    ids=["unknown-option", "missing-args", "unknown-command"],
)
def test_usage_errors_exit_2_without_traceback(argv):
    res = molops(*argv)
    assert res.returncode == 2, str(res)
    assert "Traceback" not in res.stderr, str(res)
    assert res.stdout == ""
    assert "Error" in res.stderr and "--help" in res.stderr


@pytest.mark.parametrize(
    ("command", "text"),
    [("monitor", "(default from [monitor])"), ("retrain", "when a [retrain] trigger fires")],
)
def test_config_section_names_survive_rich_markup(monkeypatch, capsys, command, text):
    """Rich reads ``[monitor]`` as a style tag and drops it unless it is escaped."""
    code, stdout, _ = _help_in_process(monkeypatch, capsys, [command], columns=200)
    assert code == 0, stdout
    assert text in stdout, stdout
