"""OSI SAF OSI-450-a: four years read exactly (vs the OSI SAF index), the model-grid regridding
(synthetic cases with known answers), the bundled 2016–2019 dataset and its names/splits."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from seaice_explorer.data import open_osisaf, open_reference, read_osisaf_index
from seaice_explorer.data.nextsim import open_canonical
from seaice_explorer.data.osisaf import (MIN_OCEAN_FRACTION, REFERENCE_KIND, SPLITS, nesting, parse_osisaf_name,
                                        select_split, to_model_grid, training_subset)
from seaice_explorer.data.readers import default_reference_path, osisaf_dataset_path
from seaice_explorer.errors import SeaIceInputError
from seaice_explorer.grid import default_grid

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
DIFFERENCES = ROOT / "tests" / "data" / "osisaf_index_differences.csv"
YEARLY = "osisaf_daily/osisaf_nh_ice_conc_daily_{}.nc"
KM2 = 1e6
OSI_XC_KM = -5387.5 + 25.0 * np.arange(432)  # OSI-450-a NH EASE2 25 km, west -> east


# ----------------------------------------------------------------- four years vs the index
@pytest.fixture(scope="module")
def four_years(shared_data):
    """All 1,461 days, lazily, and their extents (km²); the whole read + check takes seconds."""
    start = time.perf_counter()
    ds = open_osisaf(shared_data / "osisaf_daily" / "osisaf_nh_ice_conc_daily_*.nc")
    ours = xr.dot(ds.sic >= 0.15, ds.cell_area, dim=("y", "x")).compute() / KM2
    seconds = time.perf_counter() - start
    logger.warning("OSI SAF 2016-2019: opened and 1,461 extents computed in %.1f s", seconds)
    return ds, pd.Series(ours.values, index=pd.DatetimeIndex(ds.time.values).normalize()), seconds


def test_four_years_are_one_lazy_canonical_dataset(four_years):
    ds, _, _ = four_years
    assert ds.sic.dims == ("time", "y", "x") and ds.sizes == {"time": 1461, "y": 432, "x": 432}
    assert ds.sic.chunks is not None and ds.sic.dtype == np.float32  # dask-backed
    times = pd.DatetimeIndex(ds.time.values)
    assert times[0] == pd.Timestamp("2016-01-01 12:00") and times[-1] == pd.Timestamp("2019-12-31 12:00")
    assert (np.diff(times) == np.timedelta64(1, "D")).all()
    np.testing.assert_array_equal(ds.cell_area.values, 625e6)  # from the projection (LAEA: equal-area)
    assert ds.attrs["proj4"].startswith("+proj=laea +lat_0=90 +lon_0=0") and float(ds.x[1] - ds.x[0]) == 25e3
    day = ds.sic.isel(time=0).values
    assert np.isnan(day[ds.mask.values == 0]).all() and np.isfinite(day[ds.mask.values == 1]).all()


def test_extent_equals_the_index_to_the_cell(four_years, shared_data):
    """Equal in km² on 1,389 of 1,461 days; the 72 others are exactly the listed ones."""
    _, ours, seconds = four_years
    index = read_osisaf_index(shared_data / "timeseries" / "osisaf_nh_sie_daily_v2p2.txt").reindex(ours.index)
    assert index.notna().all()
    diff = ours - index
    differing = diff[diff != 0]
    assert (diff == 0).sum() >= 1389
    listed = pd.read_csv(DIFFERENCES, comment="#", parse_dates=["date"]).set_index("date")
    assert set(differing.index) == set(listed.index)
    np.testing.assert_array_equal(ours[listed.index].values, listed["ours_km2"].values)
    np.testing.assert_array_equal(index[listed.index].values, listed["index_km2"].values)
    np.testing.assert_array_equal(differing[listed.index].values, listed["diff_km2"].values)
    assert seconds < 120  # measured about 6-8 s on 2 shared cores


def test_lake_cells_are_masked_on_every_day(shared_data):
    """The lake bit of some cells is set only in winter: the mask is the union over the days."""
    path = shared_data / YEARLY.format(2019)
    with xr.open_dataset(path) as raw:
        flags = raw.status_flag.isel(time=[0, 181]).values.astype(np.uint8)  # 1 January, 1 July
    winter_lake_only = ((flags[0] & 2) != 0) & ((flags[1] & 3) == 0)
    assert winter_lake_only.sum() > 100
    ds = open_osisaf(path)
    assert (ds.mask.values[winter_lake_only] == 0).all()
    assert np.isnan(ds.sic.isel(time=181).values[winter_lake_only]).all()


def test_open_reference_dispatches_globs_lists_and_yearly_files(shared_data):
    files = [shared_data / YEARLY.format(year) for year in (2017, 2016)]
    two = open_reference(files)
    assert two.sizes["time"] == 731 and two.sic.chunks is not None
    assert pd.Timestamp(two.time.values[0]).year == 2016  # sorted along time
    one = open_reference(shared_data / YEARLY.format(2019))
    assert one.sizes["time"] == 365 and one.sic.chunks is not None
    globbed = open_reference(shared_data / "osisaf_daily" / "*2019.nc")
    xr.testing.assert_identical(globbed.isel(time=[0, 200]).compute(), one.isel(time=[0, 200]).compute())


# ----------------------------------------------------------------- regridding (synthetic)
def _native(n: int = 20, areas: np.ndarray | None = None, shift_m: float = 0.0, step_m: float = 25e3) -> xr.Dataset:
    """A canonical OSI-SAF-like Dataset: n×n cells of ``step_m`` centred on the pole (y north-up)."""
    x = (np.arange(n) - (n - 1) / 2) * step_m + shift_m
    y = x[::-1].copy()
    rng = np.random.default_rng(3)
    sic = rng.random((2, n, n)).astype(np.float32)
    mask = np.ones((n, n), np.int8)
    area = np.full((n, n), step_m**2) if areas is None else areas
    return xr.Dataset({"sic": (("time", "y", "x"), sic)},
                      coords={"time": pd.date_range("2016-01-01 12:00", periods=2), "y": y, "x": x,
                              "mask": (("y", "x"), mask), "cell_area": (("y", "x"), area)})


def _with_land(ds: xr.Dataset, land: np.ndarray) -> xr.Dataset:
    ds = ds.assign_coords(mask=(("y", "x"), (~land).astype(np.int8)))
    return ds.assign(sic=ds.sic.where(~land))


def test_nesting_of_the_real_grids():
    """OSI SAF 25 km xc (km) vs default_grid: 50 km = 2×2 from index 88; 256² = the same window at 1×1."""
    assert nesting(OSI_XC_KM * 1e3, default_grid(128).x.values) == (88, 2)
    assert nesting(OSI_XC_KM[::-1] * 1e3, default_grid(128).y.values, "y") == (88, 2)
    assert nesting(OSI_XC_KM * 1e3, default_grid(256).x.values) == (88, 1)


def test_area_weighted_mean_over_ocean_subcells():
    n = 20  # 25 km cells over ±250 km; default_grid(8, 200 km) = 50 km cells over ±200 km, from index 2
    areas = np.outer(np.linspace(1.0, 2.0, n), np.linspace(1.0, 3.0, n)) * 625e6
    ds = _native(n, areas)
    land = np.zeros((n, n), bool)
    land[2, 3] = True  # target cell (0, 0) = rows 2-3, cols 2-3: one land sub-cell of 4
    ds = _with_land(ds, land)
    out = to_model_grid(ds, 8, half_width_m=200e3)
    assert out.sic.shape == (2, 8, 8) and out.sic.dtype == np.float32
    rows, cols = slice(2, 4), slice(2, 4)
    sub_sic = ds.sic.values[:, rows, cols]
    sub_w = np.where(land[rows, cols], 0.0, areas[rows, cols])
    want = np.nansum(sub_sic * sub_w, axis=(1, 2)) / sub_w.sum()
    np.testing.assert_allclose(out.sic.values[:, 0, 0], want, rtol=1e-6)
    assert out.cell_area.values[0, 0] == pytest.approx(areas[rows, cols].sum())  # all four sub-cells
    plain = ds.sic.values[:, 4:6, 6:8].mean(axis=(1, 2))  # an all-ocean cell differs from the plain mean
    weighted = out.sic.values[:, 1, 2]
    assert not np.allclose(plain, weighted, rtol=1e-4)
    np.testing.assert_array_equal(out.x.values, default_grid(8, 200e3).x.values)
    np.testing.assert_array_equal(out.lat.values, default_grid(8, 200e3).lat.values)


@pytest.mark.parametrize("n_ocean,is_ocean", [(0, False), (1, False), (2, True), (3, True), (4, True)])
def test_mixed_cell_rule(n_ocean, is_ocean):
    """A 50 km cell is ocean when at least 2 of its 4 (equal-area) sub-cells are ocean."""
    assert MIN_OCEAN_FRACTION == 0.5
    ds = _native()
    land = np.zeros((20, 20), bool)
    sub = [(2, 2), (2, 3), (3, 2), (3, 3)]
    for r, c in sub[n_ocean:]:
        land[r, c] = True
    out = to_model_grid(_with_land(ds, land), 8, half_width_m=200e3)
    assert out.mask.values[0, 0] == int(is_ocean)
    value = out.sic.values[:, 0, 0]
    if is_ocean:
        ocean = [ds.sic.values[:, r, c] for r, c in sub[:n_ocean]]
        np.testing.assert_allclose(value, np.mean(ocean, axis=0), rtol=1e-6)
    else:
        assert np.isnan(value).all()
    assert out.mask.values.sum() == 63 + int(is_ocean)  # every other cell is all ocean
    assert out.ocean_fraction.values[0, 0] == n_ocean / 4


def test_native_size_keeps_the_cells():
    ds = _native()
    out = to_model_grid(ds, 16, half_width_m=200e3)  # 25 km: the central 16×16 window, unchanged
    np.testing.assert_allclose(out.sic.values, ds.sic.values[:, 2:18, 2:18], rtol=1e-7)
    np.testing.assert_array_equal(out.cell_area.values, 625e6)


@pytest.mark.parametrize("kwargs,message", [
    ({"shift_m": 5e3}, "do not nest"),
    ({"step_m": 30e3}, "not a whole multiple"),
    ({"n": 12}, "reaches outside"),
])
def test_nesting_errors(kwargs, message):
    with pytest.raises(SeaIceInputError, match=message):
        to_model_grid(_native(**kwargs), 8, half_width_m=200e3)


def test_flipped_axis_is_refused():
    ds = _native()
    flipped = ds.isel(y=slice(None, None, -1))  # south-up: the blocks would not line up with the grid rows
    with pytest.raises(SeaIceInputError, match="same direction"):
        to_model_grid(flipped, 8, half_width_m=200e3)


# ----------------------------------------------------------------- the bundled dataset
@pytest.fixture(scope="module")
def bundled() -> xr.Dataset:
    return open_reference("osisaf")


def test_bundled_file_is_small_and_packed():
    path = osisaf_dataset_path()
    assert path.name == "osisaf_sic_2016_2019_128.nc" and path.stat().st_size < 20e6
    assert sum(p.stat().st_size for p in path.parent.rglob("*") if p.is_file()) <= 40 * 2**20
    with xr.open_dataset(path, decode_cf=False) as raw:
        assert raw.sic.dtype == np.int16 and raw.sic.attrs["scale_factor"] == 1e-4
        assert raw.sic.attrs["_FillValue"] == -32767 and "valid_max" not in raw.sic.attrs
        assert int(raw.sic.max()) == 10000 and int(raw.sic.where(raw.sic != -32767).min()) == 0


def test_bundled_attrs_split_and_provenance(bundled):
    attrs = bundled.attrs
    assert attrs["reference_kind"] == REFERENCE_KIND and "real" in attrs["reference_kind"]
    assert "REAL satellite observations" in attrs["summary"] and attrs["copyright"] == "Copyright EUMETSAT"
    assert attrs["split_train"] == "2016-01-01..2018-12-31" and attrs["split_validation"] == "2019-01-01..2019-12-31"
    sha = dict(item.split(":") for item in attrs["source_sha256"].split())
    assert sorted(sha) == [f"osisaf_nh_ice_conc_daily_{y}.nc" for y in range(2016, 2020)]
    assert all(len(h) == 64 for h in sha.values())
    assert "OSI-450-a" in attrs["source"] and ">= 2 of 4" in attrs["mixed_cell_rule"]
    assert attrs["proj4"].startswith("+proj=laea +lat_0=90")


def test_bundled_variables_and_ranges(bundled):
    assert list(bundled.data_vars) == ["sic"] and bundled.sic.chunks is not None  # lazy
    assert bundled.sizes == {"time": 1461, "y": 128, "x": 128}
    times = pd.DatetimeIndex(bundled.time.values)
    assert (times == pd.date_range("2016-01-01 12:00", "2019-12-31 12:00", freq="D")).all()
    grid = default_grid(128)
    for name in ("x", "y", "lat", "lon"):
        np.testing.assert_array_equal(bundled[name].values, grid[name].values)
    np.testing.assert_array_equal(bundled.cell_area.values, 2500e6)
    ocean = bundled.mask.values == 1
    assert 8000 < ocean.sum() < 8400  # OSI SAF land/lake flags, not global_land_mask (7,908)
    assert set(np.unique(bundled.ocean_fraction.values[ocean])) == {0.5, 0.75, 1.0}
    assert set(np.unique(bundled.ocean_fraction.values[~ocean])) == {0.0, 0.25}
    sic = bundled.sic.values
    assert np.isnan(sic[:, ~ocean]).all() and np.isfinite(sic[:, ocean]).all()
    assert np.nanmin(sic) == 0.0 and np.nanmax(sic) == 1.0
    extent = (sic >= 0.15)[:, ocean].sum(axis=1) * 2500.0 / 1e6  # 10⁶ km², inside the ±3200 km box
    assert 3.5 < extent.min() < 5.0 and 12.5 < extent.max() < 14.5


def test_bundled_equals_a_fresh_regridding(shared_data, bundled):
    """Days of 2019 made again from the yearly file equal the bundled values to the 1e-4 packing step."""
    fresh = to_model_grid(open_osisaf(shared_data / YEARLY.format(2019)).isel(time=[0, 75, 250]), 128)
    stored = bundled.sel(time=fresh.time.values)
    np.testing.assert_array_equal(stored.mask.values, fresh.mask.values)
    np.testing.assert_allclose(stored.sic.values, fresh.sic.values, atol=0.5e-4 + 1e-7)


# ----------------------------------------------------------------- names and splits
def test_names_and_splits(bundled):
    assert bundled.attrs["split"] == "all" and bundled.attrs["split_period"] == "2016-01-01..2019-12-31"
    train = open_reference("osisaf:train")
    assert train.sizes["time"] == 1096 and train.attrs["split_period"] == "2016-01-01..2018-12-31"
    validation = open_reference("osisaf:validation")
    assert validation.sizes["time"] == 365 and validation.attrs["split"] == "validation"
    for same in (open_reference("osisaf:2019"), open_reference("osisaf", split="validation"),
                 open_reference("OSISAF:val")):
        np.testing.assert_array_equal(same.time.values, validation.time.values)
    years = open_reference("osisaf:2016-2017")
    assert years.sizes["time"] == 731 and years.attrs["split"] == "2016-2017"
    with pytest.raises(SeaIceInputError, match="unknown split"):
        open_reference("osisaf:summer")
    with pytest.raises(SeaIceInputError, match="holds no day"):
        open_reference("osisaf:2021")


def test_training_subset_is_2016_to_2018(bundled):
    train = training_subset(bundled)
    times = pd.DatetimeIndex(train.time.values)
    assert times.min() == pd.Timestamp("2016-01-01 12:00") and times.max() == pd.Timestamp("2018-12-31 12:00")
    assert train.attrs["split"] == "train"
    assert training_subset(open_reference("osisaf:2019")).sizes["time"] == 365  # an explicit choice is kept
    assert select_split(bundled, "train").sizes["time"] == 1096 and SPLITS["train"] == ("2016-01-01", "2018-12-31")


def test_default_reference_is_unchanged():
    assert parse_osisaf_name("default") is None and parse_osisaf_name(Path("osisaf")) is None
    assert parse_osisaf_name("osisaf") == "all" and parse_osisaf_name("osisaf:2019") == "2019"
    ref = open_reference("default")
    xr.testing.assert_identical(ref, open_canonical(default_reference_path()))
    assert "synthetic" in ref.attrs["reference_kind"] and "split" not in ref.attrs
    assert training_subset(ref) is ref
