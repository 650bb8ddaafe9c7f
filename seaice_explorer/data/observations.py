"""Satellite sea-ice concentration: OSI SAF OSI-450/430 and NSIDC (CDR G02202 v4, NASA Team).

These are the observations that the sea-ice indices, and the extent/MIZ checks of the
neXtSIM-like reference, are computed from.
"""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Sequence
from functools import lru_cache
from os import PathLike
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import SeaIceInputError
from ..grid import EASE2_NORTH
from ..variables import VARIABLES
from .validate import Chunks, canonical_variable, open_raw, parse_date, require_file, validate_dataset

logger = logging.getLogger(__name__)

#: NSIDC polar stereographic north (EPSG:3411, Hughes 1980 ellipsoid).
NSIDC_NORTH = ("+proj=stere +lat_0=90 +lat_ts=70 +lon_0=-45 +k=1 +x_0=0 +y_0=0 +a=6378273 +b=6356889.449 "
               "+units=m +no_defs")
#: Days per dask chunk when several OSI SAF files are read lazily.
OSISAF_TIME_CHUNK = 61
OSISAF_LAND, OSISAF_LAKE = 1, 2  # status_flag bits
PSN25_GRID = "psn25_grid_v3.nc"
VALID_ICE = "nsidc0622_valid_ice_flag_N25km_monthly.nc"
# NSIDC byte flags (NASA Team raw bytes; CDR v4 after undoing the 0.01 scale factor)
POLE_HOLE, LAKE, COAST, LAND, MISSING = 251, 252, 253, 254, 255
LAT_ATTRS = MappingProxyType({"units": "degrees_north", "standard_name": "latitude"})
LON_ATTRS = MappingProxyType({"units": "degrees_east", "standard_name": "longitude"})
VALID_ICE_OK = 1  # nsidc0622 valid_ice_flag: 0 ocean (ice not valid), 1 valid, 2 coast, 3 land, 4 lake


def is_osisaf(src: xr.Dataset) -> bool:
    return "ice_conc" in src.data_vars and "status_flag" in src.data_vars


def is_nsidc(src: xr.Dataset) -> bool:
    return "conc_raw" in src.data_vars or any(str(v).startswith("cdr_seaice_conc") for v in src.data_vars)


def _require(src: xr.Dataset, names: tuple[str, ...], source: str, product: str) -> None:
    missing = [n for n in names if n not in src.variables]
    if missing:
        raise SeaIceInputError(source, f"missing variable: {', '.join(missing)} (an {product} file has them)",
                               f"Pass an unmodified {product} file")


# ----------------------------------------------------------------------------- OSI SAF
def _grid_mapping_proj4(src: xr.Dataset, source: str) -> str:
    """The CRS of an OSI SAF file: its grid-mapping variable's ``proj4_string``, which must be EASE2-North."""
    name = src["ice_conc"].encoding.get("grid_mapping") or src["ice_conc"].attrs.get("grid_mapping")
    mapping = src[name].attrs if name in src.variables else {}
    proj4 = str(mapping.get("proj4_string", EASE2_NORTH))
    params = dict(p.lstrip("+").split("=", 1) for p in proj4.split() if "=" in p)
    if params.get("proj") != "laea" or float(params.get("lat_0", 0)) != 90.0 or float(params.get("lon_0", 1)) != 0.0:
        raise SeaIceInputError(source, f"unexpected projection {proj4!r} (OSI-450-a NH is EASE2-North LAEA)",
                               "Pass a Northern-Hemisphere EASE2 OSI SAF file (ice_conc_nh_ease2-250_*)")
    return proj4


@lru_cache(maxsize=8)
def _cell_area_cached(proj4: str, x: tuple[float, ...], y: tuple[float, ...]) -> np.ndarray:
    from pyproj import Proj, Transformer

    xs, ys = np.asarray(x), np.asarray(y)
    steps = np.concatenate([np.abs(np.diff(xs)), np.abs(np.diff(ys))])
    if steps.size == 0 or not np.allclose(steps, steps[0], rtol=1e-9):
        raise SeaIceInputError(None, "the x/y coordinates are not a regular grid", "Pass an unmodified OSI SAF file")
    xx, yy = np.meshgrid(xs, ys)
    lon, lat = Transformer.from_crs(proj4, "EPSG:4326", always_xy=True).transform(xx, yy)
    scale = np.asarray(Proj(proj4).get_factors(lon, lat).areal_scale)
    if np.allclose(scale, 1.0, rtol=1e-6):  # equal-area (LAEA): 1 up to numerical-derivative noise (~1e-8)
        scale = np.ones_like(scale)
    area = steps[0] * steps[0] / scale
    area.setflags(write=False)
    return area


def projected_cell_area(proj4: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True areas (m²) of the cells of a regular projected grid (x, y cell centres in m).

    dx·dy divided by the projection's areal scale at each centre (pyproj ``get_factors``). EASE2
    (Lambert azimuthal equal-area) has areal scale 1, so every OSI-450-a 25 km cell is 625 km².
    """
    return _cell_area_cached(proj4, tuple(map(float, x)), tuple(map(float, y))).copy()


def _fill_value(da: xr.DataArray) -> float | None:
    fill = da.attrs.get("_FillValue", da.encoding.get("_FillValue"))
    return None if fill is None else float(np.asarray(fill))


def osisaf_ocean(src: xr.Dataset) -> np.ndarray:
    """(y, x) bool: ocean = neither the land (1) nor the lake (2) ``status_flag`` bit on ANY day.

    The union over time matters: in OSI-450-a 2016–2019, 482 lake cells carry the lake bit only
    from December to March (April–November they have bit 128 alone). Only the flags are read;
    a fill value counts as land. ``status_flag`` may be raw (uint8) or decoded (float, NaN fill).
    """
    flag = src["status_flag"]
    if np.issubdtype(flag.dtype, np.integer):
        fill = _fill_value(flag)
        land_or_lake = (flag & (OSISAF_LAND | OSISAF_LAKE)) != 0
        if fill is not None:
            land_or_lake = land_or_lake | (flag == fill)
    else:
        land_or_lake = (flag.fillna(OSISAF_LAND).astype(np.uint8) & (OSISAF_LAND | OSISAF_LAKE)) != 0
    if "time" in land_or_lake.dims:
        land_or_lake = land_or_lake.any("time")
    return ~np.asarray(land_or_lake.values, dtype=bool)


def _decode_fraction(raw: np.ndarray, ocean: np.ndarray, fill: float | None, scale: float,
                     offset: float) -> np.ndarray:
    """Packed integers -> float32 fraction in one pass: NaN on fill and off the ocean."""
    out = (raw * scale + offset).astype(np.float32)  # float64 product: 1500 x 1e-4 rounds to float32(0.15)
    np.copyto(out, np.float32(np.nan), where=~ocean if fill is None else (raw == fill) | ~ocean)
    return out


def osisaf_fraction(ice_conc: xr.DataArray, ocean: np.ndarray) -> xr.DataArray:
    """``ice_conc`` (%) as a float32 fraction, NaN on fill and land/lake; lazy when ``ice_conc`` is.

    Raw int16 (hundredths of %, scale_factor 0.01) is decoded blockwise in one pass, about
    five times faster than xarray's float64 decoding followed by the division.
    """
    ice_conc = ice_conc.reset_coords(drop=True)
    if not np.issubdtype(ice_conc.dtype, np.integer):
        return (ice_conc / 100.0).where(ocean).astype(np.float32)
    scale = float(ice_conc.attrs.get("scale_factor", 1.0)) / 100.0
    offset = float(ice_conc.attrs.get("add_offset", 0.0)) / 100.0
    fill = _fill_value(ice_conc)
    data = ice_conc.data
    if hasattr(data, "map_blocks"):
        values = data.map_blocks(_decode_fraction, ocean, fill, scale, offset, dtype=np.float32)
    else:
        values = _decode_fraction(np.asarray(data), ocean, fill, scale, offset)
    return xr.DataArray(values, dims=ice_conc.dims)


def osisaf_to_canonical(src: xr.Dataset, source: str | PathLike) -> xr.Dataset:
    """OSI SAF ``ice_conc`` (%) on EASE2 -> canonical sic fraction (see :func:`open_osisaf`).

    Stays lazy when ``src`` is dask-backed: only ``status_flag`` is computed (for the mask).
    """
    source = str(source)
    _require(src, ("ice_conc", "status_flag", "xc", "yc", "lat", "lon"), source, "OSI SAF OSI-450/430")
    proj4 = _grid_mapping_proj4(src, source)
    src = src.rename({"yc": "y", "xc": "x"})
    scale = 1000.0 if src["x"].attrs.get("units", "km") == "km" else 1.0
    x, y = src["x"].values * scale, src["y"].values * scale
    ocean = osisaf_ocean(src)
    mask = xr.DataArray(ocean.astype(np.int8), dims=("y", "x"))
    sic = osisaf_fraction(src["ice_conc"], ocean).assign_attrs(VARIABLES["sic"].cf_attrs(), source_name="ice_conc")
    ds = xr.Dataset({"sic": sic})  # already NaN off the ocean (canonical_variable would add a pass)
    ds = ds.assign_coords(
        y=("y", y, {"units": "m", "standard_name": "projection_y_coordinate"}),
        x=("x", x, {"units": "m", "standard_name": "projection_x_coordinate"}),
        lat=(("y", "x"), np.asarray(src["lat"].values, np.float32), LAT_ATTRS),
        lon=(("y", "x"), np.asarray(src["lon"].values, np.float32), LON_ATTRS),
        mask=mask.assign_attrs(long_name="ocean mask (OSI SAF land and lake flags = 0)", flag_values=[0, 1]),
        cell_area=(("y", "x"), projected_cell_area(proj4, x, y), {"units": "m2", "long_name": "cell area"}),
    )
    if "time" in src.coords:
        ds = ds.assign_coords(time=src["time"].values)
    ny, nx = ocean.shape
    ds.attrs = {
        "grid": f"EASE2-North LAEA {ny}x{nx}, {abs(float(x[1] - x[0])) / 1000:g} km (OSI SAF)",
        "proj4": EASE2_NORTH,
        "title": str(src.attrs.get("title", "OSI SAF sea-ice concentration")),
        "source": f"OSI SAF {src.attrs.get('product_id', 'sea-ice concentration')} ({Path(source).name})",
    }
    return validate_dataset(ds, source)


def osisaf_paths(paths: str | PathLike | Sequence[str | PathLike]) -> list[Path]:
    """The files behind a path, a glob or a list of paths (sorted when globbed)."""
    if isinstance(paths, (str, PathLike)):
        if glob.has_magic(str(paths)):
            found = sorted(glob.glob(os.path.expanduser(str(paths))))
            if not found:
                raise SeaIceInputError(paths, "no file matches the pattern", "Check the folder and the wildcard")
            return [Path(p) for p in found]
        return [require_file(paths)]
    found = [require_file(p) for p in paths]
    if not found:
        raise SeaIceInputError(None, "an empty list of OSI SAF files", "Pass at least one file")
    return found


def open_osisaf_files(paths: Sequence[str | PathLike], chunks: Chunks = "auto") -> xr.Dataset:
    """OSI SAF files (daily or packed by year) as one raw Dataset along ``time``: ice_conc and status_flag
    left as stored integers (decoded by :func:`osisaf_fraction`), dask-backed.

    ``chunks``: "auto" = :data:`OSISAF_TIME_CHUNK` days per chunk, but a single day is loaded;
    None = loaded into memory; an int = days per chunk; a dict = passed to xarray.
    """
    paths = [Path(p) for p in paths]
    if chunks in ("auto", None):
        xr_chunks: dict = {"time": OSISAF_TIME_CHUNK}
    else:
        xr_chunks = {"time": chunks} if isinstance(chunks, int) else dict(chunks)
    opened = []
    for path in paths:
        try:
            part = xr.open_dataset(require_file(path), chunks=xr_chunks, mask_and_scale=False)
        except Exception as err:  # backends raise ValueError, OSError, KeyError, ... on foreign files
            raise SeaIceInputError(path, f"unknown format: xarray cannot read it ({type(err).__name__}: {err})",
                                   "Pass OSI SAF OSI-450-a NetCDF files") from err
        _require(part, ("ice_conc", "status_flag", "xc", "yc", "lat", "lon", "time"), str(path), "OSI SAF OSI-450/430")
        opened.append(part)
    first = opened[0]
    src = xr.concat([part[["ice_conc", "status_flag"]] for part in opened], dim="time", data_vars="all",
                    coords="minimal", compat="override", join="exact") if len(opened) > 1 else first
    src = src.assign({name: first[name] for name in first.data_vars if "time" not in first[name].dims})
    src.attrs = dict(first.attrs)
    if len(opened) > 1 and not src.indexes["time"].is_monotonic_increasing:
        src = src.sortby("time")
    if src.indexes["time"].has_duplicates:
        raise SeaIceInputError(paths[0], "the files repeat some days", "Pass each day once")
    if chunks is None or (chunks == "auto" and src.sizes["time"] == 1):
        src = src.load()
    logger.info("opened %d OSI SAF file(s), %d days", len(paths), src.sizes["time"])
    return src


def open_osisaf(path: str | PathLike | Sequence[str | PathLike], chunks: Chunks = "auto") -> xr.Dataset:
    """Read OSI SAF OSI-450-a/430 ``ice_conc`` (EASE2-North 25 km) as canonical sic.

    ``path`` is one file (a daily ``ice_conc_nh_ease2-250_*.nc`` or a multi-day file packed by
    year), a glob or a list of files: ONE Dataset over ``time``, lazy (dask) unless it is a single
    day or ``chunks=None``. sic = ice_conc / 100 in (time, y, x), float32; x/y in metres;
    mask = 0 and sic NaN where ``status_flag`` has the land (1) or lake (2) bit on any day;
    ``cell_area`` from the projection (625 km² each); proj4 EASE2-North. With these, the extent
    (sic >= 0.15 × cell_area) and area (Σ sic × cell_area) reproduce the OSI SAF sea-ice index
    (OSI-420), to the cell on 1,389 of the 1,461 days of 2016–2019.
    """
    files = osisaf_paths(path)
    single = isinstance(path, (str, PathLike)) and not glob.has_magic(str(path))
    source = str(path) if isinstance(path, (str, PathLike)) else f"{files[0]} (+{len(files) - 1} more files)"
    ds = osisaf_to_canonical(open_osisaf_files(files, chunks), files[0] if single else source)
    if not single:
        ds.attrs["source"] = ds.attrs["source"].split(" (")[0] + f" ({', '.join(p.name for p in files)})"
    return ds


# ----------------------------------------------------------------------------- NSIDC
def find_ancillary(name: str, data_path: Path, ancillary_dir: str | PathLike | None) -> Path:
    """An NSIDC ancillary file: in ``ancillary_dir``, else beside the data or in ``nsidc_nasateam/``."""
    if ancillary_dir is not None:
        places = [Path(ancillary_dir)]
    else:
        here = data_path.resolve().parent
        places = [here, here / "nsidc_nasateam", here.parent / "nsidc_nasateam"]
    for place in places:
        if (place / name).is_file():
            return place / name
    raise SeaIceInputError(data_path, f"ancillary file {name} not found (looked in "
                           f"{', '.join(str(p) for p in places)})",
                           "Put psn25_grid_v3.nc and nsidc0622_valid_ice_flag_N25km_monthly.nc beside the "
                           "data or in a sibling nsidc_nasateam/ folder, or pass ancillary_dir=")


def _nsidc_time(src: xr.Dataset, path: Path) -> np.ndarray:
    """(T,) datetime64: from the file, else from the YYYYMMDD in its name."""
    if "time" in src.variables:
        return np.atleast_1d(src["time"].values).astype("datetime64[ns]")
    match = re.search(r"_((?:19|20)\d{6})_", path.name)
    if match is None:
        raise SeaIceInputError(path, "no time variable and no YYYYMMDD date in the file name",
                               "Keep the original NSIDC file name (e.g. nt_20010106_f13_v1.1_n.nc)")
    digits = match.group(1)
    day = parse_date(f"{digits[:4]}-{digits[4:6]}-{digits[6:]}", f"{path} (date YYYYMMDD in the file name)")
    return np.array([day.to_datetime64()], dtype="datetime64[ns]")


def _nsidc_codes(src: xr.Dataset, source: Path) -> tuple[np.ndarray, str, str]:
    """(T, H, W) integer codes: 0..250 = concentration x 250, 251..255 flags; variable and product."""
    if "conc_raw" in src.data_vars:
        raw = np.asarray(src["conc_raw"].values).astype(np.int16)
        codes = raw.reshape((-1,) + raw.shape[-2:])
        return codes, "conc_raw", "NSIDC NASA Team (NSIDC-0051/0081)"
    name = next(str(v) for v in src.data_vars if str(v).startswith("cdr_seaice_conc"))
    values = np.asarray(src[name].values, dtype=np.float64)  # decoded: 0..1, flags 2.51..2.55, NaN missing
    values = values.reshape((-1,) + values.shape[-2:])
    codes = np.where(np.isnan(values), MISSING,
                     np.where(values > 1.0, np.rint(values * 100), np.rint(values * 250)))
    return codes.astype(np.int16), name, "NSIDC CDR G02202 v4"


def nsidc_to_canonical(src: xr.Dataset, source: str | PathLike, *, ancillary_dir: str | PathLike | None = None,
                       valid_ice_mask: bool | None = None) -> xr.Dataset:
    """NSIDC CDR v4 or NASA Team -> canonical sic plus a ``pole_hole`` coordinate (see :func:`open_nsidc`)."""
    path = Path(source)
    codes, name, product = _nsidc_codes(src, path)  # (T, H, W)
    nasa_team = name == "conc_raw"
    apply_valid = nasa_team if valid_ice_mask is None else bool(valid_ice_mask)
    with xr.open_dataset(find_ancillary(PSN25_GRID, path, ancillary_dir)) as grid:
        grid = grid.load()
    if grid["cell_area"].shape != codes.shape[1:]:
        raise SeaIceInputError(path, f"mismatched grid shapes: data {codes.shape[1:]}, "
                               f"{PSN25_GRID} {grid['cell_area'].shape}", "Pass a 25 km north (psn25) NSIDC file")
    times = _nsidc_time(src, path)
    if nasa_team:
        conc = np.where(codes <= 250, codes / 250.0, np.nan)
    else:
        raw = np.asarray(src[name].values, dtype=np.float64).reshape(codes.shape)
        conc = np.where(codes <= 250, raw, np.nan)  # keep the decoded values, not the rounded codes
    ocean = ~np.isin(codes, (LAKE, COAST, LAND)).any(axis=0)  # (H, W)
    valid = None
    if nasa_team or apply_valid:
        with xr.open_dataset(find_ancillary(VALID_ICE, path, ancillary_dir)) as vf:
            months = pd.DatetimeIndex(times).month
            valid = np.asarray(vf["valid_ice_flag"].sel(month=list(months)).values)  # (T, H, W)
        ocean &= np.isin(valid, (0, VALID_ICE_OK)).all(axis=0)  # drops lakes (flag 4), coast, land
    if apply_valid:
        conc = np.where(valid == VALID_ICE_OK, conc, np.where(np.isnan(conc), np.nan, 0.0))
    mask = xr.DataArray(ocean.astype(np.int8), dims=("y", "x"))
    sic = canonical_variable(xr.DataArray(conc, dims=("time", "y", "x")), "sic", mask, name)
    pole = (codes == POLE_HOLE) & ocean
    xs = src["x"].values if "x" in src.coords else src["xgrid"].values if "xgrid" in src else grid["x"].values
    ys = src["y"].values if "y" in src.coords else src["ygrid"].values if "ygrid" in src else grid["y"].values
    ds = xr.Dataset({"sic": sic}, coords={
        "time": ("time", times),
        "y": ("y", np.asarray(ys, np.float64), {"units": "m", "standard_name": "projection_y_coordinate"}),
        "x": ("x", np.asarray(xs, np.float64), {"units": "m", "standard_name": "projection_x_coordinate"}),
        "lat": (("y", "x"), grid["latitude"].values.astype(np.float32), LAT_ATTRS),
        "lon": (("y", "x"), grid["longitude"].values.astype(np.float32), LON_ATTRS),
        "mask": mask.assign_attrs(long_name="ocean mask (land, coast and lake = 0)", flag_values=[0, 1]),
        "cell_area": (("y", "x"), grid["cell_area"].values * 1e6, {"units": "m2", "source": PSN25_GRID}),
        "pole_hole": (("time", "y", "x"), pole, {"long_name": "satellite pole hole (no data; ice in the index)"}),
    })
    ny, nx = ocean.shape
    ds.attrs = {
        "grid": f"NSIDC polar stereographic north 25 km (EPSG:3411) {ny}x{nx}",
        "proj4": NSIDC_NORTH,
        "title": str(src.attrs.get("title", product)),
        "source": f"{product} ({path.name})",
        "valid_ice_mask_applied": int(apply_valid),
    }
    logger.debug("%s: %d pole-hole cells, valid-ice mask %s", path.name, int(pole.sum()), apply_valid)
    return validate_dataset(ds, source)


def open_nsidc(path: str | PathLike, *, ancillary_dir: str | PathLike | None = None,
               valid_ice_mask: bool | None = None, chunks: Chunks = "auto") -> xr.Dataset:
    """Read NSIDC sea-ice concentration on the 25 km polar stereographic grid as canonical sic.

    Handles CDR G02202 v4 (``cdr_seaice_conc``, flags > 1 after the 0.01 scale factor) and
    NASA Team raw bytes ``nt_*.nc`` (``conc_raw``, sic = value / 250; 251 pole hole, 253 coast,
    254 land, 255 missing). Cell areas come from ``psn25_grid_v3.nc`` and the valid-ice mask from
    ``nsidc0622_valid_ice_flag_N25km_monthly.nc``, found beside the file, in a sibling
    ``nsidc_nasateam/`` folder or in ``ancillary_dir``. ``valid_ice_mask`` (default: on for NASA
    Team, off for the CDR which has applied its own) sets sic to 0 outside valid-ice flag 1, as the
    Sea Ice Index does; lakes, coast and land (valid-ice flags 2-4, byte flags 252-254) are
    always masked. The pole hole is NaN in sic and True in the ``pole_hole`` coordinate, so
    extent can count it as ice: ``cell_area.where((sic >= 0.15) | pole_hole).sum()``.
    """
    src = open_raw(path, chunks)
    if not is_nsidc(src):
        raise SeaIceInputError(path, "missing variable: neither conc_raw (NASA Team) nor cdr_seaice_conc (CDR v4) "
                               f"found (variables: {', '.join(map(str, src.data_vars))})",
                               "Pass an NSIDC NASA Team nt_*.nc or CDR G02202 v4 file")
    return nsidc_to_canonical(src, path, ancillary_dir=ancillary_dir, valid_ice_mask=valid_ice_mask)
