"""What every page needs: the workspace, the keys, the templates, and who is looking.

A :class:`UiContext` is built once per app (``create_ui_app`` / ``mount_ui``) and kept on
``app.state``; the registry (MLflow: a second to import) is opened on first use and reused.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from importlib.resources import files
from typing import TYPE_CHECKING

from jinja2 import Environment, PackageLoader, select_autoescape

from molops.data.audit import AuditLog
from molops.serving.auth import ROLES, KeyRing
from molops.ui.session import load_secret
from molops.workspace import Workspace

if TYPE_CHECKING:
    from molops.tracking.registry import ModelRegistry

#: The role a visitor has without keys configured (loopback only): looking, never changing.
ANONYMOUS_ROLE = "read"
STATE_KEY = "molops_ui"


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the API key's name and role (``anonymous`` without keys), and the session
    cookie that CSRF tokens are bound to (None: no session, so no forms)."""

    name: str
    role: str
    cookie: str | None = None

    def may(self, role: str) -> bool:
        return self.cookie is not None and ROLES[self.role] >= ROLES[role]


class ActingWorkspace(Workspace):
    """The workspace, recording every change in the audit log as *user* (the API key's name), not
    as the process's user: the UI changes things on behalf of whoever logged in."""

    def __init__(self, ws: Workspace, user: str) -> None:
        super().__init__(ws.root, ws.config)
        self.user = user

    @property
    def audit(self) -> AuditLog:
        return super().audit.as_user(self.user)


@dataclass
class UiContext:
    ws: Workspace
    keys: KeyRing
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _registry: ModelRegistry | None = None

    @cached_property
    def secret(self) -> bytes:
        return load_secret(self.ws.root)

    @cached_property
    def templates(self) -> Environment:
        env = Environment(
            loader=PackageLoader("molops.ui", "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters["num"] = _num
        return env

    def registry(self) -> ModelRegistry:
        """The workspace's model registry, opened once (reads only; writes use :meth:`registry_as`)."""
        with self._lock:
            if self._registry is None:
                self._registry = self.registry_as(None)
            return self._registry

    def registry_as(self, user: str | None) -> ModelRegistry:
        """A registry that records alias moves as *user* (the process's user when None)."""
        from molops.tracking.registry import ModelRegistry
        from molops.tracking.store import Tracking

        registry = ModelRegistry(Tracking.of(self.ws).uri, self.ws.config.tracking.user, audit=self.ws.audit)
        if user is not None:  # the key's name, over $MOLOPS_USER and [tracking] user
            registry.user = user
            registry.audit = self.ws.audit.as_user(user)
        return registry


def static_file(name: str) -> bytes:
    return files("molops.ui").joinpath("static", name).read_bytes()


def _num(value: object, digits: int = 3) -> str:
    """A number for a table cell: significant digits, blank for missing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        return f"{value:.{digits}g}"
    return str(value)
