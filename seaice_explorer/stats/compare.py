"""Ensemble versus reference: MIZ frequency, distributions, mean/std maps, marginals, spectra, IIEE.

The scores of the Finn et al. (2024) evaluation between a generated ensemble (dim ``sample``)
and a reference set (dim ``time``). xarray in, xarray out; maps are area weighted with the
``cell_area`` coordinate and restricted to ocean cells (``mask == 1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Union

import numpy as np
import scipy.stats
import xarray as xr

from ..variables import STATE_VARIABLES, VARIABLES
from . import state
from .spectra import mean_spacing_km, power_spectrum
from .state import SPATIAL, cell_area, get_var, ocean


# --------------------------------------------------------------------------- maps
def miz_frequency(obj: xr.Dataset | xr.DataArray, dim: str = "sample") -> xr.DataArray:
    """Fraction of states along ``dim`` in which each cell is in the MIZ (0.15 ≤ sic ≤ 0.80).

    States where the cell is NaN do not count; land is NaN.
    """
    sic = get_var(obj, "sic")
    miz = state.miz_mask(sic).astype(np.float64).where(sic.notnull())
    out = miz.mean(dim).where(ocean(sic))
    out.name = "miz_frequency"
    out.attrs = {"units": "1", "long_name": f"MIZ frequency over {dim}"}
    return out


def miz_frequency_difference(gen: xr.Dataset | xr.DataArray, ref: xr.Dataset | xr.DataArray,
                             gen_dim: str = "sample", ref_dim: str = "time") -> xr.DataArray:
    """MIZ frequency map of ``gen`` minus that of ``ref`` (positive: too much MIZ)."""
    out = miz_frequency(gen, gen_dim) - miz_frequency(ref, ref_dim)
    out.name = "miz_frequency_difference"
    out.attrs = {"units": "1", "long_name": "MIZ frequency, generated minus reference"}
    return out


def area_weighted_rmse(a: xr.DataArray, b: xr.DataArray, dims: Sequence[str] = SPATIAL) -> xr.DataArray:
    """sqrt(Σ A (a − b)² / Σ A) over ocean cells where both are finite (A = cell_area)."""
    w = cell_area(a) if "cell_area" in a.coords else cell_area(b)
    keep = ocean(a) & ocean(b) & w.notnull()
    # the grid coordinates have served (area, mask); dropping them spares xarray re-aligning them at every step
    plain = [c for c in ("cell_area", "mask", "lat", "lon") if c in a.coords or c in b.coords]
    diff2 = (a.drop_vars(plain, errors="ignore") - b.drop_vars(plain, errors="ignore")) ** 2
    keep = keep.drop_vars(plain, errors="ignore") if isinstance(keep, xr.DataArray) else keep
    valid = diff2.notnull() & keep
    out = np.sqrt(diff2.where(valid).weighted(w.drop_vars(plain, errors="ignore").where(valid, 0.0)).mean(dims))
    out.attrs = {"long_name": "area-weighted RMSE", "units": a.attrs.get("units", "")}
    return out


def _state_vars(ds: xr.Dataset, variables: Sequence[str] | None) -> list[str]:
    names = variables if variables is not None else [v for v in STATE_VARIABLES if v in ds.data_vars]
    return [v for v in names if v in ds.data_vars]


def mean_std_maps(ds: xr.Dataset, dim: str = "sample", variables: Sequence[str] | None = None) -> xr.Dataset:
    """Per-cell mean and standard deviation (ddof = 1) along ``dim``, stacked on dim ``statistic``."""
    sub = ds[_state_vars(ds, variables)]
    out = xr.concat([sub.mean(dim), sub.std(dim, ddof=1)], dim="statistic")
    return out.assign_coords(statistic=["mean", "std"])


def map_rmse(gen: xr.Dataset, ref: xr.Dataset, gen_dim: str = "sample", ref_dim: str = "time",
             variables: Sequence[str] | None = None) -> xr.Dataset:
    """Area-weighted RMSE of the mean and std maps, generated vs reference, per variable (dim ``statistic``)."""
    names = [v for v in _state_vars(gen, variables) if v in ref.data_vars]
    g = mean_std_maps(gen, gen_dim, names)
    r = mean_std_maps(ref, ref_dim, names)
    return xr.Dataset({v: area_weighted_rmse(g[v], r[v]).assign_attrs(units=VARIABLES[v].units) for v in names})


# --------------------------------------------------------------------------- 1-D distributions
def _clean(x: xr.DataArray | np.ndarray | Sequence[float]) -> np.ndarray:
    arr = np.asarray(x.values if isinstance(x, xr.DataArray) else x, dtype=np.float64).ravel()
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        raise ValueError("empty sample (all values NaN or none given)")
    return arr


class Distribution(NamedTuple):
    """A 1-D sample as its sorted distinct values and their counts (``np.unique`` once).

    Pass it to :func:`wasserstein1` / :func:`energy_distance` in place of a big sample (a reference
    set of millions of values) so each score does not sort it again; the distances are the same.
    """

    values: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, x: xr.DataArray | np.ndarray | Sequence[float]) -> Distribution:
        """The finite values of ``x`` (NaNs dropped)."""
        return cls(*np.unique(_clean(x), return_counts=True))


Sample = Union[xr.DataArray, np.ndarray, Sequence[float], Distribution]


def _scipy_args(a: Sample, b: Sample) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    (u, uw), (v, vw) = ((x.values, x.counts) if isinstance(x, Distribution) else (_clean(x), None) for x in (a, b))
    return u, v, uw, vw


def wasserstein1(a: Sample, b: Sample) -> float:
    """Wasserstein-1 distance of two 1-D samples, W1 = ∫ |F_a(t) − F_b(t)| dt (NaNs dropped;
    ``scipy.stats.wasserstein_distance``)."""
    return float(scipy.stats.wasserstein_distance(*_scipy_args(a, b)))


def energy_distance(a: Sample, b: Sample) -> float:
    """Energy distance of two 1-D samples (Székely & Rizzo): sqrt(2 ∫ (F_a − F_b)² dt)

    = sqrt(2 E|X − Y| − E|X − X'| − E|Y − Y'|), a proper metric between distributions
    (``scipy.stats.energy_distance``).
    """
    return float(scipy.stats.energy_distance(*_scipy_args(a, b)))


def distribution_distances(gen: xr.Dataset, ref: xr.Dataset) -> xr.Dataset:
    """W1 (m²) between the distributions of extent and of MIZ area over the states of each set
    (every value along the non-spatial dims, e.g. ``sample`` or ``time``, is one state)."""
    out = {
        "extent_w1": wasserstein1(state.extent(gen), state.extent(ref)),
        "miz_area_w1": wasserstein1(state.miz_area(gen), state.miz_area(ref)),
    }
    return xr.Dataset({k: xr.DataArray(v, attrs={"units": "m2", "long_name": f"Wasserstein-1 of {k[:-3]}"})
                       for k, v in out.items()})


def ocean_values(ds: xr.Dataset, name: str) -> np.ndarray:
    """All finite ocean values of one variable, flattened."""
    da = ds[name]
    return _clean(da.where(ocean(da)))


def marginal_histogram(ds: xr.Dataset, variables: Sequence[str] | None = None, bins: int = 50) -> xr.Dataset:
    """Density histogram per variable of all ocean values, on ``bins`` bins over the variable's
    colour limits ``VARIABLES[v].clim``; dims ``{v}_bin`` (centres). Values outside the range
    are left out and their fraction stored in the attr ``outside``.
    """
    out = {}
    for v in _state_vars(ds, variables):
        x = ocean_values(ds, v)
        edges = np.linspace(*VARIABLES[v].clim, bins + 1)
        dens, _ = np.histogram(x, bins=edges, density=False)
        width = np.diff(edges)
        outside = 1.0 - dens.sum() / x.size
        out[v] = xr.DataArray(dens / (x.size * width), dims=[f"{v}_bin"],
                              coords={f"{v}_bin": 0.5 * (edges[1:] + edges[:-1])},
                              attrs={"units": f"1/({VARIABLES[v].units})", "outside": outside,
                                     "long_name": f"density of {v}"})
    return xr.Dataset(out)


def marginal_distances(gen: xr.Dataset, ref: xr.Dataset, variables: Sequence[str] | None = None) -> xr.Dataset:
    """Energy distance and W1 between the marginal distributions of all ocean values, per variable."""
    names = [v for v in _state_vars(gen, variables) if v in ref.data_vars]
    out = {}
    for v in names:
        a, b = ocean_values(gen, v), ocean_values(ref, v)
        out[v] = xr.DataArray([energy_distance(a, b), wasserstein1(a, b)], dims=["distance"],
                              coords={"distance": ["energy", "wasserstein1"]}, attrs={"units": VARIABLES[v].units})
    return xr.Dataset(out)


# --------------------------------------------------------------------------- spectra
def default_bands(obj: xr.Dataset | xr.DataArray) -> list[tuple[float, float]]:
    """Octave wavelength bands (km) in multiples of the mean grid spacing d:
    [0, 4d), [4d, 8d), [8d, 16d), [16d, 32d), [32d, ∞)."""
    d = max(mean_spacing_km(obj))
    edges = [0.0, 4 * d, 8 * d, 16 * d, 32 * d, np.inf]
    return list(zip(edges[:-1], edges[1:]))


def band_power(spectrum: xr.DataArray, bands: Sequence[tuple[float, float]]) -> xr.DataArray:
    """Sum a spectrum over wavelength bands [lo, hi) km; new dim ``band``."""
    lam = spectrum["wavelength"]
    parts = [spectrum.where((lam >= lo) & (lam < hi), 0).sum("wavenumber") for lo, hi in bands]
    out = xr.concat(parts, dim="band")
    return out.assign_coords(band=[f"{lo:g}-{hi:g} km" for lo, hi in bands],
                             band_lower_km=("band", [lo for lo, _ in bands]),
                             band_upper_km=("band", [hi for _, hi in bands]))


def spectrum_ratio(gen: xr.Dataset, ref: xr.Dataset, gen_dim: str = "sample", ref_dim: str = "time",
                   bands: Sequence[tuple[float, float]] | None = None,
                   variables: Sequence[str] | None = None) -> xr.Dataset:
    """Power generated ÷ reference per wavelength band and variable (mean spectra over each set).

    < 1 in the short-wavelength bands means the generator smooths, as Finn et al. (2024) find for latent diffusion.
    """
    names = [v for v in _state_vars(gen, variables) if v in ref.data_vars]
    bands = list(bands) if bands is not None else default_bands(ref)
    sg = power_spectrum(gen, names).mean(gen_dim)
    sr = power_spectrum(ref, names).mean(ref_dim)
    return xr.Dataset({v: band_power(sg[v], bands) / band_power(sr[v], bands) for v in names})


# --------------------------------------------------------------------------- IIEE
def iiee(sic_a: xr.Dataset | xr.DataArray, sic_b: xr.Dataset | xr.DataArray,
         threshold: float = state.EXTENT_THRESHOLD) -> xr.Dataset:
    """Integrated ice-edge error (Goessling et al. 2016, GRL 43:1642), m², of ``a`` against ``b``.

    With binary ice cover I = [sic ≥ threshold] on ocean cells where both are finite:
    ``overestimate`` O = Σ A·[I_a ∧ ¬I_b], ``underestimate`` U = Σ A·[¬I_a ∧ I_b],
    ``iiee`` = O + U, absolute extent error ``aee`` = |O − U|, misplacement ``me`` = IIEE − AEE.
    """
    a, b = get_var(sic_a, "sic"), get_var(sic_b, "sic")
    valid = a.notnull() & b.notnull() & ocean(a) & ocean(b)
    ia = (a >= threshold - state.TOL) & valid
    ib = (b >= threshold - state.TOL) & valid
    w = cell_area(a) if "cell_area" in a.coords else cell_area(b)
    over = ((ia & ~ib) * w).sum(SPATIAL)
    under = ((~ia & ib) * w).sum(SPATIAL)
    parts = {"iiee": over + under, "overestimate": over, "underestimate": under,
             "aee": abs(over - under), "me": over + under - abs(over - under)}
    out = xr.Dataset({k: v.drop_vars([c for c in ("cell_area", "mask", "lat", "lon") if c in v.coords])
                      for k, v in parts.items()})
    for k in out.data_vars:
        out[k].attrs = {"units": "m2", "long_name": k}
    return out
