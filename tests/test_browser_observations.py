"""The Observations tab in a real browser (Debian chromium driven by Playwright, fully offline).

Serves ``app.py`` on a free localhost port with the observed family (``?dataset=osisaf``), opens the
Observations tab, presses Run with its defaults (8 members of the fastest latent backend, DPS, 10
steps), waits for the six maps and the scores, reveals the truth, saves
``docs/screenshots/observations.png`` and requires no outside request and no console error.
"""

from __future__ import annotations

import logging
import time

import pytest

from test_browser import APP, CHROMIUM, CHROMIUM_ARGS, ROOT, _canvas_painted, _missing_prerequisite, _save_screenshot

log = logging.getLogger(__name__)
pytestmark = pytest.mark.browser

_TITLES = """() => { const out = []; for (const d of Bokeh.documents) for (const m of d._all_models.values())
                        if (typeof m.text === 'string') out.push(m.text); return out; }"""

#: Line colours of each map (by title) in the page, the newest figure of a title last.
_LINE_COLOURS = """() => { const out = {}; for (const d of Bokeh.documents) for (const m of d._all_models.values())
                            if (m.title && typeof m.title.text === 'string' && m.renderers) out[m.title.text] =
                              m.renderers.filter(r => r.glyph && r.glyph.line_color !== undefined)
                                         .map(r => { const c = r.glyph.line_color;
                                                     return c && c.value !== undefined ? String(c.value) : String(c); });
                          return out; }"""


@pytest.fixture(scope="module")
def server(panel_serve):
    reason = _missing_prerequisite()
    if reason:
        pytest.skip(reason)
    if APP == ROOT / "app.py" and not (ROOT / "models" / "osisaf-ldm-gaussian" / "model.safetensors").is_file():
        pytest.skip("the osisaf-ldm-gaussian checkpoint is missing")
    with panel_serve(APP, app_args=["--no-autogenerate"], startup_s=90) as url:
        yield url


def _has_title(page, start: str) -> None:
    page.wait_for_function(
        """start => { for (const d of Bokeh.documents) for (const m of d._all_models.values())
                        if (typeof m.text === 'string' && m.text.startsWith(start)) return true; return false; }""",
        arg=start)


def test_observations_tab_fills_in_a_day_and_reveals_the_truth(server, tmp_path, watch_offline):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1500, "height": 1250}).new_page()
            external, errors = watch_offline(page)
            page.set_default_timeout(240_000)
            expect.set_options(timeout=240_000)  # model loading and 8 guided members on a busy 2-core CPU

            page.goto(f"{server}?dataset=osisaf")
            page.wait_for_selector(".bk-tab")
            page.locator(".bk-tab", has_text="Observations").first.click()
            expect(page.get_by_text("Filling the gaps")).to_be_visible()
            expect(page.locator(".obs-source")).to_contain_text("OSI SAF")
            expect(page.locator(".obs-source")).to_contain_text("never trained on")

            t0 = time.perf_counter()
            page.locator(".obs-run").get_by_role("button").click()
            expect(page.locator(".obs-status")).to_contain_text("done in")
            log.warning("Observations: first result %.1f s after the click", time.perf_counter() - t0)
            _has_title(page, "probability of ice")
            titles = page.evaluate(_TITLES)
            assert any(t.startswith("observed · 2019-03-15") for t in titles), titles
            assert any(t.startswith("truth · held out") for t in titles), titles
            assert any(t.startswith("osisaf-ldm-gaussian · member 0") for t in titles), titles
            expect(page.locator(".observation-scores")).to_contain_text("climatology")
            expect(page.locator(".observation-scores")).to_contain_text("inpainting")

            page.get_by_role("button", name="Reveal truth").click()
            _has_title(page, "truth · 2019-03-15")
            page.wait_for_timeout(2000)  # let Bokeh paint the new figures
            canvases = page.locator(".observation-maps canvas")
            assert canvases.count() >= 1 and any(_canvas_painted(canvases.nth(i)) for i in range(canvases.count()))
            _save_screenshot(page, "observations.png", tmp_path)
            colours = page.evaluate(_LINE_COLOURS)
            assert set(colours["probability of ice"]) >= {"#d95f02", "#222222"}, colours  # the two ice edges
            assert {"#ffd23f", "#ee4266"} <= set(colours["osisaf-ldm-gaussian · member 0"]), colours  # its MIZ
        finally:
            browser.close()
    assert not external, f"requests outside localhost: {external}"
    assert not errors, f"console errors: {errors}"
