"""The Observations tab: its model in plain pytest (a run gives an ensemble and scores, the truth stays
hidden until revealed, bad input is a message, reruns come from the cache, runs go through the page's
queue and push their end), and its view renders."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import zlib

import numpy as np
import pytest
import xarray as xr

from seaice_explorer.errors import SeaIceInputError
from seaice_explorer.plots.style import MIZ_COLOURS
from seaice_explorer.ui.model import observation_results as results
from seaice_explorer.ui.model import observations as obs
from seaice_explorer.ui.model import texts
from seaice_explorer.ui.model.jobs import SessionQueue
from seaice_explorer.ui.model.service import GenerationService
from seaice_explorer.ui.model.state import ExplorerState

from test_ui_state import CENS, DATA, GAUSS, OTHER, fake_registry  # noqa: E402  (shared with the state tests)
from test_ui_state import g32, reference  # noqa: E402,F401


class FakeAssimilate:
    """Stands in for ``assimilation.assimilate``: the observed cells kept, the hidden ones drawn around
    the observed mean, seeded; one callback per step."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.fail: Exception | None = None
        self.gate: threading.Event | None = None  # block inside the sampler loop until set

    def __call__(self, backend, obs_ds, recipe, *, obs_sigma, method, device, models_dir, callback):
        self.calls.append(dict(backend=backend, n=recipe.n, steps=recipe.steps, seed=recipe.seed, method=method,
                               obs_sigma=obs_sigma))
        if self.fail is not None:
            raise self.fail
        for step in range(recipe.steps):
            if callback is not None:
                callback({"i": step, "sigma": 1.0, "x": None, "denoised": None})
            if self.gate is not None:
                self.gate.wait(5)
        rng = np.random.default_rng(recipe.seed + zlib.crc32(backend.encode()) % 1000)
        day = obs_ds.isel(time=0, drop=True)
        out = {}
        for name, da in day.data_vars.items():
            seen = da.values
            filled = np.where(np.isnan(seen), np.nanmean(seen), seen)[None] + 0.1 * rng.standard_normal(
                (recipe.n, *seen.shape))
            filled = np.clip(filled, 0.0, 1.0) if name == "sic" else filled
            out[name] = (("sample", "y", "x"), np.where(day["mask"].values == 1, filled, np.nan).astype(np.float32))
        return xr.Dataset(out, coords={c: day[c] for c in day.coords}).assign_coords(sample=np.arange(recipe.n))


@pytest.fixture()
def fake() -> FakeAssimilate:
    return FakeAssimilate()


def make(fake: FakeAssimilate, reference, **kw) -> obs.ObservationsState:  # noqa: F811
    explorer = ExplorerState(fake_registry(), reference_loader=lambda spec: reference,
                             executor=kw.pop("executor", None))
    kw.setdefault("n", 4)
    kw.setdefault("steps", 3)
    return obs.ObservationsState(explorer, assimilate_fn=fake, record_loader=lambda spec: reference.ds, **kw)


# ---------------------------------------------------------------- the model
def test_backends_methods_and_days_come_from_the_page(fake, reference):  # noqa: F811
    m = make(fake, reference)
    assert m.param.backend.objects == [DATA, GAUSS, CENS] and m.backend == GAUSS  # a selected latent one first
    assert m.method == "mmps" and "repaint" not in m.param.method.objects  # repaint needs cells to replace
    m.backend = DATA
    assert "repaint" in m.param.method.objects and m.method == "mmps"
    first, last = m.param.day.bounds
    assert (str(first), str(last)) == ("1970-01-01", "1970-01-12") and m.day == last  # nearest to mid-March
    m.explorer.dataset = "other.nc"  # another data set: its backends, its record
    assert m.param.backend.objects == [OTHER] and m.backend == OTHER and m.result is None


def test_a_run_gives_the_ensemble_baselines_and_scores(fake, reference):  # noqa: F811
    m = make(fake, reference, preset="pole_hole")
    job = m.run()
    assert job.finished and not m.running and m.status.startswith("done")
    res = m.result
    assert res.ensemble.sizes["sample"] == 4 and fake.calls[0]["method"] == "mmps"
    hidden = res.hidden.values
    assert hidden.any() and np.isnan(res.observed["sic"].values[hidden]).all()
    assert np.isfinite(res.observed["sic"].values[~hidden & (res.hidden["mask"].values == 1)]).all()
    p = res.probability.values
    assert np.nanmin(p) >= 0 and np.nanmax(p) <= 1
    np.testing.assert_allclose(res.spread.values, res.ensemble["sic"].std("sample").values)
    table = m.scores_table()
    assert len(table) == 3 and {"fair CRPS", "IIEE [10³ km²]", "coverage"} <= set(table.columns)
    assert any(i.startswith("climatology (4 days)") for i in table.index)
    assert table.loc["inpainting (harmonic)", "spread"] == "–"  # one member: no spread
    assert np.isfinite(table["fair CRPS"].astype(float)).all()
    assert table.iloc[0]["IIEE [10³ km²]"] == pytest.approx(res.scores[table.index[0]]["iiee"] / 1e3)


def test_the_truth_is_held_out_until_revealed(fake, reference):  # noqa: F811
    m = make(fake, reference)
    m.run()
    res = m.result
    assert not m.reveal
    assert np.isnan(results.truth_spec(res, m.reveal).values).all() and "held out" in results.truth_spec(res, False).title
    assert set(results.edge_fields(res, m.reveal)) == {"ensemble"}
    m.reveal = True
    assert np.isfinite(results.truth_spec(res, True).values).any() and set(results.edge_fields(res, True)) == {"ensemble",
                                                                                                      "truth"}
    m.n = 3  # the same day and mask: the truth stays revealed
    m.run()
    assert m.reveal
    m.preset = "swath_gap"  # another mask: hidden again
    m.run()
    assert not m.reveal


def test_a_rerun_comes_from_the_cache(fake, reference):  # noqa: F811
    m = make(fake, reference)
    m.run()
    first = m.result
    job = m.run()
    assert len(fake.calls) == 1 and m.result is first and job.fraction == 1.0
    m.seed = 1
    m.run()
    assert len(fake.calls) == 2 and m.result is not first


def test_bad_input_is_a_message_never_an_exception(fake, reference):  # noqa: F811
    m = make(fake, reference)
    m.param.update(preset=obs.DRAWN_BOX, box=(9e7, 9.1e7, 9e7, 9.1e7))  # far off the grid
    assert m.run() is None and "holds no ocean cell" in m.explorer.message and not fake.calls
    m.box = (-2e6, 2e6, -2e6, 2e6)
    m.run()
    shown = m.result
    assert shown is not None and shown.key.mask.startswith("box ")
    fake.fail = SeaIceInputError("obs", "no observation: every value is NaN", "Keep some cells finite")
    m.seed = 3
    m.run()
    assert m.result is shown and not m.running and m.status == "failed"
    assert m.explorer.message_level == "error" and "Could not fill in the observations" in m.explorer.message
    with pytest.raises(ValueError):
        m.n = 64  # absurd settings are refused by param's bounds


def test_runs_go_through_the_page_queue_and_push_their_end(fake, reference):  # noqa: F811
    """No timer: the run ends on the service's worker, which calls the page's push; its poll applies it."""
    service = GenerationService(workers=1)
    try:
        m = make(fake, reference, executor=SessionQueue(service, "page"), steps=20)
        fake.gate = threading.Event()
        ended = threading.Event()
        m.push = lambda: ended.set() if not m.poll() else None
        m.run()
        assert m.running and m.run() is None and "already going" in m.explorer.message
        for _ in range(300):  # until the worker is inside the sampler
            if fake.calls:
                break
            threading.Event().wait(0.1)
        m.cancel()  # stops at the next sampler step
        fake.gate.set()
        assert ended.wait(30)
        assert m.status == "cancelled" and m.result is None and len(fake.calls) == 1
        ended.clear()
        m.run()
        m.cancel()  # at once: it may never run, and the page still hears of its end
        assert ended.wait(30)
        assert m.status == "cancelled" and not m.running
        fake.gate = None
        ended.clear()
        m.seed = 2
        m.run()
        assert ended.wait(30)
        assert m.result is not None and m.progress == 1.0 and m.result.key.recipe.seed == 2
    finally:
        service.shutdown(5.0)


def test_the_model_imports_neither_panel_nor_torch():
    code = "import sys, seaice_explorer.ui.model.observations; print('panel' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_texts_name_the_tab_and_say_where_the_days_come_from():
    assert texts.TABS[-1] == texts.OBSERVATIONS == "Observations"
    assert set(texts.MASK_LABELS.values()) == {*obs.MASKS, obs.DRAWN_BOX}
    assert "SYNTHETIC" in texts.observations_source("synthetic neXtSIM-like", "2000-01-01 to 2001-12-30")
    real = texts.observations_source("OSI SAF OSI-450-a satellite observations (real)", "2019-01-01 to 2019-12-31",
                                     held_out=True, credit="Copyright EUMETSAT")
    assert "never trained on" in real and "EUMETSAT" in real and "SYNTHETIC" not in real


@pytest.mark.slow
def test_the_fastest_real_backend_fills_in_a_day():
    """The shipped osisaf family end to end, tiny: two members, two steps."""
    from seaice_explorer.ui.session import load_registry

    registry = load_registry(None)
    if "osisaf" not in registry.datasets:
        pytest.skip("no osisaf backend in models/")
    m = obs.ObservationsState(ExplorerState(registry, dataset="osisaf", device="cpu"), n=2, steps=2)
    assert m.backend == "osisaf-ldm-gaussian" and str(m.day) == "2019-03-15"
    m.run()
    assert m.result is not None and m.result.n == 2 and np.isfinite(m.scores_table()["fair CRPS"].astype(float)).all()


# ---------------------------------------------------------------- the view
def test_the_view_builds_when_shown_and_renders_its_maps(fake, reference):  # noqa: F811
    pn = pytest.importorskip("panel")
    hv = pytest.importorskip("holoviews")
    from bokeh.plotting import figure

    from seaice_explorer.ui.views.observations_view import ObservationsView

    hv.extension("bokeh", logo=False)
    explorer = ExplorerState(fake_registry(), reference_loader=lambda spec: reference)
    view = ObservationsView(state=explorer, assimilate_fn=fake, record_loader=lambda spec: reference.ds)
    assert view.model is None  # nothing built until the tab is shown
    root = pn.panel(view).get_root()
    m = view.model
    assert view.empty.visible and view.pane.object is None and "SYNTHETIC" in view.source.object
    m.param.update(n=3, steps=2)
    view.run.clicks += 1
    assert m.result is not None and not view.empty.visible and view.scores.visible
    titles = sorted(f.title.text for f in root.select({"type": figure}))
    assert len(titles) == 6 and titles[-2].startswith("probability") and titles[-1].startswith("truth · held out")
    assert titles[2].startswith("latent-g · member 0") and titles[3].startswith("observed")
    assert len(view.scores.object) == 3
    view.reveal.value = True  # the truth and its edge appear: the page's maps are redrawn
    gc.collect()  # the old maps' styles go with them, never the new ones'
    m.member = 1
    figures = {f.title.text.split(" · ")[0]: f for f in root.select({"type": figure})}
    assert "truth" in figures and "black" in view.edges.object
    member = figures[GAUSS]
    lines = [r.glyph.line_color for r in member.renderers if type(r.glyph).__name__ == "Line"]
    assert MIZ_COLOURS[0.15] in lines and MIZ_COLOURS[0.80] in lines and len(member.right) == 1  # its colour bar
    assert any(type(t).__name__ == "BoxEditTool" for t in figures["observed"].tools)
    assert view.member.end == 2
    view._on_box({"x0": [2e5], "x1": [-3e5], "y0": [1e5], "y1": [-4e5]})  # a box drawn in the browser
    assert m.preset == obs.DRAWN_BOX and m.box == (-3e5, 2e5, -4e5, 1e5)
    view.__panel__()._cleanup(root)
