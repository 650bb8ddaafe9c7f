"""Set-against-set kernels (``stats.distances``, one signature ``(a, b, dim, weights)``) with scipy or
explicit sums as the oracle, and the set-against-reference scores of ``evaluation.compare`` built on them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from scipy import stats as sps
from scipy.ndimage import uniform_filter

from seaice_explorer import stats
from seaice_explorer.evaluation.compare import ReferenceSummary, SetSummary, miz_frequency_difference, score_set
from seaice_explorer.stats import synthetic as syn


# --------------------------------------------------------------------------- sample distances
@pytest.mark.parametrize("seed, n, m", [(0, 50, 70), (1, 500, 33), (2, 1, 9)])
def test_wasserstein_and_energy_match_scipy(seed, n, m):
    rng = np.random.default_rng(seed)
    a = rng.normal(0.0, 1.0, n)
    b = np.concatenate([rng.gamma(2.0, 1.0, m), [np.nan]])  # NaNs are dropped
    finite_b = b[np.isfinite(b)]
    assert stats.wasserstein1(a, b) == pytest.approx(sps.wasserstein_distance(a, finite_b), rel=1e-12)
    assert stats.energy_distance(a, b) == pytest.approx(sps.energy_distance(a, finite_b), rel=1e-12)
    assert stats.wasserstein1(xr.DataArray(a), a) == 0.0
    labelled = stats.wasserstein1(xr.DataArray(a, dims="sample"), xr.DataArray(b, dims="time"))
    assert labelled.dims == () and float(labelled) == pytest.approx(sps.wasserstein_distance(a, finite_b), rel=1e-12)


def test_sample_weights_match_scipy():
    """weights: one array for two sets of one size, or a pair (a_weights, b_weights); NaN values drop their weight."""
    rng = np.random.default_rng(11)
    a, b = rng.normal(0.0, 1.0, 40), rng.normal(0.5, 2.0, 60)
    wa, wb = rng.random(40), rng.random(60)
    for ours, oracle in ((stats.wasserstein1, sps.wasserstein_distance), (stats.energy_distance, sps.energy_distance)):
        assert ours(a, b, weights=(wa, wb)) == pytest.approx(oracle(a, b, wa, wb), rel=1e-12)
        assert ours(a, b, weights=(wa, None)) == pytest.approx(oracle(a, b, wa), rel=1e-12)
        assert ours(a, b[:40], weights=wa) == pytest.approx(oracle(a, b[:40], wa, wa), rel=1e-12)
        with_nan = np.append(a, np.nan)
        assert ours(with_nan, b, weights=(np.append(wa, 5.0), wb)) == pytest.approx(oracle(a, b, wa, wb), rel=1e-12)
        assert ours(a, b, weights=(wa, wb)) != pytest.approx(ours(a, b), rel=1e-3)  # the weights matter
    with pytest.raises(ValueError, match="one weight per value"):
        stats.wasserstein1(a, b, weights=(1.0, 1.0))
    with pytest.raises(ValueError, match="Distribution"):
        stats.wasserstein1(a, stats.Distribution.of(b), weights=(wa, wb))


def test_dim_reduces_the_named_dims_and_keeps_the_others():
    """Two DataArrays of different sizes along ``dim``: one distance per kept cell, as scipy per slice."""
    rng = np.random.default_rng(12)
    a = xr.DataArray(rng.normal(0.0, 1.0, (30, 3)), dims=("sample", "cell"), attrs={"units": "m"})
    b = xr.DataArray(rng.gamma(2.0, 1.0, (45, 3)), dims=("sample", "cell"))
    b[:, 2] = np.nan  # a cell without reference values gives NaN, not an error
    wa = xr.DataArray(rng.random(30), dims="sample")
    w1 = stats.wasserstein1(a, b, dim="sample")
    energy = stats.energy_distance(a, b, "sample", (wa, None))
    assert w1.dims == ("cell",) and w1.attrs["units"] == "m"
    for c in range(2):
        assert float(w1[c]) == pytest.approx(sps.wasserstein_distance(a[:, c], b[:, c]), rel=1e-12)
        assert float(energy[c]) == pytest.approx(sps.energy_distance(a[:, c], b[:, c], wa), rel=1e-12)
    assert np.isnan(w1[2]) and np.isnan(energy[2])
    with pytest.raises(TypeError, match="two DataArrays"):
        stats.wasserstein1(a.values, b.values, dim="sample")
    with pytest.raises(ValueError, match="not"):
        stats.wasserstein1(a, b.rename(sample="time"), dim="sample")


def test_distribution_gives_the_same_distances_as_the_sample():
    """A big sample passed as distinct values + counts (sorted once) scores exactly as the sample."""
    rng = np.random.default_rng(7)
    a = rng.normal(0.0, 1.0, 400)
    b = np.round(rng.gamma(2.0, 1.0, 5000), 2)  # many ties, like a packed reference file
    dist = stats.Distribution.of(np.append(b, np.nan))
    assert dist.counts.sum() == b.size and np.all(np.diff(dist.values) > 0)
    assert stats.wasserstein1(a, dist) == pytest.approx(sps.wasserstein_distance(a, b), rel=1e-12)
    assert stats.energy_distance(a, dist) == pytest.approx(sps.energy_distance(a, b), rel=1e-12)


# --------------------------------------------------------------------------- map kernels
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
    d2 = (a.values - b.values) ** 2  # (3, H, W)
    ok = np.isfinite(d2) & sea
    for t in range(3):
        want = np.sqrt((d2[t][ok[t]] * area[ok[t]]).sum() / area[ok[t]].sum())
        assert float(out[t]) == pytest.approx(want, rel=1e-12)
    pooled = stats.area_weighted_rmse(a, b, dim=("time", "y", "x"))
    want = np.sqrt((d2[ok] * np.broadcast_to(area, d2.shape)[ok]).sum() / np.broadcast_to(area, d2.shape)[ok].sum())
    assert pooled.dims == () and float(pooled) == pytest.approx(want, rel=1e-12)
    unweighted = stats.area_weighted_rmse(a, b, weights=xr.ones_like(grid.cell_area))
    assert float(unweighted[1]) == pytest.approx(np.sqrt(d2[1][ok[1]].mean()), rel=1e-12)
    assert float(unweighted[1]) != pytest.approx(float(out[1]), rel=1e-6)


def test_area_weighted_rmse_of_one_heavy_cell():
    grid = syn.projected_grid(4, 1000.0)
    area = np.ones((4, 4))
    area[0, 0] = 3.0
    grid["cell_area"] = (("y", "x"), area)
    a = xr.DataArray(np.zeros((4, 4)), dims=("y", "x"), coords=grid.coords)
    b = a.copy()
    b[0, 0] = 2.0
    assert float(stats.area_weighted_rmse(a, b)) == pytest.approx(math.sqrt(12 / 18))  # sqrt(3·4 / (3 + 15))


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
    cells = stats.iiee(a, b, weights=xr.ones_like(a.cell_area)).isel(time=0)  # counts of differing cells
    assert float(cells.iiee) == np.sum(a.sic.values[0] != b.sic.values[0])


def test_iiee_nested_discs_is_all_extent_error():
    grid = syn.projected_grid(300, 5e3)
    big = syn.state(grid, sic=(syn.radius(grid) <= 400e3) * 0.9)
    small = syn.state(grid, sic=(syn.radius(grid) <= 250e3) * 0.5)
    out = stats.iiee(big, small).isel(time=0)
    diff = float(stats.extent(big)[0] - stats.extent(small)[0])
    assert float(out.iiee) == pytest.approx(diff) and float(out.overestimate) == pytest.approx(diff)
    assert float(out.underestimate) == 0.0 and float(out.me) == pytest.approx(0.0)
    assert float(stats.iiee(big, small, threshold=0.6).isel(time=0).underestimate) == 0.0  # small is all below 0.6
    assert float(stats.iiee(big, small, threshold=0.6).isel(time=0).iiee) == pytest.approx(float(stats.extent(big)[0]))
    pooled = stats.iiee(big, small, dim=("time", "y", "x"))
    assert pooled.iiee.dims == () and float(pooled.iiee) == pytest.approx(diff)


def test_miz_frequency():
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
    own, other = SetSummary.of(gen, "sample"), SetSummary.of(ref, "time")
    diff = miz_frequency_difference(own, other)
    np.testing.assert_array_equal(diff.values, freq.values)  # the reference has no MIZ anywhere
    assert float(miz_frequency_difference(other, own)[1, 1]) == -1.0


# --------------------------------------------------------------------------- evaluation.compare on the kernels
def test_score_set_map_rmse():
    """A generated set = the reference + 0.25 m everywhere: mean-map RMSE 0.25, std-map RMSE 0."""
    grid = syn.projected_grid(8, 1000.0)
    sit = np.random.default_rng(3).gamma(2.0, 1.0, size=(6, 8, 8))
    ref = ReferenceSummary.of(syn.state(grid, sit=sit))
    row, _ = score_set(syn.state(grid, dim="sample", sit=sit + 0.25), ref)
    assert row["sit_mean_rmse"] == pytest.approx(0.25, rel=1e-5)
    assert row["sit_std_rmse"] == pytest.approx(0.0, abs=1e-5)


def test_score_set_marginal_distances_match_scipy():
    rng = np.random.default_rng(4)
    grid = syn.projected_grid(16, 1000.0)
    ref_ds = syn.state(grid, sic=rng.random((5, 16, 16)))
    gen = syn.state(grid, dim="sample", sic=rng.random((3, 16, 16)) ** 2)
    ref = ReferenceSummary.of(ref_ds)
    row, _ = score_set(gen, ref)
    a, b = gen.sic.values.ravel(), ref_ds.sic.values.ravel()
    assert row["sic_energy"] == pytest.approx(sps.energy_distance(a, b), rel=1e-6)
    assert row["sic_marginal_w1"] == pytest.approx(sps.wasserstein_distance(a, b), rel=1e-6)
    same, _ = score_set(ref_ds.rename(time="sample"), ref)
    assert same["sic_energy"] == 0.0 and same["sic_marginal_w1"] == 0.0


def test_score_set_extent_distance_matches_scipy():
    grid = syn.projected_grid(100, 10e3)
    mk = lambda radii, dim: syn.state(  # noqa: E731
        grid, dim=dim, sic=np.stack([syn.ramp_disc(grid, r, r + 100e3) for r in radii]))
    ref_ds, gen = mk([200e3, 250e3, 300e3], "time"), mk([220e3, 320e3], "sample")
    row, _ = score_set(gen, ReferenceSummary.of(ref_ds), marginals=False, maps=False)
    oracle = sps.wasserstein_distance(stats.extent(gen).values, stats.extent(ref_ds).values)
    assert row["extent_w1_1e6km2"] == pytest.approx(oracle * 1e-12)
    assert row["miz_area_w1_1e6km2"] > 0.0


def test_spectrum_ratio():
    rng = np.random.default_rng(5)
    grid = syn.projected_grid(64, 25e3)
    ref_ds = syn.state(grid, sit=rng.gamma(2.0, 1.0, size=(6, 64, 64)))
    ref = ReferenceSummary.of(ref_ds)
    assert len(ref.bands) == 5 and ref.bands[1][0] == 100.0
    row, _ = score_set(syn.state(grid, dim="sample", sit=2.0 * ref_ds.sit.values), ref, marginals=False)
    assert row["sit_spec_ratio_small"] == pytest.approx(4.0, rel=1e-9)  # anomalies × 2 -> power × 4
    # a 3×3 box smoother removes small-scale power much more than large-scale power
    smooth = syn.state(grid, dim="sample", sit=uniform_filter(ref_ds.sit.values, size=(1, 3, 3), mode="wrap"))
    row, own = score_set(smooth, ref, marginals=False)
    ratio = (stats.band_power(own.spectrum.sit, ref.bands) / ref.band_power.sit).values
    assert row["sit_spec_ratio_small"] == ratio[0] and ratio[0] < 0.3
    assert ratio[-1] > 0.9 and np.all(np.diff(ratio) > 0)
