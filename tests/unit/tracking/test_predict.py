"""Batch prediction from a file: CSV/Parquet output, chunking, input formats, bad rows, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from molops.data.prediction_log import PredictionLog
from molops.errors import ColumnNotFoundError, InputFileError
from molops.tracking.bundle import PREDICTION_COLUMNS
from molops.tracking.predict import predict_file

from .conftest import small_bundle

#: What prediction adds after the input's columns (the input's smiles column is the smiles column)
ADDED = ["row", *(c for c in PREDICTION_COLUMNS if c != "smiles"), "model_name", "model_version"]
#: The output columns of CSV below: its own, then the added ones
COLUMNS = ["smiles", "id", *ADDED]
DATA = Path(__file__).resolve().parents[2] / "data"
#: (smiles, id); rows 3 and 5 fail standardisation, row 7 has a field too many
CSV = 'smiles,id\nCCO,a\nCCN,b\nxyz,c\nc1ccccc1,d\n,e\nCC(=O)[O-].[Na+],f\n"CCCC",g,extra\nCC(=O)O,h\n'


@pytest.fixture(scope="module")
def bundle():
    return small_bundle()


def _read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def test_csv_to_csv(bundle, write, tmp_path):
    src = write("in.csv", CSV)
    out = tmp_path / "out" / "pred.csv"  # the folder is created
    summary = predict_file(bundle, src, out, model_name="m", model_version=3)
    assert {k: summary[k] for k in ("input", "output", "n", "predicted", "errors")} == {
        "input": str(src),
        "output": str(out),
        "n": 8,
        "predicted": 5,
        "errors": 3,
    }
    assert summary["seconds"] >= 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == COLUMNS
    assert frame["row"].tolist() == list(range(1, 9))
    assert (frame["model_name"] == "m").all()
    assert (frame["model_version"] == 3).all()
    errors = frame["error"].fillna("").str.split(":").str[0].tolist()
    assert errors == ["", "", "unparsable_structure", "", "empty_structure", "", "malformed_row", ""]
    ok = frame["error"].isna()
    assert np.isfinite(frame.loc[ok, "mean"]).all()
    assert frame.loc[~ok, "mean"].isna().all()
    # the salt row is predicted as its parent, acetic acid (the last row)
    assert frame["canonical_smiles"][5] == frame["canonical_smiles"][7] == "CC(=O)O"
    assert frame["mean"][5] == frame["mean"][7]
    # the same numbers as the bundle gives directly
    direct = bundle.predict(["CCO", "CCN", "c1ccccc1"])
    np.testing.assert_allclose(frame.loc[[0, 1, 3], "mean"], direct["mean"])


def test_parquet_output_equals_csv_output(bundle, write, tmp_path):
    src = write("in.csv", CSV)
    predict_file(bundle, src, tmp_path / "p.csv", model_name="m", model_version=1)
    predict_file(bundle, src, tmp_path / "p.parquet", model_name="m", model_version=1)
    parquet = pd.read_parquet(tmp_path / "p.parquet")
    csv = pd.read_csv(tmp_path / "p.csv")
    assert list(parquet.columns) == COLUMNS
    assert parquet["model_version"].dtype == np.int64
    for col in ("mean", "std", "similarity"):
        np.testing.assert_allclose(parquet[col], csv[col])
    assert parquet["error"].notna().tolist() == csv["error"].notna().tolist()
    assert parquet["canonical_smiles"].tolist()[:2] == ["CCO", "CCN"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_chunked_equals_one_chunk(bundle, write, tmp_path, suffix):
    # the first chunk of two has no errors (an all-null error column) and later ones do
    src = write("in.csv", CSV)
    predict_file(bundle, src, tmp_path / f"one{suffix}", chunk_rows=1000)
    predict_file(bundle, src, tmp_path / f"two{suffix}", chunk_rows=2)
    # a forest averages its trees per batch: batches of other sizes may differ in the last bit
    one, two = _read(tmp_path / f"one{suffix}"), _read(tmp_path / f"two{suffix}")
    pd.testing.assert_frame_equal(one, two, check_exact=False, rtol=1e-12)
    assert len(_read(tmp_path / f"two{suffix}")) == 8


def test_smi_and_parquet_inputs(bundle, write, tmp_path):
    smi = write("in.smi", "smiles\nCCO ethanol\n# a comment\nxyz\n\nc1ccccc1 benzene\n")
    summary = predict_file(bundle, smi, tmp_path / "smi.csv")
    assert (summary["n"], summary["errors"]) == (3, 1)
    frame = pd.read_csv(tmp_path / "smi.csv")
    assert frame["smiles"].tolist() == ["CCO", "xyz", "c1ccccc1"]

    table = tmp_path / "in.parquet"
    pd.DataFrame({"SMI": ["CCO", "c1ccccc1", None], "x": [1, 2, 3]}).to_parquet(table)
    summary = predict_file(bundle, table, tmp_path / "pq.csv", smiles_col="SMI")
    assert (summary["n"], summary["errors"]) == (3, 1)
    np.testing.assert_allclose(pd.read_csv(tmp_path / "pq.csv")["mean"][:2], frame["mean"][[0, 2]])


def test_sdf_input_uses_the_mol_blocks(bundle, tmp_path):
    summary = predict_file(bundle, DATA / "measurements.sdf", tmp_path / "sdf.csv")
    frame = pd.read_csv(tmp_path / "sdf.csv")
    assert summary["n"] == len(frame) > 0
    assert frame["smiles"].isna().all()
    assert frame["canonical_smiles"][0] == "CCO"
    # the sodium benzoate record is predicted as benzoic acid
    assert "O=C(O)c1ccccc1" in frame["canonical_smiles"].tolist()


def test_unsupported_output_suffix(bundle, write, tmp_path):
    src = write("in.csv", CSV)
    for name in ("out.txt", "out"):
        with pytest.raises(InputFileError, match=r"expected \.csv or \.parquet"):
            predict_file(bundle, src, tmp_path / name)
        assert not (tmp_path / name).exists()


def test_missing_smiles_column(bundle, write, tmp_path):
    src = write("in.csv", "SMILES_X,id\nCCO,1\n")
    with pytest.raises(ColumnNotFoundError, match="smiles"):
        predict_file(bundle, src, tmp_path / "out.csv")


def test_empty_input_files(bundle, write, tmp_path):
    with pytest.raises(InputFileError, match="the file is empty"):
        predict_file(bundle, write("empty.csv", ""), tmp_path / "empty.csv")
    header_only = write("header.csv", "smiles,id\n")
    for suffix in (".csv", ".parquet"):
        summary = predict_file(bundle, header_only, tmp_path / f"none{suffix}")
        assert (summary["n"], summary["predicted"], summary["errors"]) == (0, 0, 0)
        frame = _read(tmp_path / f"none{suffix}")
        assert list(frame.columns) == COLUMNS
        assert len(frame) == 0
    summary = predict_file(bundle, write("empty.smi", ""), tmp_path / "smi.csv")
    assert summary["n"] == 0


def test_progress_is_reported(bundle, write, tmp_path):
    calls = []
    predict_file(
        bundle, write("in.csv", CSV), tmp_path / "o.csv", chunk_rows=3, progress=lambda *a: calls.append(a)
    )
    assert [c[0] for c in calls] == [3, 6, 8]
    assert calls[-1][1] == calls[-1][2] == len(CSV)


def test_input_columns_are_kept_before_the_predictions(bundle, write, tmp_path):
    src = write("in.csv", CSV)
    for suffix in (".csv", ".parquet"):
        out = tmp_path / f"keep{suffix}"
        predict_file(bundle, src, out, chunk_rows=3)
        frame = _read(out)
        assert list(frame.columns) == COLUMNS
        # the malformed row (7) keeps no input values: its fields cannot be told apart
        assert frame["id"].tolist()[:6] == list("abcdef") and frame["id"][7] == "h"
        assert pd.isna(frame["id"][6])
        assert frame["smiles"].tolist()[:4] == ["CCO", "CCN", "xyz", "c1ccccc1"]


def test_input_columns_named_like_added_ones_are_prefixed(bundle, write, tmp_path):
    src = write("in.csv", "SMILES,mean,row,error,input_mean\nCCO,m1,r1,e1,i1\nCCN,m2,r2,e2,i2\n")
    predict_file(bundle, src, tmp_path / "out.csv")
    frame = pd.read_csv(tmp_path / "out.csv")
    inputs = ["SMILES", "input_input_mean", "input_row", "input_error", "input_mean"]
    assert list(frame.columns) == [*inputs, "row", *PREDICTION_COLUMNS, "model_name", "model_version"]
    assert frame["input_input_mean"].tolist() == ["m1", "m2"]  # the user's 'mean'
    assert frame["input_mean"].tolist() == ["i1", "i2"]  # the user's 'input_mean', untouched
    assert frame["input_row"].tolist() == ["r1", "r2"]
    assert frame["row"].tolist() == [1, 2] and frame["error"].isna().all()
    assert np.isfinite(frame["mean"]).all()
    assert frame["smiles"].tolist() == frame["SMILES"].tolist() == ["CCO", "CCN"]


def test_parquet_input_columns_keep_their_types(bundle, tmp_path):
    table = tmp_path / "in.parquet"
    pd.DataFrame(
        {"n": pd.array([1, None, 3], dtype="Int64"), "SMI": ["CCO", "xyz", "c1ccccc1"], "x": [0.5, 1.5, None]}
    ).to_parquet(table)
    predict_file(bundle, table, tmp_path / "out.parquet", smiles_col="SMI", chunk_rows=2)
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.column_names == ["n", "SMI", "x", *["row", *PREDICTION_COLUMNS, "model_name", "model_version"]]
    assert out.schema.field("n").type == pa.int64() and out.schema.field("x").type == pa.float64()
    assert out.column("n").to_pylist() == [1, None, 3]
    assert out.column("x").to_pylist() == [0.5, 1.5, None]


def test_sdf_properties_and_smi_names_are_kept(bundle, write, tmp_path):
    predict_file(bundle, DATA / "measurements.sdf", tmp_path / "sdf.csv")
    frame = pd.read_csv(tmp_path / "sdf.csv")
    assert list(frame.columns)[:3] == ["SOL", "SMILES", "lab_id"]
    assert frame["lab_id"].notna().all()
    predict_file(bundle, write("in.smi", "CCO ethanol\nc1ccccc1\n"), tmp_path / "smi.csv")
    frame = pd.read_csv(tmp_path / "smi.csv")
    assert list(frame.columns) == ["smiles", "name", *ADDED]
    assert frame["name"].tolist()[0] == "ethanol" and pd.isna(frame["name"][1])


def test_the_log_gets_the_predictions_not_the_users_columns(bundle, write, tmp_path):
    log = PredictionLog(tmp_path / "log")
    src = write("in.csv", "smiles,source,client,position\nCCO,lab,me,x\nCCN,lab,me,y\n")
    summary = predict_file(bundle, src, tmp_path / "out.csv", model_name="m", model_version=2, log=log)
    assert summary["logged"] == 2
    rows = log.read().sort_values("position")
    assert rows["position"].tolist() == [1, 2]
    assert set(rows["source"]) == {"batch"} and rows["client"].isna().all()
    assert rows["smiles"].tolist() == ["CCO", "CCN"] and set(rows["model_version"]) == {2}


def test_smiles_cells_with_whitespace_inside_are_errors_surrounding_spaces_are_not(bundle, write, tmp_path):
    src = write("in.csv", 'SMILES,id\n CCO ,a\n"CCO\nCCN",b\nCCO ethanol,c\nCCO,d\n')
    out = tmp_path / "pred.csv"
    summary = predict_file(bundle, src, out)
    assert (summary["n"], summary["predicted"], summary["errors"]) == (4, 2, 2)
    frame = pd.read_csv(out, keep_default_na=False)
    assert list(frame["SMILES"]) == [" CCO ", "CCO\nCCN", "CCO ethanol", "CCO"]  # as read
    assert list(frame["canonical_smiles"]) == ["CCO", "", "", "CCO"]
    assert [e.split(":")[0] for e in frame["error"]] == [
        "",
        "unparsable_structure",
        "unparsable_structure",
        "",
    ]
    assert all("contains whitespace" in e for e in frame["error"][1:3])
    assert frame["mean"][0] == frame["mean"][3]
