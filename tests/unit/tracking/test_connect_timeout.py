"""Every connection molops opens to a tracking database has a short connect timeout (unless the URI
or PGCONNECT_TIMEOUT sets one), so a host that drops packets costs seconds, not minutes, per command."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from molops.tracking import _mlflow
from molops.tracking._mlflow import CONNECT_TIMEOUT_S, TrackingError, check_database, connect_args
from molops.tracking.store import check_reachable


def _closed_port() -> int:
    """A loopback port nothing listens on: a connection to it is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never answers, as a stalled server does."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)  # the kernel completes the handshake; nobody ever reads or writes
        yield int(s.getsockname()[1])


@pytest.fixture
def engines(monkeypatch) -> list[dict[str, Any]]:
    """The keyword arguments of each sqlalchemy.create_engine call (the real engine is still made)."""
    calls: list[dict[str, Any]] = []
    real = sa.create_engine

    def spy(url: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(url, **kwargs)

    monkeypatch.setattr(sa, "create_engine", spy)
    return calls


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("postgresql://molops@db.example:5432/ml", {"connect_timeout": CONNECT_TIMEOUT_S}),
        ("postgresql+psycopg://molops@db.example/ml?sslmode=require", {"connect_timeout": CONNECT_TIMEOUT_S}),
        ("mysql+pymysql://molops@db.example/ml", {"connect_timeout": CONNECT_TIMEOUT_S}),
        ("postgresql://molops@db.example/ml?connect_timeout=30", {}),  # the URI's own wins
        ("mysql+pymysql://molops@db.example/ml?connect_timeout=30", {}),
        ("sqlite:////srv/molops/mlflow.db", {}),  # a file: nothing to wait for
        ("mssql+pyodbc://molops@db.example/ml", {}),  # its drivers name the timeout otherwise
    ],
)
def test_the_connect_timeout_is_set_unless_the_uri_sets_one(monkeypatch, uri, expected):
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    assert connect_args(sa.engine.make_url(uri)) == expected


def test_pgconnect_timeout_is_left_to_libpq(monkeypatch):
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "60")
    assert connect_args(sa.engine.make_url("postgresql://molops@db.example/ml")) == {}
    mysql = connect_args(sa.engine.make_url("mysql+pymysql://molops@db.example/ml"))
    assert mysql == {"connect_timeout": CONNECT_TIMEOUT_S}  # a libpq variable says nothing to MySQL


def test_check_database_sets_the_timeout_and_a_refused_port_is_one_sentence(monkeypatch, engines):
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    uri = f"postgresql://molops@127.0.0.1:{_closed_port()}/ml"
    start = time.monotonic()
    with pytest.raises(TrackingError) as info:
        check_database(uri)
    assert time.monotonic() - start < CONNECT_TIMEOUT_S
    message = str(info.value)
    assert message.startswith(f"cannot connect to the tracking database {uri}: ")
    assert "refused" in message.lower() and "\n" not in message
    assert [call["connect_args"] for call in engines] == [{"connect_timeout": CONNECT_TIMEOUT_S}]


@pytest.mark.timeout(60)
def test_a_server_that_never_answers_fails_after_the_timeout(monkeypatch, silent_port, tmp_path):
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    monkeypatch.setattr(_mlflow, "CONNECT_TIMEOUT_S", 2)  # psycopg's least; psycopg's own default is 130 s
    uri = f"postgresql://molops@127.0.0.1:{silent_port}/ml"
    start = time.monotonic()
    with pytest.raises(TrackingError, match=r"^cannot connect to the tracking database .*timeout"):
        check_database(uri)
    assert 1.5 < time.monotonic() - start < 15
    # init's check of --tracking-uri uses the same arguments
    start = time.monotonic()
    with pytest.raises(TrackingError, match=r"does not answer .*timeout"):
        check_reachable(uri, tmp_path)
    assert 1.5 < time.monotonic() - start < 15
