"""Teaching and outreach in a real browser (Debian chromium via Playwright, fully offline), 1920 × 1080.

Serves ``app.py`` (``--warm``: the guided tour's results are computed when the server starts),
aborts and records every request that does not go to 127.0.0.1, then:

- three maps in a row: each map canvas at least 460 px wide in the normal view and 560 px in
  presentation mode (the sidebar hidden), saved as ``after_three_maps_*.png``;
- a lesson link (``?presentation=true&tour=1``) opens in presentation mode on the tour's first stop;
- once the tour is prepared, walks all its stops from the keyboard (Page Down) and the Next
  button, saving ``stepN_<stop>.png`` of each into docs/screenshots/tour/, and checks on each that
  its slide, its words and its picture (made once per server) are shown, and the picture ends
  inside the window;
- saves the view shown (a slide's picture) as a PNG; "Explore this" on the last stop (filling the
  gaps) opens the Observations tab on the run the slide shows, at once (from the server's bank); the tour
  reopened, "Explore this" on the speed stop opens the live maps at its settings;
- requires no console errors.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from test_browser import missing_browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
CHECKPOINTS = ("dm", "vae-gaussian", "ldm-gaussian", "vae-censored", "ldm-censored")
SHOTS = ROOT / "docs" / "screenshots" / "tour"
WINDOW = {"width": 1920, "height": 1080}
STOPS = ("ice", "denoise", "latent", "finding1", "finding2", "finding3", "speed", "gaps")
pytestmark = pytest.mark.browser

#: Boxes [x, y, width, height] (px) of the visible plot canvases in the page, through every shadow root
#: (the tour's hidden slides and tabs stay laid out under the shown one, invisible).
CANVASES_JS = """() => { const out = []; const walk = (root) => { for (const el of root.querySelectorAll('*')) {
    if (el.tagName === 'CANVAS' && getComputedStyle(el).visibility === 'visible') { const r = el.getBoundingClientRect();
      if (r.width > 100 && r.height > 100) out.push([r.x, r.y, r.width, r.height]); }
    if (el.shadowRoot) walk(el.shadowRoot); } }; walk(document); return out; }"""
#: The lowest edge (px) of any visible plot canvas.
BOTTOM_JS = """() => { let bottom = 0; const walk = (root) => { for (const el of root.querySelectorAll('*')) {
    if (el.tagName === 'CANVAS' && getComputedStyle(el).visibility === 'visible') { const r = el.getBoundingClientRect(); if (r.width > 150 && r.height > 150)
      bottom = Math.max(bottom, r.bottom); } if (el.shadowRoot) walk(el.shadowRoot); } }; walk(document); return bottom; }"""

#: Texts painted in the page that belong to a hidden layer of the tour's stack (slides and tabs lie
#: in one grid cell, the hidden ones transparent): [layer classes, text], empty when nothing leaks.
LEAKS_JS = """() => { const up = (x) => x.parentNode instanceof ShadowRoot ? x.parentNode.host : x.parentNode;
    const out = []; const walk = (root) => { for (const el of root.querySelectorAll('*')) {
        if (el.shadowRoot) walk(el.shadowRoot);
        const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
        if (!own || getComputedStyle(el).visibility !== 'visible') continue;
        let painted = true, layer = null;
        for (let x = el; x && x.nodeType === 1; x = up(x)) {
            if (getComputedStyle(x).opacity === '0') painted = false;
            if (!layer && x.style && x.style.gridArea) layer = x; }
        if (painted && layer && getComputedStyle(layer).visibility !== 'visible')
            out.push([String(layer.className), el.textContent.trim().slice(0, 60)]); } };
    walk(document); return out; }"""


def _missing_prerequisite() -> str | None:
    if missing_browser():
        return missing_browser()
    models = Path(os.environ.get("SEAICE_EXPLORER_MODELS", ROOT / "models"))
    missing = [c for c in CHECKPOINTS if not (models / c / "model.safetensors").is_file()]
    if missing:
        return f"no trained checkpoints yet in {models} ({', '.join(missing)} missing)"
    return None


@pytest.fixture(scope="module")
def server(panel_serve):
    reason = _missing_prerequisite()
    if reason:
        pytest.skip(reason)
    with panel_serve(ROOT / "app.py", ["--warm"], startup_s=300) as url:  # --warm: the tour is prepared at start-up
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser, watch_offline):
    """A 1920 × 1080 page that records outside requests and console errors (checked at the end)."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport=WINDOW, accept_downloads=True)
    page = context.new_page()
    external, errors = watch_offline(page)
    page.set_default_timeout(300_000)
    expect.set_options(timeout=300_000)  # generation and the tour's preparation on a loaded 2-core CPU
    yield page
    context.close()
    assert not external, f"requests outside localhost: {external}"
    assert not errors, f"console errors: {errors}"


def _save(page, name: str) -> Path:
    """The window as a palette PNG in docs/screenshots/tour/ (full 1920 × 1080: readable at full size)."""
    from PIL import Image

    SHOTS.mkdir(parents=True, exist_ok=True)
    img = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    path = SHOTS / name
    img.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path


def _map_widths(page) -> list[int]:
    """Width of each map figure's canvas (a figure draws on two stacked canvases: one box per x)."""
    boxes = page.evaluate(CANVASES_JS)
    return [w for _, w in sorted({(round(x), round(w)) for x, _, w, _ in boxes})]


def _wait_map_widths(page, minimum: int, count: int = 3) -> list[int]:
    """The map canvases' widths once ``count`` are at least ``minimum`` px (maps resize after the page reports its size)."""
    js = f"""() => {{ const xs = new Set(); for (const [x, y, w, h] of ({CANVASES_JS})())
               if (w >= {minimum}) xs.add(Math.round(x)); return xs.size >= {count}; }}"""
    try:
        page.wait_for_function(js, polling=500, timeout=120_000)
    finally:
        widths = _map_widths(page)
    return widths


def _text(locator) -> str:
    """Text of an element including its (Panel) shadow DOM."""
    return locator.evaluate(
        """e => { const walk = n => (n.shadowRoot ? walk(n.shadowRoot) : '') +
                    [...n.childNodes].map(c => c.nodeType === 3 ? c.textContent : walk(c)).join('');
                  return walk(e); }""")


def test_three_maps_fill_a_1920_window(server, page):
    from playwright.sync_api import expect

    page.goto(server)  # the default comparison: the reference and two backends, three maps in a row
    expect(page.get_by_text("done in")).to_be_visible()
    normal = _wait_map_widths(page, 460)
    _save(page, "after_three_maps_normal_1920x1080.png")
    print(f"map canvas widths at 1920 x 1080, normal view: {normal} px")
    assert len(normal) == 3 and min(normal) >= 460, normal  # 353 px before (issue 14)
    page.get_by_role("button", name="Presentation").click()
    shown = _wait_map_widths(page, 560)
    _save(page, "after_three_maps_presentation_1920x1080.png")
    print(f"map canvas widths at 1920 x 1080, presentation mode: {shown} px")
    assert len(shown) == 3 and min(shown) >= 560, shown
    expect(page.locator("#sidebar")).to_be_hidden()
    assert "presentation=true" in page.url.lower()  # a link to this page opens in presentation mode
    page.keyboard.press("Escape")  # leaves presentation mode
    expect(page.locator("#sidebar")).to_be_visible()


def _verdicts() -> dict[str, str]:
    from seaice_explorer.evaluation.reports import read_report, report_folder

    report = read_report(report_folder("default"))
    return {f"finding{f.number}": f.verdict for f in report.findings} if report else {}


def _show_stop(page, k: int, key: bool) -> float:
    """Go to stop ``k`` (Page Down or the Next button); seconds until its card shows it."""
    from playwright.sync_api import expect

    t0 = time.perf_counter()
    if key:
        page.keyboard.press("PageDown")
    else:
        page.locator(".tour-next button").click()
    expect(page.locator(".tour-title")).to_contain_text(f"{k} / {len(STOPS)}")
    return time.perf_counter() - t0


def _picture(page, stop: str) -> dict:
    """The stop's picture in its slide: loaded, its width and its bottom edge (px)."""
    img = page.locator(f".tour-slide-{stop} img")
    img.wait_for(state="attached")
    return img.evaluate("e => ({loaded: e.complete && e.naturalWidth > 0, width: e.getBoundingClientRect().width, "
                        "bottom: e.getBoundingClientRect().bottom, src: e.src.slice(0, 15)})")


def test_the_tour_in_presentation_mode(server, page, tmp_path):
    from PIL import Image
    from playwright.sync_api import expect

    page.goto(f"{server}?presentation=true&tour=1")  # a lesson link
    expect(page.locator(".tour-title")).to_contain_text(f"1 / {len(STOPS)}")
    expect(page.locator("#sidebar")).to_be_hidden()
    expect(page.get_by_text("All steps ready")).to_be_visible(timeout=1_800_000)  # made at start-up
    page.get_by_role("button", name="Close tour").click()
    expect(page.locator(".tour-card")).to_be_hidden()
    page.get_by_role("button", name="Guided tour").click()  # the first stop, afresh
    verdicts = _verdicts()
    seconds = {}
    for k, stop in enumerate(STOPS, start=1):
        if k > 1:
            seconds[stop] = _show_stop(page, k, key=k % 2 == 0)
        expect(page.locator(f".tour-slide-{stop}")).to_be_visible()  # a layer shown, nothing drawn
        words = _text(page.locator(f".tour-text-{stop}"))
        if stop in verdicts:
            assert f"{verdicts[stop]} here" in words, words
        page.wait_for_timeout(1000)  # let the browser paint
        _save(page, f"step{k}_{stop}.png")
        picture = _picture(page, stop)
        assert picture["loaded"] and picture["width"] > 500, (stop, picture)
        assert picture["src"].startswith("data:image/" + ("gif" if stop in ("denoise", "latent") else "png")), picture
        assert picture["bottom"] <= WINDOW["height"] + 1, f"stop {stop}: its picture ends below the window ({picture})"
        if stop.startswith("finding"):
            expect(page.locator(f".tour-slide-{stop}")).to_be_visible()
            assert page.locator(".tour-forest img").count() == 3  # one forest plot per finding, made once
        assert page.evaluate(LEAKS_JS) == [], f"stop {stop}: text of a hidden layer shows through"
        if stop == "denoise":  # the view to take away: the animation's finished frame as a PNG
            with page.expect_download() as info:
                page.locator(".download-view button").click()
            target = tmp_path / "view.png"
            info.value.save_as(target)
            assert Image.open(target).format == "PNG"
    print("seconds per step (click or key to the stop's card):", {k: round(v, 2) for k, v in seconds.items()})
    page.get_by_role("button", name="Explore this").click()  # the gap filling: the Observations tab, its run
    expect(page.locator(".tour-card")).to_be_hidden()
    expect(page.locator(".obs-status")).to_contain_text("done in", timeout=30_000)  # the bank's run, not a new one
    expect(page.locator(".observation-scores")).to_contain_text("inpainting")
    page.wait_for_timeout(2000)  # let Bokeh paint the maps
    _save(page, "explore_gaps.png")
    page.get_by_role("button", name="Guided tour").click()
    expect(page.locator(".tour-title")).to_contain_text(f"1 / {len(STOPS)}")
    for k in range(2, STOPS.index("speed") + 2):
        _show_stop(page, k, key=True)
    page.get_by_role("button", name="Explore this").click()  # the live dashboard at the speed stop's settings
    expect(page.locator(".tour-card")).to_be_hidden()
    assert len(_wait_map_widths(page, 300, count=3)) >= 3  # the reference and the two backends, live
    _save(page, "explore_speed.png")
