"""Scoring observation-conditioned ensembles in the hidden cells, the same way for any maker (issue 22).

An *ensemble maker* is any callable ``(obs, n, seed) -> ensemble``: ``obs`` the observed state
of one day (:func:`seaice_explorer.data.masks.observe`: NaN = unobserved), ``n`` the members
wanted (or None), ``seed`` an int, and the ensemble a Dataset on (sample, y, x). A backend's
conditioned sampler, the climatology, unconditional samples and deterministic inpainting (a
1-member ensemble, :mod:`.baselines`) are scored alike:

- :func:`score_day`: every score of :mod:`seaice_explorer.stats.probabilistic` on the hidden cells
  of one day, area-weighted by ``cell_area``: fair CRPS, IIEE of the ensemble median (km²), SPS
  (km²), rank histogram and its χ² p-value, coverage of the members' range (and the calibrated
  value (m − 1)/(m + 1)), spread, RMSE of the mean and the spread–skill ratio with the
  sqrt((m + 1)/m) correction;
- :func:`score_days`: that table over days × masks, as a Dataset;
- :func:`summarise`, :func:`paired_difference`: the mean over days with a 90 % percentile
  bootstrap interval over days (:mod:`.bootstrap`), and the paired difference of two makers;
- :func:`assimilation_days`: the tuning and report days of 2019. Every 4th day from 1 January
  (92 days, all seasons alike); of these the 3rd, 6th, 9th, … (30 days) are *tuning* days, on
  which knobs such as the observation noise or the guidance are fixed, and the other 62 are
  *report* days. The interleaving spreads both over the seasons; neighbouring tuning and report
  days are 4 days apart.

Seeds: a mask that draws (``sparse``) uses the run's ``seed`` on every day, so the masks stay
fixed; the maker gets a seed derived from the run's seed, the day and the mask
(:func:`.bootstrap.derived_seed`), so reruns repeat and no two (day, mask) share draws.

>>> days = assimilation_days()
>>> len(days["tuning"]), len(days["report"])
(30, 62)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..data import open_reference
from ..data.masks import make_mask, observe
from ..errors import SeaIceInputError
from ..stats import probabilistic as prob
from .baselines import EnsembleMaker
from .bootstrap import DEFAULT_LEVEL, DEFAULT_REPLICATES, bootstrap_weights, derived_seed, interval

log = logging.getLogger(__name__)

#: What a day is scored against by default: the held-out OSI SAF year.
TRUTH_SOURCE = "osisaf:validation"
#: Scores of :func:`score_day`, in table order (``rank_counts`` is kept apart, on dim ``rank``).
SCORES: tuple[str, ...] = ("crps", "iiee", "sps", "rank_chi2", "rank_pvalue", "coverage", "coverage_expected",
                           "spread", "rmse", "spread_skill", "members", "hidden_cells", "hidden_area")
UNITS: Mapping[str, str] = {"iiee": "km2", "sps": "km2", "hidden_area": "km2", "coverage": "1",
                            "coverage_expected": "1", "spread_skill": "1", "rank_pvalue": "1", "members": "1",
                            "hidden_cells": "1", "rank_chi2": "1"}
MaskMaker = Callable[[xr.Dataset, int], xr.DataArray]
_SEED_MOD = 2**31


# --------------------------------------------------------------------------- one day
def _one_map(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` without dims of size 1 other than the members (a selected day's ``time``)."""
    return ds.squeeze([d for d in ds.dims if d not in ("y", "x", "sample", "member") and ds.sizes[d] == 1])


def score_day(truth: xr.Dataset, hidden: xr.DataArray, ensemble: xr.Dataset, *, area: xr.DataArray | None = None,
              variable: str = "sic", seed: int = 0) -> dict[str, float | np.ndarray]:
    """Every score of ``ensemble`` against ``truth`` on the ``hidden`` ocean cells (module docstring).

    ``area`` (m², default: ``truth``'s ``cell_area``) weighs the cells. The IIEE and SPS are
    defined for ``sic`` and NaN for another ``variable``. ``rank_counts`` (m + 1 counts) breaks
    ties with ``seed``. Units: those of ``variable`` for crps, spread and rmse; km² for iiee, sps
    and hidden_area.
    """
    truth, ensemble = _one_map(truth), _one_map(ensemble)
    if variable not in truth.data_vars or variable not in ensemble.data_vars:
        raise SeaIceInputError(None, f"{variable!r} is missing from the truth or the ensemble",
                               f"Score a variable both hold ({', '.join(map(str, truth.data_vars))})")
    obs, fc = truth[variable], ensemble[variable]
    mdim = prob.member_dim_of(fc)
    w = truth["cell_area"] if area is None else area
    where = hidden.astype(bool)
    spread = prob.spread_skill(obs, fc, mdim, weights=w, where=where)
    counts = prob.rank_histogram(obs, fc, mdim, where=where, seed=seed)
    flat = prob.rank_flatness(counts)
    cov = prob.coverage(obs, fc, mdim, weights=w, where=where)
    is_sic = variable == "sic"
    scored = (where & obs.notnull() & fc.notnull().all(mdim)).values
    out: dict[str, float | np.ndarray] = {
        "crps": float(prob.fair_crps(obs, fc, mdim, weights=w, where=where)),
        "iiee": float(prob.ensemble_iiee(obs, fc, mdim, weights=w, where=where)["iiee"]) if is_sic else np.nan,
        "sps": float(prob.sps(obs, fc, mdim, weights=w, where=where)) if is_sic else np.nan,
        "rank_chi2": flat.statistic, "rank_pvalue": flat.pvalue,
        "coverage": float(cov), "coverage_expected": float(cov.attrs["expected"]),
        "spread": float(spread["spread"]), "rmse": float(spread["rmse"]), "spread_skill": float(spread["ratio"]),
        "members": float(fc.sizes[mdim]), "hidden_cells": float(scored.sum()),
        "hidden_area": float(np.asarray(w.values)[scored].sum() / prob.M2_PER_KM2),
        "rank_counts": counts.values,
    }
    return out


# --------------------------------------------------------------------------- days × masks
def assimilation_days(year: int = 2019, step_days: int = 4, tuning_every: int = 3) -> dict[str, pd.DatetimeIndex]:
    """``{"tuning": …, "report": …}``: every ``step_days``-th day of ``year`` from 1 January; each
    ``tuning_every``-th of them (the 3rd, 6th, …) is a tuning day, the rest report days."""
    days = pd.date_range(f"{year}-01-01", f"{year}-12-31", freq=f"{step_days}D")
    tuning = (np.arange(days.size) % tuning_every) == tuning_every - 1
    return {"tuning": days[tuning], "report": days[~tuning]}


def day_state(reference: xr.Dataset, day: str | pd.Timestamp) -> xr.Dataset:
    """The state of ``reference`` on the calendar date ``day`` (whatever its hour), loaded, with a scalar time."""
    dates = reference.indexes["time"].normalize()
    hit = dates.get_indexer([pd.Timestamp(day).normalize()])[0]
    if hit < 0:
        raise SeaIceInputError(None, f"no state on {pd.Timestamp(day):%Y-%m-%d} in the truth record "
                               f"({dates.min():%Y-%m-%d}..{dates.max():%Y-%m-%d})", "Pick days inside the record")
    return reference.isel(time=hit).load()


def _mask_makers(masks: Sequence[str] | Mapping[str, MaskMaker]) -> dict[str, MaskMaker]:
    if isinstance(masks, Mapping):
        return dict(masks)
    return {name: (lambda state, seed, _name=name: make_mask(_name, state, seed)) for name in masks}


def score_days(days: Sequence[str | pd.Timestamp], masks: Sequence[str] | Mapping[str, MaskMaker],
               make_ensemble: EnsembleMaker, *, truth: xr.Dataset | str = TRUTH_SOURCE, n: int | None = None,
               seed: int = 0, variable: str = "sic", label: str = "") -> xr.Dataset:
    """:func:`score_day` for every day × mask: each day's true state is observed through the mask
    (:func:`~seaice_explorer.data.masks.observe`), ``make_ensemble(obs, n, seed)`` fills it in and the
    hidden cells are scored. ``masks``: names of :data:`~seaice_explorer.data.masks.MASKS` or
    ``{name: (state, seed) -> hidden}``. Returns a Dataset of the scores on (day, mask), plus
    ``rank_counts`` on (day, mask, rank) when every ensemble has the same size."""
    reference = open_reference(truth) if isinstance(truth, str) else truth
    makers = _mask_makers(masks)
    rows: dict[str, np.ndarray] = {k: np.full((len(days), len(makers)), np.nan) for k in SCORES}
    counts: list[list[np.ndarray]] = []
    for i, day in enumerate(days):
        state = day_state(reference, day)
        counts.append([])
        for j, (name, mask_of) in enumerate(makers.items()):
            hidden = mask_of(state, seed)
            member_seed = derived_seed(seed, "ensemble", pd.Timestamp(day).date(), name) % _SEED_MOD
            ensemble = make_ensemble(observe(state, hidden), n, member_seed)
            got = score_day(state, hidden, ensemble, variable=variable, seed=member_seed)
            for k in SCORES:
                rows[k][i, j] = got[k]
            counts[-1].append(np.asarray(got["rank_counts"]))
        log.info("scored %s (%s): %s", pd.Timestamp(day).date(), label or "ensemble",
                 ", ".join(f"{m} crps {rows['crps'][i, j]:.4f}" for j, m in enumerate(makers)))
    coords = {"day": pd.DatetimeIndex([pd.Timestamp(d) for d in days]), "mask": list(makers)}
    out = xr.Dataset({k: (("day", "mask"), v, {"units": UNITS.get(k, reference[variable].attrs.get("units", ""))})
                      for k, v in rows.items()}, coords=coords)
    if len({c.size for row in counts for c in row}) == 1:
        out["rank_counts"] = (("day", "mask", "rank"), np.array(counts), {"units": "1"})
    out.attrs = {"ensemble": label, "variable": variable, "seed": seed, "members_asked": -1 if n is None else n,
                 "truth": truth if isinstance(truth, str) else str(reference.attrs.get("title", "dataset"))}
    return out


# --------------------------------------------------------------------------- over days, with intervals
def _mean_interval(values: np.ndarray, weights: np.ndarray, level: float) -> tuple[float, float, float]:
    """Mean of the finite ``values`` over days and its percentile bootstrap interval (weights (B, n))."""
    keep = np.isfinite(values)
    if not keep.any():
        return np.nan, np.nan, np.nan
    v, w = values[keep], weights[:, keep]
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = (w @ v) / w.sum(1)  # (B,) every replicate's mean over the kept days
    return (float(v.mean()), *interval(reps, level))


def summarise(scores: xr.Dataset, replicates: int = DEFAULT_REPLICATES, seed: int = 0,
              level: float = DEFAULT_LEVEL) -> xr.Dataset:
    """Each score's mean over days per mask with its percentile bootstrap interval over days
    (dim ``statistic``: estimate, ci_low, ci_high), and ``rank_pvalue_pooled``: the χ² p-value of
    the rank counts pooled over days."""
    n_days = scores.sizes["day"]
    weights = bootstrap_weights(n_days, replicates, np.random.default_rng(seed))  # (B, days), one set for all
    out = {}
    for k in SCORES:
        if k in scores:
            table = np.array([_mean_interval(scores[k].sel(mask=m).values, weights, level) for m in scores.mask.values])
            out[k] = (("mask", "statistic"), table, scores[k].attrs)
    summary = xr.Dataset(out, coords={"mask": scores.mask.values, "statistic": ["estimate", "ci_low", "ci_high"]})
    if "rank_counts" in scores:
        pooled = scores["rank_counts"].sum("day")
        summary["rank_pvalue_pooled"] = ("mask", [prob.rank_flatness(pooled.sel(mask=m)).pvalue
                                                  for m in scores.mask.values], {"units": "1"})
    summary.attrs = {**scores.attrs, "level": level, "replicates": replicates, "days": n_days,
                     "interval": "percentile bootstrap over days (Efron & Tibshirani 1993, eq. 13.5)"}
    return summary


def paired_difference(a: xr.Dataset, b: xr.Dataset, score: str, replicates: int = DEFAULT_REPLICATES,
                      seed: int = 0, level: float = DEFAULT_LEVEL) -> xr.Dataset:
    """Mean over the common days of ``a[score] − b[score]`` per mask, with a paired percentile
    bootstrap interval (one resample of days shared by both): a below 0 with its interval means
    a scores lower (better, for crps, iiee, sps) than b on those days."""
    diff = (a[score] - b[score]).dropna("day", how="all")
    weights = bootstrap_weights(diff.sizes["day"], replicates, np.random.default_rng(seed))
    table = np.array([_mean_interval(diff.sel(mask=m).values, weights, level) for m in diff.mask.values])
    return xr.Dataset({score: (("mask", "statistic"), table, a[score].attrs)},
                      coords={"mask": diff.mask.values, "statistic": ["estimate", "ci_low", "ci_high"]},
                      attrs={"effect": f"{a.attrs.get('ensemble') or 'a'} − {b.attrs.get('ensemble') or 'b'}",
                             "level": level, "replicates": replicates})
