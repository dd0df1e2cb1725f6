"""A `molops serve` worker takes its loaded heap out of the garbage collector's full collections."""

from __future__ import annotations

import asyncio
import gc

from molops.config import ServeSection
from molops.serving.app import load_models
from molops.serving.auth import KeyRing
from molops.serving.models import ModelSet
from molops.serving.pipeline import ServiceContext


def context() -> ServiceContext:
    models = ModelSet([], registry=None)  # type: ignore[arg-type]  # no model: nothing asks the registry
    return ServiceContext(ServeSection(), models, KeyRing([]))


def test_a_worker_freezes_what_is_alive_once_its_models_loaded() -> None:
    gc.unfreeze()
    try:
        asyncio.run(load_models(context(), freeze=True))
        assert gc.get_freeze_count() > 1000  # the modules, their functions and classes at least
    finally:
        gc.unfreeze()


def test_an_in_process_service_freezes_nothing() -> None:
    gc.unfreeze()
    asyncio.run(load_models(context(), freeze=False))
    assert gc.get_freeze_count() == 0
