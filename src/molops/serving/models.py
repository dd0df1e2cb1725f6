"""The models a service answers with, and their hot swap when a registry alias moves.

Each served model follows one registry reference (``NAME@champion`` by default). A background
task asks the registry every ``poll_s`` which version the alias points to; when it moved
(a promotion or a rollback) the new version is loaded in a worker thread and then replaces the old
one in a single assignment. A batch reads the current version once, so every request is answered
whole by one version, and no request fails or waits during a swap.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from molops.compute.isolated import IsolatedPool, ItemFailed
from molops.serving.batching import Columns, MicroBatcher
from molops.serving.onnx_model import onnx_variant, runtime
from molops.serving.prepared_cache import PreparedCache
from molops.tracking.bundle import ModelBundle
from molops.tracking.preparation import Prepared, PreparedMolecule, prepare_molecule
from molops.tracking.registry import ModelRef, ModelRegistry

log = logging.getLogger("molops.serve")

#: The molecule a newly loaded version prepares and predicts (once per chemistry child) before it
#: answers requests: first-use costs (a child's standardiser and featurizer, RDKit's own set-up, a
#: model's lazy imports) are paid here, not inside the first request's time budget.
WARMUP_SMILES = "CCO"


def _prepared(item: PreparedMolecule | ItemFailed) -> PreparedMolecule:
    if isinstance(item, ItemFailed):  # stopped over its budget, or it killed its process
        where = " (molecule_timeout_ms in [serve])" if item.reason == "timeout" else ""
        return PreparedMolecule(None, None, f"{item.reason}: {item.detail}{where}")
    return item


@dataclass(frozen=True)
class Loaded:
    """One loaded model version."""

    name: str
    alias: str | None
    version: int
    bundle: ModelBundle
    loaded_at: float
    #: seconds its warm-up took (it answered one molecule per chemistry child before serving)
    warmup_s: float = 0.0


class ServedModel:
    """A registry reference, the version it currently resolves to, and its micro-batcher."""

    def __init__(
        self,
        ref: ModelRef,
        registry: ModelRegistry,
        *,
        max_batch: int,
        max_wait_s: float,
        on_batch: Callable[[ServedModel, int, float], None] | None = None,
        role: str = "primary",
        chemistry: IsolatedPool[PreparedMolecule] | None = None,
        onnx: bool = False,
        cache: PreparedCache | None = None,
    ) -> None:
        self.ref = ref
        #: prepared molecules by SMILES, shared by the worker's models (None: none kept)
        self.cache = cache
        #: answer with each version's recorded ONNX export (serving/onnx_model.py)
        self.onnx = onnx
        #: child processes that standardise and featurise (None: this process does)
        self.chemistry = chemistry
        self.registry = registry
        self.role = role
        self.current: Loaded | None = None
        self.error: str | None = None
        #: set once the first load finished, loaded or failed (requests that arrive before wait)
        self.settled = asyncio.Event()
        self.batcher = MicroBatcher(
            self._predict,
            max_batch=max_batch,
            max_wait_s=max_wait_s,
            on_batch=(lambda n, s: on_batch(self, n, s)) if on_batch else None,
        )

    @property
    def name(self) -> str:
        return self.ref.name

    def _predict(self, smiles: list[str]) -> tuple[Columns, Loaded]:
        loaded = self.current  # read once: the whole batch is answered by one version
        if loaded is None:
            raise RuntimeError(f"model {self.ref} is not loaded")
        return self._columns(loaded.bundle, smiles), loaded

    def _columns(self, bundle: ModelBundle, smiles: list[str]) -> Columns:
        return bundle.predict_columns(smiles, prepared=self.prepare(bundle, smiles))

    def prepare(self, bundle: ModelBundle, smiles: list[str], applicability: bool = True) -> Prepared | None:
        """*smiles* prepared for *bundle*: from the cache where kept, the rest in the chemistry
        children, each molecule with its time budget (None without children or cache: the bundle
        prepares them in this process)."""
        if self.chemistry is None and self.cache is None:
            return None
        preparation = bundle.preparation(applicability)
        found = self.cache.get_many(preparation, smiles) if self.cache else [None] * len(smiles)
        todo = list(dict.fromkeys(s for s, item in zip(smiles, found, strict=True) if item is None))
        fresh: dict[str, PreparedMolecule] = {}
        if todo:  # each missing SMILES once, however often the batch repeats it
            if self.chemistry is not None:
                pool = self.chemistry.map(prepare_molecule, (preparation, "smiles"), todo)
                made = [_prepared(item) for item in pool]
            else:
                made = [preparation.molecule(text) for text in todo]
            if self.cache is not None:
                self.cache.put_many(preparation, todo, made)
            fresh = dict(zip(todo, made, strict=True))
        items = [fresh[s] if item is None else item for s, item in zip(smiles, found, strict=True)]
        return Prepared.of(items, preparation)

    def _warm(self, bundle: ModelBundle) -> float:
        """Answer one molecule per chemistry child with *bundle*, the way a request is answered;
        the seconds it took (readiness and a hot swap wait for it)."""
        started = time.perf_counter()
        children = self.chemistry.processes if self.chemistry is not None else 1
        self._columns(bundle, [WARMUP_SMILES] * children)  # the pool gives each child one
        return time.perf_counter() - started

    async def predict(self, smiles: list[str]) -> tuple[Columns, Loaded]:
        return await self.batcher.predict(smiles)

    def load(self) -> Loaded | None:
        """Load the version the reference points to, if it is not the one loaded; the new one or None."""
        mv = self.registry.resolve(self.ref)
        version = int(mv.version)
        if self.current is not None and self.current.version == version:
            return None
        started = time.perf_counter()
        if self.onnx:  # from the export's own files: the native model is not loaded
            bundle = onnx_variant(self.registry, mv)
        else:
            bundle, mv = self.registry.load(f"{self.ref.name}:{version}")
        warmup_s = self._warm(bundle)
        previous = self.current
        self.current = Loaded(self.ref.name, self.ref.alias, version, bundle, time.time(), warmup_s)
        self.error = None
        log.info(
            "model loaded",
            extra={
                "event": "model_loaded",
                "model": self.ref.name,
                "alias": self.ref.alias,
                "version": version,
                "previous_version": previous.version if previous else None,
                "seconds": round(time.perf_counter() - started, 3),
                "warmup_seconds": round(warmup_s, 3),
            },
        )
        return self.current

    def describe(self) -> dict[str, Any]:
        loaded = self.current
        info: dict[str, Any] = {
            "name": self.ref.name,
            "alias": self.ref.alias,
            "version": loaded.version if loaded else self.ref.version,
            "ready": loaded is not None,
        }
        if loaded is not None:
            b = loaded.bundle
            info |= {
                "model": b.info.model,
                "featurizer": b.info.featurizer,
                "target": b.info.target,
                "dataset": b.info.dataset,
                "dataset_version": b.info.dataset_version,
                "n_train": b.info.n_train,
                "domain_threshold": b.reference.domain_threshold,
                "runtime": runtime(b),
            }
        return info


class ModelSet:
    """Every model the service answers with (by name), plus an optional second alias per model that
    sees a share of the traffic: a shadow (mirrored copies) or a canary (answers instead)."""

    def __init__(
        self,
        refs: list[ModelRef],
        registry: ModelRegistry,
        *,
        max_batch: int = 256,
        max_wait_s: float = 0.002,
        shadow_alias: str = "",
        shadow_share: float = 1.0,
        shadow_mode: str = "mirror",
        on_batch: Callable[[ServedModel, int, float], None] | None = None,
        on_swap: Callable[[ServedModel, Loaded | None, Loaded], None] | None = None,
        chemistry: IsolatedPool[PreparedMolecule] | None = None,
        onnx: bool = False,
        cache: PreparedCache | None = None,
    ) -> None:
        self.chemistry = chemistry
        kwargs: dict[str, Any] = {
            "max_batch": max_batch,
            "max_wait_s": max_wait_s,
            "on_batch": on_batch,
            "chemistry": chemistry,
            "onnx": onnx,
            "cache": cache,
        }
        self.models = {ref.name: ServedModel(ref, registry, **kwargs) for ref in refs}
        self.shadows = {
            ref.name: ServedModel(
                ModelRef(name=ref.name, alias=shadow_alias),
                registry,
                role="canary" if shadow_mode == "canary" else "shadow",
                **kwargs,
            )
            for ref in refs
            if shadow_alias
        }
        self.shadow_share = shadow_share
        self.shadow_mode = shadow_mode
        self._on_swap = on_swap
        self.failed: str | None = None

    @property
    def ready(self) -> bool:
        return bool(self.models) and all(m.current is not None for m in self.models.values())

    def get(self, name: str | None) -> ServedModel | None:
        if name is None:
            return next(iter(self.models.values())) if len(self.models) == 1 else None
        return self.models.get(name)

    def shadow_for(self, name: str) -> ServedModel | None:
        """The shadow that should see a copy of this request (by the configured share), if any."""
        return self._second(name, "mirror")

    def canary_for(self, name: str) -> ServedModel | None:
        """The canary that should answer this request instead (by the configured share), if any."""
        return self._second(name, "canary")

    def _second(self, name: str, mode: str) -> ServedModel | None:
        second = self.shadows.get(name)
        if self.shadow_mode != mode or second is None or second.current is None:
            return None  # a second alias still loading (or gone) sees no traffic
        return second if random.random() < self.shadow_share else None

    def refresh(self, served: ServedModel, *, first: bool = False) -> None:
        """Load the version *served*'s alias points to now, if it moved (blocking)."""
        previous = served.current
        try:
            loaded = served.load()
        except Exception as exc:  # the registry is down or the alias is gone: keep serving what we have
            served.error = str(exc)
            log.error(
                "model load failed",
                extra={"event": "model_load_failed", "model": str(served.ref), "error": str(exc)},
            )
            if first and served not in self.shadows.values():
                raise
            return
        if loaded is not None and self._on_swap:
            self._on_swap(served, previous, loaded)

    async def load_all(self) -> None:
        """Load every model (in a worker thread); a primary that cannot load fails the service's readiness."""
        pending = [*self.models.values(), *self.shadows.values()]
        try:
            if self.chemistry is not None:
                await asyncio.to_thread(self.chemistry.start)
            for served in pending:
                try:
                    await asyncio.to_thread(self.refresh, served, first=True)
                finally:
                    served.settled.set()
        except Exception as exc:
            self.failed = str(exc)
        finally:
            for served in pending:  # the ones after a failure will not load: stop waiting for them
                served.settled.set()

    async def watch(self, every_s: float) -> None:
        """Follow alias moves forever (cancelled at shutdown)."""
        while True:
            await asyncio.sleep(every_s)
            for served in [*self.models.values(), *self.shadows.values()]:
                await asyncio.to_thread(self.refresh, served, first=False)

    async def stop(self) -> None:
        for served in [*self.models.values(), *self.shadows.values()]:
            await served.batcher.stop()
        if self.chemistry is not None:
            await asyncio.to_thread(self.chemistry.close)
