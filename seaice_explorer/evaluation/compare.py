"""The one comparison layer: a set of states against a reference set, for ``evaluate`` and the app.

Finn et al. 2024 (arXiv 2406.18417) compare generated and reference states by their
extent and MIZ-area distributions, MIZ-frequency maps, mean and spread maps, marginal
distributions, power spectra and bound violations. :class:`SetSummary` holds all of them for one
set (dim ``sample`` for generated states, ``time`` for reference states); :class:`ReferenceSummary`
summarises the reference once, and :func:`score_set` gives one row of scores of a set against it.
The definitions are those of :mod:`seaice_explorer.stats`; the dashboard and the ``evaluate``
table read these rows, so both show the same numbers.

Units in the row: areas in 10⁶ km², map RMSEs and energy distances in the variable's units,
``*_norm`` columns divided by the variable table's normalisation std (``VARIABLES[v].std``) and
averaged over variables, percentages of ocean cells, spectrum ratios unitless. Scores that need
what a set lacks (no sic; maps on another grid) are left out of the row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import xarray as xr

from ..stats import ensemble, spectra, state
from ..stats.distances import Distribution, area_weighted_rmse, energy_distance, ocean_values, wasserstein1
from ..variables import STATE_VARIABLES, VARIABLES

M2_TO_1E6KM2 = 1e-12


# --------------------------------------------------------------------------- helpers
def same_grid(a: xr.Dataset | xr.DataArray, b: xr.Dataset | xr.DataArray) -> bool:
    """True when two sets share one grid: same shape and cell positions (lat/lon, when both have them)."""
    if (a.sizes.get("y"), a.sizes.get("x")) != (b.sizes.get("y"), b.sizes.get("x")):
        return False
    return all(np.allclose(a[c].values, b[c].values, atol=1e-4) for c in ("lat", "lon")
               if c in a.coords and c in b.coords)


def bounded_variables(ds: xr.Dataset) -> list[str]:
    """Variables of ``ds`` with a finite physical bound, in the variable table's order."""
    return [v for v in VARIABLES if v in ds.data_vars and VARIABLES[v].bounded]


def bound_violations(ds: xr.Dataset, dim: str | None = None) -> dict[str, float]:
    """Per bounded variable, the fraction of finite ocean values beyond its bounds (mean over ``dim``)."""
    return _violations(state.bound_fractions(ds, bounded_variables(ds)).mean(dim))


def _violations(fractions: xr.Dataset) -> dict[str, float]:
    """Below-lower plus above-upper fraction per variable, from :func:`stats.bound_fractions` output."""
    names = [v for v in VARIABLES if VARIABLES[v].bounded and any(str(k).startswith(f"{v}_") for k in fractions)]
    return {v: sum(float(fractions[k]) for k in (f"{v}_below_lower", f"{v}_above_upper") if k in fractions)
            for v in names}


def beyond_fraction(ds: xr.Dataset, dim: str | None = None) -> float:
    """Mean over bounded variables of the fraction of ocean values beyond their bounds (NaN if none)."""
    per_var = list(bound_violations(ds, dim).values())
    return float(np.mean(per_var)) if per_var else math.nan


def beyond_maps(ds: xr.Dataset, dim: str) -> xr.Dataset:
    """Per bounded variable, and ``any`` of them, the share of states beyond the bounds per cell (y, x)."""
    masks = {v: state.beyond_bounds(ds[v]) for v in bounded_variables(ds)}
    out = xr.Dataset({v: m.mean(dim).where(state.ocean(ds[v])) for v, m in masks.items()})
    if masks:
        first = ds[next(iter(masks))]
        out["any"] = xr.concat(list(masks.values()), "variable").any("variable").mean(dim).where(state.ocean(first))
    return out


def _areas(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(extent, MIZ area) per state in m²; empty without sic."""
    if "sic" not in ds.data_vars:
        return np.array([]), np.array([])
    return (np.asarray(state.extent(ds).values, dtype=np.float64),
            np.asarray(state.miz_area(ds).values, dtype=np.float64))


def _set_row(ds: xr.Dataset, dim: str, ext: np.ndarray, miz: np.ndarray) -> dict[str, float]:
    """Columns of one set on its own: extent/MIZ statistics and bound fractions (%)."""
    row = {"n": float(ds.sizes[dim])}
    if ext.size:
        p10, p90 = np.percentile(ext, [10, 90]) * M2_TO_1E6KM2
        row |= {"extent_mean_1e6km2": float(ext.mean()) * M2_TO_1E6KM2, "extent_p10_1e6km2": float(p10),
                "extent_p90_1e6km2": float(p90), "miz_area_mean_1e6km2": float(miz.mean()) * M2_TO_1E6KM2}
    fr = state.bound_fractions(ds).mean(dim)
    vio = _violations(fr)
    row |= {f"{v}_violation_pct": 100.0 * f for v, f in vio.items()}
    row["violations_pct"] = 100.0 * float(np.mean(list(vio.values()))) if vio else math.nan
    if "sic" in ds.data_vars:
        row["sic_at_bounds_pct"] = 100.0 * float(fr["sic_at_lower"] + fr["sic_at_upper"])
        row["sic_at_0_pct"] = 100.0 * float(fr["sic_at_lower"])
        row["sic_at_1_pct"] = 100.0 * float(fr["sic_at_upper"])
    return row


# --------------------------------------------------------------------------- summaries
@dataclass(frozen=True, eq=False)
class SetSummary:
    """Everything the table, maps, figures and the app need from one set of states."""

    dim: str
    variables: tuple[str, ...]  # state variables summarised
    extent: np.ndarray  # (N,) m², empty without sic
    miz_area: np.ndarray  # (N,) m², empty without sic
    miz_frequency: xr.DataArray | None  # (y, x), None without sic
    maps: xr.Dataset  # per variable (statistic=[mean, std], y, x)
    spectrum: xr.Dataset  # per variable mean spectrum (wavenumber,), attrs of power_spectrum
    beyond_maps: xr.Dataset  # per bounded variable and "any": share of states beyond the bounds (y, x)
    row: dict[str, float]  # the per-set columns (extent, MIZ, bounds)

    @classmethod
    def of(cls, ds: xr.Dataset, dim: str, variables: Sequence[str] | None = None) -> SetSummary:
        """Summarise the states of ``ds`` along ``dim`` (default variables: every state variable)."""
        names = tuple(v for v in (variables or STATE_VARIABLES) if v in ds.data_vars)
        ext, miz = _areas(ds)
        return cls(
            dim=dim, variables=names, extent=ext, miz_area=miz,
            miz_frequency=ensemble.miz_frequency(ds, dim) if "sic" in ds.data_vars else None,
            maps=ensemble.mean_std_maps(ds, dim, names),
            spectrum=spectra.power_spectrum(ds, list(names)).mean(dim, keep_attrs=True),
            beyond_maps=beyond_maps(ds, dim),
            row=_set_row(ds, dim, ext, miz),
        )

    @property
    def n(self) -> int:
        return int(self.row["n"])

    @property
    def beyond_fraction(self) -> float:
        """Mean over bounded variables of the fraction of ocean values beyond their bounds."""
        return self.row["violations_pct"] / 100.0


@dataclass(frozen=True, eq=False)
class ReferenceSummary:
    """The reference set, summarised once; its marginal distributions only when first asked for."""

    summary: SetSummary
    bands: list[tuple[float, float]]  # wavelength bands (km) of the spectrum ratios, smallest first
    band_power: xr.Dataset  # per variable (band,)
    ds: xr.Dataset = field(repr=False)  # the loaded reference states

    @classmethod
    def of(cls, ref: xr.Dataset, dim: str = "time", variables: Sequence[str] | None = None) -> ReferenceSummary:
        """Summarise the reference states (all of ``dim``) for :func:`score_set`."""
        ref = ref.load()
        summary = SetSummary.of(ref, dim, variables)
        bands = spectra.default_bands(ref)
        bp = xr.Dataset({v: spectra.band_power(summary.spectrum[v], bands) for v in summary.variables})
        return cls(summary, bands, bp, ref)

    @property
    def variables(self) -> tuple[str, ...]:
        return self.summary.variables

    @property
    def n(self) -> int:
        return self.summary.n

    @property
    def small_band_label(self) -> str:
        """Readable name of the smallest-scale band, e.g. ``λ < 200 km``."""
        return f"λ < {self.bands[0][1]:g} km"

    @cached_property
    def marginals(self) -> dict[str, Distribution]:
        """Per variable, the distribution of all ocean values (sorted once; only ``evaluate`` needs it)."""
        return {v: Distribution.of(ocean_values(self.ds, v)) for v in self.variables}


def miz_frequency_difference(own: SetSummary, ref: SetSummary) -> xr.DataArray | None:
    """MIZ frequency of the set minus that of the reference (positive: too much MIZ); None without
    sic or on another grid."""
    a, b = own.miz_frequency, ref.miz_frequency
    if a is None or b is None or not same_grid(a, b):
        return None
    out = a - b
    out.name = "miz_frequency_difference"
    out.attrs = {"units": "1", "long_name": "MIZ frequency, generated minus reference"}
    return out


# --------------------------------------------------------------------------- one set vs the reference
def score_set(ds: xr.Dataset, ref: ReferenceSummary, dim: str = "sample", *,
              marginals: bool = True, maps: bool = True) -> tuple[dict[str, float], SetSummary]:
    """The score columns of one set against the reference, and the set's summary (maps, figures).

    ``marginals=False`` leaves out the energy and W1 distances of the marginal distributions
    (``{v}_energy``, ``{v}_marginal_w1``, ``energy_norm``), ``maps=False`` the mean/std-map RMSEs
    (``{v}_mean_rmse``, ``{v}_std_rmse``, ``*_rmse_norm``): the app shows neither, and the first
    needs the reference's full value distributions.
    """
    ds = ds.load()
    own = SetSummary.of(ds, dim)
    names = [v for v in ref.variables if v in own.variables]
    r = ref.summary
    row = dict(own.row)
    if own.extent.size and r.extent.size:
        row["extent_w1_1e6km2"] = wasserstein1(own.extent, r.extent) * M2_TO_1E6KM2
        row["miz_area_w1_1e6km2"] = wasserstein1(own.miz_area, r.miz_area) * M2_TO_1E6KM2
    on_grid = same_grid(ds, ref.ds)
    if on_grid and own.miz_frequency is not None and r.miz_frequency is not None:
        row["miz_freq_rmse"] = float(area_weighted_rmse(own.miz_frequency, r.miz_frequency))
    norm: dict[str, list[float]] = {"mean_rmse_norm": [], "std_rmse_norm": []} if maps else {}
    if marginals:
        norm["energy_norm"] = []
    for v in names:
        scale = VARIABLES[v].std
        for stat in ("mean", "std") if on_grid and maps else ():
            rmse = float(area_weighted_rmse(own.maps[v].sel(statistic=stat), r.maps[v].sel(statistic=stat)))
            row[f"{v}_{stat}_rmse"] = rmse
            norm[f"{stat}_rmse_norm"].append(rmse / scale)
        if marginals:
            a = Distribution.of(ocean_values(ds, v))
            row[f"{v}_energy"] = energy = energy_distance(a, ref.marginals[v])
            row[f"{v}_marginal_w1"] = wasserstein1(a, ref.marginals[v])
            norm["energy_norm"].append(energy / scale)
        ratio = spectra.band_power(own.spectrum[v], ref.bands) / ref.band_power[v]
        row[f"{v}_spec_ratio_small"] = float(ratio.isel(band=0))
    row.update({k: float(np.mean(vals)) if vals else math.nan for k, vals in norm.items()})
    return row, own
