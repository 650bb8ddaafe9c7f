"""Synthetic sea-ice states written as neXtSIM ``Moorings_YYYYmMM.nc`` files on the real CREG025 grid.

Finn et al. 2024 (arXiv 2406.18417) train on OPA-neXtSIM output on 512×512 cells of the
curvilinear NEMO CREG025 grid, written by neXtSIM as monthly ``Moorings_YYYYmMM.nc`` files. That
output cannot be downloaded here, so this module writes files with the same layout and names
(``sit``, ``sic``, ``damage``, ``siu``, ``siv`` on ``(time, y, x)``, with ``longitude`` and
``latitude`` on ``(y, x)``, NaN on land, time in days since 1900) on the real grid of a grid file
such as ``ds_auxiliary.nc`` (its latitude, longitude and mask). **The values are synthetic**: the
project's neXtSIM-like generator (:class:`~.reference_model.ReferenceModel`, the default
reference's) is evaluated on an EASE2-North grid that covers the curvilinear cells (its ocean is
the grid file's ocean, nearest cell), then interpolated bilinearly to each cell centre; the drift
is turned from the projection's axes to the grid's x/y axes, as neXtSIM writes it. Every file says
so in its attributes. :func:`~.nextsim.open_nextsim` and ``open_reference`` read them back
unchanged (one file, or a glob of them joined along time).

>>> paths = write_moorings("run", "ds_auxiliary.nc", start="2000-01", months=2, days=3)  # doctest: +SKIP
>>> [p.name for p in paths]  # doctest: +SKIP
['Moorings_2000m01.nc', 'Moorings_2000m02.nc']
"""

from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Callable
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from pyproj import Transformer
from scipy import ndimage
from scipy.spatial import cKDTree

from .. import __version__ as _pkg_version
from ..arguments import non_negative_int, positive_float, positive_int
from ..errors import SeaIceInputError
from ..grid import EASE2_NORTH, nextsim_grid
from ..outputs import Output, atomic_file, check_outputs, created_by
from ..variables import STATE_VARIABLES, VARIABLES
from .reference_model import ReferenceModel

log = logging.getLogger(__name__)

SYNTHETIC_KIND = "synthetic neXtSIM-layout states (not neXtSIM output)"
GENERATOR_VERSION = "1"
#: canonical name -> the name neXtSIM gives it in Moorings files (read back through the variable aliases)
NEXTSIM_NAMES: dict[str, str] = {"sit": "sit", "sic": "sic", "sid": "damage", "siu": "siu", "siv": "siv"}
TIME_UNITS = "days since 1900-01-01 00:00:00"
#: values this close to a finite physical bound are set onto it (bilinear weights do not sum to exactly 1)
SNAP = 1e-6


def moorings_name(month: pd.Timestamp) -> str:
    """neXtSIM's monthly file name, e.g. ``Moorings_2008m01.nc``."""
    return f"Moorings_{month.year:04d}m{month.month:02d}.nc"


def _projected(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """EASE2-North plane coordinates (m) of cell centres."""
    fwd = Transformer.from_crs("EPSG:4326", EASE2_NORTH, always_xy=True)
    x, y = fwd.transform(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return np.asarray(x), np.asarray(y)  # (H, W) m


def covering_grid(grid: xr.Dataset, resolution_km: float = 12.5) -> xr.Dataset:
    """A pole-centred EASE2-North grid (laid out as :func:`grid.default_grid`) covering ``grid``'s cells.

    A cell is ocean where the nearest curvilinear cell within 25 km (or one cell) is ocean, so the
    generator's coastlines are the grid file's and cells outside its domain are land.
    """
    dx = float(resolution_km) * 1e3
    gx, gy = _projected(grid["lat"].values, grid["lon"].values)
    half = math.ceil((max(np.abs(gx).max(), np.abs(gy).max()) + dx) / dx) * dx
    size = int(round(2 * half / dx))
    x = -half + (np.arange(size) + 0.5) * dx  # west -> east
    y = half - (np.arange(size) + 0.5) * dx  # north-up: row 0 is the top
    xx, yy = np.meshgrid(x, y)
    dist, idx = cKDTree(np.column_stack([gx.ravel(), gy.ravel()])).query(
        np.column_stack([xx.ravel(), yy.ravel()]), distance_upper_bound=max(dx, 25e3))
    ocean_src = np.append(grid["mask"].values.ravel() == 1, False)  # index n = no cell within reach
    ocean = ocean_src[np.where(np.isfinite(dist), idx, ocean_src.size - 1)].reshape(size, size)
    lon, lat = Transformer.from_crs(EASE2_NORTH, "EPSG:4326", always_xy=True).transform(xx, yy)
    return xr.Dataset(
        coords={
            "y": ("y", y, {"units": "m"}), "x": ("x", x, {"units": "m"}),
            "lat": (("y", "x"), np.asarray(lat, dtype=np.float32)),
            "lon": (("y", "x"), np.asarray(lon, dtype=np.float32)),
            "mask": (("y", "x"), ocean.astype(np.int8)),
            "cell_area": (("y", "x"), np.full((size, size), dx * dx)),
        },
        attrs={"grid": f"EASE2-North LAEA {size}x{size}, {dx / 1e3:g} km, covering {grid.attrs.get('grid', '')}",
               "proj4": EASE2_NORTH, "resolution_m": dx},
    )


def _interpolator(cover: xr.Dataset, grid: xr.Dataset) -> Callable[[np.ndarray], np.ndarray]:
    """Bilinear interpolation from ``cover``'s ocean values (H', W') to ``grid``'s cell centres (H, W)."""
    gx, gy = _projected(grid["lat"].values, grid["lon"].values)
    x, y = cover["x"].values, cover["y"].values
    dx = float(x[1] - x[0])
    rows, cols = (y[0] - gy) / dx, (gx - x[0]) / dx  # fractional indices, (H, W)
    land = cover["mask"].values != 1
    _, (iy, ix) = ndimage.distance_transform_edt(land, return_indices=True)  # nearest ocean cell

    def interpolate(field: np.ndarray) -> np.ndarray:
        filled = field[iy, ix]  # land takes its nearest ocean value, so coasts interpolate ocean only
        return ndimage.map_coordinates(filled, [rows, cols], order=1, mode="nearest")

    return interpolate


def _grid_axes(grid: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors of the curvilinear grid's x and y axes in the EASE2 plane: (2, H, W) each."""
    gx, gy = _projected(grid["lat"].values, grid["lon"].values)
    ex = np.stack([np.gradient(gx, axis=1), np.gradient(gy, axis=1)])
    ey = np.stack([np.gradient(gx, axis=0), np.gradient(gy, axis=0)])
    return ex / np.hypot(*ex), ey / np.hypot(*ey)


MAX_MONTHS = 1200  # 100 years of monthly files


def month_times(start: str, months: int, days: int) -> pd.DatetimeIndex:
    """``days`` daily-mean times (12:00) per month, spread evenly over each of ``months`` months."""
    if months < 1 or days < 1:
        raise SeaIceInputError("months/days", f"{months} months of {days} days requested", "Ask for at least 1 of each")
    try:
        first = pd.Timestamp(start).to_period("M").to_timestamp()
    except (ValueError, TypeError, OverflowError, AttributeError):
        raise SeaIceInputError("--start", f"{start!r} is not a month", "Write it as YYYY-MM, e.g. 2000-01") from None
    out = []
    for m in range(months):
        month = first + pd.DateOffset(months=m)
        offsets = np.floor(np.linspace(0, month.days_in_month, days, endpoint=False)).astype(int)
        out += [month + pd.Timedelta(days=int(d), hours=12) for d in np.unique(offsets)]
    return pd.DatetimeIndex(out)


def synthetic_states(grid: xr.Dataset, times: pd.DatetimeIndex, seed: int = 0,
                     resolution_km: float = 12.5) -> dict[str, np.ndarray]:
    """The generator's five variables at ``times`` on ``grid``'s cells: (T, H, W) float32, NaN on land.

    ``siu``/``siv`` are along the grid's x/y axes (neXtSIM's convention); values within 1e-6 of a
    finite bound are set onto it, so a censored likelihood sees them at the bound.
    """
    cover = covering_grid(grid, resolution_km)
    start = times[0].normalize()
    model = ReferenceModel(cover, seed=seed, start=str(start.date()))
    interpolate = _interpolator(cover, grid)
    ex, ey = _grid_axes(grid)
    ocean = grid["mask"].values == 1
    shape = cover["mask"].shape
    out = {name: np.full((len(times),) + ocean.shape, np.nan, dtype=np.float32) for name in STATE_VARIABLES}
    for n, time in enumerate(times):
        state = model.state(int((time.normalize() - start).days))
        fields = {}
        for name in STATE_VARIABLES:
            full = np.zeros(shape)
            full[model.ocean] = state[name]
            fields[name] = interpolate(full)  # (H, W)
        u, v = fields["siu"], fields["siv"]  # along the EASE2 x and y axes
        fields["siu"], fields["siv"] = u * ex[0] + v * ex[1], u * ey[0] + v * ey[1]
        for name in STATE_VARIABLES:
            var = VARIABLES[name]
            values = fields[name]
            if math.isfinite(var.lower):
                values = np.where(values < var.lower + SNAP, var.lower, values)
            if math.isfinite(var.upper):
                values = np.where(values > var.upper - SNAP, var.upper, values)
            out[name][n][ocean] = values[ocean]
        log.info("synthetic moorings state %d/%d (%s)", n + 1, len(times), time.date())
    return out


def moorings_dataset(states: dict[str, np.ndarray], grid: xr.Dataset, times: pd.DatetimeIndex,
                     attrs: dict[str, object]) -> xr.Dataset:
    """neXtSIM's Moorings layout: the states under neXtSIM's names on (time, y, x), longitude/latitude on (y, x)."""
    data = {}
    for name, nextsim_name in NEXTSIM_NAMES.items():
        var_attrs = {k: v for k, v in VARIABLES[name].cf_attrs().items() if k not in ("valid_min", "valid_max")}
        data[nextsim_name] = (("time", "y", "x"), states[name], {**var_attrs, "comment": "synthetic"})
    data["longitude"] = (("y", "x"), grid["lon"].values.astype(np.float32),
                         {"standard_name": "longitude", "long_name": "longitude", "units": "degrees_east"})
    data["latitude"] = (("y", "x"), grid["lat"].values.astype(np.float32),
                        {"standard_name": "latitude", "long_name": "latitude", "units": "degrees_north"})
    ds = xr.Dataset(data, coords={"time": ("time", times.values, {"standard_name": "time"})})
    ds.attrs.update(attrs)
    return ds


def write_moorings(out_dir: str | PathLike, grid_file: str | PathLike, *, start: str = "2000-01", months: int = 2,
                   days: int = 3, seed: int = 0, resolution_km: float = 12.5, overwrite: bool = False) -> list[Path]:
    """Write ``months`` monthly ``Moorings_YYYYmMM.nc`` files of ``days`` synthetic states each on ``grid_file``'s grid.

    ``grid_file``: a neXtSIM/NEMO grid file with latitude, longitude and mask (e.g. ``ds_auxiliary.nc``,
    512×512 CREG025 cells). ``resolution_km``: spacing of the EASE2 grid the generator runs on.
    Existing files are refused (``overwrite``: replaced, only if seaice-explorer wrote them), before any work.
    """
    if months > MAX_MONTHS or not 1.0 <= resolution_km <= 200.0:
        raise SeaIceInputError("--months/--resolution-km", f"{months} months at {resolution_km:g} km",
                               f"Ask for at most {MAX_MONTHS} months and a spacing of 1-200 km")
    times = month_times(start, months, days)
    grid = nextsim_grid(grid_file)
    out = Path(out_dir)
    planned = [out / moorings_name(m.to_timestamp()) for m in times.to_period("M").unique()]
    check_outputs([Output(path, "netcdf") for path in planned], overwrite=overwrite, inputs=[grid_file],
                  make_folders=True)
    states = synthetic_states(grid, times, seed, resolution_km)
    out.mkdir(parents=True, exist_ok=True)
    h, w = grid["mask"].shape
    attrs = {
        "title": "SYNTHETIC sea-ice states in the neXtSIM Moorings layout (not neXtSIM output)",
        "synthetic": "yes",
        "reference_kind": SYNTHETIC_KIND,
        "source": "seaice_explorer.data.moorings: the synthetic neXtSIM-like generator "
                  "(seaice_explorer.data.reference_model), not neXtSIM output",
        "comment": f"generator evaluated on an EASE2-North grid of {resolution_km:g} km covering the grid "
                   f"and interpolated bilinearly to its cells; siu/siv along the grid's x/y axes",
        "grid": f"curvilinear {h}x{w} of {Path(grid_file).name} (NEMO CREG025)",
        "seed": int(seed), "generator_version": GENERATOR_VERSION, "version": _pkg_version,
        "history": f"seaice-explorer moorings --grid {Path(grid_file).name} --start {start} --months {months} "
                   f"--days {days} --seed {seed} --resolution-km {resolution_km:g}",
        "Conventions": "CF-1.6",
        **created_by("moorings"),
    }
    paths = []
    for month, idx in pd.Series(np.arange(len(times)), index=times).groupby(times.to_period("M")):
        ds = moorings_dataset({k: v[idx.values] for k, v in states.items()}, grid, times[idx.values], attrs)
        encoding = {name: {"zlib": True, "complevel": 4, "dtype": "float32", "chunksizes": (1, h, w)}
                    for name in NEXTSIM_NAMES.values()}
        encoding["time"] = {"units": TIME_UNITS, "calendar": "standard", "dtype": "float64", "_FillValue": None}
        path = out / moorings_name(month.to_timestamp())
        with atomic_file(path) as tmp:
            ds.to_netcdf(tmp, encoding=encoding, unlimited_dims=["time"], format="NETCDF4")
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- CLI

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--grid", required=True, type=Path,
                        help="neXtSIM grid file with latitude, longitude and mask, e.g. ds_auxiliary.nc")
    parser.add_argument("--out", required=True, type=Path, help="output folder of the Moorings_YYYYmMM.nc files")
    parser.add_argument("--start", default="2000-01", help="first month, YYYY-MM")
    parser.add_argument("--months", type=positive_int, default=2, help=f"number of monthly files (1-{MAX_MONTHS})")
    parser.add_argument("--days", type=positive_int, default=3, help="daily states per month, spread over the month")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the generator")
    parser.add_argument("--resolution-km", type=positive_float, default=12.5,
                        help="spacing of the generator's EASE2 grid (1-200 km)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace Moorings files of the same name, only those seaice-explorer wrote")


def run(args: argparse.Namespace) -> int:
    paths = write_moorings(args.out, args.grid, start=args.start, months=args.months, days=args.days,
                           seed=args.seed, resolution_km=args.resolution_km, overwrite=args.overwrite)
    print(f"wrote {len(paths)} synthetic Moorings files to {args.out}: {', '.join(p.name for p in paths)}")
    return 0
