"""Baselines an observation-conditioned ensemble must beat (issue 22): climatology and inpainting.

- :func:`climatology_ensemble`: the states of the target's day of year ± 15 days in 2016–2018 of
  the bundled OSI SAF record (``open_reference("osisaf:train")``), one member per day. The window
  is cyclic in the calendar (31 December and 1 January are one day apart) and counted in days,
  so every target day draws from 3 × 31 = 93 days (a 5 January draws on 21 December to
  20 January of each winter in the record); no observation is used.
- :func:`harmonic_inpaint`: a deterministic fill of the unobserved (NaN) ocean cells from the
  observed ones by the discrete Laplace equation (5-point stencil) with the observed cells as
  Dirichlet values and no flux across the coast or the grid edge, solved as one sparse linear
  system (``scipy.sparse.linalg.spsolve``; no scikit-image). Each hidden cell becomes the mean of
  its ocean neighbours, so the fill is within the range of the observed values (maximum principle)
  and is clipped to the variable's bounds all the same; land stays NaN. A sea with no observed cell
  at all takes the mean of the observed ocean cells.

:func:`climatology_maker` and :func:`inpainting_maker` wrap both as ensemble makers
``(obs, n, seed) -> ensemble (sample, y, x)`` for :func:`.assimilation_scores.score_days`
(inpainting is a 1-member "ensemble").

>>> ens = climatology_ensemble("2019-03-01")  # doctest: +SKIP
>>> ens.sizes["sample"], str(ens.time.dt.strftime("%Y-%m-%d")[0].item())  # doctest: +SKIP
(93, '2016-02-15')
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.sparse
import scipy.sparse.linalg
import xarray as xr
from scipy import ndimage

from ..data import open_reference
from ..data.masks import ocean_cells
from ..errors import SeaIceInputError
from ..variables import VARIABLES

log = logging.getLogger(__name__)

#: The record the climatology draws from: 2016–2018 of the bundled OSI SAF data set.
CLIMATOLOGY_SOURCE = "osisaf:train"
#: Half-width (days) of the day-of-year window of the climatology.
CLIMATOLOGY_WINDOW_DAYS = 15
#: An ensemble maker: (observed state, members wanted or None for all, seed) -> (sample, y, x).
EnsembleMaker = Callable[[xr.Dataset, int | None, int], xr.Dataset]
_NEIGHBOURS = ((-1, 0), (1, 0), (0, -1), (0, 1))


# --------------------------------------------------------------------------- climatology
def _anchor(years: np.ndarray, day: pd.Timestamp) -> np.ndarray:
    """``day``'s month and day in each of ``years`` as datetime64[D] (29 February -> 28 in common years)."""
    leap = (years % 4 == 0) & ((years % 100 != 0) | (years % 400 == 0))
    dd = np.where((day.month == 2) & (day.day == 29) & ~leap, 28, day.day)
    months = (years - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (day.month - 1)
    return months.astype("datetime64[D]") + (dd - 1)


def calendar_distance(dates: pd.DatetimeIndex | np.ndarray, day: str | pd.Timestamp) -> np.ndarray:
    """Days between each of ``dates`` and ``day``'s day of year, cyclically (31 Dec to 1 Jan is 1)."""
    dates = pd.DatetimeIndex(dates)
    day = pd.Timestamp(day)
    years = dates.year.to_numpy()
    dd = dates.to_numpy().astype("datetime64[D]")
    gaps = [np.abs((dd - _anchor(years + k, day)).astype(np.int64)) for k in (-1, 0, 1)]
    return np.min(gaps, axis=0)


def climatology_dates(day: str | pd.Timestamp, available: pd.DatetimeIndex | np.ndarray,
                      window_days: int = CLIMATOLOGY_WINDOW_DAYS) -> pd.DatetimeIndex:
    """The ``available`` dates within ± ``window_days`` of ``day``'s day of year (cyclic)."""
    available = pd.DatetimeIndex(available)
    return available[calendar_distance(available, day) <= window_days]


def climatology_ensemble(day: str | pd.Timestamp, reference: xr.Dataset | str = CLIMATOLOGY_SOURCE,
                         window_days: int = CLIMATOLOGY_WINDOW_DAYS) -> xr.Dataset:
    """The states of ``reference`` (default: OSI SAF 2016–2018) within ± ``window_days`` of ``day``'s
    day of year, as an ensemble on dim ``sample`` with their dates in the coordinate ``time``."""
    ref = open_reference(reference) if isinstance(reference, str) else reference
    if "time" not in ref.indexes:
        raise SeaIceInputError(str(reference), "the climatology's reference has no time axis",
                               "Pass a record of daily states, e.g. 'osisaf:train'")
    times = ref.indexes["time"]
    chosen = np.flatnonzero(calendar_distance(times, day) <= window_days)
    if chosen.size == 0:
        raise SeaIceInputError(str(reference), f"no day within ±{window_days} days of {pd.Timestamp(day):%m-%d}",
                               "Pass a record that covers the season")
    names = [n for n in ref.data_vars if n in VARIABLES]
    ens = ref[names].isel(time=chosen).load()
    ens = ens.drop_indexes("time").rename_dims(time="sample").assign_coords(sample=np.arange(chosen.size))
    ens.attrs = {**ref.attrs, "ensemble": "climatology",
                 "climatology": f"{reference if isinstance(reference, str) else 'reference'} days within "
                                f"±{window_days} days of {pd.Timestamp(day):%m-%d} (cyclic day of year)"}
    log.debug("climatology of %s: %d members", pd.Timestamp(day).date(), chosen.size)
    return ens


def observation_day(obs: xr.Dataset) -> pd.Timestamp:
    """The date of an observed state: its (scalar or length-1) ``time`` coordinate."""
    if "time" not in obs.coords or obs["time"].size != 1:
        raise SeaIceInputError(None, "the observed state carries no single date (time coordinate)",
                               "Keep the time coordinate of the selected day, e.g. ds.sel(time='2019-03-01')")
    return pd.Timestamp(obs["time"].values.ravel()[0])


def climatology_maker(reference: xr.Dataset | str = CLIMATOLOGY_SOURCE,
                      window_days: int = CLIMATOLOGY_WINDOW_DAYS) -> EnsembleMaker:
    """An ensemble maker for :func:`climatology_ensemble` at the observed day; ``n`` members drawn
    without replacement with ``seed`` (all of them when ``n`` is None or larger). The reference is opened once."""
    ref = open_reference(reference) if isinstance(reference, str) else reference

    def make(obs: xr.Dataset, n: int | None, seed: int) -> xr.Dataset:
        ens = climatology_ensemble(observation_day(obs), ref, window_days)
        if n is not None and n < ens.sizes["sample"]:
            pick = np.sort(np.random.default_rng(seed).choice(ens.sizes["sample"], size=n, replace=False))
            ens = ens.isel(sample=pick).assign_coords(sample=np.arange(n))
        return ens

    return make


# --------------------------------------------------------------------------- inpainting
def harmonic_fill(values: np.ndarray, domain: np.ndarray) -> np.ndarray:
    """Fill the NaN cells of ``values`` (H, W) inside ``domain`` (H, W bool) with the discrete
    harmonic interpolant: 4 u_i = Σ of its domain 4-neighbours' values (fewer at the coast: zero
    flux), observed cells fixed. Cells outside ``domain`` come back NaN."""
    values = np.asarray(values, dtype=np.float64)
    domain = np.asarray(domain, dtype=bool)
    known = domain & np.isfinite(values)
    unknown = domain & ~known
    out = np.where(known, values, np.nan)
    labels, n_seas = ndimage.label(domain)  # 4-connected seas
    seen = np.zeros(n_seas + 1, dtype=bool)
    seen[labels[known]] = True
    blind = unknown & ~seen[labels]  # a sea without any observation: no boundary value
    if blind.any():
        out[blind] = values[known].mean() if known.any() else np.nan
        unknown &= ~blind
    n = int(unknown.sum())
    if n == 0:
        return out
    ny, nx = values.shape
    index = np.full((ny, nx), -1, dtype=np.int64)
    index[unknown] = np.arange(n)
    diag, rhs = np.zeros(n), np.zeros(n)
    rows, cols = [], []
    padded = np.pad(domain, 1)
    for di, dj in _NEIGHBOURS:
        link = unknown & padded[1 + di:1 + di + ny, 1 + dj:1 + dj + nx]
        ii, jj = np.nonzero(link)
        me, ni, nj = index[ii, jj], ii + di, jj + dj
        np.add.at(diag, me, 1.0)
        inner = unknown[ni, nj]
        rows.append(me[inner])
        cols.append(index[ni[inner], nj[inner]])
        np.add.at(rhs, me[~inner], values[ni[~inner], nj[~inner]])
    rows_all, cols_all = np.concatenate(rows), np.concatenate(cols)
    lap = scipy.sparse.csr_matrix((-np.ones(rows_all.size), (rows_all, cols_all)), shape=(n, n))
    lap = lap + scipy.sparse.diags(diag)
    out[unknown] = scipy.sparse.linalg.spsolve(lap.tocsc(), rhs)
    return out


def harmonic_inpaint(obs: xr.Dataset) -> xr.Dataset:
    """``obs`` with every NaN ocean cell of each map variable filled by :func:`harmonic_fill`,
    clipped to the variable's bounds (``variables.VARIABLES``); land stays NaN."""
    domain = ocean_cells(obs)
    out = obs.copy()
    for name, da in obs.data_vars.items():
        if not {"y", "x"} <= set(da.dims):
            continue
        filled = xr.apply_ufunc(harmonic_fill, da, kwargs={"domain": domain}, input_core_dims=[["y", "x"]],
                                output_core_dims=[["y", "x"]], vectorize=True).transpose(*da.dims)
        if name in VARIABLES:
            filled = filled.clip(VARIABLES[name].lower, VARIABLES[name].upper)
        out[name] = filled.astype(da.dtype).assign_attrs(da.attrs)
    out.attrs["inpainting"] = "harmonic (discrete Laplace, observed cells fixed, no flux at the coast), clipped"
    return out


def inpainting_maker() -> EnsembleMaker:
    """An ensemble maker for :func:`harmonic_inpaint`: one deterministic member whatever ``n`` and ``seed``."""

    def make(obs: xr.Dataset, n: int | None, seed: int) -> xr.Dataset:
        filled = harmonic_inpaint(obs)
        if filled.sizes.get("time") == 1:  # an observed day (time, y, x): the member is its one map
            filled = filled.isel(time=0)
        return filled.expand_dims(sample=[0])

    return make
