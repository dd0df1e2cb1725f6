"""``molops serve --ui``: the web app beside the REST API in one service, with the same keys."""

from __future__ import annotations

import httpx

from molops.config import ApiKey, ServeSection
from molops.serving.auth import hash_key
from molops.serving.server import background
from molops.tracking.registry import ModelRef

from .conftest import KEYS


def _settings() -> ServeSection:
    keys = [ApiKey(name=n, role=role, hash=hash_key(key)) for n, (role, key) in KEYS.items()]
    return ServeSection(
        host="127.0.0.1", port=0, chemistry_processes=0, poll_s=0, monitor_interval_s=0, keys=keys
    )


def test_serve_ui_mounts_the_web_app_beside_the_api_with_the_same_keys(workspace_copy):
    refs = [ModelRef(name="fs-expt", alias="champion")]
    with (
        background(workspace_copy, _settings(), refs, ui=True) as (url, _),
        httpx.Client(base_url=url, timeout=120) as client,
    ):
        assert client.get("/ui/models").status_code == 303  # a login first
        assert client.post("/ui/login", data={"key": KEYS["rob"][1]}).status_code == 303
        assert "fs-expt" in client.get("/ui/models").text
        predicted = client.post(
            "/v1/predict", json={"smiles": ["CCO"]}, headers={"X-API-Key": KEYS["rita"][1]}
        )
        assert predicted.status_code == 200  # review may do what read may
        assert "/ui/" not in client.get("/openapi.json").text  # the pages are not API operations


def test_serve_without_ui_has_no_pages(workspace_copy):
    refs = [ModelRef(name="fs-expt", alias="champion")]
    with background(workspace_copy, _settings(), refs) as (url, _):
        assert httpx.get(url + "/ui/").status_code == 404
