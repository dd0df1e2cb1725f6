"""The Ray executor: the same ordered, bounded streaming map, on a Ray cluster.

Connects to ``address`` (or ``RAY_ADDRESS``): a cluster made with ``ray start --head`` and
``ray start --address=HEAD`` on other machines, whose nodes run the same molops environment; or
starts a local Ray instance bound to loopback when neither is given. Needs the ``ray`` extra.

Work units are independent and of similar size, so tasks are spread over the cluster's nodes
(Ray's ``SPREAD`` strategy) rather than packed onto the driver's node first; the node each task ran
on is counted (:attr:`RayExecutor.tasks_by_node`) and logged, so a run shows where its work went.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from molops.errors import UsageError

R = TypeVar("R")
log = logging.getLogger("molops.compute")


def current_node() -> str | None:
    """The id of the Ray node this process works for, or None outside a Ray worker or driver."""
    ray = sys.modules.get("ray")  # never imports Ray: a process without it is not on a node
    if ray is None or not ray.is_initialized():
        return None
    return str(ray.get_runtime_context().get_node_id())


def _on_node(fn: Callable[..., R], *unit: Any) -> tuple[str | None, R]:
    """A task: ``fn(*unit)`` and the node it ran on."""
    return current_node(), fn(*unit)


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
                try:
                    ray.init(address=address, **kwargs)
                except ConnectionError as exc:
                    raise UsageError(
                        f"--ray-address {address!r}: no Ray cluster answered there ({exc}); expected the "
                        "HOST:PORT that `ray start --head` printed"
                    ) from None
            else:
                ray.init(num_cpus=workers or None, _node_ip_address="127.0.0.1", **kwargs)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = workers if workers > 0 else cpus
        #: tasks finished per node id, over every map of this executor
        self.tasks_by_node: Counter[str] = Counter()

    def map(
        self, fn: Callable[..., R], units: Iterable[tuple[Any, ...]], in_flight: int | None = None
    ) -> Iterator[R]:
        """Yield ``fn(*unit)`` for each unit, in order."""
        ray = self._ray
        name = getattr(fn, "__qualname__", "task")
        remote = ray.remote(_on_node).options(num_cpus=1, scheduling_strategy="SPREAD", name=name)
        limit = in_flight or 2 * self.workers
        pending: deque[Any] = deque()
        here: Counter[str] = Counter()

        def result(ref: Any) -> R:
            node, value = ray.get(ref)
            here[str(node)] += 1
            return value  # type: ignore[no-any-return]  # ray.get is untyped; the task returns R

        try:
            for unit in units:
                pending.append(remote.remote(fn, *unit))
                if len(pending) >= limit:
                    yield result(pending.popleft())
            while pending:
                yield result(pending.popleft())
        finally:
            self.tasks_by_node.update(here)
            if here:
                log.info(
                    "ray tasks of %s by node: %s",
                    name,
                    json.dumps(dict(sorted(here.items()))),
                    extra={"event": "ray_tasks", "nodes": dict(here)},
                )


def shutdown() -> None:
    """Stop a Ray instance this process started (no-op when Ray is absent or not running)."""
    try:
        import ray
    except ImportError:
        return
    if ray.is_initialized():
        ray.shutdown()
