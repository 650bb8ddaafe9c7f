"""Real observations for training and evaluation: OSI SAF OSI-450-a on the model grid.

The EUMETSAT OSI SAF sea-ice concentration climate data record (OSI-450-a, CDR v3.0, Northern
Hemisphere, EASE2-North 25 km) is averaged onto the default grid (``grid.default_grid(128)``,
EASE2-North 50 km): each 50 km cell is exactly 2×2 OSI SAF cells, which :func:`nesting` checks
from the coordinates. ``size=256`` keeps the native 25 km cells of the same window.

Rules (also in ``data/README.md``):

- sic of a model cell = area-weighted mean of ice_conc over its *ocean* sub-cells (ocean =
  neither the land nor the lake ``status_flag`` bit on any day; see ``observations.osisaf_ocean``).
- Mixed cells: a model cell is ocean when its ocean sub-cells cover at least
  :data:`MIN_OCEAN_FRACTION` (half) of its area, i.e. at least 2 of its 4 sub-cells; else land.

The bundled file ``data/osisaf_sic_2016_2019_128.nc`` (made by ``scripts/make_osisaf_dataset.py``)
holds every day of 2016–2019. Names for :func:`seaice_explorer.data.open_reference`:
``"osisaf"`` (all four years), ``"osisaf:train"`` (2016–2018), ``"osisaf:validation"`` (2019),
``"osisaf:2017"`` (one year) or ``"osisaf:2016-2017"`` (years). Copyright EUMETSAT.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from types import MappingProxyType

import numpy as np
import xarray as xr

from ..errors import SeaIceInputError
from ..grid import DEFAULT_HALF_WIDTH_M, DEFAULT_SIZE, EASE2_NORTH, default_grid
from ..variables import VARIABLES
from .nextsim import canonical_to_canonical
from .observations import open_osisaf, osisaf_paths
from .validate import GRID_COORDS, Chunks, open_raw, parse_period

logger = logging.getLogger(__name__)

OSISAF_NAME = "osisaf"
OSISAF_DATASET_FILE = "osisaf_sic_2016_2019_128.nc"
REFERENCE_KIND = "OSI SAF OSI-450-a satellite observations (real)"
CREDIT = "Copyright EUMETSAT"
#: A model cell is ocean when its ocean sub-cells cover at least this fraction of its area.
MIN_OCEAN_FRACTION = 0.5
#: Named periods (inclusive dates) of the bundled dataset; also stored as ``split_<name>`` attributes.
SPLITS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "train": ("2016-01-01", "2018-12-31"),
    "validation": ("2019-01-01", "2019-12-31"),
})
SPLIT_ALIASES: Mapping[str, str] = MappingProxyType({"val": "validation", "valid": "validation", "test": "validation"})
SIC_SCALE = 1e-4  # int16 packing step of the bundled file
FILL = np.int16(-32767)
#: Days per dask chunk when the bundled file is opened lazily (a multiple of its 8-day disk chunks).
DATASET_TIME_CHUNK = 184
_COORD_TOL_M = 1.0


# ----------------------------------------------------------------------------- regridding
def nesting(source: np.ndarray, target: np.ndarray, axis: str = "x") -> tuple[int, int]:
    """``(start, factor)`` such that target cell ``i`` is source cells ``start + factor*i ... + factor-1``.

    Both are cell-centre coordinates (m) of regular grids along one axis. Raises
    :class:`SeaIceInputError` when the target cells are not whole blocks of source cells (spacing
    not an integer multiple, a shifted origin, opposite direction or a window outside the source).
    """
    src, dst = np.asarray(source, np.float64), np.asarray(target, np.float64)
    fix = "Regrid only onto an EASE2-North grid whose cells are whole blocks of the OSI SAF 25 km cells"
    if src.size < 2 or dst.size < 2:
        raise SeaIceInputError(None, f"{axis}: need at least 2 cells on each grid to check the nesting", fix)
    d_src, d_dst = src[1] - src[0], dst[1] - dst[0]
    for name, coord, step in (("source", src, d_src), ("target", dst, d_dst)):
        if not np.allclose(np.diff(coord), step, rtol=0, atol=_COORD_TOL_M):
            raise SeaIceInputError(None, f"{axis}: the {name} coordinates are not regularly spaced", fix)
    ratio = d_dst / d_src
    factor = int(round(ratio))
    if factor < 1 or abs(ratio - factor) * abs(d_src) > _COORD_TOL_M:
        raise SeaIceInputError(None, f"{axis}: the target spacing {d_dst:g} m is not a whole multiple of the "
                               f"source spacing {d_src:g} m (same direction)", fix)
    first = dst[0] - (factor - 1) / 2 * d_src  # centre of the first sub-cell
    start = int(round((first - src[0]) / d_src))
    stop = start + factor * dst.size
    if start < 0 or stop > src.size:
        raise SeaIceInputError(None, f"{axis}: the target grid ({dst.min():g}..{dst.max():g} m) reaches outside "
                               f"the source grid ({src.min():g}..{src.max():g} m)", fix)
    centres = src[start:stop].reshape(dst.size, factor).mean(axis=1)
    worst = float(np.abs(centres - dst).max())
    if worst > _COORD_TOL_M:
        raise SeaIceInputError(None, f"{axis}: the target cells do not nest in the source cells (centres "
                               f"off by up to {worst:g} m)", fix)
    return start, factor


def _block_sum(da: xr.DataArray, ky: int, kx: int) -> xr.DataArray:
    return da.coarsen(y=ky, x=kx).sum()


def to_model_grid(ds: xr.Dataset, size: int = DEFAULT_SIZE, *,
                  half_width_m: float = DEFAULT_HALF_WIDTH_M) -> xr.Dataset:
    """Average canonical OSI SAF sic (``open_osisaf``) onto ``grid.default_grid(size, half_width_m)``.

    ``size=128`` gives the 50 km model grid (2×2 OSI-450-a cells per cell), ``size=256`` the native
    25 km cells of the same ±3200 km window. The nesting is checked on the x/y coordinates
    (:func:`nesting`). Per cell: sic = Σ sic·area / Σ area over its ocean sub-cells with data; the
    cell is ocean (``mask`` 1) when ocean sub-cells cover ≥ :data:`MIN_OCEAN_FRACTION` of its area,
    else land (NaN). ``cell_area`` is the sum of the sub-cell areas (the whole cell) and
    ``ocean_fraction`` the share of it that is ocean; lat/lon come from the grid. Lazy when ``ds`` is.
    """
    for name in ("sic", "mask", "cell_area"):
        if name not in ds.variables:
            raise SeaIceInputError(None, f"missing variable {name!r}", "Pass a Dataset from open_osisaf")
    grid = default_grid(size, half_width_m)
    y0, ky = nesting(ds["y"].values, grid["y"].values, "y")
    x0, kx = nesting(ds["x"].values, grid["x"].values, "x")
    ny, nx = grid.sizes["y"], grid.sizes["x"]
    window = ds.isel(y=slice(y0, y0 + ky * ny), x=slice(x0, x0 + kx * nx))
    area = xr.DataArray(window["cell_area"].variable)  # bare (y, x): no coordinates to coarsen
    ocean = xr.DataArray(window["mask"].variable) == 1
    sic = window["sic"].drop_vars([c for c in window.coords if c not in ("time", "sample")])
    weight = area.where(ocean, 0.0).astype(np.float64)
    cell_area = _block_sum(area.astype(np.float64), ky, kx)
    ocean_fraction = _block_sum(weight, ky, kx) / cell_area
    is_ocean = ocean_fraction >= MIN_OCEAN_FRACTION
    numerator = _block_sum((sic.astype(np.float64) * weight).fillna(0.0), ky, kx)
    denominator = _block_sum(weight * sic.notnull(), ky, kx)
    mean = (numerator / denominator.where(denominator > 0)).where(is_ocean).astype(np.float32)
    mean = mean.assign_attrs(VARIABLES["sic"].cf_attrs(), source_name="ice_conc",
                             cell_methods="area: mean where sea")
    mask = is_ocean.values.astype(np.int8)
    out = xr.Dataset({"sic": mean.drop_vars([c for c in mean.coords if c not in ("time", "sample")])})
    out = out.assign_coords(
        y=grid["y"], x=grid["x"], lat=grid["lat"], lon=grid["lon"],
        mask=(("y", "x"), mask, {"long_name": "ocean mask from the OSI SAF land and lake flags",
                                 "flag_values": [0, 1], "flag_meanings": "land ocean",
                                 "comment": f"ocean when ocean sub-cells cover >= {MIN_OCEAN_FRACTION:g} of the cell"}),
        cell_area=(("y", "x"), cell_area.values, {"units": "m2", "long_name": "cell area (sum of the sub-cells)"}),
        ocean_fraction=(("y", "x"), ocean_fraction.values.astype(np.float32),
                        {"units": "1", "long_name": "fraction of the cell area that is OSI SAF ocean (not land/lake)",
                         "comment": "sum(sic * cell_area * ocean_fraction) is the sea-ice area of the 25 km data"}),
    )
    dx = abs(float(grid["x"][1] - grid["x"][0]))
    out.attrs = {"grid": f"EASE2-North LAEA {ny}x{nx}, {dx / 1000:g} km", "proj4": EASE2_NORTH,
                 "resolution_m": dx, "regridding": f"{ky}x{kx} blocks of OSI SAF cells, area-weighted mean over "
                 f"ocean sub-cells; ocean when >= {MIN_OCEAN_FRACTION:g} of the area is ocean"}
    logger.info("OSI SAF -> %dx%d grid: %dx%d blocks, %d ocean cells", ny, nx, ky, kx, int(mask.sum()))
    return out


# ----------------------------------------------------------------------------- the bundled dataset
def sha256(path: str | PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_osisaf_dataset(sources: str | PathLike | Sequence[str | PathLike],
                         size: int = DEFAULT_SIZE) -> xr.Dataset:
    """OSI-450-a daily files (packed by year; a glob or list) -> the dataset on the model grid, with provenance."""
    files = osisaf_paths(sources)
    native = open_osisaf(files)
    with xr.open_dataset(files[0]) as first:
        raw_attrs = dict(first.attrs)
        mapping = dict(first["Lambert_Azimuthal_Grid"].attrs) if "Lambert_Azimuthal_Grid" in first else {}
    ds = to_model_grid(native, size)
    ds["sic"].attrs["grid_mapping"] = "crs"
    ds["crs"] = xr.DataArray(np.int32(0), attrs={**mapping, "proj4_string": EASE2_NORTH})
    times = ds.indexes["time"]
    step = ds.attrs["regridding"]
    ds.attrs.update({
        "title": f"OSI SAF OSI-450-a sea-ice concentration, daily {times[0]:%Y-%m-%d}..{times[-1]:%Y-%m-%d}, "
                 f"on the {ds.attrs['grid']} model grid",
        "reference_kind": REFERENCE_KIND,
        "summary": "REAL satellite observations (passive microwave sea-ice concentration climate data record), "
                   "not model output and not synthetic.",
        "source": str(raw_attrs.get("source", "EUMETSAT OSI SAF Global Sea Ice Concentration CDR v3.0 (OSI-450-a)")),
        "references": str(raw_attrs.get("references", "https://osi-saf.eumetsat.int ; doi:10.15770/EUM_SAF_OSI_0013")),
        "source_files": " ".join(p.name for p in files),
        "source_sha256": " ".join(f"{p.name}:{sha256(p)}" for p in files),
        "source_history": str(raw_attrs.get("history", "")),
        "processing": (f"seaice_explorer.data.osisaf.build_osisaf_dataset: sic = ice_conc/100 with land and lake "
                       f"(status_flag bits 1, 2 on any day) masked; {step}; cell area from the projection; "
                       f"packed as int16, scale_factor {SIC_SCALE:g} (rounded to the nearest 1e-4)"),
        "mixed_cell_rule": f"a model cell is ocean when its ocean (neither land nor lake) 25 km sub-cells cover "
                           f">= {MIN_OCEAN_FRACTION:g} of its area (>= 2 of 4 at 50 km); sic is their "
                           "area-weighted mean",
        "splits": " ".join(SPLITS),
        **{f"split_{name}": f"{start}..{end}" for name, (start, end) in SPLITS.items()},
        "license": f"OSI SAF data: free use with the credit line '{CREDIT}'",
        "copyright": CREDIT,
        "history": "made by scripts/make_osisaf_dataset.py",
        "Conventions": "CF-1.8",
    })
    return ds


def write_osisaf_dataset(ds: xr.Dataset, path: str | PathLike, time_chunk: int = 8) -> Path:
    """Write the dataset packed: sic int16 × :data:`SIC_SCALE`, fill on land, zlib 9 with shuffle."""
    path = Path(path)
    packed = {"dtype": "int16", "scale_factor": SIC_SCALE, "_FillValue": FILL, "zlib": True, "complevel": 9,
              "shuffle": True, "chunksizes": (min(time_chunk, ds.sizes["time"]), ds.sizes["y"], ds.sizes["x"])}
    encoding = {"sic": packed, "time": {"units": "days since 2016-01-01 00:00:00", "calendar": "standard",
                                        "dtype": "float64"}}
    for name in ("lat", "lon", "mask", "cell_area", "ocean_fraction"):
        encoding[name] = {"zlib": True, "complevel": 9, "_FillValue": None}
    for name in ("x", "y"):
        encoding[name] = {"_FillValue": None}
    ds = ds.copy()
    for bound in ("valid_min", "valid_max"):  # CF reads them in packed units: leave them out (see VARIABLES)
        ds["sic"].attrs.pop(bound, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(path, encoding=encoding, engine="netcdf4")
    logger.info("wrote %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path


# ----------------------------------------------------------------------------- names and splits
def parse_osisaf_name(name: object) -> str | None:
    """The split a dataset name asks for (``"osisaf"`` -> ``"all"``, ``"osisaf:2019"`` -> ``"2019"``), else None."""
    if not isinstance(name, str):
        return None
    text = name.strip().lower()
    if text == OSISAF_NAME:
        return "all"
    if text.startswith(OSISAF_NAME + ":"):
        return text.split(":", 1)[1].strip() or "all"
    return None


def split_name(ds: xr.Dataset, split: str) -> str:
    """The split's name: as given when the dataset declares it (``split_test``), else through the aliases."""
    name = split.strip().lower()
    return name if f"split_{name}" in ds.attrs else SPLIT_ALIASES.get(name, name)


def split_period(ds: xr.Dataset, split: str, source: str | None = None) -> tuple[str, str] | None:
    """Inclusive (start, end) dates of ``split``: a declared split, a year ``2019`` or years ``2016-2018``.

    Raises :class:`SeaIceInputError` naming ``source`` (the spec or file) for an unknown split, a
    year range that runs backwards or a declared ``split_*`` attribute that is not ``START..END`` dates.
    """
    name = split_name(ds, split)
    if name == "all":
        return None
    declared = ds.attrs.get(f"split_{name}")
    if declared is not None:
        start, sep, end = str(declared).partition("..")
        where = f"{source or ds.attrs.get('source') or 'dataset'} attribute split_{name}"
        if not sep:
            raise SeaIceInputError(where, f"{declared!r} is not START..END",
                                   "Write it as YYYY-MM-DD..YYYY-MM-DD, e.g. 2019-01-01..2019-12-31")
        parse_period(start, end, where)
        return start.strip(), end.strip()
    if name in SPLITS:
        return SPLITS[name]
    years = re.fullmatch(r"(\d{4})(?:-(\d{4}))?", name)
    if years is None:
        known = ", ".join(["all", *SPLITS, *SPLIT_ALIASES, "YYYY", "YYYY-YYYY"])
        raise SeaIceInputError(source, f"unknown split {split!r}", f"Use one of: {known}")
    first, last = years.group(1), years.group(2) or years.group(1)
    where = source or f"split {split!r}"
    if not all(1678 <= int(y) <= 2261 for y in (first, last)):  # the span of a datetime64[ns] time axis
        raise SeaIceInputError(where, f"year {first if not 1678 <= int(first) <= 2261 else last} is out of range",
                               "Give years from 1678 to 2261, e.g. 2019 or 2016-2018")
    if first > last:
        raise SeaIceInputError(where, f"the years {first}-{last} run backwards", f"Write {last}-{first}")
    return f"{first}-01-01", f"{last}-12-31"


def select_split(ds: xr.Dataset, split: str, source: str | None = None) -> xr.Dataset:
    """The days of one split: ``"train"`` (2016-01-01..2018-12-31), ``"validation"`` (2019), a year, years or ``"all"``.

    Train/validation periods are read from the dataset's ``split_train``/``split_validation``
    attributes (else :data:`SPLITS`). The result's ``split`` and ``split_period`` attributes say
    which days it holds. Raises :class:`SeaIceInputError` for an unknown or empty split.
    """
    name = split_name(ds, split)
    period = split_period(ds, name, source)
    if period is not None and "time" not in ds.indexes:
        raise SeaIceInputError(source, f"split {split!r} asks for dates but the data have no time axis "
                               f"(dims {tuple(ds.dims)})", "Give split only for data with a time coordinate")
    out = ds if period is None else ds.sel(time=slice(*period))
    if out.sizes.get("time", 0) == 0:
        times = ds.indexes["time"]
        raise SeaIceInputError(source, f"split {split!r} ({period[0]}..{period[1]}) holds no day of the data "
                               f"({times.min():%Y-%m-%d}..{times.max():%Y-%m-%d})", "Pick a split inside the data")
    out = out.copy()
    out.attrs["split"] = name
    times = out.indexes["time"]
    out.attrs["split_period"] = f"{times.min():%Y-%m-%d}..{times.max():%Y-%m-%d}"
    return out


def training_subset(ds: xr.Dataset) -> xr.Dataset:
    """What a model trains on: the ``train`` split when the dataset declares one (``osisaf``: 2016–2018), else all."""
    if "split_train" not in ds.attrs or ds.attrs.get("split") not in (None, "all"):
        return ds
    return select_split(ds, "train")


def open_osisaf_dataset(path: str | PathLike, split: str = "all", chunks: Chunks = "auto") -> xr.Dataset:
    """Open the bundled OSI SAF model-grid dataset (lazily, dask-backed) and select ``split``."""
    path = Path(path)
    if not path.exists():
        raise SeaIceInputError(path, "the bundled OSI SAF dataset is missing",
                               "Run `python scripts/make_osisaf_dataset.py` (needs ../shared/data/osisaf_daily)")
    src = open_raw(path, {"time": DATASET_TIME_CHUNK} if chunks == "auto" else chunks)
    src = src.assign_coords({name: src[name].load() for name in GRID_COORDS if name in src.variables})
    return select_split(canonical_to_canonical(src, path), split, f"{OSISAF_NAME}:{split}")
