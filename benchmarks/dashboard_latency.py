"""Dashboard latencies in a real browser (Debian chromium + Playwright), printed as JSON.

Serves ``app.py`` on a free localhost port, opens one page to warm the server (reference summary,
model loading, the default generation), then on a second page measures:

- ``first_map_s``: navigation start to the first painted map canvas (warm server);
- ``generated_maps_s``: navigation start to the generated panels (cached on a warm server);
- ``switch_variable_ms``: choosing another variable to the colour bar showing its units;
- ``switch_member_ms``: moving the member slider to the panel title naming the new member;
- ``generate_s``: pressing Generate (new seed, nothing cached) to the results shown.

Targets (issue 5): first map ≤ 3 s, switching ≤ 300 ms. Timings include the websocket round trip
and Bokeh's update; they are medians of ``--repeat`` tries. Usage::

    python benchmarks/dashboard_latency.py [--repeat 5] [--app app.py] [--models DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import ROOT, serve  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

TITLES_JS = """() => { const out = []; for (const d of Bokeh.documents) for (const m of d._all_models.values())
    if (typeof m.text === 'string' && m.text.includes('·')) out.push(m.text); return out; }"""
COLORBAR_JS = """(unit) => { for (const d of Bokeh.documents) for (const m of d._all_models.values())
    if (typeof m.title === 'string' && m.title.endsWith(unit) && m.color_mapper !== undefined) return true;
    return false; }"""
PAINTED_JS = """() => { const walk = (root, out) => { for (const el of root.querySelectorAll('*')) {
        if (el.tagName === 'CANVAS') out.push(el); if (el.shadowRoot) walk(el.shadowRoot, out); } return out; };
    for (const c of walk(document, [])) { if (c.width < 200 || c.height < 200) continue;
        const ctx = c.getContext('2d'); if (!ctx) continue;
        const d = ctx.getImageData(0, 0, c.width, c.height).data; const seen = new Set();
        for (let i = 0; i < d.length; i += 4 * 101) { seen.add(d[i] + ',' + d[i + 1] + ',' + d[i + 2]);
            if (seen.size > 8) return true; } } return false; }"""


def _timed(page, action, js: str, arg=None) -> float:
    t0 = time.perf_counter()
    action()
    page.wait_for_function(js, arg=arg, polling="raf", timeout=60_000)
    return time.perf_counter() - t0


def measure(url: str, repeat: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {k: [] for k in ("first_map_s", "generated_maps_s", "switch_variable_ms",
                                                   "switch_member_ms", "generate_s")}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 950})
        page.goto(url)  # warm-up: reference summary, models, default generation
        page.wait_for_function(f"() => ({TITLES_JS})().some(t => t.includes('member'))", timeout=600_000)
        page.close()
        for _ in range(repeat):
            page = browser.new_page(viewport={"width": 1500, "height": 950})
            t0 = time.perf_counter()
            page.goto(url)
            page.wait_for_function(PAINTED_JS, polling="raf", timeout=120_000)
            out["first_map_s"].append(time.perf_counter() - t0)
            generated = f"() => ({TITLES_JS})().some(t => / · member /.test(t) && !t.startsWith('reference'))"
            page.wait_for_function(generated, polling="raf", timeout=120_000)
            out["generated_maps_s"].append(time.perf_counter() - t0)
            page.wait_for_timeout(500)
            select = page.get_by_role("combobox", name="Variable")
            for label, unit in (("sit · sea-ice thickness", "[m]"), ("sic · sea-ice concentration", "[1]")):
                out["switch_variable_ms"].append(1000 * _timed(page, lambda: select.select_option(label=label),
                                                                COLORBAR_JS, unit))
                page.wait_for_timeout(300)
            member = page.get_by_role("slider").nth(2)
            for key, want in (("ArrowRight", "member 1"), ("ArrowLeft", "member 0")):
                member.focus()
                js = f"() => ({TITLES_JS})().some(t => t.endsWith('· {want}') && !t.startsWith('reference'))"
                out["switch_member_ms"].append(1000 * _timed(page, lambda: page.keyboard.press(key), js))
                page.wait_for_timeout(300)
            page.close()
        page = browser.new_page(viewport={"width": 1500, "height": 950})
        page.goto(url)
        page.wait_for_function(f"() => ({TITLES_JS})().some(t => t.includes('member'))", timeout=120_000)
        page.get_by_role("button", name="New seed").click()
        page.wait_for_timeout(300)
        seed = parse_qs(urlparse(page.url).query)["seed"][0]  # the URL carries the settings
        t0 = time.perf_counter()
        page.get_by_role("button", name="Generate").click()
        page.get_by_text(f"(seed {seed})").wait_for(timeout=600_000)
        out["generate_s"].append(time.perf_counter() - t0)
        browser.close()
    return {k: round(statistics.median(v), 3 if k.endswith("_s") else 1) for k, v in out.items() if v}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--app", type=Path, default=ROOT / "app.py")
    parser.add_argument("--models", type=Path, default=None, help="models folder (default: the app's)")
    args = parser.parse_args()
    with serve(args.app, app_args=["--models", str(args.models)] if args.models else [], startup_s=300) as server:
        result = measure(server.url, args.repeat)
    result.update(app=str(args.app.name), repeat=args.repeat)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
