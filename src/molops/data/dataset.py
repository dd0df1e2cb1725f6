"""The Python API of one dataset: ingest, read, versions, diff, export, quarantine, rollback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from molops._types import StrPath
from molops._version import __version__
from molops.config import IngestSection
from molops.data.audit import AuditLog
from molops.data.ingest import IngestReport, ProgressCallback, ingest_file
from molops.data.sources import FileFormat
from molops.data.store import DatasetStore, VersionInfo, now_utc, targets_of
from molops.errors import InputFileError
from molops.storage import Storage

#: The standardiser version since which a SMILES's E/Z is part of its InChIKey.
_E_Z_IN_IDENTITY = 4


class MoleculeChange(BaseModel):
    inchikey: str
    smiles: str
    changes: dict[str, list[Any]]  # column → [old, new]


class DatasetDiff(BaseModel):
    """Molecules added, removed and changed between two versions."""

    dataset: str
    from_version: int
    to_version: int
    added: list[dict[str, Any]]
    removed: list[dict[str, Any]]
    changed: list[MoleculeChange]

    def counts(self) -> dict[str, int]:
        return {"added": len(self.added), "removed": len(self.removed), "changed": len(self.changed)}


class RollbackReport(BaseModel):
    dataset: str
    version: int
    rolled_back_to: int
    molecules: int
    unchanged: bool


def _plain(value: Any) -> Any:
    """JSON-friendly scalars and lists from pandas/numpy values."""
    if isinstance(value, np.ndarray | list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


#: Columns compared by diff and shown in exports, per target.
_COMPARED = ("", "_std", "_n", "_disagree")


class Dataset:
    """A named, versioned table of measurements in a workspace."""

    def __init__(
        self,
        store: DatasetStore,
        config: IngestSection,
        audit: AuditLog | None = None,
        identities: Storage | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.audit = audit  # records each change with who made it (the workspace passes its log)
        self.identities = identities  # the workspace's identity cache (see molops.data.identity_cache)

    @property
    def name(self) -> str:
        return self.store.name

    def exists(self) -> bool:
        return self.store.exists()

    def ingest(
        self,
        path: StrPath,
        *,
        smiles_col: str | None,
        target_col: str,
        units: str | None = None,
        fmt: FileFormat | None = None,
        workers: int | None = None,
        progress: ProgressCallback | None = None,
        source_name: str | None = None,
    ) -> IngestReport:
        """Validate *path* and commit its measurements as a new version (unless nothing changes)."""
        report = ingest_file(
            self.store,
            path,
            smiles_col=smiles_col,
            target_col=target_col,
            units=units,
            fmt=fmt,
            config=self.config,
            workers=workers,
            progress=progress,
            source_name=source_name,
            identities=self.identities,
        )
        if self.audit is not None and not report.unchanged:
            self.audit.record(
                "dataset.ingest",
                self.name,
                report.version,
                source=report.source,
                target=report.target,
                rows_in=report.rows_in,
                added=report.added,
                updated=report.updated,
                quarantined=report.quarantined,
            )
        return report

    def read(self, version: int | None = None) -> pd.DataFrame:
        """One row per molecule as of *version* (default: latest)."""
        return self.store.read(version)

    def versions(self) -> list[VersionInfo]:
        return self.store.versions()

    def latest_version(self) -> int | None:
        return self.store.latest_version()

    def identity_warnings(self, version: int | None = None) -> list[str]:
        """What a newer standardiser would name otherwise in *version*: today, molecules with a
        double bond's E/Z (``/``, ``\\`` in their SMILES) that an ingest before standardiser 4 named,
        when cis and trans isomers had one key, so measurements of both may sit in one row. Only a
        new ingest applies new rules; this reads the lineage and the SMILES column, nothing more."""
        info = self.store.resolve(version)
        older = [
            v.version
            for v in self.versions()
            if v.version <= info.version
            and v.operation == "ingest"
            and v.lineage.get("standardizer", 0) < _E_Z_IN_IDENTITY
        ]
        if not older:
            return []
        marked = int(self.read(info.version)["smiles"].str.contains(r"[/\\]", regex=True).sum())
        if not marked:
            return []
        by = "version " + ", ".join(map(str, older)) if len(older) < 4 else f"{len(older)} versions"
        return [
            f"dataset {self.name!r} version {info.version}: {marked} molecule(s) with a double bond's "
            f"E/Z were ingested ({by}) before molops told cis and trans isomers apart (standardiser "
            f"{_E_Z_IN_IDENTITY}), so isomers measured apart may share a row; ingest the source files "
            "into a new dataset to separate them"
        ]

    def targets(self, version: int | None = None) -> list[str]:
        return targets_of(list(self.read(version).columns))

    def quarantine(self, version: int | None = None) -> pd.DataFrame:
        """Rejected input rows with their reasons: all, or those of *version*'s ingest."""
        return self.store.read_quarantine(version)

    def diff(self, v1: int, v2: int) -> DatasetDiff:
        """What changed from version *v1* to version *v2*."""
        a = self.read(v1).set_index("inchikey")
        b = self.read(v2).set_index("inchikey")
        added = b.index.difference(a.index, sort=False)
        removed = a.index.difference(b.index, sort=False)
        common = a.index.intersection(b.index, sort=False)
        cols = [t + s for t in targets_of(list(b.columns)) for s in _COMPARED]
        changed: list[MoleculeChange] = []
        for key in common:
            changes = {}
            for col in cols:
                old = _plain(a.at[key, col]) if col in a.columns else None
                new = _plain(b.at[key, col])
                if old != new:
                    changes[col] = [old, new]
            if changes:
                changed.append(MoleculeChange(inchikey=key, smiles=str(b.at[key, "smiles"]), changes=changes))

        def rows(frame: pd.DataFrame, keys: pd.Index) -> list[dict[str, Any]]:
            shown = ["smiles"] + [c for c in cols if c in frame.columns]
            return [{"inchikey": k, **{c: _plain(frame.at[k, c]) for c in shown}} for k in keys]

        return DatasetDiff(
            dataset=self.name,
            from_version=self.store.resolve(v1).version,
            to_version=self.store.resolve(v2).version,
            added=rows(b, added),
            removed=rows(a, removed),
            changed=changed,
        )

    def export_frame(self, version: int | None = None) -> pd.DataFrame:
        """The version as a user-facing table: smiles, inchikey, then per target its statistics."""
        frame = self.read(version).sort_values("order", kind="stable")
        cols = ["smiles", "inchikey"]
        for t in targets_of(list(frame.columns)):
            cols += [t, f"{t}_std", f"{t}_n", f"{t}_disagree", f"{t}_replicates"]
        cols += ["first_version", "updated_version", "source"]
        return frame[cols].reset_index(drop=True)

    def export(self, out: StrPath, version: int | None = None) -> Path:
        """Write the version to *out* (.csv or .parquet, chosen by suffix)."""
        out = Path(out)
        frame = self.export_frame(version)
        suffix = out.suffix.lower()
        if suffix not in (".csv", ".parquet"):
            what = suffix or "a file without suffix"
            raise InputFileError(f"{out}: cannot export to {what}; expected .csv or .parquet")
        out.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".csv":
            for col in [c for c in frame.columns if c.endswith("_replicates")]:
                frame[col] = [json.dumps(_plain(v)) if v is not None else "" for v in frame[col]]
            frame.to_csv(out, index=False)
        else:
            frame.to_parquet(out, index=False)
        return out

    def rollback(self, to_version: int) -> RollbackReport:
        """Make a new version whose content equals *to_version*; history is never rewritten."""
        # a writer elsewhere that commits first makes this one start over on its version
        return self.store.retrying(lambda: self._rollback(to_version))

    def _rollback(self, to_version: int) -> RollbackReport:
        with self.store.lock():
            target = self.store.resolve(to_version)
            latest = self.store.resolve(None)
            snapshot = self.store.read(target.version)
            current = self.store.read(latest.version)
            same = _same_content(snapshot, current)
            if same:
                return RollbackReport(
                    dataset=self.name,
                    version=latest.version,
                    rolled_back_to=target.version,
                    molecules=len(snapshot),
                    unchanged=True,
                )
            version = latest.version + 1
            lineage = {
                "version": version,
                "operation": "rollback",
                "rollback_to": target.version,
                "rolled_back_from": latest.version,
                "time": now_utc().isoformat(),
                "molops_version": __version__,
                "molecules": len(snapshot),
            }
            self.store.commit(snapshot, lineage)
        if self.audit is not None:
            self.audit.record(
                "dataset.rollback", self.name, version, rolled_back_to=target.version, molecules=len(snapshot)
            )
        return RollbackReport(
            dataset=self.name,
            version=version,
            rolled_back_to=target.version,
            molecules=len(snapshot),
            unchanged=False,
        )


def _same_content(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    if sorted(a.columns) != sorted(b.columns) or len(a) != len(b):
        return False
    cols = sorted(a.columns)
    left = a[cols].sort_values("inchikey").reset_index(drop=True).map(_plain)
    right = b[cols].sort_values("inchikey").reset_index(drop=True).map(_plain)
    return bool(left.equals(right))
