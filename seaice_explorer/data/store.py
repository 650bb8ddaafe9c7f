"""A chunked Zarr training store: many input files -> one store, written out of core with dask.

:func:`prepare` opens anything :func:`~seaice_explorer.data.open_reference` reads (a glob of
neXtSIM ``Moorings_*.nc``, canonical NetCDF, ``default``, ``osisaf``; a list of them is joined
along time) lazily, one time step per dask chunk, and writes:

- the canonical state variables, float32, NaN on land, one Zarr chunk per ``time_chunk`` time
  steps and the whole field (a training sample reads one chunk per variable);
- time and the grid (``lat``, ``lon``, ``mask``, ``cell_area`` coordinates);
- a split by time in the attributes ``split_train``, ``split_validation``, ``split_test``
  (``"YYYY-MM-DD..YYYY-MM-DD"``, inclusive; the form of the OSI SAF dataset, so
  ``open_reference(store, split="test")`` and ``train --data`` pick them up);
- the normalisation statistics of the train split, mean and std over the ocean cells per
  variable, computed out of core: the small variables ``norm_mean`` and ``norm_std`` (dim ``variable``).

>>> prepare("run/Moorings_*.nc", "nextsim.zarr")  # doctest: +SKIP
>>> open_store("nextsim.zarr").attrs["split_test"]  # doctest: +SKIP
'2018-01-01..2018-12-31'
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import xarray as xr

from ..errors import SeaIceInputError
from ..outputs import Output, atomic_folder, check_outputs
from ..variables import STATE_VARIABLES
from .nextsim import GridLike
from .osisaf import select_split
from .readers import open_reference
from .validate import check_zarr_metadata, is_zarr, parse_period

log = logging.getLogger(__name__)

#: ``attrs["store_format"]`` of a store written by :func:`prepare`.
STORE_FORMAT = "seaice-explorer training store 1"
SPLIT_NAMES = ("train", "validation", "test")
#: Default split when the data do not cover three calendar years: fractions of the days, in time order.
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)

Period = tuple[str, str]
Inputs = str | PathLike | Sequence[str | PathLike]


def prepare(inputs: Inputs, out: str | PathLike, *, variables: Sequence[str] | None = None, grid: GridLike = None,
            split: Mapping[str, Period] | None = None, time_chunk: int = 1, overwrite: bool = False) -> Path:
    """Write ``inputs`` to the Zarr store ``out`` (see the module doc); returns its path.

    ``variables``: the state variables to keep (default: all the inputs hold). ``grid``: the grid of
    neXtSIM files without latitude/longitude. ``split``: ``{"train": (start, end), ...}`` inclusive
    dates; ``train`` is needed, ``validation``/``test`` optional (default :func:`default_split`).
    """
    out = Path(out)
    if split is not None:
        split_dates(split)  # a bad date is refused before any input is opened
    sources = [inputs] if isinstance(inputs, (str, PathLike)) else list(inputs)
    check_outputs([Output(out, "store")], overwrite=overwrite, inputs=[*sources, grid if isinstance(grid, (str, PathLike)) else None])
    if time_chunk < 1:
        raise SeaIceInputError("time_chunk", f"{time_chunk} time steps per chunk", "Use 1 or more")
    ds = open_inputs(inputs, grid=grid, time_chunk=time_chunk)
    names = _variables(ds, variables, str(inputs))
    times = ds.indexes["time"]
    periods = default_split(times) if split is None else check_split(split, times)
    store = ds[names].chunk({"time": time_chunk, "y": -1, "x": -1})
    for var in store.variables.values():
        var.encoding = {}  # no packing or NetCDF chunking carried over: float32, our chunks
    store.attrs = {k: v for k, v in ds.attrs.items() if not k.startswith("split") and k != "dataset"}  # the path names it
    store.attrs.update({
        "store_format": STORE_FORMAT,
        "inputs": _describe(inputs),
        "splits": " ".join(periods),
        **{f"split_{name}": f"{start}..{end}" for name, (start, end) in periods.items()},
        "statistics": "norm_mean, norm_std: mean and std (ddof 0) over the ocean cells of the train split",
    })
    h, w = store.sizes["y"], store.sizes["x"]
    encoding = {name: {"chunks": (time_chunk, h, w)} for name in names}
    log.info("writing %d time steps of %s (%dx%d) to %s", len(times), names, h, w, out)
    with atomic_folder(out) as tmp:  # the old store (if any) is replaced only by a complete new one
        store.to_zarr(tmp, mode="w", consolidated=True, zarr_format=2, encoding=encoding)
        mean, std = statistics(open_store(tmp, "train"), names)
        stats = xr.Dataset({"norm_mean": ("variable", np.array(mean)), "norm_std": ("variable", np.array(std))},
                           coords={"variable": list(names)}, attrs=store.attrs)  # appending rewrites the attrs
        stats.to_zarr(tmp, mode="a", consolidated=True, zarr_format=2)
    log.info("normalisation of the train split: %s", {n: (round(m, 4), round(s, 4)) for n, m, s in zip(names, mean, std)})
    return out


def open_inputs(inputs: Inputs, *, grid: GridLike = None, time_chunk: int = 1) -> xr.Dataset:
    """The inputs as one lazy canonical Dataset in time order (a list is opened file by file and joined)."""
    chunks = {"time": time_chunk}
    if isinstance(inputs, (str, PathLike)):
        ds = open_reference(inputs, chunks=chunks, grid=grid)
    else:
        parts = [open_reference(p, chunks=chunks, grid=grid) for p in inputs]
        if not parts:
            raise SeaIceInputError("inputs", "no input given", "Pass files, a glob or a dataset name")
        first = parts[0]
        for path, part in zip(inputs, parts):
            if part["mask"].shape != first["mask"].shape or not np.array_equal(part["mask"].values, first["mask"].values):
                raise SeaIceInputError(path, f"its grid differs from {inputs[0]}", "Prepare files of one grid together")
        ds = xr.concat(parts, dim="time", data_vars="minimal", coords="minimal", compat="override", join="override")
    if "time" not in ds.dims or not np.issubdtype(ds["time"].dtype, np.datetime64):
        raise SeaIceInputError(_describe(inputs), "no time axis of dates", "Prepare states with a time coordinate")
    if not ds.indexes["time"].is_monotonic_increasing:
        ds = ds.sortby("time")
    if not ds.indexes["time"].is_unique:
        raise SeaIceInputError(_describe(inputs), "repeated time steps", "Pass each time step once (no overlapping files)")
    return ds


def default_split(times: pd.DatetimeIndex) -> dict[str, Period]:
    """Whole years when the days cover three calendar years or more (test = the last year, validation
    = the year before, train = the rest); else 80/10/10 % of the days in time order; train only below 3 days."""
    days = times.normalize().unique()
    years = sorted(days.year.unique())
    if len(years) >= 3:
        bounds = {"train": (days[0], pd.Timestamp(f"{years[-3]}-12-31")),
                  "validation": (pd.Timestamp(f"{years[-2]}-01-01"), pd.Timestamp(f"{years[-2]}-12-31")),
                  "test": (pd.Timestamp(f"{years[-1]}-01-01"), days[-1])}
    elif len(days) >= 3:
        n_train = max(1, math.floor(SPLIT_FRACTIONS[0] * len(days)))
        n_val = max(1, (len(days) - n_train) // 2)  # the rest after validation is test (none for few days)
        cuts = [0, n_train, n_train + n_val, len(days)]
        bounds = {name: (days[a], days[b - 1]) for name, a, b in zip(SPLIT_NAMES, cuts, cuts[1:]) if b > a}
    else:
        log.warning("only %d days: all of them are the train split", len(days))
        bounds = {"train": (days[0], days[-1])}
    return {name: (f"{a:%Y-%m-%d}", f"{b:%Y-%m-%d}") for name, (a, b) in bounds.items()}


def split_dates(split: Mapping[str, Period]) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
    """The periods of a split as inclusive (start, end) Timestamps, in :data:`SPLIT_NAMES` order: names
    and dates checked (``YYYY-MM-DD``, start <= end) without the data, so before any work."""
    unknown = set(split) - set(SPLIT_NAMES)
    if unknown or "train" not in split:
        raise SeaIceInputError("split", f"periods {sorted(split)}", f"Give 'train' and optionally 'validation', 'test'")
    return {name: parse_period(split[name][0], split[name][1], f"--{name}") for name in SPLIT_NAMES if name in split}


def check_split(split: Mapping[str, Period], times: pd.DatetimeIndex) -> dict[str, Period]:
    """The given periods in :data:`SPLIT_NAMES` order, each holding a time step, none overlapping."""
    dates = split_dates(split)
    periods = {name: (str(split[name][0]).strip(), str(split[name][1]).strip()) for name in dates}
    spans = {}
    for name, (start, end) in periods.items():
        a, b = dates[name][0], dates[name][1] + pd.Timedelta(days=1)  # inclusive end date
        if not ((times >= a) & (times < b)).any():
            raise SeaIceInputError(f"split {name}", f"{start}..{end} holds no time step of the data "
                                   f"({times[0]:%Y-%m-%d}..{times[-1]:%Y-%m-%d})", "Pick dates inside the data")
        spans[name] = (a, b)
    names = list(spans)
    for i, x in enumerate(names):
        for y in names[i + 1:]:
            if spans[x][0] < spans[y][1] and spans[y][0] < spans[x][1]:
                raise SeaIceInputError("split", f"{x} and {y} overlap", "Give periods that do not overlap")
    return periods


def statistics(ds: xr.Dataset, variables: Sequence[str]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std (ddof 0; 1 where 0) of each variable over all ocean cells and time steps, with dask."""
    ocean = ds["mask"] == 1
    values = [ds[v].where(ocean).astype(np.float64) for v in variables]  # lazy, one chunk per time step
    lazy = [(x.mean(), x.std()) for x in values]
    (computed,) = dask.compute(lazy)
    mean = tuple(float(m) for m, _ in computed)
    std = tuple(float(s) if s > 0 else 1.0 for _, s in computed)
    return mean, std


def is_store(path: object) -> bool:
    """Whether ``path`` is a store written by :func:`prepare`."""
    if not isinstance(path, (str, PathLike)) or not is_zarr(Path(path)):
        return False
    check_zarr_metadata(path)  # a store that would unpickle is refused, not merely "not ours"
    try:
        with xr.open_zarr(path, chunks=None) as ds:
            return ds.attrs.get("store_format") == STORE_FORMAT
    except Exception:  # noqa: BLE001 - a foreign or broken store is simply not ours
        return False


def open_store(path: str | PathLike, split: str | None = None, *, dask_chunks: bool = True) -> xr.Dataset:
    """A store as it is written (lazily), or one split of it; ``dask_chunks=False`` reads lazily without dask.

    The Dataset carries ``position``, the index of each of its time steps in the whole store.
    """
    if not is_store(path):
        raise SeaIceInputError(path, "not a training store", "Write one with `seaice-explorer prepare`")
    ds = xr.open_zarr(path, chunks={} if dask_chunks else None)
    ds = ds.assign_coords(position=("time", np.arange(ds.sizes["time"])))
    return ds if split is None else select_split(ds, split, str(path))


def store_normalisation(ds: xr.Dataset, variables: Sequence[str]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The train split's (mean, std) of ``variables`` recorded in a store."""
    missing = [v for v in variables if v not in ds["variable"].values]
    if missing:
        raise SeaIceInputError(ds.attrs.get("inputs"), f"no statistics of {missing} in the store", "Prepare the store again")
    sel = {"variable": list(variables)}
    return (tuple(float(v) for v in ds["norm_mean"].sel(sel).values),
            tuple(float(v) for v in ds["norm_std"].sel(sel).values))


def _variables(ds: xr.Dataset, variables: Sequence[str] | None, source: str) -> list[str]:
    present = [v for v in STATE_VARIABLES if v in ds.data_vars]
    if not variables:
        return present
    missing = [v for v in variables if v not in present]
    if missing:
        raise SeaIceInputError(source, f"variables {missing} missing (found {present})", f"Choose among {present}")
    return list(variables)


def _describe(inputs: Inputs) -> str:
    return str(inputs) if isinstance(inputs, (str, PathLike)) else " ".join(map(str, inputs))
