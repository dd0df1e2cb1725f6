"""The D-MPNN's parameters and their checks (:class:`~molops.models.zoo.dmpnn.DMPNN`).

Apart from the model so that the parameters (what ``--params`` accepts, what the registry records)
read on their own, without the training and prediction code.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from molops.models.base import ModelParams


class DMPNNParams(ModelParams):
    uncertainty: Literal["ensemble", "mve"] = Field(
        "ensemble",
        description="'ensemble': spread of n_members networks from different seeds; 'mve': a mean-variance "
        "head's predicted variance (plus the members' spread when n_members > 1)",
    )
    n_members: int = Field(
        3, ge=1, description="networks trained from different seeds (at least 2 for uncertainty='ensemble')"
    )
    depth: int = Field(3, ge=1, description="message-passing steps")
    hidden: int = Field(300, ge=1, description="width of the bond messages and of the molecule encoding")
    ffn_hidden: int = Field(300, ge=1, description="width of the feed-forward head's hidden layers")
    ffn_layers: int = Field(1, ge=1, description="hidden layers of the feed-forward head")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout in message passing and the head")
    # chemprop's default: a sum scaled by 1/100, so an extensive property (solvation energy, size-
    # dependent counts) can grow with the molecule while the encoding stays of order one
    aggregation: Literal["mean", "sum", "norm"] = Field(
        "norm",
        description="atom → molecule pooling: 'mean', 'sum', or 'norm' (sum / 100, chemprop's default)",
    )
    batch_norm: bool = Field(False, description="batch-normalise the molecule encoding")
    descriptors: Literal["none", "rdkit2d"] = Field(
        "none",
        description="molecule-level inputs joined to the learned encoding before the head: 'rdkit2d' (RDKit "
        "2D descriptors, standardised on the training molecules; a missing value counts as the mean)",
    )
    epochs: int = Field(50, ge=1, description="most training epochs per member")
    batch_size: int = Field(64, ge=1, description="molecules per training minibatch")
    warmup_epochs: int = Field(
        2, ge=0, description="epochs of linear learning-rate warm-up from init_lr to max_lr"
    )
    init_lr: float = Field(1e-4, gt=0, description="learning rate at the start of the warm-up")
    max_lr: float = Field(1e-3, gt=0, description="learning rate at the end of the warm-up")
    final_lr: float = Field(
        1e-4, gt=0, description="learning rate reached by exponential decay at the last epoch"
    )
    val_fraction: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="held-out fraction for picking the best epoch and early stopping (only where it holds at "
        "least 10 molecules; else every molecule trains and the last epoch is kept)",
    )
    patience: int | None = Field(
        10,
        ge=1,
        description="epochs without a better validation loss before stopping (None: never stop early)",
    )
    accelerator: Literal["auto", "cpu", "gpu"] = Field(
        "auto", description="'auto': a GPU when one is present, else the CPU; 'cpu'; or 'gpu'"
    )
    devices: Literal["auto"] | int = Field(
        "auto",
        description="'auto': one device; an int N > 1 trains each member data-parallel on N devices "
        "(Lightning's DDP, spawned processes)",
    )
    seed: int = Field(
        0, description="random seed (each member's initialisation, minibatches and validation split)"
    )
    num_workers: int | None = Field(
        None,
        ge=0,
        description="DataLoader worker processes (0: load in the main process; None: 0, except when "
        "predicting many molecules on a GPU, where up to 8 processes build the graphs)",
    )
    checkpoint_dir: str | None = Field(
        None,
        description="where each member keeps member-<i>/last.ckpt and best.ckpt (None: a temporary folder, "
        "removed after fitting)",
    )
    resume: bool = Field(
        False, description="continue each member from last.ckpt in checkpoint_dir when present"
    )

    @field_validator("n_members")
    @classmethod
    def _ensemble_needs_members(cls, value: int, info: ValidationInfo) -> int:
        if info.data.get("uncertainty") == "ensemble" and value < 2:
            raise ValueError("uncertainty='ensemble' needs n_members >= 2 (or use uncertainty='mve')")
        return value

    @field_validator("devices", mode="before")
    @classmethod
    def _auto_or_positive(cls, value: Any) -> Any:
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            return value
        raise ValueError(f"expected 'auto' or a positive number of devices; got {value!r}")

    @field_validator("resume")
    @classmethod
    def _resume_needs_a_folder(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("checkpoint_dir") is None:
            raise ValueError("resume=True needs a checkpoint_dir to resume from")
        return value
