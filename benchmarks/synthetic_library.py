"""A deterministic library of N unique drug-like molecules, for the million-row benchmarks.

The shared Enamine file has 10,449 molecules; a pool or an ingest of a million rows needs a
million *distinct* structures, or every cache (per process, per file, per workspace) gets free
hits and the figure means nothing. So each seed molecule is varied the way a medicinal chemist
enumerates analogues: one aromatic C-H position gets a substituent (F, Cl, Br, methyl, methoxy,
hydroxy, amino, nitrile, CF3) or becomes N, then two positions get any pair of substituents.
Every written SMILES is a distinct canonical structure; the order is shuffled with the seed.

Prints ONE JSON line on stdout (rows, unique seeds used, seconds, path). From the repository root:

    .venv/bin/python benchmarks/synthetic_library.py --rows 1000000
    .venv/bin/python benchmarks/synthetic_library.py --rows 100000 --out /tmp/lib100k.csv.gz

Columns: ``smiles`` and ``score``. The score is a cheap, smooth function of the structure
(Crippen logP plus 0.1 × heavy atoms, rounded to 3 decimals): a target a model can learn, so
trained models and proposals behave as on real data. Stated wherever a figure uses it.
An existing output with the same rows and seed is reused (``--force`` rebuilds it).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import os
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from rdkit import Chem, RDLogger
from rdkit.Chem import Crippen
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

RDLogger.DisableLog("rdApp.*")

ROOT = Path(__file__).resolve().parent
DEFAULT_SEEDS = ROOT.parent.parent / "shared" / "data" / "enamine10k_scores.csv.gz"
SUBSTITUENTS = ("F", "Cl", "Br", "C", "OC", "O", "N", "C#N", "C(F)(F)F")


def default_out(rows: int, seed: int) -> Path:
    return ROOT / "out" / f"synthetic_{rows}_seed{seed}.csv.gz"


def read_seeds(path: Path) -> list[Chem.Mol]:
    """The seed file's molecules (its ``smiles`` column), sanitised; unparsable rows are skipped."""
    with gzip.open(path, "rt", newline="") if path.suffix == ".gz" else path.open(newline="") as fh:
        rows = [row["smiles"] for row in csv.DictReader(fh)]
    mols = [Chem.MolFromSmiles(s) for s in rows]
    return [m for m in mols if m is not None]


def _aromatic_ch(mol: Chem.Mol) -> list[int]:
    return [
        a.GetIdx()
        for a in mol.GetAtoms()
        if a.GetIsAromatic() and a.GetSymbol() == "C" and a.GetTotalNumHs() == 1
    ]


def _smiles_if_valid(rw: Chem.RWMol) -> str | None:
    """The edited molecule's canonical SMILES, or None when the edit broke valence or aromaticity."""
    try:
        out = rw.GetMol()
        Chem.SanitizeMol(out)
    except (Chem.rdchem.MolSanitizeException, RuntimeError):
        return None
    return Chem.MolToSmiles(out)


def _substituted(mol: Chem.Mol, positions: tuple[int, ...], groups: tuple[str, ...]) -> str | None:
    """*mol* with *groups* bonded at *positions* (aromatic C-H carbons), as canonical SMILES."""
    rw = Chem.RWMol(mol)
    for pos, group in zip(positions, groups, strict=True):
        frag = Chem.MolFromSmiles(group)
        offset = rw.GetNumAtoms()
        for atom in frag.GetAtoms():
            rw.AddAtom(atom)
        for bond in frag.GetBonds():
            rw.AddBond(bond.GetBeginAtomIdx() + offset, bond.GetEndAtomIdx() + offset, bond.GetBondType())
        rw.AddBond(pos, offset, Chem.BondType.SINGLE)
        rw.GetAtomWithIdx(pos).SetNumExplicitHs(0)
    return _smiles_if_valid(rw)


def _aza(mol: Chem.Mol, pos: int) -> str | None:
    """*mol* with the aromatic CH at *pos* replaced by N (a pyridine-type ring)."""
    rw = Chem.RWMol(mol)
    atom = rw.GetAtomWithIdx(pos)
    atom.SetAtomicNum(7)
    atom.SetNumExplicitHs(0)
    return _smiles_if_valid(rw)


def analogues(mol: Chem.Mol, rng: random.Random) -> Iterator[str]:
    """Analogue SMILES of *mol*: single substitutions and aza swaps first, then double substitutions."""
    sites = _aromatic_ch(mol)
    for pos in sites:
        for group in SUBSTITUENTS:
            smi = _substituted(mol, (pos,), (group,))
            if smi:
                yield smi
        smi = _aza(mol, pos)
        if smi:
            yield smi
    # every pair of sites with every pair of groups, in a seeded order that is computed, not
    # stored: ten thousand live streams each holding its own shuffled list would take gigabytes
    pairs = [(a, b) for i, a in enumerate(sites) for b in sites[i + 1 :]]
    n_groups = len(SUBSTITUENTS)
    total = len(pairs) * n_groups * n_groups
    if not total:
        return
    stride = rng.randrange(1, total)
    while math.gcd(stride, total) != 1:
        stride += 1
    start = rng.randrange(total)
    for k in range(total):
        index = (start + k * stride) % total
        pair, rest = divmod(index, n_groups * n_groups)
        g, h = divmod(rest, n_groups)
        smi = _substituted(mol, pairs[pair], (SUBSTITUENTS[g], SUBSTITUENTS[h]))
        if smi:
            yield smi


def score(smiles: str) -> float:
    mol = Chem.MolFromSmiles(smiles)
    return round(Crippen.MolLogP(mol) + 0.1 * mol.GetNumHeavyAtoms(), 3)


def make_library(rows: int, out: Path, seed: int = 0, seeds_path: Path = DEFAULT_SEEDS) -> dict[str, object]:
    """Write *rows* unique analogue SMILES of the seed file's molecules to *out* (csv.gz)."""
    started = time.perf_counter()
    rng = random.Random(seed)
    mols = read_seeds(seeds_path)
    seen: set[str] = {Chem.MolToSmiles(m) for m in mols}
    picked: list[str] = [s for s in sorted(seen)][: min(rows, len(seen))]
    per_seed = -(-(rows - len(picked)) // len(mols)) if rows > len(picked) else 0
    streams = [analogues(m, random.Random(rng.random())) for m in mols]
    progress = Progress(
        TextColumn("analogues"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(), transient=True
    )
    with progress:
        task = progress.add_task("", total=rows, completed=len(picked))
        # round-robin over the seeds, at most per_seed analogues each per pass, until enough
        while len(picked) < rows and streams:
            alive = []
            for stream in streams:
                taken = 0
                for smi in stream:
                    if smi not in seen:
                        seen.add(smi)
                        picked.append(smi)
                        taken += 1
                        if taken >= per_seed or len(picked) >= rows:
                            break
                else:
                    continue  # the stream ran dry: drop it
                alive.append(stream)
                progress.update(task, completed=len(picked))
                if len(picked) >= rows:
                    break
            streams = alive
            per_seed = max(1, per_seed)
    if len(picked) < rows:
        raise SystemExit(f"{seeds_path}: its molecules give only {len(picked)} analogues; expected {rows}")
    rng.shuffle(picked)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.part")  # two runs never share it
    with gzip.open(tmp, "wt", newline="", compresslevel=3) as fh:
        writer = csv.writer(fh)
        writer.writerow(["smiles", "score"])
        for smi in picked:
            writer.writerow([smi, score(smi)])
    tmp.replace(out)
    return {
        "rows": rows,
        "seeds": len(mols),
        "seconds": round(time.perf_counter() - started, 1),
        "path": str(out),
    }


def ensure_library(rows: int, seed: int = 0, out: Path | None = None, force: bool = False) -> Path:
    """The library's path, building it first unless a finished one is already there."""
    path = out or default_out(rows, seed)
    if force or not path.exists():
        make_library(rows, path, seed)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=None, help="default: benchmarks/out/synthetic_<rows>_seed<seed>.csv.gz"
    )
    parser.add_argument("--seeds", type=Path, default=DEFAULT_SEEDS, help="CSV(.gz) with a smiles column")
    parser.add_argument("--force", action="store_true", help="rebuild even if the output exists")
    args = parser.parse_args()
    path = args.out or default_out(args.rows, args.seed)
    if path.exists() and not args.force:
        print(json.dumps({"rows": args.rows, "path": str(path), "reused": True}))
        return
    print(json.dumps(make_library(args.rows, path, args.seed, args.seeds)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
