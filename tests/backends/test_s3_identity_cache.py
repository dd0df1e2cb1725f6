"""The identity cache on an object-store workspace (issue 19): a second machine sharing the storage
URL takes the first one's standardisation results from S3 and gives the same table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable

from integration._cli import write_csv
from molops.chem.standardize import StandardizerSettings
from molops.data.identity_cache import RESULT_SCHEMA, IdentityCache
from molops.data.validation import standardized_smiles
from molops.workspace import Workspace

from ._s3 import Bucket

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROWS = [["CCO", 1.0], ["c1ccccc1", 2.0], ["not_a_smiles", 3.0], ["CCN", 4.0], ["[Na+].[Cl-]", 5.0]]


def _learnt(ws: Workspace) -> int:
    """Results stored in the workspace's identity cache (read from S3)."""
    table = DeltaTable(ws.storage.uri("identities"), storage_options=ws.storage.options)
    return int(ws.storage.read_parquet(table.file_uris(), RESULT_SCHEMA).num_rows)


def test_a_second_machine_reuses_the_first_ones_results(s3: Bucket, tmp_path: Path) -> None:
    url = s3.url("idcache")
    a = Workspace.init(tmp_path / "a", storage=url)
    b = Workspace.init(tmp_path / "b", storage=url)
    src = write_csv(tmp_path / "sol.csv", ["smiles", "y"], ROWS)

    standardized_smiles.cache_clear()
    a.dataset("first").ingest(src, smiles_col=None, target_col="y", workers=1)
    learnt = _learnt(a)
    assert learnt == len(ROWS)
    standardized_smiles.cache_clear()
    b.dataset("second").ingest(src, smiles_col=None, target_col="y", workers=1)
    assert _learnt(b) == learnt  # every string came from S3: nothing new learnt

    columns = ["inchikey", "smiles", "y", "y_n"]
    first, second = a.dataset("first").read(), b.dataset("second").read()
    pd.testing.assert_frame_equal(first[columns], second[columns])

    cache = IdentityCache(b.storage.child("identities"), StandardizerSettings())
    texts = [r[0] for r in ROWS]
    assert cache.load().find(texts) == cache.scanner().find(texts)
    assert len(cache.load().find(texts)) == len(ROWS)
    for key in s3.keys("idcache/identities/"):
        assert s3.head(key).get("ServerSideEncryption") == "AES256", key
