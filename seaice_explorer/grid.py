"""Grids: the default EASE2-North equal-area grid and the curvilinear neXtSIM CREG025 grid.

Both are returned as ``xr.Dataset`` with 2-D coordinates ``lat``, ``lon``, ``mask``
(ocean = 1) and ``cell_area`` (m²) on dims ``(y, x)``.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from os import PathLike
from pathlib import Path

import numpy as np
import xarray as xr

from .errors import SeaIceInputError

#: EASE2-North Lambert azimuthal equal-area (the OSI SAF grid's projection).
EASE2_NORTH = "+proj=laea +lat_0=90 +lon_0=0 +datum=WGS84 +units=m +no_defs"
DEFAULT_SIZE = 128
DEFAULT_HALF_WIDTH_M = 3_200_000.0
#: Ocean components smaller than this are treated as lakes and masked out.
MIN_SEA_AREA_M2 = 75_000e6
#: Precomputed default grids (``ease2_north_<size>.npz``: bit-packed ocean mask, float32 lat/lon):
#: building a mask with global-land-mask loads a ~1 GB global array (3.3 s) and lat/lon need pyproj
#: (0.8 s at 128²), so both are computed once, not at every start.
MASK_DIR = Path(__file__).resolve().parents[1] / "data" / "grids"

log = logging.getLogger(__name__)


def cartopy_crs(ds: xr.Dataset | None = None):
    """The cartopy CRS to draw ``ds`` in: its own projection, else EASE2-North for lon/lat grids."""
    import cartopy.crs as ccrs

    proj4 = (ds.attrs.get("proj4") if ds is not None else None) or EASE2_NORTH
    if "+proj=laea" in proj4:
        return ccrs.LambertAzimuthalEqualArea(central_latitude=90, central_longitude=0)
    if "+proj=stere" in proj4:
        return ccrs.NorthPolarStereo(central_longitude=-45, true_scale_latitude=70)
    raise ValueError(f"no cartopy CRS known for {proj4!r}")


def _lonlat(proj4: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from pyproj import Transformer

    inv = Transformer.from_crs(proj4, "EPSG:4326", always_xy=True)
    lon, lat = inv.transform(x, y)
    return np.asarray(lon), np.asarray(lat)


def _drop_lakes(ocean: np.ndarray, cell_area: np.ndarray, min_area: float) -> np.ndarray:
    """Keep ocean components that touch the domain edge or exceed ``min_area``."""
    from scipy import ndimage

    labels, n = ndimage.label(ocean)
    keep = np.zeros(n + 1, dtype=bool)
    areas = ndimage.sum(cell_area, labels, index=np.arange(n + 1))
    keep[areas >= min_area] = True
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    keep[edge] = True
    keep[0] = False
    return keep[labels]


def land_fraction(lat_lon_fn, x: np.ndarray, y: np.ndarray, dx: float, sub: int = 5) -> np.ndarray:
    """Fraction of ``sub``×``sub`` sub-samples per cell that are land (global-land-mask)."""
    from global_land_mask import globe

    offsets = (np.arange(sub) + 0.5) / sub * dx - dx / 2
    frac = np.zeros((y.size, x.size))
    for oy in offsets:
        for ox in offsets:
            xx, yy = np.meshgrid(x + ox, y + oy)
            lon, lat = lat_lon_fn(xx, yy)
            frac += globe.is_land(lat, np.where(lon >= 180, lon - 360, lon))
    return frac / sub**2


@lru_cache(maxsize=8)
def _default_grid_cached(size: int, half_width_m: float) -> xr.Dataset:
    dx = 2 * half_width_m / size
    x = -half_width_m + (np.arange(size) + 0.5) * dx  # west -> east
    y = half_width_m - (np.arange(size) + 0.5) * dx  # north-up: row 0 is the top
    cell_area = np.full((size, size), dx * dx)  # equal-area projection: exact
    stored = _stored_grid(size) if half_width_m == DEFAULT_HALF_WIDTH_M else None
    if stored is not None:
        ocean, lat, lon = stored
    else:
        ocean = compute_ocean_mask(size, half_width_m)
        lon, lat = _lonlat(EASE2_NORTH, *np.meshgrid(x, y))
    ds = xr.Dataset(
        coords={
            "y": ("y", y, {"units": "m", "standard_name": "projection_y_coordinate"}),
            "x": ("x", x, {"units": "m", "standard_name": "projection_x_coordinate"}),
            "lat": (("y", "x"), lat.astype(np.float32), {"units": "degrees_north", "standard_name": "latitude"}),
            "lon": (("y", "x"), lon.astype(np.float32), {"units": "degrees_east", "standard_name": "longitude"}),
            "mask": (("y", "x"), ocean.astype(np.int8), {"long_name": "ocean mask", "flag_meanings": "land ocean", "flag_values": [0, 1]}),
            "cell_area": (("y", "x"), cell_area, {"units": "m2", "long_name": "cell area"}),
        },
        attrs={
            "grid": f"EASE2-North LAEA {size}x{size}, {dx / 1000:g} km",
            "proj4": EASE2_NORTH,
            "resolution_m": dx,
        },
    )
    return ds


def compute_ocean_mask(size: int, half_width_m: float = DEFAULT_HALF_WIDTH_M) -> np.ndarray:
    """(size, size) bool ocean mask from real geography (global-land-mask, 5×5 sub-samples), lakes removed."""
    dx = 2 * half_width_m / size
    x = -half_width_m + (np.arange(size) + 0.5) * dx
    y = half_width_m - (np.arange(size) + 0.5) * dx
    land = land_fraction(lambda a, b: _lonlat(EASE2_NORTH, a, b), x, y, dx) > 0.5
    return _drop_lakes(~land, np.full((size, size), dx * dx), MIN_SEA_AREA_M2)


def grid_cache_path(size: int) -> Path:
    return MASK_DIR / f"ease2_north_{size}.npz"


def _stored_grid(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(ocean mask, lat, lon) of the default grid at ``size`` from ``data/grids``, or None."""
    path = grid_cache_path(size)
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        mask = np.unpackbits(z["ocean_bits"])[: size * size].reshape(size, size).astype(bool)
        lat, lon = z["lat"], z["lon"]
    log.debug("the %d² default grid from %s", size, path)
    return mask, lat, lon


def write_grid_cache(size: int) -> Path:
    """Compute the default grid's ocean mask and lat/lon at ``size`` once and store them (``data/grids``)."""
    dx = 2 * DEFAULT_HALF_WIDTH_M / size
    x = -DEFAULT_HALF_WIDTH_M + (np.arange(size) + 0.5) * dx
    y = DEFAULT_HALF_WIDTH_M - (np.arange(size) + 0.5) * dx
    lon, lat = _lonlat(EASE2_NORTH, *np.meshgrid(x, y))
    path = grid_cache_path(size)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, ocean_bits=np.packbits(compute_ocean_mask(size).ravel()),
                        lat=lat.astype(np.float32), lon=lon.astype(np.float32))
    return path


def default_grid(size: int = DEFAULT_SIZE, half_width_m: float = DEFAULT_HALF_WIDTH_M) -> xr.Dataset:
    """Pole-centred EASE2-North grid of ``size``² cells spanning ±``half_width_m``.

    128 gives 50 km cells (the default), 256 gives 25 km, 512 gives 12.5 km. The land mask
    is real geography (global-land-mask, a cell is land when most of its 5×5 sub-samples are);
    lakes are removed. Sizes 128, 256 and 512 read mask and lat/lon from ``data/grids`` (:func:`write_grid_cache`).
    """
    if not (8 <= int(size) <= 2048):
        raise SeaIceInputError(None, f"grid size {size} is out of range", "Use a size between 8 and 2048, e.g. 128")
    return _default_grid_cached(int(size), float(half_width_m)).copy()


def _corners(a: np.ndarray) -> np.ndarray:
    """(H+1, W+1) cell corners from (H, W) cell centres, linearly extrapolated at the edges."""
    p = np.pad(a, 1, mode="reflect", reflect_type="odd")  # linear extrapolation
    return 0.25 * (p[:-1, :-1] + p[1:, :-1] + p[:-1, 1:] + p[1:, 1:])


def quad_areas(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """True areas (m²) of curvilinear cells given their centres.

    Corners are midpoints of neighbouring centres in the pole-centred equal-area projection,
    where the shoelace area of each quadrilateral is its area on the WGS84 ellipsoid (to
    the straight-edge approximation, < 0.01 % at 12 km).
    """
    from pyproj import Transformer

    fwd = Transformer.from_crs("EPSG:4326", EASE2_NORTH, always_xy=True)
    x, y = fwd.transform(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    cx, cy = _corners(np.asarray(x)), _corners(np.asarray(y))
    # corners in order (i,j) -> (i,j+1) -> (i+1,j+1) -> (i+1,j)
    xs = [cx[:-1, :-1], cx[:-1, 1:], cx[1:, 1:], cx[1:, :-1]]
    ys = [cy[:-1, :-1], cy[:-1, 1:], cy[1:, 1:], cy[1:, :-1]]
    twice = sum(xs[k] * ys[(k + 1) % 4] - xs[(k + 1) % 4] * ys[k] for k in range(4))
    return np.abs(twice) / 2


def curvilinear_grid(lat: np.ndarray, lon: np.ndarray, mask: np.ndarray, name: str) -> xr.Dataset:
    """A curvilinear (lat/lon per cell) grid with true cell areas, e.g. NEMO CREG025."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    h, w = lat.shape
    return xr.Dataset(
        coords={
            "y": ("y", np.arange(h)),
            "x": ("x", np.arange(w)),
            "lat": (("y", "x"), lat.astype(np.float32), {"units": "degrees_north", "standard_name": "latitude"}),
            "lon": (("y", "x"), lon.astype(np.float32), {"units": "degrees_east", "standard_name": "longitude"}),
            "mask": (("y", "x"), (np.asarray(mask) > 0.5).astype(np.int8), {"long_name": "ocean mask", "flag_values": [0, 1], "flag_meanings": "land ocean"}),
            "cell_area": (("y", "x"), quad_areas(lat, lon), {"units": "m2", "long_name": "cell area (geodesic)"}),
        },
        attrs={"grid": name},
    )


def nextsim_grid(path: str | PathLike) -> xr.Dataset:
    """The neXtSIM CREG025 grid from a file with ``latitude``, ``longitude`` and ``mask``.

    E.g. ``ds_auxiliary.nc`` of Finn et al. (2024): 512×512, 127,152 ocean cells.
    """
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise SeaIceInputError(path, "file not found", "Check the path; it must point to a neXtSIM grid/auxiliary NetCDF")
    try:
        src_ds = xr.open_dataset(path)
    except (OSError, ValueError) as err:
        raise SeaIceInputError(path, f"not a readable NetCDF grid file ({type(err).__name__})",
                               "Pass the neXtSIM grid file with latitude, longitude and mask, e.g. ds_auxiliary.nc") from None
    with src_ds as src:
        names = {"lat": ("latitude", "lat", "nav_lat"), "lon": ("longitude", "lon", "nav_lon"), "mask": ("mask", "tmaskutil", "tmask")}
        found = {}
        for key, options in names.items():
            hit = next((o for o in options if o in src.variables), None)
            if hit is None:
                raise SeaIceInputError(path, f"no {key} variable (looked for {', '.join(options)})",
                                       "Pass a neXtSIM grid file with latitude, longitude and mask")
            found[key] = src[hit].values
        if found["mask"].ndim == 3:
            found["mask"] = found["mask"][0]
    return curvilinear_grid(found["lat"], found["lon"], found["mask"], f"neXtSIM curvilinear ({path.name})")
