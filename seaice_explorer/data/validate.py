"""Input checks and the canonical form shared by every reader.

A canonical Dataset holds any of the state variables of Finn et al. (2024) as
float32 on ``(time|sample, y, x)``, NaN on land, with 2-D ``lat``, ``lon``, ``mask`` (ocean = 1)
and ``cell_area`` (m²) coordinates. Every problem raises :class:`SeaIceInputError` naming the file.
"""

from __future__ import annotations

import glob
import json
import logging
import math
import os
import re
import warnings
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import Literal, Union

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import SeaIceInputError
from ..variables import VARIABLES, Variable

logger = logging.getLogger(__name__)

#: NetCDF files larger than this are opened lazily with dask when ``chunks="auto"``.
LAZY_BYTES = 512 * 2**20
#: Leading dimension of a canonical variable: observations/reference or generated samples.
LEADING_DIMS = ("time", "sample")
GRID_COORDS = ("lat", "lon", "mask", "cell_area")
#: A value this many normalisation std away from the mean of an unbounded side is absurd.
ABSURD_STDS = 50.0

Chunks = Union[Literal["auto"], None, int, dict]

#: A ``units`` attribute that means percent: the values are divided by 100, whatever they are.
PERCENT_UNITS = frozenset({"%", "percent", "percentage", "pct"})
#: Spellings of each canonical unit (``variables.VARIABLES``) that files use; others are refused.
UNIT_ALIASES: dict[str, frozenset[str]] = {
    "1": frozenset({"1", "", "fraction", "0-1", "dimensionless", "none", "-"}),
    "m": frozenset({"m", "meter", "meters", "metre", "metres"}),
    "m s-1": frozenset({"m s-1", "m/s", "m.s-1", "m s**-1", "m s^-1", "ms-1", "meter/second", "meters/second"}),
}
#: The one form of a date a user writes (``--train 2000-01-01..2016-12-31``, ``split_*`` attributes).
DATE_FORM = "YYYY-MM-DD"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: Zarr codecs (v2 ``id``, v3 ``name``) that may decode an object array without running code.
SAFE_OBJECT_CODECS = frozenset({"vlen-utf8", "vlen-bytes", "vlen-array", "json2", "msgpack2"})


def require_file(path: str | PathLike) -> Path:
    """The path as a ``Path``; raises when it does not exist."""
    path = Path(path).expanduser()
    if not path.exists():
        raise SeaIceInputError(path, "file not found",
                               "Check the path; pass a NetCDF file (.nc) or a Zarr directory")
    return path


def is_zarr(path: Path) -> bool:
    """A Zarr store: a directory named *.zarr or holding Zarr metadata."""
    return path.is_dir() and (path.suffix == ".zarr" or any(
        (path / meta).exists() for meta in (".zgroup", ".zattrs", "zarr.json")))


def parse_date(value: object, source: str) -> pd.Timestamp:
    """A user's date ``YYYY-MM-DD`` as a Timestamp; a clear error naming ``source`` (the argument,
    attribute or spec) otherwise, instead of pandas' ``DateParseError`` or a wrong guess."""
    text = str(value).strip()
    fix = f"Write the date as {DATE_FORM}, e.g. 2019-01-31"
    if not _DATE.fullmatch(text):
        raise SeaIceInputError(source, f"{text!r} is not a date of the form {DATE_FORM}", fix)
    try:
        return pd.Timestamp(text).as_unit("ns")  # the unit of every time axis: 1677-09-22..2262-04-11
    except (ValueError, OverflowError) as err:  # DateParseError, OutOfBoundsDatetime are ValueErrors
        raise SeaIceInputError(source, f"{text!r} is not a valid date ({str(err).rstrip('.')})",
                               f"{fix}; years 1678-2261, months 01-12, days that exist") from None


def parse_period(start: object, end: object, source: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Inclusive dates ``start..end``, each ``YYYY-MM-DD``, with start <= end (else a clear error)."""
    a, b = parse_date(start, source), parse_date(end, source)
    if a > b:
        raise SeaIceInputError(source, f"{start}..{end} ends before it starts", "Give START..END with START <= END")
    return a, b


def _zarr_metadata(path: Path) -> Iterator[tuple[str, object]]:
    """(file, JSON) of the Zarr metadata xarray reads from a store: the root group's ``.zmetadata``
    (consolidated v2) or ``zarr.json`` (v3, consolidated inside) and each array's ``.zarray`` or
    ``zarr.json`` one level down (xarray opens the root group's arrays; chunk folders are not walked)."""
    names = (".zarray", ".zmetadata", "zarr.json")
    for meta in [*(path / n for n in names), *sorted(m for n in names for m in path.glob(f"*/{n}"))]:
        if meta.is_file():
            try:
                yield str(meta.relative_to(path)), json.loads(meta.read_text())
            except (OSError, UnicodeDecodeError, ValueError) as err:
                raise SeaIceInputError(meta, f"unreadable Zarr metadata ({type(err).__name__}: {err})",
                                       "Pass a Zarr store written by xarray or `seaice-explorer prepare`") from None


def _codec_id(codec: dict) -> str:
    """``"pickle"`` for ``{"id": "pickle"}`` (v2) and ``{"name": "numcodecs.pickle"}`` (v3)."""
    return str(codec.get("id", codec.get("name", ""))).lower().rsplit(".", 1)[-1]


def _unsafe_codecs(doc: object, where: str, *, listing: bool = False) -> Iterator[str]:
    """What in one metadata JSON could run code when decoded: a pickle codec anywhere (filters,
    compressor, v3 codecs, nested sharding codecs), an object array without a safe text codec.
    ``listing``: ``doc`` maps array paths to metadata (consolidated metadata)."""
    if isinstance(doc, list):
        for item in doc:
            yield from _unsafe_codecs(item, where)
        return
    if not isinstance(doc, dict):
        return
    if not listing:
        if ("id" in doc or "name" in doc) and _codec_id(doc) == "pickle":
            yield f"{where}: the {doc.get('id', doc.get('name'))!r} codec"
        dtype = doc.get("dtype", doc.get("data_type"))
        if isinstance(dtype, str) and (dtype.lstrip("|<>=") == "O" or dtype == "object"):
            codecs = [c for c in [*(doc.get("filters") or []), *(doc.get("codecs") or []), doc.get("compressor")]
                      if isinstance(c, dict)]
            ids = {_codec_id(c) for c in codecs}
            if not ids & SAFE_OBJECT_CODECS:
                yield f"{where}: a Python-object dtype with codecs {sorted(ids) or 'none'}"
    for key, value in doc.items():
        if key == "attributes" or key.endswith(".zattrs"):
            continue  # user attributes (v3, consolidated v2), not codecs
        inner = f"{where} {key}" if listing else where
        yield from _unsafe_codecs(value, inner, listing=key == "metadata" and not listing)


def check_zarr_metadata(path: str | PathLike) -> None:
    """Refuse a Zarr store whose metadata names a ``pickle`` codec (filter, compressor, v3 codec) or
    an object array without a safe text codec, from the JSON alone: before zarr builds any codec
    and before any chunk is decoded (unpickling a chunk can run code from the file)."""
    path = Path(path)
    found = [hit for name, doc in _zarr_metadata(path) for hit in _unsafe_codecs(doc, name)]
    if found:
        shown = "; ".join(found[:3]) + (f" (+{len(found) - 3} more)" if len(found) > 3 else "")
        raise SeaIceInputError(path, f"the store's metadata asks for a codec that can run code when its data "
                               f"are decoded ({shown}); nothing was read",
                               "Write the store again with numeric arrays (e.g. `seaice-explorer prepare`); "
                               "sea-ice fields never need pickled or Python-object chunks")


def open_raw(path: str | PathLike, chunks: Chunks = "auto", *, lazy_bytes: int | None = None) -> xr.Dataset:
    """Open a NetCDF file, a Zarr store or a glob of NetCDF files as it is, lazily when big.

    ``chunks="auto"``: Zarr always lazily (its own chunks), NetCDF lazily (dask ``"auto"`` chunks)
    only above ``lazy_bytes`` (default :data:`LAZY_BYTES`), else loaded into memory.
    ``None``: always in memory. An int or dict: passed to xarray (lazy).
    """
    if glob.has_magic(str(path)):
        return _open_many(str(path), chunks)
    path = require_file(path)
    zarr = is_zarr(path)
    if path.is_dir() and not zarr:
        raise SeaIceInputError(path, "unknown format: a directory that is not a Zarr store",
                               "Pass a NetCDF file or a Zarr directory")
    lazy_bytes = LAZY_BYTES if lazy_bytes is None else lazy_bytes
    lazy = chunks not in ("auto", None) or (chunks == "auto" and (zarr or path.stat().st_size > lazy_bytes))
    xr_chunks = ({} if zarr else "auto") if chunks == "auto" else chunks
    if zarr:
        check_zarr_metadata(path)  # before zarr decodes anything (coordinates are read on open)
    try:
        if zarr:
            src = xr.open_zarr(path, chunks=xr_chunks if lazy else None)
        else:
            src = xr.open_dataset(path, chunks=xr_chunks if lazy else None)
    except Exception as err:  # backends raise ValueError, OSError, KeyError, ... on foreign files
        raise SeaIceInputError(path, f"unknown format: xarray cannot read it ({type(err).__name__}: {err})",
                               "Pass a NetCDF (.nc) file or a Zarr directory of sea-ice fields") from err
    if not lazy:
        with src:
            src = src.load()
    logger.debug("opened %s (%s)", path, "lazy" if lazy else "in memory")
    return src


def _open_many(pattern: str, chunks: Chunks) -> xr.Dataset:
    """Several files (e.g. monthly ``Moorings_*.nc``) joined along time, lazily with dask."""
    files = sorted(glob.glob(os.path.expanduser(pattern)))
    if not files:
        raise SeaIceInputError(pattern, "no file matches the pattern", "Check the folder and the wildcard")
    try:
        src = xr.open_mfdataset(files, combine="by_coords", chunks={} if chunks in ("auto", None) else chunks,
                                data_vars="minimal", coords="minimal", compat="override", join="outer")
    except Exception as err:
        raise SeaIceInputError(pattern, f"cannot combine {len(files)} files ({type(err).__name__}: {err})",
                               "Pass files of one run, each with a time coordinate") from err
    logger.info("opened %d files matching %s", len(files), pattern)
    return src.load() if chunks is None else src


def canonical_variable(da: xr.DataArray, name: str, mask: xr.DataArray, source_name: str | None = None) -> xr.DataArray:
    """float32, NaN on land, CF attributes from the variable table."""
    out = da.where(mask == 1).astype(np.float32)
    out.attrs = VARIABLES[name].cf_attrs()
    if "units" in da.attrs:  # validate_dataset converts (percent) or refuses (unknown units) from it
        out.attrs["source_units"] = str(da.attrs["units"])
    if source_name and source_name != name:
        out.attrs["source_name"] = source_name
    out.encoding = {}
    return out.rename(name)


def ensure_time(ds: xr.Dataset) -> xr.Dataset:
    """Give every variable a leading ``time`` dim (a scalar time coordinate becomes length 1)."""
    if "time" in ds.dims or "sample" in ds.dims:
        return ds
    return ds.expand_dims("time")  # promotes a scalar ``time`` coordinate, else a bare dim


def _plausible(var: Variable) -> tuple[float, float]:
    """Values outside this range are not a sea-ice state (bounds + half the colour range)."""
    tol = 0.5 * (var.clim[1] - var.clim[0])
    lo = var.lower - tol if math.isfinite(var.lower) else var.mean - ABSURD_STDS * var.std
    hi = var.upper + tol if math.isfinite(var.upper) else var.mean + ABSURD_STDS * var.std
    return lo, hi


def _check_sample(da: xr.DataArray, mask: np.ndarray) -> np.ndarray:
    """Ocean values to check: all of them in memory; first and last time step when lazy."""
    if da.chunks is not None and da.sizes[da.dims[0]] > 2:
        da = da.isel({da.dims[0]: [0, -1]})
    values = np.asarray(da.values)  # (T, H, W)
    return values[:, mask]


def _check_grid(ds: xr.Dataset, source: str, shape: tuple[int, int]) -> np.ndarray:
    for name in GRID_COORDS:
        if name not in ds.variables:
            raise SeaIceInputError(source, f"missing variable: no {name!r} grid coordinate",
                                   "Canonical files carry lat, lon, mask and cell_area; open the original "
                                   "product with its reader (open_nextsim, open_osisaf, open_nsidc)")
        grid_var = ds[name]
        if grid_var.dims != ("y", "x") or grid_var.shape != shape:
            raise SeaIceInputError(source, f"mismatched grid shapes: {name} has dims {grid_var.dims} "
                                   f"{grid_var.shape}, the variables have (y, x) {shape}",
                                   "Give data and grid on the same (y, x) cells")
    ocean = np.asarray(ds["mask"].values) == 1
    if not ocean.any():
        raise SeaIceInputError(source, "the mask has no ocean cell (ocean = 1)", "Check the mask variable")
    if not (np.asarray(ds["cell_area"].values)[ocean] > 0).all():
        raise SeaIceInputError(source, "cell_area is not positive on every ocean cell", "Check the grid file")
    return ocean


def _is_percent(da: xr.DataArray, var: Variable, source: str, vmin: float, vmax: float) -> bool:
    """Whether ``da`` is in percent: from its units when it has any, else (sic only) from its values."""
    units = da.attrs.get("source_units", da.attrs.get("units"))
    if units is None:  # no units attribute: the one place values decide
        if var.name == "sic" and 1.5 < vmax <= 100.0 and vmin >= -1e-6:
            warnings.warn(f"{source}: sic looks like percent (max {vmax:g}) and has no units attribute; "
                          "converting to a fraction", UserWarning, stacklevel=4)
            return True
        return False
    text = str(units).strip().lower()
    if var.units == "1" and text in PERCENT_UNITS:
        logger.info("%s: %s in %r: divided by 100", source, var.name, units)
        return True
    if text not in UNIT_ALIASES.get(var.units, frozenset({var.units.lower()})):
        raise SeaIceInputError(source, f"{var.name} has units {units!r}; expected {var.units!r}"
                               + (" or percent" if var.units == "1" else ""),
                               f"Convert {var.name} to {var.units} or set its units attribute to what the values are")
    return False


def validate_dataset(ds: xr.Dataset, source: str | PathLike | None) -> xr.Dataset:
    """Check a canonical Dataset and return it with land set to NaN and percentages converted.

    Raises :class:`SeaIceInputError` for a missing variable, wrong dims, mismatched grid shapes,
    an all-NaN variable, ±inf over the ocean (NaN there is allowed: missing data), units it does
    not know or values far outside the physical bounds. Units come from each variable's ``units``
    (or ``source_units``, kept by :func:`canonical_variable`) attribute: a fraction variable (sic,
    sid) declared in percent (:data:`PERCENT_UNITS`) is divided by 100 whatever its values. Only
    when sic has *no* units attribute is it guessed: 1.5 < max <= 100 is taken as percent and
    divided by 100 with a warning. Lazy variables are checked on their first and last time steps.
    """
    source = str(source) if source is not None else "dataset"
    names = [n for n in ds.data_vars if n in VARIABLES]
    if not names:
        raise SeaIceInputError(source, f"missing variable: none of {', '.join(VARIABLES)} found "
                               f"(variables: {', '.join(map(str, ds.data_vars)) or 'none'})",
                               "Pass a file with at least one sea-ice state variable")
    shape = None
    for name in names:
        dims = ds[name].dims
        if len(dims) != 3 or dims[0] not in LEADING_DIMS or dims[1:] != ("y", "x"):
            raise SeaIceInputError(source, f"wrong dimensions for {name}: {dims}",
                                   "Expected (time, y, x) or (sample, y, x)")
        shape = shape or ds[name].shape[1:]
        if ds[name].shape[1:] != shape:
            raise SeaIceInputError(source, f"mismatched grid shapes: {name} is {ds[name].shape[1:]}, "
                                   f"{names[0]} is {shape}", "Give all variables on the same grid")
    ocean = _check_grid(ds, source, shape)
    mask = ds["mask"]
    ds = ds.copy()
    for name in names:
        var = VARIABLES[name]
        values = _check_sample(ds[name], ocean)
        infinite = np.isinf(values)
        if infinite.any():
            raise SeaIceInputError(source, f"{name} has {int(infinite.sum())} infinite value(s) (±inf) over the "
                                   f"ocean{' in its first and last time steps' if ds[name].chunks else ''}",
                                   "Write NaN for missing data; sea-ice states are finite")
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            raise SeaIceInputError(source, f"{name} is all NaN over the ocean", "Check the file or the mask")
        vmin, vmax = float(finite.min()), float(finite.max())
        attrs = {**{k: v for k, v in ds[name].attrs.items() if k != "source_units"}, "units": var.units}
        if _is_percent(ds[name], var, source, vmin, vmax):
            ds[name] = (ds[name] / np.float32(100.0)).astype(np.float32)
            vmin, vmax = vmin / 100.0, vmax / 100.0
        ds[name].attrs = attrs
        lo, hi = _plausible(var)
        if vmin < lo or vmax > hi:
            raise SeaIceInputError(source, f"{name} values {vmin:g}..{vmax:g} are far outside its bounds "
                                   f"[{var.lower:g}, {var.upper:g}] {var.units}",
                                   f"Check the units; {name} must be in {var.units}")
        ds[name] = ds[name].where(mask == 1)  # NaN on land
    return ds


def as_name_list(value: object) -> list[str]:
    """An attribute that should be a list of names, however the file stored it."""
    if value is None:
        return []
    if isinstance(value, str):
        return value.replace(",", " ").split()
    return [str(v) for v in np.atleast_1d(value).tolist() if isinstance(v, str)]
