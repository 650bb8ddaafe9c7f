"""The dashboard in a real browser: Debian chromium driven by Playwright, fully offline.

Serves ``app.py`` on a free localhost port, aborts (and records) every request that does not go
to 127.0.0.1, then: loads the page with settings in the URL, selects two backends, generates
2 samples with 10 steps, checks the maps are drawn, checks that the bounds mode a data-space
backend cannot apply is not offered (with its reason), toggles the physical bounds and sees the
violation fractions change, opens the MIZ tab, downloads the NetCDF and opens it with xarray,
records a denoising replay, takes screenshots (also into docs/screenshots/), and requires no
console errors.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
#: Another app file to serve (development only, e.g. with a fake generator); default: the real app.
APP = Path(os.environ.get("SEAICE_EXPLORER_BROWSER_APP", ROOT / "app.py"))
CHECKPOINTS = ("dm", "vae-gaussian", "ldm-gaussian", "vae-censored", "ldm-censored")
SCREENSHOTS = ROOT / "docs" / "screenshots"

pytestmark = pytest.mark.browser


def missing_browser() -> str | None:
    """Why no browser test can run here (Debian chromium or Playwright missing), or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    return None


def missing_app_data() -> str | None:
    """Why the shipped app cannot be served here (its checkpoints or its reference missing), or None."""
    models = Path(os.environ.get("SEAICE_EXPLORER_MODELS", ROOT / "models"))
    missing = [c for c in CHECKPOINTS if not (models / c / "model.safetensors").is_file()]
    if missing:
        return f"no trained checkpoints yet in {models} ({', '.join(missing)} missing)"
    if not (ROOT / "data" / "nextsim_like_default.nc").is_file():
        return "the bundled reference data/nextsim_like_default.nc is missing"
    return None


def _missing_prerequisite() -> str | None:
    if missing_browser():
        return missing_browser()
    return missing_app_data() if APP == ROOT / "app.py" else None


@pytest.fixture(scope="module")
def server(panel_serve):
    reason = _missing_prerequisite()
    if reason:
        pytest.skip(reason)
    with panel_serve(APP, app_args=["--no-autogenerate"], startup_s=90) as url:
        yield url


def _save_screenshot(page, name: str, tmp_path: Path) -> Path:
    """Full-resolution PNG in the test's tmp dir, and a small palette PNG in docs/screenshots/."""
    from PIL import Image

    path = tmp_path / name
    page.screenshot(path=str(path))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    img = Image.open(path).convert("RGB")
    img.thumbnail((1400, 1400))
    img.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(SCREENSHOTS / name, optimize=True)
    return path


def _canvas_painted(locator) -> bool:
    """True when a canvas has pixels of more than one colour (something was drawn)."""
    return locator.evaluate(
        """c => { const ctx = c.getContext('2d'); if (!ctx || !c.width || !c.height) return false;
                 const d = ctx.getImageData(0, 0, c.width, c.height).data; const seen = new Set();
                 for (let i = 0; i < d.length; i += 4 * 97) { seen.add(d[i] + ',' + d[i+1] + ',' + d[i+2]);
                   if (seen.size > 3) return true; } return false; }""")


def _text(locator) -> str:
    """Text of an element including its (Panel) shadow DOM."""
    return locator.evaluate(
        """e => { const walk = n => (n.shadowRoot ? walk(n.shadowRoot) : '') +
                    [...n.childNodes].map(c => c.nodeType === 3 ? c.textContent : walk(c)).join('');
                  return walk(e); }""")


def test_dashboard_end_to_end_offline(server, tmp_path, watch_offline):
    import xarray as xr
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1500, "height": 950}, accept_downloads=True)
            page = context.new_page()
            external, errors = watch_offline(page)
            page.set_default_timeout(120_000)
            expect.set_options(timeout=120_000)  # generation on a 2-core CPU, model loading included

            # settings travel in the URL: backends, seed, sample count, steps, bounds (the old name
            # "none" still works: it is the raw mean now)
            page.goto(f'{server}?backends=["dm"]&n=2&steps=10&seed=3&bounds=none')
            page.wait_for_selector("canvas")
            expect(page.get_by_text("Samples per model: 2")).to_be_visible()
            expect(page.get_by_role("checkbox", name="dm · data-space diffusion")).to_be_checked()
            expect(page.get_by_role("button", name="raw mean", exact=True)).to_have_class(re.compile("active"))

            # the data-space backend has no decoder to draw from: that mode is not offered, with the reason
            rule = page.locator(".bounds-rule")
            expect(rule).to_contain_text("diffuses in data space")
            expect(page.get_by_role("button", name="decoder draw")).to_have_count(0)

            # two backends, the latent pair (fast on a CPU): Gaussian vs censored decoder
            page.get_by_text("dm · data-space diffusion").click()
            page.get_by_text("ldm-gaussian · latent diffusion, Gaussian decoder").click()
            page.get_by_text("ldm-censored · latent diffusion, censored decoder").click()
            expect(page.get_by_role("button", name="decoder draw")).to_have_count(1)
            page.get_by_role("button", name="Generate").click()
            expect(page.get_by_text("done in")).to_be_visible()
            summary = page.locator(".violation-summary")
            expect(summary).to_contain_text("ldm-censored")
            expect(summary).to_contain_text("ldm-gaussian")
            before = _text(summary)
            assert "(raw)" in before
            page.wait_for_timeout(1500)  # let Bokeh paint the new figures
            canvases = page.locator(".maps canvas")
            assert canvases.count() >= 1
            assert any(_canvas_painted(canvases.nth(i)) for i in range(canvases.count()))
            titles = page.evaluate(
                """() => { const out = []; for (const d of Bokeh.documents) for (const m of d._all_models.values())
                             if (typeof m.text === 'string' && m.text.includes('·')) out.push(m.text);
                           return out; }""")
            assert any(t.startswith("ldm-gaussian · member") for t in titles), titles
            assert any(t.startswith("ldm-censored · member") for t in titles), titles
            assert any(t.startswith("reference") for t in titles), titles
            # the paper's speed claim, live: what this generation cost per backend
            timing = page.locator(".timing")
            expect(timing).to_contain_text("What this generation cost")
            expect(timing).to_contain_text("Select a data-space and a latent backend together")
            _save_screenshot(page, "maps.png", tmp_path)

            # the bounds toggle is live: clamp to bounds, the same projection on both backends
            page.get_by_role("button", name="clamp to bounds", exact=True).click()
            expect(summary).to_contain_text("ldm-censored (clamp): 0 %")
            after = _text(summary)
            assert after != before and "ldm-gaussian (clamp): 0 %" in after

            # MIZ statistics tab
            page.locator(".bk-tab", has_text="MIZ statistics").first.click()
            expect(page.get_by_text("Scores against the reference")).to_be_visible()
            page.wait_for_timeout(1500)
            _save_screenshot(page, "miz.png", tmp_path)

            # NetCDF download, opened with xarray
            with page.expect_download() as info:
                page.get_by_role("button", name="Samples (NetCDF)").click()
            target = tmp_path / "samples.nc"
            info.value.save_as(target)
            with xr.open_dataset(target) as ds:
                assert list(ds["backend"].values) == ["ldm-gaussian", "ldm-censored"]
                assert ds.sizes["sample"] == 2 and ds.attrs["seed"] == 3 and ds.attrs["steps"] == 10
                assert ds.attrs["bounds_ldm-gaussian"] == "clamp" and ds.attrs["bounds_ldm-censored"] == "clamp"

            # the denoising replay: latent next to the decoded state
            page.locator(".bk-tab", has_text="Watch it denoise").first.click()
            page.get_by_role("button", name="Record denoising").click()
            expect(page.get_by_text("recorded ldm-censored")).to_be_visible()
            expect(page.get_by_text("Step 10 of 10")).to_be_visible()
            page.wait_for_timeout(1500)
            titles = page.evaluate(
                """() => { const out = []; for (const d of Bokeh.documents) for (const m of d._all_models.values())
                             if (typeof m.text === 'string' && m.text.includes('·')) out.push(m.text);
                           return out; }""")
            assert "ldm-censored · noisy latent, channel 0" in titles, titles
            _save_screenshot(page, "denoise.png", tmp_path)

            # the observed family: real OSI SAF concentration, judged against 2019
            page.locator(".bk-tab", has_text="Maps").first.click()
            page.get_by_role("combobox", name="Data set").select_option(label="OSI SAF observations (real, concentration)")
            expect(page.get_by_text("osisaf-ldm-censored · latent diffusion, censored decoder")).to_be_visible()
            variable = page.get_by_role("combobox", name="Variable")
            expect(variable.locator("option")).to_have_count(1)  # the observations have sic only
            expect(variable).to_have_value(re.compile("sic"))
            page.get_by_role("button", name="Generate").click()
            expect(page.get_by_text("done in")).to_be_visible()
            page.wait_for_function(
                """() => { for (const d of Bokeh.documents) for (const m of d._all_models.values())
                             if (typeof m.text === 'string' && m.text.startsWith('osisaf-ldm-censored · member'))
                               return true; return false; }""")
            page.wait_for_timeout(1500)
            titles = page.evaluate(
                """() => { const out = []; for (const d of Bokeh.documents) for (const m of d._all_models.values())
                             if (typeof m.text === 'string' && m.text.includes('·')) out.push(m.text);
                           return out; }""")
            assert any(t.startswith("reference") and "2019" in t for t in titles), titles  # the year never seen
            # the synthetic family is no longer offered
            expect(page.get_by_text("ldm-gaussian · latent diffusion, Gaussian decoder", exact=True)).to_have_count(0)
            canvases = page.locator(".maps canvas")
            assert any(_canvas_painted(canvases.nth(i)) for i in range(canvases.count()))
            _save_screenshot(page, "osisaf_maps.png", tmp_path)
            page.locator(".bk-tab", has_text="MIZ statistics").first.click()
            expect(page.get_by_text("Scores against the reference")).to_be_visible()
            page.wait_for_timeout(1500)
            _save_screenshot(page, "osisaf_miz.png", tmp_path)
        finally:
            browser.close()
    assert not external, f"requests outside localhost: {external}"
    assert not errors, f"console errors: {errors}"


def test_the_offline_watch_catches_outside_requests_and_console_errors(watch_offline):
    """The check the browser tests rely on: an outside request is aborted and recorded, and so is a
    console error (no server needed)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            external, errors = watch_offline(page)
            page.set_content('<img src="https://example.invalid/coast.png"><script>console.error("boom")</script>',
                             wait_until="load")
            page.wait_for_timeout(200)
        finally:
            browser.close()
    assert external == ["https://example.invalid/coast.png"]
    assert any("boom" in e for e in errors), errors
