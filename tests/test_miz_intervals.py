"""The MIZ tab's scores with their 90 % bootstrap intervals (the same bootstrap as ``evaluate``): the
intervals hold the means' values, narrow with more samples, follow the evaluation layer, are computed
once per result, and the table and the chart show them."""

from __future__ import annotations

import time

import numpy as np
import pytest
import xarray as xr

from seaice_explorer.evaluation.bootstrap import bootstrap_scores
from seaice_explorer.evaluation.features import StateFeatures
from seaice_explorer.ui.model import analysis, texts
from seaice_explorer.variables import VARIABLES
from test_ui_state import DATA, GAUSS, FakeGenerator, _fields, make_state
from test_ui_state import g32  # noqa: F401  (fixture)

#: Scores that are means over the generated states: their percentile interval holds their value.
MEANS = ("mean extent [10⁶ km²]", "small-scale power ratio (sic)", "beyond bounds [%]")
#: Distances between the two sets: biased upward at small n, so their interval may lie above the value.
DISTANCES = ("W1 extent [10⁶ km²]", "W1 MIZ area [10⁶ km²]", "MIZ-frequency RMSE")


@pytest.fixture(scope="module")
def reference60(g32):  # noqa: F811
    """60 reference states (the shared fixture's 12 leave the reference's own spread dominant)."""
    fields = _fields(g32, np.random.default_rng(7), 60, 0.0)
    ds = xr.Dataset({k: (("time", "y", "x"), v, VARIABLES[k].cf_attrs()) for k, v in fields.items()},
                    coords=g32.coords).assign_coords(time=np.arange(60).astype("datetime64[D]"))
    ds.attrs.update(g32.attrs, reference_kind="synthetic test data")
    return analysis.summarise_reference(ds, "test60")


def _results(g32, reference, n: int, bounds: str = "raw"):  # noqa: F811
    state = make_state(FakeGenerator(g32), reference, n=n, backends=[DATA, GAUSS], bounds=bounds)
    state.generate()
    assert len(state.results) == 2
    return state


def test_every_score_column_gets_an_interval_that_holds_the_means(g32, reference60):  # noqa: F811
    state = _results(g32, reference60, 8, bounds="raw")
    for result in state.results.values():
        intervals = analysis.score_intervals(result, reference60)
        assert set(intervals) == set(analysis.SCORE_COLUMNS.values())  # every column but the generation time
        for name, score in intervals.items():
            assert score.level == 0.9 and score.n_generated == 8 and score.n_reference == 60
            assert score.ci_low <= score.ci_high
            if name in MEANS:
                assert score.ci_low <= result.scores[name] <= score.ci_high, name
            else:  # a distance's interval reaches at least its value (the redraws repeat samples: larger)
                assert score.ci_high >= result.scores[name], name
        assert intervals["beyond bounds [%]"].ci_high > 0  # raw fake samples overshoot the bounds


def test_the_intervals_are_the_evaluation_layers(g32, reference60):  # noqa: F811
    """The bootstrap of ``evaluate`` (evaluation.bootstrap) on the tab's features: the same numbers, and
    point values that are the table's (score_set's)."""
    state = _results(g32, reference60, 16)
    result = state.results[DATA]
    mine = analysis.score_intervals(result, reference60, replicates=200)
    gen = StateFeatures.of(result.samples, "sample", bands=reference60.features.bands)  # every variable
    seed = analysis.derived_seed(result.key.seed, "app intervals", DATA)
    theirs = bootstrap_scores(gen, StateFeatures.of(reference60.ds, "time"), 200, seed=seed,
                              groups=analysis.INTERVAL_GROUPS)
    for key, name in analysis.SCORE_COLUMNS.items():
        assert mine[name].estimate == pytest.approx(result.scores[name], rel=1e-4, abs=1e-9), name
        assert (mine[name].ci_low, mine[name].ci_high) == pytest.approx(
            (theirs[key].ci_low, theirs[key].ci_high), rel=1e-6, abs=1e-12), name


def test_intervals_narrow_with_more_samples(g32, reference60):  # noqa: F811
    widths = {}
    for n in (8, 64):
        result = _results(g32, reference60, n).results[DATA]
        widths[n] = {k: s.ci_high - s.ci_low for k, s in analysis.score_intervals(result, reference60).items()}
    for name in ("mean extent [10⁶ km²]", "MIZ-frequency RMSE", "small-scale power ratio (sic)"):
        assert widths[64][name] < 0.7 * widths[8][name], (name, widths[8][name], widths[64][name])


def test_computed_once_per_result_and_fast(g32, reference60):  # noqa: F811
    result = _results(g32, reference60, 64).results[GAUSS]
    t0 = time.perf_counter()
    first = analysis.score_intervals(result, reference60)
    seconds = time.perf_counter() - t0
    assert analysis.score_intervals(result, reference60) is first  # kept with the result
    assert seconds < 5.0  # typically about 0.15 s (300 replicates, 64 samples); generous for a loaded machine


def test_format_interval():
    assert texts.format_interval(0.1321, 0.1282, 0.1414) == "0.132 (0.128–0.141)"
    assert texts.format_interval(0.0978, 0.117, 0.168) == f"0.0978{texts.OUTSIDE_MARK} (0.117–0.168)"
    assert texts.format_interval(12.27) == "12.3" and texts.format_interval(float("nan")) == "–"
    assert texts.format_interval(1.0, float("nan"), float("nan")) == "1"


def test_the_miz_tab_table_and_chart_show_the_intervals(g32, reference60):  # noqa: F811
    hv = pytest.importorskip("holoviews")
    pytest.importorskip("panel")
    from seaice_explorer.ui.views.tabs import MizView

    hv.extension("bokeh")
    state = _results(g32, reference60, 8)
    view = MizView(state=state)
    table = view._scores()
    for backend, result in state.results.items():
        row = table.loc[f"{backend} ({result.key.bounds})"]
        intervals = analysis.score_intervals(result, reference60)
        for name, score in intervals.items():
            assert row[name] == texts.format_interval(result.scores[name], score.ci_low, score.ci_high)
            assert f"({score.ci_low:.3g}–{score.ci_high:.3g})" in row[name]
        assert "(" not in row["generation time [s]"]  # no interval for a time
    # the reference is what the sets are scored against: its own values stand alone
    assert "(" not in table.loc["reference", "mean extent [10⁶ km²]"]
    chart = view._score_intervals()
    panels = [chart[k] for k in chart.keys()]
    assert [p.opts.get().kwargs["title"] for p in panels] == list(analysis.INTERVAL_CHART)
    for panel, name in zip(panels, analysis.INTERVAL_CHART):
        (bars,) = [el for el in panel if isinstance(el, hv.Segments)]
        expected = sorted((analysis.score_intervals(r, reference60)[name].ci_low,
                           analysis.score_intervals(r, reference60)[name].ci_high) for r in state.results.values())
        assert sorted(zip(bars.dimension_values("low"), bars.dimension_values("high"))) == pytest.approx(expected)
    (line,) = [el for el in panels[0] if isinstance(el, hv.VLine)]  # the reference's own mean extent
    assert float(line.data) == pytest.approx(analysis.reference_row(reference60)["mean extent [10⁶ km²]"])
    hv.render(chart)  # draws with Bokeh
    content = view.content()
    assert any(getattr(obj, "object", None) is not None and "bootstrap interval" in str(obj.object)
               for obj in content.objects)
