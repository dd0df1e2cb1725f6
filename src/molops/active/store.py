"""Where a campaign lives in the workspace: its folder, ``campaign.json`` (written atomically), its
proposals and results files and its file lock, and reading back what it proposed and what is measured.

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

from molops.active.errors import CampaignNotFoundError
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
    def open(cls, ws: Workspace, name: str) -> Self:
        campaign = cls(ws, name)
        campaign.load()
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

    def _open(self, state: CampaignState, measured: set[str]) -> pd.DataFrame:
        proposals = self.proposals(state)
        return proposals[~proposals["inchikey"].isin(measured)]


def list_campaigns(ws: Workspace) -> list[str]:
    """Names of the workspace's campaigns."""
    folder = ws.root / "campaigns"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "campaign.json").is_file())
