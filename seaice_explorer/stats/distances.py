"""Set-against-set kernels with one signature, ``f(a, b, dim, weights)``, as in xskillscore.

- :func:`wasserstein1`, :func:`energy_distance`: distances between the distributions of two
  samples (``scipy.stats`` computes them and is the tests' oracle);
- :func:`area_weighted_rmse`: RMSE of two fields, weighted by cell area;
- :func:`iiee`: integrated ice-edge error of two sic fields (Goessling et al. 2016).

``a`` and ``b`` are the two sets or fields; ``dim`` names the dimension(s) reduced over, and every
other dim is kept and broadcast, the xarray way; ``weights`` are optional weights: cell areas for
maps (default: the ``cell_area`` coordinate), one weight per value for samples. The comparison
of a generated set with a reference, built from these kernels, is
:mod:`seaice_explorer.evaluation.compare`.

>>> from seaice_explorer.stats import distances
>>> distances.wasserstein1([0.0, 1.0], [1.0, 2.0])
1.0
>>> distances.wasserstein1([0.0, 1.0], [1.0, 2.0], weights=([1.0, 3.0], None))
0.75
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import NamedTuple, Union

import numpy as np
import scipy.stats
import xarray as xr

from .state import EXTENT_THRESHOLD, SPATIAL, TOL, cell_area, get_var, ocean

#: The dimension(s) a kernel reduces over: a name, several names, or None (all dims of each input).
Dims = Union[Hashable, Sequence[Hashable], None]
_GRID_COORDS = ("cell_area", "mask", "lat", "lon")


def _dim_list(dim: Hashable | Sequence[Hashable]) -> list[Hashable]:
    return [dim] if isinstance(dim, str) or not isinstance(dim, Sequence) else list(dim)


# --------------------------------------------------------------------------- samples
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
#: Sample weights: one array for both sets (same shape as each), or a pair ``(a_weights, b_weights)``.
SampleWeights = Union[xr.DataArray, np.ndarray, Sequence[float], tuple[object, object], None]


def ocean_values(ds: xr.Dataset, name: str) -> np.ndarray:
    """All finite ocean values of one variable, flattened: the sample of its marginal distribution."""
    da = ds[name]
    return _clean(da.where(ocean(da)))


def _pair(weights: SampleWeights) -> tuple[object, object]:
    if isinstance(weights, tuple):
        if len(weights) != 2:
            raise ValueError(f"sample weights: one array, or a pair (a_weights, b_weights); got {len(weights)} items")
        return weights
    return weights, weights


def _values(x: Sample, w: object) -> tuple[np.ndarray, np.ndarray | None]:
    """(finite values, their weights or None) of one sample; NaN values are dropped with their weights."""
    if isinstance(x, Distribution):
        if w is not None:
            raise ValueError("a Distribution carries its counts as weights; pass the sample itself to weight it")
        return x.values, x.counts
    if w is None:
        return _clean(x), None
    arr = np.asarray(x.values if isinstance(x, xr.DataArray) else x, dtype=np.float64)
    wt = np.asarray(w.values if isinstance(w, xr.DataArray) else w, dtype=np.float64)
    if wt.ndim == 0:
        raise ValueError("sample weights need one weight per value, not a scalar")
    arr, wt = (v.ravel() for v in np.broadcast_arrays(arr, wt))
    keep = np.isfinite(arr)
    if not keep.any():
        raise ValueError("empty sample (all values NaN or none given)")
    return arr[keep], wt[keep]


def _slice(*arrays: np.ndarray, kernel: Callable[..., float], weighted: bool) -> float:
    """One vectorised slice: (u, v) or (u, v, u_weights, v_weights), core dims last; NaN if a side is empty."""
    u, v = arrays[0].ravel(), arrays[1].ravel()
    uw, vw = (arrays[2].ravel(), arrays[3].ravel()) if weighted else (None, None)
    ku, kv = np.isfinite(u), np.isfinite(v)
    if not (ku.any() and kv.any()):
        return np.nan
    return kernel(u[ku], v[kv], None if uw is None else uw[ku], None if vw is None else vw[kv])


def _labelled(kernel: Callable[..., float], a: xr.DataArray, b: xr.DataArray, dim: Dims,
              weights: SampleWeights, name: str) -> xr.DataArray:
    """Apply a 1-D sample kernel over ``dim`` of two DataArrays (sizes along ``dim`` may differ)."""
    da = list(a.dims) if dim is None else _dim_list(dim)
    db = list(b.dims) if dim is None else _dim_list(dim)
    for x, dims, label in ((a, da, "a"), (b, db, "b")):
        if missing := [d for d in dims if d not in x.dims]:
            raise ValueError(f"{name}: {label} has dims {x.dims}, not {missing}")
    args, cores = [a, b], [da, db]
    wa, wb = _pair(weights)
    if wa is not None or wb is not None:
        for x, w, dims in ((a, wa, da), (b, wb, db)):
            w = xr.ones_like(x, dtype=np.float64) if w is None else w
            if not isinstance(w, xr.DataArray):
                raise TypeError(f"{name}: weights of DataArray sets must be DataArrays (named dims)")
            args.append(w.broadcast_like(x))
            cores.append(dims)
    out = xr.apply_ufunc(
        _slice, *args, input_core_dims=cores, exclude_dims=set(da) | set(db),
        kwargs={"kernel": kernel, "weighted": len(args) == 4}, vectorize=True, dask="parallelized",
        output_dtypes=[np.float64], dask_gufunc_kwargs={"allow_rechunk": True},
    )
    out.name = name
    out.attrs = {"units": a.attrs.get("units", ""), "long_name": name.replace("_", " ")}
    return out


def _sample_distance(kernel: Callable[..., float], a: Sample, b: Sample, dim: Dims,
                     weights: SampleWeights, name: str) -> float | xr.DataArray:
    if isinstance(a, xr.DataArray) and isinstance(b, xr.DataArray):
        return _labelled(kernel, a, b, dim, weights, name)
    if dim is not None:
        raise TypeError(f"{name}: dim={dim!r} needs two DataArrays; other samples are reduced whole (dim=None)")
    wa, wb = _pair(weights)
    (u, uw), (v, vw) = _values(a, wa), _values(b, wb)
    return float(kernel(u, v, uw, vw))


def wasserstein1(a: Sample, b: Sample, dim: Dims = None, weights: SampleWeights = None) -> float | xr.DataArray:
    """Wasserstein-1 distance of two samples, W1 = ∫ |F_a(t) − F_b(t)| dt (``scipy.stats.wasserstein_distance``).

    Every value along ``dim`` (default: all dims of each) is one draw; NaNs are dropped. The two
    sets may differ in size along ``dim``. ``weights``: per-value weights for both sets, or a pair
    ``(a_weights, b_weights)`` (either may be None). A float for arrays and :class:`Distribution`
    inputs; a DataArray over the kept dims for two DataArrays (NaN where a side has no finite value).
    """
    return _sample_distance(scipy.stats.wasserstein_distance, a, b, dim, weights, "wasserstein1")


def energy_distance(a: Sample, b: Sample, dim: Dims = None, weights: SampleWeights = None) -> float | xr.DataArray:
    """Energy distance of two samples (Székely & Rizzo 2013): sqrt(2 ∫ (F_a − F_b)² dt)

    = sqrt(2 E|X − Y| − E|X − X'| − E|Y − Y'|), a proper metric between distributions
    (``scipy.stats.energy_distance``). ``dim`` and ``weights`` as in :func:`wasserstein1`.
    """
    return _sample_distance(scipy.stats.energy_distance, a, b, dim, weights, "energy_distance")


# --------------------------------------------------------------------------- fields
def _area_weights(a: xr.DataArray, b: xr.DataArray, weights: xr.DataArray | None) -> xr.DataArray:
    """``weights``, or the ``cell_area`` coordinate of ``a`` (else of ``b``)."""
    if weights is None:
        return cell_area(a) if "cell_area" in a.coords else cell_area(b)
    if not isinstance(weights, xr.DataArray):
        raise TypeError("map weights must be a DataArray (named dims), e.g. the cell_area coordinate")
    return weights


def _drop_grid(x: xr.DataArray) -> xr.DataArray:
    return x.drop_vars([c for c in _GRID_COORDS if c in x.coords]) if isinstance(x, xr.DataArray) else x


def area_weighted_rmse(a: xr.DataArray, b: xr.DataArray, dim: Dims = SPATIAL,
                       weights: xr.DataArray | None = None) -> xr.DataArray:
    """sqrt(Σ w (a − b)² / Σ w) over ``dim``, on ocean cells where both are finite.

    ``weights`` w default to the ``cell_area`` coordinate; ``dim`` defaults to the map (y, x), so
    a (time, y, x) pair gives one RMSE per time.
    """
    dims = list(a.dims) if dim is None else _dim_list(dim)
    w = _area_weights(a, b, weights)
    keep = ocean(a) & ocean(b) & w.notnull()
    # the grid coordinates have served (area, mask); dropping them spares xarray re-aligning them at every step
    diff2 = (_drop_grid(a) - _drop_grid(b)) ** 2
    valid = diff2.notnull() & _drop_grid(keep)
    out = np.sqrt(diff2.where(valid).weighted(_drop_grid(w).where(valid, 0.0)).mean(dims))
    out.name = "rmse"
    out.attrs = {"long_name": "area-weighted RMSE", "units": a.attrs.get("units", "")}
    return out


def iiee(a: xr.Dataset | xr.DataArray, b: xr.Dataset | xr.DataArray, dim: Dims = SPATIAL,
         weights: xr.DataArray | None = None, *, threshold: float = EXTENT_THRESHOLD) -> xr.Dataset:
    """Integrated ice-edge error (Goessling et al. 2016, GRL 43:1642), m², of ``a`` against ``b``.

    With binary ice cover I = [sic ≥ threshold] on ocean cells where both are finite, summed over
    ``dim`` with weights A (default: ``cell_area``): ``overestimate`` O = Σ A·[I_a ∧ ¬I_b],
    ``underestimate`` U = Σ A·[¬I_a ∧ I_b], ``iiee`` = O + U, absolute extent error
    ``aee`` = |O − U|, misplacement ``me`` = IIEE − AEE.
    """
    sa, sb = get_var(a, "sic"), get_var(b, "sic")
    dims = list(sa.dims) if dim is None else _dim_list(dim)
    valid = sa.notnull() & sb.notnull() & ocean(sa) & ocean(sb)
    ia = (sa >= threshold - TOL) & valid
    ib = (sb >= threshold - TOL) & valid
    w = _area_weights(sa, sb, weights)
    over = ((ia & ~ib) * w).sum(dims)
    under = ((~ia & ib) * w).sum(dims)
    parts = {"iiee": over + under, "overestimate": over, "underestimate": under,
             "aee": abs(over - under), "me": over + under - abs(over - under)}
    units = "m2" if weights is None else weights.attrs.get("units", "")
    return xr.Dataset({k: v.assign_attrs(units=units, long_name=k) for k, v in parts.items()},
                      attrs={"threshold": threshold})
