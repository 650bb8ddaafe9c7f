"""The dashboard under load: N concurrent browser sessions, each pressing Generate R times.

Serves ``app.py`` on a free localhost port and opens N pages in one headless chromium (Debian's,
through Playwright's async API), each in its own browser context with its own seed in the URL.
Once its first results show, every session presses Generate ``R`` times, each time with a new
seed (the "New seed" button), and waits for the results of that seed. All sessions run at once.

Printed as JSON:
- ``results`` and ``failures`` (a failure: no result within ``--timeout`` seconds, or an error);
- ``generate_s``: p50, p95 and max time from the Generate click to the results shown;
- ``server_rss_mb``: the server's RSS (``/proc/<pid>/status``) at start (after the first page),
  at its peak (sampled every 0.25 s) and at the end.

Targets (issue 12): 0 failures, server RSS peak ≤ 1.5 GB. Usage::

    python benchmarks/load.py [--sessions 10] [--repeat 2] [--models DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dashboard_latency import CHROMIUM_ARGS, TITLES_JS  # noqa: E402
from serving import ROOT, rss_mb, serve  # noqa: E402

RESULTS_JS = f"() => ({TITLES_JS})().some(t => / · member /.test(t) && !t.startsWith('reference'))"


async def session(browser, url: str, seed: int, repeat: int, timeout_s: float, times: list[float],
                  errors: list[str]) -> None:
    """One user: open the app with ``seed``, then press Generate ``repeat`` times with new seeds."""
    context = await browser.new_context(viewport={"width": 1500, "height": 950})
    page = await context.new_page()
    try:
        await page.goto(f"{url}?seed={seed}", timeout=timeout_s * 1000)
        await page.wait_for_function(RESULTS_JS, timeout=timeout_s * 1000)
        for _ in range(repeat):
            await page.get_by_role("button", name="New seed").click()
            await page.wait_for_timeout(300)
            new_seed = parse_qs(urlparse(page.url).query)["seed"][0]
            t0 = time.perf_counter()
            await page.get_by_role("button", name="Generate").click()
            try:
                await page.get_by_text(f"(seed {new_seed})").first.wait_for(timeout=timeout_s * 1000)
                times.append(time.perf_counter() - t0)
            except Exception as err:  # noqa: BLE001 - a failure is counted, the others go on
                errors.append(f"seed {new_seed}: {type(err).__name__}")
    except Exception as err:  # noqa: BLE001
        errors.append(f"session {seed}: {type(err).__name__}: {err}"[:200])
    finally:
        await context.close()


async def watch_rss(pid: int, peak: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss_mb(pid))
        await asyncio.sleep(0.25)


async def load(url: str, pid: int, sessions: int, repeat: int, timeout_s: float) -> dict:
    from playwright.async_api import async_playwright

    times: list[float] = []
    errors: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        warm = await browser.new_page()
        await warm.goto(url, timeout=timeout_s * 1000)  # the first page: imports, model loading, the reference summary
        await warm.wait_for_function(RESULTS_JS, timeout=timeout_s * 1000)
        await warm.close()
        start = rss_mb(pid)
        peak, stop = [start], asyncio.Event()
        watcher = asyncio.create_task(watch_rss(pid, peak, stop))
        t0 = time.perf_counter()
        await asyncio.gather(*(session(browser, url, 1000 + i, repeat, timeout_s, times, errors)
                               for i in range(sessions)))
        wall = time.perf_counter() - t0
        stop.set()
        await watcher
        await browser.close()
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] if ordered else None
    return {
        "sessions": sessions, "repeat": repeat, "results": len(times), "failures": sessions * repeat - len(times),
        "errors": errors,
        "generate_s": {"p50": round(statistics.median(ordered), 2) if ordered else None,
                       "p95": round(p95, 2) if p95 else None, "max": round(ordered[-1], 2) if ordered else None},
        "wall_s": round(wall, 1),
        "server_rss_mb": {"start": round(start), "peak": round(peak[0]), "end": round(rss_mb(pid))},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for one result")
    parser.add_argument("--app", type=Path, default=ROOT / "app.py")
    parser.add_argument("--models", type=Path, default=None, help="models folder (default: the app's)")
    args = parser.parse_args()
    with serve(args.app, app_args=["--models", str(args.models)] if args.models else [], startup_s=300,
               stop_s=30) as server:
        result = asyncio.run(load(server.url, server.pid, args.sessions, args.repeat, args.timeout))
    result["app"] = str(args.app.name)
    print(json.dumps(result, indent=2))
    return 0 if result["failures"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
