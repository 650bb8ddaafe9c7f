"""A class on one server: a teacher's guided tour and N students' pages, in real chromium pages.

Loopback only, every loop bounded. Serves ``app.py`` as README's "Teaching and outreach" does
(``panel serve app.py --warm``: the tour is made at start-up; :mod:`serving`), then:

1. the teacher's page (1,920 × 1,080) opens the lesson link ``?presentation=true&tour=1`` and waits
   until the tour card says "All steps ready"; the server's RSS then is the one-page figure;
2. ``--students`` pages (default 20) open the same link one after another, each in its own browser
   context with an 800 × 600 window, and stay open; each is timed from ``goto`` to its first slide
   painted (``.tour-slide-ice img`` visible, ``complete`` and ``naturalWidth > 0``);
3. with the students' pages open, the teacher steps through the tour, forward (the Next button and
   Page Down in turn) and back (the Previous button and Page Up in turn); each step is timed from
   the click or key to the title showing "k / 7" and the stop's picture visible and loaded;
4. the students' pages close; after ``--settle-s`` seconds (default 90) the RSS is read again, then
   the server gets SIGTERM and the seconds to its exit are timed (SIGKILL after ``--stop-limit-s``).

Console errors and page errors of every page (before the SIGTERM) and failures (a wait that timed
out, a crashed page, a server that died) are counted. A table of measures and targets is printed
and the whole result written as JSON (``--out``). Targets: median first slide ≤ 5 s, every step
≤ 1 s, RSS with N open ≤ 1.2× one page, RSS after they close within 10 % of one page, exit ≤ 5 s
after SIGTERM, 0 console errors, 0 failures. No assertion: the exit status is 1 when a failure or
a console error happened, else 0. Usage::

    python benchmarks/classroom.py [--students 20] [--settle-s 90] [--out docs/benchmarks/classroom.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dashboard_latency import CHROMIUM_ARGS  # noqa: E402
from serving import ROOT, Server, rss_mb, serve  # noqa: E402

log = logging.getLogger("classroom")

CHROMIUM = "/usr/bin/chromium"
LESSON = "?presentation=true&tour=1"
TEACHER_WINDOW = {"width": 1920, "height": 1080}
STUDENT_WINDOW = {"width": 800, "height": 600}
TARGETS = {"first_slide_median_s": 5.0, "step_s": 1.0, "rss_open_ratio": 1.2, "rss_after_ratio": 0.10,
           "sigterm_exit_s": 5.0}

#: Helpers of the page scripts: every element through open shadow roots, text through them, shown.
_DOM_JS = """const all = (root, out = []) => { for (const el of root.querySelectorAll('*')) {
        out.push(el); if (el.shadowRoot) all(el.shadowRoot, out); } return out; };
    const text = (n) => (n.shadowRoot ? text(n.shadowRoot) : '') + [...n.childNodes].map(c =>
        c.nodeType === 3 ? c.textContent : (c.nodeType === 1 ? text(c) : '')).join('');
    const up = (x) => x.parentNode instanceof ShadowRoot ? x.parentNode.host : x.parentNode;
    const painted = (el) => { for (let x = el; x && x.nodeType === 1; x = up(x))
        if (getComputedStyle(x).opacity === '0') return false;
        const r = el.getBoundingClientRect();
        return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility === 'visible'; };
    const byClass = (cls) => all(document).find(e => e.classList && e.classList.contains(cls));"""
#: The stop ``key``'s picture is visible and loaded (and, with ``title``, the card's title shows it).
SHOWN_JS = f"""({{key, title}}) => {{ {_DOM_JS}
    if (title) {{ const t = byClass('tour-title'); if (!t || !text(t).includes(title)) return false; }}
    const slide = byClass('tour-slide-' + key); if (!slide) return false;
    const img = [...(slide.shadowRoot ? all(slide.shadowRoot) : []), ...all(slide)].find(e => e.tagName === 'IMG');
    return !!img && img.complete && img.naturalWidth > 0 && painted(img); }}"""
#: The tour card's title says ``words``.
TITLE_JS = f"""(words) => {{ {_DOM_JS} const t = byClass('tour-title'); return !!t && text(t).includes(words); }}"""
#: The tour card's status line says ``words``.
STATUS_JS = f"""(words) => {{ {_DOM_JS} const s = byClass('tour-status'); return !!s && text(s).includes(words); }}"""
#: The stops' keys, in the order of their slides, and the title's "k / n".
STOPS_JS = f"""() => {{ {_DOM_JS} const keys = [];
    for (const el of all(document)) for (const c of (el.classList || []))
        if (c.startsWith('tour-slide-')) keys.push(c.slice(11));
    const t = byClass('tour-title'); return {{keys: [...new Set(keys)], title: t ? text(t) : ''}}; }}"""


@dataclass
class Watch:
    """What went wrong, per page: console errors (until the server is stopped) and failures."""

    console: list[dict[str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    after_stop: list[dict[str, str]] = field(default_factory=list)
    stopping: bool = False

    def attach(self, page: Any, name: str) -> None:
        def error(kind: str, text: str) -> None:
            found = self.after_stop if self.stopping else self.console
            found.append({"page": name, "kind": kind, "text": text[:500]})

        page.on("console", lambda m: error("console", m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: error("pageerror", str(e)))
        page.on("crash", lambda _: self.failures.append(f"{name}: the page crashed"))

    def fail(self, what: str, err: BaseException) -> None:
        self.failures.append(f"{what}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:300])
        log.warning("failure: %s", self.failures[-1])


class PeakRss:
    """The server's peak RSS (MiB), sampled every half second on a thread."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            rss = rss_mb(self.pid)
            if not math.isnan(rss):  # NaN: the process is gone
                self.peak = max(self.peak, rss)

    def close(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


def _new_page(browser: Any, window: dict[str, int], name: str, watch: Watch) -> tuple[Any, Any]:
    context = browser.new_context(viewport=window)
    page = context.new_page()
    watch.attach(page, name)
    return context, page


def open_teacher(browser: Any, url: str, watch: Watch, ready_s: float) -> tuple[Any, float | None]:
    """The teacher's page at the lesson link; seconds until "All steps ready" (None if never)."""
    _, page = _new_page(browser, TEACHER_WINDOW, "teacher", watch)
    t0 = time.perf_counter()
    try:
        page.goto(url + LESSON, timeout=ready_s * 1000)
        page.wait_for_function(STATUS_JS, arg="All steps ready", polling=500, timeout=ready_s * 1000)
        return page, time.perf_counter() - t0
    except Exception as err:  # noqa: BLE001 - a failure is counted, the run goes on
        watch.fail("teacher: All steps ready", err)
        return page, None


def open_students(browser: Any, url: str, n: int, watch: Watch,
                  timeout_s: float) -> tuple[list[Any], list[float], list[float]]:
    """``n`` student pages, one after another (kept open). Per page, seconds from goto to the page's
    HTML received (the server has built the session) and to its first slide painted."""
    contexts, responses, times = [], [], []
    for i in range(n):
        context, page = _new_page(browser, STUDENT_WINDOW, f"student {i + 1}", watch)
        contexts.append(context)
        t0 = time.perf_counter()
        try:
            page.goto(url + LESSON, wait_until="commit", timeout=timeout_s * 1000)
            responses.append(time.perf_counter() - t0)
            page.wait_for_function(SHOWN_JS, arg={"key": "ice", "title": ""}, polling="raf", timeout=timeout_s * 1000)
            times.append(time.perf_counter() - t0)
            log.info("student %d: page received in %.2f s, first slide in %.2f s", i + 1, responses[-1], times[-1])
        except Exception as err:  # noqa: BLE001
            watch.fail(f"student {i + 1}: first slide", err)
    return contexts, responses, times


def _step(page: Any, how: str, key: str, k: int, n: int, timeout_s: float) -> tuple[float, float]:
    """One step: seconds from the click or key to the title showing "k / n", and to the stop shown."""
    t0 = time.perf_counter()
    if how in ("PageDown", "PageUp"):
        page.keyboard.press(how)
    else:
        page.locator(f".tour-{how} button").click(timeout=timeout_s * 1000)
    page.wait_for_function(TITLE_JS, arg=f"{k} / {n}", polling="raf", timeout=timeout_s * 1000)
    title = time.perf_counter() - t0
    page.wait_for_function(SHOWN_JS, arg={"key": key, "title": f"{k} / {n}"}, polling="raf", timeout=timeout_s * 1000)
    return title, time.perf_counter() - t0


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def step_through(page: Any, watch: Watch, timeout_s: float, pause_s: float = 1.0) -> list[dict[str, Any]]:
    """Forward from stop 1 to the last and back: the Next button and Page Down in turn, then the
    Previous button and Page Up. One row per step: stop, input, seconds (None when it timed out)."""
    stops = page.evaluate(STOPS_JS)
    keys, n = stops["keys"], len(stops["keys"])
    if f"1 / {n}" not in stops["title"]:
        watch.failures.append(f"teacher: expected the title '1 / {n}' before stepping, got {stops['title']!r}")
    plan = [(k, "next" if k % 2 else "PageDown") for k in range(2, n + 1)]
    plan += [(k, "previous" if k % 2 else "PageUp") for k in range(n - 1, 0, -1)]
    rows = []
    for k, how in plan:
        page.wait_for_timeout(pause_s * 1000)  # a teacher talks over a stop before the next click
        try:
            title, seconds = _step(page, how, keys[k - 1], k, n, timeout_s)
        except Exception as err:  # noqa: BLE001
            watch.fail(f"teacher: step to {k} / {n} ({how})", err)
            title = seconds = None
        rows.append({"stop": f"{k} {keys[k - 1]}", "input": how, "seconds": _round(seconds), "title_s": _round(title)})
        log.info("step to %d / %d (%s, %s): %s s (title after %s s)", k, n, keys[k - 1], how, rows[-1]["seconds"],
                 rows[-1]["title_s"])
    return rows


def classroom(server: Server, students: int, settle_s: float, stop_limit_s: float, ready_s: float,
              timeout_s: float) -> dict[str, Any]:
    """The whole lesson (module docstring); the server is stopped at its end."""
    from playwright.sync_api import sync_playwright

    watch, rss = Watch(), {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        teacher, ready = open_teacher(browser, server.url, watch, ready_s)
        rss["one_page"] = server.rss_mb()
        log.info("teacher: All steps ready after %s s; RSS %.0f MiB", ready and round(ready, 1), rss["one_page"])
        peak = PeakRss(server.pid)  # from the one-page figure on: the lesson's own peak
        contexts, responses, first = open_students(browser, server.url, students, watch, timeout_s)
        rss["students_opened"] = server.rss_mb()
        steps = step_through(teacher, watch, timeout_s) if ready is not None else []
        rss["with_n_open"] = server.rss_mb()
        for context in contexts:
            context.close()
        log.info("students' pages closed; settling %.0f s", settle_s)
        time.sleep(settle_s)
        rss["after_close"] = server.rss_mb()
        if not server.running():
            watch.failures.append(f"the server exited on its own (status {server.proc.returncode})")
        watch.stopping = True
        stopped = server.stop(stop_limit_s)
        browser.close()
    rss["peak_in_lesson"] = peak.close()
    return {"students": students, "settle_s": settle_s, "all_steps_ready_s": ready and round(ready, 1),
            "first_slide_s": [round(t, 3) for t in first], "page_received_s": [round(t, 3) for t in responses],
            "steps": steps,
            "rss_mib": {k: round(v, 1) for k, v in rss.items()},
            "sigterm": {"exit_s": round(stopped.exit_s, 2), "killed": stopped.killed, "returncode": stopped.returncode},
            "console_errors": watch.console, "errors_after_sigterm": watch.after_stop, "failures": watch.failures,
            "server_log_errors": _log_errors(server.log_text())}


def _log_errors(text: str, most: int = 5) -> list[str]:
    """The server log's tracebacks (each cut to its last 3,000 characters) and ERROR lines, for the reader;
    not counted."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines) and len(out) < most:
        if lines[i].startswith("Traceback"):
            j = i + 1
            while j < len(lines) and (lines[j].startswith((" ", "\t")) or not lines[j].strip()):
                j += 1
            out.append("\n".join(lines[i:j + 1])[-3000:])  # the innermost frames and the error
            i = j + 1
        else:
            if "ERROR" in lines[i]:
                out.append(lines[i][:500])
            i += 1
    return out


def summary(result: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """(measure, value, target, met) rows of the table; ``met`` None where there is no target."""
    first, rss, n = result["first_slide_s"], result["rss_mib"], result["students"]
    one = rss["one_page"]
    rows: list[tuple[str, str, str, bool | None]] = []
    median = statistics.median(first) if first else None
    rows.append((f"first slide, median of {len(first)}/{n}", _s(median), f"≤ {TARGETS['first_slide_median_s']:g} s",
                 None if median is None else median <= TARGETS["first_slide_median_s"]))
    rows.append(("first slide, max", _s(max(first) if first else None), "", None))
    received = result["page_received_s"]
    rows.append(("  of which page HTML received, median", _s(statistics.median(received) if received else None), "",
                 None))
    rows.append(("RSS, one page", f"{one:.0f} MiB", "", None))
    open_ratio, after_ratio = rss["with_n_open"] / one, rss["after_close"] / one
    rows.append((f"RSS, {n} more open", f"{rss['with_n_open']:.0f} MiB ({open_ratio:.2f}×)",
                 f"≤ {TARGETS['rss_open_ratio']:g}×", open_ratio <= TARGETS["rss_open_ratio"]))
    rows.append((f"RSS, {result['settle_s']:g} s after they close", f"{rss['after_close']:.0f} MiB ({after_ratio:.2f}×)",
                 f"within {TARGETS['rss_after_ratio']:.0%}", abs(after_ratio - 1) <= TARGETS["rss_after_ratio"]))
    rows.append(("RSS, peak in the lesson", f"{rss['peak_in_lesson']:.0f} MiB", "", None))
    for step in result["steps"]:
        s = step["seconds"]
        card = "" if step["title_s"] is None else f" (card {step['title_s']:.2f})"
        rows.append((f"step to {step['stop']} ({step['input']})", _s(s) + card, f"≤ {TARGETS['step_s']:g} s",
                     None if s is None else s <= TARGETS["step_s"]))
    sig = result["sigterm"]
    rows.append(("SIGTERM to exit", f"{sig['exit_s']:.2f} s" + (" (SIGKILL)" if sig["killed"] else ""),
                 f"≤ {TARGETS['sigterm_exit_s']:g} s", sig["exit_s"] <= TARGETS["sigterm_exit_s"] and not sig["killed"]))
    rows.append(("console errors", str(len(result["console_errors"])), "0", not result["console_errors"]))
    rows.append(("failures", str(len(result["failures"])), "0", not result["failures"]))
    return rows


def _s(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds:.2f} s"


def print_table(rows: list[tuple[str, str, str, bool | None]]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>20}  {'target':>11}  met")
    for measure, value, target, met in rows:
        print(f"{measure:<{width}}  {value:>20}  {target:>11}  {'' if met is None else ('yes' if met else 'NO')}")


#: The mark of this benchmark's JSON: an existing ``--out`` without it is not ours and is never replaced.
WRITTEN_BY = "benchmarks/classroom.py"


def ours(path: Path) -> bool:
    """True when ``path`` does not exist or is a result this benchmark wrote."""
    if not path.exists():
        return True
    try:
        return json.loads(path.read_text()).get("written_by") == WRITTEN_BY
    except (OSError, ValueError, AttributeError):
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=20, help="pages opened beside the teacher's")
    parser.add_argument("--settle-s", type=float, default=90, help="seconds between closing them and reading RSS")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks" / "classroom.json")
    parser.add_argument("--app", type=Path, default=ROOT / "app.py")
    parser.add_argument("--models", type=Path, default=None, help="models folder (default: the app's)")
    parser.add_argument("--startup-s", type=float, default=1800, help="limit for the server's start-up (--warm)")
    parser.add_argument("--ready-s", type=float, default=1800, help="limit for the tour's 'All steps ready'")
    parser.add_argument("--timeout-s", type=float, default=300, help="limit for one first slide or one step")
    parser.add_argument("--stop-limit-s", type=float, default=30, help="SIGKILL this long after SIGTERM")
    args = parser.parse_args()
    if not ours(args.out):  # checked before the work, as every seaice-explorer command does
        parser.error(f"{args.out} exists and was not written by this benchmark: choose another --out")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    app_args = ["--models", str(args.models)] if args.models else []
    t0 = time.perf_counter()
    with serve(args.app, ["--warm"], app_args, startup_s=args.startup_s, stop_s=args.stop_limit_s) as server:
        started = time.perf_counter() - t0
        log.info("server answers after %.0f s (pid %d)", started, server.pid)
        result = classroom(server, args.students, args.settle_s, args.stop_limit_s, args.ready_s, args.timeout_s)
    result.update(written_by=WRITTEN_BY, app=args.app.name, server_start_s=round(started, 1), targets=TARGETS)
    rows = summary(result)
    result["table"] = [dict(zip(("measure", "value", "target", "met"), r)) for r in rows]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print_table(rows)
    print(f"written: {args.out}")
    return 1 if result["failures"] or result["console_errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
