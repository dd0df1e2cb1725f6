"""An object store that cannot be reached fails a listing with one sentence, not a traceback.

Found following docs/deploy.md: with a wrong AWS_ENDPOINT_URL, `molops data list` on an S3
workspace printed pyarrow's OSError with its whole trace. Nothing listens on the port used here,
so no server is needed.
"""

from __future__ import annotations

import socket

import pytest

from molops.errors import MolopsError
from molops.storage import Storage


@pytest.fixture
def unreachable(monkeypatch: pytest.MonkeyPatch) -> Storage:
    with socket.socket() as sock:  # a port that was free a moment ago, and nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for name, value in {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "molops-test",
        "AWS_SECRET_ACCESS_KEY": "molops-test-secret",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    return Storage("s3://lab-data/molops")


def test_listing_an_unreachable_store_names_it_in_one_sentence(unreachable: Storage) -> None:
    with pytest.raises(MolopsError) as caught:
        unreachable.list_dirs("datasets")
    message = str(caught.value)
    assert message.startswith("storage s3://lab-data/molops: cannot list datasets ("), message
    assert "\n" not in message and "connect" in message.lower(), message


def test_looking_for_a_table_names_the_reason_without_colour_codes(unreachable: Storage) -> None:
    with pytest.raises(MolopsError) as caught:
        unreachable.is_table("datasets", "sol", "table")
    message = str(caught.value)
    assert message.startswith("storage s3://lab-data/molops: cannot look for a table at datasets/sol/table ")
    assert "\n" not in message and "\x1b" not in message and "refused" in message.lower(), message


def test_a_dataset_on_an_unreachable_store_fails_in_one_sentence(unreachable: Storage, tmp_path) -> None:
    # `molops data show/versions/export` ask the dataset store whether the table exists, then open it
    from molops.data.store import DatasetStore

    store = DatasetStore("sol", unreachable.child("datasets", "sol"), tmp_path / "sol.lock")
    where = r"^storage s3://lab-data/molops/datasets/sol: cannot"
    with pytest.raises(MolopsError, match=where + r" look for a table at table \("):
        store.exists()
    with pytest.raises(MolopsError, match=where + r" open table \("):
        store._open(None)
