"""What the dashboard shows, from the one comparison layer (:mod:`seaice_explorer.evaluation.compare`).

:class:`ReferenceData` is a reference set (dim ``time``) and its :class:`~compare.ReferenceSummary`,
:class:`Result` a generated ensemble (dim ``sample``) and its :class:`~compare.SetSummary` against
it: extent and MIZ-area distributions, MIZ-frequency maps (Finn et al. 2024), mean/spread
maps, power spectra, bound violations and a row of scores, the same numbers as the
``evaluate`` table, each with its 90 % bootstrap interval (:func:`score_intervals`, as ``evaluate``
computes them). This module adds only what the screen needs: map geometry, labels, units of
display (10⁶ km²) and the geometry of a denoising replay's maps.
No Panel and no HoloViews here: plain xarray/numpy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
import xarray as xr

from ...data import open_reference
from ...evaluation import compare
from ...evaluation.bootstrap import DEFAULT_LEVEL, Score, bootstrap_scores, derived_seed
from ...evaluation.compare import M2_TO_1E6KM2, ReferenceSummary, SetSummary, same_grid
from ...evaluation.features import StateFeatures
from ...grid import EASE2_NORTH
from ...plots.maps import MapGeometry, MapSpec, field_spec, map_geometry
from ...trajectory import Trajectory
from ...variables import STATE_VARIABLES, VARIABLES

log = logging.getLogger(__name__)

__all__ = ["DISPLAY_PROJ4", "ReferenceData", "Result", "Score", "analyse", "beyond_fraction",
           "load_reference", "reference_row", "reference_spec", "replay_geometry", "result_spec",
           "same_grid", "score_intervals", "score_row", "summarise_reference"]

#: All maps share this display CRS: the grid of the shipped models (EASE2-North LAEA).
DISPLAY_PROJ4 = EASE2_NORTH
#: Score-table columns of the app: compare-layer column -> display name.
SCORE_COLUMNS: Mapping[str, str] = {
    "extent_mean_1e6km2": "mean extent [10⁶ km²]",
    "extent_w1_1e6km2": "W1 extent [10⁶ km²]",
    "miz_area_w1_1e6km2": "W1 MIZ area [10⁶ km²]",
    "miz_freq_rmse": "MIZ-frequency RMSE",
    "violations_pct": "beyond bounds [%]",
    "sic_spec_ratio_small": "small-scale power ratio (sic)",
}


#: Bootstrap replicates of the app's intervals: a few hundred keep them well under a second at 8–64
#: samples (the Monte Carlo error of a 5 % quantile is then about 1.3 percentage points).
APP_REPLICATES = 300
#: The MIZ tab's chart of scores with intervals (display names of :data:`SCORE_COLUMNS`).
INTERVAL_CHART = ("mean extent [10⁶ km²]", "W1 extent [10⁶ km²]", "W1 MIZ area [10⁶ km²]", "MIZ-frequency RMSE")
#: The score groups (:mod:`seaice_explorer.evaluation.weighted`) behind :data:`SCORE_COLUMNS`.
INTERVAL_GROUPS = ("areas", "miz", "bounds", "spectra")


def score_row(scores: Mapping[str, float], seconds: float | None = None) -> dict[str, float]:
    """The app's score columns, picked from a compare-layer row and renamed for display."""
    row = {name: float(scores[key]) for key, name in SCORE_COLUMNS.items() if key in scores}
    if seconds is not None:
        row["generation time [s]"] = float(seconds)
    return row


def _mkm2(values: np.ndarray) -> np.ndarray:
    return values * M2_TO_1E6KM2


class _Maps:
    """Display views of a summary's (statistic, y, x) maps and areas, shared by reference and result."""

    summary: SetSummary

    @property
    def extent(self) -> np.ndarray:
        """(N,) 10⁶ km², empty without sic."""
        return _mkm2(self.summary.extent)

    @property
    def miz_area(self) -> np.ndarray:
        """(N,) 10⁶ km², empty without sic."""
        return _mkm2(self.summary.miz_area)

    @property
    def miz_frequency(self) -> xr.DataArray | None:
        return self.summary.miz_frequency

    @cached_property
    def mean(self) -> xr.Dataset:
        return self.summary.maps.sel(statistic="mean", drop=True)

    @cached_property
    def std(self) -> xr.Dataset:
        return self.summary.maps.sel(statistic="std", drop=True)

    @property
    def spectra(self) -> xr.Dataset:
        return self.summary.spectrum

    @property
    def beyond_fraction(self) -> float:
        return self.summary.beyond_fraction


@dataclass(frozen=True, eq=False)
class ReferenceData(_Maps):
    """A reference set (dim ``time``), its summary from the compare layer and its map geometry."""

    name: str
    ds: xr.Dataset
    geometry: MapGeometry
    kind: str
    reference: ReferenceSummary

    @property
    def summary(self) -> SetSummary:  # type: ignore[override]
        return self.reference.summary

    @property
    def n_states(self) -> int:
        return int(self.ds.sizes.get("time", 1))

    @cached_property
    def features(self) -> StateFeatures:
        """Per-state features of the reference for the score intervals (computed once)."""
        return interval_features(self.ds, "time")

    @property
    def variables(self) -> list[str]:
        return [v for v in STATE_VARIABLES if v in self.ds.data_vars]

    def time_label(self, index: int) -> str:
        if "time" not in self.ds.coords:
            return f"state {index}"
        return str(np.datetime_as_string(self.ds["time"].values[index], unit="D"))


def summarise_reference(ds: xr.Dataset, name: str) -> ReferenceData:
    """A canonical reference Dataset (loaded into memory) and its summary."""
    if "time" not in ds.dims:
        ds = ds.expand_dims("time")
    ds = ds.load()
    ref = ReferenceData(
        name=name, ds=ds, geometry=map_geometry(ds, DISPLAY_PROJ4),
        kind=str(ds.attrs.get("reference_kind") or ds.attrs.get("title") or ds.attrs.get("source") or "unknown"),
        reference=ReferenceSummary.of(ds),
    )
    _ = ref.features  # here, where references load (on a worker), not when the MIZ tab first draws
    return ref


def load_reference(spec: str, grid: str | None = None) -> ReferenceData:
    """Open a reference (``"default"`` or a server-configured path) and summarise it.

    ``grid`` is a neXtSIM grid file for neXtSIM output without latitude/longitude.
    """
    ds = open_reference(spec, grid=grid) if grid else open_reference(spec)
    label = "default" if spec == "default" else str(spec).rsplit("/", 1)[-1]
    return summarise_reference(ds, label)


def reference_row(reference: ReferenceData) -> dict[str, float]:
    """The reference's own line in the scores table."""
    return score_row(reference.summary.row)


@dataclass(frozen=True, eq=False)
class Result(_Maps):
    """A generated ensemble (dim ``sample``) and its comparison with a reference."""

    key: Any  # state.GenerationKey; key.backend is the backend name
    samples: xr.Dataset
    geometry: MapGeometry
    summary: SetSummary
    miz_frequency_diff: xr.DataArray | None  # (y, x), None when the grids differ
    scores: dict[str, float]  # the app's score columns (score_row)
    seconds: float
    #: The score intervals, computed once per (reference, replicates, level) (:func:`score_intervals`).
    _intervals: dict = field(default_factory=dict, init=False, repr=False)

    @property
    def n(self) -> int:
        return int(self.samples.sizes["sample"])

    @property
    def beyond_maps(self) -> xr.Dataset:
        """Per bounded variable and ``any``: share of members beyond the bounds, (y, x)."""
        return self.summary.beyond_maps


def analyse(samples: xr.Dataset, reference: ReferenceData, *, key: Any, seconds: float) -> Result:
    """Everything the dashboard shows about one generated ensemble, against ``reference``."""
    samples = samples.load()
    row, own = compare.score_set(samples, reference.reference, "sample", marginals=False, maps=False)
    return Result(key=key, samples=samples, geometry=map_geometry(samples, DISPLAY_PROJ4), summary=own,
                  miz_frequency_diff=compare.miz_frequency_difference(own, reference.summary),
                  scores=score_row(row, seconds), seconds=float(seconds))


# --------------------------------------------------------------------------- score intervals
def interval_features(ds: xr.Dataset, dim: str,
                      bands: Sequence[tuple[float, float]] | None = None) -> StateFeatures:
    """Per-state features behind the app's score columns: sea-ice concentration (extent, MIZ, the
    small-scale spectrum) and every variable's bound fractions; another variable when there is no sic."""
    names = ("sic",) if "sic" in ds.data_vars else tuple(v for v in STATE_VARIABLES if v in ds.data_vars)[:1]
    return StateFeatures.of(ds, dim, bands=bands, variables=names)


def score_intervals(result: Result, reference: ReferenceData, replicates: int = APP_REPLICATES,
                    level: float = DEFAULT_LEVEL) -> dict[str, Score]:
    """The percentile bootstrap interval of each of ``result``'s score columns (display name -> Score):
    every replicate resamples the generated and the reference states (Efron & Tibshirani 1993; the same
    :func:`~seaice_explorer.evaluation.bootstrap.bootstrap_scores` as ``evaluate``). Computed once per
    result; empty, and logged, when the two sets cannot be compared."""
    key = (reference.name, reference.n_states, replicates, level)
    if key not in result._intervals:
        t0 = time.perf_counter()
        try:
            own = interval_features(result.samples, "sample", bands=reference.features.bands)
            seed = derived_seed(getattr(result.key, "seed", 0), "app intervals", getattr(result.key, "backend", ""))
            boot = bootstrap_scores(own, reference.features, replicates, seed=seed, level=level,
                                    groups=INTERVAL_GROUPS)
        except (ValueError, KeyError) as err:
            log.warning("no score intervals for %s: %s", getattr(result.key, "backend", "?"), err)
            boot = {}
        result._intervals[key] = {SCORE_COLUMNS[k]: s for k, s in boot.items() if k in SCORE_COLUMNS}
        log.debug("score intervals of %d samples, %d replicates: %.3f s", result.n, replicates,
                  time.perf_counter() - t0)
    return result._intervals[key]


# --------------------------------------------------------------------------- map specs
def _values(da: xr.DataArray) -> np.ndarray:
    return np.asarray(da.transpose("y", "x").values, dtype=np.float32)


def reference_spec(ref: ReferenceData, variable: str, summary: str, index: int, show_miz: bool) -> MapSpec:
    """The reference panel: one state (``index``), or the time mean / spread."""
    g = ref.geometry
    title = f"reference · {ref.name}"
    if variable not in ref.ds.data_vars:
        return field_spec(np.full(g.native_shape, np.nan), g, variable, f"{title} (no {variable})")
    index = int(np.clip(index, 0, ref.n_states - 1))
    miz = _values(ref.ds["sic"].isel(time=index)) if (show_miz and "sic" in ref.ds and summary == "member") else None
    if summary == "mean":
        miz = _values(ref.mean["sic"]) if show_miz and "sic" in ref.mean else None
        return field_spec(_values(ref.mean[variable]), g, variable, f"{title} · time mean", miz=miz)
    if summary == "spread":
        return field_spec(_values(ref.std[variable]), g, variable, f"{title} · time std", kind="spread")
    return field_spec(_values(ref.ds[variable].isel(time=index)), g, variable, f"{title} · {ref.time_label(index)}",
                      miz=miz)


def result_spec(res: Result, variable: str, summary: str, member: int, show_miz: bool) -> MapSpec:
    """A generated panel: one member, or the ensemble mean / spread."""
    g = res.geometry
    name = res.key.backend
    if variable not in res.samples.data_vars:
        return field_spec(np.full(g.native_shape, np.nan), g, variable, f"{name} (no {variable})")
    has_sic = "sic" in res.samples.data_vars
    if summary == "mean":
        miz = _values(res.mean["sic"]) if show_miz and has_sic else None
        return field_spec(_values(res.mean[variable]), g, variable, f"{name} · mean of {res.n}", miz=miz)
    if summary == "spread":
        return field_spec(_values(res.std[variable]), g, variable, f"{name} · std of {res.n}", kind="spread")
    member = int(np.clip(member, 0, res.n - 1))
    miz = _values(res.samples["sic"].isel(sample=member)) if show_miz and has_sic else None
    return field_spec(_values(res.samples[variable].isel(sample=member)), g, variable,
                      f"{name} · member {member}", miz=miz)


# --------------------------------------------------------------------------- denoising replay
@lru_cache(maxsize=8)
def replay_geometry(traj: Trajectory) -> MapGeometry:
    """The display geometry of a replay's maps, worked out once per trajectory."""
    return map_geometry(traj.samples, DISPLAY_PROJ4)
