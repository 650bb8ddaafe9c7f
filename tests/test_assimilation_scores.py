"""The scoring harness of issue 22 with toy ensemble makers (no network): a perfect maker scores 0, an
exchangeable one is calibrated, inpainting's CRPS is its absolute error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from seaice_explorer.data import masks
from seaice_explorer.errors import SeaIceInputError
from seaice_explorer.evaluation import assimilation_scores as harness
from seaice_explorer.evaluation.baselines import inpainting_maker
from seaice_explorer.stats import synthetic as syn

N, DAYS, SIGMA = 48, pd.date_range("2019-02-01T12:00", periods=5, freq="7D"), 0.05


def climate(grid: xr.Dataset) -> np.ndarray:
    """A smooth mean field in 0.3..0.7 (noise of 0.05 never reaches the bounds)."""
    yy, xx = np.mgrid[0:N, 0:N] / N
    return 0.5 + 0.2 * np.sin(2 * np.pi * xx) * np.cos(np.pi * yy)


@pytest.fixture(scope="module")
def world() -> tuple[xr.Dataset, np.ndarray]:
    """A 48² grid of 50 km cells with a land corner, and 5 days of truth = climate + N(0, 0.05²) noise."""
    land = np.zeros((N, N), dtype=bool)
    land[:10, :12] = True
    grid = syn.projected_grid(N, 50e3, land=land)
    mean = climate(grid)
    noise = np.random.default_rng(0).normal(0, SIGMA, size=(DAYS.size, N, N))
    truth = syn.state(grid, sic=mean + noise).assign_coords(time=DAYS)
    return truth, mean


def exchangeable_maker(mean: np.ndarray):
    """Members drawn like the truth (climate + noise): a calibrated ensemble."""
    def make(obs: xr.Dataset, n: int | None, seed: int) -> xr.Dataset:
        rng = np.random.default_rng(seed)
        members = mean + rng.normal(0, SIGMA, size=(n, N, N))
        day = obs.isel(time=0, drop=True)
        return xr.Dataset({"sic": (("sample", "y", "x"), np.where(day.mask == 1, members, np.nan))},
                          coords=day.coords)
    return make


def oracle_maker(truth: xr.Dataset):
    """Every member is the truth of the observed day."""
    def make(obs: xr.Dataset, n: int | None, seed: int) -> xr.Dataset:
        day = harness.day_state(truth, pd.Timestamp(obs.time.values.ravel()[0]))
        return day.expand_dims(sample=n)
    return make


def test_a_perfect_ensemble_scores_zero(world) -> None:
    truth, _ = world
    out = harness.score_days(DAYS[:2], ["pole_hole", "sparse"], oracle_maker(truth), truth=truth, n=4)
    for k in ("crps", "iiee", "sps", "rmse", "spread"):
        np.testing.assert_allclose(out[k].values, 0.0, atol=1e-12, err_msg=k)
    np.testing.assert_allclose(out["coverage"].values, 1.0)
    assert out["crps"].dims == ("day", "mask") and list(out.mask.values) == ["pole_hole", "sparse"]
    assert out["rank_counts"].dims == ("day", "mask", "rank") and out.sizes["rank"] == 5


def test_an_exchangeable_ensemble_is_calibrated(world) -> None:
    truth, mean = world
    m = 8
    out = harness.score_days(DAYS, ["sparse", "swath_gap"], exchangeable_maker(mean), truth=truth, n=m, seed=1)
    cov = float(out["coverage"].sel(mask="sparse").mean())
    assert cov == pytest.approx((m - 1) / (m + 1), abs=0.02)  # ~9,000 cells pooled: SE ≈ 0.004
    assert float(out["coverage_expected"][0, 0]) == pytest.approx(7 / 9)
    assert float(out["spread_skill"].sel(mask="sparse").mean()) == pytest.approx(1.0, abs=0.05)
    summary = harness.summarise(out, replicates=300)
    assert float(summary["rank_pvalue_pooled"].sel(mask="sparse")) > 1e-3
    # CRPS of N(0, σ²) against a draw of the same: E|X − Y| − E|X − X'|/2 = 2σ/√π − σ/√π = σ/√π
    want = SIGMA / np.sqrt(np.pi)
    assert float(out["crps"].sel(mask="sparse").mean()) == pytest.approx(want, rel=0.05)
    hidden = masks.sparse(truth.isel(time=0), seed=1)
    assert int(out["hidden_cells"][0, 0]) == int(hidden.sum())
    assert float(out["hidden_area"][0, 0]) == pytest.approx(int(hidden.sum()) * 2500.0)


def test_inpainting_is_a_one_member_ensemble_scored_by_its_absolute_error(world) -> None:
    truth, _ = world
    day = harness.day_state(truth, DAYS[0])
    hidden = masks.swath_gap(day, offset_m=0.0)
    member = inpainting_maker()(masks.observe(day, hidden), None, 0)
    got = harness.score_day(day, hidden, member)
    err = np.abs(member.sic.isel(sample=0).values - day.sic.values)[hidden.values]
    assert got["crps"] == pytest.approx(err.mean(), rel=1e-6)  # equal areas: the plain mean
    assert got["members"] == 1 and np.isnan(got["spread_skill"]) and got["sps"] == got["iiee"]
    assert got["rank_counts"].size == 2 and got["rank_counts"].sum() == hidden.sum()


def test_custom_masks_and_ice_edge_scores(world) -> None:
    truth, _ = world
    grid = truth.isel(time=0, drop=True)
    disc = syn.state(grid, dim="time", sic=np.stack([syn.ramp_disc(grid, 300e3, 500e3 + 50e3 * k) for k in range(5)]))
    disc = disc.assign_coords(time=DAYS)
    shrink = lambda obs, n, seed: disc.isel(time=[0] * n).rename(time="sample").drop_vars("sample")  # noqa: E731
    half = {"south": lambda state, seed: (state.sic.notnull() & (state.y < 0)).transpose("y", "x")}
    out = harness.score_days(DAYS[[0, 3]], half, shrink, truth=disc, n=3)
    iiee = out["iiee"].sel(mask="south").values
    assert iiee[0] == 0.0 and iiee[1] > 0  # day 0: the members are the truth; day 3: its edge is 150 km out
    # day 3's edge lies 150 km beyond the members' (r = 500 km against 650 km at sic 0.15, ramps scaled):
    # the southern half of the annulus between the two 15 % radii, within the cells' staircase
    r_member, r_truth = (syn.ramp_radius(0.15, 300e3, 500e3 + 50e3 * k) for k in (0, 3))
    assert iiee[1] == pytest.approx(np.pi * (r_truth**2 - r_member**2) / 2 / 1e6, rel=0.1)
    sps = out["sps"].sel(mask="south").values
    assert sps[1] == pytest.approx(iiee[1])  # all members alike: P is 0 or 1


def test_summaries_and_paired_differences_over_days(world) -> None:
    truth, mean = world
    out = harness.score_days(DAYS, ["pole_hole"], exchangeable_maker(mean), truth=truth, n=4)
    summary = harness.summarise(out, replicates=500)
    est, lo, hi = summary["crps"].sel(mask="pole_hole").values
    assert est == pytest.approx(float(out["crps"].mean())) and lo <= est <= hi
    same = harness.paired_difference(out, out, "crps")
    np.testing.assert_allclose(same["crps"].values, 0.0)


def test_tuning_and_report_days_are_interleaved_over_2019() -> None:
    days = harness.assimilation_days()
    tuning, report = days["tuning"], days["report"]
    assert tuning.size == 30 and report.size >= 60 and not set(tuning) & set(report)
    assert (tuning.year == 2019).all() and (report.year == 2019).all()
    assert set(report.month) == set(range(1, 13)) and set(tuning.quarter) == {1, 2, 3, 4}
    assert harness.assimilation_days()["tuning"].equals(tuning)


def test_a_day_outside_the_record_is_refused(world) -> None:
    truth, _ = world
    with pytest.raises(SeaIceInputError, match="no state on 2019-12-25"):
        harness.day_state(truth, "2019-12-25")
