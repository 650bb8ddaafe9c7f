"""Synthetic neXtSIM-layout Moorings files: neXtSIM's names and layout on the real CREG025 grid,
read back unchanged by the project's own reader."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from seaice_explorer.cli import main
from seaice_explorer.data import open_nextsim, open_reference
from seaice_explorer.data.moorings import _grid_axes, month_times, write_moorings
from seaice_explorer.grid import default_grid
from seaice_explorer.variables import STATE_VARIABLES


@pytest.fixture(scope="module")
def aux(shared_data):
    path = shared_data / "nextsim" / "ds_auxiliary.nc"
    if not path.is_file():
        pytest.skip(f"{path} not found (the CREG025 grid file of ../shared/data/nextsim)")
    return path


@pytest.fixture(scope="module")
def run_dir(aux, tmp_path_factory):
    out = tmp_path_factory.mktemp("moorings")
    # a coarse generator grid (50 km) keeps the test fast; the files are on the 512² CREG025 cells all the same
    write_moorings(out, aux, start="2000-01", months=2, days=2, seed=3, resolution_km=50)
    return out


def test_files_have_nextsim_names_and_layout(run_dir):
    assert sorted(p.name for p in run_dir.iterdir()) == ["Moorings_2000m01.nc", "Moorings_2000m02.nc"]
    raw = xr.open_dataset(run_dir / "Moorings_2000m01.nc")
    assert set(raw.data_vars) == {"sit", "sic", "damage", "siu", "siv", "longitude", "latitude"}
    assert all(raw[v].dims == ("time", "y", "x") for v in ("sit", "sic", "damage", "siu", "siv"))
    assert raw["latitude"].dims == ("y", "x") and raw.sizes["time"] == 2
    assert raw["time"].encoding["units"].startswith("days since 1900-01-01")
    assert raw.attrs["synthetic"] == "yes" and "not neXtSIM output" in raw.attrs["title"]
    assert "--seed 3" in raw.attrs["history"] and "moorings" in raw.attrs["source"]


def test_round_trip_through_the_reader_keeps_grid_mask_and_names(run_dir, aux):
    grid = xr.open_dataset(aux)
    ds = open_reference(str(run_dir / "Moorings_*.nc"))  # a glob of files, joined along time
    assert list(ds.data_vars) == list(STATE_VARIABLES) and ds.attrs["missing_variables"] == []
    assert ds.sizes == {"time": 4, "y": 512, "x": 512}
    assert ds["sid"].attrs["source_name"] == "damage"
    np.testing.assert_array_equal(ds["lat"].values, grid["latitude"].values)
    np.testing.assert_array_equal(ds["lon"].values, grid["longitude"].values)
    np.testing.assert_array_equal(ds["mask"].values, grid["mask"].values > 0.5)  # ocean = finite values
    assert int(ds["mask"].sum()) == 127_152
    one = open_nextsim(run_dir / "Moorings_2000m02.nc")
    assert list(pd.DatetimeIndex(one.time.values).day) == [1, 15] and "SYNTHETIC" in one.attrs["title"]


def test_states_respect_the_bounds_and_sit_on_them(run_dir):
    ds = open_reference(str(run_dir / "Moorings_*.nc")).load()
    ocean = ds["mask"].values == 1
    for name in STATE_VARIABLES:
        values = ds[name].values[:, ocean]
        assert np.isfinite(values).all(), name
    sic = ds["sic"].values[:, ocean]
    assert sic.min() == 0.0 and sic.max() == 1.0 and (sic == 1.0).mean() > 0.05  # a pack exactly at the bound
    assert (ds["sit"].values[:, ocean] >= 0).all() and (ds["sid"].values[:, ocean] <= 1).all()
    extent = float(((ds["sic"].isel(time=0) >= 0.15) * ds["cell_area"]).sum()) / 1e12  # 10^6 km², January
    assert 8 < extent < 16


def test_grid_axes_of_a_projection_grid_are_its_own_axes():
    g = default_grid(128)  # (stored) rows run north -> south in the projection: grid y points along -Y
    ex, ey = _grid_axes(g)
    np.testing.assert_allclose(ex[0], 1, atol=1e-4)  # float32 lat/lon
    np.testing.assert_allclose(ex[1], 0, atol=1e-4)  # float32 lat/lon
    np.testing.assert_allclose(ey[1], -1, atol=1e-4)  # float32 lat/lon


def test_month_times_spread_over_each_month():
    times = month_times("2001-02", 2, 4)
    assert [str(t.date()) for t in times] == ["2001-02-01", "2001-02-08", "2001-02-15", "2001-02-22",
                                              "2001-03-01", "2001-03-08", "2001-03-16", "2001-03-24"]
    assert all(t.hour == 12 for t in times)


def test_moorings_command_reports_a_bad_grid_file(tmp_path, capsys):
    assert main(["moorings", "--grid", str(tmp_path / "absent.nc"), "--out", str(tmp_path / "run")]) == 2
    assert "file not found" in capsys.readouterr().err
