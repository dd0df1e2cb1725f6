"""The campaign state's conditional write, on a local Delta table (the same commit rule as on S3:
deltalake commits a version only if it does not exist yet); tests/backends runs it against S3."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from molops.active.remote import RemoteState, StateConflictError, list_remote
from molops.storage import Storage


def test_a_write_lands_only_on_the_version_it_read(tmp_path: Path) -> None:
    storage = Storage.at(tmp_path)
    state = RemoteState(storage, "c")
    assert not state.exists() and list_remote(storage) == []
    assert state.write("first", None) == 0
    with pytest.raises(StateConflictError):
        state.write("created twice", None)
    text, base = state.read()
    assert (text, base) == ("first", 0)
    assert state.write("second", base) == 1
    with pytest.raises(StateConflictError):
        state.write("stale", base)  # another writer replaced version 0 already
    assert state.read() == ("second", 1)
    assert list_remote(storage) == ["c"]


def test_a_frame_round_trips(tmp_path: Path) -> None:
    state = RemoteState(Storage.at(tmp_path), "c")
    frame = pd.DataFrame({"smiles": ["CCO", "CCN"], "rank": [1, 2], "score": [0.5, float("nan")]})
    state.write_frame("proposals/iteration-0001-abc.parquet", frame)
    pd.testing.assert_frame_equal(state.read_frame("proposals/iteration-0001-abc.parquet"), frame)
