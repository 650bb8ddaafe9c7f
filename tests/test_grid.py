"""Grids: the default EASE2-North grid and the real neXtSIM CREG025 grid with true cell areas."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod, Transformer

from seaice_explorer.errors import SeaIceInputError
from seaice_explorer.grid import EASE2_NORTH, default_grid, nextsim_grid, quad_areas

WGS84 = Geod(ellps="WGS84")
#: Polar stereographic tangent at the pole: the "projected" grid that dx*dy is usually taken on.
POLAR_STEREO = "+proj=stere +lat_0=90 +lat_ts=90 +lon_0=0 +datum=WGS84 +units=m"


@pytest.fixture(scope="module")
def nextsim(shared_data):
    return nextsim_grid(shared_data / "nextsim" / "ds_auxiliary.nc")


@pytest.fixture(scope="module")
def grid128():
    return default_grid()


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def _geodesic_area(lons, lats) -> float:
    area, _ = WGS84.polygon_area_perimeter(lons, lats)
    return abs(area)


# ------------------------------------------------------------------ neXtSIM CREG025
def test_nextsim_grid_ocean_cells(nextsim):
    assert nextsim.mask.shape == (512, 512)
    assert int(nextsim.mask.sum()) == 127_152
    assert nextsim.mask.dtype == np.int8


def test_nextsim_cell_areas_match_geodesic_polygons(nextsim):
    """quad_areas vs pyproj.Geod polygon areas, corners from 3-D averages of the 4 centres."""
    lat = nextsim.lat.values.astype(np.float64)
    lon = nextsim.lon.values.astype(np.float64)
    p = _unit_vectors(lat, lon)
    c = p[:-1, :-1] + p[1:, :-1] + p[:-1, 1:] + p[1:, 1:]  # corner (i+1/2, j+1/2), (511, 511, 3)
    c /= np.linalg.norm(c, axis=-1, keepdims=True)
    clat, clon = np.degrees(np.arcsin(c[..., 2])), np.degrees(np.arctan2(c[..., 1], c[..., 0]))
    ii, jj = np.nonzero(nextsim.mask.values[1:-1, 1:-1] == 1)
    pick = np.random.default_rng(0).choice(ii.size, 400, replace=False)
    rel = []
    for i, j in zip(ii[pick] + 1, jj[pick] + 1):
        corners = [(i - 1, j - 1), (i - 1, j), (i, j), (i, j - 1)]
        area = _geodesic_area([clon[k] for k in corners], [clat[k] for k in corners])
        rel.append(nextsim.cell_area.values[i, j] / area - 1)
    assert np.max(np.abs(rel)) < 0.005


def test_projected_dxdy_overestimates_true_areas(nextsim):
    """dx*dy on the pole-tangent polar stereographic map exceeds the true areas by its scale k²."""
    ocean = nextsim.mask.values == 1
    lat = nextsim.lat.values.astype(np.float64)
    fwd = Transformer.from_crs("EPSG:4326", POLAR_STEREO, always_xy=True)
    x, y = fwd.transform(nextsim.lon.values.astype(np.float64), lat)
    dx = np.hypot(np.gradient(x, axis=1), np.gradient(y, axis=1))
    dy = np.hypot(np.gradient(x, axis=0), np.gradient(y, axis=0))
    true = nextsim.cell_area.values
    k2 = (2.0 / (1.0 + np.sin(np.radians(lat)))) ** 2  # areal scale of the stereographic map
    over = (dx * dy)[ocean].sum() / true[ocean].sum() - 1
    expected = (k2 * true)[ocean].sum() / true[ocean].sum() - 1
    assert over == pytest.approx(expected, abs=0.002)
    assert over > 0.10  # the ~12 % overestimate of projected areas
    assert np.median(np.abs((dx * dy / true / k2)[ocean] - 1)) < 1e-3


def test_quad_areas_on_a_regular_lonlat_patch():
    """Analytic oracle: a 1°x1° lat/lon cell at 60°N has area R² Δλ (sin φ2 − sin φ1) on a sphere."""
    lat1d = np.arange(55.5, 65.5, 1.0)
    lon1d = np.arange(0.5, 10.5, 1.0)
    lon, lat = np.meshgrid(lon1d, lat1d)
    areas = quad_areas(lat, lon)
    i = 4  # centre 59.5°N
    auth = 6371007.2  # authalic radius of WGS84
    sphere = auth**2 * np.radians(1.0) * (np.sin(np.radians(60.0)) - np.sin(np.radians(59.0)))
    ellipsoid = _geodesic_area([4, 5, 5, 4], [59, 59, 60, 60])
    assert areas[i, 4] == pytest.approx(ellipsoid, rel=2e-3)
    assert areas[i, 4] == pytest.approx(sphere, rel=1e-2)


def test_nextsim_grid_missing_file_names_it(tmp_path):
    with pytest.raises(SeaIceInputError, match="nope.nc"):
        nextsim_grid(tmp_path / "nope.nc")


# ------------------------------------------------------------------ default EASE2 grid
def test_default_grid_geometry(grid128):
    g = grid128
    assert g.mask.shape == (128, 128)
    dx = np.diff(g.x.values)
    assert np.allclose(dx, 50_000.0) and np.allclose(np.diff(g.y.values), -50_000.0)  # y descending
    assert g.x.values[0] - 25_000 == pytest.approx(-3_200_000) and g.x.values[-1] + 25_000 == pytest.approx(3_200_000)
    assert g.y.values[0] + 25_000 == pytest.approx(3_200_000) and g.y.values[-1] - 25_000 == pytest.approx(-3_200_000)
    assert np.all(g.cell_area.values == 50_000.0**2)
    # the four centre cells surround the pole
    centre = g.lat.values[63:65, 63:65]
    assert np.all(centre > 89.6) and float(g.lat.max()) == pytest.approx(centre.max())


def test_default_grid_cells_are_truly_equal_area(grid128):
    """Geodesic polygon area of a few cells (corners inverse-projected) = (50 km)² everywhere."""
    inv = Transformer.from_crs(EASE2_NORTH, "EPSG:4326", always_xy=True)
    rng = np.random.default_rng(1)
    for i, j in rng.integers(0, 128, size=(30, 2)):
        x0, y0 = grid128.x.values[j], grid128.y.values[i]
        cx = x0 + np.array([-1, 1, 1, -1]) * 25_000.0
        cy = y0 + np.array([1, 1, -1, -1]) * 25_000.0
        lon, lat = inv.transform(cx, cy)
        assert _geodesic_area(lon, lat) == pytest.approx(50_000.0**2, rel=1e-3)


@pytest.mark.parametrize("place,lat,lon,ocean", [
    ("Greenland ice sheet", 72.0, -40.0, 0),
    ("North Pole", 90.0, 0.0, 1),
    ("Hudson Bay", 62.0, -86.0, 1),
    ("Baffin Bay", 73.0, -65.0, 1),
    ("Fram Strait", 79.0, 0.0, 1),
    ("Beaufort Sea", 74.0, -140.0, 1),
    ("Barents Sea", 75.0, 40.0, 1),
    ("Central Siberia", 65.0, 100.0, 0),
    ("Ellesmere Island", 80.0, -80.0, 0),
])
def test_default_grid_land_mask(grid128, place, lat, lon, ocean):
    x, y = Transformer.from_crs("EPSG:4326", EASE2_NORTH, always_xy=True).transform(lon, lat)
    assert abs(x) < 3_200_000 and abs(y) < 3_200_000, f"{place} is outside the domain"
    i, j = int(np.abs(grid128.y.values - y).argmin()), int(np.abs(grid128.x.values - x).argmin())
    assert int(grid128.mask.values[i, j]) == ocean, place


def test_default_grid_land_fraction_plausible(grid128):
    ocean = grid128.mask.values == 1
    assert 0.35 < ocean.mean() < 0.65  # the square around the pole is about half ocean


@pytest.mark.parametrize("size", [32, 64])
def test_default_grid_other_sizes(size):
    g = default_grid(size)
    res = 6_400_000.0 / size
    assert g.mask.shape == (size, size)
    assert np.allclose(np.diff(g.x.values), res)
    assert np.all(g.cell_area.values == res**2)
    assert g.attrs["resolution_m"] == res
    assert 0.3 < (g.mask.values == 1).mean() < 0.7


def test_default_grid_rejects_absurd_size():
    with pytest.raises(SeaIceInputError, match="size"):
        default_grid(3)


def test_stored_grids_equal_the_computed_ones() -> None:
    """The shipped masks and lat/lon (no global-land-mask or pyproj at start) are exactly what they compute."""
    from seaice_explorer import grid as grid_mod

    for size in (128, 256):
        assert grid_mod.grid_cache_path(size).is_file()
        g = grid_mod.default_grid(size)
        np.testing.assert_array_equal(g["mask"].values.astype(bool), grid_mod.compute_ocean_mask(size))
        lon, lat = grid_mod._lonlat(EASE2_NORTH, *np.meshgrid(g["x"].values, g["y"].values))
        np.testing.assert_array_equal(g["lat"].values, lat.astype(np.float32))
        np.testing.assert_array_equal(g["lon"].values, lon.astype(np.float32))


def test_default_grid_does_not_load_global_land_mask() -> None:
    import subprocess
    import sys

    code = ("import sys; from seaice_explorer.grid import default_grid; g = default_grid(128); "
            "print('global_land_mask' in sys.modules, 'pyproj' in sys.modules, int(g['mask'].sum()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[:2] == ["False", "False"] and int(out[2]) > 5000
