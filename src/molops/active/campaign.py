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

This module is the life cycle (create, propose, ingest, status); each propose is also an MLflow
run, written by :mod:`~molops.tracking.campaign_log`. The files and the lock are
:mod:`~molops.active.store`, the schemas :mod:`~molops.active.state`, the streaming scorer
:mod:`~molops.active.scan`, choosing the batch :mod:`~molops.active.choose`, the filters
:mod:`~molops.active.filters`, the config checks and training set :mod:`~molops.active.inputs`,
the prediction log and MLflow records :mod:`~molops.active.records`, taking results in
:mod:`~molops.active.ingesting` (matching them :mod:`~molops.active.results`), the review of a
batch :mod:`~molops.active.review` and the status summary :mod:`~molops.active.status`. A campaign
with several objectives (``config.multi``) trains a model per objective and scores them together:
:mod:`~molops.active.multi`, :mod:`~molops.active.multi_acquisition` and, for its results and
front, :mod:`~molops.active.multi_results`.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from molops.active import run_loop
from molops.active.choose import choose_batch
from molops.active.errors import (
    BudgetExhaustedError,
    CampaignError,
    CampaignExistsError,
    CampaignStoppedError,
)
from molops.active.filters import Filters
from molops.active.ingesting import ingest_results
from molops.active.inputs import new_config, training_set
from molops.active.multi import multi_frame, multi_scorer, picker_of
from molops.active.objectives import with_objectives
from molops.active.oracle_batch import TellResult
from molops.active.recalibrate import fit_surrogate
from molops.active.recipe import Recipe
from molops.active.records import log_batch, note_run_id, track_iteration
from molops.active.remote import CampaignChangedError
from molops.active.review import reviewed
from molops.active.scan import (
    CHUNK_ROWS,
    SAMPLE_SIZE,
    SCORING_THREADS,
    SMILES_CHUNK_ROWS,
    WINDOW_MIN,
    WINDOW_PER_PICK,
    ChunkScorer,
    Progress,
    Scan,
    Scorer,
    batch_frame,
    pool_identity,
    scan_pool,
)
from molops.active.state import (
    Budget,
    CampaignState,
    IngestResult,
    Iteration,
    MultiObjective,
    Objective,
    ProposeResult,
    budget_summary,
    within_budget,
)
from molops.active.status import CampaignStatus, summarize
from molops.active.stopping import StoppingRules
from molops.active.store import CampaignStore, now
from molops.active.usage import PhaseMeter, on_gpu
from molops.compute.local import Executor
from molops.errors import InputFileError
from molops.features.base import GRAPH
from molops.workspace import Workspace


# -- the campaign ------------------------------------------------------------------------------------
class Campaign(CampaignStore):
    """One campaign in a workspace. Build with :meth:`create` or :meth:`open`."""

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
        stopping: StoppingRules | None = None,
        cost_col: str | None = None,
        multi: MultiObjective | None = None,
    ) -> Campaign:
        """Validate every part up front, then write the campaign's state; refuses an existing name.
        With *multi*, the campaign has several objectives (*objective* is the first of them)."""
        campaign = cls(ws, name)
        if campaign.exists():
            raise CampaignExistsError(
                f"campaign {name!r} already exists in {ws.root}; pick another name or keep using it"
            )
        config = new_config(
            ws,
            name,
            dataset=dataset,
            pool=pool,
            objective=objective,
            recipe=recipe,
            batch_size=batch_size,
            budget=budget,
            filters=filters,
            smiles_col=smiles_col,
            stopping=stopping,
            cost_col=cost_col,
        )
        if multi is not None:
            config = with_objectives(ws, config, multi)
        state = CampaignState(config=config)
        with campaign._locked():
            if campaign.exists():  # created by a concurrent call since the check above
                raise CampaignExistsError(f"campaign {name!r} already exists in {ws.root}")
            (campaign.dir / "proposals").mkdir(parents=True, exist_ok=True)
            (campaign.dir / "results").mkdir(parents=True, exist_ok=True)
            campaign._save(state)
        ws.audit.record(
            "campaign.create",
            name,
            None,
            dataset=dataset,
            pool=config.pool,
            target=objective.target,
            maximize=objective.maximize,
            objectives=None if multi is None else [o.model_dump() for o in multi.objectives],
            batch_size=batch_size,
        )
        return campaign

    def propose(
        self,
        batch_size: int | None = None,
        *,
        out: str | Path | None = None,
        progress: Progress | None = None,
        chunk_rows: int | None = None,
        ignore_stop: bool = False,
        executor: Executor | None = None,
        track: bool = True,
    ) -> ProposeResult:
        """Train on the latest dataset version, score the pool, and record the next ranked batch
        (refused once the budget is spent or, unless *ignore_stop*, a stopping rule is met).

        The pool is scored in this process (the model's own threads), or by *executor*: local
        worker processes, or Ray tasks (which must see the workspace's files); in chunks of
        *chunk_rows* (default: 8,192 rows, 32,768 for a model that reads SMILES). With *track*
        the iteration is also an MLflow run of experiment ``campaign/NAME`` (its id goes on the
        iteration), here rather than in the CLI so that a notebook's propose is recorded too."""
        started = time.perf_counter()
        with self._locked():
            state = self.load(for_update=True)
            cfg = state.config
            number = len(state.iterations) + 1
            requested = batch_size or cfg.batch_size
            if requested < 1:
                raise CampaignError(f"--batch-size must be at least 1; got {requested}")
            n = within_budget(state, requested)
            if cfg.stopping.active and not ignore_stop:
                self._check_stopping(state)
            pool = Path(cfg.pool)
            if not pool.is_file():
                raise InputFileError(f"campaign {self.name!r}: its pool file {pool} is gone; restore it")
            recipe = cfg.recipe
            specs = recipe.featurizer_specs()
            ds = self.ws.dataset(cfg.dataset)
            version = ds.store.resolve(None).version
            meter = PhaseMeter()  # CPU- and GPU-seconds of train, score and select
            train, X_train = training_set(self, cfg, ds, version, specs)
            y = train[cfg.objective.target].to_numpy(dtype=np.float64)
            utility = cfg.objective.utility(y)
            transform = recipe.target_transform().fit(utility)
            model, calibration = fit_surrogate(
                recipe.surrogate(), X_train, transform.transform(utility), recipe.recalibrate, seed=number
            )
            meter.lap("train", gpu=on_gpu(model))
            del X_train
            acquisition = recipe.acquisition_fn()
            # the pool's features and identity table (both built once, then read from the cache);
            # a model that reads SMILES needs the identity table only
            for spec in specs or [GRAPH]:
                self.ws.features.build_pool(
                    pool,
                    spec,
                    smiles_col=cfg.smiles_col,
                    progress=partial(progress, f"pool {_what(spec)}") if progress else None,
                )
            identity = pool_identity(self.ws, pool, cfg.smiles_col)
            measured_keys = set(self._measured(version)["inchikey"])
            open_keys = set(self._open(state, measured_keys)["inchikey"])
            scorer = ChunkScorer(
                features_root=self.ws.features.root,
                lock_dir=self.ws.features.lock_dir,
                specs=specs,
                model_dir=self.dir / "model",
                transform=transform,
                acquisition=recipe.acquisition,
                best=float(utility.max()),
                seed=[number, zlib.crc32(self.name.encode())],
                model=model,
            )
            if executor is not None:  # workers load the model once from the campaign folder
                model.save(scorer.model_dir)
            scoring_fn: Scorer = scorer  # several objectives: a model for each (molops.active.multi)
            if cfg.multi is not None:
                scoring_fn = multi_scorer(self, cfg, ds, version, specs, scorer, save=executor is not None)
            scoring = time.perf_counter()
            scan = Scan(
                window=max(n * WINDOW_PER_PICK, WINDOW_MIN),
                sample=SAMPLE_SIZE,
                rng=np.random.default_rng([number, 1]),
            )
            total = scan_pool(
                scan,
                identity,
                {"measured": measured_keys, "open_proposal": open_keys, "rejected": set(state.rejected())},
                scoring_fn,
                chunk_rows or (SMILES_CHUNK_ROWS if recipe.takes_smiles else CHUNK_ROWS),
                progress,
                executor,
                # a model that reads SMILES predicts one chunk at a time (its own loader, a GPU)
                threads=1 if recipe.takes_smiles else SCORING_THREADS,
            )
            seconds_scoring = time.perf_counter() - scoring
            meter.lap("score", gpu=on_gpu(model), elsewhere_cpu=scan.task_cpu)
            try:
                cand, fps, pick, filtered, warnings = choose_batch(state, scan, n, picker_of(scoring_fn))
            except BudgetExhaustedError:
                # the cost floor it found: the budget counts as spent from now on
                self._save(state, "proposing", "propose")
                raise
            frame = batch_frame(
                cfg.objective, train, cand, fps, pick, scan, acquisition.name, acquisition.needs
            )
            if cfg.multi is not None:
                frame = multi_frame(cfg.multi, frame, cand, pick)
            rel = self._file_name("proposals", f"iteration-{number:04d}")
            self._write_frame(rel, frame)
            meter.lap("select")
            seconds = time.perf_counter() - started
            iteration = Iteration(
                number=number,
                time=now(),
                user=self.ws.audit.user,
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
                cost=round(float(frame["cost"].sum()), 9) if cfg.cost_col is not None else None,
                seconds=round(seconds, 2),
                seconds_scoring=round(seconds_scoring, 2),
                molecules_per_s=round(scan.scored / seconds_scoring, 1) if seconds_scoring > 0 else 0.0,
                cpu_seconds=meter.cpu,
                gpu_seconds=meter.gpu,
                calibration=calibration,
                warnings=warnings,
            )
            state.iterations.append(iteration)
            try:
                self._save(state, "proposing", "propose")
            except CampaignChangedError:  # lost a race on the object store: leave no trace
                self._discard(rel)
                raise
            log_batch(self.ws, self.name, frame, number)  # once the iteration is the campaign's
        out_path = None
        if out is not None:
            out_path = Path(out)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            frame.drop(columns=["pool_row"]).to_csv(out_path, index=False)
        if track:  # once the batch is recorded and written, so a tracking store that fails loses nothing
            iteration.run_id = track_iteration(
                self.ws, self.name, cfg.model_dump(), iteration.model_dump(), self.dir / iteration.proposals
            )
            note_run_id(self, number, iteration.run_id)
        self.ws.audit.record(
            "campaign.propose",
            self.name,
            number,
            proposed=iteration.proposed,
            dataset_version=iteration.dataset_version,
            run_id=iteration.run_id,
        )
        return ProposeResult(
            campaign=self.name,
            iteration=iteration,
            # pandas types record keys as any Hashable; these are the frame's column names
            proposals=cast(list[dict[str, Any]], frame.to_dict(orient="records")),
            proposals_file=self.location(rel),
            out=str(out_path) if out_path else None,
            budget=budget_summary(state),
        )

    # -- results -----------------------------------------------------------------------------------
    def ingest(
        self,
        results: str | Path,
        *,
        smiles_col: str | None = None,
        target_col: str | None = None,
        progress: Callable[[int, int, int], None] | None = None,
    ) -> IngestResult:
        """Results become a new dataset version; they are matched to proposals by InChIKey
        (:func:`~molops.active.ingesting.ingest_results`)."""
        return ingest_results(self, results, smiles_col=smiles_col, target_col=target_col, progress=progress)

    # -- live oracles (the loop itself: molops.active.run_loop) -------------------------------------
    def ask(self, n: int | None = None, *, retry_failed: bool = False, **propose: Any) -> pd.DataFrame:
        """The molecules to measure next (id, smiles, predictions): the batch still waiting for
        results, else a new one of *n* proposed with *propose*'s options; see :func:`run_loop.ask`."""
        return run_loop.ask(self, n, retry_failed=retry_failed, **propose)

    def tell(self, results: Any, failures: dict[str, str] | None = None) -> TellResult:
        """Record results for :meth:`ask`'s molecules (a DataFrame with id and value, or a column
        per objective's target, a mapping, or (id, value) pairs); the last one ingests the batch.
        See :func:`run_loop.tell`."""
        return run_loop.tell(self, results, failures)

    # -- review ------------------------------------------------------------------------------------
    def proposals(self, state: CampaignState | None = None) -> pd.DataFrame:
        """Every proposal so far as review left it (:func:`~molops.active.review.reviewed`):
        rejected ones dropped, swapped ones replaced by the chemist's molecule, a ``review`` column."""
        state = state or self.load()
        return reviewed(super().proposals(state), state)

    # -- status ------------------------------------------------------------------------------------
    def status(self, hit_top: float | None = None) -> CampaignStatus:
        """Iterations, budget, best value, hits, model quality on each measured batch, open proposals,
        and the diagnostics of :mod:`~molops.active.diagnostics` (*hit_top*: see there)."""
        return self._status(self.load(), hit_top)

    def _status(self, state: CampaignState, hit_top: float | None = None) -> CampaignStatus:
        version = self.ws.dataset(state.config.dataset).latest_version()
        # the data the first iteration trained on: the random expectation of the hit rate
        seed = self._measured(state.iterations[0].dataset_version) if state.iterations else None
        measured, proposals = self._measured(), self.proposals(state)
        return summarize(self.name, state, version, measured, proposals, seed=seed, hit_top=hit_top)

    def _check_stopping(self, state: CampaignState) -> None:
        reason = self._status(state).stopped
        if reason is not None:
            raise CampaignStoppedError(
                f"campaign {self.name!r} has stopped: {reason}; propose --ignore-stop proposes anyway"
            )


# -- helpers ---------------------------------------------------------------------------------------
def _what(spec: str) -> str:
    return "identity (standardising)" if spec == GRAPH else f"features {spec}"
