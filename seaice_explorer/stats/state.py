"""Per-state statistics: extent, area, marginal ice zone, ice edge, thickness, bound violations.

xarray in, xarray out (the xskillscore way): every function takes a canonical Dataset or a
DataArray carrying the coordinates ``cell_area`` (m²) and, optionally, ``mask`` (ocean = 1),
reduces over the spatial dims ``("y", "x")`` and keeps every other dim (``time``, ``sample``).
Inputs backed by dask stay lazy. Results are in SI units (m², m, m³); the CLI converts.

Definitions (as in Finn et al. 2024 and the NSIDC / OSI SAF index conventions):

- a cell is *ice covered* when sic ≥ 0.15 (the extent threshold);
- the *marginal ice zone* (MIZ) is 0.15 ≤ sic ≤ 0.80;
- comparisons carry a tolerance of 1e-6 so that float32 fields stored as 0.15 or 0.80 count as
  on the threshold (OSI SAF stores 0.01 % steps, far coarser than the tolerance);
- land (mask = 0) and NaN cells never count, in numerators or denominators.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import xarray as xr

from ..errors import SeaIceInputError
from ..variables import VARIABLES

SPATIAL: tuple[str, str] = ("y", "x")
#: tolerance of every threshold and bound comparison (float32 precision of stored fields)
TOL = 1e-6
EXTENT_THRESHOLD = 0.15
MIZ_LOW, MIZ_HIGH = 0.15, 0.80
_METRIC_UNITS = {"m": 1.0, "metre": 1.0, "meter": 1.0, "metres": 1.0, "meters": 1.0, "km": 1000.0}


# --------------------------------------------------------------------------- helpers
def get_var(obj: xr.Dataset | xr.DataArray, name: str) -> xr.DataArray:
    """``obj[name]`` for a Dataset, ``obj`` itself for a DataArray (assumed to be ``name``)."""
    if isinstance(obj, xr.Dataset):
        if name not in obj.data_vars:
            raise SeaIceInputError(obj.attrs.get("source") or obj.attrs.get("title"),
                                   f"no {name!r} variable (found: {', '.join(map(str, obj.data_vars)) or 'none'})",
                                   f"Pass a Dataset with {name!r} or the {name!r} DataArray itself")
        return obj[name]
    return obj


def _check_spatial(da: xr.DataArray) -> None:
    missing = [d for d in SPATIAL if d not in da.dims]
    if missing:
        raise SeaIceInputError(da.name, f"dims {da.dims} lack {missing}",
                               "Statistics reduce over ('y', 'x'); rename the spatial dims to y and x")


def cell_area(da: xr.DataArray | xr.Dataset) -> xr.DataArray:
    """The ``cell_area`` coordinate (m²), or a clear error when it is missing."""
    if "cell_area" not in da.coords:
        raise SeaIceInputError(getattr(da, "name", None), "no 'cell_area' coordinate",
                               "Open the file with a seaice_explorer reader or attach cell_area (m²) on (y, x)")
    return da.coords["cell_area"]


def ocean(da: xr.DataArray | xr.Dataset) -> xr.DataArray | bool:
    """Ocean cells (``mask == 1``) as a boolean map; ``True`` when there is no mask."""
    return (da.coords["mask"] == 1) if "mask" in da.coords else True


def _sum_area(flag: xr.DataArray, area: xr.DataArray) -> xr.DataArray:
    """Σ over (y, x) of cell_area where ``flag`` (boolean or weights), NaN flags count 0."""
    return flag.fillna(0).weighted(area.fillna(0)).sum(SPATIAL)


def _finish(da: xr.DataArray, name: str, units: str, long_name: str, **attrs: object) -> xr.DataArray:
    da = da.drop_vars([c for c in da.coords if set(da.coords[c].dims) & set(SPATIAL)])
    da.name = name
    da.attrs = {"units": units, "long_name": long_name, **attrs}
    return da


def whole_spatial(da: xr.DataArray) -> xr.DataArray:
    """Rechunk a dask-backed array so (y, x) are one chunk (kernels that see a whole map)."""
    return da.chunk({d: -1 for d in SPATIAL}) if da.chunks is not None else da


# --------------------------------------------------------------------------- extent & area
def area_where(flag: xr.DataArray) -> xr.DataArray:
    """Σ cell_area (m²) over the cells where ``flag`` is True (NaN counts False), e.g.
    ``area_where(ds.sit > 0)`` or the ocean area ``area_where(ds.mask == 1)``."""
    _check_spatial(flag)
    out = _sum_area(flag.astype(bool) & ocean(flag), cell_area(flag))
    return _finish(out, "area_where", "m2", "area of the flagged cells")


def ice_mask(obj: xr.Dataset | xr.DataArray, threshold: float = EXTENT_THRESHOLD,
             pole_hole: bool = True) -> xr.DataArray:
    """Ice-covered ocean cells: sic ≥ ``threshold`` (boolean, False on land and NaN).

    With ``pole_hole`` (default), cells flagged by a ``pole_hole`` coordinate (NSIDC readers:
    the satellite's unobserved disc, NaN in sic) count as ice, as in the NSIDC Sea Ice Index.
    """
    sic = get_var(obj, "sic")
    _check_spatial(sic)
    ice = sic >= threshold - TOL
    if pole_hole and "pole_hole" in sic.coords:
        ice = ice | sic.coords["pole_hole"].astype(bool)
    return ice & ocean(sic)


def extent(obj: xr.Dataset | xr.DataArray, threshold: float = EXTENT_THRESHOLD,
           pole_hole: bool = True) -> xr.DataArray:
    """Sea-ice extent (m²): Σ cell_area over ocean cells with sic ≥ ``threshold``.

    Pole-hole cells (coordinate ``pole_hole``, NSIDC) count as ice unless ``pole_hole=False``.

    >>> extent(ds).sel(time="2018-03-17") / 1e12   # 10⁶ km²  # doctest: +SKIP
    """
    sic = get_var(obj, "sic")
    out = _sum_area(ice_mask(sic, threshold, pole_hole), cell_area(sic))
    return _finish(out, "extent", "m2", "sea-ice extent", threshold=threshold)


def area(obj: xr.Dataset | xr.DataArray) -> xr.DataArray:
    """Sea-ice area (m²): Σ sic · cell_area over ocean cells (all concentrations, no threshold).

    This is the OSI SAF index definition (OSI-420); NaN cells count 0.
    """
    sic = get_var(obj, "sic")
    _check_spatial(sic)
    out = _sum_area(sic.where(ocean(sic)), cell_area(sic))
    return _finish(out, "area", "m2", "sea-ice area")


# --------------------------------------------------------------------------- marginal ice zone
def miz_mask(obj: xr.Dataset | xr.DataArray, low: float = MIZ_LOW, high: float = MIZ_HIGH) -> xr.DataArray:
    """Marginal-ice-zone cells: ``low`` ≤ sic ≤ ``high`` (boolean, False on land and NaN)."""
    sic = get_var(obj, "sic")
    _check_spatial(sic)
    out = (sic >= low - TOL) & (sic <= high + TOL) & ocean(sic)
    out.name = "miz"
    return out


def miz_area(obj: xr.Dataset | xr.DataArray, low: float = MIZ_LOW, high: float = MIZ_HIGH) -> xr.DataArray:
    """MIZ area (m²): Σ cell_area over ocean cells with ``low`` ≤ sic ≤ ``high``."""
    sic = get_var(obj, "sic")
    out = _sum_area(miz_mask(sic, low, high), cell_area(sic))
    return _finish(out, "miz_area", "m2", "marginal-ice-zone area", low=low, high=high)


def grid_spacing(da: xr.DataArray | xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Local cell sizes ``(dx, dy)`` in metres, each (H, W).

    Projected grids (1-D ``x``/``y`` with metric ``units``): the coordinate spacing.
    Otherwise (curvilinear grids, index coordinates): sqrt(cell_area) in both directions,
    i.e. cells are taken as locally square (CREG025: median 12.9 × 13.8 km, so ≤ 4 % per edge).
    """
    ny, nx = da.sizes["y"], da.sizes["x"]
    metric = [
        _METRIC_UNITS.get(str(da.coords[d].attrs.get("units", "")).lower()) if d in da.coords else None
        for d in ("x", "y")
    ]
    if all(m is not None for m in metric) and da.coords["x"].ndim == 1 and da.coords["y"].ndim == 1:
        gx = np.abs(np.gradient(np.asarray(da.coords["x"], dtype=np.float64))) * metric[0] if nx > 1 else np.ones(1)
        gy = np.abs(np.gradient(np.asarray(da.coords["y"], dtype=np.float64))) * metric[1] if ny > 1 else np.ones(1)
        return np.broadcast_to(gx[None, :], (ny, nx)).copy(), np.broadcast_to(gy[:, None], (ny, nx)).copy()
    side = np.sqrt(np.asarray(cell_area(da), dtype=np.float64))
    return side, side.copy()


def _contour_length(z: np.ndarray, level: float, dx: np.ndarray, dy: np.ndarray) -> float:
    """Length (m) of the ``level`` contour of one (H, W) field; NaN cells are masked.

    The contour is traced in index space (marching squares with linear interpolation between
    cell centres, contourpy); each segment is scaled by the local cell sizes at its midpoint.
    """
    import contourpy

    if not np.isfinite(z).any():
        return math.nan
    gen = contourpy.contour_generator(z=np.ma.masked_invalid(z.astype(np.float64)), line_type="Separate",
                                      corner_mask=True)
    total = 0.0
    h, w = z.shape
    for line in gen.lines(level):  # (N, 2) points (col, row)
        d = np.diff(line, axis=0)
        mid = 0.5 * (line[1:] + line[:-1])
        j = np.clip(np.rint(mid[:, 0]).astype(int), 0, w - 1)
        i = np.clip(np.rint(mid[:, 1]).astype(int), 0, h - 1)
        total += float(np.hypot(d[:, 0] * dx[i, j], d[:, 1] * dy[i, j]).sum())
    return total


def _edge_count_length(z: np.ndarray, level: float, dx: np.ndarray, dy: np.ndarray) -> float:
    """Length (m) of shared cell edges between ice (z ≥ level) and open water (z < level)."""
    ice = z >= level - TOL
    water = z < level - TOL  # False on NaN (land)
    horiz = (ice[:, :-1] & water[:, 1:]) | (water[:, :-1] & ice[:, 1:])  # edges between columns
    vert = (ice[:-1] & water[1:]) | (water[:-1] & ice[1:])  # edges between rows
    return float((horiz * 0.5 * (dy[:, :-1] + dy[:, 1:])).sum() + (vert * 0.5 * (dx[:-1] + dx[1:])).sum())


def ice_edge_length(obj: xr.Dataset | xr.DataArray, threshold: float = EXTENT_THRESHOLD,
                    method: Literal["contour", "cells"] = "contour") -> xr.DataArray:
    """Length (m) of the ice edge, the boundary between sic ≥ ``threshold`` and open ocean.

    ``method="contour"`` (default): length of the sic = ``threshold`` contour line traced by
    marching squares between cell centres (contourpy), converging to the true length of a
    smooth edge as the grid is refined. Land is masked, so coastlines are never ice edge. Every
    contour counts, including the edges of polynyas and open-water patches inside the pack.
    ``method="cells"``: the count of shared cell edges between ice and open-water ocean cells ×
    their edge length; a staircase, it overestimates an isotropic edge by 4/π on average.
    Lengths use :func:`grid_spacing` (projected spacing, or sqrt(cell_area) on curvilinear grids).
    """
    sic = get_var(obj, "sic")
    _check_spatial(sic)
    if method not in ("contour", "cells"):
        raise SeaIceInputError(None, f"unknown ice-edge method {method!r}", "Use 'contour' or 'cells'")
    kernel = _contour_length if method == "contour" else _edge_count_length
    dx, dy = grid_spacing(sic)
    field = whole_spatial(sic.where(ocean(sic)))
    out = xr.apply_ufunc(
        kernel, field, input_core_dims=[list(SPATIAL)], kwargs={"level": threshold, "dx": dx, "dy": dy},
        vectorize=True, dask="parallelized", output_dtypes=[np.float64],
    )
    return _finish(out, "edge_length", "m", "ice-edge length", threshold=threshold, method=method)


def miz_width(obj: xr.Dataset | xr.DataArray, low: float = MIZ_LOW, high: float = MIZ_HIGH,
              method: Literal["contour", "cells"] = "contour") -> xr.DataArray:
    """Mean MIZ width (m) = MIZ area / ice-edge length (edge at sic = ``low``); NaN without an edge."""
    sic = get_var(obj, "sic")
    length = ice_edge_length(sic, low, method)
    out = miz_area(sic, low, high) / length.where(length > 0)
    return _finish(out, "miz_width", "m", "marginal-ice-zone width (MIZ area / ice-edge length)")


# --------------------------------------------------------------------------- thickness
def _thickness_ice(ds: xr.Dataset | xr.DataArray, threshold: float) -> xr.DataArray:
    """Where thickness is averaged: sic ≥ threshold if sic is present, else sit > 0."""
    if isinstance(ds, xr.Dataset) and "sic" in ds.data_vars:
        return ice_mask(ds, threshold)
    sit = get_var(ds, "sit")
    return (sit > TOL) & ocean(sit)


def mean_thickness(ds: xr.Dataset | xr.DataArray, threshold: float = EXTENT_THRESHOLD) -> xr.DataArray:
    """Mean sea-ice thickness (m) over the ice-covered area.

    ``sit`` is the grid-cell mean (effective) thickness, volume per cell area. The mean is
    area weighted over ice-covered ocean cells: Σ_ice sit·A / Σ_ice A, where *ice* is
    sic ≥ ``threshold`` when the Dataset has sic and sit > 0 otherwise. NaN without ice.
    """
    sit = get_var(ds, "sit")
    _check_spatial(sit)
    ice = _thickness_ice(ds, threshold)
    a = cell_area(sit)
    weighted = _sum_area(sit.where(ice), a)
    covered = _sum_area(ice, a)
    out = weighted / covered.where(covered > 0)
    return _finish(out, "mean_thickness", "m", "mean sea-ice thickness over the ice-covered area")


def volume(ds: xr.Dataset | xr.DataArray) -> xr.DataArray:
    """Sea-ice volume (m³) = Σ sit · cell_area over ocean cells (sit is the grid-cell mean thickness)."""
    sit = get_var(ds, "sit")
    _check_spatial(sit)
    out = _sum_area(sit.where(ocean(sit)), cell_area(sit))
    return _finish(out, "volume", "m3", "sea-ice volume")


# --------------------------------------------------------------------------- bounds
def _bound_flags(x: xr.DataArray, tol: float = TOL) -> dict[str, xr.DataArray]:
    """On / beyond each finite bound of ``x``'s variable (``VARIABLES[x.name]``), False on NaN."""
    var = VARIABLES[str(x.name)]
    flags = {}
    if math.isfinite(var.lower):
        flags |= {"at_lower": abs(x - var.lower) <= tol, "below_lower": x < var.lower - tol}
    if math.isfinite(var.upper):
        flags |= {"at_upper": abs(x - var.upper) <= tol, "above_upper": x > var.upper + tol}
    return flags


def beyond_bounds(x: xr.DataArray, tol: float = TOL) -> xr.DataArray:
    """Cells of ``x`` (named after a variable of the table) beyond its bounds by more than ``tol``
    (boolean, False on NaN and for unbounded variables)."""
    flags = _bound_flags(x, tol)
    out = xr.zeros_like(x, dtype=bool)
    for key in ("below_lower", "above_upper"):
        if key in flags:
            out = out | flags[key]
    return out


def bound_fractions(ds: xr.Dataset, variables: tuple[str, ...] | list[str] | None = None,
                    tol: float = TOL) -> xr.Dataset:
    """Fractions of valid ocean cells on and beyond each finite bound, per variable.

    For a variable with lower bound *l* (from ``variables.VARIABLES``):
    ``{v}_at_lower`` = frac(|x − l| ≤ tol), ``{v}_below_lower`` = frac(x < l − tol); likewise
    ``{v}_at_upper`` and ``{v}_above_upper`` for an upper bound *u*. The denominator is the
    number of ocean cells where the variable is finite (unweighted cell counts). Unbounded sides
    (velocities) get no keys.
    """
    wanted = set(variables or ds.data_vars)
    names = [n for n in VARIABLES if n in wanted and n in ds.data_vars]  # table order: stable keys
    out: dict[str, xr.DataArray] = {}
    for name in names:
        x = ds[name]
        _check_spatial(x)
        valid = x.notnull() & ocean(x)
        n = valid.sum(SPATIAL)
        n = n.where(n > 0)
        for key, flag in _bound_flags(x, tol).items():
            frac = (flag & valid).sum(SPATIAL) / n
            out[f"{name}_{key}"] = _finish(frac, f"{name}_{key}", "1",
                                           f"fraction of ocean cells with {name} {key.replace('_', ' ')} bound")
    return xr.Dataset(out)


# --------------------------------------------------------------------------- all at once
def state_stats(ds: xr.Dataset, threshold: float = EXTENT_THRESHOLD) -> xr.Dataset:
    """Every per-state scalar of a canonical Dataset, in SI units, one Dataset over time/sample.

    Variables: extent, area, miz_area, edge_length, miz_width (need sic), mean_thickness and
    volume (need sit), and :func:`bound_fractions`. Quantities whose variable is missing are
    left out.
    """
    out: dict[str, xr.DataArray] = {}
    if "sic" in ds.data_vars:
        out["extent"] = extent(ds, threshold)
        out["area"] = area(ds)
        out["miz_area"] = miz_area(ds)
        out["edge_length"] = ice_edge_length(ds, threshold)
        out["miz_width"] = out["miz_area"] / out["edge_length"].where(out["edge_length"] > 0)
        out["miz_width"].attrs = {"units": "m", "long_name": "marginal-ice-zone width (MIZ area / ice-edge length)"}
    if "sit" in ds.data_vars:
        out["mean_thickness"] = mean_thickness(ds, threshold)
        out["volume"] = volume(ds)
    result = xr.Dataset(out)
    return result.merge(bound_fractions(ds))
