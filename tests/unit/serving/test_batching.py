"""MicroBatcher: concurrent calls share model calls, each gets its own rows in order, errors reach all."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from molops.serving.batching import MicroBatcher


class Model:
    """Records each call's size; answers ``len(smiles)`` as the mean, so a wrong slice shows."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.calls: list[int] = []
        self.delay, self.fail = delay, fail
        self.threads: set[str] = set()

    def __call__(self, smiles: list[str]) -> tuple[dict, str]:
        self.calls.append(len(smiles))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        if self.fail:
            raise ValueError("the model broke")
        return {"smiles": list(smiles), "mean": [float(len(s)) for s in smiles]}, "v1"


def run(coro):
    return asyncio.run(coro)


def test_concurrent_requests_are_coalesced_and_sliced_in_order():
    model = Model(delay=0.02)

    async def main():
        batcher = MicroBatcher(model, max_batch=64, max_wait_s=0.01)
        requests = [["C" * (i + 1)] * (1 + i % 3) for i in range(20)]
        answers = await asyncio.gather(*(batcher.predict(r) for r in requests))
        await batcher.stop()
        return requests, answers

    requests, answers = run(main())
    for request, (frame, who) in zip(requests, answers, strict=True):
        assert who == "v1"
        assert frame["smiles"] == request
        assert frame["mean"] == [float(len(s)) for s in request]
    assert sum(model.calls) == sum(len(r) for r in requests)
    assert len(model.calls) <= 3
    assert model.threads == {"molops-model_0"}  # the event loop never runs the model


def test_max_batch_bounds_a_call_but_never_splits_a_request():
    model = Model()

    async def main():
        batcher = MicroBatcher(model, max_batch=4, max_wait_s=0.05)
        await asyncio.gather(*(batcher.predict(["C"] * 3) for _ in range(4)), batcher.predict(["C"] * 10))
        await batcher.stop()

    run(main())
    assert sum(model.calls) == 22
    assert all(c <= 6 or c == 10 for c in model.calls)  # a call closes once it reaches 4 molecules


def test_at_low_load_a_request_never_waits_for_company():
    model = Model()

    async def main():
        batcher = MicroBatcher(model, max_batch=256, max_wait_s=1.0)
        started = time.perf_counter()
        for _ in range(3):
            await batcher.predict(["C"])
        elapsed = time.perf_counter() - started
        await batcher.stop()
        return elapsed

    assert run(main()) < 0.5  # three one-request calls, none waited the 1 s
    assert model.calls == [1, 1, 1]


def test_under_load_a_call_waits_up_to_max_wait_for_company():
    model = Model(delay=0.05)

    async def main():
        batcher = MicroBatcher(model, max_batch=256, max_wait_s=0.2)
        await asyncio.gather(*(batcher.predict(["C"]) for _ in range(3)))  # one call of 3: under load
        first = asyncio.ensure_future(batcher.predict(["CC"]))
        await asyncio.sleep(0.05)  # arrives while the call waits for company
        second = await batcher.predict(["CCC"])
        await first
        await batcher.stop()
        return second

    run(main())
    assert model.calls == [3, 2]


def test_a_model_error_reaches_every_request_of_the_batch_and_the_batcher_goes_on():
    model = Model(fail=True)

    async def main():
        batcher = MicroBatcher(model, max_batch=64, max_wait_s=0.01)
        results = await asyncio.gather(*(batcher.predict(["C"]) for _ in range(3)), return_exceptions=True)
        model.fail = False
        after = await batcher.predict(["CC"])
        await batcher.stop()
        return results, after

    results, after = run(main())
    assert all(isinstance(r, ValueError) and str(r) == "the model broke" for r in results)
    assert after[0]["mean"] == [2.0]


def test_a_cancelled_request_is_skipped():
    model = Model(delay=0.05)

    async def main():
        batcher = MicroBatcher(model, max_batch=64, max_wait_s=0.0)
        first = asyncio.ensure_future(batcher.predict(["C"]))  # occupies the model
        await asyncio.sleep(0.01)
        gone = asyncio.ensure_future(batcher.predict(["CCC"]))
        await asyncio.sleep(0)
        gone.cancel()
        kept = await batcher.predict(["CC"])
        await first
        await batcher.stop()
        return kept

    kept = run(main())
    assert kept[0]["smiles"] == ["CC"]
    assert sum(model.calls) == 2  # the cancelled request's molecule never reached the model


@pytest.mark.parametrize("max_wait_s", [0.0, 0.005])
def test_every_molecule_answered_exactly_once_under_load(max_wait_s):
    model = Model()

    async def main():
        batcher = MicroBatcher(model, max_batch=16, max_wait_s=max_wait_s)
        sizes = [1, 5, 16, 17, 2, 30, 1, 1, 9]
        answers = await asyncio.gather(*(batcher.predict([f"C{i}"] * n) for i, n in enumerate(sizes)))
        await batcher.stop()
        return sizes, answers

    sizes, answers = run(main())
    assert [len(frame["smiles"]) for frame, _ in answers] == sizes
    assert sum(model.calls) == sum(sizes)
