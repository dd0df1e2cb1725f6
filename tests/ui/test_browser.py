"""The web app in a real browser (Playwright driving Debian's headless Chromium): every page, its
accessibility basics, a login and promotion round trip, a review round trip and an upload.

Screenshots of every page go to the test's output folder, and to ``$MOLOPS_UI_SCREENSHOTS`` when set
(``MOLOPS_UI_SCREENSHOTS=docs/ui`` refreshes the docs' pictures).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from molops.ui import create_ui_app

from ._browser import DOCS_SHOTS, chromium_path, unavailable
from ._server import serving
from .conftest import KEYS, keyring

PAGES = {
    "index": "/ui/",
    "datasets": "/ui/datasets",
    "dataset": "/ui/datasets/fs?query=c1ccccc1&mode=substructure",
    "models": "/ui/models",
    "model": "/ui/models/fs-expt",
    "campaigns": "/ui/campaigns",
    "campaign": "/ui/campaigns/c1",
    "monitoring": "/ui/monitoring",
    "audit": "/ui/audit",
    "explain": "/ui/explain?model=fs-expt&smiles=Oc1ccc(Cl)cc1",
}
NAV = ["/ui/", "/ui/datasets", "/ui/models", "/ui/campaigns", "/ui/monitoring", "/ui/audit"]
#: Form controls without a label: a <label for>, a wrapping <label>, aria-label or aria-labelledby.
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => !['hidden', 'submit', 'button'].includes(e.type))
  .filter(e => !(e.id && document.querySelector(`label[for="${e.id}"]`)) && !e.closest('label')
               && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
  .map(e => e.outerHTML)"""


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    if path is None:
        unavailable("no chromium on PATH (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def app_url(workspace_copy):
    with serving(create_ui_app(workspace_copy, keyring())) as url:
        yield url, workspace_copy


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    context.set_default_timeout(120_000)  # a first model page loads MLflow; the machine may be busy
    context.set_default_navigation_timeout(120_000)
    yield context.new_page()
    context.close()


def log_in(page, url: str, name: str, then: str = "/ui/") -> None:
    page.goto(url + then)
    assert "/ui/login" in page.url  # every page needs a login when keys are configured
    page.get_by_label("API key").fill(KEYS[name][1])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(url + then)


def shoot(page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"))
    if DOCS_SHOTS:
        Path(DOCS_SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(DOCS_SHOTS) / f"{name}.png"))


def test_every_page_renders_is_labelled_and_reachable_by_keyboard(page, app_url, tmp_path):
    url, _ = app_url
    log_in(page, url, "alice")
    for name, path in PAGES.items():
        response = page.goto(url + path)
        assert response is not None and response.status == 200, (name, response and response.status)
        assert page.locator("h1").count() == 1
        assert page.evaluate(UNLABELLED) == [], name
        images = page.locator("img")
        for i in range(images.count()):
            assert images.nth(i).get_attribute("alt"), name
        shoot(page, tmp_path, name)
    page.goto(url + "/ui/campaigns")
    reached = []
    for _ in range(len(NAV) + 3):  # the skip link, the nav links, then the rest
        page.keyboard.press("Tab")
        reached.append(page.evaluate("() => document.activeElement.getAttribute('href')"))
    assert reached[0] == "#main" and all(link in reached for link in NAV), reached


def test_login_then_promote_round_trip(page, app_url, tmp_path):
    url, ws = app_url
    log_in(page, url, "alice", "/ui/models/fs-expt")
    page.get_by_label("Version", exact=True).select_option("2")
    page.get_by_label("Alias", exact=True).select_option("champion")
    page.get_by_label("Reason", exact=True).first.fill("better on the lab's new data")
    page.get_by_role("button", name="Promote").click()
    page.wait_for_selector("text=Done: champion → v2")
    assert page.locator(".alias", has_text="champion → v2").count() >= 1
    shoot(page, tmp_path, "promoted")
    [entry] = ws.audit.read(action="model.promote")
    assert entry.user == "alice" and entry.details["reason"] == "better on the lab's new data"
    page.goto(url + "/ui/audit?action=model")
    assert page.locator("td", has_text="model.promote").count() == 1


def test_a_reader_sees_no_forms_and_logs_out(page, app_url):
    url, _ = app_url
    log_in(page, url, "rob", "/ui/campaigns/c1")
    assert page.locator("form#review-form").count() == 0 and page.locator("#u-file").count() == 0
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(url + "/ui/login")
    page.goto(url + "/ui/models")
    assert "/ui/login" in page.url


def test_review_round_trip_then_upload_results(page, app_url, built, tmp_path):
    url, ws = app_url
    log_in(page, url, "rita", "/ui/campaigns/c1")
    page.get_by_label("select #1").check()
    page.get_by_label("select #2").check()
    page.get_by_role("button", name="Accept selected").click()
    page.wait_for_selector("text=Recorded: #1 accepted, #2 accepted")
    page.get_by_label("select #3").check()
    page.get_by_label("Reject because").select_option("IP")
    page.get_by_role("button", name="Reject selected").click()
    page.wait_for_selector("text=#3 rejected")
    assert page.locator("figure.mol.rejected").count() == 1
    assert page.locator("figure.mol.accepted").count() == 2
    shoot(page, tmp_path, "reviewed")
    results = tmp_path / "plate-7.csv"
    rows = [f"{smiles},-9.5" for smiles in built.proposed[:2]]
    results.write_text("\n".join(["smiles,expt", *rows, "not_a_molecule,1.0", ""]))
    page.get_by_label("Results file").set_input_files(str(results))
    page.get_by_role("button", name="Upload and ingest").click()
    page.wait_for_selector("text=Quarantined rows")
    assert page.locator("td", has_text="not_a_molecule").count() == 1
    shoot(page, tmp_path, "uploaded")
    [entry] = ws.audit.read(action="campaign.ingest")
    assert entry.user == "rita" and entry.details["answered"] == 2
    page.get_by_role("link", name="Back to campaign c1").click()
    assert page.locator("form#review-form").count() == 0  # results are in: the review is closed
