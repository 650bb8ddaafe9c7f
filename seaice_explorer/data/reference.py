"""The default reference: a deterministic, seeded, synthetic neXtSIM-like sea-ice data set.

Not neXtSIM output. Real neXtSIM fields (Finn et al. 2024 train on OPA-neXtSIM CREG025) cannot
be downloaded here, so the project ships its own: 2 years of daily states of the five variables
on the default 50 km EASE2-North grid, built by
:class:`~seaice_explorer.data.reference_model.ReferenceModel`. Day ``t`` is a pure function of
(seed, t), so any subset of days regenerates exactly.

Command line::

    seaice-explorer reference --out data/nextsim_like_default.nc --seed 0 --size 128

Python::

    >>> ds = make_reference(seed=0, size=32, days=3)
    >>> sorted(ds.data_vars)
    ['sic', 'sid', 'sit', 'siu', 'siv']

Its statistics (extent, MIZ, ice edge, bound fractions) are those of :mod:`seaice_explorer.stats`.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .. import __version__ as _pkg_version
from ..arguments import non_negative_int, positive_int
from ..configs import DEFAULT_DATASET
from ..errors import SeaIceInputError
from ..grid import default_grid
from ..outputs import Output, atomic_file, check_outputs, created_by
from ..variables import STATE_VARIABLES, VARIABLES
from .reference_model import ReferenceModel
from .validate import parse_date

log = logging.getLogger(__name__)

REFERENCE_KIND = "synthetic neXtSIM-like (not neXtSIM output)"
#: Version of the generator; bump it when the output of a seed changes.
GENERATOR_VERSION = "1"
BUNDLED_PATH = Path(__file__).resolve().parents[2] / "data" / "nextsim_like_default.nc"

#: Packing of each variable in the file: (integer dtype, scale_factor). Scales are powers of
#: two so 0 and 1 decode exactly to 0 and 1; land is the dtype's _FillValue.
PACKING: dict[str, tuple[str, float]] = {
    "sit": ("int16", 2.0**-8),  # 3.9 mm steps, up to 128 m
    "sic": ("int16", 2.0**-10),  # ~0.001 steps; 1 -> 1024
    "sid": ("int16", 2.0**-9),  # ~0.002 steps; 1 -> 512
    "siu": ("int16", 2.0**-10),  # ~1 mm/s steps, +-32 m/s
    "siv": ("int16", 2.0**-10),
}
#: Days per compression chunk: neighbouring days share structure, so zlib packs them ~12 % smaller.
CHUNK_DAYS = 8
FILL = {"int16": np.int16(-32768), "uint8": np.uint8(255)}


def make_reference(seed: int = 0, size: int = 128, start: str = "2000-01-01", days: int = 730,
                   day_indices: Sequence[int] | None = None) -> xr.Dataset:
    """Synthetic neXtSIM-like states on the default grid, canonical form (NaN on land).

    Parameters
    ----------
    seed, size, start, days
        Random seed, grid size (128 = 50 km), first date and number of daily states.
    day_indices
        Only these days (0-based, < ``days``); they equal the same days of the full run.
    """
    if days < 1:
        raise SeaIceInputError("--days", f"{days} days requested", "Ask for at least 1 day (730 for the default)")
    grid = default_grid(size)
    model = ReferenceModel(grid, seed=seed, start=start)
    idx = list(range(days)) if day_indices is None else [int(i) for i in day_indices]
    if any(i < 0 or i >= days for i in idx):
        raise SeaIceInputError("day_indices", f"indices outside 0..{days - 1}", "Pass day indices within the run")
    ocean = model.ocean
    out = {name: np.full((len(idx), *ocean.shape), np.nan, dtype=np.float32) for name in STATE_VARIABLES}
    for n, t in enumerate(idx):
        state = model.state(t)
        for name in STATE_VARIABLES:
            out[name][n][ocean] = state[name]
        if n % 60 == 0:
            log.info("reference day %d/%d", n + 1, len(idx))
    time = pd.Timestamp(start) + pd.to_timedelta(idx, "D")
    ds = xr.Dataset(
        {name: (("time", "y", "x"), out[name], VARIABLES[name].cf_attrs()) for name in STATE_VARIABLES},
        coords={"time": ("time", time.values)},
    ).assign_coords(grid.coords)
    ds["siu"].attrs["comment"] = "along the projection x axis (towards lon 90E), positive with x"
    ds["siv"].attrs["comment"] = "along the projection y axis (towards lon 180), positive with y"
    ds.attrs.update({
        **grid.attrs,
        "title": "neXtSIM-like default reference (synthetic)",
        "dataset": DEFAULT_DATASET,
        "reference_kind": REFERENCE_KIND,
        "source": "seaice_explorer.data.reference (synthetic generator, not neXtSIM output)",
        "seed": int(seed),
        "history": f"seaice-explorer reference --seed {seed} --size {size} --start {start} --days {days}",
        "generator_version": GENERATOR_VERSION,
        "version": _pkg_version,
        "Conventions": "CF-1.8",
    })
    return ds


# --------------------------------------------------------------------------- packing

def pack(values: np.ndarray, name: str) -> np.ndarray:
    """Float values -> the integers stored in the file (round half to even, fill on NaN)."""
    dtype, scale = PACKING[name]
    info = np.iinfo(dtype)
    values = np.asarray(values, dtype=np.float64)
    q = np.clip(np.round(np.nan_to_num(values) / scale), info.min + 1, info.max)  # min is the fill
    return np.where(np.isnan(values), FILL[dtype], q).astype(dtype)


def encode(ds: xr.Dataset) -> xr.Dataset:
    """Pack the state variables to scaled integers with CF attributes (what the file holds)."""
    out = ds.copy()
    for name in STATE_VARIABLES:
        if name not in ds:
            continue
        dtype, scale = PACKING[name]
        attrs = {k: v for k, v in ds[name].attrs.items() if k not in ("valid_min", "valid_max")}
        # CF reads valid_min/valid_max in packed units; the bounds live in variables.VARIABLES
        attrs.update(scale_factor=np.float32(scale), add_offset=np.float32(0.0), _FillValue=FILL[dtype])
        out[name] = xr.Variable(ds[name].dims, pack(ds[name].values, name), attrs)
    return out


def write_reference(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` packed, zlib + shuffle compressed, ``CHUNK_DAYS`` days per chunk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    packed = encode(ds)
    ny, nx = ds.sizes["y"], ds.sizes["x"]
    encoding = {name: {"zlib": True, "complevel": 9, "shuffle": True, "chunksizes": (min(CHUNK_DAYS, ds.sizes["time"]), ny, nx)}
                for name in STATE_VARIABLES if name in ds}
    for name in encoding:  # attrs already carry the packing; keep xarray from re-encoding
        packed[name].encoding = {}
    coords = {c: {"zlib": True, "complevel": 9} for c in ("lat", "lon", "mask", "cell_area") if c in packed.coords}
    with atomic_file(path) as tmp:
        _to_netcdf_raw(packed, tmp, encoding, coords)
    return path


def _to_netcdf_raw(packed: xr.Dataset, path: Path, encoding: dict, coords: dict) -> None:
    """``to_netcdf`` with integer data written as is: scale attrs go to attributes only."""
    for name in encoding:
        attrs = dict(packed[name].attrs)
        enc = encoding[name]
        enc["_FillValue"] = attrs.pop("_FillValue")
        enc["dtype"] = packed[name].dtype
        packed[name].attrs = attrs
    packed.to_netcdf(path, encoding={**encoding, **coords}, format="NETCDF4")


def open_packed(path: str | Path = BUNDLED_PATH) -> xr.Dataset:
    """The stored integers of a reference file (no decoding), for exact comparisons."""
    return xr.open_dataset(path, mask_and_scale=False)


# --------------------------------------------------------------------------- CLI

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True,
                        help="output NetCDF file (required: the bundled data/nextsim_like_default.nc is never replaced)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if seaice-explorer wrote it")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="random seed (0 gives the bundled file)")
    parser.add_argument("--size", type=positive_int, default=128, help="grid cells per side (128 = 50 km; 16-1024)")
    parser.add_argument("--days", type=positive_int, default=730, help="number of daily states (1-36600)")
    parser.add_argument("--start", default="2000-01-01", help="date of the first state")


def run(args: argparse.Namespace) -> int:
    check_outputs([Output(args.out, "netcdf")], overwrite=args.overwrite)
    if not 16 <= args.size <= 1024 or args.days > 36600:
        raise SeaIceInputError("--size/--days", f"size {args.size} and {args.days} days: a grid of 16-1024 cells "
                               "a side and at most 36,600 days (100 years) fit in memory", "Pass smaller values")
    start = parse_date(args.start, "--start").strftime("%Y-%m-%d")
    ds = make_reference(seed=args.seed, size=args.size, start=start, days=args.days)
    path = write_reference(ds.assign_attrs(created_by("reference")), args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {ds.sizes['time']} days, seed {args.seed})")
    return 0
