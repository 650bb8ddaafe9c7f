"""Statistics on real files against the official indices and an independent geodesic area.

- OSI SAF OSI-450-a: extent (lake flag excluded) vs the OSI SAF index within one 625 km² cell,
  area vs the OSI SAF area index within 1 km².
- NSIDC NASA Team: extent with the valid-ice mask and the pole hole as ice vs the Sea Ice Index
  v3.0 within 0.001 × 10⁶ km², for the files the index names as its source.
- neXtSIM CREG025 (ds_auxiliary.nc): ocean area and the area where sit > 0 on 2015-01-01, from
  the reader's cell areas, vs an independent sum of WGS84 geodesic polygon areas (pyproj.Geod)
  of cells whose corners are the normalised 3-D mean of the four neighbouring cell centres.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seaice_explorer import stats
from seaice_explorer.data import open_nsidc, open_osisaf, open_reference, read_nsidc_daily, read_osisaf_index, value_on

OSI_CELL_KM2 = 625.0


@pytest.fixture(scope="module")
def osisaf_files(shared_data: Path) -> list[Path]:
    files = sorted((shared_data / "osisaf").glob("ice_conc_nh_ease2-250_*.nc"))
    assert len(files) == 4
    return files


def test_osisaf_extent_and_area_match_index(shared_data, osisaf_files):
    sie = read_osisaf_index(shared_data / "timeseries" / "osisaf_nh_sie_daily_v2p2.txt")
    sia = read_osisaf_index(shared_data / "timeseries" / "osisaf_nh_sia_daily_v2p2.txt")
    for path in osisaf_files:
        ds = open_osisaf(path)
        day = ds.time.values[0]
        ext_km2 = float(stats.extent(ds)[0]) / 1e6
        area_km2 = float(stats.area(ds)[0]) / 1e6
        assert abs(ext_km2 - value_on(sie, day)) <= OSI_CELL_KM2, path.name
        assert abs(area_km2 - value_on(sia, day)) <= 1.0, path.name
        # the MIZ is part of the extent, and its width is positive and finite
        assert 0 < float(stats.miz_area(ds)[0]) / 1e6 < ext_km2
        assert 10.0 < float(stats.miz_width(ds)[0]) / 1e3 < 1000.0


def index_source_name(source: str) -> str:
    """'[\\'/ecs/.../nt_20010106_f13_v1.1_n.bin\\']' -> 'nt_20010106_f13_v1.1_n'."""
    return Path(source.strip("[]' ")).stem


def test_nasateam_extent_matches_sea_ice_index(shared_data):
    sii = read_nsidc_daily(shared_data / "timeseries" / "N_seaice_extent_daily_v3.0.csv")
    checked = 0
    for path in sorted((shared_data / "nsidc_nasateam").glob("nt_*.nc")):
        ds = open_nsidc(path)
        day = pd.Timestamp(ds.time.values[0]).normalize()
        row = sii.loc[day]
        ext = float(stats.extent(ds)[0]) / 1e12  # pole hole counted as ice
        if index_source_name(row["source"]) == path.stem:
            assert abs(ext - row["extent"]) <= 0.001 + 1e-9, path.name
            assert ext > float(stats.extent(ds, pole_hole=False)[0]) / 1e12  # the hole matters
            checked += 1
        else:  # near-real-time files from another satellite: close, not identical
            assert abs(ext - row["extent"]) < 0.05, path.name
    assert checked == 2


def geodesic_cell_areas(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Independent cell areas (m², (H, W)): WGS84 geodesic polygons (pyproj.Geod) whose corners
    are the normalised 3-D mean of the 4 surrounding cell centres (odd reflection at the edge)."""
    from pyproj import Geod

    phi, lam = np.radians(lat.astype(np.float64)), np.radians(lon.astype(np.float64))
    xyz = np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=-1)  # (H, W, 3)
    pad = np.pad(xyz, ((1, 1), (1, 1), (0, 0)), mode="reflect", reflect_type="odd")
    corner = pad[:-1, :-1] + pad[1:, :-1] + pad[:-1, 1:] + pad[1:, 1:]  # (H+1, W+1, 3)
    corner /= np.linalg.norm(corner, axis=-1, keepdims=True)
    clat = np.degrees(np.arcsin(corner[..., 2]))
    clon = np.degrees(np.arctan2(corner[..., 1], corner[..., 0]))
    geod = Geod(ellps="WGS84")
    h, w = lat.shape
    out = np.empty((h, w))
    for i in range(h):
        for j in range(w):
            lats = [clat[i, j], clat[i, j + 1], clat[i + 1, j + 1], clat[i + 1, j]]
            lons = [clon[i, j], clon[i, j + 1], clon[i + 1, j + 1], clon[i + 1, j]]
            out[i, j] = abs(geod.polygon_area_perimeter(lons, lats)[0])
    return out


@pytest.fixture(scope="module")
def nextsim_areas(shared_data: Path):
    ds = open_reference(shared_data / "nextsim" / "ds_auxiliary.nc")
    return ds, geodesic_cell_areas(ds.lat.values, ds.lon.values)  # ~1 s for 512 × 512 cells


def test_nextsim_ocean_area_and_ice_area(nextsim_areas):
    ds, geodesic = nextsim_areas
    ocean = ds.mask.values == 1
    assert int(ocean.sum()) == 127_152
    ocean_area = float(stats.area_where(ds.mask == 1))
    assert ocean_area == pytest.approx(geodesic[ocean].sum(), rel=1e-5)
    assert 24.0e12 < ocean_area < 25.5e12  # Arctic Ocean + Nordic/Baltic/Hudson/Baffin, no Bering/Okhotsk
    sit = ds.sit.sel(time="2015-01-01").isel(time=0)
    ice = float(stats.area_where(sit > 0))
    assert ice == pytest.approx(geodesic[ocean & (sit.values > 0)].sum(), rel=1e-5)
    assert 10e12 < ice < ocean_area  # January ice cover in the domain
    # volume and mean thickness are consistent: V = mean thickness × ice-covered area, where
    # mean_thickness counts ice as sit > 1e-6 m (neXtSIM has 551 cells with 0 < sit ≤ 1e-6 m)
    covered = float(stats.area_where(sit > stats.state.TOL))
    assert covered < ice
    vol = float(stats.volume(ds)[0])
    assert vol == pytest.approx(float(stats.mean_thickness(ds)[0]) * covered, rel=1e-6)
