"""Lab results coming back to a campaign: the file as the dataset ingest reads it, and each
measured molecule matched to the proposal that asked for it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from molops.active.errors import CampaignError
from molops.errors import ColumnNotFoundError, InputFileError


class RenamedCopy:
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


def match_results(
    frame: pd.DataFrame | None, target: str, version: int, proposals: pd.DataFrame, before: set[str]
) -> pd.DataFrame:
    """The molecules an ingest gave a *target* value, matched to their latest proposal.

    *frame* is the dataset *version* the ingest made (None when it changed nothing), *proposals*
    every proposal so far and *before* the InChIKeys measured before the ingest. One row per
    molecule: inchikey, smiles, value, iteration (of the proposal), proposed, previously_measured
    and dataset_version.
    """
    proposed_in = proposals.drop_duplicates("inchikey", keep="last").set_index("inchikey")
    rows = pd.DataFrame(columns=["inchikey", "smiles", "value"])
    if frame is not None:
        mask = (frame["updated_version"] == version) & frame[target].notna()
        rows = frame.loc[mask, ["inchikey", "smiles", target]].rename(columns={target: "value"})
    matched = rows["inchikey"].isin(proposed_in.index)
    iteration: list[float] = rows["inchikey"].map(proposed_in["iteration"]).tolist() if len(rows) else []
    return rows.assign(
        iteration=pd.array(iteration, dtype="Int64"),
        proposed=matched.to_numpy(),
        previously_measured=rows["inchikey"].isin(before).to_numpy(),
        dataset_version=version,
    ).reset_index(drop=True)
