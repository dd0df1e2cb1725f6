"""Active-learning campaigns: propose the next experiments, take results back, retrain, repeat.

A campaign binds a dataset (what has been measured), a pool file (the candidates, streamed), an
objective, a :class:`~molops.active.recipe.Recipe`, a batch size, a budget and filters. Its state
lives in the workspace, so a campaign outlives the process that made it and runs over weeks::

    campaigns/NAME/campaign.json                 config, iterations, ingests (written atomically)
    campaigns/NAME/proposals/iteration-NNNN.parquet   the ranked batch of one iteration
    campaigns/NAME/results/ingest-NNNN.parquet        the results of one ingest, matched to proposals

A proposal is *open* until its molecule has a measured value for the target in the dataset's
latest version (whichever ingest brought it), and *answered* from then on; so a proposal answered
through ``molops data ingest`` counts too, and a rollback reopens it. Open proposals are never
proposed again while they are open, and measured molecules never are.

Scoring streams the pool's identity table in chunks and keeps only a bounded window of the best
candidates (plus a fixed-size uniform sample of predictions for the "best x% of the pool"
reasons), so memory does not grow with the pool. Filters (property ranges, PAINS, SMARTS) run on
that window only, in score order, because RDKit per molecule costs more than the model does.
"""

from __future__ import annotations

import getpass
import os
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from filelock import FileLock, Timeout
from pydantic import BaseModel, Field, field_validator

from molops._version import __version__
from molops.active.acquisition import to_utility
from molops.active.recipe import Recipe
from molops.active.selection import diverse
from molops.data.pool import PoolIdentity
from molops.data.readers import RecordReader
from molops.data.sources import Source, detect_format
from molops.errors import (
    ColumnNotFoundError,
    ConcurrentWriteError,
    DatasetNotFoundError,
    InputFileError,
    MolopsError,
)
from molops.models.reference import fingerprints, nearest
from molops.models.transforms import TargetTransform
from molops.workspace import Workspace, check_name

#: (stage, done, total): stage names a step ("features …", "scoring pool"); total 0 when unknown.
Progress = Callable[[str, int, int], None]

#: Pool rows scored per chunk: bounds memory (rows × feature width × 4 bytes).
CHUNK_ROWS = 4096
#: Best-scored candidates kept while streaming, per molecule of the batch (at least WINDOW_MIN).
WINDOW_PER_PICK = 100
WINDOW_MIN = 2000
#: Size of the uniform sample of predictions behind "best x% of the pool".
SAMPLE_SIZE = 100_000
#: Fewest labelled molecules a model is trained on.
MIN_TRAIN = 5

PROPOSAL_COLUMNS = [
    "rank",
    "smiles",
    "inchikey",
    "predicted_mean",
    "predicted_std",
    "acquisition_score",
    "nearest_smiles",
    "nearest_similarity",
    "nearest_value",
    "reason",
    "pool_row",
]


class CampaignError(MolopsError):
    """A campaign cannot be created or run as asked."""

    exit_code = 2


class CampaignNotFoundError(CampaignError):
    """No campaign of that name exists in the workspace."""


class CampaignExistsError(CampaignError):
    """``campaign create`` was given the name of an existing campaign."""


class BudgetExhaustedError(CampaignError):
    """The campaign has proposed all the molecules or iterations its budget allows."""


# -- configuration ---------------------------------------------------------------------------------
class Objective(BaseModel):
    """What the campaign optimises: one target, its direction, and optionally what counts as a hit."""

    target: str
    maximize: bool
    threshold: float | None = None

    def utility(self, values: np.ndarray) -> np.ndarray:
        return to_utility(values, self.maximize)

    def hits(self, values: np.ndarray) -> np.ndarray:
        """Whether each value is a hit (all False without a threshold)."""
        values = np.asarray(values, dtype=np.float64)
        if self.threshold is None:
            return np.zeros(len(values), dtype=bool)
        return values >= self.threshold if self.maximize else values <= self.threshold

    def best(self, values: np.ndarray) -> float | None:
        values = np.asarray(values, dtype=np.float64)
        values = values[~np.isnan(values)]
        if not len(values):
            return None
        return float(values.max() if self.maximize else values.min())


Range = tuple[float | None, float | None]


def parse_range(text: str, option: str) -> Range:
    """``MIN:MAX`` (either side may be empty) as a (min, max) pair."""
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        low, high = (float(p) if p.strip() else None for p in parts)
    except ValueError:
        raise CampaignError(
            f"{option} {text!r} is not a range; expected MIN:MAX, e.g. 200:500 or :5"
        ) from None
    if low is not None and high is not None and low > high:
        raise CampaignError(f"{option} {text!r} is empty: its minimum exceeds its maximum")
    return low, high


class Filters(BaseModel):
    """Which candidates may be proposed at all: property ranges, PAINS and SMARTS exclusions."""

    mw: Range | None = None
    logp: Range | None = None
    hbd: int | None = Field(None, ge=0, description="most H-bond donors allowed")
    hba: int | None = Field(None, ge=0, description="most H-bond acceptors allowed")
    pains: bool = Field(False, description="exclude molecules that match RDKit's PAINS catalog")
    exclude_smarts: list[str] = Field(default_factory=list)

    @field_validator("exclude_smarts")
    @classmethod
    def _valid_smarts(cls, patterns: list[str]) -> list[str]:
        from rdkit import Chem

        for pattern in patterns:
            if not pattern.strip() or Chem.MolFromSmarts(pattern) is None:
                raise CampaignError(f"--exclude-smarts {pattern!r} is not a valid SMARTS pattern")
        return patterns

    def active(self) -> bool:
        return bool(
            self.mw or self.logp or self.hbd is not None or self.hba is not None or self.pains
        ) or bool(self.exclude_smarts)


class _FilterSet:
    """Compiled filters: the reason a SMILES is excluded, or None when it passes."""

    def __init__(self, filters: Filters) -> None:
        from rdkit import Chem
        from rdkit.Chem import FilterCatalog

        self.filters = filters
        self.patterns = [(s, Chem.MolFromSmarts(s)) for s in filters.exclude_smarts]
        self.catalog = None
        if filters.pains:
            params = FilterCatalog.FilterCatalogParams()
            params.AddCatalog(FilterCatalog.FilterCatalogParams.FilterCatalogs.PAINS)
            self.catalog = FilterCatalog.FilterCatalog(params)

    def reason(self, smiles: str) -> str | None:
        from rdkit import Chem
        from rdkit.Chem import Crippen, Descriptors, Lipinski

        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            return "unparsable"
        f = self.filters
        for name, rng, fn in (("mw", f.mw, Descriptors.MolWt), ("logp", f.logp, Crippen.MolLogP)):
            if rng is not None:
                value = fn(mol)
                if (rng[0] is not None and value < rng[0]) or (rng[1] is not None and value > rng[1]):
                    return name
        if f.hbd is not None and Lipinski.NumHDonors(mol) > f.hbd:
            return "hbd"
        if f.hba is not None and Lipinski.NumHAcceptors(mol) > f.hba:
            return "hba"
        if self.catalog is not None and self.catalog.HasMatch(mol):
            return "pains"
        for text, pattern in self.patterns:
            if mol.HasSubstructMatch(pattern):
                return f"smarts:{text}"
        return None


class Budget(BaseModel):
    """The most molecules the campaign may propose in all, and the most iterations (None: no limit)."""

    molecules: int | None = Field(None, ge=1)
    iterations: int | None = Field(None, ge=1)


class CampaignConfig(BaseModel):
    """What ``campaign create`` fixed."""

    name: str
    dataset: str
    pool: str
    smiles_col: str | None = None
    objective: Objective
    recipe: Recipe
    batch_size: int = Field(96, ge=1)
    budget: Budget = Field(default_factory=Budget)
    filters: Filters = Field(default_factory=Filters)
    created: str
    created_by: str
    molops_version: str


class Iteration(BaseModel):
    """One ``propose``: what the model was trained on and what it proposed."""

    number: int
    time: str
    user: str
    dataset_version: int
    n_train: int
    best_measured: float | None
    recipe: dict[str, Any]
    requested: int
    proposed: int
    proposals: str  # path relative to the campaign folder
    pool_sha256: str
    pool_rows: int
    scored: int
    #: pool rows not scored, by reason (no identity, measured, open proposal, no features)
    excluded: dict[str, int]
    #: scored candidates dropped from the best-scored window, by reason (duplicate, a filter)
    filtered: dict[str, int]
    seconds: float
    seconds_scoring: float
    molecules_per_s: float
    warnings: list[str] = Field(default_factory=list)


class IngestRecord(BaseModel):
    """One ``campaign ingest``: the dataset version it made and how its results matched proposals."""

    number: int
    time: str
    user: str
    source: str
    dataset_version: int
    unchanged: bool
    rows_in: int
    accepted: int
    quarantined: int
    answered: int
    remeasured: int
    unproposed: int
    results: str | None


class CampaignState(BaseModel):
    config: CampaignConfig
    iterations: list[Iteration] = Field(default_factory=list)
    ingests: list[IngestRecord] = Field(default_factory=list)

    def proposed(self) -> int:
        return sum(it.proposed for it in self.iterations)


# -- results -----------------------------------------------------------------------------------------
class ProposeResult(BaseModel):
    """What ``campaign propose --json`` prints."""

    campaign: str
    iteration: Iteration
    proposals: list[dict[str, Any]]
    proposals_file: str
    out: str | None
    budget: dict[str, Any]


class IngestResult(BaseModel):
    """What ``campaign ingest --json`` prints."""

    campaign: str
    ingest: IngestRecord
    report: dict[str, Any]
    unproposed: list[dict[str, Any]]
    open_proposals: int


class CampaignStatus(BaseModel):
    """What ``campaign status --json`` prints."""

    campaign: str
    config: dict[str, Any]
    dataset_version: int | None
    iterations: list[dict[str, Any]]
    budget: dict[str, Any]
    best: dict[str, Any] | None
    hits: dict[str, Any]
    proposals: dict[str, int]
    open_proposals: list[dict[str, Any]]
    ingests: list[dict[str, Any]]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        return os.environ.get("USER", "unknown")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)


def _pct(fraction: float) -> str:
    value = fraction * 100
    return f"{value:.0f}%" if value >= 1 else f"{value:.1g}%"


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Rank correlation, or None when it is undefined (fewer than 3 pairs or a constant side)."""
    from scipy.stats import rankdata

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(np.corrcoef(rankdata(a), rankdata(b))[0, 1])


# -- the campaign ------------------------------------------------------------------------------------
class Campaign:
    """One campaign in a workspace. Build with :meth:`create` or :meth:`open`."""

    def __init__(self, ws: Workspace, name: str) -> None:
        self.ws = ws
        self.name = check_name(name, "campaign")
        self.dir = ws.root / "campaigns" / name
        self.file = self.dir / "campaign.json"

    # -- persistence -------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.file.is_file()

    def load(self) -> CampaignState:
        if not self.exists():
            known = ", ".join(list_campaigns(self.ws)) or "none yet"
            raise CampaignNotFoundError(f"no campaign {self.name!r} in {self.ws.root}; campaigns: {known}")
        return CampaignState.model_validate_json(self.file.read_text(encoding="utf-8"))

    def _save(self, state: CampaignState) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.file, state.model_dump_json(indent=1).encode())

    def _lock(self) -> FileLock:
        return FileLock(str(self.ws.lock_dir / f"campaign-{self.name}.lock"))

    def _locked(self) -> Any:
        lock = self._lock()
        try:
            lock.acquire(timeout=self.ws.config.ingest.lock_timeout_s)
        except Timeout:
            raise ConcurrentWriteError(
                f"campaign {self.name!r} is busy: another propose or ingest holds its lock; "
                "retry when it ends"
            ) from None
        return lock

    @classmethod
    def open(cls, ws: Workspace, name: str) -> Campaign:
        campaign = cls(ws, name)
        campaign.load()
        return campaign

    @classmethod
    def create(
        cls,
        ws: Workspace,
        name: str,
        *,
        dataset: str,
        pool: str | Path,
        objective: Objective,
        recipe: Recipe | None = None,
        batch_size: int = 96,
        budget: Budget | None = None,
        filters: Filters | None = None,
        smiles_col: str | None = None,
    ) -> Campaign:
        """Validate every part up front, then write the campaign's state; refuses an existing name."""
        campaign = cls(ws, name)
        if campaign.exists():
            raise CampaignExistsError(
                f"campaign {name!r} already exists in {ws.root}; pick another name or keep using it"
            )
        ds = ws.dataset(dataset)
        if not ds.exists():
            known = ", ".join(ws.datasets()) or "none yet"
            raise DatasetNotFoundError(f"no dataset {dataset!r} in {ws.root}; datasets: {known}")
        targets = ds.targets()
        if objective.target not in targets:
            raise CampaignError(
                f"dataset {dataset!r} has no target {objective.target!r}; its targets: {', '.join(targets)}"
            )
        if batch_size < 1:
            raise CampaignError(f"--batch-size must be at least 1; got {batch_size}")
        pool_path = Path(pool).expanduser().resolve()
        _check_pool(pool_path, smiles_col)
        recipe = (recipe or Recipe()).check().canonical()
        state = CampaignState(
            config=CampaignConfig(
                name=name,
                dataset=dataset,
                pool=str(pool_path),
                smiles_col=smiles_col,
                objective=objective,
                recipe=recipe,
                batch_size=batch_size,
                budget=budget or Budget(),
                filters=filters or Filters(),
                created=_now(),
                created_by=_user(),
                molops_version=__version__,
            )
        )
        with campaign._locked():
            if campaign.exists():  # created by a concurrent call since the check above
                raise CampaignExistsError(f"campaign {name!r} already exists in {ws.root}")
            (campaign.dir / "proposals").mkdir(parents=True, exist_ok=True)
            (campaign.dir / "results").mkdir(parents=True, exist_ok=True)
            campaign._save(state)
        return campaign

    # -- proposals ---------------------------------------------------------------------------------
    def proposals(self, state: CampaignState | None = None) -> pd.DataFrame:
        """Every proposal so far, with its iteration number (one row per proposed molecule)."""
        state = state or self.load()
        frames = [
            pd.read_parquet(self.dir / it.proposals).assign(iteration=it.number)
            for it in state.iterations
            if it.proposed
        ]
        if not frames:
            return pd.DataFrame(columns=[*PROPOSAL_COLUMNS, "iteration"])
        return pd.concat(frames, ignore_index=True)

    def _measured(self, version: int | None = None) -> pd.DataFrame:
        """The dataset version's molecules with a value for the target, in dataset order."""
        cfg = self.load().config
        ds = self.ws.dataset(cfg.dataset)
        if not ds.exists():
            raise DatasetNotFoundError(
                f"campaign {self.name!r}: its dataset {cfg.dataset!r} no longer exists"
            )
        frame = ds.read(version)
        target = cfg.objective.target
        if target not in frame.columns:
            return frame.iloc[0:0]
        frame = frame[frame[target].notna()]
        return frame.sort_values("order", kind="stable").reset_index(drop=True)

    def propose(
        self,
        batch_size: int | None = None,
        *,
        out: str | Path | None = None,
        progress: Progress | None = None,
        chunk_rows: int = CHUNK_ROWS,
    ) -> ProposeResult:
        """Train on the latest dataset version, score the pool, and record the next ranked batch."""
        started = time.perf_counter()
        with self._locked():
            state = self.load()
            cfg = state.config
            number = len(state.iterations) + 1
            requested = batch_size or cfg.batch_size
            if requested < 1:
                raise CampaignError(f"--batch-size must be at least 1; got {requested}")
            n = _within_budget(state, requested)
            pool = Path(cfg.pool)
            if not pool.is_file():
                raise InputFileError(f"campaign {self.name!r}: its pool file {pool} is gone; restore it")
            recipe = cfg.recipe
            specs = recipe.featurizer_specs()
            ds = self.ws.dataset(cfg.dataset)
            version = ds.store.resolve(None).version
            train = self._measured(version)
            # train
            blocks, valid = [], np.ones(len(train), dtype=bool)
            for spec in specs:
                self.ws.features.build_dataset(ds, spec, version=version)
                X, ok = self.ws.features.cache(spec).get(train["inchikey"].tolist())
                blocks.append(X.astype(np.float32, copy=False))
                valid &= ok
            train = train[valid].reset_index(drop=True)
            if len(train) < MIN_TRAIN:
                raise CampaignError(
                    f"dataset {cfg.dataset!r} version {version} has {len(train)} molecules with a "
                    f"{cfg.objective.target!r} value and features; a campaign needs at least {MIN_TRAIN}"
                )
            X_train = np.hstack([b[valid] for b in blocks])
            y = train[cfg.objective.target].to_numpy(dtype=np.float64)
            utility = cfg.objective.utility(y)
            transform = TargetTransform(kind=recipe.transform).fit(utility)  # type: ignore[arg-type]
            model = recipe.surrogate().fit(X_train, transform.transform(utility))
            del X_train, blocks
            acquisition = recipe.acquisition_fn()
            # the pool's features and identity table (both built once, then read from the cache)
            for spec in specs:
                self.ws.features.build_pool(
                    pool,
                    spec,
                    smiles_col=cfg.smiles_col,
                    progress=(lambda d, t, s=spec: progress(f"pool features {s}", d, t))
                    if progress
                    else None,
                )
            identity = _pool_identity(self.ws, pool, cfg.smiles_col)
            measured_keys = set(self._measured(version)["inchikey"])
            open_keys = set(self._open(state, measured_keys)["inchikey"])
            rng = np.random.default_rng([number, zlib.crc32(self.name.encode())])
            scoring = time.perf_counter()
            scan = _Scan(
                window=max(n * WINDOW_PER_PICK, WINDOW_MIN),
                sample=SAMPLE_SIZE,
                rng=np.random.default_rng([number, 1]),
            )
            caches = [self.ws.features.cache(spec) for spec in specs]
            best = float(utility.max())
            total, done = identity.rows(), 0
            for batch in identity.batches(chunk_rows):
                keys = np.asarray(batch.column("inchikey").to_pylist(), dtype=object)
                smiles = np.asarray(batch.column("smiles").to_pylist(), dtype=object)
                rows = batch.column("row").to_numpy()
                keep = np.array([k is not None for k in keys], dtype=bool)
                scan.excluded["no_identity"] += int((~keep).sum())
                for label, known in (("measured", measured_keys), ("open_proposal", open_keys)):
                    hit = np.array([keep[i] and keys[i] in known for i in range(len(keys))], dtype=bool)
                    scan.excluded[label] += int(hit.sum())
                    keep &= ~hit
                idx = np.flatnonzero(keep)
                if len(idx):
                    parts, ok = [], np.ones(len(idx), dtype=bool)
                    for cache in caches:
                        X, v = cache.get(keys[idx].astype(str))
                        parts.append(X.astype(np.float32, copy=False))
                        ok &= v
                    scan.excluded["no_features"] += int((~ok).sum())
                    idx = idx[ok]
                    if len(idx):
                        X = np.hstack([p[ok] for p in parts]) if len(parts) > 1 else parts[0][ok]
                        # the model predicts utility (higher is better), as acquisitions expect
                        mean, std = transform.inverse(*model.predict(X))
                        scores = acquisition.score(mean, std, best, rng)
                        scan.add(scores, mean, std, keys[idx], smiles[idx], rows[idx])
                done += len(keys)
                if progress:
                    progress("scoring pool", done, total)
            seconds_scoring = time.perf_counter() - scoring
            # filters on the best-scored window, in score order; then the diverse batch
            filtered: Counter[str] = Counter()
            need = n if recipe.max_similarity >= 1.0 else n * 50
            cand = scan.ranked(need, _FilterSet(cfg.filters) if cfg.filters.active() else None, filtered)
            warnings: list[str] = []
            if len(cand["score"]):
                fps = fingerprints(list(cand["smiles"]))[0]
                pick = diverse(cand["score"], n, fps, recipe.max_similarity)
            else:
                fps, pick = np.zeros((0, 256), dtype=np.uint8), np.empty(0, dtype=np.int64)
            if len(pick) < n:
                warnings.append(
                    f"only {len(pick)} of {n} molecules could be proposed: the pool has no more candidates "
                    "that are unmeasured, not already proposed and pass the filters"
                )
            frame = self._batch_frame(cfg, train, cand, fps, pick, scan, acquisition.name, acquisition.needs)
            rel = f"proposals/iteration-{number:04d}.parquet"
            (self.dir / "proposals").mkdir(parents=True, exist_ok=True)
            _write_parquet(self.dir / rel, frame)
            seconds = time.perf_counter() - started
            iteration = Iteration(
                number=number,
                time=_now(),
                user=_user(),
                dataset_version=version,
                n_train=len(train),
                best_measured=cfg.objective.best(y),
                recipe=recipe.model_dump(),
                requested=requested,
                proposed=len(frame),
                proposals=rel,
                pool_sha256=identity.sha256,
                pool_rows=total,
                scored=scan.scored,
                excluded=dict(scan.excluded),
                filtered=dict(filtered),
                seconds=round(seconds, 2),
                seconds_scoring=round(seconds_scoring, 2),
                molecules_per_s=round(scan.scored / seconds_scoring, 1) if seconds_scoring > 0 else 0.0,
                warnings=warnings,
            )
            state.iterations.append(iteration)
            self._save(state)
        out_path = None
        if out is not None:
            out_path = Path(out)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            frame.drop(columns=["pool_row"]).to_csv(out_path, index=False)
        return ProposeResult(
            campaign=self.name,
            iteration=iteration,
            proposals=frame.to_dict(orient="records"),
            proposals_file=str(self.dir / rel),
            out=str(out_path) if out_path else None,
            budget=_budget(state),
        )

    def _batch_frame(
        self,
        cfg: CampaignConfig,
        train: pd.DataFrame,
        cand: dict[str, np.ndarray],
        fps: np.ndarray,
        pick: np.ndarray,
        scan: _Scan,
        acquisition: str,
        needs: frozenset[str],
    ) -> pd.DataFrame:
        """The ranked batch with, per molecule, its nearest measured neighbour and a reason."""
        train_fps = fingerprints(train["smiles"].tolist())[0]
        sim, near = nearest(fps[pick], train_fps) if len(pick) else (np.zeros(0), np.zeros(0, dtype=int))
        values = train[cfg.objective.target].to_numpy(dtype=np.float64)
        reasons = []
        for i in pick:
            q_mean, q_std = scan.top_fraction(float(cand["mean"][i]), float(cand["std"][i]))
            reasons.append(_reason(acquisition, needs, q_mean, q_std))
        return pd.DataFrame(
            {
                "rank": np.arange(1, len(pick) + 1, dtype=np.int64),
                "smiles": cand["smiles"][pick].astype(str),
                "inchikey": cand["key"][pick].astype(str),
                # back from utility to the target's own units (a minimised target was negated)
                "predicted_mean": cfg.objective.utility(cand["mean"][pick]),
                "predicted_std": cand["std"][pick].astype(np.float64),
                "acquisition_score": cand["score"][pick].astype(np.float64),
                "nearest_smiles": train["smiles"].to_numpy()[near].astype(str),
                "nearest_similarity": np.round(sim, 3),
                "nearest_value": values[near],
                "reason": reasons,
                "pool_row": cand["row"][pick].astype(np.int64),
            },
            columns=PROPOSAL_COLUMNS,
        )

    def _open(self, state: CampaignState, measured: set[str]) -> pd.DataFrame:
        proposals = self.proposals(state)
        return proposals[~proposals["inchikey"].isin(measured)]

    # -- results -----------------------------------------------------------------------------------
    def ingest(
        self,
        results: str | Path,
        *,
        smiles_col: str | None = None,
        target_col: str | None = None,
        progress: Callable[[int, int, int], None] | None = None,
    ) -> IngestResult:
        """Results become a new dataset version; they are matched to proposals by InChIKey."""
        results = Path(results)
        with self._locked():
            state = self.load()
            cfg = state.config
            target = cfg.objective.target
            ds = self.ws.dataset(cfg.dataset)
            before = set(self._measured()["inchikey"])
            fmt = detect_format(results)
            if smiles_col is None and fmt != "sdf":
                smiles_col = cfg.smiles_col or "smiles"
            with _RenamedCopy(results, target_col or target, target, fmt) as path:
                report = ds.ingest(
                    path,
                    smiles_col=smiles_col,
                    target_col=target,
                    source_name=results.name,
                    progress=progress,
                )
            proposals = self.proposals(state)
            proposed_in = proposals.drop_duplicates("inchikey", keep="last").set_index("inchikey")
            rows = pd.DataFrame(columns=["inchikey", "smiles", "value"])
            if not report.unchanged:
                frame = ds.read(report.version)
                mask = (frame["updated_version"] == report.version) & frame[target].notna()
                rows = frame.loc[mask, ["inchikey", "smiles", target]].rename(columns={target: "value"})
            matched = rows["inchikey"].isin(proposed_in.index)
            iteration = rows["inchikey"].map(proposed_in["iteration"]) if len(rows) else []
            table = rows.assign(
                iteration=pd.array(iteration, dtype="Int64"),
                proposed=matched.to_numpy(),
                previously_measured=rows["inchikey"].isin(before).to_numpy(),
                dataset_version=report.version,
            ).reset_index(drop=True)
            number = len(state.ingests) + 1
            rel = None
            if len(table):
                rel = f"results/ingest-{number:04d}.parquet"
                (self.dir / "results").mkdir(parents=True, exist_ok=True)
                _write_parquet(self.dir / rel, table)
            record = IngestRecord(
                number=number,
                time=_now(),
                user=_user(),
                source=str(results),
                dataset_version=report.version,
                unchanged=report.unchanged,
                rows_in=report.rows_in,
                accepted=report.accepted,
                quarantined=report.quarantined,
                answered=int((table["proposed"] & ~table["previously_measured"]).sum()),
                remeasured=int((table["proposed"] & table["previously_measured"]).sum()),
                unproposed=int((~table["proposed"]).sum()),
                results=rel,
            )
            state.ingests.append(record)
            self._save(state)
            unproposed = table.loc[~table["proposed"], ["smiles", "inchikey", "value"]]
            open_now = self._open(state, before | set(table["inchikey"]))
        return IngestResult(
            campaign=self.name,
            ingest=record,
            report=report.model_dump(),
            unproposed=unproposed.to_dict(orient="records"),
            open_proposals=len(open_now),
        )

    # -- status ------------------------------------------------------------------------------------
    def status(self) -> CampaignStatus:
        """Iterations, budget, best value, hits, model quality on each measured batch, open proposals."""
        state = self.load()
        cfg = state.config
        obj = cfg.objective
        ds = self.ws.dataset(cfg.dataset)
        version = ds.latest_version()
        measured = self._measured()
        value_of = dict(zip(measured["inchikey"], measured[obj.target], strict=True))
        proposals = self.proposals(state)
        proposals["measured"] = proposals["inchikey"].map(value_of).astype(np.float64)
        answered = proposals["measured"].notna()
        iterations = []
        for it in state.iterations:
            rows = proposals[proposals["iteration"] == it.number]
            done = rows[rows["measured"].notna()]
            pred, true = done["predicted_mean"].to_numpy(float), done["measured"].to_numpy(float)
            hits = obj.hits(true)
            iterations.append(
                {
                    "iteration": it.number,
                    "time": it.time,
                    "user": it.user,
                    "dataset_version": it.dataset_version,
                    "n_train": it.n_train,
                    "best_measured_before": it.best_measured,
                    "proposed": it.proposed,
                    "answered": len(done),
                    "open": len(rows) - len(done),
                    "rmse": float(np.sqrt(np.mean((pred - true) ** 2))) if len(done) else None,
                    "spearman": _spearman(pred, true),
                    "hits": int(hits.sum()) if obj.threshold is not None else None,
                    "hit_rate": float(hits.mean()) if obj.threshold is not None and len(done) else None,
                    "best_in_batch": obj.best(true),
                    "model": it.recipe.get("model"),
                    "acquisition": it.recipe.get("acquisition"),
                }
            )
        values = measured[obj.target].to_numpy(dtype=np.float64)
        best = None
        if len(values):
            i = int(np.argmax(obj.utility(values)))
            best = {
                "value": float(values[i]),
                "smiles": str(measured["smiles"].iloc[i]),
                "inchikey": str(measured["inchikey"].iloc[i]),
                "from_campaign": bool(measured["inchikey"].iloc[i] in set(proposals["inchikey"])),
            }
        campaign_values = proposals.loc[answered, "measured"].to_numpy(float)
        hits = {
            "threshold": obj.threshold,
            "dataset": int(obj.hits(values).sum()) if obj.threshold is not None else None,
            "campaign": int(obj.hits(campaign_values).sum()) if obj.threshold is not None else None,
            "campaign_hit_rate": (
                float(obj.hits(campaign_values).mean())
                if obj.threshold is not None and len(campaign_values)
                else None
            ),
        }
        open_rows = proposals.loc[~answered, ["iteration", "rank", "smiles", "inchikey", "predicted_mean"]]
        return CampaignStatus(
            campaign=self.name,
            config=cfg.model_dump(),
            dataset_version=version,
            iterations=iterations,
            budget=_budget(state),
            best=best,
            hits=hits,
            proposals={
                "total": len(proposals),
                "answered": int(answered.sum()),
                "open": int((~answered).sum()),
            },
            open_proposals=open_rows.to_dict(orient="records"),
            ingests=[r.model_dump() for r in state.ingests],
        )


def list_campaigns(ws: Workspace) -> list[str]:
    """Names of the workspace's campaigns."""
    folder = ws.root / "campaigns"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "campaign.json").is_file())


def _within_budget(state: CampaignState, requested: int) -> int:
    """The batch size the budget still allows; raises when nothing is left."""
    budget = state.config.budget
    used = state.proposed()
    if budget.iterations is not None and len(state.iterations) >= budget.iterations:
        raise BudgetExhaustedError(
            f"campaign {state.config.name!r} has used its budget of {budget.iterations} iterations; "
            "nothing more will be proposed"
        )
    if budget.molecules is not None:
        left = budget.molecules - used
        if left <= 0:
            raise BudgetExhaustedError(
                f"campaign {state.config.name!r} has proposed {used} molecules, its whole budget of "
                f"{budget.molecules}; nothing more will be proposed"
            )
        return min(requested, left)
    return requested


def _budget(state: CampaignState) -> dict[str, Any]:
    budget = state.config.budget
    used = state.proposed()
    return {
        "molecules": budget.molecules,
        "molecules_used": used,
        "molecules_left": None if budget.molecules is None else max(0, budget.molecules - used),
        "iterations": budget.iterations,
        "iterations_used": len(state.iterations),
        "iterations_left": None
        if budget.iterations is None
        else max(0, budget.iterations - len(state.iterations)),
    }


def _reason(acquisition: str, needs: frozenset[str], q_mean: float, q_std: float) -> str:
    """Why a molecule was picked, in the terms of the pool: exploit (its mean) or explore (its std)."""
    if acquisition == "random":
        return "random pick (the baseline acquisition)"
    mean_part = f"predicted mean in the best {_pct(q_mean)} of the pool"
    if "std" in needs and (q_std < q_mean or "mean" not in needs):
        return f"explore: std in the top {_pct(q_std)} of the pool ({mean_part.replace('predicted ', '')})"
    return f"exploit: {mean_part}"


class _Scan:
    """Bounded memory while streaming a pool: the best-scored window and a uniform sample.

    Means are utilities here (higher is better), as the acquisition scored them.
    """

    def __init__(self, window: int, sample: int, rng: np.random.Generator) -> None:
        self.window, self.sample_size, self.rng = window, sample, rng
        self.cols: dict[str, np.ndarray] = {}
        self.sample_key = np.zeros(0)
        self.sample_mean = np.zeros(0)
        self.sample_std = np.zeros(0)
        self.scored = 0
        self.excluded: Counter[str] = Counter(
            {"no_identity": 0, "measured": 0, "open_proposal": 0, "no_features": 0}
        )

    def add(
        self,
        scores: np.ndarray,
        mean: np.ndarray,
        std: np.ndarray,
        keys: np.ndarray,
        smiles: np.ndarray,
        rows: np.ndarray,
    ) -> None:
        self.scored += len(scores)
        new = {"score": scores, "mean": mean, "std": std, "key": keys, "smiles": smiles, "row": rows}
        cols = {k: np.concatenate([self.cols[k], v]) if self.cols else v for k, v in new.items()}
        if len(cols["score"]) > self.window:
            keyed = np.where(np.isnan(cols["score"]), -np.inf, cols["score"])
            part = np.argpartition(-keyed, self.window - 1)[: self.window]
            cols = {k: v[part] for k, v in cols.items()}
        self.cols = cols
        # bottom-k by a random key is a uniform sample of every prediction seen so far
        u = self.rng.random(len(scores))
        key = np.concatenate([self.sample_key, u])
        m = np.concatenate([self.sample_mean, mean])
        s = np.concatenate([self.sample_std, std])
        if len(key) > self.sample_size:
            part = np.argpartition(key, self.sample_size - 1)[: self.sample_size]
            key, m, s = key[part], m[part], s[part]
        self.sample_key, self.sample_mean, self.sample_std = key, m, s

    def top_fraction(self, utility_mean: float, std: float) -> tuple[float, float]:
        """The fraction of the pool predicted at least this good, and at least this uncertain."""
        n = max(1, len(self.sample_mean))
        q_mean = float(np.sum(self.sample_mean >= utility_mean)) / n
        q_std = float(np.sum(self.sample_std >= std)) / n
        return max(q_mean, 1 / n), max(q_std, 1 / n)

    def ranked(self, need: int, filters: _FilterSet | None, filtered: Counter[str]) -> dict[str, np.ndarray]:
        """The window in score order, one row per molecule, cut after *need* that pass the filters."""
        if not self.cols:
            return {k: np.zeros(0) for k in ("score", "mean", "std", "key", "smiles", "row")}
        keyed = np.where(np.isnan(self.cols["score"]), -np.inf, self.cols["score"])
        order = np.argsort(-keyed, kind="stable")
        chosen: list[int] = []
        seen: set[str] = set()
        for i in order:
            key = self.cols["key"][i]
            if key in seen:  # a molecule listed twice in the pool
                filtered["duplicate"] += 1
                continue
            seen.add(key)
            if filters is not None:
                why = filters.reason(self.cols["smiles"][i])
                if why is not None:
                    filtered[why] += 1
                    continue
            chosen.append(int(i))
            if len(chosen) >= need:
                break
        idx = np.asarray(chosen, dtype=np.int64)
        return {k: v[idx] for k, v in self.cols.items()}


# -- helpers ---------------------------------------------------------------------------------------
def _check_pool(path: Path, smiles_col: str | None) -> None:
    """The pool file exists, has a known format and the SMILES column (read its header only)."""
    if not path.is_file():
        raise InputFileError(f"--pool {path}: no such file; expected a CSV, TSV, SDF, SMILES or Parquet file")
    fmt = detect_format(path)
    col = smiles_col if smiles_col is not None else ("smiles" if fmt in ("csv", "tsv", "parquet") else None)
    try:
        with Source(path) as source:
            RecordReader(source, fmt, col, None, chunk_rows=16)
    except ColumnNotFoundError as exc:
        raise ColumnNotFoundError(f"--pool {exc}; pass --smiles-col") from None


def _pool_identity(ws: Workspace, path: Path, smiles_col: str | None) -> PoolIdentity:
    """The identity table ``FeatureStore.build_pool`` wrote for this file."""
    identity = ws.features.pool_identity(path, smiles_col)
    if not identity.exists():
        raise CampaignError(f"pool {path}: its identity table was not written; rerun the command")
    return identity


class _RenamedCopy:
    """The results file itself, or a temporary copy whose target column carries the campaign's name.

    The copy keeps the file's name (a dataset version records where its data came from) and its
    values as text, so ingest validates exactly what the lab wrote.
    """

    def __init__(self, path: Path, column: str, target: str, fmt: str) -> None:
        self.path, self.column, self.target, self.fmt = path, column, target, fmt
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        if self.column == self.target:
            return self.path
        if self.fmt not in ("csv", "tsv", "parquet"):
            raise CampaignError(
                f"{self.path}: --target-col can map {self.column!r} to {self.target!r} only in CSV, TSV or "
                f"Parquet files; name the {self.fmt.upper()} property {self.target!r} instead"
            )
        import tempfile

        if not self.path.is_file():
            raise InputFileError(f"{self.path}: no such file")
        if self.fmt == "parquet":
            frame = pd.read_parquet(self.path)
        else:
            frame = pd.read_csv(
                self.path, sep="," if self.fmt == "csv" else "\t", dtype=str, keep_default_na=False
            )
        if self.column not in frame.columns:
            raise ColumnNotFoundError(
                f"{self.path}: no column {self.column!r}; columns: {', '.join(map(str, frame.columns))}"
            )
        if self.target in frame.columns:
            frame = frame.drop(columns=[self.target])
        frame = frame.rename(columns={self.column: self.target})
        folder = Path(tempfile.mkdtemp(prefix="molops-results-"))
        name = self.path.name[:-3] if self.path.name.endswith(".gz") else self.path.name
        self.tmp = folder / name
        if self.fmt == "parquet":
            frame.to_parquet(self.tmp, index=False)
        else:
            frame.to_csv(self.tmp, index=False, sep="," if self.fmt == "csv" else "\t")
        return self.tmp

    def __exit__(self, *exc: object) -> None:
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
            self.tmp.parent.rmdir()


def plot_status(status: CampaignStatus, path: str | Path) -> Path:
    """Progress as a PNG: best value at each iteration, and each batch's measured values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    obj = status.config["objective"]
    its = status.iterations
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    x = [it["iteration"] for it in its]
    best = [it["best_measured_before"] for it in its]
    if status.best is not None:
        x, best = [*x, len(its) + 1], [*best, status.best["value"]]
    left.plot(x, best, marker="o")
    left.set_xlabel("iteration (trained on the data before it; last point: now)")
    left.set_ylabel(f"best {obj['target']} so far")
    right.bar([it["iteration"] for it in its], [it["answered"] for it in its], label="answered")
    right.bar(
        [it["iteration"] for it in its],
        [it["open"] for it in its],
        bottom=[it["answered"] for it in its],
        label="open",
        alpha=0.4,
    )
    if obj.get("threshold") is not None:
        right.bar([it["iteration"] for it in its], [it["hits"] or 0 for it in its], label="hits", width=0.4)
        left.axhline(obj["threshold"], color="grey", linestyle="--", label="threshold")
        left.legend(loc="best")
    right.set_xlabel("iteration")
    right.set_ylabel("molecules proposed")
    right.legend(loc="best")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(f"campaign {status.campaign}: {obj['target']} ({'max' if obj['maximize'] else 'min'}imise)")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
