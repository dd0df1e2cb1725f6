"""Entry point of the ``molops`` command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import typer.main
from rich.text import Text

from molops._version import __version__
from molops.cli import (
    audit,
    campaign,
    data,
    demo,
    explain,
    features,
    models,
    monitor,
    retrain,
    serve,
    train,
    ui,
)
from molops.cli._output import JsonOption, emit_json, err, out
from molops.config import CONFIG_FILE
from molops.errors import MolopsError
from molops.workspace import Workspace

if TYPE_CHECKING:
    from typer._click import Command

app = typer.Typer(
    name="molops",
    help="molops: versioned molecular data, cached features, tracked models and active learning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data.app, name="data")
app.add_typer(features.app, name="features")
app.add_typer(models.app, name="models")
app.add_typer(campaign.app, name="campaign")
app.command("train")(train.train)
app.command("predict")(train.predict)
app.command("serve")(serve.serve)
app.command("monitor")(monitor.monitor)
app.command("retrain")(retrain.retrain)
app.command("audit")(audit.audit)
app.command("serve-key")(serve.serve_key)
app.add_typer(serve.predictions_app, name="predictions")
app.command("demo")(demo.demo)
app.command("explain")(explain.explain)
app.command("ui")(ui.ui)


def _version(value: bool) -> None:
    if value:
        out.print(f"molops {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    workspace: Annotated[
        Path | None,
        typer.Option("--workspace", "-w", help="Workspace directory for every command.", show_default=False),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """molops: versioned molecular data, cached features, tracked models and active learning."""
    ctx.obj = {"workspace": workspace}


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Directory to create the workspace in.")],
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            help="MLflow store shared with other workspaces, e.g. postgresql://USER@HOST:PORT/DB "
            "(password in PGPASSWORD or PGPASSFILE, never here); init connects to it first. "
            "Default: mlflow.db in DIR.",
            show_default=False,
        ),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="Where datasets and the prediction log live, shared with other workspaces, e.g. "
            "s3://BUCKET/PREFIX (endpoint and credentials from AWS_* variables, never here). "
            "Default: DIR itself.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a workspace: DIR/molops.toml (commented) and its folders."""
    from molops.tracking import store as tracking_store

    if tracking_uri is not None:  # before anything is created; an existing workspace is refused below
        tracking_store.check_uri(tracking_uri)
        if not (directory / CONFIG_FILE).exists():
            tracking_store.check_reachable(tracking_uri, directory)
    ws = Workspace.init(directory, storage=storage)
    if tracking_uri is not None:
        ws = tracking_store.use_uri(ws, tracking_uri)
    if as_json:
        emit_json({"workspace": str(ws.root), "config": str(ws.root / "molops.toml")})
    else:
        out.print(f"created workspace {ws.root} (edit {ws.root / 'molops.toml'} to change the rules)")


def _hide_flag_metavars(command: Command) -> None:
    """Give every flag of *command* and its subcommands (``--help`` too) an empty metavar.

    typer's rich help prints a type after each option, ``<bool>`` after a flag as well, which reads
    as if ``--json`` took a value; an option's own metavar replaces that type, so an empty one shows none.
    """
    for param in [*command.params, command.get_help_option(command.context_class(command))]:
        if param is not None and getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():  # a group's subcommands
        _hide_flag_metavars(sub)


def command() -> Command:
    """The click command tree of :data:`app`, as ``molops`` runs it (flags without a metavar)."""
    root_command = typer.main.get_command(app)
    _hide_flag_metavars(root_command)
    return root_command


def main() -> None:
    """Run the CLI; errors molops raises on purpose become one line on stderr and an exit code."""
    try:
        code = command()(standalone_mode=False)
    except MolopsError as exc:
        err.print(Text.assemble(("error: ", "bold red"), str(exc)), highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted; nothing was committed by the interrupted step")
        sys.exit(130)
    except typer.Abort:
        sys.exit(1)
    except SystemExit:
        raise
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        try:  # the click typer raises from: its vendored copy (typer >= 0.2x), else click itself
            from typer._click import ClickException
        except ImportError:
            from click import ClickException  # type: ignore[assignment]  # typer before it vendored click

        if isinstance(exc, ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
