"""Satellite sea-ice concentration: OSI SAF OSI-450/430 and NSIDC (CDR G02202 v4, NASA Team).

These are the observations that the sea-ice indices, and the extent/MIZ checks of the
neXtSIM-like reference, are computed from.
"""

from __future__ import annotations

import logging
import re
from os import PathLike
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import SeaIceInputError
from ..grid import EASE2_NORTH
from .validate import Chunks, canonical_variable, open_raw, validate_dataset

logger = logging.getLogger(__name__)

#: NSIDC polar stereographic north (EPSG:3411, Hughes 1980 ellipsoid).
NSIDC_NORTH = ("+proj=stere +lat_0=90 +lat_ts=70 +lon_0=-45 +k=1 +x_0=0 +y_0=0 +a=6378273 +b=6356889.449 "
               "+units=m +no_defs")
OSISAF_CELL_AREA_M2 = 625e6  # EASE2 25 km: exactly 25 km x 25 km
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
def osisaf_to_canonical(src: xr.Dataset, source: str | PathLike) -> xr.Dataset:
    """OSI SAF ``ice_conc`` (%) on EASE2 -> canonical sic fraction (see :func:`open_osisaf`)."""
    source = str(source)
    _require(src, ("ice_conc", "status_flag", "xc", "yc", "lat", "lon"), source, "OSI SAF OSI-450/430")
    src = src.rename({"yc": "y", "xc": "x"})
    scale = 1000.0 if src["x"].attrs.get("units", "km") == "km" else 1.0
    flag = src["status_flag"].fillna(OSISAF_LAND).astype(np.int32)
    land_or_lake = ((flag & (OSISAF_LAND | OSISAF_LAKE)) != 0) | src["ice_conc"].isnull()
    mask = ~land_or_lake.any("time") if "time" in land_or_lake.dims else ~land_or_lake  # ocean at every time
    mask = mask.astype(np.int8).reset_coords(drop=True)
    sic = canonical_variable(src["ice_conc"] / 100.0, "sic", mask, "ice_conc")
    ds = xr.Dataset({"sic": sic.reset_coords(drop=True)})
    ds = ds.assign_coords(
        y=("y", src["y"].values * scale, {"units": "m", "standard_name": "projection_y_coordinate"}),
        x=("x", src["x"].values * scale, {"units": "m", "standard_name": "projection_x_coordinate"}),
        lat=(("y", "x"), np.asarray(src["lat"].values, np.float32), LAT_ATTRS),
        lon=(("y", "x"), np.asarray(src["lon"].values, np.float32), LON_ATTRS),
        mask=(("y", "x"), mask.values, {"long_name": "ocean mask (land and lake = 0)", "flag_values": [0, 1]}),
        cell_area=(("y", "x"), np.full(mask.shape, OSISAF_CELL_AREA_M2), {"units": "m2"}),
    )
    if "time" in src.coords:
        ds = ds.assign_coords(time=src["time"].values)
    ny, nx = mask.shape
    ds.attrs = {
        "grid": f"EASE2-North LAEA {ny}x{nx}, {abs(float(ds.x[1] - ds.x[0])) / 1000:g} km (OSI SAF)",
        "proj4": EASE2_NORTH,
        "title": str(src.attrs.get("title", "OSI SAF sea-ice concentration")),
        "source": f"OSI SAF {src.attrs.get('product_id', 'sea-ice concentration')} ({Path(source).name})",
    }
    return validate_dataset(ds, source)


def open_osisaf(path: str | PathLike, chunks: Chunks = "auto") -> xr.Dataset:
    """Read an OSI SAF OSI-450/430 daily ``ice_conc`` file (EASE2-North 25 km) as canonical sic.

    sic = ice_conc / 100; x/y in metres; mask = 0 where ``status_flag`` has the land (1) or
    lake (2) bit, or ice_conc is NaN; every cell is 625 km². With these, the extent (sic >= 0.15
    over the mask) and area (sum of sic * cell_area) reproduce the OSI SAF sea-ice index.
    """
    return osisaf_to_canonical(open_raw(path, chunks), path)


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
    return np.array([pd.Timestamp(match.group(1)).to_datetime64()], dtype="datetime64[ns]")


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
