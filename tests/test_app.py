"""The app module: importing it has no side effects; views render with a fake generator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
pn = pytest.importorskip("panel")
hv = pytest.importorskip("holoviews")

from test_ui_state import FakeGenerator, make_state  # noqa: E402  (fixtures shared with the state tests)
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
    assert sources == {"default": "default", "neXtSIM: run.nc": str(f.resolve()),
                       "observed: osi.nc": str((tmp_path / "osi.nc").resolve())}
    assert app_module.parse_args([]).cache_mb == 1024


def test_create_app_builds_an_offline_template_without_a_server(app_module):
    template = app_module.create_app([])
    assert isinstance(template, pn.template.BootstrapTemplate)
    tabs = template.main[0]
    assert [name for name in tabs._names] == ["Maps", "MIZ statistics", "Smoothing", "Watch it denoise", "About"]


@pytest.fixture()
def served_state(g32, reference):  # noqa: F811
    fake = FakeGenerator(g32)
    state = make_state(fake, reference, bounds="none")
    state.generate()
    return state


def _figures(plot):
    from bokeh.models import GridPlot

    return [c[0] for c in plot.children] if isinstance(plot, GridPlot) else [plot]


def test_maps_view_links_panels_and_switches_variable_in_place(served_state):
    from bokeh.models import ColorBar

    from seaice_explorer.ui.views import MapsView

    view = MapsView(state=served_state)
    plot = hv.renderer("bokeh").get_plot(view.pane.object)
    figs = _figures(plot.state)
    assert len(figs) == 3  # reference + dm + ldm-censored
    assert len({id(f.x_range) for f in figs}) == 1
    titles = [f.title.text for f in figs]
    assert titles[0].startswith("reference") and titles[1].startswith("dm")
    served_state.variable = "sit"  # the stream updates the existing figures
    bars = [r for f in figs for r in f.right if isinstance(r, ColorBar)]
    assert bars and all(b.title == "sea-ice thickness [m]" for b in bars)
    assert view.member.end == 2 and len(view.panel_specs()) == 3


def test_sidebar_shows_rule_and_violations_that_change_with_bounds(served_state):
    from seaice_explorer.ui.views import Sidebar

    bar = Sidebar(state=served_state)
    assert "`dm` → **none**" in bar.rule.object
    before = bar.violations.object
    assert "none" in before and "**0 %**" not in before
    served_state.bounds = "censored"
    assert "falls back to clip" in bar.rule.object
    assert bar.violations.object != before and "(censored): **0 %**" in bar.violations.object


def test_downloads_produce_netcdf_and_png(served_state, tmp_path):
    from seaice_explorer.ui.views import Downloads, MapsView

    dl = Downloads(state=served_state, maps_view=MapsView(state=served_state))
    path = tmp_path / dl.netcdf.filename
    path.write_bytes(dl._netcdf().getvalue())
    ds = xr.open_dataset(path)
    assert ds.sizes["backend"] == 2 and ds.attrs["bounds_dm"] == "none"
    png = dl._png().getvalue()
    assert png[:4] == b"\x89PNG"


def test_tabs_render_content(served_state):
    from seaice_explorer.ui.views import AboutView, DenoiseView, MizView, SmoothingView

    miz = MizView(state=served_state)._content()
    assert isinstance(miz, pn.Column)
    hv_panes = [o for o in miz.objects if isinstance(o, pn.pane.HoloViews)]
    assert len(hv_panes) == 3
    hv.render(hv_panes[0].object, backend="bokeh")  # MIZ frequency maps and differences
    table = [o for o in miz.objects if isinstance(o, pn.pane.DataFrame)][0].object
    assert list(table.index) == ["reference", "dm (none)", "ldm-censored (none)"]
    smooth = SmoothingView(state=served_state)._content()
    layout = [o for o in smooth.objects if isinstance(o, pn.pane.HoloViews)][0].object
    assert len(layout) == 5  # one spectrum plot per variable
    dx_km = served_state.reference_data.spectra["sic"].attrs["dx_km"]
    for overlay in layout:  # curves stop at the Nyquist wavelength 2Δx (rings beyond it are partial)
        for curve in overlay:
            assert curve.dimension_values(0).min() >= 2 * dx_km - 1e-6
    about = AboutView(state=served_state)._content().object
    assert "not neXtSIM output" in about
    denoise = DenoiseView(state=served_state)
    served_state.record_trajectory()
    assert denoise.player.end == served_state.trajectory.n_steps - 1
    assert "noise level" in denoise.sigma.object
    hv.render(denoise.pane.object, backend="bokeh")


def test_hidden_tabs_do_no_work_until_shown(served_state):
    from seaice_explorer.ui.views import MizView, SmoothingView, follow_active_tab

    miz, smooth = MizView(state=served_state), SmoothingView(state=served_state)
    tabs = pn.Tabs(("Maps", pn.pane.Markdown("maps")), ("MIZ", miz), ("Smoothing", smooth))
    follow_active_tab(tabs, {1: miz, 2: smooth})
    assert len(miz._holder) == 0 and miz._dirty  # never shown: nothing built
    tabs.active = 1
    assert miz.active and not smooth.active and len(miz._holder) == 1 and not miz._dirty
    served_state.seed = 5
    served_state.generate()  # new results while the MIZ tab is shown: rebuilt at once
    assert not miz._dirty and smooth._dirty and len(smooth._holder) == 0
    tabs.active = 2
    assert len(smooth._holder) == 1 and not smooth._dirty


def test_notifications_are_not_needed_outside_a_server(served_state):
    from seaice_explorer.ui.views import connect_session

    connect_session(served_state)  # no session: a no-op, no periodic callback is started
    assert not served_state.running
