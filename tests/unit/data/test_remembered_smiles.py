"""A SMILES string repeated anywhere in a file is standardised once per process (issue 19), and
the tables come out as if every row were standardised afresh."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from molops.chem.standardize import Standardizer, StandardizerSettings
from molops.data.validation import standardized_smiles, validate_chunk

from ..chem.real_sets import smiles_sets

REAL = [*smiles_sets()["chembl_samples.csv"][:200], "CCO", "not a smiles", "xyz", "", "[Na+].[Cl-]"]


def afresh(texts: list[str], settings_: StandardizerSettings) -> list[tuple[object, ...]]:
    """What a new Standardizer, with nothing remembered, gives each text."""
    std = Standardizer(settings_)
    out = []
    for text in texts:
        r = std.standardize(text)
        out.append((r.smiles, r.inchikey) if hasattr(r, "inchikey") else (r.reason, r.detail))
    return out


def verdicts(texts: list[str], settings_: StandardizerSettings) -> list[tuple[object, ...]]:
    verdict = validate_chunk(texts, ["1"] * len(texts), {}, "smiles", settings_)
    accepted = dict(zip(verdict.accepted, zip(verdict.smiles, verdict.inchikeys, strict=True), strict=True))
    rejected = {pos: (reason, detail) for pos, reason, detail in verdict.rejected}
    return [accepted.get(i) or rejected[i] for i in range(len(texts))]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(REAL), min_size=1, max_size=40), st.integers(1, 200))
def test_remembered_results_are_the_fresh_results(texts, max_heavy):
    """Whatever was remembered before, and under whichever settings, each row gets what a fresh
    standardiser gives it under the settings of its chunk."""
    settings_ = StandardizerSettings(max_heavy_atoms=max_heavy)
    texts = [t for t in texts if t]  # an empty field is the reader's business
    assert verdicts(texts, settings_) == afresh(texts, settings_)


def test_settings_are_part_of_what_is_remembered():
    text = "CCCCCCCCCC"
    assert standardized_smiles(text, StandardizerSettings()).heavy_atoms == 10
    assert standardized_smiles(text, StandardizerSettings(max_heavy_atoms=5)).reason == "too_large"


def test_a_string_repeated_across_chunks_is_standardised_once(ws, write):
    rng = random.Random(3)
    pool = smiles_sets()["freesolv.csv"][:50]
    rows = [rng.choice(pool) for _ in range(600)]
    path = write("repeats.csv", "smiles,y\n" + "".join(f"{s},{i % 7}\n" for i, s in enumerate(rows)))
    standardized_smiles.cache_clear()
    ws.config.ingest.chunk_rows = 100
    small = ws.dataset("small").ingest(path, smiles_col="smiles", target_col="y", workers=1)
    info = standardized_smiles.cache_info()
    assert small.chunks == 6
    assert info.misses == len(set(rows)) and info.hits == len(rows) - len(set(rows))
    standardized_smiles.cache_clear()
    ws.config.ingest.chunk_rows = 5000
    whole = ws.dataset("whole").ingest(path, smiles_col="smiles", target_col="y", workers=1)
    assert whole.chunks == 1
    columns = ["inchikey", "smiles", "y", "y_n"]
    a, b = ws.dataset("small").read(), ws.dataset("whole").read()
    assert a[columns].to_dict("records") == b[columns].to_dict("records")
    assert [list(r) for r in a["y_replicates"]] == [list(r) for r in b["y_replicates"]]


@pytest.mark.parametrize("text", ["CCO", "c1ccccc1O"])
def test_a_molblock_is_not_remembered(text):
    from rdkit import Chem

    block = Chem.MolToMolBlock(Chem.MolFromSmiles(text))
    before = standardized_smiles.cache_info().currsize
    verdict = validate_chunk([block, block], ["1", "2"], {}, "molblock", StandardizerSettings())
    assert verdict.accepted == [0, 1]
    assert standardized_smiles.cache_info().currsize == before
