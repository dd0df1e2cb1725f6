"""A prediction log written before a column was added keeps reading and taking rows."""

from __future__ import annotations

from deltalake import write_deltalake

from molops.data.prediction_log import SCHEMA, PredictionLog, _table


def test_a_log_without_the_client_request_id_column_reads_and_appends(tmp_path):
    old_schema = SCHEMA.remove(SCHEMA.get_field_index("client_request_id"))
    old_rows = _table([{"request_id": "r1", "smiles": "C", "model_name": "m"}]).select(old_schema.names)
    write_deltalake(str(tmp_path / "log"), old_rows.cast(old_schema), mode="append")
    log = PredictionLog(tmp_path / "log")

    assert log.append([{"request_id": "r2", "smiles": "CC", "model_name": "m", "client_request_id": "lab-1"}])

    frame = log.read()
    assert frame["request_id"].tolist() == ["r1", "r2"]
    assert frame["client_request_id"].isna().tolist() == [True, False]
    assert frame["client_request_id"].iloc[1] == "lab-1"
    assert [row["requests"] for row in log.summary()] == [2]
