"""Environment variables a shared fixture must leave as it found them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

#: MLflow exports the tracking and registry URIs it is pointed at as these variables, which every
#: later subprocess of the test worker (e.g. an ``mlflow`` command) would inherit.
MLFLOW_URIS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@contextmanager
def restored_env(names: tuple[str, ...] = MLFLOW_URIS) -> Iterator[None]:
    """Put variables *names* back as they were (set, or not set) when the block ends."""
    saved = {k: os.environ.get(k) for k in names}
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
