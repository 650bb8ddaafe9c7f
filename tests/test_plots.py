"""Plot builders render with Bokeh (hv.render): figure types, colour bars with units, linked axes."""

from __future__ import annotations

import io

import numpy as np
import pytest
import xarray as xr

hv = pytest.importorskip("holoviews")
pytest.importorskip("geoviews")
hv.extension("bokeh")

from bokeh.models import ColorBar, CustomJSHover, GridPlot, HoverTool, LogScale  # noqa: E402
from bokeh.models.glyphs import Image as BkImage  # noqa: E402
from bokeh.plotting import figure as BkFigure  # noqa: E402

from seaice_explorer import grid  # noqa: E402
from seaice_explorer.plots import charts, export, maps  # noqa: E402
from seaice_explorer.plots.style import REFERENCE_COLOUR, source_colours  # noqa: E402


@pytest.fixture(scope="module")
def grid32() -> xr.Dataset:
    return grid.default_grid(32)


@pytest.fixture(scope="module")
def geom32(grid32):
    return maps.map_geometry(grid32)


def _radial_sic(g: xr.Dataset, r0: float = 1.5e6, width: float = 1.0e6) -> np.ndarray:
    """sic falls linearly from 1 at r0 - width/2 to 0 at r0 + width/2 (an analytic MIZ ring)."""
    yy, xx = np.meshgrid(g.y.values, g.x.values, indexing="ij")
    r = np.hypot(xx, yy)
    sic = np.clip(0.5 - (r - r0) / width, 0.0, 1.0)
    return np.where(g.mask.values == 1, sic, np.nan).astype(np.float32)


def _figures(plot) -> list:
    if isinstance(plot, GridPlot):
        return [child[0] for child in plot.children]
    return [plot]


def _colorbars(fig) -> list[ColorBar]:
    return [r for r in fig.right if isinstance(r, ColorBar)]


def test_geometry_of_native_grid(grid32, geom32):
    assert not geom32.resampled and geom32.shape == geom32.native_shape == (32, 32)
    assert geom32.land.sum() == int((grid32.mask.values == 0).sum()) > 0
    coast = geom32.coast
    assert coast.shape[1] == 2 and np.isnan(coast).any() and np.isfinite(coast).sum() > 20
    # every coastline vertex lies within the grid's extent
    x0, y0, x1, y1 = geom32.extent
    finite = coast[np.isfinite(coast[:, 0])]
    assert (finite[:, 0] >= x0 - 1).all() and (finite[:, 0] <= x1 + 1).all()
    values = np.arange(32 * 32, dtype=np.float32).reshape(32, 32)
    assert geom32.display(values) is values  # native grids are drawn unchanged


def _without_projection(g: xr.Dataset) -> xr.Dataset:
    """The grid as a curvilinear one (lat/lon only), like neXtSIM's."""
    out = g.copy()
    out.attrs = {k: v for k, v in out.attrs.items() if k != "proj4"}
    return out


def test_resampled_grid_takes_the_nearest_cell(grid32, geom32):
    """A grid without projection is shown on a regular display grid; where the display pixels
    fall on the cell centres (same spacing), nearest-neighbour resampling is the identity."""
    g = maps.map_geometry(_without_projection(grid32), display_proj4=grid.EASE2_NORTH)
    assert g.resampled and g.native_shape == (32, 32)
    assert g.shape == (32, 32)  # 200 km cells over ±3200 km
    np.testing.assert_allclose(g.x, geom32.x, atol=100.0)  # float32 lat/lon: metres off at most
    np.testing.assert_allclose(g.y, geom32.y, atol=100.0)
    values = np.arange(32 * 32, dtype=np.float32).reshape(32, 32)
    np.testing.assert_array_equal(g.display(values), values)
    np.testing.assert_array_equal(g.land, geom32.land)


def test_nearest_index_leaves_pixels_outside_the_grid_empty():
    cx, cy = np.meshgrid([0.0, 1.0], [0.0, 1.0])
    size = np.ones_like(cx)
    idx = maps.nearest_index(cx, cy, size, np.array([0.1, 0.9, 5.0]), np.array([0.0]))
    np.testing.assert_array_equal(idx, [[0, 1, -1]])  # 5.0 is 4 cells away: outside


def test_contour_lines_of_radial_field_lie_on_the_analytic_circle():
    x = np.linspace(-1, 1, 201)
    xx, yy = np.meshgrid(x, x)
    z = np.hypot(xx, yy)
    lines = maps.contour_lines(x, x, z, 0.5)
    assert len(lines) == 1
    np.testing.assert_allclose(np.hypot(lines[0][:, 0], lines[0][:, 1]), 0.5, atol=1e-4)
    assert maps.contour_lines(x, x, np.full_like(z, np.nan), 0.5) == []


@pytest.mark.parametrize("variable, unit", [("sit", "[m]"), ("siu", "[m s-1]"), ("sic", "[1]")])
def test_map_panel_has_colourbar_with_units_and_hover(grid32, geom32, variable, unit):
    values = np.where(geom32.land, np.nan, 0.5).astype(np.float32)
    spec = maps.field_spec(values, geom32, variable, "member 0")
    fig = hv.render(maps.map_panel(spec), backend="bokeh")
    assert isinstance(fig, BkFigure)
    bars = _colorbars(fig)
    assert len(bars) == 1 and bars[0].title.endswith(unit)
    hover = [t for t in fig.tools if isinstance(t, HoverTool)]
    assert len(hover) == 1
    assert hover[0].tooltips[0][0].endswith(unit) and hover[0].tooltips[1][0] == "position"
    assert isinstance(hover[0].formatters["$x"], CustomJSHover)  # lat/lon computed in the browser
    images = [r.glyph for r in fig.renderers if isinstance(r.glyph, BkImage)]
    assert len(images) == 2  # land + field


def test_hover_latlon_formula_matches_pyproj(geom32):
    """The browser's spherical inverse LAEA agrees with pyproj's WGS84 inverse to 0.15°."""
    from pyproj import Transformer

    xx, yy = np.meshgrid(geom32.x, geom32.y)
    lat, lon = maps.laea_latlon(xx, yy)
    inv = Transformer.from_crs(grid.EASE2_NORTH, "EPSG:4326", always_xy=True)
    lon_ref, lat_ref = inv.transform(xx, yy)
    assert np.abs(lat - lat_ref).max() < 0.15
    dlon = (lon - lon_ref + 180) % 360 - 180
    assert np.abs(dlon[np.hypot(xx, yy) > 1e5]).max() < 1e-6  # longitude is exact (azimuthal)
    for const in ("6371007.2", "Math.atan2(x, -y)"):
        assert const in maps._LAEA_LATLON_JS


def test_field_spec_kinds(geom32):
    vals = np.zeros(geom32.shape, dtype=np.float32)
    vals[0, 0] = -0.2
    assert maps.field_spec(vals, geom32, "sic", "t").clim == (0.0, 1.0)
    assert maps.field_spec(vals, geom32, "sit", "t", kind="spread").label.endswith("[m]")
    diff = maps.field_spec(vals, geom32, "sic", "t", kind="difference")
    assert diff.clim == pytest.approx((-0.2, 0.2)) and diff.cmap == "RdBu_r"
    assert maps.field_spec(vals, geom32, "sic", "t", kind="frequency").clim == (0.0, 1.0)
    with pytest.raises(ValueError):
        maps.field_spec(vals, geom32, "sic", "t", kind="nope")


def test_layout_links_pan_and_zoom(grid32, geom32):
    sic = _radial_sic(grid32)
    specs = [maps.field_spec(sic, geom32, "sic", name, miz=sic) for name in ("reference", "dm", "ldm-censored")]
    plot = hv.render(maps.map_layout([maps.map_panel(s) for s in specs]), backend="bokeh")
    assert isinstance(plot, GridPlot)
    figs = _figures(plot)
    assert len(figs) == 3
    assert len({id(f.x_range) for f in figs}) == 1 and len({id(f.y_range) for f in figs}) == 1
    assert [f.title.text for f in figs] == ["reference", "dm", "ldm-censored"]


def test_miz_layer_follows_the_analytic_ring(grid32, geom32):
    """The 0.15 and 0.80 contours of a linear ramp lie at known radii."""
    r0, width = 1.5e6, 1.0e6
    sic = _radial_sic(grid32, r0, width)
    overlay = maps.miz_layer(sic, geom32)
    for path, level in zip(overlay, maps.MIZ_LEVELS):
        xy = path.array([0, 1])
        xy = xy[np.isfinite(xy[:, 0])]
        assert len(xy) > 8
        r = np.hypot(xy[:, 0], xy[:, 1])
        expected = r0 + (0.5 - level) * width
        # linear interpolation between 200 km cells on a linear ramp is exact away from land
        assert np.median(np.abs(r - expected)) < 0.15 * width
    empty = maps.miz_layer(None, geom32)
    assert len(empty) == 2 and all(len(p.array([0])) == 0 for p in empty)


def test_dynamic_panel_updates_colourbar_and_data(grid32, geom32):
    sic = _radial_sic(grid32)
    Sel = hv.streams.Stream.define("Sel", variable="sic", member=0)
    sel = Sel()

    def make(variable: str, member: int) -> maps.MapSpec:
        return maps.field_spec(sic * (member + 1) * (5 if variable == "sit" else 1), geom32, variable,
                               f"member {member}", miz=sic)

    plot = hv.renderer("bokeh").get_plot(maps.dynamic_panel(make, [sel], geom32))
    fig = plot.state
    assert _colorbars(fig)[0].title.endswith("[1]")
    sel.event(variable="sit", member=1)
    assert _colorbars(fig)[0].title == "sea-ice thickness [m]"
    field = [r for r in fig.renderers
             if isinstance(r.glyph, BkImage) and r.glyph.color_mapper.palette[0] != "#cfc8b8"][0]
    shown = np.asarray(field.data_source.data["image"][0])
    assert np.nanmax(shown) == pytest.approx(float(np.nanmax(sic)) * 10, rel=1e-5)


def test_big_grids_are_rasterised(monkeypatch, grid32, geom32):
    monkeypatch.setattr(maps, "RASTERIZE_CELLS", 16 * 16)
    spec = maps.field_spec(_radial_sic(grid32), geom32, "sic", "big")
    panel = maps.map_panel(spec)
    assert isinstance(panel, hv.DynamicMap)  # Datashader re-aggregates on every zoom
    fig = hv.render(panel, backend="bokeh")
    assert _colorbars(fig)[0].title.endswith("[1]")
    field = [r for r in fig.renderers if isinstance(r.glyph, BkImage) and r.glyph.color_mapper.palette[0] != "#cfc8b8"]
    assert len(field) == 1


def test_histogram_overlay_densities_integrate_to_one():
    rng = np.random.default_rng(0)
    samples = {"reference": rng.normal(10, 1, 300), "dm": rng.normal(10.5, 1, 8)}
    overlay = charts.histogram_overlay(samples, xlabel="extent [10⁶ km²]", bins=12, colours={"dm": "#abcdef"})
    assert [h.opts.get().kwargs["fill_color"] for h in overlay] == [REFERENCE_COLOUR, "#abcdef"]
    for hist in overlay:
        edges = hist.interface.coords(hist, hist.kdims[0], edges=True)
        dens = hist.dimension_values(1)
        assert np.sum(dens * np.diff(edges)) == pytest.approx(1.0)
    fig = hv.render(overlay, backend="bokeh")
    assert fig.xaxis[0].axis_label == "extent [10⁶ km²]"
    assert len(fig.legend[0].items) == 2


def test_spectra_overlay_is_log_log_and_drops_nonpositive():
    k = np.array([0.0, 100.0, 200.0, 400.0])
    p = np.array([1.0, 1e-2, -1.0, 1e-4])
    overlay = charts.spectra_overlay({"reference": (k, p), "dm": (k, 2 * p)}, title="sic")
    assert len(overlay.get(0)) == 2  # k=0 and the negative power are left out
    fig = hv.render(overlay, backend="bokeh")
    assert isinstance(fig.x_scale, LogScale) and isinstance(fig.y_scale, LogScale)


def test_fraction_bars_and_scores_table():
    bars = charts.fraction_bars({"dm": 0.031, "ldm-censored": 0.0}, ylabel="beyond bounds [%]")
    np.testing.assert_allclose(bars.dimension_values(1), [3.1, 0.0])
    fig = hv.render(bars, backend="bokeh")
    assert fig.yaxis[0].axis_label == "beyond bounds [%]"
    table = charts.scores_table([{"backend": "dm", "W1 extent": 0.1}, {"backend": "ldm-censored", "W1 extent": 0.05}])
    assert [d.name for d in table.dimensions()] == ["backend", "W1 extent"] and len(table) == 2
    # colours come from the caller (the registry's entry.colour); the reference has its own
    colours = source_colours(["reference", "a", "b"], {"a": "#123456"})
    assert colours["reference"] == REFERENCE_COLOUR and colours["a"] == "#123456"
    assert colours["b"] not in (REFERENCE_COLOUR, "#123456")  # a palette colour for a source without one
    bars = charts.fraction_bars({"a": 0.1, "b": 0.2}, ylabel="%", colours={"a": "#123456", "b": "#654321"})
    assert hv.render(bars, backend="bokeh") is not None


def test_latent_image_row_zero_on_top():
    z = np.zeros((4, 8), dtype=np.float32)
    z[0, :] = 1.0  # top row
    img = charts.latent_image(z, title="latent 0")
    assert img[0.5, 3.5] == pytest.approx(1.0)  # y = 3.5 is the top row in bounds (0, 0, 8, 4)
    assert img.opts.get().kwargs["clim"] == (-1.0, 1.0)


def test_maps_png_is_a_png_of_the_right_size(grid32, geom32):
    import matplotlib.image as mpimg

    sic = _radial_sic(grid32)
    specs = [maps.field_spec(sic, geom32, "sic", t, miz=sic) for t in ("reference", "dm")]
    png = export.maps_png(specs, title="test", dpi=50)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(io.BytesIO(png))
    assert img.shape[1] > img.shape[0] > 50  # two panels side by side: wider than tall


def test_dynamic_rasterised_panel_keeps_style_and_follows_zoom(monkeypatch, grid32, geom32):
    monkeypatch.setattr(maps, "RASTERIZE_CELLS", 16 * 16)
    sic = _radial_sic(grid32)
    g = maps.map_geometry(_without_projection(grid32), display_proj4=grid.EASE2_NORTH)
    Sel = hv.streams.Stream.define("Sel", variable="sic")
    sel = Sel()
    panel = maps.dynamic_panel(lambda variable: maps.field_spec(sic * (5 if variable == "sit" else 1), g,
                                                                variable, f"raster {variable}", miz=sic),
                               [sel], g, frame=200)
    plot = hv.renderer("bokeh").get_plot(panel)
    fig = plot.state
    assert fig.title.text == "raster sic" and _colorbars(fig)[0].title.endswith("[1]")
    sel.event(variable="sit")
    assert fig.title.text == "raster sit" and _colorbars(fig)[0].title == "sea-ice thickness [m]"
    field = [r for r in fig.renderers
             if isinstance(r.glyph, BkImage) and r.glyph.color_mapper.palette[0] != "#cfc8b8"][0]
    range_xy = [s for s in plot.streams if isinstance(s, hv.streams.RangeXY)]
    assert range_xy
    for stream in range_xy:  # zoom in: re-aggregated over the new view
        stream.event(x_range=(0.0, 1e6), y_range=(0.0, 1e6))
    assert field.data_source.data["dw"][0] == pytest.approx(1e6)
