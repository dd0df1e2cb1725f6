"""Peak memory of a process and all its descendants, sampled from a thread (the memory benchmarks).

RSS counts a page once per process that maps it, so a sum over a fork server and its workers
overstates what the machine holds; PSS (``memory_full_info().pss``, Linux) splits shared pages
between the processes sharing them, so its sum is the honest total. Both are reported.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import psutil

MB = float(1 << 20)


@dataclass
class Peak:
    """The largest sums seen (MB) and how many processes were alive at the RSS peak."""

    rss_mb: float = 0.0
    pss_mb: float = 0.0
    own_rss_mb: float = 0.0  # the root process alone
    procs: int = 0

    def take(self, rss: int, pss: int, own: int, procs: int) -> None:
        if rss / MB > self.rss_mb:
            self.rss_mb, self.procs = round(rss / MB, 1), procs
        self.pss_mb = max(self.pss_mb, round(pss / MB, 1))
        self.own_rss_mb = max(self.own_rss_mb, round(own / MB, 1))

    def as_dict(self) -> dict[str, float]:
        return {
            "rss_mb": self.rss_mb,
            "pss_mb": self.pss_mb,
            "own_rss_mb": self.own_rss_mb,
            "procs": self.procs,
        }


class TreeMemory:
    """Samples summed RSS and PSS of *pid* and its descendants every *interval* seconds.

    Use as a context manager around the process's life. *phase*, when given, names the phase each
    sample belongs to (``by_phase`` keeps a peak per name); ``peak`` is the overall one.
    """

    def __init__(self, pid: int, interval: float = 0.2, phase: Callable[[], str] | None = None) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.phase = phase
        self.peak = Peak()
        self.by_phase: dict[str, Peak] = {}
        self.samples = 0
        self.pss_available = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> bool:
        """One sample; False once the root process is gone."""
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return False
        rss = pss = own = 0
        for proc in procs:
            try:
                if self.pss_available:
                    try:
                        info = proc.memory_full_info()
                    except AttributeError:  # no PSS on this platform: RSS only from here on
                        self.pss_available = False
                    else:
                        rss += info.rss
                        pss += getattr(info, "pss", 0)
                        own = info.rss if proc.pid == self.root.pid else own
                        continue
                mem = proc.memory_info()
            except psutil.Error:  # exited between the listing and the read
                continue
            rss += mem.rss
            own = mem.rss if proc.pid == self.root.pid else own
        self.samples += 1
        self.peak.take(rss, pss, own, len(procs))
        if self.phase is not None:
            self.by_phase.setdefault(self.phase(), Peak()).take(rss, pss, own, len(procs))
        return True

    def _run(self) -> None:
        while not self._stop.is_set() and self.sample():
            self._stop.wait(self.interval)
