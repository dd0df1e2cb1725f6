"""Where a campaign lives in the workspace: its folder, ``campaign.json`` (written atomically), its
proposals and results files and its file lock, and reading back what it proposed and what is measured.

On a workspace whose storage is an object store the state and the files live there instead
(:mod:`~molops.active.remote`), each change a conditional write on the state it was read from; the
local folder then only holds a copy of this machine's files and the scoring model.

The campaign's life cycle (create, propose, ingest, status) is :class:`~molops.active.campaign.Campaign`,
built on :class:`CampaignStore`.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import pandas as pd
from filelock import FileLock, Timeout

from molops.active.errors import CampaignExistsError, CampaignNotFoundError
from molops.active.remote import (
    CampaignChangedError,
    RemoteState,
    StateConflictError,
    list_remote,
    unique_name,
)
from molops.active.state import PROPOSAL_COLUMNS, CampaignState
from molops.errors import ConcurrentWriteError, DatasetNotFoundError
from molops.workspace import Workspace, check_name


def now() -> str:
    """The time now (UTC, ISO 8601, seconds) for the records of a campaign."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    """Write *frame* to *path* through a temporary file, so readers never see half a file."""
    tmp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)


class CampaignStore:
    """One campaign's files in a workspace (``campaigns/NAME/``) and its lock."""

    def __init__(self, ws: Workspace, name: str) -> None:
        self.ws = ws
        self.name = check_name(name, "campaign")
        self.dir = ws.root / "campaigns" / name
        self.file = self.dir / "campaign.json"
        storage = ws.storage
        #: the state on the object store (None: a local workspace, ``campaign.json`` in :attr:`dir`)
        self.remote = None if storage.is_local else RemoteState(storage, self.name)
        self._where = str(ws.root) if storage.is_local else storage.root
        self._base: int | None = None  # the remote state's version last read (None: not yet)
        self._seen = (0, 0)  # its iterations and ingests then

    # -- persistence -------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.remote.exists() if self.remote is not None else self.file.is_file()

    def load(self, for_update: bool = False) -> CampaignState:
        """The campaign's state; *for_update*: the state the next :meth:`_save` must build on (on an
        object store, other reads meanwhile, such as the measured set's, leave that base alone)."""
        if not self.exists():
            known = ", ".join(list_campaigns(self.ws)) or "none yet"
            raise CampaignNotFoundError(f"no campaign {self.name!r} in {self._where}; campaigns: {known}")
        if self.remote is None:
            return CampaignState.model_validate_json(self.file.read_text(encoding="utf-8"))
        text, base = self.remote.read()
        state = CampaignState.model_validate_json(text)
        if for_update:
            self._base, self._seen = base, (len(state.iterations), len(state.ingests))
        return state

    def _save(self, state: CampaignState, doing: str = "updating it", command: str = "it") -> None:
        """Write *state*: atomically here, or on the object store exactly on top of the state
        :meth:`load` read (:class:`CampaignChangedError` when another writer committed since)."""
        if self.remote is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            _write_atomic(self.file, state.model_dump_json(indent=1).encode())
            return
        try:
            self._base = self.remote.write(state.model_dump_json(indent=1), self._base)
        except StateConflictError:
            if self._base is None:
                raise CampaignExistsError(f"campaign {self.name!r} already exists in {self._where}") from None
            raise CampaignChangedError(self._changed(doing, command)) from None
        self._seen = (len(state.iterations), len(state.ingests))

    def _changed(self, doing: str, command: str) -> str:
        """The sentence for a lost race: what the winner committed, read from the state now."""
        latest = CampaignState.model_validate_json(self.remote.read()[0]) if self.remote else None
        iterations, ingests = self._seen
        if latest is not None and len(latest.iterations) > iterations:
            what = f"another propose committed iteration {len(latest.iterations)}"
        elif latest is not None and len(latest.ingests) > ingests:
            what = f"another ingest committed results {len(latest.ingests)}"
        else:
            what = "another command changed it"
        return f"campaign {self.name!r} changed while {doing} ({what}); run {command} again"

    # -- files -------------------------------------------------------------------------------------
    def _file_name(self, folder: str, stem: str) -> str:
        """*folder*/*stem*.parquet, relative to the campaign; on an object store with a random
        suffix, so a file written by a writer that then loses its race is never the campaign's."""
        return f"{folder}/{stem if self.remote is None else unique_name(stem)}.parquet"

    def _write_frame(self, rel: str, frame: pd.DataFrame) -> None:
        """*frame* as the campaign's file *rel* (on an object store: there and a local copy)."""
        (self.dir / rel).parent.mkdir(parents=True, exist_ok=True)
        write_parquet(self.dir / rel, frame)
        if self.remote is not None:
            self.remote.write_frame(rel, frame)

    def _read_frame(self, rel: str) -> pd.DataFrame:
        local = self.dir / rel
        if self.remote is None or local.is_file():  # the local copy of a uniquely named file
            return pd.read_parquet(local)
        return self.remote.read_frame(rel)

    def _discard(self, rel: str) -> None:
        """Remove the file *rel* that a lost race wrote (no state names it): the local copy, and on
        an object store the object too (best effort)."""
        (self.dir / rel).unlink(missing_ok=True)
        if self.remote is not None:
            self.remote.discard(rel)

    def location(self, rel: str) -> str:
        """Where the campaign's file *rel* is, as a path or a URL."""
        return str(self.dir / rel) if self.remote is None else self.remote.storage.uri(rel)

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
    def open(cls, ws: Workspace, name: str) -> Self:
        campaign = cls(ws, name)
        campaign.load()
        return campaign

    # -- proposals ---------------------------------------------------------------------------------
    def proposals(self, state: CampaignState | None = None) -> pd.DataFrame:
        """Every proposal so far, with its iteration number (one row per proposed molecule)."""
        state = state or self.load()
        frames = [
            self._read_frame(it.proposals).assign(iteration=it.number)
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

    def _open(self, state: CampaignState, measured: set[str]) -> pd.DataFrame:
        proposals = self.proposals(state)
        return proposals[~proposals["inchikey"].isin(measured)]


def list_campaigns(ws: Workspace) -> list[str]:
    """Names of the workspace's campaigns."""
    if not ws.storage.is_local:
        return list_remote(ws.storage)
    folder = ws.root / "campaigns"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "campaign.json").is_file())


def campaign_overview(ws: Workspace) -> list[dict[str, Any]]:
    """One row per campaign with its progress (``campaign list`` and the web app's list show it)."""
    rows = []
    for name in list_campaigns(ws):
        state = CampaignStore(ws, name).load()
        cfg = state.config
        rows.append(
            {
                "name": name,
                "dataset": cfg.dataset,
                "target": cfg.objective.target,
                "maximize": cfg.objective.maximize,
                "pool": cfg.pool,
                "iterations": len(state.iterations),
                "proposed": state.proposed(),
                "budget": cfg.budget.molecules,
                "created": cfg.created,
            }
        )
    return rows
