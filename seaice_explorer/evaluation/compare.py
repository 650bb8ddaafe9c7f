"""Scores of one generated set against a reference set: one row of the ``evaluate`` table.

Finn et al. 2024 (arXiv 2406.18417, Sec. 4) compare generated and reference states by their
extent and MIZ-area distributions, MIZ-frequency maps, mean and spread maps, marginal
distributions, power spectra and bound violations. This module computes all of them for one set
(dim ``sample`` for generated states, ``time`` for reference states) against a precomputed
:class:`ReferenceSummary`, so the reference work is done once. Definitions are those of
:mod:`.state`, :mod:`.compare` and :mod:`.spectra`; only the marginal distances use a faster,
exact evaluation (:func:`ecdf_distances`) on the big reference set.

Units in the table: areas in 10⁶ km², map RMSEs and energy distances in the variable's units,
``*_norm`` columns divided by the variable table's normalisation std (``VARIABLES[v].std``) and
averaged over variables, percentages of ocean cells, spectrum ratios unitless.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..variables import STATE_VARIABLES, VARIABLES
from ..stats import compare, state
from ..stats.spectra import power_spectrum

M2_TO_1E6KM2 = 1e-12


# --------------------------------------------------------------------------- marginal distances
@dataclass(frozen=True)
class ECDF:
    """Empirical distribution of a 1-D sample: sorted distinct values and cumulative fractions."""

    values: np.ndarray  # (K,) sorted distinct values
    cdf: np.ndarray  # (K,) fraction of the sample ≤ values[k]

    @classmethod
    def of(cls, x: np.ndarray) -> ECDF:
        x = np.asarray(x, dtype=np.float64).ravel()
        x = x[np.isfinite(x)]
        if x.size == 0:
            raise ValueError("empty sample (all values NaN or none given)")
        values, counts = np.unique(x, return_counts=True)
        return cls(values, np.cumsum(counts) / x.size)

    def __call__(self, t: np.ndarray) -> np.ndarray:
        """F(t) = fraction of the sample ≤ t."""
        idx = np.searchsorted(self.values, t, side="right")
        return np.where(idx > 0, self.cdf[np.maximum(idx - 1, 0)], 0.0)


def ecdf_distances(a: ECDF, b: ECDF) -> tuple[float, float]:
    """(energy distance, W1) of two samples from their ECDFs, exactly as
    :func:`compare.energy_distance` (sqrt(2 ∫ (F_a − F_b)² dt)) and :func:`compare.wasserstein1`
    (∫ |F_a − F_b| dt): both integrands are step functions that change only at sample values."""
    grid = np.union1d(a.values, b.values)
    gap = np.abs(a(grid[:-1]) - b(grid[:-1]))
    width = np.diff(grid)
    return float(np.sqrt(2.0 * np.sum(gap**2 * width))), float(np.sum(gap * width))


def ocean_values(ds: xr.Dataset, name: str) -> np.ndarray:
    """All finite ocean values of one variable, flattened."""
    da = ds[name]
    return np.asarray(da.where(state.ocean(da)).values, dtype=np.float64).ravel()


# --------------------------------------------------------------------------- reference
@dataclass(frozen=True)
class SetSummary:
    """Everything the table, maps and figures need from one set of states."""

    extent: np.ndarray  # (N,) m²
    miz_area: np.ndarray  # (N,) m²
    miz_frequency: xr.DataArray  # (y, x)
    maps: xr.Dataset  # per variable (statistic=[mean, std], y, x)
    spectrum: xr.Dataset  # per variable mean spectrum (wavenumber,)
    row: dict[str, float]  # the per-set columns (extent, MIZ, bounds)


@dataclass(frozen=True)
class ReferenceSummary:
    """The reference set, summarised once."""

    summary: SetSummary
    variables: tuple[str, ...]
    ecdfs: dict[str, ECDF]
    bands: list[tuple[float, float]]
    band_power: xr.Dataset  # per variable (band,)
    n: int


def _set_row(ds: xr.Dataset, dim: str, ext: np.ndarray, miz: np.ndarray) -> dict[str, float]:
    """Columns of one set on its own: extent/MIZ statistics and bound fractions (%)."""
    p10, p90 = np.percentile(ext, [10, 90]) * M2_TO_1E6KM2
    row = {
        "n": float(ds.sizes[dim]),
        "extent_mean_1e6km2": float(ext.mean()) * M2_TO_1E6KM2,
        "extent_p10_1e6km2": float(p10),
        "extent_p90_1e6km2": float(p90),
        "miz_area_mean_1e6km2": float(miz.mean()) * M2_TO_1E6KM2,
    }
    fr = state.bound_fractions(ds).mean(dim)
    bounded = [v for v in VARIABLES if VARIABLES[v].bounded and v in ds.data_vars]
    vio = []
    for v in bounded:
        beyond = sum(float(fr[k]) for k in (f"{v}_below_lower", f"{v}_above_upper") if k in fr)
        row[f"{v}_violation_pct"] = 100.0 * beyond
        vio.append(beyond)
    row["violations_pct"] = 100.0 * float(np.mean(vio)) if vio else math.nan
    if "sic" in ds.data_vars:
        row["sic_at_bounds_pct"] = 100.0 * float(fr["sic_at_lower"] + fr["sic_at_upper"])
    return row


def summarise_set(ds: xr.Dataset, dim: str, variables: Sequence[str]) -> SetSummary:
    """Extent, MIZ area, MIZ frequency, mean/std maps, mean spectra and set columns of ``ds``."""
    ext = np.asarray(state.extent(ds).values, dtype=np.float64)
    miz = np.asarray(state.miz_area(ds).values, dtype=np.float64)
    return SetSummary(
        extent=ext,
        miz_area=miz,
        miz_frequency=compare.miz_frequency(ds, dim),
        maps=compare.mean_std_maps(ds, dim, variables),
        spectrum=power_spectrum(ds, list(variables)).mean(dim),
        row=_set_row(ds, dim, ext, miz),
    )


def summarise_reference(ref: xr.Dataset, dim: str = "time", variables: Sequence[str] | None = None) -> ReferenceSummary:
    """Summarise the reference states (all of ``dim``) once, for :func:`score_set`."""
    ref = ref.load()
    names = tuple(v for v in (variables or STATE_VARIABLES) if v in ref.data_vars)
    summary = summarise_set(ref, dim, names)
    bands = compare.default_bands(ref)
    bp = xr.Dataset({v: compare.band_power(summary.spectrum[v], bands) for v in names})
    return ReferenceSummary(summary, names, {v: ECDF.of(ocean_values(ref, v)) for v in names}, bands, bp,
                            int(ref.sizes[dim]))


def small_band_label(ref: ReferenceSummary) -> str:
    """Readable name of the smallest-scale band, e.g. ``λ < 200 km``."""
    return f"λ < {ref.bands[0][1]:g} km"


# --------------------------------------------------------------------------- one set vs the reference
def score_set(ds: xr.Dataset, ref: ReferenceSummary, dim: str = "sample") -> tuple[dict[str, float], SetSummary]:
    """The table columns of one set against the reference, and the set's summary (for maps/figures)."""
    names = [v for v in ref.variables if v in ds.data_vars]
    ds = ds.load()
    own = summarise_set(ds, dim, names)
    r = ref.summary
    row = dict(own.row)
    row["extent_w1_1e6km2"] = compare.wasserstein1(own.extent, r.extent) * M2_TO_1E6KM2
    row["miz_area_w1_1e6km2"] = compare.wasserstein1(own.miz_area, r.miz_area) * M2_TO_1E6KM2
    row["miz_freq_rmse"] = float(compare.area_weighted_rmse(own.miz_frequency, r.miz_frequency))
    norm: dict[str, list[float]] = {"mean_rmse_norm": [], "std_rmse_norm": [], "energy_norm": []}
    for v in names:
        scale = VARIABLES[v].std
        for stat in ("mean", "std"):
            rmse = float(compare.area_weighted_rmse(own.maps[v].sel(statistic=stat), r.maps[v].sel(statistic=stat)))
            row[f"{v}_{stat}_rmse"] = rmse
            norm[f"{stat}_rmse_norm"].append(rmse / scale)
        energy, w1 = ecdf_distances(ECDF.of(ocean_values(ds, v)), ref.ecdfs[v])
        row[f"{v}_energy"] = energy
        row[f"{v}_marginal_w1"] = w1
        norm["energy_norm"].append(energy / scale)
        ratio = compare.band_power(own.spectrum[v], ref.bands) / ref.band_power[v]
        row[f"{v}_spec_ratio_small"] = float(ratio.isel(band=0))
    row.update({k: float(np.mean(vals)) if vals else math.nan for k, vals in norm.items()})
    return row, own
