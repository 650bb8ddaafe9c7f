"""Means over days with intervals, and the targets of issue 22 §3 judged by their intervals.

Every number of the assimilation report is a mean over days with a 90 % percentile bootstrap
interval over days (Efron & Tibshirani 1993, eq. 13.5; :mod:`.bootstrap`): :func:`mean_ci`. A ratio
of two makers is the ratio of their day-means with the days resampled jointly (paired,
:func:`ratio_ci`); a difference likewise (:func:`diff_ci`). Only days where both are finite count.

A :class:`Target` is a band a score must lie in. :meth:`Target.judge` says

- ``met`` when the whole interval lies inside the band,
- ``missed`` when the whole interval lies outside it,
- ``not resolved`` otherwise (more days are needed, not a verdict).

>>> TARGETS["crps_ratio"].judge(0.6, 0.75)
'met'
>>> TARGETS["coverage"].judge(0.70, 0.85)
'not resolved'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np

from .bootstrap import DEFAULT_LEVEL, DEFAULT_REPLICATES, bootstrap_weights, interval

Verdict = Literal["met", "missed", "not resolved"]


@dataclass(frozen=True)
class Estimate:
    """A mean over ``days`` days with its percentile bootstrap interval (NaN when no day counts)."""

    estimate: float
    ci_low: float
    ci_high: float
    days: int
    level: float = DEFAULT_LEVEL

    def text(self, digits: int = 3, percent: bool = False) -> str:
        """``0.512 [0.47, 0.55]`` (or in % with ``percent``); ``–`` when there is no number."""
        if not math.isfinite(self.estimate):
            return "–"
        f = (lambda v: f"{100 * v:.1f} %") if percent else (lambda v: f"{v:.{digits}g}")
        if not (math.isfinite(self.ci_low) and math.isfinite(self.ci_high)):
            return f(self.estimate)
        return f"{f(self.estimate)} [{f(self.ci_low)}, {f(self.ci_high)}]"

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


NAN = Estimate(float("nan"), float("nan"), float("nan"), 0)


def _resampled(stat, arrays: tuple[np.ndarray, ...], replicates: int, seed: int, level: float) -> Estimate:
    keep = np.logical_and.reduce([np.isfinite(a) for a in arrays])
    k = int(keep.sum())
    if k == 0:
        return NAN
    kept = [np.asarray(a, dtype=np.float64)[keep] for a in arrays]
    uniform = np.full((1, k), 1.0 / k)
    weights = bootstrap_weights(k, replicates, np.random.default_rng(seed))  # (B, days)
    with np.errstate(invalid="ignore", divide="ignore"):
        point = float(stat(uniform, *kept)[0])
        lo, hi = interval(stat(weights, *kept), level) if k > 1 else (float("nan"), float("nan"))
    return Estimate(point, lo, hi, k, level)


def mean_ci(values: np.ndarray, replicates: int = DEFAULT_REPLICATES, seed: int = 0,
            level: float = DEFAULT_LEVEL) -> Estimate:
    """Mean of the finite ``values`` (one per day) and its bootstrap interval over days."""
    return _resampled(lambda w, v: w @ v / w.sum(1), (np.asarray(values),), replicates, seed, level)


def ratio_ci(a: np.ndarray, b: np.ndarray, replicates: int = DEFAULT_REPLICATES, seed: int = 0,
             level: float = DEFAULT_LEVEL) -> Estimate:
    """mean(a) ÷ mean(b) over the days both are finite, days resampled jointly (paired)."""
    return _resampled(lambda w, x, y: (w @ x) / (w @ y), (np.asarray(a), np.asarray(b)), replicates, seed, level)


def diff_ci(a: np.ndarray, b: np.ndarray, replicates: int = DEFAULT_REPLICATES, seed: int = 0,
            level: float = DEFAULT_LEVEL) -> Estimate:
    """mean(a − b) over the days both are finite, days resampled jointly (paired)."""
    return _resampled(lambda w, x, y: (w @ (x - y)) / w.sum(1), (np.asarray(a), np.asarray(b)), replicates, seed,
                      level)


@dataclass(frozen=True)
class Target:
    """A score's target band [low, high] (None: unbounded on that side) and what it is written as."""

    name: str
    low: float | None
    high: float | None
    text: str

    def judge(self, ci_low: float, ci_high: float) -> Verdict:
        """``met`` when [ci_low, ci_high] lies inside the band, ``missed`` when wholly outside, else
        ``not resolved`` (also for a missing interval)."""
        if not (math.isfinite(ci_low) and math.isfinite(ci_high)):
            return "not resolved"
        low = -math.inf if self.low is None else self.low
        high = math.inf if self.high is None else self.high
        if low <= ci_low and ci_high <= high:
            return "met"
        if ci_high < low or ci_low > high:
            return "missed"
        return "not resolved"


#: The targets of issue 22 §3, fixed before any report day was scored.
TARGETS: Mapping[str, Target] = MappingProxyType({
    "crps_ratio": Target("CRPS ÷ climatological ensemble's CRPS", None, 0.8, "≤ 0.8"),
    "iiee_ratio": Target("IIEE ÷ deterministic inpainting's IIEE", None, 0.9, "≤ 0.9"),
    "coverage": Target("coverage of the members' range", 0.80, 0.95, "80–95 %"),
})


def dispersion(est: Estimate, calibrated: float) -> str:
    """Where an interval of coverage or spread–skill lies against the ``calibrated`` value: ``under-dispersed``
    (wholly below), ``over-dispersed`` (wholly above), ``consistent with calibration`` (contains it), or
    ``not resolved`` without an interval."""
    if not (math.isfinite(est.ci_low) and math.isfinite(est.ci_high)):
        return "not resolved"
    if est.ci_high < calibrated:
        return "under-dispersed"
    if est.ci_low > calibrated:
        return "over-dispersed"
    return "consistent with calibration"


def effect_word(est: Estimate) -> str:
    """A paired difference a − b of a lower-is-better score: ``helps`` (interval below 0), ``hurts``
    (above 0) or ``not resolved``."""
    if not (math.isfinite(est.ci_low) and math.isfinite(est.ci_high)):
        return "not resolved"
    if est.ci_high < 0:
        return "helps"
    if est.ci_low > 0:
        return "hurts"
    return "not resolved"
