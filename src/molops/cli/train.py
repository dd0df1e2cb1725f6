"""``molops train`` and ``molops predict``: tracked training into the registry, batch prediction."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from molops.cli._output import (
    JsonOption,
    RayAddressOption,
    WorkersOption,
    WorkspaceOption,
    byte_progress,
    check_executor,
    emit_json,
    err,
    fmt_float,
    json_params,
    open_workspace,
    out,
    stage_progress,
    table,
)
from molops.data.sources import FORMATS
from molops.errors import UsageError

if TYPE_CHECKING:
    from rich.status import Status

#: Metrics shown in the human summary of a training.
SHOWN = ("rmse", "mae", "r2", "spearman", "spearman_abs_error_std", "nll", "miscalibration_area")

# The choices of --model, --split and --transform, spelled out so that `--help` and a mistyped
# option answer without importing the model zoo (LightGBM, scikit-learn, SciPy, Optuna: about a
# second) or MLflow (one more); tests/unit/cli/test_startup.py keeps them equal to the registries.
#: MODELS' names (molops.models.base)
MODEL_NAMES = ("dmpnn", "gp", "gp-split", "lightgbm", "mlp", "rf")
#: SPLIT_KINDS (molops.models.splits)
SPLIT_NAMES = ("random", "scaffold", "time")
#: TargetTransform's kinds (molops.models.transforms)
TRANSFORM_NAMES = ("none", "standardize", "log", "log-standardize")
#: METHODS (molops.models.calibration)
RECALIBRATE_NAMES = ("none", "scale", "isotonic", "auto")


def _check_options(model: str, candidates: list[str] | None, split: str, transform: str) -> None:
    """The option values ``train`` would refuse later, refused before the slow imports."""
    if model != "auto" and model not in MODEL_NAMES:
        raise UsageError(f"unknown model {model!r}; expected 'auto' or one of: {', '.join(MODEL_NAMES)}")
    if candidates is not None:
        if model != "auto":
            raise UsageError("--candidates only applies to --model auto; leave it out or use --model auto")
        unknown = [c for c in candidates if c not in MODEL_NAMES]
        if unknown or not candidates:
            raise UsageError(
                f"--candidates {','.join(candidates)!r} names no model or unknown ones "
                f"({', '.join(unknown) or 'empty'}); expected some of: {', '.join(MODEL_NAMES)}"
            )
    if split not in SPLIT_NAMES:
        raise UsageError(f"--split {split!r} is not supported; expected one of: {', '.join(SPLIT_NAMES)}")
    if transform not in TRANSFORM_NAMES:
        raise UsageError(
            f"--transform {transform!r} is not supported; expected one of: {', '.join(TRANSFORM_NAMES)}"
        )


@contextmanager
def _epoch_bars(status: Status) -> Iterator[Callable[[int, int], None]]:
    """A D-MPNN epoch callback that shows one bar per fit (plain stage lines without a terminal).

    The D-MPNN is silent for minutes on a CPU otherwise. The bars replace the spinner from the
    first epoch on (rich before 14.1 refuses a second live display while one is running), so the
    done lines count their seconds from the first fit's start.
    """
    with ExitStack() as stack:
        update: list[Callable[[str, int, int], None]] = []
        fits = 0

        def epochs(done: int, total: int) -> None:
            nonlocal fits
            if not update:
                status.stop()
                update.append(stack.enter_context(stage_progress()))
            if done == 0:  # a fit starts (train fits twice: on train+valid, then on train alone)
                fits += 1
            update[0](f"D-MPNN epochs, fit {fits}", done, total)

        yield epochs


def train(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset to train on.")],
    model: Annotated[
        str,
        typer.Option("--model", "-m", help=f"auto (explore the zoo) or one of: {', '.join(MODEL_NAMES)}."),
    ] = "auto",
    candidates: Annotated[
        str | None,
        typer.Option(help="With --model auto: the models to explore, comma-separated (default: all)."),
    ] = None,
    featurizer: Annotated[
        str | None,
        typer.Option(
            "--featurizer", "-f", help="Featurizer SPEC (default: morgan:counts=true; 'graph' for dmpnn)."
        ),
    ] = None,
    version: Annotated[
        int | None, typer.Option("--version", "-v", help="Dataset version (default: latest).")
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Target column (default: the dataset's only target).")
    ] = None,
    params: Annotated[str | None, typer.Option(help="Model parameters as a JSON object.")] = None,
    tune: Annotated[bool, typer.Option("--tune", help="Tune hyperparameters with Optuna first.")] = False,
    trials: Annotated[int, typer.Option(help="Optuna trials per tuned model.")] = 30,
    tune_fraction: Annotated[float, typer.Option(help="Fraction of the training part to tune on.")] = 0.2,
    tune_timeout: Annotated[float | None, typer.Option(help="Stop tuning after this many seconds.")] = None,
    executor: Annotated[
        str | None,
        typer.Option(
            help="Run --tune's trials on local worker processes or Ray, as many at once as there are "
            "workers, in one study (default: in this process, one at a time)."
        ),
    ] = None,
    workers: WorkersOption = 0,
    ray_address: RayAddressOption = None,
    split: Annotated[
        str, typer.Option(help=f"How to hold out the test set: {', '.join(SPLIT_NAMES)}.")
    ] = "random",
    seed: Annotated[int, typer.Option(help="Seed of the split, subsample, tuning and model.")] = 0,
    transform: Annotated[
        str, typer.Option(help="Target transform: standardize, log, log-standardize, none.")
    ] = "standardize",
    recalibrate: Annotated[
        str,
        typer.Option(
            help="Recalibrate the std on held-out predictions: auto (the default: none, scale or "
            "isotonic, whichever cross-fitting on them shows calibrates best), isotonic (Kuleshov), "
            "scale (one maximum-likelihood factor) or none."
        ),
    ] = "auto",
    name: Annotated[str | None, typer.Option(help="Registered model name (default: DATASET-TARGET).")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train a model on a dataset version, track the run in MLflow and register a new model version."""
    # bad options fail before the slow imports (the model zoo, MLflow, torch) below
    chosen = None if candidates is None else [c.strip() for c in candidates.split(",") if c.strip()]
    _check_options(model, chosen, split, transform)
    if recalibrate not in RECALIBRATE_NAMES:
        raise UsageError(
            f"--recalibrate {recalibrate!r} is not supported; expected one of: {', '.join(RECALIBRATE_NAMES)}"
        )
    check_executor(executor)
    if executor is not None and not tune:
        raise UsageError(f"--executor {executor} runs tuning trials; add --tune, or leave --executor out")
    model_params = json_params(params)
    ws = open_workspace(ctx, workspace)
    from molops.models.calibration import check_method
    from molops.models.transforms import transform_kind
    from molops.models.zoo.dmpnn import reporting_epochs
    from molops.tracking.training import TrainRequest
    from molops.tracking.training import train as run_training

    request = TrainRequest(
        dataset=dataset,
        version=version,
        target=target,
        model=model,
        candidates=chosen,
        featurizer=featurizer,
        params=model_params,
        tune=tune,
        trials=trials,
        tune_fraction=tune_fraction,
        tune_timeout=tune_timeout,
        executor=executor,
        workers=workers,
        ray_address=ray_address,
        split=split,
        seed=seed,
        transform=transform_kind(transform),
        recalibrate=check_method(recalibrate),
        name=name,
    )
    with (
        err.status("training", spinner="dots") as status,
        _epoch_bars(status) as epochs,
        reporting_epochs(epochs),
    ):

        def log(msg: str) -> None:
            status.update(msg)
            err.print(f"  {msg}")

        try:
            result = run_training(ws, request, log=log)
        finally:
            if executor == "ray":
                from molops.compute.ray import shutdown

                shutdown()
    if as_json:
        emit_json(result.model_dump())
        return
    out.print(
        f"[bold]{result.model_name}[/] version {result.model_version} ({result.alias}): {result.model} on "
        f"{result.featurizer}, {result.dataset} v{result.dataset_version}, {result.n_train} train / "
        f"{result.n_test} test, {result.seconds:.1f} s"
    )
    if result.comparison:
        out.print(
            table(
                "Model exploring (CV RMSE on the subsample)",
                ["model", "featurizer", "cv rmse", "± std", "s"],
                [
                    [
                        r["model"],
                        r["featurizer"],
                        fmt_float(r["cv_rmse"]),
                        fmt_float(r["cv_rmse_std"]),
                        fmt_float(r["seconds"], 2),
                    ]
                    for r in result.comparison
                ],
            )
        )
    out.print(
        table("Held-out test", ["metric", "value"], [[k, fmt_float(result.metrics.get(k))] for k in SHOWN])
    )
    out.print(_calibration_line(result.calibration))
    out.print(f"run {result.run_id}; model {result.model_uri}")


def _calibration_line(report: dict[str, Any]) -> str:
    """One line on the std recalibration: its factor and the miscalibration area before → after."""
    if not report.get("applied"):
        kept = "auto kept none" if report.get("method") == "auto" else "none"
        return f"std recalibration: {kept} ({report.get('note') or 'not asked for'})"
    how = report["method"] if report["method"] == report["chosen"] else f"auto chose {report['chosen']}"
    parts = [
        f"{part} {fmt_float(report[part]['before']['miscalibration_area'])} → "
        f"{fmt_float(report[part]['after']['miscalibration_area'])}"
        for part in ("valid", "test")
        if part in report
    ]
    return (
        f"std recalibration {how} (× {fmt_float(report['factor'])}, on {report['fitted_on']}): "
        f"miscalibration area {', '.join(parts)}"
        + ("" if report["method"] == report["chosen"] else f"; {report['reason']}")
    )


def predict(
    ctx: typer.Context,
    model: Annotated[
        str, typer.Option("--model", "-m", help="NAME, NAME@ALIAS or NAME:VERSION (default alias: champion).")
    ],
    input_file: Annotated[
        Path, typer.Argument(metavar="IN", help="Molecules: CSV/TSV/Parquet/SDF/SMI, optionally .gz.")
    ],
    output_file: Annotated[Path, typer.Argument(metavar="OUT", help="Predictions: .csv or .parquet.")],
    smiles_col: Annotated[str | None, typer.Option(help="SMILES column (default: smiles).")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help=f"Input format: {', '.join(FORMATS)}.")] = None,
    no_domain: Annotated[
        bool, typer.Option("--no-domain", help="Skip the applicability-domain similarity.")
    ] = False,
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Do not add the rows to the prediction log.")
    ] = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Predict mean and std for every molecule of a file; bad rows get an error column, not a crash.

    OUT keeps IN's columns, then adds row, smiles, canonical_smiles, inchikey, mean, std,
    similarity, in_domain, error, model_name and model_version; an input column named like one of
    those is renamed input_NAME (IN's own smiles column is written once). The predictions also go
    to the workspace's prediction log (source batch), so monitoring sees them.
    """
    if fmt is not None and fmt not in FORMATS:  # before the slow imports below
        raise UsageError(f"--format {fmt!r} is not supported; expected one of: {', '.join(FORMATS)}")
    from molops.data.prediction_log import PredictionLog
    from molops.tracking.predict import predict_file
    from molops.tracking.registry import ModelRegistry
    from molops.tracking.store import Tracking

    ws = open_workspace(ctx, workspace)
    registry = ModelRegistry(Tracking.of(ws).uri, ws.config.tracking.user)
    bundle, mv = registry.load(model)
    with byte_progress(f"predict {mv.name} v{mv.version}") as progress:
        summary = predict_file(
            bundle,
            input_file,
            output_file,
            smiles_col=smiles_col,
            fmt=fmt,
            model_name=mv.name,
            model_version=int(mv.version),
            applicability=not no_domain,
            progress=progress,
            log=None if no_log else PredictionLog.of(ws),
        )
    summary |= {"model_name": mv.name, "model_version": int(mv.version)}
    if as_json:
        emit_json(summary)
    else:
        out.print(
            f"{summary['n']} molecules → {output_file} ({summary['errors']} with errors) with "
            f"{mv.name} v{mv.version} in {summary['seconds']:.1f} s"
        )
