"""Writing the prediction log without making anyone wait: :class:`LogWriter`.

It buffers rows and writes them from a background thread: a request never waits for storage,
however slow or broken it is. A write that fails is retried with capped, jittered exponential
backoff; rows beyond the writer's memory bound, and what cannot be written at close, are spilled to
Parquet files beside the table (:mod:`molops.data.log_spill`) and appended by the next writer that
finds them, never dropped.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from molops.data import log_spill
from molops.data.prediction_log import PredictionLog, _table, conform

log = logging.getLogger("molops.prediction_log")


def backoff_delay(attempt: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry *attempt* (1, 2, …): exponential from *base_s*, capped at *max_s*,
    with equal jitter (between half and all of it) so that workers do not retry in step."""
    ceiling = min(max_s, base_s * 2.0 ** min(attempt - 1, 62))
    return ceiling * (0.5 + 0.5 * (rng.random() if rng is not None else random.random()))


def _ignore(*_: Any) -> None:
    return None


@dataclass(frozen=True)
class WriterHooks:
    """What a :class:`LogWriter` reports as it goes (the service feeds its metrics with them).

    Called from the writer's threads and from ``submit``; they must be quick and never raise.
    ``pending`` is called under the writer's counter lock, so the last value set is the current one.
    """

    written: Callable[[int], None] = _ignore  # rows committed to the table (spilled rows when replayed)
    failed: Callable[[], None] = _ignore  # one failed write (it will be retried)
    spilled: Callable[[int], None] = _ignore  # rows moved from memory to a spill file
    pending: Callable[[int], None] = _ignore  # rows in memory, not yet written or spilled


@dataclass
class _Batch:
    """Rows cut for one write; retried as they are, under the same Delta transaction, until written."""

    rows: list[Mapping[str, Any]]
    txn: log_spill.Txn
    tries: int = 0


class LogWriter:
    """Buffers log rows and appends them from a background thread (every *interval_s*, or sooner
    once *max_rows* are waiting), so that a caller never waits for storage.

    ``submit`` only appends a list to a buffer under a lock that no I/O ever holds. The writing
    thread cuts the buffer into a batch, writes it with no lock held and retries a failed one with
    backoff (:func:`backoff_delay`) until it is written. A second thread keeps memory bounded: when
    more than *max_pending* rows are held, the waiting ones go to a spill file (rows that arrive while
    it is written pass the bound for that long: ``submit`` never writes), which the writing thread
    appends (:func:`log_spill.replay`) once the table takes writes again, as it does with any spill
    file it finds at start.
    """

    def __init__(
        self,
        log: PredictionLog,
        *,
        interval_s: float = 1.0,
        max_rows: int = 5000,
        max_pending: int = 1_000_000,
        retry_base_s: float = 0.5,
        retry_max_s: float = 30.0,
        close_timeout_s: float = 20.0,
        compact_every: int = 600,
        hooks: WriterHooks | None = None,
        first_wait_s: float | None = None,
    ) -> None:
        self.log = log
        self.interval_s, self.max_rows, self.max_pending = interval_s, max_rows, max_pending
        self.retry_base_s, self.retry_max_s, self.close_timeout_s = retry_base_s, retry_max_s, close_timeout_s
        self.hooks = hooks or WriterHooks()
        self.compact_every = compact_every  # commits between compactions (0: never)
        # writers started together (a service's workers) start at different points of the
        # interval, so they commit at different times instead of racing for each version
        self._first_wait_s = interval_s if first_wait_s is None else first_wait_s
        self.compactions = 0
        self._commits = 0  # commits since the last compaction
        self._compact_at = self._next_compaction()
        self._files_checked = False  # whether the table's files were counted after the first commit
        self.written = 0  # rows committed, replayed spill files included
        self.failures = 0  # failed writes
        self.spilled = 0  # rows moved to spill files
        self.retry_delays: list[float] = []  # the backoff waits chosen, newest last (the last 100)
        self._lock = threading.Lock()  # guards the buffer and counters; never held during I/O
        self._buffer: list[list[Mapping[str, Any]]] = []  # submitted lists, not yet cut into a batch
        self._buffered = 0  # rows in _buffer
        self._unwritten = 0  # rows submitted and not yet written or spilled, wherever they are
        self._batch: _Batch | None = None  # owned by whoever holds _io (the writing thread, flush)
        self._io = threading.Lock()  # one write or replay at a time
        self._app_id = f"molops-log-{uuid.uuid4().hex}"
        self._versions = 0
        self._due, self._over, self._stop = threading.Event(), threading.Event(), threading.Event()
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, name="molops-prediction-log", daemon=True)
        self._spiller = threading.Thread(target=self._spill_loop, name="molops-prediction-spill", daemon=True)
        self._writer.start()
        self._spiller.start()

    @property
    def pending(self) -> int:
        """Rows in memory: submitted, not yet written or spilled."""
        return self._unwritten

    def submit(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Queue *rows* for writing; returns at once (no I/O, O(1) under the buffer lock)."""
        batch = list(rows)
        if not batch:
            return
        with self._lock:
            self._buffer.append(batch)
            self._buffered += len(batch)
            self._unwritten += len(batch)
            self.hooks.pending(self._unwritten)
            full, over = self._buffered >= self.max_rows, self._unwritten > self.max_pending
        if full:
            self._due.set()
        if over:
            self._over.set()

    # --- the buffer -------------------------------------------------------------------------------

    def _take(self) -> list[Mapping[str, Any]]:
        with self._lock:
            lists, self._buffer, self._buffered = self._buffer, [], 0
        return [row for rows in lists for row in rows]

    def _settle(self, written: int = 0, spilled: int = 0, replayed: int = 0) -> None:
        """Count rows that left memory (written from a batch, or spilled) and rows replayed."""
        with self._lock:
            self._unwritten -= written + spilled
            self.written += written + replayed
            self.spilled += spilled
            self.hooks.pending(self._unwritten)
        if written + replayed:
            self.hooks.written(written + replayed)
        if spilled:
            self.hooks.spilled(spilled)

    # --- writing ----------------------------------------------------------------------------------

    def _write_batch(self) -> None:
        """Write the current batch (cut from the buffer if there is none); raises if the store fails."""
        if self._batch is None:
            rows = self._take()
            if not rows:
                return
            self._versions += 1
            self._batch = _Batch(rows, (self._app_id, self._versions))
        batch = self._batch
        batch.tries += 1
        done = self.log.committed(batch.txn[0]) if batch.tries > 1 else None
        if done is None or done < batch.txn[1]:  # an earlier try that failed after its commit counts
            self.log.append(batch.rows, txn=batch.txn)
            self._commits += 1
        if self._batch is not batch:
            return  # a hung write that close() gave up on: it spilled the batch, with its transaction
        self._batch = None
        self._settle(written=len(batch.rows))

    def _replay(self) -> None:
        replayed = log_spill.replay(self.log, self.log.spill_dir, conform)
        if replayed:
            self._settle(replayed=replayed)

    def _round(self, *, replay: bool) -> bool:
        """Replay spill files (when asked), then write what is buffered; False if the store failed."""
        with self._io:
            try:
                if replay:
                    self._replay()
                retrying = self._batch is not None  # cut before a failed try: rows have waited since
                self._write_batch()
                # after a retried batch the rows that queued behind it follow at once; rows that came
                # during a first try wait for the next turn, as the interval (and the stagger) says
                if retrying and self._batch is None and self._buffered:
                    self._write_batch()
            except Exception as exc:  # storage down, disk full: kept for the next try
                self.failures += 1
                self.hooks.failed()
                log.warning("could not write prediction-log rows (%s); will retry", exc, exc_info=True)
                return False
        return True

    def _write_loop(self) -> None:
        attempt = 0
        replay = True  # spill files left by an earlier run go first
        wait_s = self._first_wait_s
        while True:
            if attempt:
                delay = backoff_delay(attempt, self.retry_base_s, self.retry_max_s)
                self.retry_delays = [*self.retry_delays[-99:], delay]
                self._stop.wait(delay)
            else:
                self._due.wait(wait_s)
                wait_s = self.interval_s
            self._due.clear()
            if self._stop.is_set():
                return  # close() writes the rest
            ok = self._round(replay=replay or bool(log_spill.spill_files(self.log.spill_dir)))
            replay, attempt = False, (0 if ok else attempt + 1)
            if ok and self.compact_every and self._commits >= self._compact_at:
                self._compact()
            elif ok and self._commits and not self._files_checked:
                self._compact_if_many_files()

    def _next_compaction(self) -> int:
        # jittered, so that the workers of one service, started together, do not compact together
        return max(1, round(self.compact_every * random.uniform(0.75, 1.25)))

    def _compact_if_many_files(self) -> None:
        """Once, after this writer's first commit: compact a table that earlier writers left with
        many files (processes that never lived *compact_every* commits, such as short-lived or
        often restarted services), since every commit's cost grows with them."""
        self._files_checked = True
        try:
            many = self.log.files() >= self.compact_every
        except Exception as exc:
            log.info("prediction log's files not counted: %s", exc)
            return
        if many:
            self._compact()

    def _compact(self) -> None:
        """Compact the table (each commit leaves a file: a day at one commit a second is 86,400);
        a failure, such as another worker compacting first, is logged and tried again later."""
        self._commits, self._compact_at = 0, self._next_compaction()
        try:
            done = self.log.compact()
        except Exception as exc:
            log.info("prediction log not compacted this time: %s", exc)
            return
        self.compactions += 1
        log.info("prediction log compacted: %s", done)

    def flush(self) -> bool:
        """Write everything submitted so far now, once (blocks); False if the store failed."""
        return self._round(replay=False)

    # --- the memory bound -------------------------------------------------------------------------

    def _spill(self, rows: list[Mapping[str, Any]], origin: log_spill.Txn | None = None) -> bool:
        try:
            path = log_spill.write_spill(self.log.spill_dir, _table(rows), origin)
        except Exception:  # the local disk too: keep the rows in memory rather than lose them
            log.exception("could not spill %d prediction-log rows; keeping them in memory", len(rows))
            return False
        log.warning("%d prediction-log rows spilled to %s", len(rows), path)
        self._settle(spilled=len(rows))
        return True

    def _spill_loop(self) -> None:
        attempt = 0
        while True:
            self._over.wait()
            self._over.clear()
            if self._stop.is_set():
                return
            if self._unwritten <= self.max_pending:
                continue
            rows = self._take()  # the buffer, not the batch being written: that one stays in order
            if rows and not self._spill(rows):
                with self._lock:  # back in front, to be written or spilled later
                    self._buffer.insert(0, rows)
                    self._buffered += len(rows)
                attempt += 1
                self._stop.wait(backoff_delay(attempt, self.retry_base_s, self.retry_max_s))
                self._over.set()
            else:
                attempt = 0

    # --- shutdown ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Write what is held and stop; what still cannot be written is spilled, never dropped.

        Waits at most *close_timeout_s* for a write in progress: a store that hangs does not hold
        shutdown, and the batch it holds is spilled with its transaction, so it is appended later
        only if that write did not land.
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._due.set()
        self._over.set()
        deadline = time.monotonic() + self.close_timeout_s
        self._spiller.join()
        self._writer.join(self.close_timeout_s)  # it stops after the round in progress, if any
        if self._io.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            try:
                self._round_at_close()
            finally:
                self._io.release()
        else:  # a write hangs: its batch is spilled with its transaction, the rest too
            batch, self._batch = self._batch, None
            if batch is not None:
                self._spill(batch.rows, batch.txn)
            if rows := self._take():
                self._spill(rows)

    def _round_at_close(self) -> None:
        try:
            self._write_batch()
            self._write_batch()
        except Exception as exc:
            self.failures += 1
            self.hooks.failed()
            log.error("could not write prediction-log rows at close (%s); spilling them", exc)
        batch, self._batch = self._batch, None
        if batch is not None:
            self._spill(batch.rows, batch.txn)
        if rows := self._take():
            self._spill(rows)
