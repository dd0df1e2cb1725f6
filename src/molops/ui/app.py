"""Building the web app: alone (``molops ui``) or mounted into the REST service (``serve --ui``)."""

from __future__ import annotations

from fastapi import FastAPI

from molops._version import __version__
from molops.serving.auth import KeyRing
from molops.ui import (
    routes_campaigns,
    routes_datasets,
    routes_explain,
    routes_home,
    routes_models,
    routes_monitoring,
    routes_review,
)
from molops.ui.context import STATE_KEY, UiContext
from molops.workspace import Workspace

ROUTERS = (
    routes_home,
    routes_datasets,
    routes_models,
    routes_campaigns,
    routes_review,
    routes_monitoring,
    routes_explain,
)


def mount_ui(app: FastAPI, ws: Workspace, keys: KeyRing) -> FastAPI:
    """Add the ``/ui/`` pages to *app*, with the same *keys* (and roles) as its API."""
    setattr(app.state, STATE_KEY, UiContext(ws, keys))
    for module in ROUTERS:
        app.include_router(module.router, include_in_schema=False)
    return app


def create_ui_app(ws: Workspace, keys: KeyRing | None = None) -> FastAPI:
    """The web app alone; *keys* default to the service's (``[serve] keys`` in molops.toml)."""
    app = FastAPI(title="molops ui", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    return mount_ui(app, ws, keys if keys is not None else KeyRing(ws.config.serve.keys))
