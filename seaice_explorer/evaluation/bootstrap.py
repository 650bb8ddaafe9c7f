"""Scores with their uncertainty: bootstrap intervals, paired effects between backends, noise floors.

Issue 21 ("verdicts a scientist can trust"): a score of a generated set against a reference is
reported with a 90 % percentile bootstrap interval (Efron & Tibshirani 1993, ch. 13) that resamples
both the generated and the reference states; a difference between two backends is a *paired* effect
(ratio or difference) whose replicates share one reference resample while each backend's states are
resampled on their own. Resamples are weight vectors over the per-state
:class:`~.features.StateFeatures`, so B = 1,000 replicates of every score cost seconds
(:mod:`.weighted`). The out-of-sample noise floor and a baseline period's distribution say how
small a score can be at a given n.

>>> ref = StateFeatures.of(reference_ds, "time")                          # doctest: +SKIP
>>> gen = StateFeatures.of(generated_ds, "sample", bands=ref.bands)       # doctest: +SKIP
>>> bootstrap_scores(gen, ref)["miz_freq_rmse"].ci_low                    # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from .features import StateFeatures
from .weighted import replicate_scores, score_group

log = logging.getLogger(__name__)

#: Bootstrap replicates: the Monte Carlo error of a 5 % quantile is then about 0.7 percentage points.
DEFAULT_REPLICATES = 1000
#: Two-sided interval level: each side is a one-sided test at 5 %.
DEFAULT_LEVEL = 0.90


# --------------------------------------------------------------------------- resampling
def bootstrap_weights(n: int, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """(B, n) weights of the ordinary bootstrap: multinomial counts of n draws with replacement, ÷ n
    (Efron & Tibshirani 1993, ch. 6)."""
    drawn = rng.integers(0, n, size=(replicates, n)) + n * np.arange(replicates)[:, None]  # (B, n) row-offset
    return np.bincount(drawn.ravel(), minlength=replicates * n).reshape(replicates, n) / n


def interval(replicates: np.ndarray, level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    """Percentile interval of the finite replicates, e.g. (5 %, 95 %) at level 0.90
    (Efron & Tibshirani 1993, eq. 13.5); NaN when none is finite."""
    x = np.asarray(replicates, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan"), float("nan")
    tail = 50.0 * (1.0 - level)
    lo, hi = np.percentile(x, [tail, 100.0 - tail])
    return float(lo), float(hi)


@dataclass(frozen=True)
class Score:
    """One score of a generated set against a reference, with its percentile bootstrap interval."""

    name: str
    estimate: float
    ci_low: float
    ci_high: float
    n_generated: int
    n_reference: int
    level: float = DEFAULT_LEVEL

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def bootstrap_scores(gen: StateFeatures, ref: StateFeatures, replicates: int = DEFAULT_REPLICATES, seed: int = 0,
                     level: float = DEFAULT_LEVEL, groups: Collection[str] | None = None) -> dict[str, Score]:
    """Every score with its interval; each replicate resamples the generated and the reference states
    independently (Efron & Tibshirani 1993, the two-sample bootstrap of ch. 8)."""
    rng = np.random.default_rng(seed)
    wg, wr = bootstrap_weights(gen.n, replicates, rng), bootstrap_weights(ref.n, replicates, rng)
    uniform = np.full((1, gen.n), 1.0 / gen.n), np.full((1, ref.n), 1.0 / ref.n)
    point = replicate_scores(gen, ref, *uniform, groups=groups)
    reps = replicate_scores(gen, ref, wg, wr, groups=groups)
    return {k: Score(k, float(point[k][0]), *interval(reps[k], level), gen.n, ref.n, level) for k in point}


# --------------------------------------------------------------------------- paired effects
@dataclass(frozen=True)
class Effect:
    """A paired effect of backend a against backend b on one score: a ÷ b (null 1) or a − b (null 0)."""

    name: str  # the score
    kind: Literal["ratio", "difference"]
    estimate: float
    ci_low: float
    ci_high: float
    null: float
    n_a: int
    n_b: int
    n_reference: int
    level: float = DEFAULT_LEVEL

    @property
    def n(self) -> int:
        """The smaller generated set: the n the effect is resolved (or not) at."""
        return min(self.n_a, self.n_b)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _combine(a: np.ndarray, b: np.ndarray, kind: str) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return a / b if kind == "ratio" else a - b


def paired_effects(features_a: StateFeatures, features_b: StateFeatures, ref_features: StateFeatures,
                   scores: Sequence[str], kind: Literal["ratio", "difference"] = "ratio",
                   replicates: int = DEFAULT_REPLICATES, seed: int = 0,
                   level: float = DEFAULT_LEVEL) -> dict[str, Effect]:
    """:func:`paired_effect` of several scores from one set of resamples (each score's groups computed
    once); scores that a or b does not define are left out."""
    if kind not in ("ratio", "difference"):
        raise ValueError(f"kind must be 'ratio' or 'difference', not {kind!r}")
    groups = {score_group(score) for score in scores}
    rng = np.random.default_rng(seed)
    wr = bootstrap_weights(ref_features.n, replicates, rng)
    wa, wb = bootstrap_weights(features_a.n, replicates, rng), bootstrap_weights(features_b.n, replicates, rng)
    uniform_r = np.full((1, ref_features.n), 1.0 / ref_features.n)

    def one(f: StateFeatures, w: np.ndarray | None) -> dict[str, np.ndarray]:
        weights = np.full((1, f.n), 1.0 / f.n) if w is None else w
        return replicate_scores(f, ref_features, weights, uniform_r if w is None else wr, groups=groups)

    point_a, point_b = one(features_a, None), one(features_b, None)
    reps_a, reps_b = one(features_a, wa), one(features_b, wb)
    out = {}
    for score in scores:
        if score in point_a and score in point_b:
            reps = _combine(reps_a[score], reps_b[score], kind)
            out[score] = Effect(score, kind, float(_combine(point_a[score], point_b[score], kind)[0]),
                                *interval(reps, level), 1.0 if kind == "ratio" else 0.0,
                                features_a.n, features_b.n, ref_features.n, level)
    return out


def paired_effect(features_a: StateFeatures, features_b: StateFeatures, ref_features: StateFeatures, score: str,
                  kind: Literal["ratio", "difference"] = "ratio", replicates: int = DEFAULT_REPLICATES,
                  seed: int = 0, level: float = DEFAULT_LEVEL) -> Effect:
    """Effect of a against b on ``score`` with its percentile interval: each replicate draws one
    reference resample shared by a and b, and independent resamples of a's and b's states
    (a paired two-sample bootstrap, Efron & Tibshirani 1993)."""
    found = paired_effects(features_a, features_b, ref_features, [score], kind, replicates, seed, level)
    if score not in found:
        raise KeyError(f"score {score!r} is not defined for these sets")
    return found[score]


def derived_seed(seed: int, *keys: object) -> int:
    """A fixed seed for one resampling job (e.g. a setting, a finding part), derived from the run's
    ``seed`` and names: the same run gives the same intervals, and no two jobs share their draws."""
    text = "\x1f".join(map(str, (seed, *keys))).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little")


# --------------------------------------------------------------------------- floors and baselines
@dataclass(frozen=True)
class Spread:
    """The distribution of a score over many draws of n states: median and central interval."""

    name: str
    median: float
    low: float
    high: float
    n: int
    draws: int
    level: float = DEFAULT_LEVEL

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _spreads(reps: dict[str, np.ndarray], n: int, draws: int, level: float) -> dict[str, Spread]:
    return {k: Spread(k, float(np.nanmedian(v)) if np.isfinite(v).any() else float("nan"), *interval(v, level),
                      n, draws, level) for k, v in reps.items()}


def split_weights(total: int, n: int, draws: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per draw, n of ``total`` states without replacement (weights (draws, total), 1/n each) and the
    remaining total − n states (1/(total − n) each): the two never share a state."""
    if not 0 < n < total:
        raise ValueError(f"draw between 1 and {total - 1} of {total} states, not {n}")
    chosen = np.argsort(rng.random((draws, total)), axis=1)[:, :n]  # (draws, n) distinct per row
    picked = np.zeros((draws, total), dtype=bool)
    np.put_along_axis(picked, chosen, True, axis=1)
    return picked / n, ~picked / (total - n)


def reference_split_floor(ref_features: StateFeatures, n: int, draws: int = 200, seed: int = 0,
                          level: float = DEFAULT_LEVEL, groups: Collection[str] | None = None) -> dict[str, Spread]:
    """Out-of-sample noise floor: n reference states scored against the *other* reference states,
    over many draws (median and central interval): what a perfect generator would score at n."""
    wg, wr = split_weights(ref_features.n, n, draws, np.random.default_rng(seed))
    reps = replicate_scores(ref_features, ref_features, wg, wr, draws=(n, ref_features.n - n), groups=groups)
    return _spreads(reps, n, draws, level)


def baseline_distribution(other_features: StateFeatures, ref_features: StateFeatures, n: int, draws: int = 200,
                          seed: int = 0, level: float = DEFAULT_LEVEL,
                          groups: Collection[str] | None = None) -> dict[str, Spread]:
    """Scores of n states of another period (drawn without replacement) against the whole reference,
    over many draws (median and central interval): what a climatology of that period scores at n."""
    if not 0 < n <= other_features.n:
        raise ValueError(f"draw between 1 and {other_features.n} states, not {n}")
    rng = np.random.default_rng(seed)
    chosen = np.argsort(rng.random((draws, other_features.n)), axis=1)[:, :n]
    wg = np.zeros((draws, other_features.n))
    np.put_along_axis(wg, chosen, 1.0 / n, axis=1)
    wr = np.full((draws, ref_features.n), 1.0 / ref_features.n)
    reps = replicate_scores(other_features, ref_features, wg, wr, draws=(n, ref_features.n), groups=groups)
    return _spreads(reps, n, draws, level)
