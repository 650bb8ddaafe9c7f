"""The observation model: which cells are observed, with what error, and how likely a state makes them.

An observation of variable c at cell (i, j) is y = A(x)_cij + σ_c ε, ε ~ N(0, 1), where A is the one
decode from sampler space to physical units (:class:`~seaice_explorer.diffusion.pipeline.Pipeline`) and
σ_c the observation error in physical units. A cell is observed where the observation field is finite
on the ocean of the backend's grid; NaN means unobserved.

For a backend with a censored decoder (Finn et al. 2024, arXiv 2406.18417) the observation is censored
the way the model is, y = clamp(A(x) + σ ε, l, u): an observation exactly at a bound (sic 0, open
water; sic 1, full cover) carries the probability mass beyond that bound, log Φ((l − μ)/σ) at the lower
and log Φ((μ − u)/σ) at the upper bound, instead of a Gaussian density. Elsewhere (and for Gaussian
or data-space backends everywhere) the likelihood is the Gaussian one. Both are
:func:`~seaice_explorer.networks.censored.censored_gaussian_nll`, the decoder's own likelihood. DPS
differentiates it as it is; MMPS, which needs Gaussian observations, replaces each censored one by a
Gaussian site (:meth:`Observation.sites`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr
from torch import Tensor

from ..errors import SeaIceInputError
from ..networks.censored import bounds_tensors, censored_gaussian_nll
from ..variables import VARIABLES
from ..variables import get as variable

log = logging.getLogger(__name__)

#: Observation errors are numbers or ``{variable: number}`` in physical units.
ObsSigma = float | Mapping[str, float]
SPATIAL = ("y", "x")
#: grid variables a file may hold as data variables rather than coordinates (not observations)
GRID_NAMES = ("lat", "lon", "mask", "cell_area", "ocean_fraction")
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
#: a censored site whose variance exceeds this many predictive variances carries no information
_FLAT = 1e4


@dataclass(frozen=True, eq=False)
class Observation:
    """Observed physical fields with their mask and errors on one grid (the observation model above)."""

    values: Tensor  # (C, H, W) physical units, 0 where unobserved
    mask: Tensor  # (C, H, W) bool, True where observed
    sigma: Tensor  # (C,) observation error σ_obs, physical units
    lower: Tensor  # (C,) bounds of the likelihood: the variable table's when censored, else ±inf
    upper: Tensor
    censored: bool

    @property
    def count(self) -> int:
        """Number of observed (variable, cell) pairs."""
        return int(self.mask.sum())

    def std(self, extra_var: Tensor | None = None) -> Tensor:
        """σ_obs per channel, ``(C,)``; with ``extra_var`` (B, C) the inflated sqrt(σ_obs² + extra), ``(B, C, 1, 1)``."""
        if extra_var is None:
            return self.sigma
        return (self.sigma[None] ** 2 + extra_var).sqrt()[:, :, None, None]

    def log_likelihood(self, mu: Tensor, extra_var: Tensor | None = None) -> Tensor:
        """log p(y | μ) per member ``(B,)``: censored at the bounds (censored backends), else Gaussian, summed over observed cells."""
        y = self.values.to(mu.dtype).expand_as(mu)  # (B, C, H, W)
        nll = censored_gaussian_nll(y, mu, self.std(extra_var), self.lower, self.upper, reduction="none")
        return -(nll * self.mask).flatten(1).sum(1)

    def sites(self, mu: Tensor, extra_var: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Gaussian pseudo-observations of the likelihood at μ ``(B, C, H, W)``: values, variances and a float mask.

        Inside the bounds: y and σ_obs². A censored observation at a bound gets the Gaussian site whose
        product with the predictive N(μ, c), c = ``extra_var`` (B, C), has the moments of the censored
        posterior (expectation propagation, Minka 2001): with τ² = σ_obs² + c, a = (l − μ)/τ (at u:
        (μ − u)/τ) and λ = φ(a)/Φ(a), the value μ ∓ τ/(a + λ) and variance τ²/(λ(a + λ)) − c. Where that
        variance is huge (μ deep beyond the bound: a flat likelihood) the cell drops out of the mask.
        """
        var = (self.sigma**2).view(1, -1, 1, 1).expand_as(mu)
        y, mask = self.values.expand_as(mu), self.mask.expand_as(mu)
        if not self.censored:
            return y, var, mask.to(mu.dtype)
        lo, hi = self.lower.view(-1, 1, 1), self.upper.view(-1, 1, 1)
        at_lo, at_hi = mask & (y <= lo), mask & (y >= hi) & (y > lo)
        sign = torch.where(at_lo, 1.0, -1.0)  # +1: the mass below l, -1: above u
        c = extra_var[:, :, None, None].to(mu).expand_as(mu)
        tau = (var + c).sqrt()
        a = sign * (torch.where(at_lo, lo, torch.where(at_hi, hi, mu)) - mu) / tau
        lam = torch.exp(-0.5 * a**2 - _HALF_LOG_2PI - torch.special.log_ndtr(a))  # φ(a)/Φ(a)
        shrink = lam * (a + lam)  # in (0, 1): the variance reduction of the truncated predictive
        site_var = tau**2 / shrink.clamp_min(1e-30) - c
        bound = at_lo | at_hi
        flat = bound & ~(site_var < _FLAT * tau**2)
        y = torch.where(bound & ~flat, mu - sign * tau / (a + lam), y)
        var = torch.where(bound & ~flat, site_var, var)
        return y, var, (mask & ~flat).to(mu.dtype)


def make_observation(values: np.ndarray, variables: Sequence[str], sigma: np.ndarray | Sequence[float], *,
                     censored: bool, ocean: np.ndarray | None = None,
                     device: torch.device | str = "cpu") -> Observation:
    """An :class:`Observation` from physical fields ``(C, H, W)`` (NaN: unobserved) and errors ``(C,)``."""
    values = np.asarray(values, dtype=np.float64)
    mask = np.isfinite(values)
    if ocean is not None:
        mask &= np.asarray(ocean, dtype=bool)[None]
    lower, upper = bounds_tensors(variables, device=device)
    if not censored:
        lower, upper = torch.full_like(lower, -math.inf), torch.full_like(upper, math.inf)
    return Observation(
        values=torch.from_numpy(np.where(mask, values, 0.0).astype(np.float32)).to(device),
        mask=torch.from_numpy(mask).to(device),
        sigma=torch.as_tensor(np.asarray(sigma, dtype=np.float32), device=device),
        lower=lower, upper=upper, censored=censored)


def check_obs_sigma(obs_sigma: ObsSigma, variables: Sequence[str], observed: Sequence[str]) -> np.ndarray:
    """σ_obs per channel ``(C,)`` from a number or ``{variable: number}``; every observed variable needs one > 0."""
    fix = "Pass obs_sigma as a finite number > 0 in physical units (e.g. 0.05 for sic), or {variable: number}"
    if isinstance(obs_sigma, Mapping):
        named = {}
        for name, value in obs_sigma.items():
            canonical = _canonical(name, variables, "obs_sigma", fix)
            named[canonical] = value
        missing = [v for v in observed if v not in named]
        if missing:
            raise SeaIceInputError("obs_sigma", f"no observation error for the observed {', '.join(missing)}", fix)
        pairs = [(v, named.get(v, 1.0)) for v in variables]
    else:
        pairs = [(v, obs_sigma) for v in variables]
    out = []
    for name, value in pairs:
        number = value if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool) else None
        if number is None or not math.isfinite(float(number)) or float(number) <= 0:
            raise SeaIceInputError("obs_sigma", f"obs_sigma={value!r} for {name} is not a finite number > 0", fix)
        out.append(float(number))
    return np.asarray(out)


def _canonical(name: object, variables: Sequence[str], source: str, fix: str) -> str:
    """The table name of ``name`` (aliases allowed) when it is one of ``variables``; a clear error otherwise."""
    try:
        canonical = variable(str(name)).name
    except KeyError:
        raise SeaIceInputError(source, f"unknown variable {name!r} (known: {', '.join(VARIABLES)})", fix) from None
    if canonical not in variables:
        raise SeaIceInputError(source, f"variable {name!r} is not one this backend models ({', '.join(variables)}): "
                               "is the file from another data set's family?", fix)
    return canonical


def read_fields(ds: xr.Dataset, variables: Sequence[str], grid: xr.Dataset, *, source: str = "obs",
                complete: bool = False, family_hint: Callable[[np.ndarray], str] | None = None) -> np.ndarray:
    """Physical fields ``(C, H, W)`` (NaN: unobserved) of one state on ``grid``, checked; ``complete``: every
    variable on every ocean cell (a state to start from). ``family_hint(their_mask)`` names the backends
    that fit a file whose land mask is another grid's."""
    if not isinstance(ds, xr.Dataset):
        raise SeaIceInputError(source, f"expected an xarray Dataset, got {type(ds).__name__}",
                               "Open the file with xarray.open_dataset")
    fix = f"Pass a Dataset of {', '.join(variables)} with dims (y, x) on the backend's grid, as the bundled data set"
    ocean = np.asarray(grid["mask"].values) > 0
    shape = ocean.shape
    out = np.full((len(variables),) + shape, np.nan)
    found: dict[str, str] = {}
    for name, da in ds.data_vars.items():
        if da.ndim == 0 or name in GRID_NAMES:
            continue  # grid mappings, other scalars and the grid itself
        canonical = _canonical(name, variables, source, fix)
        if canonical in found:
            raise SeaIceInputError(source, f"{name!r} and {found[canonical]!r} are both {canonical}", "Keep one of them")
        found[canonical] = str(name)
        out[variables.index(canonical)] = _field(da, grid, shape, source, fix)
    if not found:
        raise SeaIceInputError(source, f"no variable this backend models ({', '.join(variables)}) in "
                               f"{list(ds.data_vars)}", fix)
    _check_grid(ds, grid, ocean, source, family_hint)
    on_land = np.isfinite(out) & ~ocean[None]
    if on_land.any():
        log.warning("%s: %d values on land cells of the backend's grid are ignored", source, int(on_land.sum()))
        out[on_land] = np.nan
    _check_bounds(out, variables, source)
    if complete:
        gaps = [v for i, v in enumerate(variables) if not np.isfinite(out[i][ocean]).all()]
        if gaps:
            raise SeaIceInputError(source, f"the state lacks {', '.join(gaps)} on some ocean cells",
                                   "Pass a complete state: every variable of the backend, finite on every ocean cell")
    return out


def _field(da: xr.DataArray, grid: xr.Dataset, shape: tuple[int, ...], source: str, fix: str) -> np.ndarray:
    """One variable as a (H, W) array: singleton extra dims (a day's ``time``) dropped, shape checked."""
    if not set(SPATIAL) <= set(da.dims):
        raise SeaIceInputError(source, f"{da.name} has dims {da.dims}, not (y, x): wrong grid", fix)
    extra = [d for d in da.dims if d not in SPATIAL]
    many = {d: da.sizes[d] for d in extra if da.sizes[d] != 1}
    if many:
        raise SeaIceInputError(source, f"{da.name} holds several states ({many})",
                               "Pass one state, e.g. ds.isel(time=0)")
    arr = np.asarray(da.squeeze(extra, drop=True).transpose(*SPATIAL).values, dtype=np.float64)
    if arr.shape != shape:
        raise SeaIceInputError(source, f"{da.name} is {arr.shape[0]}×{arr.shape[1]}, the backend's grid "
                               f"{shape[0]}×{shape[1]}: wrong grid", fix)
    return arr


def _check_grid(ds: xr.Dataset, grid: xr.Dataset, ocean: np.ndarray, source: str,
                family_hint: Callable[[np.ndarray], str] | None) -> None:
    """y/x coordinates and, where the file has one, the land mask must be the backend grid's."""
    for dim in SPATIAL:
        if dim in ds.coords and dim in grid.coords:
            a, b = np.asarray(ds[dim].values, dtype=np.float64), np.asarray(grid[dim].values, dtype=np.float64)
            if a.shape != b.shape or not np.allclose(a, b, rtol=0, atol=1e-3 * max(1.0, float(np.ptp(b)) / len(b))):
                raise SeaIceInputError(source, f"its {dim} coordinates differ from the backend's grid: wrong grid",
                                       "Regrid the observations onto the backend's grid (the bundled data set's)")
    if "mask" in ds.variables and ds["mask"].shape == ocean.shape:
        theirs = np.asarray(ds["mask"].values) > 0
        if (theirs != ocean).any():
            raise SeaIceInputError(source, f"its land mask differs from the backend's in {int((theirs != ocean).sum())} "
                                   "cells: the observations come from another data set's family",
                                   f"Use a backend of that family{family_hint(theirs) if family_hint else ''}")


def _check_bounds(out: np.ndarray, variables: Sequence[str], source: str) -> None:
    """Values beyond the variable table's bounds are an error; float rounding at a bound is put on it."""
    for i, name in enumerate(variables):
        lo, hi = VARIABLES[name].lower, VARIABLES[name].upper
        vals = out[i]
        bad = np.isfinite(vals) & ((vals < lo - _tolerance(lo)) | (vals > hi + _tolerance(hi)))
        if bad.any():
            raise SeaIceInputError(source, f"{int(bad.sum())} {name} values lie outside its bounds [{lo}, {hi}] "
                                   f"(from {np.nanmin(vals):.4g} to {np.nanmax(vals):.4g})",
                                   f"Pass {name} in physical units ({VARIABLES[name].units}), within [{lo}, {hi}]")
        out[i] = np.clip(vals, lo, hi)  # NaN stays NaN


def _tolerance(bound: float) -> float:
    """Float rounding allowed at a bound (0 for an infinite one)."""
    return 1e-6 * max(1.0, abs(bound)) if math.isfinite(bound) else 0.0
