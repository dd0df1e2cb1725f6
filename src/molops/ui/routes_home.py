"""The index, logging in and out, the stylesheet, and the audit timeline."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from molops.active.store import list_campaigns
from molops.ui.context import ANONYMOUS_ROLE, Viewer, static_file
from molops.ui.deps import UiRoute, authorize, render, same_origin, ui, viewer
from molops.ui.paging import page_of
from molops.ui.session import COOKIE, sign_key

router = APIRouter(route_class=UiRoute)
Who = Annotated[Viewer, Depends(viewer)]


@router.get("/ui/", response_class=HTMLResponse)
def index(request: Request, who: Who) -> HTMLResponse:
    ws = ui(request).ws
    return render(
        request,
        "index.html",
        who,
        title="molops",
        workspace=str(ws.root),
        datasets=ws.datasets(),
        campaigns=list_campaigns(ws),
    )


@router.get("/ui", include_in_schema=False)
def bare() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/static/ui.css", include_in_schema=False)
def stylesheet() -> Response:
    return Response(static_file("ui.css"), media_type="text/css", headers={"Cache-Control": "max-age=3600"})


def _next(target: str | None) -> str:
    """Only a page of this app: never a redirect to another site."""
    return target if target and target.startswith("/ui/") and not target.startswith("//") else "/ui/"


@router.get("/ui/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return render(
        request, "login.html", Viewer("", ANONYMOUS_ROLE), title="Log in", next=_next(next), error=None
    )


@router.post("/ui/login", response_class=HTMLResponse)
def login(
    request: Request,
    key: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/ui/",
) -> Response:
    same_origin(request)  # no logging a visitor in with someone else's key from another site
    context = ui(request)
    caller = context.keys.caller(key.strip()) if context.keys.enabled else None
    if caller is None:
        error = (
            "no API keys are configured, so there is nothing to log in with; the app is read-only"
            if not context.keys.enabled
            else "that API key is not valid; paste the key `molops serve-key` printed"
        )
        return render(
            request,
            "login.html",
            Viewer("", ANONYMOUS_ROLE),
            401,
            title="Log in",
            next=_next(next),
            error=error,
        )
    response = RedirectResponse(_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        sign_key(context.secret, key.strip()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/ui",
    )
    return response


@router.post("/ui/logout")
def logout(request: Request, who: Who, csrf_token: Annotated[str, Form()] = "") -> Response:
    authorize(request, who, "read", csrf_token)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


@router.get("/ui/audit", response_class=HTMLResponse)
def audit(
    request: Request,
    who: Who,
    user: str | None = None,
    action: str | None = None,
    subject: str | None = None,
    since: str | None = None,
    page: int = 1,
) -> HTMLResponse:
    filters = {"user": user or None, "action": action or None, "subject": subject or None}
    entries = ui(request).ws.audit.read(since=since or None, **filters)
    entries.reverse()  # newest first
    return render(
        request,
        "audit.html",
        who,
        title="Audit",
        page=page_of(entries, page),
        filters=filters | {"since": since or ""},
    )
