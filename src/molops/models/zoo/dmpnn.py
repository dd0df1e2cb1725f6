"""chemprop v2's directed message-passing neural network (D-MPNN) on SMILES, with uncertainty.

The only graph model of the zoo: it takes SMILES (``inputs = "smiles"``) and featurises them itself
as chemprop's ``SimpleMoleculeMolGraphFeaturizer`` does (training with it; prediction with molops'
equal, batched :func:`molops.features.graph.batch_graphs`). Each network is bond message passing →
aggregation (mean, sum or norm) → optional batch norm → feed-forward head, trained by Lightning with
chemprop's Noam-like learning-rate schedule on standardised targets (mean and std of the training
targets, stored with the model; predictions come back in the user's units).

Uncertainty, by ``uncertainty``:

- ``"ensemble"``: ``n_members`` networks from different seeds (initial weights, minibatch order,
  validation split); mean and std over members, samples are single members.
- ``"mve"``: a mean-variance head trained on the Gaussian negative log-likelihood predicts an
  aleatoric variance per molecule. With ``n_members > 1`` the members are combined as a deep
  ensemble: total variance = mean of the members' variances + variance of their means.

chemprop, torch and Lightning come with the optional ``gnn`` extra and are imported only inside
methods, so ``import molops.models`` stays light and lists ``dmpnn`` without them; constructing or
fitting the model without them raises :class:`InvalidModelError` saying what to install (a saved,
fitted model needs torch to load: its weights are torch tensors).

Training runs on a GPU when one is present (``accelerator='auto'``), prediction too; a fitted model
holds its networks as CPU state dicts, so it pickles (:meth:`Surrogate.save`) and predicts on a
machine without a GPU. With ``checkpoint_dir`` every member keeps ``last.ckpt`` (each epoch) and
``best.ckpt`` (lowest validation loss, or the last epoch without validation) under
``member-<i>/``, and ``resume=True`` continues each member from its ``last.ckpt``.

Fitting takes minutes on a CPU, so it reports its epochs to a callback (:data:`EpochProgress`):
``fit(X, y, progress=...)``, or, for a fit reached through layers that pass no callback (the
training recipe and its refits, under ``molops train``), every fit inside :func:`reporting_epochs`.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar, Self, cast

import numpy as np

from molops.features.graph import GraphFeaturizer
from molops.models.base import MODELS, Capability, InvalidModelError, Surrogate, ensemble_stats
from molops.models.zoo._common import draw_members, member_seeds
from molops.models.zoo._graph_data import (
    PREDICT_BATCH,
    SmilesBatches,
    descriptor_matrix,
    loader_workers,
    parse_many,
    standardised,
)
from molops.models.zoo._lightning import require_gnn
from molops.models.zoo.dmpnn_params import DMPNNParams
from molops.models.zoo.dmpnn_train import train_member

#: fewest molecules in the validation split before it is used (below: train on all, keep the last epoch)
_MIN_VALIDATION = 10

#: ``progress(done, total)``: epochs trained so far by one fit, over all its members, and the most it
#: trains (``n_members * epochs``). Called with ``done=0`` as the fit starts, after every epoch, and
#: at each member's end (an early-stopped member counts as all its epochs), so ``done`` ends at ``total``.
EpochProgress = Callable[[int, int], None]

_REPORT_EPOCHS: ContextVar[EpochProgress | None] = ContextVar("molops_dmpnn_epochs", default=None)


@contextlib.contextmanager
def reporting_epochs(progress: EpochProgress) -> Iterator[None]:
    """Every D-MPNN fit in this block (and this thread) without a ``progress`` of its own reports to
    *progress*; a new fit is the call with ``done=0``."""
    token = _REPORT_EPOCHS.set(progress)
    try:
        yield
    finally:
        _REPORT_EPOCHS.reset(token)


def _as_is(batch: Any) -> Any:
    """The loader's collate function: a batch is built whole by SmilesBatches (a module-level
    function, so loader processes can pickle it)."""
    return batch


@MODELS.register("dmpnn")
class DMPNN(Surrogate[DMPNNParams]):
    """chemprop's D-MPNN on SMILES; an ensemble of seeds and/or a mean-variance head for the std.

    ``fit(X, y)`` and ``predict(X)`` take X as a 1-D array or sequence of SMILES strings. The std of
    ``'ensemble'`` is the members' disagreement (epistemic); that of ``'mve'`` adds each network's
    predicted noise (aleatoric), so it stays well above zero at training molecules.
    """

    name = "dmpnn"
    Params = DMPNNParams
    provides: ClassVar[frozenset[Capability]] = frozenset({"mean", "std", "samples"})
    inputs = "smiles"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        require_gnn(self.name)
        self._states: list[dict[str, Any]] = []
        self._nets: list[Any] | None = None
        self._device: Any = None  # the torch device _nets are on
        self._xd_mean: np.ndarray | None = None  # the descriptors' training mean and scale
        self._xd_scale: np.ndarray | None = None

    # -- inputs --------------------------------------------------------------------------------
    def _smiles(self, X: Any) -> np.ndarray:
        """*X* checked to be a non-empty 1-D sequence of strings (parsed later, row by row)."""
        if isinstance(X, str):
            msg = f"model {self.name!r}: X must be a sequence of SMILES strings, not one string"
            raise InvalidModelError(msg)
        try:
            arr = np.asarray(X, dtype=object)
        except (TypeError, ValueError):
            msg = f"model {self.name!r}: X must be a 1-D sequence of SMILES strings, got {type(X).__name__}"
            raise InvalidModelError(msg) from None
        if arr.ndim != 1:
            raise InvalidModelError(
                f"model {self.name!r} takes SMILES: X must be a 1-D sequence of SMILES strings; got shape "
                f"{arr.shape} (pass the SMILES column, not a feature matrix)"
            )
        if len(arr) == 0:
            raise InvalidModelError(f"model {self.name!r}: X has no SMILES")
        not_str = [i for i, s in enumerate(arr) if not isinstance(s, str)]
        if not_str:
            i = not_str[0]
            raise InvalidModelError(
                f"model {self.name!r} takes SMILES strings, but {len(not_str)} of {len(arr)} values of X "
                f"are not strings (row {i}: {arr[i]!r} of type {type(arr[i]).__name__})"
            )
        return arr

    def _targets(self, y: Any, n: int) -> np.ndarray:
        try:
            ya = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError):
            msg = f"model {self.name!r}: y must be a numeric vector, got {type(y).__name__}"
            raise InvalidModelError(msg) from None
        if ya.ndim != 1:
            raise InvalidModelError(f"model {self.name!r}: y must be 1-D of shape (n,); got shape {ya.shape}")
        if len(ya) != n:
            raise InvalidModelError(f"model {self.name!r}: X has {n} SMILES but y has {len(ya)} values")
        if n < 2:
            raise InvalidModelError(f"model {self.name!r} needs at least 2 training molecules; got {n}")
        if not np.isfinite(ya).all():
            raise InvalidModelError(
                f"model {self.name!r}: y has {int((~np.isfinite(ya)).sum())} NaN or infinite values; "
                "drop them first"
            )
        return ya

    # -- networks ------------------------------------------------------------------------------
    def _network(self) -> Any:
        """A fresh, untrained chemprop MPNN with this model's hyperparameters."""
        from chemprop import models, nn

        p = self.params
        mp = nn.BondMessagePassing(d_h=p.hidden, depth=p.depth, dropout=p.dropout)
        pooling = {"mean": nn.MeanAggregation, "sum": nn.SumAggregation, "norm": nn.NormAggregation}
        agg = pooling[p.aggregation]()
        head = (nn.MveFFN if p.uncertainty == "mve" else nn.RegressionFFN)(
            input_dim=mp.output_dim + self._n_descriptors(),
            hidden_dim=p.ffn_hidden,
            n_layers=p.ffn_layers,
            dropout=p.dropout,
        )
        return models.MPNN(
            mp,
            agg,
            head,
            batch_norm=p.batch_norm,
            warmup_epochs=p.warmup_epochs,
            init_lr=p.init_lr,
            max_lr=p.max_lr,
            final_lr=p.final_lr,
        )

    def _use_gpu(self, *, fitting: bool) -> bool:
        import torch

        p = self.params
        available = torch.cuda.is_available()
        if p.accelerator == "gpu" and not available and fitting:
            raise InvalidModelError(
                f"model {self.name!r}: accelerator='gpu' but torch sees no GPU; "
                "use accelerator='auto' or 'cpu'"
            )
        return available and p.accelerator != "cpu"

    @property
    def accelerator_(self) -> str:
        """Where fitting runs here and now: 'gpu' or 'cpu' (``accelerator='auto'`` resolved)."""
        return "gpu" if self._use_gpu(fitting=True) else "cpu"

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, progress: EpochProgress | None = None) -> Self:
        """Fit on SMILES *X* and targets *y*; *progress* (else reporting_epochs's) hears the epochs."""
        require_gnn(self.name)
        import torch
        from chemprop import data

        p = self.params
        smiles = self._smiles(X)
        ya = self._targets(y, len(smiles))
        mols = parse_many(self.name, 0, smiles)
        gpu = self._use_gpu(fitting=True)
        self._y_mean = float(ya.mean())
        self._y_scale = float(ya.std()) or 1.0
        ys = ((ya - self._y_mean) / self._y_scale).astype(np.float32)

        self._xd_mean = self._xd_scale = None
        xd: np.ndarray | None = None
        if p.descriptors != "none":
            raw = descriptor_matrix(smiles)
            finite = np.isfinite(raw)
            count = finite.sum(axis=0)
            filled = np.where(finite, raw, 0.0)
            self._xd_mean = filled.sum(axis=0) / np.maximum(count, 1)
            spread = np.sqrt(
                (np.where(finite, raw - self._xd_mean, 0.0) ** 2).sum(axis=0) / np.maximum(count, 1)
            )
            self._xd_scale = np.where(spread > 0, spread, 1.0)
            xd = self._scaled_descriptors(raw)
        featurizer = GraphFeaturizer().chemprop_featurizer()
        dataset = data.MoleculeDataset(
            [
                data.MoleculeDatapoint(mol, y=ys[i : i + 1], x_d=None if xd is None else xd[i])
                for i, mol in enumerate(mols)
            ],
            featurizer,
        )
        dataset.cache = True  # featurise every graph once, shared by all members and epochs

        n_val = math.ceil(p.val_fraction * len(mols))
        validate = p.val_fraction > 0 and n_val >= _MIN_VALIDATION and len(mols) - n_val >= 2
        self.fitted, self._states, self.training_log_ = False, [], []
        report = progress or _REPORT_EPOCHS.get()
        total = p.n_members * p.epochs
        if report is not None:
            report(0, total)
        with contextlib.ExitStack() as stack:
            if p.checkpoint_dir is None:
                root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="molops-dmpnn-")))
            else:
                root = Path(p.checkpoint_dir)
            for i, rng in enumerate(member_seeds(p.seed, p.n_members)):
                torch_seed, loader_seed = (int(s) for s in rng.integers(0, 2**31 - 1, size=2))
                order = rng.permutation(len(mols))
                train_rows, val_rows = (order[n_val:], order[:n_val]) if validate else (order, None)
                devices = [torch.cuda.current_device()] if gpu else []
                done_before = i * p.epochs
                on_epoch = None if report is None else (lambda n, r=report, d=done_before: r(d + n, total))
                with torch.random.fork_rng(devices=devices):
                    torch.manual_seed(torch_seed)
                    state, log = train_member(
                        self.name,
                        p,
                        self._network(),
                        dataset,
                        train_rows,
                        val_rows,
                        root / f"member-{i}",
                        loader_seed,
                        gpu,
                        on_epoch,
                    )
                if report is not None:  # early stopping (or several devices) leaves epochs unreported
                    report(done_before + p.epochs, total)
                self._states.append(state)
                self.training_log_.append({"member": i, **log})
        self._nets = None
        self.fitted = True
        return self

    # -- prediction ----------------------------------------------------------------------------
    def _networks(self) -> tuple[list[Any], Any]:
        """The trained networks, in eval mode on the prediction device (built once, then reused)."""
        require_gnn(self.name)
        import torch

        device = torch.device("cuda" if self._use_gpu(fitting=False) else "cpu")
        if self._nets is None or self._device != device:
            nets = []
            for state in self._states:
                net = self._network()
                net.load_state_dict(state)
                nets.append(net.to(device).eval())
            self._nets, self._device = nets, device
        return self._nets, self._device

    def member_predictions(self, X: Any) -> np.ndarray:
        """Every member's predicted mean in the user's units, shape (n_members, n)."""
        return self._member_outputs(X)[0]

    def _member_outputs(self, X: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Members' means (n_members, n) and, with ``uncertainty='mve'``, their predicted variances."""
        self.check_fitted()
        import torch
        from torch.utils.data import DataLoader, Dataset

        p = self.params
        smiles = self._smiles(X)
        nets, device = self._networks()
        # graphs are built batch by batch (in loader processes when there are any), never for the whole pool
        batches = SmilesBatches(self.name, smiles, self._scaling(), PREDICT_BATCH)
        loader = DataLoader(
            cast("Dataset[Any]", batches),  # DataLoader takes any map-style dataset (len and [i])
            batch_size=None,  # each item is already a batch
            shuffle=False,
            num_workers=loader_workers(p.num_workers, device.type, len(smiles)),
            collate_fn=_as_is,
        )
        means, variances = [], []
        with torch.inference_mode():
            for batch in loader:
                bmg = batch.bmg
                bmg.to(device)
                X_d = None if batch.X_d is None else batch.X_d.to(device)
                outs = [net(bmg, None, X_d).float().cpu().numpy() for net in nets]
                if p.uncertainty == "mve":  # (b, tasks=1, [mean, var])
                    means.append(np.stack([o[:, 0, 0] for o in outs]))
                    variances.append(np.stack([o[:, 0, 1] for o in outs]))
                else:  # (b, tasks=1)
                    means.append(np.stack([o[:, 0] for o in outs]))
        mean = np.concatenate(means, axis=1).astype(np.float64) * self._y_scale + self._y_mean
        if not variances:
            return mean, None
        return mean, np.concatenate(variances, axis=1).astype(np.float64) * self._y_scale**2

    def predict(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        means, variances = self._member_outputs(X)
        if variances is None:
            return ensemble_stats(means)
        # law of total variance: mean aleatoric variance + variance of the members' means
        return means.mean(axis=0), np.sqrt(variances.mean(axis=0) + means.var(axis=0))

    def sample(self, X: Any, n_samples: int, seed: int = 0) -> np.ndarray:
        """Members' predictions, each member once before any repeats; with ``'mve'`` each drawn
        member's mean plus Gaussian noise of its predicted variance."""
        means, variances = self._member_outputs(X)
        if variances is None:
            return draw_members(means, n_samples, seed)
        picked = draw_members(np.stack([means, np.sqrt(variances)], axis=1), n_samples, seed)
        noise = np.random.default_rng(seed).standard_normal(picked[:, 0].shape)
        return picked[:, 0] + picked[:, 1] * noise

    # -- descriptors ---------------------------------------------------------------------------
    def _scaling(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The descriptors' (mean, scale) on the training molecules; None for a model without them."""
        mean: np.ndarray | None = getattr(self, "_xd_mean", None)
        scale: np.ndarray | None = getattr(self, "_xd_scale", None)
        return None if mean is None or scale is None else (mean, scale)

    def _n_descriptors(self) -> int:
        scaling = self._scaling()
        return 0 if scaling is None else len(scaling[0])

    def _scaled_descriptors(self, raw: np.ndarray) -> np.ndarray:
        scaling = self._scaling()
        if scaling is None:
            raise InvalidModelError(f"model {self.name!r}: descriptors are scaled before they are fitted")
        return standardised(raw, *scaling)

    # -- pickling ------------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        # the networks are rebuilt from the CPU state dicts and the parameters when first needed,
        # so a model trained on a GPU loads and predicts on a machine without one
        state = self.__dict__.copy()
        state["_nets"] = None
        state.pop("_device", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "depth": trial.suggest_int("depth", 2, 6),
            "hidden": trial.suggest_int("hidden", 100, 600, log=True),
            "ffn_layers": trial.suggest_int("ffn_layers", 1, 3),
            "dropout": trial.suggest_float("dropout", 0.0, 0.4),
            "max_lr": trial.suggest_float("max_lr", 1e-4, 3e-3, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
        }
