"""Baselines of issue 22: harmonic inpainting (exact on linear fields) and the climatological ensemble."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from seaice_explorer.data import masks, open_reference
from seaice_explorer.evaluation import baselines as base
from seaice_explorer.stats import synthetic as syn


# --------------------------------------------------------------------------- inpainting
def test_harmonic_fill_reproduces_a_linear_field_exactly() -> None:
    yy, xx = np.mgrid[0:30, 0:30]
    linear = 0.2 + 0.01 * xx + 0.015 * yy
    values = linear.copy()
    values[8:20, 5:22] = np.nan  # an interior hole: every hidden cell has 4 ocean neighbours
    domain = np.ones((30, 30), dtype=bool)
    domain[:3, :3] = False  # land away from the hole
    filled = base.harmonic_fill(values, domain)
    np.testing.assert_allclose(filled[domain], linear[domain], rtol=0, atol=1e-12)
    assert np.isnan(filled[~domain]).all()


def test_harmonic_fill_is_discrete_harmonic_at_the_coast() -> None:
    """Each filled cell is the mean of its ocean 4-neighbours (no flux across the land)."""
    rng = np.random.default_rng(0)
    domain = rng.random((25, 25)) > 0.15
    values = np.where(rng.random((25, 25)) > 0.6, rng.random((25, 25)), np.nan)
    filled = base.harmonic_fill(values, domain)
    padded_v, padded_d = np.pad(filled, 1, constant_values=np.nan), np.pad(domain, 1)
    for i, j in zip(*np.nonzero(domain & np.isnan(values))):
        nb = [(i + di + 1, j + dj + 1) for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1))]
        near = [padded_v[p] for p in nb if padded_d[p]]
        if near:
            assert filled[i, j] == pytest.approx(np.mean(near), abs=1e-10)
    assert np.isfinite(filled[domain]).all() and (filled[domain] >= 0).all() and (filled[domain] <= 1).all()


def test_a_sea_without_observations_takes_the_observed_mean() -> None:
    domain = np.ones((6, 6), dtype=bool)
    domain[:, 3] = False  # two seas
    values = np.full((6, 6), np.nan)
    values[:, :3] = [[0.2, 0.4, np.nan]] * 6
    filled = base.harmonic_fill(values, domain)
    np.testing.assert_allclose(filled[:, 4:], 0.3)
    np.testing.assert_allclose(filled[:, 2], 0.4)


def test_harmonic_inpaint_keeps_observations_land_and_bounds() -> None:
    land = np.zeros((40, 40), dtype=bool)
    land[15:25, :6] = True
    grid = syn.projected_grid(40, 50e3, land=land)
    truth = syn.state(grid, sic=syn.ramp_disc(grid, 300e3, 700e3), siu=np.full((40, 40), -0.1)).isel(time=0)
    hidden = masks.sparse(grid, seed=1)
    filled = base.harmonic_inpaint(masks.observe(truth, hidden))
    assert filled.sic.where(grid.mask == 0).notnull().sum() == 0  # land stays NaN
    assert np.isfinite(filled.sic.values[grid.mask.values == 1]).all()
    xr.testing.assert_equal(filled.sic.where(~hidden), truth.sic.where(~hidden))
    assert float(filled.sic.min()) >= 0.0 and float(filled.sic.max()) <= 1.0
    np.testing.assert_allclose(filled.siu.values[grid.mask.values == 1], -0.1, rtol=1e-6)  # a constant stays constant
    member = base.inpainting_maker()(masks.observe(truth, hidden), 8, 0)
    assert member.sizes["sample"] == 1 and member.sic.dims == ("sample", "y", "x")


# --------------------------------------------------------------------------- climatology
def test_climatology_dates_are_plus_minus_15_days_cyclically() -> None:
    record = pd.date_range("2016-01-01T12:00", "2018-12-31T12:00", freq="D")
    mid = base.climatology_dates("2019-07-01", record)
    assert mid.size == 93 and all((mid.year == y).sum() == 31 for y in (2016, 2017, 2018))
    assert mid.min() == pd.Timestamp("2016-06-16T12:00") and mid.max() == pd.Timestamp("2018-07-16T12:00")
    winter = base.climatology_dates("2019-01-05", record)
    assert winter.size == 93 and (winter.month == 12).sum() == 33 and winter.max().day == 31
    assert (base.calendar_distance(winter, "2019-01-05") <= 15).all()
    leap = base.climatology_dates("2020-02-29", record)  # anchored on 28 February in common years
    assert leap.size == 93 and pd.Timestamp("2016-02-29T12:00") in leap


def test_climatology_ensemble_of_the_bundled_record() -> None:
    ens = base.climatology_ensemble("2019-03-01")
    times = pd.DatetimeIndex(ens.time.values)
    assert ens.sic.dims == ("sample", "y", "x") and ens.sizes["sample"] == 93
    assert set(times.year) == {2016, 2017, 2018} and (base.calendar_distance(times, "2019-03-01") <= 15).all()
    ref = open_reference("osisaf:train").sel(time=times[40]).load()
    np.testing.assert_array_equal(ens.sic.isel(sample=40).values, ref.sic.values)
    assert ens.sic.where(ens.mask == 0).notnull().sum() == 0  # land is NaN


def test_climatology_maker_draws_n_members_with_its_seed() -> None:
    obs = open_reference("osisaf:validation").sel(time="2019-03-01").load()
    make = base.climatology_maker()
    a, b, c = make(obs, 10, 1), make(obs, 10, 1), make(obs, 10, 2)
    assert a.sizes["sample"] == 10 and np.array_equal(a.time.values, b.time.values)
    assert not np.array_equal(a.time.values, c.time.values)
    assert make(obs, None, 0).sizes["sample"] == 93
