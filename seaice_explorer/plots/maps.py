"""Polar maps of sea-ice states in the data's native CRS (HoloViews/GeoViews, no Panel).

Every map is drawn in one display CRS (the models' grid, EASE2-North for the shipped models),
as a ``gv.Image`` with ``crs`` = ``projection`` = that CRS, so nothing is re-projected when
drawing:

- a grid already in the display CRS is drawn on its own ``x``/``y`` cells, unchanged;
- any other grid (curvilinear neXtSIM, NSIDC polar stereographic) is shown on a regular display
  grid at its own resolution, each pixel taking the value of the nearest cell centre (no
  interpolation; pixels farther than 0.75 cell from any centre stay empty). Statistics always
  use the native cells; only the picture is resampled, once per grid.

All panels share the key dimensions ``x`` and ``y``, so HoloViews links their pan and zoom.
Land is drawn from the mask and the coastline is the mask's 0.5 contour: nothing is downloaded
(no Natural Earth, no tiles). Images larger than 256² are rasterised with Datashader for the
visible range (``hv.streams.RangeXY``), so 512² neXtSIM fields stay fast.

The MIZ contours are sic = 0.15 and sic = 0.80 (Finn et al. 2024).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from .. import grid as grid_mod
from ..variables import VARIABLES
from .style import COAST_COLOUR, DIFF_CMAP, LAND_COLOUR, MAP_FRAME, MIZ_COLOURS, NODATA_COLOUR, SPREAD_CMAP

log = logging.getLogger(__name__)

#: Concentrations bounding the marginal ice zone.
MIZ_LEVELS: tuple[float, float] = (0.15, 0.80)
#: Images with more pixels than this are rasterised with Datashader (256² is drawn as is).
RASTERIZE_CELLS = 256 * 256
#: Largest side of the display grid of a resampled (non-native) grid.
MAX_DISPLAY_SIDE = 1024


@dataclass(frozen=True, eq=False)
class MapGeometry:
    """A grid as drawn: a regular display grid in the display CRS, its land and coastline.

    ``index`` maps each display pixel to the nearest source cell (flat index, -1 outside the
    grid) for grids not native to the display CRS; it is None for native grids.
    """

    crs: object  # cartopy CRS of the display
    x: np.ndarray  # (W,) display pixel centres, metres, west -> east
    y: np.ndarray  # (H,) display pixel centres, metres, north -> south
    land: np.ndarray  # (H, W) bool, display grid
    coast: np.ndarray  # (N, 2) coastline polylines in display coordinates, NaN rows between lines
    index: np.ndarray | None = None  # (H, W) int source cell of each pixel, -1 outside
    source_shape: tuple[int, int] | None = None  # (H, W) of the native grid

    @property
    def resampled(self) -> bool:
        return self.index is not None

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the display grid."""
        return self.land.shape

    @property
    def native_shape(self) -> tuple[int, int]:
        """(H, W) of the data's own grid."""
        return self.source_shape or self.shape

    @property
    def n_cells(self) -> int:
        return int(self.land.size)

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the pixel centres."""
        return float(self.x.min()), float(self.y.min()), float(self.x.max()), float(self.y.max())

    def display(self, values: np.ndarray) -> np.ndarray:
        """Native (H, W) values on the display grid (nearest cell; NaN outside the grid)."""
        values = np.asarray(values)
        if self.index is None:
            return values
        out = values.reshape(-1)[np.maximum(self.index, 0)].astype(np.float32)
        out[self.index < 0] = np.nan
        return out


def _same_crs(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    from pyproj import CRS

    return CRS.from_user_input(a).equals(CRS.from_user_input(b), ignore_axis_order=True)


def contour_lines(x: np.ndarray, y: np.ndarray, z: np.ndarray, level: float) -> list[np.ndarray]:
    """Polylines (each ``(N, 2)``) where ``z`` crosses ``level``; NaN cells are left out."""
    import contourpy

    zm = np.ma.masked_invalid(np.asarray(z, dtype=np.float64))
    if zm.mask.all():
        return []
    gen = contourpy.contour_generator(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64),
                                      zm, line_type=contourpy.LineType.Separate)
    return [seg for seg in gen.lines(level) if len(seg) > 1]


def join_lines(lines: Sequence[np.ndarray]) -> np.ndarray:
    """Polylines as one ``(N, 2)`` array with a NaN row between lines (one fast Bokeh glyph)."""
    if not lines:
        return np.empty((0, 2))
    gap = np.full((1, 2), np.nan)
    return np.vstack([part for line in lines for part in (line, gap)][:-1])


def nearest_index(cx: np.ndarray, cy: np.ndarray, size: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """For pixel centres (x, y), the flat index of the nearest cell centre (cx, cy), or -1 when it
    is farther than 0.75 × that cell's ``size`` (outside the grid)."""
    from scipy.spatial import cKDTree

    ok = np.isfinite(cx.ravel()) & np.isfinite(cy.ravel())
    cells = np.flatnonzero(ok)
    tree = cKDTree(np.c_[cx.ravel()[ok], cy.ravel()[ok]])
    xx, yy = np.meshgrid(x, y)
    dist, k = tree.query(np.c_[xx.ravel(), yy.ravel()])
    index = cells[k]
    index[dist > 0.75 * size.ravel()[index]] = -1
    return index.reshape(xx.shape)


def map_geometry(ds: xr.Dataset, display_proj4: str | None = None) -> MapGeometry:
    """The display geometry of the grid of ``ds`` (``x``, ``y``, ``lat``, ``lon``, ``mask``,
    ``cell_area``); ``display_proj4`` is the CRS all panels share (default: the grid's own, or
    EASE2-North for grids without one)."""
    own = ds.attrs.get("proj4")
    display = display_proj4 or own or grid_mod.EASE2_NORTH
    crs = grid_mod.cartopy_crs(xr.Dataset(attrs={"proj4": display}))
    mask = np.asarray(ds["mask"].values).astype(np.float32)  # (H, W) ocean = 1
    if own and _same_crs(own, display):
        x = np.asarray(ds["x"].values, dtype=np.float64)
        y = np.asarray(ds["y"].values, dtype=np.float64)
        land = mask < 0.5
        coast = join_lines(contour_lines(x, y, mask, 0.5))
        return MapGeometry(crs=crs, x=x, y=y, land=land, coast=coast)
    from pyproj import Transformer

    fwd = Transformer.from_crs("EPSG:4326", display, always_xy=True)
    cx, cy = fwd.transform(np.asarray(ds["lon"].values, dtype=np.float64),
                           np.asarray(ds["lat"].values, dtype=np.float64))
    cx, cy = np.asarray(cx), np.asarray(cy)  # (H, W) cell centres in the display CRS
    size = np.sqrt(np.asarray(ds["cell_area"].values, dtype=np.float64))  # (H, W) metres
    step = float(np.nanmedian(size))
    x0, x1, y0, y1 = np.nanmin(cx), np.nanmax(cx), np.nanmin(cy), np.nanmax(cy)
    step = max(step, (x1 - x0) / MAX_DISPLAY_SIDE, (y1 - y0) / MAX_DISPLAY_SIDE)
    x = np.arange(x0, x1 + step / 2, step)
    y = np.arange(y1, y0 - step / 2, -step)  # north -> south, like the native grids
    index = nearest_index(cx, cy, size, x, y)
    shown = MapGeometry(crs=crs, x=x, y=y, land=np.zeros((y.size, x.size), bool), coast=np.empty((0, 2)),
                        index=index, source_shape=mask.shape)
    ocean = shown.display(mask)  # NaN outside the grid
    coast = join_lines(contour_lines(x, y, np.where(np.isnan(ocean), 1.0, ocean), 0.5))
    return MapGeometry(crs=crs, x=x, y=y, land=ocean == 0, coast=coast, index=index, source_shape=mask.shape)


@dataclass(frozen=True)
class MapFonts:
    """Text sizes (px) and colour-bar width of a map panel, so titles and colour bars scale with the map."""

    title: int = 16
    label: int = 12
    ticks: int = 11
    colorbar: int = 10

    def opts(self) -> dict:
        """HoloViews/Bokeh options of these sizes."""
        return {"fontsize": {"title": f"{self.title}px", "clabel": f"{self.label}px", "cticks": f"{self.ticks}px"},
                "colorbar_opts": {"width": self.colorbar}}


@dataclass(frozen=True, eq=False)
class MapSpec:
    """Everything needed to draw one map panel, in HoloViews or in matplotlib (PNG export)."""

    values: np.ndarray  # (H, W) on the display grid, NaN on land and outside the grid
    geometry: MapGeometry
    title: str
    name: str  # value dimension name, e.g. "sic" or "sic_spread"
    label: str  # colour-bar label with units
    cmap: str | list[str]
    clim: tuple[float, float]
    miz: np.ndarray | None = None  # (H, W) display-grid sic for the MIZ contours, or None
    nodata: str = NODATA_COLOUR  # drawn where ``values`` is NaN off land (PNG export)


def field_spec(values: np.ndarray, geometry: MapGeometry, variable: str, title: str, *,
               kind: str = "state", miz: np.ndarray | None = None,
               clim: tuple[float, float] | None = None) -> MapSpec:
    """A panel of ``variable`` as a ``kind`` of map: state, spread, frequency or difference.

    ``values`` and ``miz`` are on the native grid; they are put on the display grid here.
    Colours, limits and units come from :data:`seaice_explorer.variables.VARIABLES`.
    """
    var = VARIABLES[variable]
    values = np.asarray(geometry.display(values), dtype=np.float32)
    miz = None if miz is None else geometry.display(miz)
    if kind == "state":
        return MapSpec(values, geometry, title, variable, var.label, var.cmap, clim or var.clim, miz)
    if kind == "spread":
        lo, hi = var.clim
        return MapSpec(values, geometry, title, f"{variable}_std", f"{var.long_name} spread (std) [{var.units}]",
                       SPREAD_CMAP, clim or (0.0, 0.5 * (hi - lo)), miz)
    if kind == "frequency":
        return MapSpec(values, geometry, title, "miz_frequency", "MIZ frequency [fraction of states]",
                       "viridis", clim or (0.0, 1.0), miz)
    if kind == "difference":
        if clim is None:
            amax = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
            clim = (-max(amax, 1e-6), max(amax, 1e-6))
        return MapSpec(values, geometry, title, f"{variable}_diff", f"difference [{var.units}]",
                       DIFF_CMAP, clim, miz)
    raise ValueError(f"unknown map kind {kind!r}; use state, spread, frequency or difference")


def _needs_raster(geometry: MapGeometry, rasterize: bool | None) -> bool:
    return geometry.n_cells > RASTERIZE_CELLS if rasterize is None else bool(rasterize)


def _maybe_rasterize(element, geometry: MapGeometry, rasterize: bool | None):
    if not _needs_raster(geometry, rasterize):
        return element
    from holoviews.operation.datashader import rasterize as ds_rasterize

    return ds_rasterize(element)


def _colorbar_title_hook(label: str):
    """Bokeh hook that (re)sets the colour-bar title, also when a DynamicMap frame changes."""

    def hook(plot, element) -> None:
        bar = plot.handles.get("colorbar")
        if bar is not None:
            bar.title = label

    return hook


def _frame_size(geometry: MapGeometry, frame: int) -> tuple[int, int]:
    x0, y0, x1, y1 = geometry.extent
    aspect = (x1 - x0) / max(y1 - y0, 1.0)
    return frame, int(round(frame / aspect))


def land_layer(geometry: MapGeometry, rasterize: bool | None = None, *, frame: int = MAP_FRAME):
    """Land cells (mask = 0) in one flat colour; ocean is transparent. Display coordinates."""
    import holoviews as hv

    land = np.where(geometry.land, 1.0, np.nan).astype(np.float32)  # (H, W)
    el = hv.Image((geometry.x, geometry.y, land), kdims=["x", "y"], vdims=["land"])
    el = _maybe_rasterize(el, geometry, rasterize)
    width, height = _frame_size(geometry, frame)
    return el.opts(cmap=[LAND_COLOUR], clim=(0, 1), colorbar=False, tools=[], frame_width=width,
                   frame_height=height, xaxis=None, yaxis=None)


def coastline_layer(geometry: MapGeometry):
    """The coastline: the 0.5 contour of the ocean mask, in display coordinates."""
    import holoviews as hv

    return hv.Curve(geometry.coast, kdims=["x"], vdims=["y"]).opts(color=COAST_COLOUR, line_width=0.8, tools=[])


def miz_layer(sic: np.ndarray | None, geometry: MapGeometry):
    """Contours of sea-ice concentration at 0.15 (ice edge) and 0.80 (pack-ice edge).

    ``sic=None`` gives the same two (empty) layers, so DynamicMap frames keep one structure.
    """
    import holoviews as hv

    layers = []
    for level in MIZ_LEVELS:
        lines = contour_lines(geometry.x, geometry.y, sic, level) if sic is not None else []
        # a Curve with NaN gaps is one Bokeh line: much cheaper to update than a multi-path
        layers.append(hv.Curve(join_lines(lines), kdims=["x"], vdims=["y"], label=f"sic = {level:.2f}").opts(
            color=MIZ_COLOURS[level], line_width=1.6, tools=[]))
    return hv.Overlay(layers)


#: Inverse of the north-polar Lambert azimuthal equal-area projection on the authalic sphere,
#: run in the browser: hover shows latitude/longitude without shipping lat/lon arrays (within
#: 0.15° of WGS84; :func:`laea_latlon` is the same formula in Python, tested against pyproj).
_LAEA_LATLON_JS = """
const x = special_vars.x, y = special_vars.y, R = 6371007.2;
const rho = Math.sqrt(x * x + y * y);
const lat = 90 - 2 * Math.asin(Math.min(1, rho / (2 * R))) * 180 / Math.PI;
const lon = Math.atan2(x, -y) * 180 / Math.PI;
return lat.toFixed(2) + '°N, ' + (lon >= 0 ? lon.toFixed(2) + '°E' : (-lon).toFixed(2) + '°W');
"""


def laea_latlon(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latitude, longitude (degrees) of north-polar LAEA coordinates, spherical (as the hover JS)."""
    radius = 6371007.2  # authalic radius of WGS84
    rho = np.hypot(x, y)
    lat = 90.0 - 2.0 * np.degrees(np.arcsin(np.minimum(1.0, rho / (2.0 * radius))))
    return lat, np.degrees(np.arctan2(x, -y))


def _hover_opts(spec: MapSpec) -> dict:
    """Hover: the value with units and, on north-polar LAEA maps, latitude and longitude."""
    from bokeh.models import CustomJSHover

    tooltips = [(spec.label, "@image{0.000}")]
    formatters: dict = {}
    proj4 = getattr(spec.geometry.crs, "proj4_init", "") or ""
    if "+proj=laea" in proj4 and "+lat_0=90" in proj4:
        tooltips.append(("position", "$x{latlon}"))
        formatters["$x"] = CustomJSHover(code=_LAEA_LATLON_JS)
    else:
        tooltips.append(("x, y [m]", "$x{0}, $y{0}"))
    return {"hover_tooltips": tooltips, "hover_formatters": formatters}


def _field_element(spec: MapSpec):
    """The unstyled field: a ``gv.Image`` on the display grid, ``crs`` = the display CRS."""
    import geoviews as gv
    import holoviews as hv

    g = spec.geometry
    vdim = hv.Dimension("value", label=spec.label)
    return gv.Image((g.x, g.y, spec.values), kdims=["x", "y"], vdims=[vdim], crs=g.crs)


def _style_field(el, spec: MapSpec, *, frame: int, colorbar: bool = True, fonts: MapFonts | None = None):
    """Colour map and limits, colour bar with units, title, hover, size; projection = crs."""
    g = spec.geometry
    width, height = _frame_size(g, frame)
    return el.opts(
        cmap=spec.cmap, clim=tuple(spec.clim), colorbar=colorbar, clabel=spec.label, title=spec.title,
        tools=["hover"], frame_width=width, frame_height=height,
        active_tools=["wheel_zoom"], xaxis=None, yaxis=None, **(fonts or MapFonts()).opts(),
        hooks=[_colorbar_title_hook(spec.label)], projection=g.crs, bgcolor=NODATA_COLOUR, **_hover_opts(spec),
    )


def field_layer(spec: MapSpec, *, frame: int = MAP_FRAME, rasterize: bool | None = None,
                colorbar: bool = True, fonts: MapFonts | None = None):
    """The field of one panel, in the display CRS, with colour bar (label with units) and hover."""
    el = _maybe_rasterize(_field_element(spec), spec.geometry, rasterize)
    return _style_field(el, spec, frame=frame, colorbar=colorbar, fonts=fonts)


def map_panel(spec: MapSpec, *, frame: int = MAP_FRAME, rasterize: bool | None = None,
              show_miz: bool = True, colorbar: bool = True, fonts: MapFonts | None = None):
    """One polar map: land, the field (colour bar with units, hover), coastline and MIZ contours."""
    overlay = (land_layer(spec.geometry, rasterize, frame=frame)
               * field_layer(spec, frame=frame, rasterize=rasterize, colorbar=colorbar, fonts=fonts)
               * coastline_layer(spec.geometry))
    if show_miz and spec.miz is not None:
        overlay = overlay * miz_layer(spec.miz, spec.geometry)
    return overlay.opts(title=spec.title, show_legend=False)


def dynamic_panel(make_spec: Callable[..., MapSpec], streams: Sequence, geometry: MapGeometry, *,
                  frame: int = MAP_FRAME, rasterize: bool | None = None, fonts: MapFonts | None = None):
    """A panel whose field and MIZ contours follow ``streams``; land and coast are drawn once.

    ``make_spec(**stream_values)`` returns the :class:`MapSpec` to show; switching a member or a
    variable then only updates the data of the existing plot (fast) instead of re-creating it.
    """
    import holoviews as hv

    raster = _needs_raster(geometry, rasterize)
    last: dict[str, object] = {}

    def spec_for(kwargs: dict) -> MapSpec:
        key = tuple(sorted(kwargs.items()))
        if last.get("key") != key:
            last["key"], last["spec"] = key, make_spec(**kwargs)
        return last["spec"]  # type: ignore[return-value]

    def field_fn(**kwargs):
        return field_layer(spec_for(kwargs), frame=frame, rasterize=False, fonts=fonts)

    def miz_fn(**kwargs):
        return miz_layer(spec_for(kwargs).miz, geometry)

    land, coast = land_layer(geometry, rasterize, frame=frame), coastline_layer(geometry)
    if not raster:  # one DynamicMap for field and contours: one update per frame
        both = hv.DynamicMap(lambda **kw: field_fn(**kw) * miz_fn(**kw), streams=list(streams))
        return (land * both * coast).opts(show_legend=False)

    from holoviews.operation.datashader import rasterize as ds_rasterize

    width, height = _frame_size(geometry, frame)
    x0, y0, x1, y1 = geometry.extent

    def raster_fn(x_range=None, y_range=None, **kwargs):
        """Aggregate to screen pixels over the visible range (RangeXY: re-run on pan and zoom)."""
        spec = spec_for(kwargs)
        img = ds_rasterize(_field_element(spec), dynamic=False, x_range=x_range or (x0, x1),
                           y_range=y_range or (y0, y1), width=width, height=height)
        return _style_field(img, spec, frame=frame, fonts=fonts) * miz_fn(**kwargs)

    field = hv.DynamicMap(raster_fn, streams=list(streams) + [hv.streams.RangeXY()])
    return (land * field * coast).opts(show_legend=False)


def map_layout(panels: Sequence, *, ncols: int | None = None):
    """Panels (from :func:`map_panel` or :func:`dynamic_panel`) side by side, pan/zoom linked.

    All panels share the key dimensions ``x`` and ``y``, so HoloViews shares their ranges.
    """
    import holoviews as hv

    if not panels:
        raise ValueError("map_layout needs at least one panel")
    return hv.Layout(list(panels)).cols(ncols or len(panels)).opts(shared_axes=True, merge_tools=True)
