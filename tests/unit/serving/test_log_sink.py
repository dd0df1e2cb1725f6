"""The access log's background writer: lines leave the caller's thread, none is dropped when the
writer falls behind (the caller waits instead), and every pending line is written at drain and stop."""

from __future__ import annotations

import logging
import threading

import pytest

from _wait import wait_until
from molops.serving import log_sink


class Held(logging.Handler):
    """Records each message and the thread that wrote it; waits for *gate* before each one."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.threads: set[str] = set()
        self.gate = threading.Event()
        self.gate.set()

    def emit(self, record: logging.LogRecord) -> None:
        self.gate.wait(30)
        self.lines.append(record.getMessage())
        self.threads.add(threading.current_thread().name)


@pytest.fixture
def logger():
    found = logging.getLogger("molops.test_log_sink")
    found.propagate, found.level = False, logging.INFO
    yield found
    found.handlers = []
    log_sink.stop()


def test_lines_are_written_by_the_writer_thread_and_drained(logger):
    target = Held()
    logger.handlers = [log_sink.background(target)]
    for i in range(200):
        logger.info("line %d", i)
    log_sink.drain()
    assert target.lines == [f"line {i}" for i in range(200)]
    assert threading.current_thread().name not in target.threads


def test_a_full_queue_makes_the_caller_wait_and_drops_nothing(logger):
    target = Held()
    target.gate.clear()  # the writer is stuck (a blocked stdout)
    logger.handlers = [log_sink.background(target, max_pending=2)]
    caller = threading.Thread(target=lambda: [logger.info("line %d", i) for i in range(10)])
    caller.start()
    # one line held by the writer, two queued: the caller waits for room
    wait_until(lambda: log_sink._queue is not None and log_sink._queue.full(), 10, "a full queue")
    caller.join(0.2)
    assert caller.is_alive()
    target.gate.set()
    caller.join(10)
    log_sink.stop()  # writes what is still queued, then ends the writer
    assert target.lines == [f"line {i}" for i in range(10)]


def test_arguments_are_taken_when_logged_not_when_written(logger):
    target = Held()
    target.gate.clear()
    logger.handlers = [log_sink.background(target)]
    state = {"n": 1}
    logger.info("n=%s", state)
    state["n"] = 2
    target.gate.set()
    log_sink.drain()
    assert target.lines == ["n={'n': 1}"]


def test_a_failing_handler_does_not_stop_the_writer(logger):
    class Flaky(Held):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == "line 1":
                raise OSError("the disk is full")
            super().emit(record)

    target = Flaky()
    logger.handlers = [log_sink.background(target)]
    for i in range(3):
        logger.info("line %d", i)
    assert log_sink.drain(10)
    assert target.lines == ["line 0", "line 2"]
