"""The batch a live oracle is answering: what is still pending, recording answers, and finishing.

A campaign's *current batch* is its latest iteration's proposals until a :class:`BatchRecord` for
that iteration is in the state. Answers (``tell``, or each chunk of ``campaign run``) go to the
batch's :class:`~molops.active.journal.Journal` first; a molecule with a row there is settled and
is never sent again. Once every molecule is settled the batch is *finished*: its values are
ingested as one dataset version through the normal ingest (validation, quarantine) and the batch
is recorded in the state together with its ingest record, in one state write.

Finishing is idempotent, so a crash anywhere in it is repaired by finishing again: the results
file's name is the batch id, and a dataset version whose lineage names that source means the
ingest already happened (no second version is made; the record is rebuilt from that version).

A campaign with several objectives (``config.multi``) reads each answer's other objectives from
the columns named by their targets (the journal's ``extra``) and ingests each as its own version
before the first objective's, under a source name of its own (``BATCH.TARGET.csv``), so a crash
between those ingests resumes by finding each one that was made. A value missing for one objective
does not stop the others from landing: each missing one is recorded in the molecule's failure as
``TARGET: why``; only a missing first-objective value leaves the molecule retriable.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import pandas as pd
from pydantic import BaseModel

from molops.active.ingesting import ingest_record
from molops.active.journal import Journal, Outcome, row, settled
from molops.active.oracle import parse_value
from molops.active.outcomes import BatchRecord, Failure, RejectedRow, current_failures
from molops.active.remote import CampaignChangedError
from molops.active.state import CampaignState, IngestRecord, Iteration
from molops.active.store import CampaignStore, now
from molops.storage import Storage


class TellResult(BaseModel):
    """What ``tell`` recorded, and the finished batch once the last molecule was settled."""

    batch: str
    answered: int
    failed: int
    rejected: list[RejectedRow]
    pending: int
    finished: BatchRecord | None = None


def batch_id(campaign: str, state: CampaignState, it: Iteration) -> str:
    """A stable id of iteration *it*'s batch: the same on every resume, different for a campaign
    of the same name created again (its creation time differs)."""
    cfg = state.config
    seed = f"{campaign}|{cfg.created}|{cfg.created_by}|{it.number}|{it.time}|{it.proposals}"
    return f"{campaign}-iteration-{it.number:04d}-{hashlib.sha256(seed.encode()).hexdigest()[:8]}"


class OracleBatch:
    """The current batch of campaign *store* (iteration *iteration* of *state*)."""

    def __init__(self, store: CampaignStore, state: CampaignState, iteration: Iteration) -> None:
        self.store = store
        self.state = state
        self.iteration = iteration
        self.id = batch_id(store.name, state, iteration)
        self.journal = Journal(files(store), self.id)

    @classmethod
    def current(cls, store: CampaignStore, state: CampaignState | None = None) -> OracleBatch | None:
        """The latest iteration's batch, unless it is finished (or there is no iteration)."""
        state = state or store.load()
        if not state.iterations:
            return None
        it = state.iterations[-1]
        if any(b.iteration == it.number for b in state.batches):
            return None
        return cls(store, state, it)

    # -- what is pending ---------------------------------------------------------------------------
    def members(self, journal: pd.DataFrame | None = None) -> pd.DataFrame:
        """The batch's molecules (id, smiles): the iteration's proposals and any retried failures."""
        journal = self.journal.read() if journal is None else journal
        proposals = self.store.proposals(self.state)  # as review left them, where it did
        proposals = proposals[proposals["iteration"] == self.iteration.number]
        frame = pd.DataFrame({"id": proposals["inchikey"], "smiles": proposals["smiles"]})
        added = journal.loc[journal["outcome"] == "member", ["id", "smiles"]]
        return pd.concat([frame, added], ignore_index=True).drop_duplicates("id").reset_index(drop=True)

    def pending(self, journal: pd.DataFrame | None = None) -> pd.DataFrame:
        """Members with no row in the journal and no value in the dataset yet."""
        journal = self.journal.read() if journal is None else journal
        members = self.members(journal)
        done = set(settled(journal).index) | set(self.store._measured()["inchikey"])
        return members[~members["id"].isin(done)].reset_index(drop=True)

    def add_failures(self) -> int:
        """Put the campaign's current failures (``--retry-failed``) into this batch; how many."""
        measured = set(self.store._measured()["inchikey"])
        journal = self.journal.read()
        known = set(self.members(journal)["id"])
        again = [f for f in current_failures(self.state.batches, measured) if f.inchikey not in known]
        self.journal.append([row(f.inchikey, "member", smiles=f.smiles, reason=f.reason) for f in again])
        return len(again)

    # -- recording ---------------------------------------------------------------------------------
    def tell(self, results: Any, failures: Mapping[str, str] | None = None) -> TellResult:
        """Record *results* (see :func:`normalise`) and *failures* (id → reason) in one commit;
        finish the batch when nothing is pending any more."""
        journal = self.journal.read()
        pending = set(self.pending(journal)["id"])
        smiles = dict(zip(*self.members(journal)[["id", "smiles"]].T.to_numpy(), strict=True))
        chunk = f"tell-{uuid.uuid4().hex[:12]}"
        rows: list[dict[str, Any]] = []
        cfg = self.state.config
        first = cfg.objective.target if cfg.multi is not None else None
        for key, raw, extra in [
            *normalise(results, first),
            *((k, None, {"reason": r}) for k, r in (failures or {}).items()),
        ]:
            if key not in pending:
                why = "already recorded" if key in smiles else "a row for an unknown id"
                rows.append(row(key or "(empty)", "rejected", reason=why, chunk=chunk))
                continue
            pending.discard(key)
            value, reason = parse_value(raw)
            given = extra.get("reason")
            if reason is not None and isinstance(given, str) and given.strip():
                reason = given.strip()  # no value, and the caller said why
            outcome: Outcome = "value" if reason is None else "failed"
            rows.append(
                row(key, outcome, smiles=smiles[key], value=value, reason=reason, extra=extra, chunk=chunk)
            )
        self.journal.append(rows)
        result = TellResult(
            batch=self.id,
            answered=sum(r["outcome"] == "value" for r in rows),
            failed=sum(r["outcome"] == "failed" for r in rows),
            rejected=[
                RejectedRow(id=r["id"], reason=r["reason"]) for r in rows if r["outcome"] == "rejected"
            ],
            pending=len(pending),
        )
        if not pending:
            result.finished = self.finish()
        return result

    # -- finishing ---------------------------------------------------------------------------------
    def finish(self) -> BatchRecord:
        """Ingest the batch's values (once) and record the batch; safe to call again after a crash."""
        for attempt in range(5):  # on an object store, another command may commit the state first
            try:
                return self._finish()
            except CampaignChangedError:
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def _finish(self) -> BatchRecord:
        store = self.store
        with store._locked():
            state = store.load(for_update=True)
            for done in state.batches:
                if done.batch == self.id:
                    return done
            journal = self.journal.read()
            members = self.members(journal)
            outcome = settled(journal)
            outcome = outcome[outcome.index.isin(set(members["id"]))]
            values = outcome[outcome["outcome"] == "value"]
            rejected = journal[journal["outcome"] == "rejected"]
            others, reasons = other_objectives(outcome, state)
            failed = outcome[outcome.index.isin(set(reasons))]
            record = BatchRecord(
                batch=self.id,
                iteration=self.iteration.number,
                time=now(),
                sent=len(outcome),
                answered=len(values),
                failures=[
                    Failure(inchikey=str(k), smiles=str(r["smiles"]), reason=reasons[str(k)], batch=self.id)
                    for k, r in failed.iterrows()
                ],
                rejected_rows=[
                    RejectedRow(id=str(r["id"]), reason=str(r["reason"])) for _, r in rejected.iterrows()
                ],
            )
            for target, frame in others.items():  # before the first's: its version is the record's
                self._ingest_other(target, frame)
            if len(values):
                ingest = self._ingest(state, values)
                state.ingests.append(ingest)
                record.ingest, record.dataset_version = ingest.number, ingest.dataset_version
            state.batches.append(record)
            store._save(state, "recording an oracle batch", "campaign run")
        store.ws.audit.record(
            "campaign.oracle_batch",
            store.name,
            record.dataset_version,
            batch=self.id,
            answered=record.answered,
            failed=len(record.failures),
        )
        return record

    def _ingest_other(self, target: str, values: pd.DataFrame) -> None:
        """Another objective's values as a dataset version, made at most once (its own source name,
        so that a resume finds it and not the version of another objective)."""
        self._version(target, values, f"{self.id}.{target.replace('/', '_')}.csv")

    def _version(self, target: str, values: pd.DataFrame, source: str) -> tuple[int, dict[str, Any]]:
        """The version ingested from *source*: found by that name, else made (with its report)."""
        ds = self.store.ws.dataset(self.state.config.dataset)
        version = next(
            (v.version for v in ds.versions() if v.lineage.get("source", {}).get("name") == source), None
        )
        if version is not None:
            return version, {}
        frame = pd.DataFrame({"smiles": values["smiles"], target: values["value"]}).sort_values("smiles")
        with tempfile.TemporaryDirectory(prefix="molops-batch-") as tmp:
            path = Path(tmp) / source
            frame.to_csv(path, index=False, float_format="%.17g")
            rep = ds.ingest(path, smiles_col="smiles", target_col=target, source_name=source)
        return rep.version, rep.model_dump()

    def _ingest(self, state: CampaignState, values: pd.DataFrame) -> IngestRecord:
        """The batch's values as a dataset version, made at most once (found by the source name)."""
        store, cfg = self.store, state.config
        ds = store.ws.dataset(cfg.dataset)
        source = f"{self.id}.csv"
        version, report = self._version(cfg.objective.target, values, source)
        before = set(store._measured(version - 1)["inchikey"]) if version > 1 else set()
        lineage = next(v.lineage for v in ds.versions() if v.version == version)
        record, _ = ingest_record(
            store,
            state,
            ds.read(version),
            source=source,
            version=version,
            before=before,
            unchanged=bool(report.get("unchanged", False)),
            rows_in=int(report.get("rows_in", lineage.get("rows_in", len(values)))),
            accepted=int(report.get("accepted", lineage.get("accepted", len(values)))),
            quarantined=int(report.get("quarantined", lineage.get("quarantined", 0))),
        )
        return record


def files(store: CampaignStore) -> Storage:
    """Where the campaign's files live: its folder here, or its folder on the object store."""
    return store.remote.storage if store.remote is not None else Storage.at(store.dir)


def other_objectives(
    outcome: pd.DataFrame, state: CampaignState
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """The other objectives' values among the settled rows *outcome* (target → smiles, value), and
    each failed molecule's reason (id → reason): with several objectives, ``TARGET: why`` for each
    objective the oracle's row has no value for (a call that gave no row keeps its one reason)."""
    cfg = state.config
    reasons = {str(k): str(r["reason"]) for k, r in outcome.iterrows() if r["outcome"] == "failed"}
    if cfg.multi is None:
        return {}, reasons
    found: dict[str, list[tuple[str, float]]] = {o.target: [] for o in cfg.multi.objectives[1:]}
    for key, r in outcome.iterrows():
        extra = r["extra"]
        if r["outcome"] == "failed" and not isinstance(extra, str):
            continue  # no row from the oracle: the call's reason covers every objective
        columns = json.loads(extra) if isinstance(extra, str) else {}
        why = [] if r["outcome"] == "value" else [f"{cfg.objective.target}: {r['reason']}"]
        for target, got in found.items():
            value, reason = parse_value(columns.get(target))
            if reason is None:
                got.append((str(r["smiles"]), cast(float, value)))
            else:
                why.append(f"{target}: {reason}")
        if why:
            reasons[str(key)] = "; ".join(why)
    frames = {t: pd.DataFrame(v, columns=["smiles", "value"]) for t, v in found.items() if v}
    return frames, reasons


def normalise(results: Any, first: str | None = None) -> Iterable[tuple[str, Any, dict[str, Any]]]:
    """(id, raw value, other columns) from a DataFrame with ``id`` and ``value`` columns, a
    mapping of id to value, or a sequence of (id, value) pairs or ``{"id":…, "value":…}`` dicts.
    With *first* (the first objective's target, several objectives), a column or key of that name
    stands for ``value`` where there is no ``value``."""
    if isinstance(results, pd.DataFrame):
        if first is not None and "value" not in results.columns and first in results.columns:
            results = results.rename(columns={first: "value"})
        missing = [c for c in ("id", "value") if c not in results.columns]
        if missing:
            named = "'value'" + (f" (or {first!r})" if first is not None else "")
            raise TypeError(
                f"tell: the results DataFrame needs 'id' and {named} columns; it has {list(results.columns)}"
            )
        records: list[Mapping[Any, Any]] = list(results.to_dict(orient="records"))
    elif isinstance(results, Mapping):
        records = [{"id": k, "value": v} for k, v in results.items()]
    else:
        records = [r if isinstance(r, Mapping) else {"id": r[0], "value": r[1]} for r in results]
    for r in records:
        key = "value" if first is None or "value" in r else first
        extra = {str(k): v for k, v in r.items() if k not in ("id", key)}
        yield str(r.get("id", "")).strip(), r.get(key), extra
