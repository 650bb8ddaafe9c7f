"""neXtSIM output (NetCDF ``Moorings_*.nc``, ``ds_auxiliary.nc``, or Zarr) and canonical files.

neXtSIM on the curvilinear NEMO CREG025 grid is the data set of Finn et al. (2024).
"""

from __future__ import annotations

import logging
from os import PathLike
from pathlib import Path

import numpy as np
import xarray as xr

from .. import variables
from ..errors import SeaIceInputError
from ..grid import curvilinear_grid, nextsim_grid
from .validate import (GRID_COORDS, Chunks, as_name_list, canonical_variable, ensure_time, open_raw,
                       validate_dataset)

logger = logging.getLogger(__name__)

LAT_NAMES = ("latitude", "lat", "nav_lat")
LON_NAMES = ("longitude", "lon", "nav_lon")
MASK_NAMES = ("mask", "tmaskutil", "tmask")
TIME_NAMES = ("time", "time_counter", "t")

GridLike = xr.Dataset | str | PathLike | None


def state_names(src: xr.Dataset) -> dict[str, str]:
    """canonical name -> name in ``src`` for every state variable present (canonical names win)."""
    found: dict[str, str] = {}
    for name, da in src.data_vars.items():
        if da.ndim < 2 or name in LAT_NAMES + LON_NAMES + MASK_NAMES:
            continue
        try:
            canonical = variables.get(str(name)).name
        except KeyError:
            continue
        if canonical not in found or name == canonical:
            found[canonical] = str(name)
    return found


def _first(src: xr.Dataset, options: tuple[str, ...]) -> xr.DataArray | None:
    hit = next((o for o in options if o in src.variables), None)
    return None if hit is None else src[hit]


def _grid_from_path(path: str | PathLike) -> xr.Dataset:
    """A grid file: canonical (with cell_area) or neXtSIM/NEMO (latitude, longitude, mask)."""
    g = open_raw(path, None)
    if all(c in g.variables for c in GRID_COORDS):
        g = g.set_coords([c for c in GRID_COORDS if c in g.data_vars])
        return g.drop_vars(list(g.data_vars))
    return nextsim_grid(path)


def resolve_grid(src: xr.Dataset, source: str, shape: tuple[int, int], grid: GridLike,
                 first: xr.DataArray) -> xr.Dataset:
    """The grid of a neXtSIM file: ``grid=`` if given, else its own lat/lon/mask."""
    if grid is not None:
        g = grid if isinstance(grid, xr.Dataset) else _grid_from_path(grid)
        gshape = tuple(g["lat"].shape)
        if gshape != shape:
            gname = grid if not isinstance(grid, xr.Dataset) else g.attrs.get("grid", "grid=")
            raise SeaIceInputError(source, f"mismatched grid shapes: the data are {shape}, "
                                   f"the grid {gname} is {gshape}",
                                   "Pass the grid file the data were written on")
        return g
    lat, lon = _first(src, LAT_NAMES), _first(src, LON_NAMES)
    if lat is None or lon is None:
        raise SeaIceInputError(source, "no grid: the file has no latitude/longitude",
                               "Pass grid= a grid Dataset or the path of a grid file such as ds_auxiliary.nc")
    if lat.shape[-2:] != shape:
        raise SeaIceInputError(source, f"mismatched grid shapes: latitude is {lat.shape}, data {shape}",
                               "Check the file or pass grid=")
    mask = _first(src, MASK_NAMES)
    if mask is not None:
        mask_values = np.asarray(mask.values)
        mask_values = mask_values.reshape((-1,) + shape)[0]  # (H, W); NEMO masks may carry t/z dims
    else:
        lead = {d: 0 for d in first.dims[:-2]}
        mask_values = np.isfinite(np.asarray(first.isel(lead).values))
        logger.info("%s: no mask variable; ocean = finite %s at the first time", source, first.name)
    lat_v = np.asarray(lat.values).reshape((-1,) + shape)[0]
    lon_v = np.asarray(lon.values).reshape((-1,) + shape)[0]
    name = f"neXtSIM curvilinear {shape[0]}x{shape[1]} ({Path(source).name})"
    return curvilinear_grid(lat_v, lon_v, mask_values, name)


def _to_yx(da: xr.DataArray, source: str) -> xr.DataArray:
    """Rename the spatial dims to (y, x) and a time-like leading dim to ``time``."""
    *lead, ydim, xdim = da.dims
    rename = {ydim: "y", xdim: "x"}
    if len(lead) == 1 and lead[0] in TIME_NAMES:
        rename[lead[0]] = "time"
    elif len(lead) > 1 or (lead and lead[0] not in ("time", "sample")):
        raise SeaIceInputError(source, f"wrong dimensions for {da.name}: {da.dims}",
                               "Expected (time, y, x) or (y, x)")
    keep = [c for c in da.coords if c in TIME_NAMES and da[c].ndim <= 1]
    da = da.reset_coords([c for c in da.coords if c not in keep and c not in da.dims], drop=True)
    da = da.drop_vars([d for d in (ydim, xdim) if d in da.coords])
    return da.rename({k: v for k, v in rename.items() if k != v})


def nextsim_to_canonical(src: xr.Dataset, source: str | PathLike, *, grid: GridLike = None) -> xr.Dataset:
    """Convert an opened neXtSIM Dataset to the canonical form (see module doc)."""
    source = str(source)
    names = state_names(src)
    if not names:
        raise SeaIceInputError(source, "missing variable: no sea-ice state variable "
                               f"(variables: {', '.join(map(str, src.data_vars)) or 'none'})",
                               f"Expected any of {', '.join(variables.STATE_VARIABLES)} or their aliases "
                               "(e.g. damage)")
    first = src[next(iter(names.values()))]
    shape = tuple(first.shape[-2:])
    g = resolve_grid(src, source, shape, grid, first)
    mask = g["mask"].reset_coords(drop=True).drop_vars(["y", "x"], errors="ignore")
    data = {}
    for name, src_name in names.items():
        if src[src_name].shape[-2:] != shape:
            raise SeaIceInputError(source, f"mismatched grid shapes: {src_name} is {src[src_name].shape[-2:]}, "
                                   f"{first.name} is {shape}", "Give all variables on the same grid")
        da = _to_yx(src[src_name], source)
        data[name] = canonical_variable(da, name, mask, src_name)
    ds = ensure_time(xr.Dataset(data))
    ds = ds.assign_coords({c: g[c].variable for c in ("y", "x") + GRID_COORDS if c in g.variables})
    missing = [n for n in variables.STATE_VARIABLES if n not in names]
    if missing:
        logger.warning("%s: neXtSIM file lacks state variables %s (found %s)", source,
                       ", ".join(missing), ", ".join(f"{v} as {k}" for k, v in names.items()))
    ds.attrs = {
        "grid": g.attrs.get("grid", f"curvilinear {shape[0]}x{shape[1]}"),
        "title": str(src.attrs.get("title", "neXtSIM sea-ice fields")),
        "source": f"neXtSIM ({Path(source).name})",
        "missing_variables": missing,
    }
    if "proj4" in g.attrs:
        ds.attrs["proj4"] = g.attrs["proj4"]
    return validate_dataset(ds, source)


def open_nextsim(path: str | PathLike, chunks: Chunks = "auto", *, grid: GridLike = None) -> xr.Dataset:
    """Read neXtSIM output (NetCDF or Zarr) on its curvilinear grid as a canonical Dataset.

    Names are mapped to the canonical ones (``damage`` -> ``sid``, ...); only the variables
    present are taken and the missing ones are logged and listed in ``attrs["missing_variables"]``.
    Cell areas are geodesic (``grid.curvilinear_grid``). A file without latitude/longitude needs
    ``grid=`` (a grid Dataset or a grid file path). Big NetCDF files, Zarr stores and globs of
    files (``"run/Moorings_2008m*.nc"``, joined along time) open lazily with dask.

    >>> ds = open_nextsim("../shared/data/nextsim/ds_auxiliary.nc")  # doctest: +SKIP
    >>> int(ds.mask.sum()), ds.attrs["missing_variables"]  # doctest: +SKIP
    (127152, ['sic', 'sid', 'siu', 'siv'])
    """
    return nextsim_to_canonical(open_raw(path, chunks), path, grid=grid)


def canonical_to_canonical(src: xr.Dataset, source: str | PathLike) -> xr.Dataset:
    """A file already in canonical form (the reference, ``generate`` output): check and return it."""
    src = src.set_coords([c for c in GRID_COORDS if c in src.data_vars])
    names = [n for n in src.data_vars if n in variables.VARIABLES]
    ds = src[names]
    ds = ds.assign_coords({c: src[c].variable for c in GRID_COORDS if c in src.variables and c not in ds.coords})
    if "missing_variables" in ds.attrs:
        ds.attrs["missing_variables"] = as_name_list(ds.attrs["missing_variables"])
    if "mask" in ds.coords:
        ds = ds.assign_coords(mask=ds["mask"].astype(np.int8))
    for name in names:  # packed files may decode to float64
        if ds[name].dtype != np.float32:
            ds[name] = ds[name].astype(np.float32)
    return validate_dataset(ds, source)


def open_canonical(path: str | PathLike, chunks: Chunks = "auto") -> xr.Dataset:
    """Open a canonical file (e.g. ``data/nextsim_like_default.nc``) and validate it."""
    return canonical_to_canonical(open_raw(path, chunks), path)
