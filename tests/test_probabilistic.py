"""Proper ensemble scores (issue 22): closed forms, a direct O(m²) formula and scipy as oracles."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats as sps_dist

from seaice_explorer.stats import probabilistic as prob
from seaice_explorer.stats import synthetic as syn


def gaussian_crps(y: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    """CRPS of N(mu, sigma²) at y (Gneiting & Raftery 2007, eq. 21)."""
    z = (y - mu) / sigma
    return sigma * (z * (2 * sps_dist.norm.cdf(z) - 1) + 2 * sps_dist.norm.pdf(z) - 1 / np.sqrt(np.pi))


def direct_fair_crps(y: float, x: np.ndarray) -> float:
    """Ferro (2014) eq. 3 summed pair by pair."""
    m = x.size
    return float(np.abs(x - y).mean() - np.abs(x[:, None] - x[None, :]).sum() / (2 * m * (m - 1)))


def ensemble(obs: np.ndarray, members: np.ndarray, dim: str = "member") -> tuple[xr.DataArray, xr.DataArray]:
    """(N,) truth and (m, N) members as DataArrays on dim ``cell``."""
    return xr.DataArray(obs, dims="cell"), xr.DataArray(members, dims=(dim, "cell"))


# --------------------------------------------------------------------------- CRPS
def test_fair_crps_matches_the_direct_pair_formula() -> None:
    rng = np.random.default_rng(0)
    for m in (2, 3, 7, 20):
        y, x = rng.normal(size=50), rng.normal(size=(m, 50))
        got = prob.fair_crps_map(*ensemble(y, x)).values
        want = [direct_fair_crps(y[i], x[:, i]) for i in range(50)]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_fair_crps_of_one_member_is_the_absolute_error() -> None:
    y, x = np.array([0.2, 0.9]), np.array([[0.5, 0.4]])
    np.testing.assert_allclose(prob.fair_crps_map(*ensemble(y, x)).values, [0.3, 0.5])


def test_fair_crps_converges_to_the_gaussian_closed_form() -> None:
    rng = np.random.default_rng(1)
    mu, sigma, m, n = 0.3, 0.7, 40_000, 6
    y = np.linspace(-1.5, 2.0, n)
    x = rng.normal(mu, sigma, size=(m, n))
    got = prob.fair_crps_map(*ensemble(y, x, "sample")).values
    # the skill term alone has a standard error below sigma/sqrt(m) (sd of |X - y| < sigma): allow 4
    np.testing.assert_allclose(got, gaussian_crps(y, mu, sigma), atol=4 * sigma / np.sqrt(m))


def test_fair_crps_is_unbiased_at_small_m() -> None:
    """The mean fair CRPS of 3-member ensembles is the Gaussian's CRPS (the unfair one is too big)."""
    rng = np.random.default_rng(2)
    n, m = 40_000, 3
    y = rng.normal(size=n)
    x = rng.normal(size=(m, n))
    got = float(prob.fair_crps(*ensemble(y, x), dim="cell"))
    want = float(gaussian_crps(y, 0.0, 1.0).mean())
    assert abs(got - want) < 0.01 * want


def test_fair_crps_is_area_weighted_and_masked() -> None:
    grid = syn.projected_grid(4, 100e3, land=np.eye(4, dtype=bool))
    grid["cell_area"] = (("y", "x"), np.arange(1.0, 17.0).reshape(4, 4))
    truth = syn.state(grid, sic=np.zeros((4, 4)))["sic"].isel(time=0)
    members = syn.state(grid, "member", sic=np.stack([np.full((4, 4), 0.5)] * 2))["sic"]
    where = xr.DataArray(np.tri(4, dtype=bool), dims=("y", "x"))
    got = float(prob.fair_crps(truth, members, where=where))
    assert got == pytest.approx(0.5)  # two equal members: the CRPS is the absolute error everywhere
    cells = prob.fair_crps_map(truth, members, where=where)
    assert int(cells.notnull().sum()) == 6  # lower triangle (10) less the diagonal's land (4)


# --------------------------------------------------------------------------- ice edge
def edge_fields() -> tuple[xr.Dataset, xr.DataArray, xr.DataArray]:
    """A 10×10 grid of 100 km cells (10⁴ km² each); truth ice in columns 0-4, a field in 0-5."""
    grid = syn.projected_grid(10, 100e3)
    cols = np.arange(10)[None, :].repeat(10, 0)
    truth = syn.state(grid, sic=(cols < 5).astype(float))["sic"].isel(time=0)
    field = syn.state(grid, sic=(cols < 6) * 0.9)["sic"].isel(time=0)
    return grid, truth, field


def test_iiee_counts_the_area_between_the_edges_in_km2() -> None:
    grid, truth, field = edge_fields()
    out = prob.iiee_km2(field, truth)
    assert float(out["iiee"]) == pytest.approx(10 * 1e4)
    assert float(out["overestimate"]) == pytest.approx(10 * 1e4) and float(out["underestimate"]) == 0
    top = xr.DataArray(np.arange(10)[:, None].repeat(10, 1) < 5, dims=("y", "x"))
    assert float(prob.iiee_km2(field, truth, where=top)["iiee"]) == pytest.approx(5 * 1e4)


def test_ensemble_iiee_uses_the_median_and_sps_the_probability() -> None:
    grid, truth, field = edge_fields()
    members = xr.concat([field, field, truth, truth, truth], "member")  # median: the truth
    assert float(prob.ensemble_iiee(truth, members)["iiee"]) == 0.0
    # P = 2/5 in column 5 where the truth is open water: 10 cells × (0.4)² × 10⁴ km²
    assert float(prob.sps(truth, members)) == pytest.approx(10 * 0.16 * 1e4)
    one = field.expand_dims(member=1)
    assert float(prob.sps(truth, one)) == pytest.approx(float(prob.iiee_km2(field, truth)["iiee"]))


# --------------------------------------------------------------------------- calibration
def exchangeable(n: int, m: int, seed: int, bias: float = 0.0) -> tuple[xr.DataArray, xr.DataArray]:
    """Truth and m members drawn from the same N(c, 1) per cell (c varies by cell); members + bias."""
    rng = np.random.default_rng(seed)
    centre = rng.normal(0, 3, size=n)
    return ensemble(centre + rng.normal(size=n), centre + bias + rng.normal(size=(m, n)))


def test_rank_histogram_is_flat_for_exchangeable_draws_and_skewed_with_a_bias() -> None:
    m, n = 9, 5000
    flat = prob.rank_histogram(*exchangeable(n, m, 3))
    assert flat.sizes["rank"] == m + 1 and int(flat.sum()) == n
    assert prob.rank_flatness(flat).pvalue > 1e-3  # null: p is uniform, so this fails 1 seed in 1,000
    biased = prob.rank_histogram(*exchangeable(n, m, 4, bias=0.5))
    assert prob.rank_flatness(biased).pvalue < 1e-20  # truth below the members: the low ranks pile up
    assert biased[0] > 2 * biased[-1]


def test_rank_histogram_breaks_ties_at_random_and_flat() -> None:
    """Open water: truth and every member exactly 0; random tie-breaking spreads the ranks evenly."""
    counts = prob.rank_histogram(*ensemble(np.zeros(4000), np.zeros((4, 4000))), seed=7)
    assert prob.rank_flatness(counts).pvalue > 1e-3
    again = prob.rank_histogram(*ensemble(np.zeros(4000), np.zeros((4, 4000))), seed=7)
    np.testing.assert_array_equal(counts, again)


def test_rank_flatness_is_scipy_chisquare() -> None:
    counts = np.array([10, 12, 30, 8])
    res = sps_dist.chisquare(counts)
    assert prob.rank_flatness(counts) == (pytest.approx(res.statistic), pytest.approx(res.pvalue), 60)


def test_coverage_of_exchangeable_draws_is_m_minus_1_over_m_plus_1() -> None:
    for m in (2, 5, 10):
        out = prob.coverage(*exchangeable(40_000, m, 5 + m), dim="cell")
        assert float(out) == pytest.approx((m - 1) / (m + 1), abs=0.012)
        assert out.attrs["expected"] == pytest.approx((m - 1) / (m + 1))


def test_spread_skill_ratio_is_one_for_exchangeable_draws() -> None:
    for m in (3, 10):
        out = prob.spread_skill(*exchangeable(40_000, m, 20 + m), dim="cell")
        assert float(out["ratio"]) == pytest.approx(1.0, abs=0.03)
    under = prob.spread_skill(*ensemble(np.zeros(1000), np.random.default_rng(0).normal(size=(5, 1000)) * 0.5 + 1),
                              dim="cell")
    assert float(under["ratio"]) < 0.6  # under-dispersed and biased


def test_member_dim_is_found_or_refused() -> None:
    obs, fc = exchangeable(10, 3, 0)
    assert prob.member_dim_of(fc.rename(member="sample")) == "sample"
    with pytest.raises(ValueError, match="member dim"):
        prob.member_dim_of(fc.rename(member="time"))
