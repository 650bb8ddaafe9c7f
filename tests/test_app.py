"""The app module: importing it has no side effects; views render with a fake generator and a
registry; hidden tabs do no work; a models folder without backends still gives a page."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
pn = pytest.importorskip("panel")
hv = pytest.importorskip("holoviews")

from test_ui_state import CENS, DATA, GAUSS, FakeGenerator, make_state  # noqa: E402  (shared with the state tests)
from test_ui_state import g32, reference  # noqa: E402,F401


def test_importing_app_has_no_side_effects():
    code = (
        "import sys; sys.path.insert(0, %r); import app; "
        "from bokeh.io import curdoc; "
        "print('panel' in sys.modules, len(curdoc().roots))" % str(ROOT)
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "0"]  # Panel not even imported, nothing served


@pytest.fixture()
def app_module():
    sys.path.insert(0, str(ROOT))
    try:
        import app

        yield app
    finally:
        sys.path.remove(str(ROOT))


def test_reference_sources_come_only_from_the_server_command_line(app_module, tmp_path):
    f = tmp_path / "run.nc"
    args = app_module.parse_args(["--reference", str(f), "--observed", str(tmp_path / "osi.nc")])
    sources = app_module.reference_sources(args)
    assert sources == {"neXtSIM: run.nc": str(f.resolve()), "observed: osi.nc": str((tmp_path / "osi.nc").resolve())}
    assert app_module.parse_args([]).cache_mb == 1024 and app_module.parse_args([]).models is None
    assert app_module.parse_args(["--models", str(tmp_path)]).models == str(tmp_path)


def _tabs(template) -> pn.Tabs:
    """The app's tabs: the last layer of the tour's stack, below its card (the slides lie over them)."""
    stack = template.main[-1][-1]  # the tour view: [card, stack]
    return next(o for o in stack if isinstance(o, pn.Tabs))


def test_create_app_builds_an_offline_template_without_a_server(app_module):
    template = app_module.create_app([])
    assert isinstance(template, pn.template.BootstrapTemplate)
    tabs = _tabs(template)  # below the guided tour's card
    assert list(tabs._names) == ["Maps", "MIZ statistics", "Smoothing", "Watch it denoise", "About", "Observations"]
    assert tabs.dynamic


def test_a_models_folder_without_backends_still_gives_a_page(app_module, tmp_path):
    (tmp_path / "half-trained").mkdir()
    (tmp_path / "half-trained" / "config.json").write_text("{not json")
    from seaice_explorer.ui.views.sidebar import Sidebar
    from seaice_explorer.ui.views.tabs import AboutView

    tabs = _tabs(app_module.create_app(["--models", str(tmp_path)]))
    tabs.active = 4
    about = tabs[4].object().object  # the About tab's content, as Panel builds it when shown
    assert "No backend found" in about and "half-trained" in about and "unreadable JSON" in about
    state = app_module.create_state(app_module.parse_args(["--models", str(tmp_path)]))
    assert state.backends == [] and "No backend" in Sidebar(state=state).no_backend.object
    missing = app_module.create_state(app_module.parse_args(["--models", str(tmp_path / "absent")]))
    assert missing.backends == [] and "not found" in AboutView(state=missing).content().object


@pytest.fixture()
def served_state(g32, reference):  # noqa: F811
    fake = FakeGenerator(g32)
    state = make_state(fake, reference, bounds="raw")
    state.generate()
    return state


def _figures(plot):
    from bokeh.models import GridPlot

    return [c[0] for c in plot.children] if isinstance(plot, GridPlot) else [plot]


def test_maps_view_links_panels_and_switches_variable_in_place(served_state):
    from bokeh.models import ColorBar

    from seaice_explorer.ui.views.maps_view import MapsView, panel_specs

    view = MapsView(state=served_state)
    plot = hv.renderer("bokeh").get_plot(view.pane.object)
    figs = _figures(plot.state)
    assert len(figs) == 3  # reference + two backends
    assert len({id(f.x_range) for f in figs}) == 1
    titles = [f.title.text for f in figs]
    assert titles[0].startswith("reference") and titles[1].startswith(DATA)
    served_state.variable = "sit"  # the stream updates the existing figures
    bars = [r for f in figs for r in f.right if isinstance(r, ColorBar)]
    assert bars and all(b.title == "sea-ice thickness [m]" for b in bars)
    assert view.member.end == 2 and len(panel_specs(served_state)) == 3


def test_sidebar_offers_backends_and_bounds_from_the_registry(served_state):
    from seaice_explorer.ui.views.sidebar import Sidebar

    bar = Sidebar(state=served_state)
    assert list(bar.backends.options.values()) == [DATA, GAUSS, CENS]
    assert f"{CENS} · latent, censored decoder" in bar.backends.options
    assert bar.dataset.visible  # two data sets in the fake registry: the selector shows
    # the data-space backend cannot draw from a decoder: the mode is not offered, with its reason
    assert list(bar.bounds.options) == ["raw mean", "clamp to bounds"]
    assert "decoder draw" in bar.rule.object and "data space" in bar.rule.object
    served_state.backends = [GAUSS, CENS]
    assert list(bar.bounds.options) == ["raw mean", "clamp to bounds", "decoder draw"]
    assert "not offered" not in bar.rule.object


def test_sidebar_violations_change_with_bounds(served_state):
    from seaice_explorer.ui.views.sidebar import Sidebar

    bar = Sidebar(state=served_state)
    before = bar.violations.object
    assert f"`{DATA}` (raw)" in before and "**0 %**" not in before
    served_state.bounds = "clamp"
    assert bar.violations.object != before and f"`{CENS}` (clamp): **0 %**" in bar.violations.object
    assert f"`{CENS}`: clamp(μ, l, u) is its censored decoder's point estimate" in bar.rule.object
    served_state.bounds = "draw"  # refused: the shown results stay, the rule says why
    assert "(clamp): **0 %**" in bar.violations.object and "not available" in bar.rule.object
    assert served_state.bounds == "draw" and served_state.message_level == "warning"


def test_downloads_produce_netcdf_and_png(served_state, tmp_path):
    from seaice_explorer.ui.views.sidebar import Downloads

    dl = Downloads(state=served_state)
    path = tmp_path / dl.netcdf.filename
    path.write_bytes(dl._netcdf().getvalue())
    ds = xr.open_dataset(path)
    assert ds.sizes["backend"] == 2 and ds.attrs[f"bounds_{DATA}"] == "raw"
    png = dl._png().getvalue()
    assert png[:4] == b"\x89PNG"


def test_tabs_render_content(served_state):
    from seaice_explorer.ui.views.denoise_view import DenoiseView
    from seaice_explorer.ui.views.tabs import AboutView, MizView, SmoothingView

    hv.extension("bokeh", logo=False)  # hv.render below needs the renderer, also when this test runs alone
    miz = MizView(state=served_state).content()
    assert isinstance(miz, pn.Column)
    hv_panes = [o for o in miz.objects if isinstance(o, pn.pane.HoloViews)]
    assert len(hv_panes) == 4  # MIZ maps, histograms, scores with their intervals, violation maps
    assert "score-intervals" in hv_panes[2].css_classes
    hv.render(hv_panes[0].object, backend="bokeh")  # MIZ frequency maps and differences
    table = [o for o in miz.objects if isinstance(o, pn.pane.DataFrame)][0].object
    assert list(table.index) == ["reference", f"{DATA} (raw)", f"{CENS} (raw)"]
    smooth = SmoothingView(state=served_state).content()
    layout = [o for o in smooth.objects if isinstance(o, pn.pane.HoloViews)][0].object
    assert len(layout) == 5  # one spectrum plot per variable
    dx_km = served_state.reference_data.spectra["sic"].attrs["dx_km"]
    for overlay in layout:  # curves stop at the Nyquist wavelength 2Δx (rings beyond it are partial)
        for curve in overlay:
            assert curve.dimension_values(0).min() >= 2 * dx_km - 1e-6
    about = AboutView(state=served_state).content().object
    assert "not neXtSIM output" in about and f"`{CENS}`" in about and "half-trained" in about
    assert "clamp(μ, l, u)" in about and "at the bounds" in about
    denoise = DenoiseView(state=served_state)
    served_state.record_trajectory()
    assert denoise.player.end == served_state.trajectory.n_steps  # the last frame: the finished sample
    assert "noise level" in denoise.sigma.object
    hv.render(denoise.pane.object, backend="bokeh")


def test_hidden_tabs_do_no_work_until_shown(served_state):
    from seaice_explorer.ui.views.tabs import lazy_tabs

    built: list[str] = []

    def content(name):
        return lambda: built.append(name) or pn.pane.Markdown(f"{name} {len(served_state.results)}")

    tabs = lazy_tabs(served_state, ("Maps", pn.pane.Markdown("maps")), ("MIZ", content("miz")),
                     ("Smoothing", content("smooth")))
    model = tabs.get_root()  # Panel renders the shown tab only
    assert built == []
    tabs.active = 1
    assert built == ["miz"]
    tabs.active = 0
    served_state.seed = 5
    served_state.generate()  # new results while the MIZ tab is hidden: nothing is built
    assert built == ["miz"]
    tabs.active = 1  # shown again after a change: rebuilt once
    assert built == ["miz", "miz"]
    tabs.active = 0
    tabs.active = 1  # nothing changed since: kept
    assert built == ["miz", "miz"]
    tabs.active = 2
    assert built == ["miz", "miz", "smooth"]
    tabs._cleanup(model)


def test_covered_tabs_build_nothing_until_uncovered(served_state):
    """A lesson link opens on a tour slide that covers the tabs: the maps view is drawn only once uncovered."""
    from seaice_explorer.ui.views.layout import Display
    from seaice_explorer.ui.views.tabs import lazy_tabs

    class Maps(pn.viewable.Viewer):
        drawn = 0

        def __panel__(self):
            Maps.drawn += 1
            return pn.pane.Markdown("maps")

    display, built, other = Display(covered=True), [], pn.pane.Markdown("another ready-made view")
    tabs = lazy_tabs(served_state, ("Maps", Maps()), ("MIZ", lambda: built.append("miz") or pn.pane.Markdown("miz")),
                     ("Other", other), covered=display.param.covered)
    model = tabs.get_root()
    served_state.seed = 6
    served_state.generate()
    tabs.active = 1
    tabs.active = 0
    assert Maps.drawn == 0 and built == []  # covered: neither the ready-made view nor a content function ran
    display.covered = False
    assert Maps.drawn == 1 and built == []  # the shown tab is drawn once uncovered
    assert "maps" in model.tabs[0].child.children[0].text  # its own view, not another tab's
    display.covered = True
    display.covered = False
    served_state.seed = 7
    served_state.generate()
    assert Maps.drawn == 1  # a ready-made view is drawn once: it updates itself
    tabs.active = 1
    assert built == ["miz"]
    tabs.active = 2
    assert tabs[2]._inner_layout[0] is other  # each ready-made tab keeps its own view
    tabs._cleanup(model)


def test_notifications_are_not_needed_outside_a_server(served_state):
    from seaice_explorer.ui.session import connect_session

    connect_session(served_state)  # no session: a no-op, no periodic callback is started
    assert not served_state.running


def test_copy_as_command_follows_settings_changed_together(served_state):
    """Settings changed in one update (as "Explore this" and the URL do) reach the command line shown."""
    from seaice_explorer.ui.views.sidebar import Sidebar

    bar = Sidebar(state=served_state)
    served_state.param.update(seed=11, steps=7, n=5)
    assert "--seed 11" in bar.command.value and "--steps 7" in bar.command.value and "--n 5" in bar.command.value
