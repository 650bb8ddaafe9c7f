"""Fixed observation masks on a model grid, and the observed file they make (issue 22).

Each mask is a boolean ``hidden`` map on dims (y, x), True where a cell is hidden (unobserved),
and only ever True on ocean cells (``mask == 1``); land is neither observed nor hidden. The
grid is any Dataset or DataArray with the coordinates ``y``, ``x`` (projected, m), ``lat`` and
``mask``, e.g. one day of the ``osisaf`` family (EASE2-North, 50 km) or ``grid.default_grid()``.

- :func:`edge_box`: a square of :data:`EDGE_BOX_M` (1,000 km) over the day's 15 % ice edge. The
  edge cells are ocean cells with sic ≥ 0.15 that touch (4-neighbours) an ocean cell with
  sic < 0.15. Each edge cell proposes the k × k window of cells (k = 1,000 km ÷ the cell size,
  20 at 50 km) whose centre it is (rows i − k/2 … i + k/2 − 1, shifted to stay inside the grid);
  the box is the window holding the most edge cells, ties going to the first edge cell in row-major
  order. It puts the box where the edge is longest within 1,000 km, deterministically per day.
- :func:`pole_hole`: the disc north of :data:`POLE_HOLE_LATITUDE` = 84.5°N (about 610 km around
  the pole; 468 ocean cells on the 50 km grid). The real hole of the passive-microwave record
  depends on the sensor: about 84.5°N for SMMR (1979–87), 87.2°N for SSM/I and SSMIS, nearer the
  pole for AMSR (OSI-450 fills it by interpolation); the SMMR hole is taken, the largest, so the
  mask is not trivially small at 50 km.
- :func:`swath_gap`: the band of :data:`SWATH_WIDTH_M` = 500 km between two parallel lines
  x·cos θ + y·sin θ = offset ± width/2 in projected metres; by default θ = 0° and offset =
  500 km, the strip 250 km ≤ x ≤ 750 km, which runs from the Barents Sea across the Kara and
  Laptev side of the pole to the East Siberian Sea (ice at every season).
- :func:`sparse`: only :data:`SPARSE_OBSERVED` = 5 % of the ocean cells are observed, drawn
  without replacement by ``numpy.random.default_rng(seed)``; the other 95 % are hidden.

:func:`observe` turns a true state and a hidden map into the observed file (``OBS.nc``): the
same variables and coordinates as the family's data set, NaN where unobserved.

>>> from seaice_explorer.grid import default_grid
>>> hidden = pole_hole(default_grid())
>>> int(hidden.sum()), hidden.attrs["latitude"]
(468, 84.5)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from types import MappingProxyType

import numpy as np
import xarray as xr

from ..errors import SeaIceInputError

log = logging.getLogger(__name__)

#: Latitude (°N) north of which the pole-hole mask hides every cell.
POLE_HOLE_LATITUDE = 84.5
#: Side of the ice-edge box (m).
EDGE_BOX_M = 1_000_000.0
#: Width (m) of the swath gap, and the default offset (m) of its centre line from the pole, and angle.
SWATH_WIDTH_M = 500_000.0
SWATH_OFFSET_M = 500_000.0
SWATH_ANGLE_DEG = 0.0
#: Share of the ocean cells the sparse mask observes.
SPARSE_OBSERVED = 0.05
#: The ice edge's concentration (the extent threshold; as ``stats.state.EXTENT_THRESHOLD``).
EDGE_THRESHOLD = 0.15
_TOL = 1e-6
_GRID_COORDS = ("y", "x", "lat", "lon", "mask", "cell_area")


# --------------------------------------------------------------------------- helpers
def _check_grid(grid: xr.Dataset | xr.DataArray, *needs: str) -> None:
    missing = [c for c in ("y", "x", *needs) if c not in grid.coords]
    if missing:
        raise SeaIceInputError(None, f"the grid lacks the coordinate(s) {', '.join(missing)}",
                               "Pass a state or grid from a seaice_explorer reader (y, x, lat, lon, mask, cell_area)")


def ocean_cells(grid: xr.Dataset | xr.DataArray) -> np.ndarray:
    """(H, W) bool: ``mask == 1``, or every cell when the grid has no mask."""
    _check_grid(grid)
    shape = (grid.sizes["y"], grid.sizes["x"])
    return (grid.coords["mask"].values == 1) if "mask" in grid.coords else np.ones(shape, dtype=bool)


def _hidden(grid: xr.Dataset | xr.DataArray, hidden: np.ndarray, kind: str, **attrs: object) -> xr.DataArray:
    """The (y, x) DataArray of ``hidden`` ∧ ocean, with the grid's coordinates and what made it."""
    flag = np.asarray(hidden, dtype=bool) & ocean_cells(grid)
    coords = {c: grid.coords[c] for c in _GRID_COORDS if c in grid.coords and set(grid.coords[c].dims) <= {"y", "x"}}
    out = xr.DataArray(flag, dims=("y", "x"), coords=coords, name="hidden")
    out.attrs = {"long_name": f"hidden (unobserved) cells: {kind}", "flag_values": [0, 1],
                 "flag_meanings": "observed_or_land hidden", "mask": kind, "hidden_cells": int(flag.sum()),
                 **attrs}
    return out


def _spacing(coord: np.ndarray, name: str) -> float:
    if coord.size < 2:
        raise SeaIceInputError(None, f"the grid has fewer than 2 cells along {name}", "Pass a full map")
    return float(abs(coord[1] - coord[0]))


# --------------------------------------------------------------------------- the masks
def pole_hole(grid: xr.Dataset | xr.DataArray, latitude: float = POLE_HOLE_LATITUDE) -> xr.DataArray:
    """Ocean cells north of ``latitude`` (°N, default 84.5): the satellites' unobserved pole hole."""
    _check_grid(grid, "lat")
    return _hidden(grid, grid.coords["lat"].values > latitude, "pole_hole", latitude=latitude)


def ice_edge_cells(sic: np.ndarray, ocean: np.ndarray, threshold: float = EDGE_THRESHOLD) -> np.ndarray:
    """(H, W) bool: ocean cells with sic ≥ ``threshold`` that have a 4-neighbour ocean cell below it."""
    ice = ocean & (np.nan_to_num(sic, nan=-1.0) >= threshold - _TOL)
    water = ocean & np.isfinite(sic) & (sic < threshold - _TOL)
    padded = np.pad(water, 1, constant_values=False)
    touches = padded[:-2, 1:-1] | padded[2:, 1:-1] | padded[1:-1, :-2] | padded[1:-1, 2:]
    return ice & touches


def _window_counts(flag: np.ndarray, ky: int, kx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell (i, j): the first row and column of the ky × kx window centred on it (kept inside the
    grid) and the count of ``flag`` cells in that window (a summed-area table)."""
    ny, nx = flag.shape
    table = np.zeros((ny + 1, nx + 1), dtype=np.int64)
    table[1:, 1:] = flag.astype(np.int64).cumsum(0).cumsum(1)
    r0 = np.clip(np.arange(ny) - ky // 2, 0, ny - ky)[:, None]  # (H, 1)
    c0 = np.clip(np.arange(nx) - kx // 2, 0, nx - kx)[None, :]  # (1, W)
    counts = table[r0 + ky, c0 + kx] - table[r0, c0 + kx] - table[r0 + ky, c0] + table[r0, c0]
    return np.broadcast_to(r0, flag.shape), np.broadcast_to(c0, flag.shape), counts


def edge_box(state: xr.Dataset | xr.DataArray, size_m: float = EDGE_BOX_M,
             threshold: float = EDGE_THRESHOLD) -> xr.DataArray:
    """A ``size_m`` square over the day's ice edge (module docstring): of the windows centred on the
    edge cells, the one holding the most edge cells. ``state`` is one day's sic field or Dataset
    (a dim of size 1, e.g. ``time``, is dropped)."""
    sic = state["sic"] if isinstance(state, xr.Dataset) else state
    _check_grid(sic)
    sic = sic.squeeze([d for d in sic.dims if d not in ("y", "x") and sic.sizes[d] == 1], drop=True)
    if set(sic.dims) != {"y", "x"}:
        raise SeaIceInputError(None, f"the ice-edge box needs one day's map (y, x), not dims {sic.dims}",
                               "Select one day first, e.g. ds.sel(time='2019-03-01')")
    values = sic.transpose("y", "x").values.astype(np.float64)
    edge = ice_edge_cells(values, ocean_cells(sic), threshold)
    if not edge.any():
        raise SeaIceInputError(None, f"the field has no ice edge at sic = {threshold:g}",
                               "Pick a day with both ice and open water, or another mask")
    ny, nx = edge.shape
    ky = min(ny, max(1, round(size_m / _spacing(sic["y"].values, "y"))))
    kx = min(nx, max(1, round(size_m / _spacing(sic["x"].values, "x"))))
    r0, c0, counts = _window_counts(edge, ky, kx)
    best = int(np.argmax(np.where(edge, counts, -1)))  # first maximum in row-major order
    i, j = divmod(best, nx)
    box = np.zeros_like(edge)
    box[r0[i, j]:r0[i, j] + ky, c0[i, j]:c0[i, j] + kx] = True
    return _hidden(sic, box, "edge_box", size_m=size_m, threshold=threshold,
                   centre_x=float(sic["x"][j]), centre_y=float(sic["y"][i]),
                   edge_cells_in_box=int(counts[i, j]))


def swath_gap(grid: xr.Dataset | xr.DataArray, width_m: float = SWATH_WIDTH_M, offset_m: float = SWATH_OFFSET_M,
              angle_deg: float = SWATH_ANGLE_DEG) -> xr.DataArray:
    """The band |x·cos θ + y·sin θ − offset| < width/2 (projected m; θ = ``angle_deg``): a gap
    between two parallel satellite swaths."""
    _check_grid(grid)
    theta = np.deg2rad(angle_deg)
    xx, yy = np.meshgrid(grid["x"].values, grid["y"].values)
    along = xx * np.cos(theta) + yy * np.sin(theta) - offset_m
    return _hidden(grid, np.abs(along) < width_m / 2, "swath_gap", width_m=width_m, offset_m=offset_m,
                   angle_deg=angle_deg)


def sparse(grid: xr.Dataset | xr.DataArray, observed: float = SPARSE_OBSERVED, seed: int = 0) -> xr.DataArray:
    """Hide all but ``observed`` (default 5 %) of the ocean cells, chosen at random with ``seed``."""
    if not 0.0 <= observed <= 1.0:
        raise SeaIceInputError(None, f"observed share {observed} is outside 0..1", "Give e.g. 0.05 for 5 %")
    ocean = ocean_cells(grid)
    flat = np.flatnonzero(ocean)
    keep = np.random.default_rng(seed).choice(flat, size=round(observed * flat.size), replace=False)
    hidden = ocean.copy()
    hidden.flat[keep] = False
    return _hidden(grid, hidden, "sparse", observed_share=observed, seed=seed)


#: The fixed masks by name: each takes one day's true state (Dataset or sic) and a seed.
MASKS: Mapping[str, Callable[[xr.Dataset | xr.DataArray, int], xr.DataArray]] = MappingProxyType({
    "edge_box": lambda state, seed: edge_box(state),
    "pole_hole": lambda state, seed: pole_hole(state),
    "swath_gap": lambda state, seed: swath_gap(state),
    "sparse": lambda state, seed: sparse(state, seed=seed),
})


def make_mask(name: str, state: xr.Dataset | xr.DataArray, seed: int = 0) -> xr.DataArray:
    """The hidden map of the mask ``name`` (:data:`MASKS`) for one day's true ``state``."""
    if name not in MASKS:
        raise SeaIceInputError(None, f"unknown observation mask {name!r}", f"Use one of: {', '.join(MASKS)}")
    return MASKS[name](state, seed)


# --------------------------------------------------------------------------- the observed file
def observe(truth: xr.Dataset, hidden: xr.DataArray) -> xr.Dataset:
    """``truth`` with every map variable set to NaN on the ``hidden`` cells: the observed file
    (``OBS.nc``), with the variables and coordinates of the family's data set and NaN = unobserved.

    A day selected with a scalar ``time`` coordinate gets its ``time`` dim back (length 1), so the
    result is (time, y, x) like the data set and ``open_reference`` reads it when written; a
    (time, y, x) truth is hidden at every time step.
    """
    _check_grid(truth)
    if hidden.sizes.get("y") != truth.sizes["y"] or hidden.sizes.get("x") != truth.sizes["x"]:
        raise SeaIceInputError(None, f"the hidden map {dict(hidden.sizes)} does not fit the state's grid "
                               f"({truth.sizes['y']}×{truth.sizes['x']})", "Make the mask from the same grid")
    for c in ("y", "x"):
        if c in hidden.coords and not np.allclose(hidden[c].values, truth[c].values):
            raise SeaIceInputError(None, f"the hidden map's {c} coordinates differ from the state's",
                                   "Make the mask from the same grid")
    if "time" in truth.coords and "time" not in truth.dims and truth["time"].ndim == 0:
        truth = truth.expand_dims("time")
    observed = xr.DataArray(~hidden.transpose("y", "x").values.astype(bool), dims=("y", "x"),
                            coords={"y": truth["y"], "x": truth["x"]})
    out = truth.copy()
    for name, da in truth.data_vars.items():
        if {"y", "x"} <= set(da.dims):
            out[name] = da.where(observed).transpose(*da.dims).assign_attrs(da.attrs)
    n_hidden = int(hidden.values.sum())
    out.attrs.update({"observation_mask": str(hidden.attrs.get("mask", "custom")), "hidden_cells": n_hidden,
                      "observation_comment": "NaN on ocean cells = unobserved (hidden); land is NaN as in the data"})
    log.debug("observed state: %d hidden cells (%s)", n_hidden, out.attrs["observation_mask"])
    return out
