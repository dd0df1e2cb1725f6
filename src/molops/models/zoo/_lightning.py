"""Lightning and the ``gnn`` extra around the D-MPNN: whether they are installed, Lightning's
logging and deliberate warnings silenced around our own fits, and reading our checkpoints back.

Apart from :mod:`~molops.models.zoo.dmpnn` so that the model reads as fitting and prediction.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from molops.models.base import InvalidModelError

INSTALL_GNN = "install the gnn extra: pip install 'molops[gnn]'"
#: Lightning warnings our configuration triggers on purpose, ignored only around our own fit:
QUIET = (
    # training loads in the main process on purpose: its graphs are featurised once and cached in
    # memory, so worker processes would only copy them (and fight for a small machine's cores)
    r".*does not have many workers.*",
    # the user asked for accelerator='cpu' on a machine that has a GPU
    r"GPU available but not used.*",
    # a checkpoint_dir from an earlier fit is overwritten (or resumed from) deliberately
    r"Checkpoint directory .* exists and is not empty.*",
    # too few molecules for a validation split: chemprop's MPNN defines validation_step regardless
    r"You defined a `validation_step` but have no `val_dataloader`.*",
    # resuming with validation or early stopping switched on or off: the checkpoint's states of
    # callbacks no longer in use are dropped on purpose
    r"Be aware that when using `ckpt_path`, callbacks used to create the checkpoint need to be provided.*",
    # Lightning 2.6 still builds torch's LeafSpec, deprecated by newer torch; not ours to configure
    r"`isinstance\(treespec, LeafSpec\)` is deprecated.*",
)


def gnn_installed() -> bool:
    for name in ("torch", "lightning", "chemprop"):
        try:
            if importlib.util.find_spec(name) is None:
                return False
        except (ImportError, ValueError):  # a parent package missing, or sys.modules[name] is None
            return False
    return True


def require_gnn(model: str) -> None:
    if not gnn_installed():
        raise InvalidModelError(f"model {model!r} needs chemprop, torch and lightning; {INSTALL_GNN}")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Lightning without its info lines (device summary, tips) and without the warnings in QUIET."""
    loggers = [logging.getLogger(name) for name in ("lightning", "lightning.pytorch", "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        for pattern in QUIET:
            warnings.filterwarnings("ignore", message=pattern)
        for lg in loggers:
            lg.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A Lightning checkpoint we wrote, on the CPU (it holds chemprop's hyperparameter objects,
    so not weights-only)."""
    import torch

    checkpoint: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    return checkpoint
