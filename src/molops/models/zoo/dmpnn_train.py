"""Training one D-MPNN member with Lightning: dataloaders, checkpoints (last and best, so a run
can resume), early stopping, and the best weights read back from the checkpoint files."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from molops.models.base import InvalidModelError
from molops.models.zoo._graph_data import PREDICT_BATCH
from molops.models.zoo._lightning import load_checkpoint, quiet
from molops.models.zoo.dmpnn_params import DMPNNParams


def train_member(
    name: str,
    p: DMPNNParams,
    net: Any,
    dataset: Any,
    train_rows: np.ndarray,
    val_rows: np.ndarray | None,
    folder: Path,
    loader_seed: int,
    gpu: bool,
    on_epoch: Callable[[int], None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train *net*, one member of model *name*; its best weights as a CPU state dict, and what
    happened (checkpoints under *folder*).

    ``on_epoch(epochs)`` is called after each epoch (validation included) with the member's epochs
    done so far; not with several devices, whose training runs in spawned processes.
    """
    from chemprop import data
    from lightning import pytorch as pl
    from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
    from torch.utils.data import Subset

    # BatchNorm cannot train on a batch of one molecule: drop such a last batch (its molecule
    # lands in another batch next epoch, minibatches are reshuffled)
    drop_last = p.batch_norm and len(train_rows) % p.batch_size == 1 and len(train_rows) > 1
    train = data.build_dataloader(
        Subset(dataset, train_rows.tolist()),
        batch_size=p.batch_size,
        num_workers=p.num_workers or 0,
        seed=loader_seed,
        shuffle=True,
        drop_last=drop_last,
    )
    val = None
    if val_rows is not None:
        val = data.build_dataloader(
            Subset(dataset, val_rows.tolist()),
            batch_size=PREDICT_BATCH,
            num_workers=p.num_workers or 0,
            shuffle=False,
            drop_last=False,
        )
    folder.mkdir(parents=True, exist_ok=True)
    # last.ckpt every epoch (Lightning's own save_last writes only when the best improved), and
    # with validation best.ckpt at the lowest validation loss, saved before last.ckpt so that
    # last.ckpt carries the best-so-far state into a resumed run; without validation best.ckpt
    # is a copy of last.ckpt, written after training
    latest = ModelCheckpoint(dirpath=folder, filename="last", save_top_k=1, enable_version_counter=False)
    checkpoint = None
    if val is not None:
        checkpoint = ModelCheckpoint(
            dirpath=folder,
            filename="best",
            monitor="val_loss",
            mode="min",
            save_top_k=1,
            enable_version_counter=False,
        )
    callbacks: list[Callback] = [cb for cb in (checkpoint, latest) if cb is not None]
    if val is not None and p.patience is not None:
        callbacks.append(EarlyStopping(monitor="val_loss", mode="min", patience=p.patience))
    devices = 1 if p.devices == "auto" else p.devices
    if on_epoch is not None and devices == 1:  # ddp_spawn pickles the callbacks: a closure would not go
        report: Callable[[int], None] = on_epoch

        class _EpochDone(Callback):
            # Lightning 2 calls on_train_epoch_end after the epoch's validation
            def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
                report(trainer.current_epoch + 1)

        callbacks.append(_EpochDone())
    last = folder / "last.ckpt"
    ckpt_path = last if p.resume and last.exists() else None
    # last.ckpt is written at the end of an epoch, so a resumed run starts at the next one
    start_epoch = 0 if ckpt_path is None else min(int(load_checkpoint(last)["epoch"]) + 1, p.epochs)
    with quiet():  # the Trainer logs its device summary and tips when it is built
        trainer = pl.Trainer(
            accelerator="gpu" if gpu else "cpu",
            devices=devices,
            strategy="ddp_spawn" if devices > 1 else "auto",
            precision="32-true",
            max_epochs=p.epochs,
            logger=False,
            callbacks=callbacks,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=folder,
            num_sanity_val_steps=0,
        )
        try:
            trainer.fit(net, train, val, ckpt_path=ckpt_path, weights_only=False)
        except RuntimeError as exc:
            if ckpt_path is not None and "state_dict" in str(exc):
                raise InvalidModelError(
                    f"model {name!r}: {ckpt_path} was written by a network of other "
                    "hyperparameters; resume with the same parameters, or clear checkpoint_dir"
                ) from None
            raise
    # Everything is read back from the checkpoint files, not from the trainer: with several
    # devices training runs in spawned processes, whose trainer state does not come back.
    final = load_checkpoint(last)
    if checkpoint is not None:
        best = load_checkpoint(folder / "best.ckpt")
        score = best["callbacks"][checkpoint.state_key]["best_model_score"]
    else:
        best, score = final, None
        if p.checkpoint_dir is not None:
            shutil.copyfile(last, folder / "best.ckpt")
    state = {k: v.detach().to("cpu", copy=True) for k, v in best["state_dict"].items()}
    log = {
        "start_epoch": start_epoch,
        "epochs": int(final["epoch"]) + 1,
        "best_val_loss": None if score is None else float(score),
        "n_train": len(train_rows),
        "n_val": 0 if val_rows is None else len(val_rows),
        "resumed_from": str(ckpt_path) if ckpt_path is not None else None,
    }
    return state, log
