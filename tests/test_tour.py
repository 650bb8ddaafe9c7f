"""The guided tour without a browser: stops picked from the registry by kind, results computed once
and shown at once (no generation after the preparation), the words quoting the evaluation reports
(and saying so when a report is missing), map sizes from the window, the presenter's keys."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from seaice_explorer.evaluation.reports import read_report, report_folder
from seaice_explorer.ui import story
from seaice_explorer.ui.layout import Display, map_grid
from seaice_explorer.ui.presentation import key_action
from seaice_explorer.ui.tour import Bank, Tour, apply_stop, plan, prepare
from test_ui_state import CENS, DATA, GAUSS, FakeGenerator, make_state  # shared fakes
from test_ui_state import g32, reference  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def prepared(g32, reference):  # noqa: F811
    fake = FakeGenerator(g32)
    state = make_state(fake, reference)
    tour = Tour(state)
    tour.prepare()  # no executor here: computed inline, as a server does on its worker threads
    return fake, state, tour


def test_stops_pick_backends_by_kind_and_decoder_not_name(prepared):
    _, state, tour = prepared
    stops = {s.key: s for s in tour.stops}
    assert list(stops) == ["ice", "denoise", "latent", "finding1", "finding2", "finding3", "speed"]
    assert stops["denoise"].replay == DATA and stops["latent"].replay == CENS
    assert stops["finding1"].backends == (DATA, GAUSS) and stops["finding1"].bounds == "raw"
    assert stops["finding3"].backends == (GAUSS, CENS) and stops["finding3"].tab == "MIZ statistics"
    assert stops["ice"].dataset == "default"  # no observed data set in this registry: its own reference


def test_every_stop_shows_at_once_after_preparation(prepared):
    fake, state, tour = prepared
    assert tour.bank.done and len(tour.bank.items) == tour.bank.total == 6
    calls = len(fake.calls)
    state.cache.lru.clear()  # evicted from the LRU cache: the bank still has them
    before = state.settings()
    for step, stop in enumerate(tour.stops, start=1):
        tour.go(step)
        shown = tour.state_of(stop)
        assert tour.slide and shown is tour.slide_state(stop) and shown is not state  # a slide of its own
        assert not shown.running, stop.key  # nothing left to compute
        if stop.replay:
            assert shown.trajectory.backend == stop.replay
            assert 0 < shown.denoise_step < shown.trajectory.n_steps - 1  # half-way through
        elif stop.backends:
            assert list(shown.results) == list(stop.backends)
            assert {r.key.bounds for r in shown.results.values()} == {stop.bounds}
        else:
            assert shown.results == {} and shown.reference_data is not None
    assert len(fake.calls) == calls  # no generation while touring
    assert tour.shown == len(tour.stops) and state.settings() == before  # the session's own state waits
    tour.go(0)  # closing the tour leaves the session on the last stop
    assert tour.stop is None and not tour.slide
    assert list(state.results) == list(tour.stops[-1].backends) and len(fake.calls) == calls


def test_an_unprepared_stop_still_generates(g32, reference):  # noqa: F811
    fake = FakeGenerator(g32)
    state = make_state(fake, reference)
    stop = plan(state.registry)[3]
    apply_stop(state, stop, Bank())
    assert list(state.results) == list(stop.backends) and len(fake.calls) == 2


def test_the_first_stop_shows_the_busiest_ice_edge(g32, reference):  # noqa: F811
    state = make_state(FakeGenerator(g32), reference)
    bank = Bank()
    stops = plan(state.registry)
    prepare(bank, stops[:1], state.runner, state.reference_loader, state.sources)
    index = bank.ref_index["default"]
    assert reference.miz_area[index] == reference.miz_area.max()


@pytest.fixture()
def reports_dir(tmp_path, monkeypatch):
    """A copy of the synthetic family's report; no observed report (it may not exist yet)."""
    shutil.copytree(ROOT / "docs" / "evaluation", tmp_path / "evaluation",
                    ignore=shutil.ignore_patterns("samples", "*.png", "*.nc"))
    monkeypatch.setenv("SEAICE_EXPLORER_REPORTS", str(tmp_path))
    return tmp_path


def test_the_words_quote_the_report(prepared, reports_dir):
    _, state, tour = prepared
    report = read_report(report_folder("default"))
    reports = story.Reports(family=report, observed=read_report(report_folder("osisaf")))
    assert reports.observed is None  # handled: said nowhere, nothing breaks
    words = {}
    for step, stop in enumerate(tour.stops, start=1):
        tour.go(step)
        words[stop.key] = story.story(stop, tour.state_of(stop), reports)
        assert "computed when this server started" in story.footer(stop, reports) or stop.key == "ice"
    verdicts = {f.number: f.verdict for f in report.findings}  # from its findings.json only (issue 21)
    for number in (1, 2, 3):
        assert f"— {verdicts.get(number, 'not judged yet')} here" in words[f"finding{number}"]
    base, gauss = report.native("data"), report.native("latent", "gaussian")
    assert f"{100 * float(gauss['spec_ratio_small_median']):.0f} %" in words["finding2"]
    assert f"{float(gauss['violations_pct']):.1f} %" in words["finding3"]
    cens_raw = report.row(str(report.native("latent", "censored")["backend"]), "raw")
    assert f"{float(cens_raw['violations_pct']):.1f} % of the censored decoder's raw mean" in words["finding3"]
    assert f"{float(base['time_per_sample_s']):.2f} s" in words["speed"]
    assert "synthetic" in words["ice"] and "marginal ice zone" in words["ice"]
    assert "code" in words["latent"] and "smaller" in words["latent"]


def test_a_missing_report_is_said_not_guessed(prepared, tmp_path, monkeypatch):
    _, state, tour = prepared
    monkeypatch.setenv("SEAICE_EXPLORER_REPORTS", str(tmp_path))
    reports = story.Reports(family=read_report(report_folder("default")))
    tour.go(4)
    assert "not judged yet here" in story.story(tour.stop, tour.state_of(), reports)
    assert "no evaluation report found" in story.footer(tour.stop, reports)


def _part(finding: int, verdict: str, n: int = 256) -> dict:
    return {"finding": finding, "part": f"part of {finding}", "verdict": verdict, "effect": 0.9, "ci_low": 0.8,
            "ci_high": 0.95, "null": 1.0, "margin": None, "n": n, "backends": ["a", "b"]}


def test_verdicts_come_from_findings_json_and_never_from_point_values(prepared, reports_dir):
    """A report without findings.json states no verdict, whatever its table's point values; with one,
    each finding's verdict follows from its parts: all reproduced, any refuted, else not resolved."""
    _, state, tour = prepared
    folder = reports_dir / "evaluation"
    (folder / "findings.json").unlink(missing_ok=True)
    assert read_report(folder).findings == []
    parts = [_part(1, "reproduced"), _part(1, "not resolved", 200), _part(2, "reproduced"), _part(3, "refuted"),
             _part(3, "reproduced")]
    (folder / "findings.json").write_text(json.dumps(parts))
    report = read_report(folder)
    assert {f.number: f.verdict for f in report.findings} == {
        1: "not resolved at n = 200", 2: "reproduced", 3: "mixed at n = 256: 1 reproduced, 1 refuted, 0 not resolved"}
    tour.go(4)
    words = story.story(tour.stop, tour.state_of(), story.Reports(family=report))
    assert "— not resolved at n = 200 here" in words and "×1.25" in words


def test_an_observed_report_without_data_space_says_not_evaluated(prepared, reports_dir):
    _, state, tour = prepared
    observed = reports_dir / "evaluation-osisaf"
    shutil.copytree(reports_dir / "evaluation", observed)
    (observed / "findings.json").unlink(missing_ok=True)  # a report judged without intervals
    table = (observed / "table.csv").read_text().splitlines()
    (observed / "table.csv").write_text("\n".join(line for line in table if not line.startswith("dm,")) + "\n")
    reports = story.Reports(family=read_report(report_folder("default")), observed=read_report(observed))
    tour.go(4)
    assert "On real OSI SAF observations: not judged yet" in story.story(tour.stop, tour.state_of(), reports)
    (observed / "findings.json").write_text(json.dumps([_part(3, "reproduced")]))
    reports = story.Reports(family=read_report(report_folder("default")), observed=read_report(observed))
    tour.go(6)
    assert "On real OSI SAF observations: **reproduced**" in story.story(tour.stop, tour.state_of(), reports)


# ---------------------------------------------------------------- map sizes and keys
def test_three_maps_fill_a_1920_window():
    normal = map_grid(3, 1580, 1080)  # the main area beside the 340 px sidebar
    shown = map_grid(3, 1920, 1080, presentation=True, above=274)  # no sidebar, the tour card above
    assert normal.ncols == shown.ncols == 3
    assert normal.frame + normal.side_px >= 460 and shown.frame + shown.side_px >= 560
    assert shown.fonts.title > normal.fonts.title and shown.fonts.colorbar > normal.fonts.colorbar
    single = map_grid(1, 1920, 1080, presentation=True)
    assert single.frame < 1080 - 200  # one map: as tall as the window allows, not as wide as the screen
    assert map_grid(5, 1580, 1080).ncols == 3


def test_display_redraws_on_reports_not_on_the_toggle():
    display = Display()
    seen = []
    display.param.watch(lambda e: seen.append(e.name), ["reported"])
    display.presentation = True
    assert seen == []
    display.reported_size(1920, 1080)
    assert seen == ["reported"] and display.main_width == 1920
    display.set_card((190, 274))
    display.set_card((190, 274))  # unchanged: no second redraw
    assert display.above == 274 and seen == ["reported", "reported"]


def test_presenter_keys():
    assert key_action("ArrowRight") == "next" and key_action(" ") == "play"
    assert key_action("PageDown") == key_action("N") == "tour-next"
    assert key_action("Escape") == "leave" and key_action("x") is None


def test_header_keys_and_view_png(prepared):
    pn = pytest.importorskip("panel")
    from PIL import Image
    import io

    from seaice_explorer.ui.denoise_view import DenoiseView
    from seaice_explorer.ui.header import Header
    from seaice_explorer.ui.slides import Slides, shown as layer_shown
    from seaice_explorer.ui.tour_view import TourCard

    _, state, tour = prepared
    display = Display()
    denoise = DenoiseView(state=state, display=display)
    tabs = pn.Tabs(("Maps", pn.pane.Markdown("m")), ("MIZ statistics", pn.pane.Markdown("z")),
                   ("Smoothing", pn.pane.Markdown("s")), ("Watch it denoise", pn.pane.Markdown("d")))
    slides = Slides(tour=tour, display=display, tabs=tabs)
    card = TourCard(tour=tour, display=display, tabs=tabs, slide_display=slides.own)
    header = Header(state=state, display=display, tour=tour, tabs=tabs, denoise=denoise, slides=slides)
    redraws = {"app": 0, "slides": 0}
    display.param.watch(lambda e: redraws.__setitem__("app", redraws["app"] + 1), ["reported"])
    slides.own.param.watch(lambda e: redraws.__setitem__("slides", redraws["slides"] + 1), ["reported"])
    header.on_key("tour-next")
    assert tour.step == 1 and card.card.visible and slides.own.card_px[0] > 0
    assert display.card_px == (0, 0)  # the card sits above the slide, not above the hidden tabs
    assert slides.showing == "ice" and not layer_shown(tabs)  # a prepared stop: its slide, not the tabs
    assert redraws == {"app": 0, "slides": 1}  # the slides are sized for the card once
    header.on_key("tour-next")
    assert "From noise to ice" in card.title.object
    assert slides.showing == "denoise"
    shown = tour.state_of()
    step = shown.denoise_step
    header.on_key("next")
    assert shown.denoise_step == step + 1  # the keys drive the slide shown
    header.on_key("play")
    assert slides.denoise["denoise"].player.direction == 1
    header.on_key("play")
    assert slides.denoise["denoise"].player.direction == 0
    png = Image.open(io.BytesIO(header.view_png()))
    assert png.size[0] == 1920  # the denoising frame shown, at presentation resolution
    header.on_key("tour-next")
    header.on_key("tour-next")  # finding 1: maps
    shown = tour.state_of()
    assert shown.member == 0
    header.on_key("next")
    assert shown.member == 1 and state.member == 0
    assert Image.open(io.BytesIO(header.view_png())).size[0] == 1920
    header.on_key("tour-previous")
    header.on_key("tour-next")  # back and forth: the slides are drawn once
    assert len(slides.views) == 4
    tour.go(0)
    assert layer_shown(tabs) and slides.showing is None
    tour.go(1)
    tour.go(0)  # closing and opening the tour on prepared stops redraws no map
    assert redraws == {"app": 0, "slides": 1}
    display.reported_size(1500, 900)  # a new window size reaches the slides too
    assert slides.own.main_width == 1500 and redraws == {"app": 1, "slides": 2}
    display.reported_size(1500, 900)  # the same size: the slides do not redraw
    assert redraws["slides"] == 2
    display.presentation = True
    header.on_key("leave")
    assert not display.presentation


def test_a_step_switches_layers_without_collapsing_them(prepared):
    """A step only restyles the layers of one grid cell: no slide is ever ``visible=False`` (Bokeh
    would collapse it and lay it out again when shown), one layer is shown at a time, and a slide
    is drawn once."""
    pn = pytest.importorskip("panel")
    from seaice_explorer.ui.slides import HIDDEN, SHOWN, STACK_CSS, Slides, layer, shown as layer_shown

    _, _, tour = prepared
    tabs = pn.Tabs(("Maps", pn.pane.Markdown("m")))
    slides = Slides(tour=tour, display=Display(), tabs=tabs)
    assert list(slides.stack) == [*slides.slots.values(), tabs] and STACK_CSS in slides.stack.stylesheets
    assert slides.views == {} and slides.showing is None
    for step in (1, 2, 4, 6, 5, 1):
        tour.go(step)
        key = tour.stops[step - 1].key
        layers = [*slides.slots.values(), tabs]
        assert all(obj.visible for obj in layers)  # never collapsed
        assert [k for k, slot in slides.slots.items() if layer_shown(slot)] == [key] and not layer_shown(tabs)
        assert all(obj.styles["grid-area"] == "1 / 1" for obj in layers)  # one cell: the stack keeps its height
        assert slides.views[key].objects == slides.slots[key].objects
    drawn = {k: list(v.objects) for k, v in slides.views.items()}
    assert list(drawn) == ["ice", "denoise", "finding1", "finding3", "finding2"]
    tour.go(2)
    assert {k: list(v.objects) for k, v in slides.views.items()} == drawn  # shown again, not drawn again
    tour.go(0)
    assert layer_shown(tabs) and slides.showing is None and tour.step == 0
    assert set(SHOWN) == set(HIDDEN)  # switching overwrites every style it set
    layer(tabs, False)
    layer(tabs, False)  # idempotent: no second change sent
    assert tabs.styles["visibility"] == "hidden"
