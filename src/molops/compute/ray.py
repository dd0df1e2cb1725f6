"""The Ray executor: the same ordered, bounded streaming map, on a Ray cluster.

Connects to ``address`` (or ``RAY_ADDRESS``), or starts a local Ray instance bound to loopback
when neither is given. Needs the ``ray`` extra.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from molops.errors import UsageError

R = TypeVar("R")


class RayExecutor:
    """Maps a function over work units as Ray tasks, at most *in_flight* at a time."""

    kind = "ray"

    def __init__(self, workers: int = 0, address: str | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise UsageError(
                "--executor ray needs Ray; install it with `pip install 'molops[ray]'`"
            ) from None
        self._ray = ray
        address = address or os.environ.get("RAY_ADDRESS")
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "configure_logging": False,
            }
            if address:
                ray.init(address=address, **kwargs)
            else:
                ray.init(num_cpus=workers or None, _node_ip_address="127.0.0.1", **kwargs)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = workers if workers > 0 else cpus

    def map(
        self, fn: Callable[..., R], units: Iterable[tuple[Any, ...]], in_flight: int | None = None
    ) -> Iterator[R]:
        """Yield ``fn(*unit)`` for each unit, in order."""
        ray = self._ray
        remote = ray.remote(num_cpus=1)(fn)
        limit = in_flight or 2 * self.workers
        pending: deque[Any] = deque()
        for unit in units:
            pending.append(remote.remote(*unit))
            if len(pending) >= limit:
                yield ray.get(pending.popleft())
        while pending:
            yield ray.get(pending.popleft())


def shutdown() -> None:
    """Stop a Ray instance this process started (no-op when Ray is absent or not running)."""
    try:
        import ray
    except ImportError:
        return
    if ray.is_initialized():
        ray.shutdown()
