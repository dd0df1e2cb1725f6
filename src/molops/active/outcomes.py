"""What a live oracle's batch leaves in the campaign's state: each finished batch, with the
molecules the oracle could not answer and why.

A plain module of pydantic records (no I/O), so that :mod:`~molops.active.state` can hold them
without importing the journal or the oracle runners.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Failure(BaseModel):
    """A molecule the oracle did not answer: timed out, crashed, or gave no number for it."""

    inchikey: str
    smiles: str
    reason: str
    #: the batch that recorded it (``BatchRecord.batch``)
    batch: str


class RejectedRow(BaseModel):
    """A row of the oracle's output that names no molecule of the batch (or one already answered)."""

    id: str
    reason: str


class BatchRecord(BaseModel):
    """One batch sent to a live oracle (``campaign run`` or ``ask``/``tell``), once it finished:
    every molecule answered or failed, the answers ingested as one dataset version."""

    batch: str  # the batch id: also the results' source name in the dataset's lineage
    iteration: int
    time: str
    sent: int
    answered: int
    failures: list[Failure] = Field(default_factory=list)
    rejected_rows: list[RejectedRow] = Field(default_factory=list)
    #: the campaign ingest that took its answers (None: none answered)
    ingest: int | None = None
    dataset_version: int | None = None


def current_failures(batches: list[BatchRecord], measured: set[str]) -> list[Failure]:
    """The molecules whose latest batch failed them and which have no value yet, in batch order."""
    latest: dict[str, Failure] = {}
    for batch in batches:
        for failure in batch.failures:
            latest.pop(failure.inchikey, None)  # re-failed: its place is the latest batch's
            latest[failure.inchikey] = failure
    return [f for key, f in latest.items() if key not in measured]


__all__ = ["BatchRecord", "Failure", "RejectedRow", "current_failures"]
