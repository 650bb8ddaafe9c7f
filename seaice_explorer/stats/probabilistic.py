"""Proper scores of an ensemble against one true field, over the cells a mask selects (issue 22).

Kernels in array space, API in labelled space, with xskillscore's argument order
``f(observations, forecasts, member_dim, dim, weights)`` plus ``where``, a boolean map of the
cells scored (e.g. the hidden cells of an observation mask):

- :func:`fair_crps_map`, :func:`fair_crps`: the fair CRPS of Ferro (2014), per cell and its
  area-weighted mean;
- :func:`iiee_km2`, :func:`ensemble_iiee`: the integrated ice-edge error (Goessling et al. 2016) of
  a field's, or of the ensemble median's, 15 % edge, in km²;
- :func:`sps`: the spatial probability score (Goessling & Jung 2018), km²;
- :func:`rank_histogram`, :func:`rank_flatness`: rank counts (Hamill 2001), ties broken at
  random, and their χ² goodness of fit to a flat histogram (``scipy.stats.chisquare``);
- :func:`coverage`: the share of cells whose truth lies within the members' range;
- :func:`spread_skill`: spread, RMSE of the ensemble mean and their ratio with the (m + 1)/m
  finite-ensemble correction (Fortin et al. 2014).

``observations`` is a field (y, x); ``forecasts`` has one more dim, the members (``member`` or
``sample``, found when ``member_dim`` is None). A cell is scored where ``where`` is True, it is
ocean (``mask`` coordinate, when there is one), the truth is finite and every member is finite.
``weights`` default to the ``cell_area`` coordinate (m²), else equal weights. Areas are reported
in km² (m² × 1e-6).

>>> import numpy as np, xarray as xr
>>> obs = xr.DataArray([0.0, 0.0], dims="x")
>>> ens = xr.DataArray([[0.0, 1.0], [1.0, 1.0]], dims=("member", "x"))
>>> fair_crps_map(obs, ens).values  # x=0: (0 + 1)/2 − 2/(2·2·1) = 0; x=1: 1 − 0 = 1
array([0., 1.])
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import NamedTuple, Union

import numpy as np
import scipy.stats
import xarray as xr

from .distances import iiee
from .state import EXTENT_THRESHOLD, SPATIAL, TOL, ocean

Dims = Union[Hashable, Sequence[Hashable]]
#: Names an ensemble's member dimension goes by, in the order they are looked for.
MEMBER_DIMS: tuple[str, ...] = ("member", "sample")
M2_PER_KM2 = 1e6


# --------------------------------------------------------------------------- helpers
def member_dim_of(forecasts: xr.DataArray | xr.Dataset, member_dim: str | None = None) -> str:
    """``member_dim`` when given (checked), else the first of :data:`MEMBER_DIMS` in ``forecasts``."""
    if member_dim is not None:
        if member_dim not in forecasts.dims:
            raise ValueError(f"forecasts have dims {tuple(forecasts.dims)}, not the member dim {member_dim!r}")
        return member_dim
    found = [d for d in MEMBER_DIMS if d in forecasts.dims]
    if not found:
        raise ValueError(f"forecasts need a member dim ({' or '.join(MEMBER_DIMS)}); got {tuple(forecasts.dims)}")
    return found[0]


def _bare(da: xr.DataArray) -> xr.DataArray:
    """``da`` without its non-index coordinates (they have served; no re-alignment of lat/lon)."""
    return da.drop_vars([c for c in da.coords if c not in da.dims])


def _dims(dim: Dims) -> list[Hashable]:
    return [dim] if isinstance(dim, str) or not isinstance(dim, Sequence) else list(dim)


def _weights(observations: xr.DataArray, forecasts: xr.DataArray, weights: xr.DataArray | None) -> xr.DataArray:
    if weights is not None:
        if not isinstance(weights, xr.DataArray):
            raise TypeError("weights must be a DataArray with named dims, e.g. the cell_area coordinate")
        return _bare(weights)
    for x in (observations, forecasts):
        if "cell_area" in x.coords:
            return _bare(x.coords["cell_area"])
    return xr.ones_like(_bare(observations), dtype=np.float64)


def _valid(observations: xr.DataArray, forecasts: xr.DataArray, member_dim: str,
           where: xr.DataArray | None) -> xr.DataArray:
    """Cells scored: ``where`` ∧ ocean ∧ finite truth ∧ every member finite."""
    ok = observations.notnull() & forecasts.notnull().all(member_dim) & ocean(observations) & ocean(forecasts)
    if where is not None:
        ok = ok & _bare(where).fillna(False).astype(bool)
    return _bare(ok)


def _weighted_mean(field: xr.DataArray, valid: xr.DataArray, weights: xr.DataArray, dim: Dims) -> xr.DataArray:
    w = weights.where(valid, 0.0).fillna(0.0)
    return _bare(field).where(valid).weighted(w).mean(_dims(dim))


def _area_sum_km2(field: xr.DataArray, valid: xr.DataArray, weights: xr.DataArray, dim: Dims) -> xr.DataArray:
    w = weights.where(valid, 0.0).fillna(0.0)
    return (_bare(field).where(valid, 0.0) * w).sum(_dims(dim)) / M2_PER_KM2


# --------------------------------------------------------------------------- CRPS
def fair_crps_kernel(obs: np.ndarray, ens: np.ndarray) -> np.ndarray:
    """Fair CRPS (Ferro 2014, eq. 3) of members ``ens`` (..., m) against ``obs`` (...):
    (1/m) Σ|x_i − y| − 1/(2m(m−1)) Σ_i Σ_j |x_i − x_j|, the pair sum in O(m log m) from the sorted
    members, Σ_i Σ_j |x_i − x_j| = 2 Σ_k (2k − m + 1) x_(k). For m = 1 the correction is undefined
    and the CRPS of a point forecast, |x − y|, is returned."""
    ens = np.asarray(ens, dtype=np.float64)
    m = ens.shape[-1]
    skill = np.abs(ens - np.asarray(obs, dtype=np.float64)[..., None]).mean(-1)
    if m == 1:
        return skill
    x = np.sort(ens, axis=-1)  # (..., m)
    pair_sum = 2.0 * (x * (2.0 * np.arange(m) - m + 1.0)).sum(-1)
    return skill - pair_sum / (2.0 * m * (m - 1))


def fair_crps_map(observations: xr.DataArray, forecasts: xr.DataArray, member_dim: str | None = None,
                  where: xr.DataArray | None = None) -> xr.DataArray:
    """Per-cell fair CRPS (Ferro 2014) of the members along ``member_dim``; NaN outside the scored cells."""
    mdim = member_dim_of(forecasts, member_dim)
    out = xr.apply_ufunc(fair_crps_kernel, _bare(observations), _bare(forecasts),
                         input_core_dims=[[], [mdim]], dask="parallelized", output_dtypes=[np.float64])
    out = out.where(_valid(observations, forecasts, mdim, where))
    out.name = "crps"
    out.attrs = {"long_name": "fair CRPS (Ferro 2014)", "units": observations.attrs.get("units", ""),
                 "members": forecasts.sizes[mdim]}
    return out


def fair_crps(observations: xr.DataArray, forecasts: xr.DataArray, member_dim: str | None = None,
              dim: Dims = SPATIAL, weights: xr.DataArray | None = None,
              where: xr.DataArray | None = None) -> xr.DataArray:
    """Area-weighted mean over ``dim`` of :func:`fair_crps_map` (Ferro 2014) on the scored cells."""
    mdim = member_dim_of(forecasts, member_dim)
    cells = fair_crps_map(observations, forecasts, mdim, where)
    out = _weighted_mean(cells, cells.notnull(), _weights(observations, forecasts, weights), dim)
    out.name = "crps"
    out.attrs = {**cells.attrs, "long_name": "area-weighted mean fair CRPS (Ferro 2014)"}
    return out


# --------------------------------------------------------------------------- ice edge
def iiee_km2(field: xr.DataArray, truth: xr.DataArray, dim: Dims = SPATIAL, weights: xr.DataArray | None = None,
             where: xr.DataArray | None = None, threshold: float = EXTENT_THRESHOLD) -> xr.Dataset:
    """Integrated ice-edge error (Goessling et al. 2016) of ``field``'s edge against ``truth``'s, in km²,
    on the cells of ``where``: the area where one is ≥ ``threshold`` and the other not, with its
    over/underestimate, absolute extent error and misplacement parts (:func:`.distances.iiee`).
    ``weights`` are areas in m² (default: ``cell_area``)."""
    if where is not None:
        keep = _bare(where).fillna(False).astype(bool)
        field, truth = field.where(keep), truth.where(keep)
    if weights is None and "cell_area" not in field.coords and "cell_area" not in truth.coords:
        weights = xr.ones_like(_bare(truth), dtype=np.float64)
    out = iiee(field, truth, dim, weights, threshold=threshold) / M2_PER_KM2
    for name in out.data_vars:
        out[name].attrs = {"units": "km2", "long_name": f"{name} (Goessling et al. 2016)"}
    out.attrs = {"threshold": threshold}
    return out


def ensemble_iiee(observations: xr.DataArray, forecasts: xr.DataArray, member_dim: str | None = None,
                  dim: Dims = SPATIAL, weights: xr.DataArray | None = None, where: xr.DataArray | None = None,
                  threshold: float = EXTENT_THRESHOLD) -> xr.Dataset:
    """:func:`iiee_km2` of the ensemble median (per cell, along ``member_dim``) against the truth."""
    mdim = member_dim_of(forecasts, member_dim)
    median = forecasts.median(mdim, skipna=False)
    return iiee_km2(median, observations, dim, weights, where, threshold)


def sps(observations: xr.DataArray, forecasts: xr.DataArray, member_dim: str | None = None,
        dim: Dims = SPATIAL, weights: xr.DataArray | None = None, where: xr.DataArray | None = None,
        threshold: float = EXTENT_THRESHOLD) -> xr.DataArray:
    """Spatial probability score (Goessling & Jung 2018, eq. 1), km²: Σ A (P − O)² over the scored
    cells, P the members' share with sic ≥ ``threshold``, O = [truth ≥ ``threshold``]. For one
    member it is the IIEE."""
    mdim = member_dim_of(forecasts, member_dim)
    prob = (forecasts >= threshold - TOL).mean(mdim)
    hit = (observations >= threshold - TOL).astype(np.float64)
    valid = _valid(observations, forecasts, mdim, where)
    out = _area_sum_km2((_bare(prob) - _bare(hit)) ** 2, valid, _weights(observations, forecasts, weights), dim)
    out.name = "sps"
    out.attrs = {"units": "km2", "long_name": "spatial probability score (Goessling & Jung 2018)",
                 "threshold": threshold}
    return out


# --------------------------------------------------------------------------- calibration
def rank_kernel(obs: np.ndarray, ens: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rank (0..m) of each ``obs`` (N,) among its members ``ens`` (N, m): the count of members below
    it plus a uniform draw from 0..(count of members equal to it), so ties spread evenly."""
    below = (ens < obs[:, None]).sum(1)
    ties = (ens == obs[:, None]).sum(1)
    return below + rng.integers(0, ties + 1)


def rank_histogram(observations: xr.DataArray, forecasts: xr.DataArray, member_dim: str | None = None,
                   where: xr.DataArray | None = None, seed: int = 0) -> xr.DataArray:
    """Counts (dim ``rank``, 0..m) of the truth's rank among the members over every scored cell (and
    every other dim), unweighted (Hamill 2001); ties broken at random with ``numpy.random.default_rng(seed)``."""
    mdim = member_dim_of(forecasts, member_dim)
    valid = _valid(observations, forecasts, mdim, where)
    fc = _bare(forecasts)
    obs = _bare(observations).broadcast_like(fc.isel({mdim: 0}, drop=True))  # every dim but the members
    keep = valid.broadcast_like(obs).transpose(*obs.dims).values.ravel()
    m = fc.sizes[mdim]
    ens = fc.transpose(*obs.dims, mdim).values.reshape(-1, m)[keep]  # (N, m)
    ranks = rank_kernel(obs.values.ravel()[keep], ens, np.random.default_rng(seed))
    counts = np.bincount(ranks, minlength=m + 1)
    return xr.DataArray(counts, dims="rank", coords={"rank": np.arange(m + 1)}, name="rank_histogram",
                        attrs={"long_name": "rank histogram counts", "units": "1", "members": m, "seed": seed})


class Flatness(NamedTuple):
    """χ² goodness of fit of rank counts to a flat histogram (``scipy.stats.chisquare``)."""

    statistic: float
    pvalue: float
    n: int


def rank_flatness(counts: xr.DataArray | np.ndarray) -> Flatness:
    """χ² test that ``counts`` are flat. Cells of one map are correlated, so the p-value of a
    large, spatially correlated pool is a flatness index rather than a calibrated test."""
    c = np.asarray(counts.values if isinstance(counts, xr.DataArray) else counts, dtype=np.float64)
    if c.sum() == 0 or c.size < 2:
        return Flatness(float("nan"), float("nan"), int(c.sum()))
    res = scipy.stats.chisquare(c)
    return Flatness(float(res.statistic), float(res.pvalue), int(c.sum()))


def coverage(observations: xr.DataArray, forecasts: xr.DataArray, member_dim: str | None = None,
             dim: Dims = SPATIAL, weights: xr.DataArray | None = None,
             where: xr.DataArray | None = None) -> xr.DataArray:
    """Area-weighted share of the scored cells with min ≤ truth ≤ max over the members; a calibrated
    m-member ensemble covers (m − 1)/(m + 1) (attribute ``expected``)."""
    mdim = member_dim_of(forecasts, member_dim)
    inside = (_bare(forecasts).min(mdim) <= _bare(observations)) & (_bare(observations) <= _bare(forecasts).max(mdim))
    valid = _valid(observations, forecasts, mdim, where)
    out = _weighted_mean(inside.astype(np.float64), valid, _weights(observations, forecasts, weights), dim)
    m = forecasts.sizes[mdim]
    out.name = "coverage"
    out.attrs = {"units": "1", "long_name": "share of cells inside the members' range", "members": m,
                 "expected": (m - 1) / (m + 1)}
    return out


def spread_skill(observations: xr.DataArray, forecasts: xr.DataArray, member_dim: str | None = None,
                 dim: Dims = SPATIAL, weights: xr.DataArray | None = None,
                 where: xr.DataArray | None = None) -> xr.Dataset:
    """Spread, skill and their ratio over the scored cells (Fortin et al. 2014, eq. 4): ``spread`` =
    sqrt(area mean of the unbiased (ddof = 1) member variance), ``rmse`` = area-weighted RMSE of the
    member mean, ``ratio`` = sqrt((m + 1)/m) · spread / rmse, which is 1 for a calibrated ensemble.
    NaN spread and ratio for one member."""
    mdim = member_dim_of(forecasts, member_dim)
    m = forecasts.sizes[mdim]
    valid = _valid(observations, forecasts, mdim, where)
    w = _weights(observations, forecasts, weights)
    fc = _bare(forecasts)
    var = fc.var(mdim, ddof=1) if m > 1 else xr.full_like(fc.isel({mdim: 0}), np.nan, dtype=np.float64)
    spread = np.sqrt(_weighted_mean(var, valid, w, dim))
    rmse = np.sqrt(_weighted_mean((fc.mean(mdim) - _bare(observations)) ** 2, valid, w, dim))
    ratio = np.sqrt((m + 1) / m) * spread / rmse.where(rmse > 0)
    units = observations.attrs.get("units", "")
    return xr.Dataset({
        "spread": spread.assign_attrs(units=units, long_name="sqrt of the mean member variance (ddof=1)"),
        "rmse": rmse.assign_attrs(units=units, long_name="RMSE of the member mean"),
        "ratio": ratio.assign_attrs(units="1", long_name="spread-skill ratio, sqrt((m+1)/m) spread / rmse"),
    }, attrs={"members": m, "correction": "sqrt((m+1)/m) (Fortin et al. 2014)"})
