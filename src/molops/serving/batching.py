"""Dynamic micro-batching: concurrent requests share one model call.

A model call has a fixed cost (featurizer set-up, the surrogate's own overhead, the similarity
search against the training reference) that one molecule pays in full; a batch of 64 pays it once.
Requests put their molecules on a queue; one task takes everything queued (up to *max_batch*
molecules), runs the model once in a worker thread and hands each request its slice. While one
batch runs the next one gathers, so the batch size grows with the load by itself. Under load (the
last call served several requests) the task also waits up to *max_wait_s* for company; at low
load (the last call served one) a request never waits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

#: A prediction table as plain column lists (one item per molecule, in order).
Columns = dict[str, list[Any]]
#: ``predict(smiles) -> (columns, who answered)``.
PredictFn = Callable[[list[str]], tuple[Columns, Any]]
#: Called after each model call with (molecules, seconds).
BatchHook = Callable[[int, float], None]


@dataclass
class _Job:
    smiles: Sequence[str]
    future: asyncio.Future[tuple[Columns, Any]]
    queued: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    """Coalesces concurrent :meth:`predict` calls into model calls of at most *max_batch* molecules."""

    def __init__(
        self,
        predict: PredictFn,
        *,
        max_batch: int = 256,
        max_wait_s: float = 0.002,
        on_batch: BatchHook | None = None,
    ) -> None:
        self._predict = predict
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="molops-model")
        self._task: asyncio.Task[None] | None = None
        self._last_jobs = 1

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="molops-batcher")

    async def stop(self) -> None:
        """Finish the queued jobs, then stop."""
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            self._task = None
        self._executor.shutdown(wait=True)

    async def predict(self, smiles: Sequence[str]) -> tuple[Columns, Any]:
        """Predictions for *smiles* (one row each, in order) and who made them."""
        self.start()
        future: asyncio.Future[tuple[Columns, Any]] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(smiles, future))
        return await future

    async def _gather(self) -> list[_Job]:
        jobs = [await self._queue.get()]
        size = len(jobs[0].smiles)
        deadline = time.perf_counter() + (self.max_wait_s if self._last_jobs > 1 else 0.0)
        while size < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            jobs.append(job)
            size += len(job.smiles)
        self._last_jobs = len(jobs)
        return jobs

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = await self._gather()
            live = [job for job in jobs if not job.future.done()]  # a cancelled request is skipped
            smiles = [s for job in live for s in job.smiles]
            started = time.perf_counter()
            try:
                if live:
                    table, who = await loop.run_in_executor(self._executor, self._predict, smiles)
                    start = 0
                    for job in live:
                        end = start + len(job.smiles)
                        part = {name: values[start:end] for name, values in table.items()}
                        start = end
                        if not job.future.done():
                            job.future.set_result((part, who))
                    if self._on_batch:
                        self._on_batch(len(smiles), time.perf_counter() - started)
            except Exception as exc:  # the model failed: every request of the batch hears why
                for job in live:
                    if not job.future.done():
                        job.future.set_exception(exc)
            finally:
                for _ in jobs:
                    self._queue.task_done()
