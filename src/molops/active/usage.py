"""The compute a propose uses, phase by phase (issue 18): CPU-seconds and GPU-seconds of training,
scoring and selecting, stored on the iteration and summed by ``campaign status``.

What is counted:

* CPU-seconds are user + system time of this process and of its reaped child processes
  (``getrusage``), between the phase's start and end; all of its threads count.
* Pool chunks scored by an executor (local worker processes, Ray tasks) run elsewhere: each task
  measures its own process CPU time and the scan adds it up (``Scan.task_cpu``), which is added to
  the scoring phase. Worker processes that build the pool's features (the first propose on a pool;
  later ones read the cache) are not counted: they are the fork server's children, not ours.
* GPU-seconds are the wall time of a phase whose model runs on a GPU here (the D-MPNN with a GPU
  present), else 0: PyTorch offers no per-process GPU time, and a phase that uses the GPU holds it.
"""

from __future__ import annotations

import time
from typing import Any

try:
    import resource
except ImportError:  # not on a Unix
    resource = None  # type: ignore[assignment]  # the fallback below needs no module

PHASES = ("train", "score", "select")


def cpu_seconds() -> float:
    """User + system CPU time of this process and its reaped children so far."""
    if resource is None:
        return time.process_time()
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def on_gpu(model: Any) -> bool:
    """Whether a fitted surrogate (or the one a calibration wraps) runs on a GPU here."""
    inner = getattr(model, "inner", model)
    return getattr(inner, "accelerator_", "cpu") == "gpu"


class PhaseMeter:
    """Laps of CPU-seconds and GPU-seconds: each :meth:`lap` closes a phase begun at the last one."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self.gpu: dict[str, float] = {}
        self._cpu, self._wall = cpu_seconds(), time.perf_counter()

    def lap(self, phase: str, *, gpu: bool = False, elsewhere_cpu: float = 0.0) -> None:
        """Close *phase*: its CPU-seconds here plus *elsewhere_cpu* (tasks in other processes), and
        its wall time as GPU-seconds when *gpu*."""
        cpu, wall = cpu_seconds(), time.perf_counter()
        self.cpu[phase] = round(self.cpu.get(phase, 0.0) + cpu - self._cpu + elsewhere_cpu, 3)
        self.gpu[phase] = round(self.gpu.get(phase, 0.0) + (wall - self._wall if gpu else 0.0), 3)
        self._cpu, self._wall = cpu, wall


def task_cpu() -> float:
    """CPU time of this process so far (a task's own measure, as a difference of two calls)."""
    return time.process_time()
