"""Fixed observation masks and the observed file (issue 22): known cell counts on hand-made grids."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from seaice_explorer.data import masks, open_reference
from seaice_explorer.errors import SeaIceInputError
from seaice_explorer.grid import default_grid
from seaice_explorer.stats import synthetic as syn

DX = 50e3


def grid_with_land(n: int = 60) -> xr.Dataset:
    land = np.zeros((n, n), dtype=bool)
    land[:8, :8] = True  # a land corner
    return syn.projected_grid(n, DX, land=land)


def test_pole_hole_is_the_ocean_north_of_its_latitude() -> None:
    grid = default_grid()
    hidden = masks.pole_hole(grid)
    north = (grid.lat.values > masks.POLE_HOLE_LATITUDE) & (grid.mask.values == 1)
    np.testing.assert_array_equal(hidden.values, north)
    assert hidden.attrs["latitude"] == 84.5 and 300 < int(hidden.sum()) < 600  # ~π·610²/50² cells
    assert hidden.dims == ("y", "x") and hidden.dtype == bool and "cell_area" in hidden.coords


def test_masks_never_hide_land() -> None:
    grid = grid_with_land()
    grid["lat"] = xr.full_like(grid.lat, 89.0)  # every cell is in the pole hole
    sic = syn.state(grid, sic=syn.ramp_disc(grid, 300e3, 700e3))["sic"].isel(time=0)
    for name in masks.MASKS:
        hidden = masks.make_mask(name, sic.assign_coords(lat=grid.lat))
        assert not (hidden.values & (grid.mask.values == 0)).any(), name
    assert int(masks.pole_hole(grid).sum()) == int(grid.mask.sum())


def test_edge_box_is_a_1000_km_square_over_the_edge() -> None:
    grid = syn.projected_grid(60, DX)
    sic = syn.state(grid, sic=syn.ramp_disc(grid, 300e3, 700e3))["sic"].isel(time=0)
    hidden = masks.edge_box(sic)
    rows, cols = np.nonzero(hidden.values)
    assert hidden.sum() == 400 and np.ptp(rows) == 19 and np.ptp(cols) == 19  # 20 × 20 cells of 50 km
    edge = masks.ice_edge_cells(sic.values, np.ones((60, 60), bool))
    assert (edge & hidden.values).sum() == hidden.attrs["edge_cells_in_box"] > 0
    centre = (np.argmin(np.abs(grid.y.values - hidden.attrs["centre_y"])),
              np.argmin(np.abs(grid.x.values - hidden.attrs["centre_x"])))
    assert edge[centre] and hidden.values[centre]
    xr.testing.assert_equal(hidden, masks.edge_box(sic))  # deterministic


def test_edge_box_goes_where_the_edge_is_longest() -> None:
    """A straight edge at column 30, with ice fingers (many edge cells) in rows 40-55."""
    grid = syn.projected_grid(60, DX)
    sic = np.zeros((60, 60))
    sic[:, :30] = 1.0
    sic[40:56:2, 30:40] = 1.0
    hidden = masks.edge_box(syn.state(grid, sic=sic)["sic"].isel(time=0))
    rows, cols = np.nonzero(hidden.values)
    assert rows.min() >= 30 and rows.max() <= 59 and cols.min() <= 30 <= cols.max()


def test_edge_box_stays_inside_the_grid_and_needs_an_edge() -> None:
    grid = syn.projected_grid(40, DX)
    corner = syn.ramp_disc(grid, 100e3, 300e3, x0=-900e3, y0=900e3)
    hidden = masks.edge_box(syn.state(grid, sic=corner)["sic"].isel(time=0))
    assert hidden.sum() == 400 and hidden.values[0, 0]
    with pytest.raises(SeaIceInputError, match="no ice edge"):
        masks.edge_box(syn.state(grid, sic=np.ones((40, 40)))["sic"].isel(time=0))


def test_swath_gap_is_a_band_of_its_width() -> None:
    grid = default_grid()
    hidden = masks.swath_gap(grid)
    cols = np.flatnonzero(hidden.values.any(0))
    x = grid.x.values[cols]
    assert cols.size == 10 and x.min() == 275e3 and x.max() == 725e3  # 250 km < x < 750 km: 10 columns
    across = masks.swath_gap(grid, angle_deg=90.0, offset_m=0.0)
    rows = np.flatnonzero(across.values.any(1))
    assert rows.size == 10 and np.allclose(grid.y.values[rows].mean(), 0.0)
    assert np.array_equal(hidden.values, hidden.values & (grid.mask.values == 1))


def test_sparse_observes_five_percent_of_the_ocean_with_a_seed() -> None:
    grid = grid_with_land()
    ocean = int(grid.mask.sum())
    hidden = masks.sparse(grid, seed=3)
    assert ocean - int(hidden.sum()) == round(0.05 * ocean)
    xr.testing.assert_equal(hidden, masks.sparse(grid, seed=3))
    assert not np.array_equal(hidden.values, masks.sparse(grid, seed=4).values)


def test_observe_sets_the_hidden_cells_to_nan_and_keeps_the_rest(tmp_path) -> None:
    grid = grid_with_land()
    truth = syn.state(grid, sic=syn.ramp_disc(grid, 300e3, 700e3), sit=np.full((60, 60), 2.0))
    truth = truth.assign_coords(time=[np.datetime64("2019-03-01T12:00")]).isel(time=0)  # one day, scalar time
    hidden = masks.swath_gap(grid, offset_m=0.0)
    obs = masks.observe(truth, hidden)
    assert set(obs.data_vars) == set(truth.data_vars) and set(obs.coords) == set(truth.coords)
    assert obs.sic.dims == ("time", "y", "x")  # as in the data set
    for name in ("sic", "sit"):
        assert obs[name].where(hidden).notnull().sum() == 0
        xr.testing.assert_equal(obs[name].isel(time=0).where(~hidden), truth[name].where(~hidden))
    assert obs.attrs["observation_mask"] == "swath_gap" and obs.attrs["hidden_cells"] == int(hidden.sum())
    path = tmp_path / "OBS.nc"
    obs.to_netcdf(path)
    back = open_reference(path)
    assert int(back.sic.isnull().sum()) == int(obs.sic.isnull().sum())
    with pytest.raises(SeaIceInputError, match="does not fit"):
        masks.observe(truth, hidden.isel(x=slice(0, 10)))


def test_masks_on_a_day_of_the_osisaf_family() -> None:
    day = open_reference("osisaf:validation").sel(time="2019-03-01").load()
    for name in masks.MASKS:
        hidden = masks.make_mask(name, day)
        assert 0 < int(hidden.sum()) < int(day.mask.sum()), name
        obs = masks.observe(day, hidden)
        assert int(obs.sic.isnull().sum()) == int(day.sic.isnull().sum()) + int(hidden.sum())
    with pytest.raises(SeaIceInputError, match="unknown observation mask"):
        masks.make_mask("cloud", day)
