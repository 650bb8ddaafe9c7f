"""Scores with intervals and decision rules that can fail (issue 21): scipy and ``score_set`` as oracles,
the coverage of the percentile interval, and each rule's behaviour on same-distribution and planted sets."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest
import xarray as xr
from scipy import ndimage
from scipy import stats as sps

from seaice_explorer.evaluation.bootstrap import (
    Effect,
    baseline_distribution,
    bootstrap_scores,
    bootstrap_weights,
    interval,
    paired_effect,
    reference_split_floor,
    split_weights,
)
from seaice_explorer.evaluation.compare import ReferenceSummary, score_set
from seaice_explorer.evaluation.features import StateFeatures, marginal_bins
from seaice_explorer.evaluation.rules import (
    DIRECTIONAL_LEVEL,
    EQUIVALENCE_LEVEL,
    EQUIVALENCE_MARGIN,
    FindingPart,
    directional,
    equivalence,
    verdict_text,
)
from seaice_explorer.evaluation.weighted import (
    binned_distances,
    cell_moments,
    point_scores,
    replicate_scores,
    weighted_w1,
)
from seaice_explorer.stats import synthetic as syn

POOL = 1200  # states per synthetic population; each rule draw takes disjoint sets from it
N_REF, N_GEN, REPLICATES = 200, 150, 300
#: Draws of the same-distribution (null) and planted cases of each rule.
NULL_DRAWS, PLANTED_DRAWS = 50, 50


# --------------------------------------------------------------------------- synthetic states
def toy_grid(n: int = 24) -> xr.Dataset:
    """An n² grid of 100 km cells with a land corner and uneven cell areas (so area weights matter)."""
    land = np.zeros((n, n), dtype=bool)
    land[: n // 4, : n // 3] = True
    land[-2:, -5:] = True
    grid = syn.projected_grid(n, 100e3, land=land)
    grid["cell_area"] = (("y", "x"), np.random.default_rng(0).uniform(0.8, 1.2, (n, n)) * 1e10)
    return grid


def toy_states(grid: xr.Dataset, n: int, seed: int, dim: str = "sample", radius: float = 0.8e6,
               width: float = 0.3e6, blur: float = 0.0) -> xr.Dataset:
    """Ice discs of random radius (spread 150 km) and MIZ ramp ``width`` with smooth noise; ``blur``
    (cells) smooths sic, the planted loss of small-scale power."""
    rng = np.random.default_rng(seed)
    size = grid.sizes["y"]
    r = syn.radius(grid)[None]  # (1, H, W)
    rad = radius + 0.15e6 * rng.standard_normal((n, 1, 1))
    ramp = width * np.exp(0.2 * rng.standard_normal((n, 1, 1)))
    noise = ndimage.gaussian_filter(rng.standard_normal((5, n, size, size)), (0, 0, 1.0, 1.0))
    sic = np.clip((rad + ramp / 2 - r) / ramp + 0.3 * noise[0], 0.0, 1.0)
    if blur:
        sic = np.clip(ndimage.gaussian_filter(sic, (0, blur, blur)), 0.0, 1.0)
    return syn.state(grid, dim=dim, sit=np.clip(2.0 * sic + 0.4 * noise[1], 0.0, None), sic=sic,
                     sid=np.clip(0.3 + 0.5 * noise[2], 0.0, 1.0), siu=0.05 * noise[3], siv=0.05 * noise[4])


@pytest.fixture(scope="module")
def grid() -> xr.Dataset:
    return toy_grid()


@pytest.fixture(scope="module")
def pools(grid: xr.Dataset) -> dict[str, StateFeatures]:
    """Populations of features: the truth (reference), an imperfect model and planted variants of it."""
    truth = StateFeatures.of(toy_states(grid, POOL, 1, dim="time"), "time")
    kinds = {"model": {}, "wide_miz": {"width": 0.6e6}, "far": {"radius": 1.0e6}, "smooth": {"blur": 1.0}}
    out = {"truth": truth}
    for seed, (name, kw) in enumerate(kinds.items(), start=2):
        kw = {"radius": 0.9e6} | kw
        out[name] = StateFeatures.of(toy_states(grid, POOL, seed, **kw), "sample", bands=truth.bands)
    return out


# --------------------------------------------------------------------------- oracles
def test_point_estimates_equal_score_set(grid):
    """Uniform weights give ``score_set``'s row: W1s, RMSEs, spectra and bounds to float precision
    (the maps are float32), the marginal distances to within the bins."""
    ref, gen = toy_states(grid, 60, 1, dim="time"), toy_states(grid, 40, 2, radius=0.9e6, blur=1.0)
    row, _ = score_set(gen, ReferenceSummary.of(ref))
    fr = StateFeatures.of(ref, "time")
    mine = point_scores(StateFeatures.of(gen, "sample", bands=fr.bands), fr)
    binned = [k for k in mine if k.endswith(("_energy", "_marginal_w1")) or k == "energy_norm"]
    assert len(mine) >= 40 and set(mine) <= set(row)
    for k in set(mine) - set(binned):
        assert mine[k] == pytest.approx(row[k], rel=1e-5, abs=1e-9), k
    for v in ("sit", "sic", "sid", "siu", "siv"):
        width = float(np.diff(marginal_bins(v))[0])
        assert abs(mine[f"{v}_marginal_w1"] - row[f"{v}_marginal_w1"]) <= width  # each value moves ≤ width/2
        assert mine[f"{v}_energy"] == pytest.approx(row[f"{v}_energy"], rel=0.02), v
    assert mine["extent_w1_1e6km2"] == pytest.approx(row["extent_w1_1e6km2"], rel=1e-12)


def test_weighted_w1_matches_scipy_with_weights():
    rng = np.random.default_rng(1)
    xa, xb = np.round(rng.normal(0, 1, 30), 1), rng.gamma(2.0, 1.0, 45)  # ties in xa
    wa, wb = rng.random((4, 30)), rng.random((4, 45))
    wa[0, :10] = 0.0
    wa, wb = wa / wa.sum(1, keepdims=True), wb / wb.sum(1, keepdims=True)
    got = weighted_w1(xa, wa, xb, wb)
    for i in range(4):
        assert got[i] == pytest.approx(sps.wasserstein_distance(xa, xb, wa[i], wb[i]), rel=1e-10)


def test_binned_distances_match_scipy():
    """Exactly scipy's distances of the values moved to their bin centres; W1 within one bin width of the raw."""
    rng = np.random.default_rng(2)
    edges = marginal_bins("sic", 400)
    width, centres = edges[1] - edges[0], 0.5 * (edges[1:] + edges[:-1])
    a = np.clip(rng.normal(0.6, 0.3, 3000), 0, 1)
    b = np.clip(rng.normal(0.5, 0.35, 2000), 0, 1)
    ha, hb = (np.histogram(x, edges)[0][None].astype(float) for x in (a, b))
    w1, energy = binned_distances(ha, hb, width)
    snap = lambda x: centres[np.digitize(x, edges) - 1]  # noqa: E731
    assert energy[0] == pytest.approx(sps.energy_distance(snap(a), snap(b)), rel=1e-9)
    assert w1[0] == pytest.approx(sps.wasserstein_distance(snap(a), snap(b)), rel=1e-9)
    assert abs(w1[0] - sps.wasserstein_distance(a, b)) <= width
    assert energy[0] == pytest.approx(sps.energy_distance(a, b), rel=0.01)


def test_cell_moments_equal_numpy_on_the_resampled_states(grid):
    """Mean and ddof = 1 std maps of a resample equal numpy's on the states drawn (with NaNs skipped)."""
    ds = toy_states(grid, 25, 3)
    ds["sit"][0, 10, 10] = np.nan
    f = StateFeatures.of(ds, "sample")
    w = bootstrap_weights(f.n, 3, np.random.default_rng(4))
    mean, std = cell_moments(f.cells["sit"], w, f.n)
    values = ds.sit.values.reshape(25, -1)[:, f.ocean]
    for i in range(3):
        drawn = np.repeat(values, np.rint(w[i] * f.n).astype(int), axis=0)
        np.testing.assert_allclose(mean[i], np.nanmean(drawn, 0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(std[i], np.nanstd(drawn, 0, ddof=1), rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------------------- resampling
def test_bootstrap_weights_are_counts_over_n_and_seeded():
    w = bootstrap_weights(7, 500, np.random.default_rng(0))
    assert w.shape == (500, 7)
    np.testing.assert_allclose(w.sum(1), 1.0)
    np.testing.assert_allclose(w * 7, np.rint(w * 7), atol=1e-12)
    assert np.array_equal(w, bootstrap_weights(7, 500, np.random.default_rng(0)))
    assert abs((w * 7).mean() - 1.0) < 0.02 and abs((w * 7).var() - 6 / 7) < 0.1  # multinomial(7, 1/7) counts


def test_percentile_interval_covers_the_mean_at_about_the_nominal_rate():
    """90 % percentile intervals of the mean of 60 normal draws cover the true mean in 80–97 % of
    200 repetitions (Efron & Tibshirani 1993, ch. 13)."""
    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(200):
        x = rng.normal(3.0, 2.0, 60)
        lo, hi = interval(bootstrap_weights(60, 500, rng) @ x, 0.90)
        hits += lo <= 3.0 <= hi
    assert 0.80 <= hits / 200 <= 0.97


def test_bootstrap_scores_carry_the_point_estimate_and_an_interval(pools):
    gen, ref = pools["model"].take(range(80)), pools["truth"].take(range(100))
    scores = bootstrap_scores(gen, ref, replicates=200, seed=1)
    point = point_scores(gen, ref)
    assert set(scores) == set(point)
    for k, s in scores.items():
        assert s.estimate == pytest.approx(point[k]) and s.ci_low <= s.ci_high, k
        assert (s.n_generated, s.n_reference, s.level) == (80, 100, 0.90)
    assert scores["extent_w1_1e6km2"].ci_low > 0


def test_the_shared_reference_resample_cancels_reference_noise(pools):
    """Two big sets of one model against a small reference: the paired ratio's interval is far narrower
    than that of independently resampled references."""
    a, b = pools["model"].take(range(600)), pools["model"].take(range(600, 1200))
    ref = pools["truth"].take(range(40))
    paired = paired_effect(a, b, ref, "miz_area_w1_1e6km2", "ratio", 400, seed=0)
    rng = np.random.default_rng(0)

    def reps(f: StateFeatures) -> np.ndarray:
        w = (bootstrap_weights(f.n, 400, rng), bootstrap_weights(ref.n, 400, rng))
        return replicate_scores(f, ref, *w, groups={"areas"})["miz_area_w1_1e6km2"]

    lo, hi = interval(reps(a) / reps(b))
    assert paired.ci_low <= paired.estimate <= paired.ci_high
    assert paired.ci_high - paired.ci_low < 0.5 * (hi - lo)


# --------------------------------------------------------------------------- the rules (issue 21)
def _verdicts(pools: dict[str, StateFeatures], a: str, b: str, score: str, kind: str,
              rule: Callable[[Effect], str], draws: int, seed: int = 0, level: float = DIRECTIONAL_LEVEL) -> Counter:
    """Verdicts over ``draws`` draws of disjoint sets: N_GEN states of pools a and b, N_REF of the truth."""
    rng = np.random.default_rng(seed)
    out: Counter = Counter()
    for _ in range(draws):
        perm = rng.permutation(POOL)
        ia, ib = (perm[:N_GEN], perm[N_GEN:2 * N_GEN]) if a == b else (perm[:N_GEN], rng.permutation(POOL)[:N_GEN])
        ref = pools["truth"].take(rng.permutation(POOL)[:N_REF])
        effect = paired_effect(pools[a].take(ia), pools[b].take(ib), ref, score, kind, REPLICATES,
                               seed=int(rng.integers(2**31)), level=level)
        out[rule(effect)] += 1
    return out


def _check_null(same: Counter, draws: int = NULL_DRAWS) -> None:
    """Same distribution (issue 21): "not resolved" in at least 90 % of 50 draws."""
    assert same["not resolved"] >= 0.90 * draws, same


def test_directional_rule_on_a_miz_ratio(pools):
    """MIZ-area W1, ratio a ÷ b, paper's direction "less". Two sets of one model: "not resolved" in
    ≥ 90 % of the draws (92.6 % over 800 draws). The MIZ of b twice as wide: "reproduced"
    in ≥ 90 % of 50 draws."""
    rule = lambda e: directional(e, "less")  # noqa: E731
    _check_null(_verdicts(pools, "model", "model", "miz_area_w1_1e6km2", "ratio", rule, NULL_DRAWS))
    planted = _verdicts(pools, "model", "wide_miz", "miz_area_w1_1e6km2", "ratio", rule, PLANTED_DRAWS)
    assert planted["reproduced"] >= 0.9 * PLANTED_DRAWS, planted


def test_equivalence_rule_for_finding_1(pools):
    """Extent W1, ratio latent ÷ data space, margin ×1.25. For an equivalence claim the null "same
    distribution" *is* the claim (comparable), so two sets of one model must not be refuted: not
    "refuted" in ≥ 90 % of the draws (at n = 150 the interval is wider than the margin, so nearly all
    are "not resolved"). A planted 2× degradation (twice the extent bias): "refuted" in ≥ 90 %."""
    same = _verdicts(pools, "model", "model", "extent_w1_1e6km2", "ratio", equivalence, NULL_DRAWS,
                     level=EQUIVALENCE_LEVEL)
    planted = _verdicts(pools, "far", "model", "extent_w1_1e6km2", "ratio", equivalence, PLANTED_DRAWS,
                        level=EQUIVALENCE_LEVEL)
    assert same["refuted"] <= 0.10 * NULL_DRAWS, same
    assert planted["refuted"] >= 0.9 * PLANTED_DRAWS, planted


def test_directional_rule_on_a_difference(pools):
    """Small-scale sic spectrum ratio, difference a − b, direction "less" (finding 2: latent smooths).
    Two sets of one model: "not resolved" in ≥ 90 % of the draws (88.4 % over 800 draws,
    within the noise of 90 %); a blurred by one cell: "reproduced" in ≥ 90 % of 50 draws."""
    rule = lambda e: directional(e, "less")  # noqa: E731
    _check_null(_verdicts(pools, "model", "model", "sic_spec_ratio_small", "difference", rule, NULL_DRAWS))
    planted = _verdicts(pools, "smooth", "model", "sic_spec_ratio_small", "difference", rule, PLANTED_DRAWS)
    assert planted["reproduced"] >= 0.9 * PLANTED_DRAWS, planted


def _effect(lo: float, hi: float, kind: str = "ratio", level: float = DIRECTIONAL_LEVEL) -> Effect:
    null = 1.0 if kind == "ratio" else 0.0
    return Effect("miz_freq_rmse", kind, 0.5 * (lo + hi), lo, hi, null, 256, 300, 365, level)


def test_rule_boundaries_and_words():
    assert directional(_effect(0.5, 0.9), "less") == "reproduced"
    assert directional(_effect(0.5, 0.9), "greater") == "refuted"
    assert directional(_effect(0.9, 1.1), "less") == "not resolved"
    assert directional(_effect(-0.3, -0.1, "difference"), "less") == "reproduced"
    assert directional(_effect(math.nan, 1.2), "less") == "not resolved"
    eq = lambda lo, hi: equivalence(_effect(lo, hi, level=EQUIVALENCE_LEVEL))  # noqa: E731
    assert eq(0.85, 1.2) == "reproduced" and eq(0.85, 1.3) == "not resolved"
    assert eq(1.3, 2.0) == "refuted" and eq(0.3, 0.7) == "refuted"
    assert EQUIVALENCE_MARGIN == 1.25
    with pytest.raises(ValueError):
        equivalence(_effect(-0.1, 0.1, "difference", level=EQUIVALENCE_LEVEL))
    with pytest.raises(ValueError, match="95 % intervals"):  # a rule judges only the level it was fixed at
        directional(_effect(0.5, 0.9, level=0.90), "less")
    with pytest.raises(ValueError, match="90 % intervals"):
        equivalence(_effect(0.85, 1.2, level=0.95))
    effect = Effect("x", "ratio", 1.08, 0.93, 1.27, 1.0, 256, 300, 365, 0.90)
    assert verdict_text(effect, "not resolved") == "not resolved at n = 256: ratio 1.08 (90 % interval 0.93–1.27)"
    part = FindingPart.of(1, "extent W1 ratio", effect, "not resolved", ("ldm", "dm"), margin=EQUIVALENCE_MARGIN)
    assert part.to_dict() == {"finding": 1, "part": "extent W1 ratio", "verdict": "not resolved", "effect": 1.08,
                              "ci_low": 0.93, "ci_high": 1.27, "null": 1.0, "margin": 1.25, "n": 256,
                              "backends": ["ldm", "dm"]}


# --------------------------------------------------------------------------- floors and baselines
def test_reference_split_floor_never_scores_a_state_against_itself(pools):
    rng = np.random.default_rng(0)
    wg, wr = split_weights(50, 20, 30, rng)
    assert not np.any((wg > 0) & (wr > 0))  # disjoint
    assert np.all((wg > 0).sum(1) == 20) and np.all((wr > 0).sum(1) == 30)
    np.testing.assert_allclose(wg.sum(1), 1.0)
    np.testing.assert_allclose(wr.sum(1), 1.0)
    ref = pools["truth"].take(range(300))
    floor = reference_split_floor(ref, 60, draws=40, seed=1, groups={"areas", "miz"})
    assert floor["miz_freq_rmse"].median > 0 and floor["extent_w1_1e6km2"].low > 0
    assert floor["miz_freq_rmse"].low <= floor["miz_freq_rmse"].median <= floor["miz_freq_rmse"].high
    with pytest.raises(ValueError):
        split_weights(50, 50, 1, rng)


def test_baseline_distribution_of_another_period_lies_above_the_floor(pools):
    ref = pools["truth"].take(range(300))
    floor = reference_split_floor(ref, 60, draws=40, seed=1, groups={"areas"})
    other = baseline_distribution(pools["far"], ref, 60, draws=40, seed=2, groups={"areas"})
    assert other["extent_w1_1e6km2"].low > floor["extent_w1_1e6km2"].high
    assert (other["extent_w1_1e6km2"].n, other["extent_w1_1e6km2"].draws) == (60, 40)
