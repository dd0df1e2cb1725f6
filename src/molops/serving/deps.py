"""FastAPI dependencies that hand a route what the running service holds.

``create_app`` puts the :class:`ServiceContext` and its :class:`Pipeline` on ``app.state``; routes
declare ``ctx: Service`` or ``pipeline: Predictions`` instead of closing over them, so each route
module is a plain :class:`~fastapi.APIRouter`. They are ``async``: FastAPI runs a plain ``def``
dependency in a worker thread, a thread hop on every request for nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from molops.serving.pipeline import Pipeline, ServiceContext


async def service(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


async def pipeline(request: Request) -> Pipeline:
    found: Pipeline = request.app.state.pipeline
    return found


Service = Annotated[ServiceContext, Depends(service)]
Predictions = Annotated[Pipeline, Depends(pipeline)]
