"""Power spectra: a sine peaks at its wavelength, white noise is flat per mode, Parseval holds."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from seaice_explorer.stats import power_spectrum, synthetic as syn
from seaice_explorer.stats.spectra import wavenumber_rings

N, DX = 128, 25e3  # 3200 km square, 25 km cells


def grid_xy(land: np.ndarray | None = None) -> tuple[xr.Dataset, np.ndarray, np.ndarray]:
    grid = syn.projected_grid(N, DX, land=land)
    xx, yy = np.meshgrid(grid.x.values, grid.y.values)
    return grid, xx, yy


@pytest.mark.parametrize("kx, ky", [(8, 0), (0, 5), (6, 6), (20, 13)])
def test_sine_peaks_at_its_wavelength_with_all_the_power(kx, ky):
    grid, xx, yy = grid_xy()
    length = N * DX
    amp = 0.7
    field = 1.3 + amp * np.sin(2 * np.pi * (kx * xx + ky * yy) / length + 0.4)
    spec = power_spectrum(syn.state(grid, sit=field)).sit.isel(time=0)
    peak = spec.wavelength.values[int(np.argmax(spec.values))]
    true_wavelength_km = length / 1000 / np.hypot(kx, ky)
    dk = 1 / (length / 1000)
    assert abs(1 / peak - 1 / true_wavelength_km) <= dk / 2 + 1e-12  # within the ring half-width
    assert float(spec.max()) == pytest.approx(amp**2 / 2, rel=1e-6)  # the whole variance in one ring
    assert float(spec.sum()) == pytest.approx(amp**2 / 2, rel=1e-6)


def test_white_noise_is_flat_per_mode():
    rng = np.random.default_rng(0)
    grid, _, _ = grid_xy()
    sigma = 0.5
    noise = rng.normal(0.0, sigma, size=(40, N, N))
    spec = power_spectrum(syn.state(grid, sit=noise)).sit.mean("time")
    ring, k = wavenumber_rings((N, N), DX / 1000, DX / 1000)
    modes = np.bincount(ring.ravel())[1:]
    per_mode = spec.values / modes  # expected: sigma² / N² per mode, every wavenumber
    inside = spec.wavenumber.values <= 0.5 / (DX / 1000)  # complete rings (up to Nyquist)
    expected = sigma**2 / N**2
    np.testing.assert_allclose(per_mode[inside][4:], expected, rtol=0.2)  # rings with ≥ 25 modes
    slope = np.polyfit(spec.wavenumber.values[inside], per_mode[inside] / expected, 1)[0]
    assert abs(slope * spec.wavenumber.values[inside].max()) < 0.05  # no trend across the band


def test_parseval_with_land():
    rng = np.random.default_rng(1)
    land = rng.random((N, N)) < 0.3
    grid, xx, _ = grid_xy(land)
    field = rng.gamma(2.0, 1.0, size=(3, N, N)) + np.sin(xx / 2e5)
    ds = syn.state(grid, sit=field)
    spec = power_spectrum(ds).sit
    ocean_var = ds.sit.astype(np.float64).var(("y", "x")).values  # NaN on land, ddof = 0
    np.testing.assert_allclose(spec.sum("wavenumber").values, ocean_var, rtol=1e-10)


def test_dask_and_units_in_km():
    rng = np.random.default_rng(2)
    grid, _, _ = grid_xy()
    ds = syn.state(grid, sic=rng.random((4, N, N)), siu=rng.normal(size=(4, N, N)))
    eager = power_spectrum(ds)
    lazy = power_spectrum(ds.chunk({"time": 2, "x": 64}))
    assert lazy.sic.chunks is not None
    xr.testing.assert_allclose(eager, lazy.compute())
    km = ds.assign_coords(x=("x", ds.x.values / 1000, {"units": "km"}), y=("y", ds.y.values / 1000, {"units": "km"}))
    np.testing.assert_allclose(power_spectrum(km).wavelength.values, eager.wavelength.values)
    assert eager.wavelength.attrs["units"] == "km" and float(eager.wavelength.min()) < 2 * DX / 1000
