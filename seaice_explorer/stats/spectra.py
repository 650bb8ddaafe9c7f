"""Radially integrated power spectra of sea-ice fields: the smoothing diagnostic of Finn et al. 2024.

The paper shows that latent diffusion smooths the small scales; a spectrum per variable, and the
ratio generated ÷ reference per wavelength band (:func:`band_power` of each set's mean spectrum, the
``{v}_spec_ratio_small`` score of :mod:`seaice_explorer.evaluation.compare`), makes that visible.

Definition (``power_spectrum``), for one (H, W) field f on ocean cells O:

1. anomaly a = f − mean_O(f) on ocean cells, 0 on land and NaN cells (land is filled with the
   ocean mean, so it adds no power; no taper, the map is treated as periodic);
2. 2-D power per Fourier mode P(kx, ky) = |FFT(a)|² / (N · N_O), N = H·W, N_O = #ocean cells;
3. modes are binned by |k| = sqrt(kx² + ky²) into rings of width Δk = max(1/(W·dx), 1/(H·dy)),
   ring i covering |k| in [(i − ½)Δk, (i + ½)Δk) (the few non-zero modes below Δk/2 join ring 1),
   and the power in a ring is summed.

So Σ_k S(k) equals the ocean variance of f (Parseval), and S(k)/Δk is a spectral density.
Wavenumbers are in cycles/km; rings beyond the Nyquist wavenumber 1/(2·dx) are partial
(grid corners). Spacing: the projected x/y spacing, or the ocean mean sqrt(cell_area) on
curvilinear grids.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..variables import VARIABLES
from .state import SPATIAL, _check_spatial, grid_spacing, ocean, whole_spatial


def mean_spacing_km(da: xr.DataArray | xr.Dataset) -> tuple[float, float]:
    """Mean cell size (dx, dy) in km over ocean cells (see :func:`state.grid_spacing`)."""
    dx, dy = grid_spacing(da)
    sea = np.asarray(ocean(da), dtype=bool) if "mask" in da.coords else np.ones(dx.shape, dtype=bool)
    sea = np.broadcast_to(sea, dx.shape)
    if not sea.any():
        sea = np.ones(dx.shape, dtype=bool)
    return float(dx[sea].mean()) / 1000.0, float(dy[sea].mean()) / 1000.0


def wavenumber_rings(shape: tuple[int, int], dx_km: float, dy_km: float) -> tuple[np.ndarray, np.ndarray]:
    """Ring index of every Fourier mode (H, W) and the ring wavenumbers (cycles/km), ring 0 = k=0."""
    h, w = shape
    kx = np.fft.fftfreq(w, d=dx_km)
    ky = np.fft.fftfreq(h, d=dy_km)
    k = np.hypot(ky[:, None], kx[None, :])  # (H, W)
    dk = max(1.0 / (w * dx_km), 1.0 / (h * dy_km))
    ring = np.rint(k / dk).astype(np.int64)
    ring[(ring == 0) & (k > 0)] = 1
    return ring, np.arange(ring.max() + 1) * dk


def _ring_power(z: np.ndarray, sea: np.ndarray, ring: np.ndarray, n_rings: int) -> np.ndarray:
    """Kernel: ring-summed power of one (H, W) field, rings 1..n_rings-1 (see module docstring)."""
    valid = np.isfinite(z) & sea
    n_valid = int(valid.sum())
    if n_valid == 0:
        return np.full(n_rings - 1, np.nan)
    anomaly = np.where(valid, z - z[valid].mean(), 0.0)
    power = np.abs(np.fft.fft2(anomaly)) ** 2 / (z.size * n_valid)  # (H, W)
    return np.bincount(ring.ravel(), weights=power.ravel(), minlength=n_rings)[1:]


def power_spectrum(obj: xr.Dataset | xr.DataArray, variables: list[str] | tuple[str, ...] | None = None
                   ) -> xr.Dataset | xr.DataArray:
    """Radially integrated power spectrum per variable over (y, x), dim ``wavenumber``.

    Returns a DataArray for a DataArray input, else a Dataset with one spectrum per variable
    (default: every state variable present). Coordinates ``wavenumber`` (cycles/km) and
    ``wavelength`` (km); other dims (time, sample) are kept; dask inputs stay lazy. Units are
    the variable's units squared per ring; Σ over wavenumber = ocean variance (Parseval).

    >>> s = power_spectrum(ds)["sic"].mean("time")  # doctest: +SKIP
    """
    if isinstance(obj, xr.Dataset):
        names = [n for n in (variables or obj.data_vars) if n in obj.data_vars and (variables or n in VARIABLES)]
        return xr.Dataset({n: power_spectrum(obj[n]) for n in names}, attrs={"definition": __doc__.split("\n\n")[1]})
    da = obj
    _check_spatial(da)
    dx_km, dy_km = mean_spacing_km(da)
    ring, k = wavenumber_rings((da.sizes["y"], da.sizes["x"]), dx_km, dy_km)
    sea = ocean(da)
    sea = np.broadcast_to(np.asarray(sea.transpose(*SPATIAL) if isinstance(sea, xr.DataArray) else sea, dtype=bool),
                          ring.shape)  # (H, W)
    field = whole_spatial(da.transpose(..., *SPATIAL).astype(np.float64))
    field = field.drop_vars([c for c in field.coords if set(field[c].dims) & set(SPATIAL)])
    out = xr.apply_ufunc(
        _ring_power, field, input_core_dims=[list(SPATIAL)], output_core_dims=[["wavenumber"]],
        kwargs={"sea": sea, "ring": ring, "n_rings": k.size}, vectorize=True, dask="parallelized",
        output_dtypes=[np.float64], dask_gufunc_kwargs={"output_sizes": {"wavenumber": k.size - 1}},
    )
    units = da.attrs.get("units") or (VARIABLES[da.name].units if da.name in VARIABLES else "1")
    out = out.assign_coords(
        wavenumber=("wavenumber", k[1:], {"units": "km-1", "long_name": "wavenumber (cycles per km)"}),
        wavelength=("wavenumber", 1.0 / k[1:], {"units": "km", "long_name": "wavelength"}),
    )
    out.name = da.name
    out.attrs = {"units": f"({units})2", "long_name": f"power spectrum of {da.name}",
                 "dx_km": dx_km, "dy_km": dy_km, "nyquist_km-1": 0.5 / max(dx_km, dy_km)}
    return out


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
