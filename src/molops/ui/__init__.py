"""The web app: server-rendered pages over the same library the CLI calls.

``molops ui`` serves it alone; ``molops serve --ui`` mounts it beside the REST API. Routes only read
the request, call the library (datasets, the registry, campaigns, monitoring, the audit log) and
render a Jinja2 template; the few view helpers that shape library results for a page (structure
drawings, inline SVG charts, pagination, molecule search) live in small modules here.
"""

from __future__ import annotations

from molops.ui.app import create_ui_app, mount_ui

__all__ = ["create_ui_app", "mount_ui"]
