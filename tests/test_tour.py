"""The guided tour without a browser: stops picked from the registry by kind, their content made once
per server and pushed to the pages (a page never adds a model after it loaded), the finding stops drawn
from the evaluation report's own summaries, the words quoting the reports (and saying so when a report
is missing), "Explore this", map sizes from the window, the presenter's keys."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from seaice_explorer.evaluation.reports import read_report, report_folder
from seaice_explorer.ui.views.layout import Display, map_grid
from seaice_explorer.ui.views.presentation import key_action
from seaice_explorer.ui.tour import Bank, Tour, apply_stop, plan, prepare
from seaice_explorer.ui.tour import content, story
from seaice_explorer.ui.tour.bank import reports_for
from test_observations_ui import FakeAssimilate  # shared fakes
from test_ui_state import CENS, DATA, GAUSS, FakeGenerator, make_state
from test_ui_state import g32, reference  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def reports_dir(tmp_path, monkeypatch):
    """A copy of the synthetic family's report (with its maps.nc); no observed report."""
    shutil.copytree(ROOT / "docs" / "evaluation", tmp_path / "evaluation",
                    ignore=shutil.ignore_patterns("samples", "*.png"))
    monkeypatch.setenv("SEAICE_EXPLORER_REPORTS", str(tmp_path))
    return tmp_path


@pytest.fixture()
def prepared(g32, reference, reports_dir):  # noqa: F811
    fake = FakeGenerator(g32)
    state = make_state(fake, reference)
    tour = Tour(state, assimilate_fn=FakeAssimilate(), record_loader=lambda spec: reference.ds)
    pushes = []
    tour.bank.subscribe(lambda: pushes.append(len(tour.bank.content)))
    tour.prepare()  # no submit here: made inline, as a server does on its worker
    return fake, state, tour, pushes


def test_stops_pick_backends_by_kind_and_decoder_not_name(g32, reference):  # noqa: F811
    stops = {s.key: s for s in plan(make_state(FakeGenerator(g32), reference).registry)}
    assert list(stops) == ["ice", "denoise", "latent", "finding1", "finding2", "finding3", "speed", "gaps"]
    assert stops["denoise"].replay == DATA and stops["latent"].replay == CENS
    assert stops["finding1"].backends == (DATA, GAUSS, CENS) and stops["finding1"].report_bounds == "native"
    assert stops["finding3"].backends == (GAUSS, CENS) and stops["finding3"].report_bounds == "clamp"
    assert not any(stops[f"finding{i}"].generated for i in (1, 2, 3))  # drawn from the report
    assert stops["speed"].backends == (DATA, GAUSS) and stops["ice"].dataset == "default"
    assert stops["gaps"].observes and stops["gaps"].keys() == [] and stops["gaps"].tab == "Observations"


def test_the_server_makes_every_stop_once_and_pushes_each(prepared):
    fake, state, tour, pushes = prepared
    bank = tour.bank
    assert bank.done and list(bank.content) == [s.key for s in tour.stops]
    assert pushes == [1, 2, 3, 4, 5, 6, 7, 8, 8]  # one push per stop drawn, one when done
    assert len(fake.calls) == 4  # two replays and the speed pair: the findings generate nothing
    assert len(tour.observe.keywords["assimilate_fn"].calls) == 1  # the gap filling, once
    for stop in tour.stops:
        c = bank.content[stop.key]
        assert c.problem is None and c.picture is not None, (stop.key, c.problem)
        assert c.picture_format == ("gif" if stop.replay else "png")
        assert c.picture_html.startswith(f'<img src="data:image/{c.picture_format};base64,')
        assert (c.forest is not None) == stop.key.startswith("finding"), stop.key
    tour.prepare()  # once per server: a second page does not make it again
    assert len(fake.calls) == 4 and pushes[-1] == 8 and len(pushes) == 9
    assert len(tour.observe.keywords["assimilate_fn"].calls) == 1


def test_a_page_only_restyles_layers_and_a_late_stop_arrives_by_push(g32, reference, reports_dir):  # noqa: F811
    """A page built before the stops are drawn gets them by push, into panes it already has: no pane
    or layer is added after it was built, and a step changes styles alone."""
    pn = pytest.importorskip("panel")
    from seaice_explorer.ui.tour.views import HIDDEN, SHOWN, STACK_CSS, TourView, is_shown, layer

    state = make_state(FakeGenerator(g32), reference)
    tour = Tour(state, assimilate_fn=FakeAssimilate(), record_loader=lambda spec: reference.ds)
    tabs = pn.Tabs(("Maps", pn.pane.Markdown("m")))
    view = TourView(tour=tour, display=Display(), tabs=tabs)
    panes = {k: (view.words[k], view.pictures[k], view.slots[k], view.texts[k]) for k in view.slots}
    stack = list(view.stack.objects)
    assert stack == [*view.slots.values(), tabs] and STACK_CSS in view.stack.stylesheets
    assert all(p.object == "" for p in view.pictures.values()) and "Preparing" in view.status.object
    tour.prepare()  # the server draws the stops; each is pushed into the page's existing panes
    assert all(view.pictures[k].object.startswith("<img") for k in view.slots)
    assert view.status.object == "All steps ready"
    for step in (1, 2, 4, 6, 5, 1):
        tour.go(step)
        key = tour.stops[step - 1].key
        layers = [*view.slots.values(), tabs]
        assert all(obj.visible for obj in layers)  # never collapsed
        assert [k for k, slot in view.slots.items() if is_shown(slot)] == [key] and not is_shown(tabs)
        assert [k for k, text in view.texts.items() if is_shown(text)] == [key]
        assert all(obj.styles["grid-area"] == "1 / 1" for obj in layers)  # one cell: the stack keeps its height
        assert f"{step} / 8" in view.title.object
    assert list(view.stack.objects) == stack  # nothing added
    assert {k: (view.words[k], view.pictures[k], view.slots[k], view.texts[k]) for k in view.slots} == panes
    tour.go(0)
    assert is_shown(tabs) and view.showing is None and not view.card.visible
    assert set(SHOWN) == set(HIDDEN)  # switching overwrites every style it set
    layer(tabs, False)
    layer(tabs, False)  # idempotent
    assert tabs.styles["visibility"] == "hidden"


def test_explore_opens_the_dashboard_at_the_stop(prepared):
    fake, state, tour, _ = prepared
    calls = len(fake.calls)
    state.cache.lru.clear()  # evicted from the results cache: the bank still has them
    tour.go(7)  # speed: generated once per server
    assert tour.explore().key == "speed" and tour.step == 0
    assert list(state.results) == [DATA, GAUSS] and len(fake.calls) == calls  # from the bank, at once
    assert state.steps == 20 and state.sampler == "heun" and state.bounds == "raw"
    tour.go(6)  # finding 3: nothing generated for it, so exploring it generates live
    tour.explore()
    assert list(state.results) == [GAUSS, CENS] and len(fake.calls) == calls + 2 and state.bounds == "clamp"


def test_explore_opens_the_observations_tab_on_the_gap_filling_run(prepared, reference):  # noqa: F811
    """"Filling the gaps" runs the Observations tab's opening run once per server; Explore this opens the
    tab on that very result (from the cache, nothing conditioned again), whether the tab is built before
    or after."""
    from seaice_explorer.ui.model import observations as obs

    _, state, tour, _ = prepared
    assimilate = tour.observe.keywords["assimilate_fn"]
    run = tour.bank.observations["gaps"]
    assert run.key.backend == GAUSS and run.key.mask == "edge_box" and run.key.method == "mmps"
    assert run.key.day == str(obs.default_day(reference)) and run.n == 8
    before = obs.ObservationsState(state, assimilate_fn=assimilate, record_loader=lambda spec: reference.ds)
    state.cache.lru.clear()  # evicted from the results cache: the bank still has it
    tour.go(8)
    assert tour.explore().key == "gaps" and tour.step == 0 and state.observe == run.key
    after = obs.ObservationsState(state, assimilate_fn=assimilate, record_loader=lambda spec: reference.ds)
    assert before.result is run and after.result is run and len(assimilate.calls) == 1
    assert (after.preset, after.n, after.method, str(after.day)) == ("edge_box", 8, "mmps", run.key.day)
    tour.go(8)
    tour.explore()  # again: the tab opens it again, still from the cache
    assert before.result is run and len(assimilate.calls) == 1


def _verdicts_file(folder: Path, backend: str, verdict: str) -> None:
    est = {"estimate": 0.61, "ci_low": 0.52, "ci_high": 0.74, "days": 40, "level": 0.9}
    targets = [{"backend": backend, "maker": f"{backend} posterior", "mask": "edge_box", "target": "crps_ratio",
                "rule": "CRPS ÷ climatological ensemble's CRPS ≤ 0.8", "verdict": verdict, **est}]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "verdicts.json").write_text(json.dumps({"report_days": 62, "members": 16, "level": 0.9,
                                                      "targets": targets, "calibration": [], "censored": None}))


def test_the_gap_words_quote_the_report_of_held_out_days(prepared, reports_dir):
    _, state, tour, _ = prepared
    stop = tour.stops[-1]
    shown = story.Shown(state.registry, observation=tour.bank.observations["gaps"])
    words = story.story(stop, shown, reports_for(state.registry))
    assert tour.bank.observations["gaps"].key.day in words and "No report of held-out days" in words
    _verdicts_file(reports_dir / "assimilation", GAUSS, "met")
    words = story.story(stop, shown, reports_for(state.registry))
    assert "On 40 held-out days" in words and "0.61 [0.52–0.74] (target ≤ 0.8: **met**)" in words
    assert "62 report days" in story.footer(stop, reports_for(state.registry))
    _verdicts_file(reports_dir / "assimilation", CENS, "missed")  # another backend judged: not quoted for this one
    assert "has not scored" in story.story(stop, shown, reports_for(state.registry))
    assert "could not run it" in story.story(stop, story.Shown(state.registry), reports_for(state.registry))


def test_the_first_stop_shows_the_busiest_ice_edge(g32, reference, reports_dir):  # noqa: F811
    state = make_state(FakeGenerator(g32), reference)
    bank = Bank()
    prepare(bank, plan(state.registry)[:1], state.runner, state.registry, state.reference_loader, state.sources,
            lambda: reports_for(state.registry))
    index = bank.ref_index["default"]
    assert reference.miz_area[index] == reference.miz_area.max()
    assert reference.time_label(index) in bank.content["ice"].words


def test_finding_pictures_are_the_reports_own_summaries(prepared, reports_dir):
    """A finding stop draws the report's maps.nc (the samples its verdict rests on); without one it says so."""
    import numpy as np
    from PIL import Image

    import xarray as xr

    _, state, tour, _ = prepared
    stops = {s.key: s for s in tour.stops}
    maps_nc = reports_dir / "evaluation" / "maps.nc"
    registry = state.registry
    report = reports_for(registry).family
    with xr.open_dataset(maps_nc) as maps:  # the report's own backends, judged as its findings judge them
        assert content._settings(maps, stops["finding1"], report) == ["dm/raw", "ldm-gaussian/raw",
                                                                      "ldm-censored/clamp"]
        assert content._settings(maps, stops["finding3"], report) == ["ldm-gaussian/clamp", "ldm-censored/clamp"]
    stop = stops["finding3"]
    maps_nc.unlink()
    reports = reports_for(registry)
    missing = content.build(stop, story.Shown(registry), reports)
    assert missing.picture is None and "maps.nc" in missing.problem and "No picture" in missing.picture_html
    assert missing.forest is not None  # the verdict's plot needs no maps
    image = Image.open(io.BytesIO(tour.bank.content["finding1"].picture))
    assert image.size[0] == content.WIDE_PX and np.asarray(image).std() > 10


def test_the_words_quote_the_report(prepared, reports_dir):
    _, state, tour, _ = prepared
    report = read_report(report_folder("default"))
    reports = story.Reports(family=report, observed=read_report(report_folder("osisaf")))
    assert reports.observed is None  # handled: said nowhere, nothing breaks
    words = {k: c.words for k, c in tour.bank.content.items()}
    footers = {k: c.footer for k, c in tour.bank.content.items()}
    assert "computed when this server started" in footers["denoise"] and "Heun, 20 steps" in footers["speed"]
    assert "the evaluation report's own samples" in footers["finding1"]
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


def test_a_missing_report_is_said_not_guessed(g32, reference, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SEAICE_EXPLORER_REPORTS", str(tmp_path))
    registry = make_state(FakeGenerator(g32), reference).registry
    reports = story.Reports(family=read_report(report_folder("default")))
    stop = plan(registry)[3]
    assert "not judged yet here" in story.story(stop, story.Shown(registry), reports)
    assert "no evaluation report found" in story.footer(stop, reports)


def _part(finding: int, verdict: str, n: int = 256) -> dict:
    return {"finding": finding, "part": f"part of {finding}", "verdict": verdict, "effect": 0.9, "ci_low": 0.8,
            "ci_high": 0.95, "null": 1.0, "margin": None, "n": n, "backends": ["a", "b"]}


def test_verdicts_come_from_findings_json_and_never_from_point_values(g32, reference, reports_dir):  # noqa: F811
    """A report without findings.json states no verdict, whatever its table's point values; with one,
    each finding's verdict follows from its parts: all reproduced, any refuted, else not resolved."""
    registry = make_state(FakeGenerator(g32), reference).registry
    folder = reports_dir / "evaluation"
    (folder / "findings.json").unlink(missing_ok=True)
    assert read_report(folder).findings == []
    parts = [_part(1, "reproduced"), _part(1, "not resolved", 200), _part(2, "reproduced"), _part(3, "refuted"),
             _part(3, "reproduced")]
    (folder / "findings.json").write_text(json.dumps(parts))
    report = read_report(folder)
    assert {f.number: f.verdict for f in report.findings} == {
        1: "not resolved at n = 200", 2: "reproduced", 3: "mixed at n = 256: 1 reproduced, 1 refuted, 0 not resolved"}
    words = story.story(plan(registry)[3], story.Shown(registry), story.Reports(family=report))
    assert "— not resolved at n = 200 here" in words and "×1.25" in words


def test_an_observed_report_without_data_space_says_not_evaluated(g32, reference, reports_dir):  # noqa: F811
    registry = make_state(FakeGenerator(g32), reference).registry
    stops = plan(registry)
    observed = reports_dir / "evaluation-osisaf"
    shutil.copytree(reports_dir / "evaluation", observed)
    (observed / "findings.json").unlink(missing_ok=True)  # a report judged without intervals
    table = (observed / "table.csv").read_text().splitlines()
    (observed / "table.csv").write_text("\n".join(line for line in table if not line.startswith("dm,")) + "\n")
    reports = story.Reports(family=read_report(report_folder("default")), observed=read_report(observed))
    assert "On real OSI SAF observations: not judged yet" in story.story(stops[3], story.Shown(registry), reports)
    (observed / "findings.json").write_text(json.dumps([_part(3, "reproduced")]))
    reports = story.Reports(family=read_report(report_folder("default")), observed=read_report(observed))
    assert "On real OSI SAF observations: **reproduced**" in story.story(stops[5], story.Shown(registry), reports)


# ---------------------------------------------------------------- map sizes and keys
def test_three_maps_fill_a_1920_window():
    normal = map_grid(3, 1580, 1080)  # the main area beside the 340 px sidebar
    shown = map_grid(3, 1920, 1080, presentation=True, above=274)  # no sidebar, a card above
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


def test_presenter_keys():
    assert key_action("ArrowRight") == "next" and key_action(" ") == "play"
    assert key_action("PageDown") == key_action("N") == "tour-next"
    assert key_action("Escape") == "leave" and key_action("x") is None


def test_header_keys_and_picture_through_the_tours_seam(prepared):
    """The header knows no tour: the mounted tour takes its keys first and gives the picture to save."""
    pn = pytest.importorskip("panel")
    from PIL import Image

    from seaice_explorer.ui import tour as tour_package
    from seaice_explorer.ui.views.denoise_view import DenoiseView
    from seaice_explorer.ui.views.header import Header

    _, state, _, _ = prepared
    display = Display()
    tabs = pn.Tabs(("Maps", pn.pane.Markdown("m")), ("Watch it denoise", pn.pane.Markdown("d")))
    view, extension = tour_package.mount(state, display, tabs, prepare_now=True)
    header = Header(state=state, display=display, tabs=tabs, denoise=DenoiseView(state=state, display=display),
                    extensions=[extension])
    tour = view.tour
    header.on_key("tour-next")
    assert tour.step == 0  # closed: Page Down does not open the tour
    extension.buttons[0].clicks += 1  # "Guided tour"
    assert tour.step == 1 and view.showing == "ice"
    header.on_key("tour-next")
    assert tour.step == 2 and view.showing == "denoise"
    member = state.member
    header.on_key("next")  # on a slide: taken by the tour, the session's member stays
    assert state.member == member
    png = Image.open(io.BytesIO(header.view_png()))  # the animation's finished frame, as a PNG
    assert png.format == "PNG" and png.size[0] > 600
    header.on_key("tour-previous")
    assert tour.step == 1
    tour.go(0)
    display.presentation = True
    header.on_key("leave")
    assert not display.presentation


def test_a_loaded_page_gets_no_new_bokeh_model_from_the_tour(g32, reference, reports_dir):  # noqa: F811
    """The cause of ``reference … isn't known``: models created after a page loaded, whose definition a
    later message could overtake. The tour's pushes and steps change properties of the models the page
    already has, and add none."""
    pn = pytest.importorskip("panel")
    from bokeh.document import Document

    from seaice_explorer.ui.tour.views import TourView

    state = make_state(FakeGenerator(g32), reference)
    tour = Tour(state, assimilate_fn=FakeAssimilate(), record_loader=lambda spec: reference.ds)
    tabs = pn.Tabs(("Maps", pn.pane.Markdown("m")))
    view = TourView(tour=tour, display=Display(), tabs=tabs)
    doc = Document()
    root = pn.Column(view).get_root(doc)
    doc.add_root(root)
    loaded = {m.id for m in doc.models}
    tour.prepare()  # every stop drawn after the page loaded, pushed into it
    for step in (1, 2, 3, 4, 5, 6, 7, 3, 0, 1):
        tour.go(step)
    assert {m.id for m in doc.models} == loaded
    texts = [m for m in doc.models if getattr(m, "text", None) and "data:image/png;base64" in str(m.text)]
    assert len(texts) >= 5  # the pictures did arrive, as text of existing models
