"""The paper's three findings as effects with intervals and rules that can fail (issue 21): each rule on
planted effects, both ways, the convergence guard, the season matching of finding 2 and findings.json."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import xarray as xr
from scipy import ndimage

from seaice_explorer.evaluation.bootstrap import Effect, baseline_distribution, bootstrap_weights
from seaice_explorer.evaluation.features import StateFeatures, mean_excess
from seaice_explorer.evaluation.findings import HEADLINE_SCORES
from seaice_explorer.evaluation.rules import EQUIVALENCE_MARGIN, FindingPart
from seaice_explorer.evaluation.samples import project
from seaice_explorer.evaluation.verdicts import (
    CONVERGENCE_FACTOR,
    Contender,
    Judgement,
    Verdicts,
    finding_verdict,
    judge,
    latent_vs_data,
)
from seaice_explorer.evaluation.weighted import SEASON_BINS, matched_reference_weights, point_scores
from test_bootstrap import toy_grid, toy_states

N, REPLICATES = 100, 300  # states per planted set (the reference has 2N), bootstrap replicates
TRUTH_RADIUS = 0.9e6  # m, the ice disc of the reference's states (toy_states)


# --------------------------------------------------------------------------- planted sets
def smooth_noise(ds: xr.Dataset, sd: float, seed: int) -> xr.Dataset:
    """sic plus spatially smooth Gaussian noise (std ``sd``, correlated over ~3 cells), not clamped: a
    stand-in for a Gaussian decoder's raw mean, which misses the bounds and blurs the MIZ."""
    z = ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal(ds.sic.shape), (0, 3, 3))
    return ds.assign(sic=ds.sic + (z / z.std() * sd).astype(np.float32))


def stretch(ds: xr.Dataset, factor: float) -> xr.Dataset:
    """sic stretched about 0.5: values at the bounds go slightly beyond them (a small raw excursion)."""
    return ds.assign(sic=(ds.sic - 0.5) * factor + 0.5)


def planted(grid: xr.Dataset, n: int = N) -> dict[str, xr.Dataset]:
    """Raw sets: ``good`` like the reference (a 0.5 % stretch), ``bad`` blurred with smooth noise on sic."""
    return {"good": stretch(toy_states(grid, n, 4, radius=TRUTH_RADIUS), 1.005),
            "sharp": toy_states(grid, n, 2, radius=TRUTH_RADIUS),
            "bad": smooth_noise(toy_states(grid, n, 3, radius=TRUTH_RADIUS, blur=1.5), 0.1, 0)}


def contender(name: str, decoder: str, raw: xr.Dataset, ref: StateFeatures) -> Contender:
    """A backend of the decoder's kind with its raw set and the set clamped."""
    sets = {b: StateFeatures.of(project(raw, b), "sample", bands=ref.bands) for b in ("raw", "clamp")}
    return Contender(name, "data" if decoder == "none" else "latent", decoder, sets)


@pytest.fixture(scope="module")
def grid() -> xr.Dataset:
    return toy_grid()


@pytest.fixture(scope="module")
def ref(grid: xr.Dataset) -> StateFeatures:
    return StateFeatures.of(toy_states(grid, 2 * N, 1, dim="time", radius=TRUTH_RADIUS), "time")


@pytest.fixture(scope="module")
def sets(grid: xr.Dataset) -> dict[str, xr.Dataset]:
    return planted(grid)


def _by(verdicts: Verdicts, finding: int, *words: str) -> list[str]:
    return [j.part.verdict for j in verdicts.of(finding) if all(w in j.part.part for w in words)]


# --------------------------------------------------------------------------- features
def test_mean_excess_is_the_distance_beyond_the_bounds():
    values = np.array([[-0.2, 0.5, 1.3, np.nan], [0.0, 1.0, 0.4, 0.6]])
    np.testing.assert_allclose(mean_excess(values, 0.0, 1.0), [(0.2 + 0.3) / 3, 0.0])
    np.testing.assert_allclose(mean_excess(values, -math.inf, math.inf), [0.0, 0.0])


def test_season_matched_weights_reproduce_the_generated_season_mix(grid):
    """A reference of two seasons (big and small ice discs): weights matched to a generated set of one
    season, or of 70 % of one, give that share back, within the one quantile bin that may straddle
    the two seasons (1/``SEASON_BINS``)."""
    seasons = [toy_states(grid, 150, 5, dim="time", radius=1.2e6), toy_states(grid, 150, 6, dim="time", radius=0.5e6)]
    two = StateFeatures.of(xr.concat(seasons, "time"), "time")
    winter = np.arange(two.n) < 150
    gen = lambda *parts: StateFeatures.of(xr.concat(parts, "sample"), "sample", bands=two.bands)  # noqa: E731
    for mix, share in (((toy_states(grid, 100, 7, radius=1.2e6),), 1.0),
                       ((toy_states(grid, 100, 8, radius=0.5e6),), 0.0),
                       ((toy_states(grid, 70, 9, radius=1.2e6), toy_states(grid, 30, 10, radius=0.5e6)), 0.7)):
        w = matched_reference_weights(gen(*mix), two)
        assert w.shape == (1, two.n) and (w >= 0).all() and w.sum() == pytest.approx(1.0)
        assert abs(w[0, winter].sum() - share) <= 1.0 / SEASON_BINS, share
    # the reference against itself: every bin already matches, the weights stay uniform (also per resample)
    np.testing.assert_allclose(matched_reference_weights(two, two), 1.0 / two.n)
    wr = bootstrap_weights(two.n, 5, np.random.default_rng(0))
    np.testing.assert_allclose(matched_reference_weights(two, two, wr, wr), wr)
    # a set mostly smaller than any reference state: its weight goes to the reference's smallest extents
    # (generated weight in bins without reference states is dropped)
    summer = StateFeatures.of(seasons[1], "time")
    small = gen(toy_states(grid, 20, 11, radius=0.1e6))
    w = matched_reference_weights(small, summer)[0]
    matched = np.average(summer.extent, weights=w)
    assert w.sum() == pytest.approx(1.0) and abs(matched - small.extent.mean()) < abs(matched - summer.extent.mean())


# --------------------------------------------------------------------------- finding 1 and its guard
@pytest.fixture(scope="module")
def biased(grid: xr.Dataset, ref: StateFeatures) -> dict[str, Contender]:
    """Sets biased alike (discs 0.3 × 10⁶ m too big) and one twice as biased."""
    f = lambda seed, r: toy_states(grid, 2 * N, seed, radius=r)  # noqa: E731
    return {"data": contender("pixels", "none", f(2, 1.2e6), ref),
            "alike": contender("vae-a", "gaussian", f(3, 1.2e6), ref),
            "worse": contender("vae-b", "censored", f(4, 1.5e6), ref)}


def test_finding1_equivalence_both_ways(biased, ref):
    """Latent ÷ data space per headline score: the same bias is "comparable" (90 % interval inside
    [0.8, 1.25]); twice the bias is refuted on the extent W1, mean-map RMSE and energy distance."""
    parts = latent_vs_data(biased["data"], [biased["alike"], biased["worse"]], ref, replicates=REPLICATES, seed=0)
    assert len(parts) == 2 * len(HEADLINE_SCORES)
    alike = {j.effect.name: j.part for j in parts if j.part.backends == ("vae-a", "pixels")}
    worse = {j.effect.name: j.part for j in parts if j.part.backends == ("vae-b", "pixels")}
    assert alike["extent_w1_1e6km2"].verdict == "reproduced"
    assert sum(p.verdict == "reproduced" for p in alike.values()) >= 4
    assert all(p.verdict != "refuted" for p in alike.values())
    for score in ("extent_w1_1e6km2", "mean_rmse_norm", "energy_norm"):
        assert worse[score].verdict == "refuted" and worse[score].ci_low > EQUIVALENCE_MARGIN, score
    assert worse["extent_w1_1e6km2"].margin == EQUIVALENCE_MARGIN and worse["extent_w1_1e6km2"].n == 2 * N
    assert "vae-b/clamp ÷ pixels/raw" in worse["extent_w1_1e6km2"].part  # the censored decoder at its native bounds
    verdict = finding_verdict(list(worse.values()))  # refuted on the scores it is worse at, comparable on others
    assert verdict.startswith("mixed at n = 200") and ", 0 not resolved" in verdict and "0 refuted" not in verdict


def test_convergence_guard(biased, ref, grid):
    """A data-space model whose MIZ-area W1 exceeds 1.5 × the baseline period's median has not converged:
    every part of finding 1 is "not resolved" and says why; without a baseline, or below it, the rule judges."""
    other = StateFeatures.of(toy_states(grid, 2 * N, 9, dim="time", radius=TRUTH_RADIUS), "time")
    median = baseline_distribution(other, ref, N, draws=50, seed=0)["miz_area_w1_1e6km2"].median
    data_w1 = point_scores(biased["data"].native, ref, groups={"areas"})["miz_area_w1_1e6km2"]
    assert data_w1 > CONVERGENCE_FACTOR * median
    contenders = list(biased.values())
    guarded = judge(contenders, ref, replicates=REPLICATES, seed=0, baseline_miz_area_w1=median)
    ones = guarded.of(1)
    assert len(ones) == 2 * len(HEADLINE_SCORES) and {j.part.verdict for j in ones} == {"not resolved"}
    assert all("the data-space model has not converged" in j.part.part for j in ones)
    assert f"MIZ-area W1 {data_w1:.3g} vs 1.5 × baseline median {median:.3g}" in ones[0].part.part
    assert guarded.verdict(1).startswith("not resolved at n = ") and "has not converged" in guarded.notes[1][0]
    for baseline in (None, data_w1):  # no baseline, or the data-space model within 1.5 × its median
        judged = judge(contenders, ref, replicates=REPLICATES, seed=0, baseline_miz_area_w1=baseline)
        assert "refuted" in {j.part.verdict for j in judged.of(1)} and 1 not in judged.notes


# --------------------------------------------------------------------------- findings 2 and 3
def test_finding2_smoothing_both_ways(sets, ref):
    """S = small-band ÷ large-band power ratio against the season-matched reference: a blurred latent set
    against a sharp data-space set is "reproduced" for sic (95 % interval below 1); swapped, "refuted"."""
    sharp, blurred = sets["sharp"], sets["bad"]
    smooths = judge([contender("a", "none", sharp, ref), contender("b", "gaussian", blurred, ref)], ref,
                    replicates=REPLICATES, seed=0)
    assert _by(smooths, 2, "sic ") == ["reproduced"]
    assert smooths.of(2)[0].effect.level == 0.95 and smooths.of(2)[0].part.margin is None
    sharpens = judge([contender("a", "none", blurred, ref), contender("b", "gaussian", sharp, ref)], ref,
                     replicates=REPLICATES, seed=0)
    assert _by(sharpens, 2, "sic ") == ["refuted"] and sharpens.verdict(2) == "refuted"
    assert _by(smooths, 2, "siu ") == ["not resolved"]  # velocities are not blurred in either set


def test_finding3_censoring_both_ways(sets, ref):
    """Censored against Gaussian decoder: mass at 0 and at 1 after clamping, the MIZ at native bounds and
    the raw excursions. A reference-like censored set against a noisy Gaussian one reproduces all five
    parts; with the decoders' sets swapped, all five are refuted."""
    good, bad = sets["good"], sets["bad"]
    data = contender("d", "none", sets["sharp"], ref)
    right = judge([data, contender("g", "gaussian", bad, ref), contender("c", "censored", good, ref)], ref,
                  replicates=REPLICATES, seed=0)
    threes = right.of(3)
    assert [j.effect.name for j in threes] == ["sic_at_0_error_pct", "sic_at_1_error_pct", "miz_freq_rmse",
                                               "miz_area_w1_1e6km2", "mean_excess_norm"]
    assert [j.effect.kind for j in threes] == ["difference"] * 2 + ["ratio"] * 3
    assert right.verdict(3) == "reproduced", [j.text for j in threes]
    assert "c/clamp − g/clamp (after clamping)" in threes[0].part.part
    assert "c/clamp ÷ g/raw (native bounds)" in threes[2].part.part
    assert "c/raw ÷ g/raw (raw against raw)" in threes[4].part.part
    assert all(j.part.backends == ("c", "g") for j in threes)
    wrong = judge([data, contender("g", "gaussian", good, ref), contender("c", "censored", bad, ref)], ref,
                  replicates=REPLICATES, seed=0)
    assert {j.part.verdict for j in wrong.of(3)} == {"refuted"}, [j.text for j in wrong.of(3)]


def test_backends_are_told_apart_by_kind_and_decoder(sets, ref):
    """Names mean nothing: the first data-space backend is the baseline, whatever the order."""
    latent = contender("zz-first", "gaussian", sets["bad"], ref)
    first, second = contender("m2", "none", sets["sharp"], ref), contender("m1", "none", sets["bad"], ref)
    verdicts = judge([latent, first, second], ref, replicates=50, seed=0)
    assert {j.part.backends for j in verdicts.of(1) + verdicts.of(2)} == {("zz-first", "m2")}
    assert verdicts.verdict(3) == "not tested" and "censored decoder" in verdicts.notes[3][0]
    alone = judge([first], ref, replicates=50, seed=0)
    assert alone.judgements == () and [alone.verdict(k) for k in (1, 2, 3)] == ["not tested"] * 3


# --------------------------------------------------------------------------- words and findings.json
def _part(verdict: str, n: int = 100) -> FindingPart:
    return FindingPart(1, "x", verdict, 1.0, 0.9, 1.1, 1.0, None, n, ("a", "b"))


def test_a_finding_is_reproduced_only_when_every_part_is():
    assert finding_verdict([_part("reproduced"), _part("reproduced")]) == "reproduced"
    assert finding_verdict([_part("reproduced"), _part("refuted"), _part("not resolved")]) == (
        "mixed at n = 100: 1 reproduced, 1 refuted, 1 not resolved")  # evidence both ways is said, not summed up
    assert finding_verdict([_part("refuted"), _part("not resolved", 40)]) == "refuted"
    assert finding_verdict([_part("reproduced", 256), _part("not resolved", 40)]) == "not resolved at n = 40"
    assert finding_verdict([]) == "not tested"


def test_findings_json_objects():
    effect = Effect("miz_freq_rmse", "ratio", math.nan, math.nan, math.nan, 1.0, 4, 4, 12, 0.95)
    parts = (FindingPart.of(3, "MIZ-frequency RMSE ratio", effect, "not resolved", ("c", "g")),)
    text = json.dumps(Verdicts(tuple(Judgement(p, effect) for p in parts)).to_json())
    (obj,) = json.loads(text)
    assert list(obj) == ["finding", "part", "verdict", "effect", "ci_low", "ci_high", "null", "margin", "n", "backends"]
    assert obj["effect"] is None and obj["backends"] == ["c", "g"] and obj["n"] == 4

