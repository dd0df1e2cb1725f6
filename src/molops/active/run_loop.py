"""``campaign run`` and ``ask``: the closed loop with a live oracle, resumable after a crash.

One iteration: propose a batch (which trains on the latest dataset version), send the batch's
pending molecules to the oracle in chunks, journal each settled chunk at once, and finish the batch
(one ingest, one state write; :mod:`~molops.active.oracle_batch`). The loop ends after
*iterations* batches, or when a stopping rule, the budget or the pool ends the campaign.

A batch that chemists began reviewing waits for the review to finish (:func:`check_review`).

Killed at any moment, it resumes where it was: an unfinished batch is the campaign's current
batch, its journal says which molecules are settled, and only the others are sent again (those in
flight at the kill); a finished batch was ingested once, whatever happened during its finishing.

With several objectives the oracle's output has a column per objective, named by its target (the
first objective's may also be ``value``), and each objective's values land as their own version.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from filelock import FileLock, Timeout
from pydantic import BaseModel, Field

from molops.active.decisions import in_force
from molops.active.errors import BudgetExhaustedError, CampaignError, CampaignStoppedError
from molops.active.oracle import Oracle, run_batch
from molops.active.oracle_batch import OracleBatch, TellResult
from molops.active.oracle_procs import owner_token, reap
from molops.active.outcomes import BatchRecord
from molops.active.run_lease import RunLease
from molops.compute.local import Executor
from molops.errors import ConcurrentWriteError

if TYPE_CHECKING:
    from molops.active.campaign import Campaign

#: (stage, done, total), as the CLI's progress bars take it; stage "oracle" counts molecules.
Progress = Callable[[str, int, int], None]


class RunResult(BaseModel):
    """What ``campaign run --json`` prints."""

    campaign: str
    oracle: str
    batches: list[BatchRecord] = Field(default_factory=list)
    #: why the loop ended: "iterations", "budget", "stopping rule" or "pool"
    stopped_by: str = "iterations"
    reason: str = ""
    resumed: bool = False  # it began by finishing a batch a killed run left
    sent: int = 0  # molecules sent to the oracle (each once, however often its chunk was split)
    calls: int = 0  # oracle calls, including those of chunks split after a failure
    splits: int = 0
    seconds: float = 0.0


def ask(
    campaign: Campaign, n: int | None = None, *, retry_failed: bool = False, **propose: Any
) -> pd.DataFrame:
    """The molecules to measure next: the current batch's pending molecules, else a new batch of
    *n* (``propose`` with *propose*'s options). Columns: id, smiles, iteration, rank, predicted
    mean and std, acquisition score. *retry_failed* adds the molecules the oracle failed before."""
    batch = OracleBatch.current(campaign)
    if batch is not None and not len(batch.pending()):
        batch.finish()  # answered in full, but not finished (a crash in between)
        batch = None
    if batch is None:
        campaign.propose(n, **propose)
        batch = OracleBatch.current(campaign)
        assert batch is not None  # propose recorded an iteration
    if retry_failed:
        batch.add_failures()
    pending = batch.pending()
    proposals = campaign.proposals(batch.state)
    extra = proposals[["inchikey", "rank", "predicted_mean", "predicted_std", "acquisition_score"]]
    extra = extra.drop_duplicates("inchikey", keep="last")  # a retried failure: its latest proposal
    frame = pending.merge(extra.rename(columns={"inchikey": "id"}), on="id", how="left")
    return frame.assign(iteration=batch.iteration.number)


def tell(campaign: Campaign, results: Any, failures: Mapping[str, str] | None = None) -> TellResult:
    """Record answers to :func:`ask`: *results* as a DataFrame (``id``, ``value``, other columns
    kept; a ``reason`` column with no value records a failure), a mapping of id to value, or a
    sequence of (id, value) pairs or dicts; *failures* maps ids to why they have no value. A value
    that is missing, NaN or not a number is a failure; an id not pending is rejected. The batch is
    finished (ingested, recorded) by the tell that settles its last molecule. With several
    objectives, each objective's value is in the column (or key) named by its target, the first's
    also accepted as ``value`` (:mod:`~molops.active.oracle_batch`)."""
    batch = OracleBatch.current(campaign)
    if batch is None:
        raise CampaignError(f"campaign {campaign.name!r} has no batch waiting for results; call ask first")
    return batch.tell(results, failures)


def run(
    campaign: Campaign,
    oracle: Oracle,
    *,
    iterations: int | None = None,
    parallel: int = 1,
    timeout_per_molecule: float = 600.0,
    chunk_size: int | None = None,
    executor: Executor | None = None,
    retry_failed: bool = False,
    batch_size: int | None = None,
    track: bool = True,
    progress: Progress | None = None,
    on_batch: Callable[[BatchRecord], None] | None = None,
    send_unreviewed: bool = False,
) -> RunResult:
    """Run the loop (see the module's docstring); one ``campaign run`` per campaign at a time.
    *on_batch* hears of each batch as it finishes (a long run reports as it goes). A batch whose
    review is under way is refused (:func:`check_review`) unless *send_unreviewed*."""
    if parallel < 1:
        raise CampaignError(f"--parallel must be at least 1; got {parallel}")
    if not timeout_per_molecule > 0:
        raise CampaignError(f"--timeout-per-molecule must be above 0 seconds; got {timeout_per_molecule:g}")
    if iterations is not None and iterations < 1:
        raise CampaignError(f"--iterations must be at least 1; got {iterations}")
    multi = campaign.load().config.multi
    if multi is not None and oracle.value_col is None:  # its output may name the first objective
        oracle = dataclasses.replace(oracle, value_col=multi.targets[0])
    started = time.perf_counter()
    result = RunResult(campaign=campaign.name, oracle=oracle.spec)
    lock = FileLock(str(campaign.ws.lock_dir / f"campaign-{campaign.name}.run.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ConcurrentWriteError(
            f"campaign {campaign.name!r} is already running in another process; wait for it or stop it"
        ) from None
    with contextlib.ExitStack() as held:
        held.callback(lock.release)
        # on an object store, other machines are kept out by a lease there (this machine's by the lock)
        lease = None
        if campaign.remote is not None:
            lease = held.enter_context(RunLease(campaign.ws.storage, campaign.name, campaign.ws.audit.user))
        owner = owner_token(campaign._where, campaign.name)
        reap(owner)  # a killed run's oracles whose guard died too: none may race this run
        sending = _Sending(
            oracle, parallel, timeout_per_molecule, chunk_size, executor, owner, progress,
            lease.check if lease is not None else None,
        )  # fmt: skip
        retry = retry_failed
        first = True
        while True:
            batch = OracleBatch.current(campaign)
            if batch is None:
                if iterations is not None and len(result.batches) >= iterations:
                    result.reason = f"ran {iterations} iteration{'s' if iterations != 1 else ''}"
                    break
                stop = _propose(campaign, batch_size, track, progress)
                if stop is not None:
                    result.stopped_by, result.reason = stop
                    break
                first = False
                continue
            if not send_unreviewed:
                check_review(batch)
            result.resumed |= first
            first = False
            if retry:
                batch.add_failures()
                retry = False
            record = _answer(batch, sending, result)
            result.batches.append(record)
            if on_batch is not None:
                on_batch(record)
    result.seconds = round(time.perf_counter() - started, 2)
    return result


class ReviewPendingError(CampaignError):
    """The batch ``campaign run`` would send is partly reviewed: chemists are still deciding."""


def check_review(batch: OracleBatch) -> None:
    """Refuse to send a batch that chemists began reviewing and have not finished.

    A batch nobody reviewed is sent as proposed (an unattended loop has no review step), and a
    reviewed one as review left it (rejected proposals dropped, swapped ones replaced). But once
    someone has decided on some of its proposals, sending the undecided rest would pre-empt their
    review, so the run waits for the review to finish, or for ``--send-unreviewed``."""
    it = batch.iteration
    decided = len(in_force(it.decisions))
    if 0 < decided < it.proposed:
        name = batch.store.name
        raise ReviewPendingError(
            f"campaign {name!r} iteration {it.number} is under review with {it.proposed - decided} of its "
            f"{it.proposed} proposals still pending review; finish it with `molops campaign review {name}` "
            "or pass --send-unreviewed to send them as they are"
        )


def _propose(
    campaign: Campaign, batch_size: int | None, track: bool, progress: Progress | None
) -> tuple[str, str] | None:
    """Propose the next batch; (stopped_by, reason) when the campaign can propose no more."""
    try:
        campaign.propose(batch_size, track=track, progress=progress)
    except BudgetExhaustedError as exc:
        return "budget", str(exc)
    except CampaignStoppedError as exc:
        return "stopping rule", str(exc)
    except CampaignError as exc:
        # choose.py's refusal when every pool molecule is measured, proposed or filtered out
        if str(exc).endswith("nothing was proposed"):
            return "pool", str(exc)
        raise
    return None


@dataclass(frozen=True)
class _Sending:
    """How a run sends its batches to the oracle."""

    oracle: Oracle
    parallel: int
    timeout_per_molecule: float
    chunk_size: int | None
    executor: Executor | None
    owner: str  # the mark of the campaign's oracle processes
    progress: Progress | None
    still_held: Callable[[], None] | None  # raises once the run's lease was taken over


def _answer(batch: OracleBatch, how: _Sending, result: RunResult) -> BatchRecord:
    """Send the batch's pending molecules to the oracle, journal each settled call, finish it."""
    pending = batch.pending()
    molecules = list(zip(pending["id"], pending["smiles"], strict=True))
    total, done = len(molecules), 0
    size = how.chunk_size or max(1, math.ceil(total / (how.parallel * 4)))
    progress = how.progress
    stage = f"oracle: iteration {batch.iteration.number}"
    if progress and total:
        progress(stage, 0, total)

    def split(_: object) -> None:
        result.calls += 1
        result.splits += 1

    for settled in run_batch(
        how.oracle, molecules, chunk_size=size, parallel=how.parallel,
        timeout_per_molecule=how.timeout_per_molecule, executor=how.executor, cwd=str(Path.cwd()),
        owner=how.owner, on_split=split,
    ):  # fmt: skip
        if how.still_held is not None:
            how.still_held()  # another run took the lease over: it answers the batch from here
        batch.journal.append(settled.rows)  # durable before anything else counts it
        result.calls += 1
        done += len(settled.call.molecules)
        if progress:
            progress(stage, done, total)
    result.sent += total
    return batch.finish()


__all__ = ["ReviewPendingError", "RunResult", "ask", "check_review", "run", "tell"]
