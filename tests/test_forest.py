"""The forest plot of a finding ("how sure are we"): one interval per part, the null where it belongs, the
margin band only with a margin, colours by verdict, ratios on a log axis; as a PNG; and on the tour card's
finding stops, from the findings.json its words quote (none where a finding is not judged yet)."""

from __future__ import annotations

import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

hv = pytest.importorskip("holoviews")
hv.extension("bokeh")

from bokeh.models import GridPlot, LogScale  # noqa: E402

from seaice_explorer.plots import export, forest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _part(finding: int, part: str, verdict: str, effect: float, low: float, high: float, *, null: float = 1.0,
          margin: float | None = None, backends: tuple[str, str] = ("ldm", "dm")) -> dict:
    return {"finding": finding, "part": part, "verdict": verdict, "effect": effect, "ci_low": low, "ci_high": high,
            "null": null, "margin": margin, "n": 256, "backends": list(backends)}


#: Finding 3's shape: two differences (null 0) and three ratios (null 1), directional (no margin).
MIXED = [
    _part(3, "|error| of the share of sic at 0, c/clamp − g/clamp (after clamping)", "reproduced", -17.1, -19.2, -14.9,
          null=0.0, backends=("c", "g")),
    _part(3, "|error| of the share of sic at 1, c/clamp − g/clamp (after clamping)", "reproduced", -5.5, -8.8, -2.1,
          null=0.0, backends=("c", "g")),
    _part(3, "MIZ-frequency RMSE ratio, c/clamp ÷ g/raw (native bounds)", "not resolved", 1.04, 0.89, 1.19,
          backends=("c", "g")),
    _part(3, "MIZ-area W1 ratio, c/clamp ÷ g/raw (native bounds)", "not resolved", 1.18, 0.93, 1.46,
          backends=("c", "g")),
    _part(3, "mean excess beyond the bounds ratio, c/raw ÷ g/raw (raw)", "refuted", 108.0, 104.9, 111.3,
          backends=("c", "g")),
]
#: Finding 1's shape: equivalence ratios with a margin of 1.25, two latent backends against one baseline.
EQUIVALENCE = [
    _part(1, f"{score} ratio, {b}/raw ÷ dm/raw (not judged: the guard (W1 0.1 vs 1.5 × 0.08))", verdict, e, lo, hi,
          margin=1.25, backends=(b, "dm"))
    for b in ("ldm-g", "ldm-c")
    for score, verdict, e, lo, hi in (("extent W1", "not resolved", 1.16, 0.59, 1.90),
                                      ("mean-map RMSE", "reproduced", 0.94, 0.85, 1.04),
                                      ("std-map RMSE", "refuted", 1.40, 1.30, 1.52))
]


def _overlays(layout) -> list:
    return [layout[k] for k in layout.keys()]


def _elements(overlay, kind) -> list:
    return [el for el in overlay if isinstance(el, kind)]


def _intervals(layout) -> list[tuple[float, float, float]]:
    """(low, high, y) of every interval bar drawn, panel by panel."""
    out = []
    for ov in _overlays(layout):
        for seg in _elements(ov, hv.Segments):
            out += [(float(a), float(b), float(y)) for a, b, y in
                    zip(seg.dimension_values("low"), seg.dimension_values("high"), seg.dimension_values("y"))]
    return out


def _points(layout) -> list[dict]:
    return [row for ov in _overlays(layout) for sc in _elements(ov, hv.Scatter)
            for row in sc.dframe().to_dict("records") if np.isfinite(row["y"]) and row["y"] > -100]


@pytest.mark.parametrize("parts", [MIXED, EQUIVALENCE], ids=["differences-and-ratios", "equivalence"])
def test_one_interval_and_one_point_per_part(parts):
    plot = forest.forest_plot(parts)
    bars = _intervals(plot)
    assert len(bars) == len(parts)
    assert sorted((lo, hi) for lo, hi, _ in bars) == sorted((p["ci_low"], p["ci_high"]) for p in parts)
    points = _points(plot)
    assert sorted(p["estimate"] for p in points) == sorted(p["effect"] for p in parts)
    for point in points:  # the point sits on its own bar's row
        assert any(lo <= point["estimate"] <= hi and y == point["y"] for lo, hi, y in bars)


def test_scales_get_their_own_panels_and_ratios_a_log_axis():
    panels = forest.forest_panels(MIXED)
    assert [(p.kind, p.null, len(p.rows)) for p in panels] == [("difference", 0.0, 2), ("ratio", 1.0, 3)]
    assert not panels[0].log and panels[1].log
    assert [r.label for r in panels[1].rows] == ["MIZ-frequency RMSE", "MIZ-area W1", "mean excess beyond the bounds"]
    assert panels[1].xlabel == "ratio" and panels[0].title == "c/clamp − g/clamp"  # the comparison, said once
    figures = [child[0] for child in hv.render(forest.forest_plot(MIXED)).children]
    assert [isinstance(f.x_scale, LogScale) for f in figures] == [False, True]
    equivalence = forest.forest_panels(EQUIVALENCE)  # one scale, two comparisons: a panel each, one x range
    assert [p.title for p in equivalence] == ["ldm-g/raw ÷ dm/raw", "ldm-c/raw ÷ dm/raw"]
    # the score without its bracket ("(not judged…)") and without the suffix all rows share ("ratio")
    assert [r.label for r in equivalence[0].rows] == ["extent W1", "mean-map RMSE", "std-map RMSE"]
    layout = forest.forest_plot(EQUIVALENCE)
    assert len({ov.opts.get().kwargs["xlim"] for ov in _overlays(layout)}) == 1
    signed = [_part(9, "a ratio of signed scores, a ÷ b", "not resolved", 0.4, -0.2, 1.1)]  # no log of ≤ 0
    assert not forest.forest_panels(signed)[0].log
    assert not isinstance(hv.render(forest.forest_plot(signed)).children[0][0].x_scale, LogScale)


def test_the_null_line_sits_at_each_panels_null():
    for parts, nulls in ((MIXED, [0.0, 1.0]), (EQUIVALENCE, [1.0, 1.0])):
        layout = forest.forest_plot(parts)
        lines = [[float(v.data) for v in _elements(ov, hv.VLine)] for ov in _overlays(layout)]
        assert len(lines) == len(nulls)
        for drawn, null in zip(lines, nulls):
            assert null in drawn
        ticks = [t for t, _ in _overlays(layout)[-1].opts.get().kwargs["xticks"]]
        assert nulls[-1] in ticks  # the null is always labelled


def test_the_margin_band_is_drawn_when_and_only_when_a_margin_is_given():
    layout = forest.forest_plot(EQUIVALENCE)
    for ov in _overlays(layout):
        spans = _elements(ov, hv.VSpan)
        assert len(spans) == 1
        assert spans[0].data == pytest.approx((1 / 1.25, 1.25))  # null ÷ margin … null × margin
        ticks = [t for t, _ in ov.opts.get().kwargs["xticks"]]
        assert 0.8 in ticks and 1.25 in ticks
    assert all(not _elements(ov, hv.VSpan) for ov in _overlays(forest.forest_plot(MIXED)))
    difference = [_part(9, "a − b", "not resolved", 0.5, -1.0, 2.0, null=0.0, margin=1.5)]  # null ± margin
    (span,) = _elements(_overlays(forest.forest_plot(difference))[0], hv.VSpan)
    assert span.data == pytest.approx((-1.5, 1.5))


def test_colours_and_markers_follow_the_verdicts():
    for parts in (MIXED, EQUIVALENCE):
        points = _points(forest.forest_plot(parts))
        assert {p["verdict"] for p in points} == {p["verdict"] for p in parts}
        for p in points:
            assert p["colour"] == forest.VERDICT_COLOURS[p["verdict"]]
            assert p["marker"] == forest.VERDICT_MARKERS[p["verdict"]]
    assert len(set(forest.VERDICT_COLOURS.values())) == 3
    # the legend (on the first panel) names every verdict, also those only drawn in a later panel
    plot = hv.render(forest.forest_plot(MIXED))
    first = plot.children[0][0]
    assert [item.label["value"] for item in first.legend[0].items] == ["reproduced", "not resolved", "refuted"]


def test_hover_names_the_part_and_its_interval():
    parts = [{**EQUIVALENCE[0], "level": 0.9}]
    (point,) = _points(forest.forest_plot(parts))
    assert point["part"] == parts[0]["part"] and point["interval"].startswith("90 % interval 0.59–1.9")


def test_presentation_fonts_and_fixed_size():
    small = hv.render(forest.forest_plot(EQUIVALENCE, width=470, height=280, font_px=11))
    big = hv.render(forest.forest_plot(EQUIVALENCE, width=610, height=380, font_px=15))
    for plot, (width, height, font) in ((small, (470, 280, 11)), (big, (610, 380, 15))):
        assert isinstance(plot, GridPlot)
        figures = [child[0] for child in plot.children]
        assert {f.width for f in figures} == {width}
        assert abs(sum(f.height for f in figures) - height) <= len(figures)  # the plot is as tall as asked
        assert figures[0].yaxis[0].major_label_text_font_size == f"{font}px"


def test_nice_ticks_are_round_and_inside():
    assert forest.nice_ticks(0.55, 2.6, log=True) == [1.0, 1.5, 2.0, 2.5]
    assert forest.nice_ticks(0.8, 130.0, log=True) == [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
    assert forest.nice_ticks(-20.5, 1.2) == [-20.0, -15.0, -10.0, -5.0, 0.0]


def test_forest_png_is_a_png_of_the_width_asked():
    from PIL import Image

    for parts in (MIXED, EQUIVALENCE):
        png = export.forest_png(parts, title="Finding", width_px=900)
        image = Image.open(io.BytesIO(png))
        assert image.format == "PNG" and image.size[0] == 900 and image.size[1] > 200
    with pytest.raises(ValueError):
        export.forest_png([])


# --------------------------------------------------------------------------- on the tour card
from test_ui_state import FakeGenerator, g32, make_state, reference  # noqa: E402,F401  (fixtures)


@pytest.fixture()
def finding_stops(g32, reference, tmp_path, monkeypatch):  # noqa: F811
    """The tour's finding stops over a copy of the synthetic family's report (our own findings.json)."""
    from seaice_explorer.ui.tour import plan

    shutil.copytree(ROOT / "docs" / "evaluation", tmp_path / "evaluation",
                    ignore=shutil.ignore_patterns("samples", "*.png", "*.nc"))
    monkeypatch.setenv("SEAICE_EXPLORER_REPORTS", str(tmp_path))
    registry = make_state(FakeGenerator(g32), reference).registry
    return registry, {s.key: s for s in plan(registry)}, tmp_path / "evaluation" / "findings.json"


def _content(registry, stop):
    from seaice_explorer.ui.tour import content, story
    from seaice_explorer.ui.tour.bank import reports_for

    return content.build(stop, story.Shown(registry), reports_for(registry))


def test_each_finding_stop_shows_its_forest_plot_from_the_reports_findings(finding_stops):
    """The card's forest plot is drawn once per server from the findings.json its words quote."""
    from PIL import Image

    registry, stops, findings = finding_stops
    parts = [*EQUIVALENCE, *MIXED, _part(2, "sid small- ÷ large-scale power ratio, ldm/raw ÷ dm/raw", "reproduced",
                                         0.56, 0.55, 0.58)]
    findings.write_text(json.dumps(parts))
    sizes = {}
    for key in ("finding1", "finding2", "finding3"):
        made = _content(registry, stops[key])
        assert made.forest is not None and made.forest_html.startswith('<img src="data:image/png;base64,')
        sizes[key] = Image.open(io.BytesIO(made.forest)).size
    assert sizes["finding1"][1] > sizes["finding2"][1]  # more parts, a taller plot
    assert {w for w, _ in sizes.values()} == {620}


def test_a_finding_not_judged_yet_shows_no_plot(finding_stops):
    registry, stops, findings = finding_stops
    findings.write_text(json.dumps(EQUIVALENCE))  # finding 1 judged, 2 and 3 not
    assert _content(registry, stops["finding1"]).forest is not None
    made = _content(registry, stops["finding2"])
    assert made.forest is None and made.forest_html == "" and "not judged yet here" in made.words
    findings.unlink()  # no findings.json at all: every finding "not judged yet", no plot
    made = _content(registry, stops["finding1"])
    assert made.forest is None and "not judged yet here" in made.words
