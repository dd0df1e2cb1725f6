"""A batch's journal on a local disk: each commit one fsynced file, renamed into place."""

from __future__ import annotations

from molops.active.journal import Journal, row, settled
from molops.storage import Storage


def test_commits_read_back_in_order_and_a_half_written_one_is_not_there(tmp_path):
    journal = Journal(Storage.at(tmp_path), "b-1")
    assert not journal.exists() and journal.read().empty
    journal.append([row("K1", "value", smiles="C", value=1.5, extra={"pose": 0.2}, chunk="a")])
    journal.append([row("K2", "failed", smiles="CC", reason="timed out after 1 s", chunk="b"),
                    row("K1", "value", smiles="C", value=9.0, chunk="b")])  # fmt: skip
    folder = tmp_path / "journal" / "b-1"
    # a crash while writing the next commit leaves its temporary file: it is not a commit
    (folder / ".99999999999999999999-deadbeef.parquet.tmp").write_bytes(b"PAR1 half a file")
    frame = journal.read()
    assert list(frame["chunk"]) == ["a", "b", "b"]
    assert list(frame.columns) == [
        "id",
        "smiles",
        "outcome",
        "value",
        "reason",
        "extra",
        "chunk",
        "seconds",
        "time_ns",
    ]
    done = settled(frame)
    assert done.loc["K1", "value"] == 1.5  # the first answer counts
    assert done.loc["K1", "extra"] == '{"pose": 0.2}'
    assert done.loc["K2", "reason"] == "timed out after 1 s"
    assert len(list(folder.glob("*.parquet"))) == 2
