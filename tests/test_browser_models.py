"""The dashboard with a hostile models folder (issue 24), in Debian chromium, offline.

Serves ``app.py --models DIR`` where DIR holds the tiny models, one latent model whose ``vae`` lies
outside DIR and one absurd config (a 2048² grid). The page must load, offer the good backends and
show each refused folder with its reason in the sidebar; a screenshot goes to docs/screenshots/.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import save_tiny_models
from test_browser import CHROMIUM, CHROMIUM_ARGS, ROOT, _save_screenshot, missing_browser

pytestmark = pytest.mark.browser


def _missing_prerequisite() -> str | None:
    if missing_browser():
        return missing_browser()
    if not (ROOT / "data" / "nextsim_like_default.nc").is_file():
        return "the bundled reference data/nextsim_like_default.nc is missing"
    return None


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny models, plus ldm-gaussian pointing at a VAE outside the folder and a 2048² config."""
    reason = _missing_prerequisite()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("hostile") / "models"
    save_tiny_models(root)
    outside = shutil.copytree(root / "vae-gaussian", root.parent / "outside-vae")
    cfg = root / "ldm-gaussian" / "config.json"
    cfg.write_text(json.dumps({**json.loads(cfg.read_text()), "vae": str(outside)}))
    (root / "giant").mkdir()
    (root / "giant" / "config.json").write_text(json.dumps({"kind": "dm", "grid_size": 2048}))
    return root


def test_a_hostile_models_folder_shows_its_refusals(hostile, panel_serve, watch_offline, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    args = ["--models", str(hostile), "--no-autogenerate", "--no-tour-prep"]
    with panel_serve(ROOT / "app.py", app_args=args, startup_s=90) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1500, "height": 950}).new_page()
            external, errors = watch_offline(page)
            page.set_default_timeout(120_000)
            expect.set_options(timeout=120_000)
            page.goto(url)
            notice = page.locator(".models-notice")
            for text in ("2 model folders refused", "ldm-gaussian", "must name something inside the models folder",
                         "giant", "grid_size must be a whole number in 4..1024"):
                expect(notice).to_contain_text(text)
            for good in ("dm · tiny data-space test model", "ldm-censored"):  # the good folders still work
                expect(page.get_by_role("checkbox", name=good)).to_be_visible()
            _save_screenshot(page, "broken_models.png", tmp_path)
            assert not external, external
            assert not errors, errors
        finally:
            browser.close()
