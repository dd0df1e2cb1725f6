"""The service's log is JSON lines, MLflow's records included.

Found following docs/deploy.md with the registry on PostgreSQL: while the database was down, each
alias poll of `molops serve` printed MLflow's "SQLAlchemy database error" with its traceback as
hundreds of plain-text lines on stderr (MLflow gives its logger a handler of its own at import),
which a log store reads as hundreds of events.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from molops.serving import log_sink
from molops.serving.server import configure_logging

_TOUCHED = ("molops", "uvicorn", "uvicorn.error", "molops.access", "mlflow", "uvicorn.access")


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Every logger configure_logging touches, as it was before the test."""
    saved = {name: logging.getLogger(name) for name in _TOUCHED}
    state = {name: (lg.handlers[:], lg.level, lg.propagate, lg.disabled) for name, lg in saved.items()}
    try:
        yield
    finally:
        log_sink.stop()
        for name, (handlers, level, propagate, disabled) in state.items():
            logger = saved[name]
            logger.handlers, logger.propagate, logger.disabled = handlers, propagate, disabled
            logger.setLevel(level)


def test_an_mlflow_database_error_is_one_json_line(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging()  # here, not in a fixture: its handler takes capsys's stdout of this phase
    log = logging.getLogger("mlflow.store.db.utils")
    try:
        raise RuntimeError("connection failed: Connection refused\n\tIs the server running on that host?")
    except RuntimeError as exc:  # how MLflow's session maker reports an OperationalError
        log.exception("SQLAlchemy database error. The following exception is caught.\n%s", exc)
    logging.getLogger("mlflow.tracking").info("informational chatter stays out")

    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert len(lines) == 1, out
    record = json.loads(lines[0])
    assert (record["level"], record["logger"]) == ("error", "mlflow.store.db.utils")
    assert "Connection refused" in record["message"] and "RuntimeError" in record["exception"]
