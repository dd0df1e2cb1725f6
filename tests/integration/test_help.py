"""``--help`` everywhere, ``--version``, and usage errors without tracebacks."""

from __future__ import annotations

import re

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


def test_commands_added_later_have_help_too():
    """Walk every group the root lists; every command must answer --help.

    In process (typer's runner): the subprocess path is covered above, and thirty interpreter
    start-ups would cost a minute of the suite.
    """
    from typer.testing import CliRunner

    from molops.cli.main import app

    runner = CliRunner()
    todo, seen = [()], 0
    while todo:
        command = todo.pop()
        res = runner.invoke(app, [*command, "--help"], prog_name="molops", env={"COLUMNS": "100"})
        assert res.exit_code == 0, (command, res.output)
        assert f"Usage: molops {' '.join(command)}".rstrip() in res.output
        seen += 1
        if "COMMAND [ARGS]" in res.output:  # a group: walk its commands too
            todo += [(*command, sub) for sub in _commands_listed(res.output)]
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
def test_config_section_names_survive_rich_markup(command, text):
    """Rich reads ``[monitor]`` as a style tag and drops it unless it is escaped."""
    from typer.testing import CliRunner

    from molops.cli.main import app

    res = CliRunner().invoke(app, [command, "--help"], prog_name="molops", env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert text in res.output, res.output
