"""Ensemble-vs-reference scores: scipy as oracle for distances, analytic IIEE, maps, spectra ratio."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from scipy import stats as sps

from seaice_explorer import stats
from seaice_explorer.stats import synthetic as syn


@pytest.mark.parametrize("seed, n, m", [(0, 50, 70), (1, 500, 33), (2, 1, 9)])
def test_wasserstein_and_energy_match_scipy(seed, n, m):
    rng = np.random.default_rng(seed)
    a = rng.normal(0.0, 1.0, n)
    b = np.concatenate([rng.gamma(2.0, 1.0, m), [np.nan]])  # NaNs are dropped
    finite_b = b[np.isfinite(b)]
    assert stats.wasserstein1(a, b) == pytest.approx(sps.wasserstein_distance(a, finite_b), rel=1e-12)
    assert stats.energy_distance(a, b) == pytest.approx(sps.energy_distance(a, finite_b), rel=1e-12)
    assert stats.wasserstein1(xr.DataArray(a), a) == 0.0


def test_distribution_gives_the_same_distances_as_the_sample():
    """A big sample passed as distinct values + counts (sorted once) scores exactly as the sample."""
    rng = np.random.default_rng(7)
    a = rng.normal(0.0, 1.0, 400)
    b = np.round(rng.gamma(2.0, 1.0, 5000), 2)  # many ties, like a packed reference file
    dist = stats.Distribution.of(np.append(b, np.nan))
    assert dist.counts.sum() == b.size and np.all(np.diff(dist.values) > 0)
    assert stats.wasserstein1(a, dist) == pytest.approx(stats.wasserstein1(a, b), rel=1e-12)
    assert stats.energy_distance(a, dist) == pytest.approx(stats.energy_distance(a, b), rel=1e-12)


def test_area_weighted_rmse_matches_the_explicit_sums():
    """The xarray-weighted RMSE against the hand-written Σ A (a − b)² / Σ A over valid ocean cells."""
    rng = np.random.default_rng(8)
    land = rng.random((12, 12)) < 0.2
    grid = syn.projected_grid(12, 1000.0, land=land)
    grid["cell_area"] = (("y", "x"), rng.uniform(0.5, 2.0, (12, 12)))
    a = syn.state(grid, sic=rng.random((3, 12, 12))).sic
    b = syn.state(grid, sic=rng.random((3, 12, 12))).sic
    b[0, 1, 1] = np.nan
    out = stats.area_weighted_rmse(a, b)
    area, sea = grid.cell_area.values, grid.mask.values == 1
    for t in range(3):
        d2 = (a.values[t] - b.values[t]) ** 2
        ok = np.isfinite(d2) & sea
        assert float(out[t]) == pytest.approx(np.sqrt((d2[ok] * area[ok]).sum() / area[ok].sum()), rel=1e-12)


def shifted_discs(radius: float, shift: float, n: int = 400, dx: float = 5e3) -> tuple[xr.Dataset, xr.Dataset]:
    grid = syn.projected_grid(n, dx)
    disc = lambda x0: (syn.radius(grid, x0=x0) <= radius).astype(float)  # noqa: E731
    return syn.state(grid, sic=disc(0.0)), syn.state(grid, sic=disc(shift))


def test_iiee_of_shifted_discs():
    r, d = 500e3, 300e3
    a, b = shifted_discs(r, d)
    lens = 2 * r**2 * math.acos(d / (2 * r)) - d / 2 * math.sqrt(4 * r**2 - d**2)  # overlap of two circles
    out = stats.iiee(a, b).isel(time=0)
    assert float(out.iiee) == pytest.approx(2 * (math.pi * r**2 - lens), rel=1e-2)
    assert float(out.overestimate) == pytest.approx(float(out.underestimate), rel=1e-9)
    assert float(out.aee) == pytest.approx(0.0, abs=1e-6)
    assert float(out.me) == pytest.approx(float(out.iiee))
    swapped = stats.iiee(b, a).isel(time=0)
    assert float(swapped.overestimate) == float(out.underestimate)


def test_iiee_nested_discs_is_all_extent_error():
    grid = syn.projected_grid(300, 5e3)
    big = syn.state(grid, sic=(syn.radius(grid) <= 400e3) * 0.9)
    small = syn.state(grid, sic=(syn.radius(grid) <= 250e3) * 0.5)
    out = stats.iiee(big, small).isel(time=0)
    diff = float(stats.extent(big)[0] - stats.extent(small)[0])
    assert float(out.iiee) == pytest.approx(diff) and float(out.overestimate) == pytest.approx(diff)
    assert float(out.underestimate) == 0.0 and float(out.me) == pytest.approx(0.0)


def test_miz_frequency_and_difference():
    land = np.zeros((3, 3), dtype=bool)
    land[2, 2] = True
    grid = syn.projected_grid(3, 1000.0, land=land)
    sic = np.zeros((4, 3, 3))
    sic[0, 0, 0] = 0.5  # cell (0, 0) in the MIZ in 1 of 4 members
    sic[:, 1, 1] = 0.3  # always
    sic[:2, 0, 1] = 0.9  # never (pack ice), then open water
    gen = syn.state(grid, dim="sample", sic=sic)
    freq = stats.miz_frequency(gen, "sample")
    assert float(freq[0, 0]) == 0.25 and float(freq[1, 1]) == 1.0 and float(freq[0, 1]) == 0.0
    assert np.isnan(float(freq[2, 2]))
    ref = syn.state(grid, sic=np.zeros((2, 3, 3)))
    diff = stats.miz_frequency_difference(gen, ref)
    np.testing.assert_array_equal(diff.values, freq.values)  # the reference has no MIZ anywhere
    assert float(stats.miz_frequency_difference(ref, gen, "time", "sample")[1, 1]) == -1.0


def test_area_weighted_rmse_and_map_rmse():
    grid = syn.projected_grid(4, 1000.0)
    area = np.ones((4, 4))
    area[0, 0] = 3.0
    grid["cell_area"] = (("y", "x"), area)
    a = xr.DataArray(np.zeros((4, 4)), dims=("y", "x"), coords=grid.coords)
    b = a.copy()
    b[0, 0] = 2.0
    # sqrt(3·4 / (3 + 15))
    assert float(stats.area_weighted_rmse(a, b)) == pytest.approx(math.sqrt(12 / 18))
    rng = np.random.default_rng(3)
    sit = rng.gamma(2.0, 1.0, size=(6, 4, 4))
    ref = syn.state(grid, sit=sit)
    gen = syn.state(grid, dim="sample", sit=sit + 0.25)
    rmse = stats.map_rmse(gen, ref)
    assert float(rmse.sit.sel(statistic="mean")) == pytest.approx(0.25, rel=1e-5)
    assert float(rmse.sit.sel(statistic="std")) == pytest.approx(0.0, abs=1e-5)


def test_marginals():
    rng = np.random.default_rng(4)
    grid = syn.projected_grid(16, 1000.0)
    ref = syn.state(grid, sic=rng.random((5, 16, 16)))
    gen = syn.state(grid, dim="sample", sic=rng.random((3, 16, 16)) ** 2)
    hist = stats.marginal_histogram(ref, bins=20)
    width = np.diff(hist.sic_bin.values)[0]
    assert float(hist.sic.sum()) * width == pytest.approx(1.0)
    dist = stats.marginal_distances(gen, ref)
    a, b = gen.sic.values.ravel(), ref.sic.values.ravel()
    assert float(dist.sic.sel(distance="energy")) == pytest.approx(sps.energy_distance(a, b), rel=1e-6)
    assert float(dist.sic.sel(distance="wasserstein1")) == pytest.approx(sps.wasserstein_distance(a, b), rel=1e-6)
    assert float(stats.marginal_distances(ref, ref).sic.sel(distance="energy")) == 0.0


def test_distribution_distances_of_extent():
    grid = syn.projected_grid(100, 10e3)
    radii_ref = [200e3, 250e3, 300e3]
    radii_gen = [220e3, 320e3]
    mk = lambda radii, dim: syn.state(  # noqa: E731
        grid, dim=dim, sic=np.stack([syn.ramp_disc(grid, r, r + 100e3) for r in radii]))
    ref, gen = mk(radii_ref, "time"), mk(radii_gen, "sample")
    out = stats.distribution_distances(gen, ref)
    oracle = sps.wasserstein_distance(stats.extent(gen).values, stats.extent(ref).values)
    assert float(out.extent_w1) == pytest.approx(oracle)
    assert float(out.miz_area_w1) >= 0.0


def test_spectrum_ratio():
    rng = np.random.default_rng(5)
    grid = syn.projected_grid(64, 25e3)
    ref = syn.state(grid, sit=rng.gamma(2.0, 1.0, size=(6, 64, 64)))
    doubled = syn.state(grid, dim="sample", sit=2.0 * ref.sit.values)
    ratio = stats.spectrum_ratio(doubled, ref)
    np.testing.assert_allclose(ratio.sit.values, 4.0, rtol=1e-9)  # anomalies × 2 -> power × 4
    assert ratio.sizes["band"] == 5 and ratio.band_lower_km.values[1] == 100.0
    # a 3×3 box smoother removes small-scale power much more than large-scale power
    from scipy.ndimage import uniform_filter

    smooth = syn.state(grid, dim="sample", sit=uniform_filter(ref.sit.values, size=(1, 3, 3), mode="wrap"))
    r = stats.spectrum_ratio(smooth, ref).sit.values
    assert r[0] < 0.3 and r[-1] > 0.9 and np.all(np.diff(r) > 0)
