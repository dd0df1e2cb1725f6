"""What a running service holds, and the path of one prediction request through it.

The pipeline checks the limits, finds the served model (waiting while it loads), joins its
micro-batch with a time budget, records metrics, hands the rows to the prediction log and mirrors
the request to a shadow; the ``/v1`` and ``/v2`` routes only translate bodies around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from molops.config import ServeSection
from molops.data.log_writer import LogWriter
from molops.data.prediction_log import rows_from_columns
from molops.serving.auth import Caller, KeyRing
from molops.serving.batching import Columns
from molops.serving.errors import ApiError
from molops.serving.metrics import Metrics
from molops.serving.models import Loaded, ModelSet, ServedModel, log

#: How long a request that arrives while its model loads waits before it is answered 503.
LOAD_WAIT_S = 30.0
#: The least time a request is given before it is answered 504, whatever its size: queueing
#: behind other batches on a busy machine is not a stall (a stalled molecule is stopped by its
#: own budget in the chemistry children).
MIN_REQUEST_BUDGET_S = 5.0


@dataclass
class ServiceContext:
    """Everything a running service holds."""

    settings: ServeSection
    models: ModelSet
    keys: KeyRing
    writer: LogWriter | None = None
    metrics: Metrics = field(default_factory=Metrics)
    #: ``monitor(model) -> checks`` (``molops monitor``'s), run every ``monitor_interval_s``
    monitor: Callable[[str], list[dict[str, Any]]] | None = None
    #: whether a well-formed ``POST /v1/predict`` may skip FastAPI (``serving/fast_predict.py``); off,
    #: every request goes through the FastAPI route (tests compare the two answers)
    fast_predict: bool = True
    #: requests the fast path answered itself (the others went to the FastAPI route)
    fast_answered: int = 0
    #: processes serving this service (``--workers``): each runs the periodic work that reads or
    #: writes the shared workspace (log commits, monitoring) this many times less often
    processes: int = 1
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def readiness(self) -> tuple[int, dict[str, Any]]:
        if self.models.ready:
            return 200, {"status": "ok"}
        if self.models.failed:
            return 503, {"status": "failed", "detail": self.models.failed}
        return 503, {"status": "loading", "detail": "models are loading"}


class Pipeline:
    """One prediction request: limits → model → batch → metrics, log, shadow."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.settings, self.models, self.metrics = ctx.settings, ctx.models, ctx.metrics

    async def served(self, name: str | None) -> ServedModel:
        """The served model a request names; a request that arrives while it loads waits for it
        (with several workers, a worker that is still loading must not turn requests away)."""
        models = self.models
        served = models.get(name)
        if served is None:
            names = ", ".join(models.models) or "none"
            if name is None:
                raise ApiError(
                    422, "model_required", f"several models are served ({names}); name one in 'model'"
                )
            raise ApiError(404, "unknown_model", f"model {name!r} is not served here; served models: {names}")
        if served.current is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(served.settled.wait(), LOAD_WAIT_S)
        if served.current is None and served.error:
            raise ApiError(
                503, "model_unavailable", f"model {served.ref} could not be loaded: {served.error}"
            )
        if served.current is None:
            raise ApiError(503, "model_loading", f"model {served.ref} is still loading; retry shortly")
        return served

    def check(self, smiles: list[str]) -> None:
        settings = self.settings
        if len(smiles) > settings.max_molecules:
            raise ApiError(
                413,
                "too_many_molecules",
                f"the request has {len(smiles)} molecules; at most {settings.max_molecules} are "
                "accepted per request (max_molecules in [serve])",
            )
        for i, s in enumerate(smiles):
            if len(s) > settings.max_smiles_length:
                raise ApiError(
                    422,
                    "smiles_too_long",
                    f"smiles[{i}] has {len(s)} characters; at most {settings.max_smiles_length} are "
                    "accepted (max_smiles_length in [serve])",
                )

    async def predict(
        self,
        request: Request,
        smiles: list[str],
        name: str | None,
        caller: Caller,
        version: str | None = None,
    ) -> tuple[Columns, Loaded]:
        started = time.perf_counter()
        state = request.scope["state"]
        state["molecules"] = len(smiles)
        self.check(smiles)
        served = await self.served(name)
        budget = max(MIN_REQUEST_BUDGET_S, len(smiles) * self.settings.molecule_timeout_ms / 1000)
        canary = self.models.canary_for(served.name)
        if version is not None:  # the version asked for answers, whichever alias serves it; no canary
            served, canary = self.pinned(served, version), None
        try:
            frame, loaded, role = await asyncio.wait_for(self.answer(served, canary, smiles), budget)
        except TimeoutError:
            raise ApiError(
                504,
                "timeout",
                f"the {len(smiles)} molecules were not predicted within their time budget of {budget:.1f} s "
                "(molecule_timeout_ms in [serve])",
            ) from None
        if version is not None and str(loaded.version) != version:  # its alias moved while it waited
            raise ApiError(
                404,
                "unknown_version",
                f"model {loaded.name!r} version {version} was replaced by version {loaded.version} while "
                "the request waited; ask for a served version",
            )
        state["model"], state["model_version"] = loaded.name, loaded.version
        latency_ms = (time.perf_counter() - started) * 1000
        self.metrics.observe_predictions(loaded.name, loaded.version, frame, loaded.bundle.info.transform)
        ids = state["request_id"], state.get("client_request_id")  # ours; the caller's X-Request-ID
        self.log(frame, loaded, ids, latency_ms, caller.name, role)
        shadow = self.models.shadow_for(served.name)
        if shadow is not None and shadow is not served:
            self.ctx.spawn(self.mirror(shadow, smiles, ids, caller.name))
        return frame, loaded

    async def answer(
        self, served: ServedModel, canary: ServedModel | None, smiles: list[str]
    ) -> tuple[Columns, Loaded, str]:
        """The canary's answer when the request was drawn for it (the first alias's if it fails),
        else the first alias's; and the role to log it with."""
        if canary is not None:
            try:
                return (*await canary.predict(smiles), "canary")
            except Exception as exc:  # a failing canary must not fail requests: the champion answers
                log.warning("canary prediction failed", extra={"event": "canary_failed", "error": str(exc)})
        return (*await served.predict(smiles), served.role)

    def versions(self, name: str) -> dict[int, ServedModel]:
        """The loaded versions model *name* answers with: its alias's and its second alias's (shadow
        or canary), if one is served; a version both aliases point to is the first alias's."""
        aliases = (self.models.shadows.get(name), self.models.models.get(name))
        return {a.current.version: a for a in aliases if a is not None and a.current is not None}

    def pinned(self, served: ServedModel, version: str) -> ServedModel:
        """The alias of *served*'s name that serves *version* (a URL's text), or 404 naming those served."""
        found = self.versions(served.name)
        if version.isascii() and version.isdigit() and int(version) in found:
            return found[int(version)]
        listed = ", ".join(f"{v} ({s.ref.alias or s.role})" for v, s in sorted(found.items())) or "none yet"
        raise ApiError(
            404,
            "unknown_version",
            f"model {served.name!r} has no version {version} served here; served versions: {listed}",
        )

    def log(
        self,
        frame: Columns,
        loaded: Loaded,
        ids: tuple[str, str | None],
        latency_ms: float,
        client: str,
        role: str,
    ) -> None:
        writer = self.ctx.writer
        if writer is None:
            return
        writer.submit(
            rows_from_columns(
                frame,
                source="api",
                role=role,
                request_id=ids[0],
                client_request_id=ids[1],
                model_name=loaded.name,
                model_version=loaded.version,
                model_alias=loaded.alias,
                latency_ms=latency_ms,
                client=client,
            )
        )  # the writer keeps the pending-rows gauge itself (Metrics.log_hooks)

    async def mirror(
        self, shadow: ServedModel, smiles: list[str], ids: tuple[str, str | None], client: str
    ) -> None:
        started = time.perf_counter()
        try:
            frame, loaded = await shadow.predict(smiles)
        except Exception as exc:  # a shadow never affects the answer; its failure is only logged
            log.warning("shadow prediction failed", extra={"event": "shadow_failed", "error": str(exc)})
            return
        self.log(frame, loaded, ids, (time.perf_counter() - started) * 1000, client, "shadow")
