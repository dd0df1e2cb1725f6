"""The access log written by a background thread, so the event loop never formats or writes it.

One access line per request is the service's most frequent log call; formatting it as JSON and
writing it to stdout on the event loop costs every request that time, and a stdout that blocks
(a slow log collector, a full pipe) would stop the service. :func:`background` hands records to a
queue that a writer thread empties into the real handler. The queue is bounded: past
:data:`MAX_PENDING_LINES` a logging call waits for the writer (backpressure) rather than drop a
line. :func:`drain` waits until every queued line is written: the app calls it when it shuts down,
before uvicorn re-raises SIGTERM (which would end the process without ``atexit``).
"""

from __future__ import annotations

import atexit
import copy
import logging
import logging.handlers
import queue

#: Access lines that may wait for the writer; a logging call beyond them waits.
MAX_PENDING_LINES = 100_000


class _Enqueue(logging.handlers.QueueHandler):
    """Hands a record to the writer thread as it is (the queue is in-process: no pickling)."""

    def __init__(self, lines: queue.Queue[logging.LogRecord]) -> None:
        super().__init__(lines)
        self.lines = lines

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = copy.copy(record)
        record.msg, record.args = record.getMessage(), None  # the arguments as they are now
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        self.lines.put(record)  # blocks while the queue is full: a line is never dropped


class _Writer(logging.handlers.QueueListener):
    def __init__(self, lines: queue.Queue[logging.LogRecord], target: logging.Handler) -> None:
        super().__init__(lines, target, respect_handler_level=True)
        self.lines = lines

    def handle(self, record: logging.LogRecord) -> None:
        try:
            super().handle(record)
        except Exception:  # a failing handler must not end the writer (queued lines would then wait forever)
            logging.Handler.handleError(self.handlers[0], record)

    def enqueue_sentinel(self) -> None:
        # the listener's end-of-work mark, queued after every pending line even when the queue is full
        self.lines.put(getattr(self, "_sentinel", None))  # type: ignore[arg-type]  # it is None


_listener: _Writer | None = None
_queue: queue.Queue[logging.LogRecord] | None = None


def background(target: logging.Handler, max_pending: int = MAX_PENDING_LINES) -> logging.Handler:
    """A handler whose records *target* handles in a writer thread (one per process: a second
    call first stops the writer of the first, after it wrote every pending line)."""
    global _listener, _queue
    stop()
    _queue = queue.Queue(max_pending)
    _listener = _Writer(_queue, target)
    _listener.start()
    return _Enqueue(_queue)


def drain(timeout_s: float = 10.0) -> bool:
    """Wait until every line queued so far is written (at most *timeout_s*); whether they were."""
    lines = _queue
    if lines is None:
        return True
    with lines.all_tasks_done:
        return lines.all_tasks_done.wait_for(lambda: lines.unfinished_tasks == 0, timeout_s)


def stop() -> None:
    """Write every pending line, then stop the writer thread."""
    global _listener, _queue
    if _listener is not None:
        _listener.stop()
        _listener, _queue = None, None


atexit.register(stop)
