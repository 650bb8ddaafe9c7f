"""Per-state features of a set of sea-ice states, computed once so that resampled scores are cheap.

Every score of :func:`evaluation.compare.score_set` (Finn et al. 2024, arXiv 2406.18417) is a
function of per-state quantities pooled with equal weights over the states of a set: the extent and
MIZ-area distributions, the MIZ-frequency and mean/std maps (per-cell first and second moments), the
mean spectrum (per-state band powers), the pooled marginal distribution (per-state histograms), the
bound fractions and the mean excess beyond the bounds. :class:`StateFeatures` holds them, one row per
state, so that a bootstrap resample (Efron & Tibshirani 1993) is a weight vector over the rows and
every score is a weighted sum (:mod:`.weighted`). Definitions are those of :mod:`seaice_explorer.stats`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import xarray as xr

from ..stats import state
from ..stats.spectra import band_power, default_bands, power_spectrum
from ..variables import STATE_VARIABLES, VARIABLES

log = logging.getLogger(__name__)

#: Bins of the per-state histograms of each variable's ocean values (marginal energy distance and W1).
DEFAULT_BINS = 1000


# --------------------------------------------------------------------------- marginal bins
def marginal_bins(name: str, bins: int = DEFAULT_BINS) -> np.ndarray:
    """Bin edges (bins + 1,) of one variable: twice its colour range, centred on it, with a bound on a bin centre.

    The range reaches half a colour span beyond each end of ``VARIABLES[name].clim`` (room for values
    beyond the physical bounds); the edges are shifted so that a finite bound (0 and 1 for sic) falls on a
    bin centre, where the many states exactly at the bound are binned without error.
    """
    var = VARIABLES[name]
    lo, hi = var.clim
    span = hi - lo
    width = 2.0 * span / bins
    start = lo - 0.5 * span
    anchor = var.lower if math.isfinite(var.lower) else var.upper
    if math.isfinite(anchor):
        start = anchor - (math.floor((anchor - start) / width) + 0.5) * width
    return start + width * np.arange(bins + 1)


def _histograms(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Per-row counts (N, bins) of the finite values (N, C); values beyond the edges count in the end bins."""
    n, bins = values.shape[0], edges.size - 1
    width = edges[1] - edges[0]
    finite = np.isfinite(values)
    idx = np.clip(np.floor((np.where(finite, values, edges[0]) - edges[0]) / width), 0, bins - 1).astype(np.int64)
    outside = int((finite & ((values < edges[0]) | (values >= edges[-1]))).sum())
    if outside:
        log.debug("%d values beyond the bins [%g, %g) counted in the end bins", outside, edges[0], edges[-1])
    flat = (np.arange(n)[:, None] * bins + idx)[finite]
    return np.bincount(flat, minlength=n * bins).reshape(n, bins).astype(np.float32)


# --------------------------------------------------------------------------- cell values
@dataclass(frozen=True, eq=False)
class CellValues:
    """One variable on the ocean cells, per state: centred on the set's cell means, for precise moments."""

    shift: np.ndarray  # (C,) float64, the set's mean per cell (0 where no state is finite)
    centred: np.ndarray  # (N, C) float32, value − shift, 0 where NaN
    valid: np.ndarray | None  # (N, C) float32, 1 where finite; None when every value is

    @classmethod
    def of(cls, values: np.ndarray) -> CellValues:
        """Centre the (N, C) values of one variable per cell."""
        finite = np.isfinite(values)
        with np.errstate(invalid="ignore", divide="ignore"):
            shift = np.where(finite, values, 0.0).sum(0, dtype=np.float64) / finite.sum(0)
        shift = np.where(np.isfinite(shift), shift, 0.0)
        centred = np.where(finite, values - shift, 0.0).astype(np.float32)
        return cls(shift, centred, None if finite.all() else finite.astype(np.float32))

    def take(self, rows: np.ndarray) -> CellValues:
        """The same cells for the states ``rows``."""
        return CellValues(self.shift, self.centred[rows], None if self.valid is None else self.valid[rows])


def _ocean_cells(ds: xr.Dataset) -> np.ndarray:
    """(H·W,) True on ocean cells with a finite cell area (the cells the map scores use)."""
    area = np.asarray(state.cell_area(ds).transpose(*state.SPATIAL).values, dtype=np.float64)
    sea = state.ocean(ds)
    sea = np.broadcast_to(np.asarray(sea.transpose(*state.SPATIAL).values if isinstance(sea, xr.DataArray) else sea,
                                     dtype=bool), area.shape)
    return (sea & np.isfinite(area)).ravel()


def _grid_coords(ds: xr.Dataset, dim: str) -> xr.Dataset:
    """The coordinates of ``ds`` that do not run along ``dim`` (the grid)."""
    coords = ds.coords.to_dataset()
    return coords.drop_vars([c for c in coords.variables if dim in coords[c].dims])


def _cell_matrix(da: xr.DataArray, dim: str, cells: np.ndarray) -> np.ndarray:
    """(N, C) values of one (dim, y, x) field on the chosen cells."""
    arr = np.asarray(da.transpose(dim, *state.SPATIAL).values)
    return arr.reshape(arr.shape[0], -1)[:, cells]


def _ocean_rows(da: xr.DataArray, dim: str) -> np.ndarray:
    """(N, H·W) values of one field with land (``mask != 1``) set to NaN: the ocean values of each state."""
    return np.asarray(da.where(state.ocean(da)).transpose(dim, *state.SPATIAL).values).reshape(da.sizes[dim], -1)


def mean_excess(values: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """Per state, the mean over finite cells of the distance beyond [lower, upper]:
    max(x − upper, 0) + max(lower − x, 0), in the variable's units (0 when every value is inside).

    ``values`` (N, C); NaN cells (land) do not count, as in ``stats.bound_fractions``.
    """
    with np.errstate(invalid="ignore"):
        excess = np.maximum(values - upper, 0.0) + np.maximum(lower - values, 0.0)  # (N, C), NaN stays NaN
    finite = np.isfinite(excess)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(finite, excess, 0.0).sum(1, dtype=np.float64) / finite.sum(1)


# --------------------------------------------------------------------------- the features
@dataclass(frozen=True, eq=False)
class StateFeatures:
    """Per-state features of one set (dim ``sample`` or ``time``): every score of a resample is a weighted sum."""

    dim: str
    variables: tuple[str, ...]
    grid: xr.Dataset  # the grid coordinates (y, x, lat, lon, mask, cell_area), for same-grid checks
    ocean: np.ndarray  # (H·W,) bool, the cells kept (ocean, finite cell area)
    cell_area: np.ndarray  # (C,) m² of the ocean cells
    extent: np.ndarray  # (N,) m², empty without sic
    miz_area: np.ndarray  # (N,) m², empty without sic
    miz: np.ndarray | None  # (N, C) float32 MIZ indicator (0.15 ≤ sic ≤ 0.80), None without sic
    cells: Mapping[str, CellValues]  # per variable, values on the ocean cells
    bands: tuple[tuple[float, float], ...]  # wavelength bands (km) of band_power, smallest first
    band_power: Mapping[str, np.ndarray]  # per variable (N, bands), from each state's power spectrum
    edges: Mapping[str, np.ndarray]  # per variable, histogram bin edges (bins + 1,)
    histograms: Mapping[str, np.ndarray]  # per variable (N, bins) float32 counts of ocean values
    bound_fractions: Mapping[str, np.ndarray]  # "{v}_at_lower" ... -> (N,), as stats.bound_fractions
    excess: Mapping[str, np.ndarray]  # per bounded variable (N,): mean excess beyond its bounds (mean_excess)

    @classmethod
    def of(cls, ds: xr.Dataset, dim: str, bands: Sequence[tuple[float, float]] | None = None,
           bins: int = DEFAULT_BINS, variables: Sequence[str] | None = None) -> StateFeatures:
        """Features of the states of ``ds`` along ``dim``; ``bands`` must be the reference's (default: own)."""
        ds = ds.load()
        names = tuple(v for v in (variables or STATE_VARIABLES) if v in ds.data_vars)
        bands = tuple(tuple(map(float, b)) for b in (bands if bands is not None else default_bands(ds)))
        cells = _ocean_cells(ds)
        has_sic = "sic" in ds.data_vars
        spectra = power_spectrum(ds, list(names))
        edges = {v: marginal_bins(v, bins) for v in names}
        fractions = state.bound_fractions(ds)  # every bounded variable of the table, as compare.score_set
        return cls(
            dim=dim, variables=names, grid=_grid_coords(ds, dim),
            ocean=cells,
            cell_area=np.asarray(state.cell_area(ds).transpose(*state.SPATIAL).values, np.float64).ravel()[cells],
            extent=np.asarray(state.extent(ds).values, np.float64) if has_sic else np.array([]),
            miz_area=np.asarray(state.miz_area(ds).values, np.float64) if has_sic else np.array([]),
            miz=_cell_matrix(state.miz_mask(ds), dim, cells).astype(np.float32) if has_sic else None,
            cells={v: CellValues.of(_cell_matrix(ds[v], dim, cells)) for v in names},  # (N, C) each
            bands=bands,
            band_power={v: np.asarray(band_power(spectra[v], bands).transpose(dim, "band").values)
                        for v in names},
            edges=edges,
            histograms={v: _histograms(_ocean_rows(ds[v], dim), edges[v]) for v in names},
            bound_fractions={k: np.asarray(fractions[k].transpose(dim).values, np.float64)
                             for k in fractions.data_vars},
            excess={v: mean_excess(_ocean_rows(ds[v], dim), VARIABLES[v].lower, VARIABLES[v].upper)
                    for v in names if VARIABLES[v].bounded},
        )

    @property
    def n(self) -> int:
        """Number of states."""
        return int(next(iter(self.histograms.values())).shape[0]) if self.histograms else int(self.extent.size)

    def take(self, rows: Sequence[int] | np.ndarray) -> StateFeatures:
        """The features of the states ``rows`` only (e.g. a subset drawn without replacement)."""
        rows = np.asarray(rows, dtype=np.int64)
        return replace(
            self,
            extent=self.extent[rows] if self.extent.size else self.extent,
            miz_area=self.miz_area[rows] if self.miz_area.size else self.miz_area,
            miz=None if self.miz is None else self.miz[rows],
            cells={v: c.take(rows) for v, c in self.cells.items()},
            band_power={v: p[rows] for v, p in self.band_power.items()},
            histograms={v: h[rows] for v, h in self.histograms.items()},
            bound_fractions={k: f[rows] for k, f in self.bound_fractions.items()},
            excess={v: e[rows] for v, e in self.excess.items()},
        )

