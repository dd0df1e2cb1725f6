"""Who is asking and what they may do, the route class that turns library errors into pages, and
rendering a template with the navigation, the viewer and a CSRF token.

Without keys configured (loopback only) every visitor may look and nobody may change anything;
with keys, every page needs a login, and each form needs the role it names and the session's CSRF
token (forms post back only to this origin).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute

from molops.errors import MolopsError
from molops.ui.context import ANONYMOUS_ROLE, STATE_KEY, UiContext, Viewer
from molops.ui.session import COOKIE, csrf_ok, csrf_token, unsign_key

NAV = [
    ("/ui/", "Home"),
    ("/ui/datasets", "Datasets"),
    ("/ui/models", "Models"),
    ("/ui/campaigns", "Campaigns"),
    ("/ui/monitoring", "Monitoring"),
    ("/ui/audit", "Audit"),
]


class LoginRequired(Exception):
    """The page needs a login (keys are configured and no valid session came with the request)."""


class Forbidden(Exception):
    """The viewer lacks the role a form needs, or the form's CSRF token or origin is wrong."""


class NotFound(Exception):
    """A name or version in the address that does not exist."""


def ui(request: Request) -> UiContext:
    context: UiContext = getattr(request.app.state, STATE_KEY)
    return context


def viewer(request: Request) -> Viewer:
    """The logged-in key's name and role; anonymous readers when no keys are configured."""
    context = ui(request)
    if not context.keys.enabled:
        return Viewer("anonymous", ANONYMOUS_ROLE)
    cookie = request.cookies.get(COOKIE)
    caller = context.keys.caller(unsign_key(context.secret, cookie))
    if caller is None or cookie is None:
        raise LoginRequired()
    return Viewer(caller.name, caller.role, cookie)


def authorize(request: Request, who: Viewer, role: str, token: str | None) -> None:
    """A form that changes something: the role, the session's CSRF token and this origin."""
    if not ui(request).keys.enabled:
        raise Forbidden(
            "no API keys are configured, so this app is read-only; add a key with `molops serve-key "
            f"NAME --role {role}` to [serve] keys in molops.toml and log in"
        )
    if not who.may(role):
        raise Forbidden(f"key {who.name!r} has role {who.role!r}; this form needs {role!r}")
    same_origin(request)
    if not csrf_ok(ui(request).secret, who.cookie, token):
        raise Forbidden("the form's security token is missing or stale; reload the page and try again")


def same_origin(request: Request) -> None:
    """A form posted from another site (the browser says where from in ``Origin``) is refused."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise Forbidden(f"a form from {origin} may not change this workspace; use this site's own pages")


def render(
    request: Request, template: str, who: Viewer, status_code: int = 200, **values: Any
) -> HTMLResponse:
    context = ui(request)
    page = context.templates.get_template(template)
    html = page.render(
        request=request,
        nav=NAV,
        path=request.url.path,
        viewer=who,
        keys_enabled=context.keys.enabled,
        csrf=csrf_token(context.secret, who.cookie) if who.cookie else "",
        **values,
    )
    return HTMLResponse(html, status_code=status_code)


def _error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    try:
        who: Viewer | None = viewer(request)
    except LoginRequired:
        who = None
    return render(
        request, "error.html", who or Viewer("", ANONYMOUS_ROLE), status, title=title, message=message
    )


class UiRoute(APIRoute):
    """Every UI route: a missing login redirects to the login form; a library error (one sentence
    naming the input) becomes an error page instead of the JSON the API answers with."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/ui/login?next={quote(target)}", status_code=303)
            except Forbidden as exc:
                return _error_page(request, 403, "Not allowed", str(exc))
            except NotFound as exc:
                return _error_page(request, 404, "Not found", str(exc))
            except RequestValidationError as exc:  # a form field or query value of the wrong kind
                wrong = "; ".join(f"{e['loc'][-1]}: {e['msg'].lower()}" for e in exc.errors())
                return _error_page(request, 400, "Cannot do that", f"the request is not valid ({wrong})")
            except MolopsError as exc:  # a name that does not exist is a 404, anything else a 400
                missing = type(exc).__name__.endswith("NotFoundError")
                return _error_page(request, 404 if missing else 400, "Cannot do that", str(exc))

        return route
