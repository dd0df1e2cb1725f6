"""Every page and form of the web app over a real socket: who may see and change what, and that a
change goes through the library and is recorded with the logged-in key's name."""

from __future__ import annotations

import re

import httpx
import pytest

from molops.serving.auth import KeyRing
from molops.ui import create_ui_app
from molops.ui.session import COOKIE

from ._server import serving
from .conftest import KEYS, keyring

PAGES = ["/ui/", "/ui/datasets", "/ui/datasets/fs", "/ui/models", "/ui/models/fs-expt", "/ui/campaigns",
         "/ui/campaigns/c1", "/ui/monitoring", "/ui/audit"]  # fmt: skip


def login(client: httpx.Client, name: str) -> str:
    """Log in as *name*; returns a CSRF token from a page."""
    r = client.post("/ui/login", data={"key": KEYS[name][1], "next": "/ui/"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/"
    page = client.get("/ui/")
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)[1]


@pytest.fixture(scope="module")
def readonly(built):
    """The app without keys on loopback: anyone may look, nobody may change anything."""
    with (
        serving(create_ui_app(built.ws, KeyRing([]))) as url,
        httpx.Client(base_url=url, timeout=120) as client,
    ):
        yield client


def test_every_page_renders_read_only_without_keys(readonly):
    for path in PAGES:
        r = readonly.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert "<nav" in r.text and "Log out" not in r.text
    assert "Promote" not in readonly.get("/ui/models/fs-expt").text
    assert "Upload lab results" not in readonly.get("/ui/campaigns/c1").text


def test_forms_are_refused_without_keys(readonly):
    r = readonly.post("/ui/models/fs-expt/promote", data={"version": 2, "alias": "champion", "reason": "x"})
    assert r.status_code == 403 and "read-only" in r.text


def test_pages_show_what_the_library_holds(readonly, built):
    dataset = readonly.get("/ui/datasets/fs").text
    assert "v2" in dataset and "not_a_smiles" in dataset  # the quarantined row's raw text
    diff = readonly.get("/ui/datasets/fs", params={"diff_from": 1, "diff_to": 2}).text
    assert re.search(r"<b>\d+</b> added", diff)
    model = readonly.get("/ui/models/fs-expt").text
    assert "champion → v1" in model and "challenger → v2" in model and "Lineage" in model
    plot = readonly.get("/ui/models/fs-expt/versions/1/parity.png")
    assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG")
    campaign = readonly.get("/ui/campaigns/c1").text
    assert campaign.count('<figure class="mol') == len(built.proposed)
    assert built.proposed[0] in campaign and "±" in campaign and "<svg" in campaign


def test_search_by_substructure_similarity_and_identity(readonly):
    def hits(**params):
        return readonly.get("/ui/datasets/fs", params=params).text.count('<figure class="mol')

    assert hits(query="CCO", mode="exact") == 1
    assert hits(query="c1ccccc1", mode="substructure") >= 2
    assert hits(query="CCO", mode="similarity", threshold=1.0) == 1
    bad = readonly.get("/ui/datasets/fs", params={"query": "C1CC", "mode": "substructure"})
    assert bad.status_code == 400 and "neither a SMILES nor a SMARTS" in bad.text


def test_an_audit_filter_molops_never_records_is_a_400_page_not_an_empty_log(readonly):
    assert readonly.get("/ui/audit", params={"action": "model"}).status_code == 200
    typo = readonly.get("/ui/audit", params={"action": "modle"})
    assert typo.status_code == 400 and "action &#39;modle&#39; is not one molops records" in typo.text


def test_unknown_names_are_404_pages(readonly):
    assert readonly.get("/ui/datasets/nope").status_code == 404
    assert readonly.get("/ui/campaigns/nope").status_code == 404
    assert readonly.get("/ui/campaigns/c1", params={"iteration": 9}).status_code == 404


@pytest.fixture
def keyed(workspace_copy):
    with (
        serving(create_ui_app(workspace_copy, keyring())) as url,
        httpx.Client(base_url=url, timeout=120) as client,
    ):
        yield client, workspace_copy


def test_with_keys_every_page_needs_a_login(keyed):
    client, _ = keyed
    r = client.get("/ui/campaigns/c1?iteration=1")
    assert r.status_code == 303 and r.headers["location"] == "/ui/login?next=/ui/campaigns/c1%3Fiteration%3D1"
    bad = client.post("/ui/login", data={"key": "mk_wrong"})
    assert bad.status_code == 401 and COOKIE not in client.cookies
    client.cookies.set(COOKIE, "forged.0000")
    assert client.get("/ui/").status_code == 303


def test_login_sets_a_strict_http_only_cookie_and_never_redirects_away(keyed):
    client, _ = keyed
    r = client.post("/ui/login", data={"key": KEYS["rob"][1], "next": "//evil.example/"})
    assert r.headers["location"] == "/ui/"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
    assert KEYS["rob"][1] not in cookie.split(";")[0]  # encoded, not the key in the clear
    client.cookies.clear()
    elsewhere = client.post(
        "/ui/login", data={"key": KEYS["rob"][1]}, headers={"Origin": "http://evil.example"}
    )
    assert elsewhere.status_code == 403 and COOKIE not in client.cookies


def test_promote_needs_admin_csrf_and_records_the_key_name(keyed):
    client, ws = keyed
    token = login(client, "rob")
    form = {"version": 2, "alias": "champion", "reason": "better on the new data", "csrf_token": token}
    assert client.post("/ui/models/fs-expt/promote", data=form).status_code == 403  # read role
    client.cookies.clear()
    token = login(client, "alice")
    assert client.post("/ui/models/fs-expt/promote", data=form | {"csrf_token": "0" * 64}).status_code == 403
    cross = client.post("/ui/models/fs-expt/promote", data=form | {"csrf_token": token},
                        headers={"Origin": "http://evil.example"})  # fmt: skip
    assert cross.status_code == 403
    r = client.post("/ui/models/fs-expt/promote", data=form | {"csrf_token": token})
    assert r.status_code == 303
    assert "champion → v2" in client.get(r.headers["location"]).text
    [entry] = ws.audit.read(action="model.promote")
    assert entry.user == "alice" and entry.details["reason"] == "better on the new data"
    r = client.post(
        "/ui/models/fs-expt/rollback", data={"alias": "champion", "reason": "", "csrf_token": token}
    )
    assert r.status_code == 400 and "reason is required" in r.text


def test_upload_ingests_results_with_the_quarantine_report(keyed, built):
    client, ws = keyed
    rows = [f"{smiles},-9.5" for smiles in built.proposed[:3]]
    text = "\n".join(["smiles,expt", *rows, "garbage_smiles,1.0", ""])
    token = login(client, "rob")
    files = {"results": ("lab-results.csv", text, "text/csv")}
    assert client.post("/ui/campaigns/c1/results", data={"csrf_token": token}, files=files).status_code == 403
    client.cookies.clear()
    token = login(client, "rita")
    assert "8: 0 answered, 8 open" in client.get("/ui/campaigns/c1").text  # (a status kept for its state)
    r = client.post("/ui/campaigns/c1/results", data={"csrf_token": token, "target_col": "expt"}, files=files)
    assert r.status_code == 200, r.text[:2000]
    assert "garbage_smiles" in r.text and "quarantined" in r.text
    [entry] = ws.audit.read(action="campaign.ingest")
    assert entry.user == "rita" and entry.details["answered"] == 3
    [ingest] = ws.audit.read(action="dataset.ingest", user="rita")
    assert ingest.details["source"] == "lab-results.csv"
    assert "8: 3 answered, 5 open" in client.get("/ui/campaigns/c1").text  # not the status kept before
    wrong = client.post("/ui/campaigns/c1/results", data={"csrf_token": token},
                        files={"results": ("notes.txt", "x", "text/plain")})  # fmt: skip
    assert wrong.status_code == 400 and "not a results file" in wrong.text


def test_review_accepts_rejects_and_swaps_as_the_logged_in_reviewer(keyed):
    client, ws = keyed
    token = login(client, "rob")
    form = {"csrf_token": token, "iteration": 1, "action": "accept", "ids": ["1", "2"]}
    assert client.post("/ui/campaigns/c1/review", data=form).status_code == 403
    client.cookies.clear()
    token = login(client, "rita")
    page = client.get("/ui/campaigns/c1").text
    assert 'id="review-form"' in page and 'for="sel-1"' in page
    r = client.post("/ui/campaigns/c1/review", data=form | {"csrf_token": token})
    assert r.status_code == 303 and "%231%20accepted" in r.headers["location"]
    no_reason = form | {"csrf_token": token, "action": "reject", "ids": ["3"]}
    refused = client.post("/ui/campaigns/c1/review", data=no_reason)
    assert refused.status_code == 400 and "needs a reason" in refused.text
    rejected = client.post("/ui/campaigns/c1/review", data=no_reason | {"reason": "toxicophore"})
    assert rejected.status_code == 303
    swap = {"csrf_token": token, "iteration": 1, "proposal": "4", "smiles": "OCCO", "reason": "IP"}
    assert client.post("/ui/campaigns/c1/swap", data=swap).status_code == 303
    page = client.get("/ui/campaigns/c1").text
    assert page.count("<b>accepted</b>") == 2 and "<b>rejected</b>: toxicophore (by rita" in page
    assert "swapped for" in page and "OCCO" in page
    entries = ws.audit.read(action="campaign.review")
    assert [e.user for e in entries] == ["rita"] * 3
    assert entries[1].details["rejected"] == [3] and entries[1].details["reason"] == "toxicophore"


def test_explain_page_splits_a_prediction_over_the_atoms(readonly):
    r = readonly.get("/ui/explain", params={"model": "fs-expt", "smiles": "c1ccccc1O"})
    assert r.status_code == 200, r.text[:1000]
    assert "<svg" in r.text and "shap_tree" in r.text and r.text.count("<td>O</td>") == 1
    bad = readonly.get("/ui/explain", params={"model": "fs-expt", "smiles": "C1CC"})
    assert bad.status_code == 200 and 'role="alert"' in bad.text
    unknown = readonly.get("/ui/explain", params={"model": "nope", "smiles": "CCO"})
    assert unknown.status_code == 400 and "no registered model &#39;nope&#39;" in unknown.text
    campaign = readonly.get("/ui/campaigns/c1").text
    assert "/ui/explain?model=fs-expt&amp;smiles=" in campaign


def test_monitoring_runs_the_checks_on_each_window(readonly):
    page = readonly.get("/ui/monitoring", params={"model": "fs-expt", "windows": 2, "hours": 12})
    assert page.status_code == 200, page.text[:1000]
    body = page.text.split('id="h-checks"', 1)[1]
    assert body.count("→") >= 2 and "insufficient_data" in body  # two windows, no predictions in them
    assert "descriptor" in body  # a drift check's column
    assert "campaign/c1</td>" in page.text  # the log's campaign predictions, not a model to monitor


def test_an_upload_over_the_limit_is_refused_before_any_ingest(keyed, monkeypatch):
    from molops.ui import routes_campaigns

    client, ws = keyed
    monkeypatch.setattr(routes_campaigns, "MAX_UPLOAD_BYTES", 64)
    token = login(client, "rita")
    files = {"results": ("big.csv", "smiles,expt\n" + "CCO,1.0\n" * 20, "text/csv")}
    r = client.post("/ui/campaigns/c1/results", data={"csrf_token": token}, files=files)
    assert r.status_code == 400 and "larger than" in r.text
    assert ws.audit.read(action="campaign.ingest") == []
