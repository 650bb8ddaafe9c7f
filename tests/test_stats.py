"""Per-state statistics against analytic oracles (ramp disc, half plane, constructed arrays)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

from seaice_explorer import stats
from seaice_explorer.errors import SeaIceInputError
from seaice_explorer.stats import synthetic as syn

R1, R2 = 300e3, 700e3  # ramp disc: sic = 1 inside R1, 0 beyond R2
RA, RB = syn.ramp_radius(0.80, R1, R2), syn.ramp_radius(0.15, R1, R2)


@pytest.fixture(scope="module")
def disc() -> xr.Dataset:
    grid = syn.projected_grid(400, 5_000.0)  # 2000 km square, 5 km cells
    return syn.state(grid, sic=syn.ramp_disc(grid, R1, R2))


def ramp_disc_area(r1: float, r2: float) -> float:
    """∫ sic dA of the ramp disc: π r1² + 2π/(r2 − r1) [r2 r²/2 − r³/3] from r1 to r2."""
    f = lambda r: r2 * r**2 / 2 - r**3 / 3  # noqa: E731
    return math.pi * r1**2 + 2 * math.pi / (r2 - r1) * (f(r2) - f(r1))


def test_disc_extent_area_miz(disc):
    assert float(stats.extent(disc)[0]) == pytest.approx(math.pi * RB**2, rel=2e-3)
    assert float(stats.area(disc)[0]) == pytest.approx(ramp_disc_area(R1, R2), rel=2e-3)
    assert float(stats.miz_area(disc)[0]) == pytest.approx(math.pi * (RB**2 - RA**2), rel=3e-3)


def test_disc_edge_length_and_width(disc):
    edge = float(stats.ice_edge_length(disc)[0])
    assert edge == pytest.approx(2 * math.pi * RB, rel=2e-3)
    # the staircase of shared cell edges overestimates a circle by 4/π
    cells = float(stats.ice_edge_length(disc, method="cells")[0])
    assert cells == pytest.approx(4 / math.pi * 2 * math.pi * RB, rel=1e-2)
    width = float(stats.miz_width(disc)[0])
    assert width == pytest.approx((RB - RA) * (RB + RA) / (2 * RB), rel=5e-3)


def test_thin_ramp_width_is_ramp_width():
    r1, r2 = 900e3, 1000e3
    grid = syn.projected_grid(440, 5_000.0)
    ds = syn.state(grid, sic=syn.ramp_disc(grid, r1, r2))
    ra, rb = syn.ramp_radius(0.80, r1, r2), syn.ramp_radius(0.15, r1, r2)
    assert float(stats.miz_width(ds)[0]) == pytest.approx(rb - ra, rel=0.05)


def test_edge_length_converges_with_resolution():
    errors = []
    for n, dx in ((50, 40e3), (100, 20e3), (400, 5e3)):
        grid = syn.projected_grid(n, dx)
        ds = syn.state(grid, sic=syn.ramp_disc(grid, R1, R2))
        errors.append(abs(float(stats.ice_edge_length(ds)[0]) / (2 * math.pi * RB) - 1))
    assert errors[-1] < errors[0] and errors[-1] < 2e-3


def test_curvilinear_fallback_matches_projected(disc):
    # index coordinates without units: lengths come from sqrt(cell_area), which is 5 km here
    curvi = disc.assign_coords(x=np.arange(disc.sizes["x"]), y=np.arange(disc.sizes["y"]))
    assert float(stats.ice_edge_length(curvi)[0]) == pytest.approx(float(stats.ice_edge_length(disc)[0]), rel=1e-9)


def test_coastline_is_not_ice_edge():
    n, dx = 100, 10e3
    land = np.zeros((n, n), dtype=bool)
    land[:, :20] = True
    grid = syn.projected_grid(n, dx, land=land)
    sic = np.where(np.arange(n)[:, None] < 50, 1.0, 0.0) * np.ones((1, n))
    ds = syn.state(grid, sic=sic)
    cells = float(stats.ice_edge_length(ds, method="cells")[0])
    assert cells == pytest.approx(80 * dx)  # ice/water edges in the 80 ocean columns, none along the coast
    contour = float(stats.ice_edge_length(ds)[0])
    assert 78 * dx <= contour <= 80 * dx  # the quad touching land is masked


def test_threshold_counts_float32_values():
    grid = syn.projected_grid(4, 1000.0)
    sic = np.array([[0.15, 0.149, 0.8, 0.81]] * 4, dtype=np.float32)
    ds = syn.state(grid, sic=sic)
    assert float(stats.extent(ds)[0]) == pytest.approx(3 * 4 * 1e6)
    assert float(stats.miz_area(ds)[0]) == pytest.approx(2 * 4 * 1e6)


def test_thickness_and_volume():
    grid = syn.projected_grid(20, 1000.0)
    sic = np.zeros((20, 20))
    sic[:10] = 0.9
    sit = np.where(sic > 0, 2.0, 0.0)
    sit[:5] = 4.0  # rows 0-4 thicker: mean over ice = (5*4 + 5*2)/10 = 3
    ds = syn.state(grid, sic=sic, sit=sit)
    assert float(stats.mean_thickness(ds)[0]) == pytest.approx(3.0)
    assert float(stats.volume(ds)[0]) == pytest.approx((100 * 4 + 100 * 2) * 1e6)
    # without sic, ice is where sit > 0
    assert float(stats.mean_thickness(ds[["sit"]])[0]) == pytest.approx(3.0)
    no_ice = syn.state(grid, sic=np.zeros((20, 20)), sit=np.zeros((20, 20)))
    assert np.isnan(float(stats.mean_thickness(no_ice)[0]))


def test_bound_fractions_constructed():
    land = np.zeros((2, 5), dtype=bool)
    land[1, 4] = True
    grid = syn.projected_grid(5, 1000.0).isel(y=slice(0, 2))
    grid["mask"] = (("y", "x"), (~land).astype(np.int8))
    sic = np.array([[0.0, 0.0, 1.0, 1.2, -0.1], [0.5, 1.0 - 1e-8, 3e-7, 0.3, 0.7]])
    sit = np.array([[0.0, -1.0, 3.0, 0.0, 1.0], [0.0, 2.0, np.nan, 1.0, 5.0]])
    siu = np.full((2, 5), 0.1)
    ds = syn.state(grid, sic=sic, sit=sit, siu=siu)
    bf = stats.bound_fractions(ds)
    # 9 ocean cells: sic at 0: (0, 0, 3e-7) = 3; at 1: (1, 1-1e-8) = 2; below 0: 1; above 1: 1
    assert float(bf.sic_at_lower[0]) == pytest.approx(3 / 9)
    assert float(bf.sic_at_upper[0]) == pytest.approx(2 / 9)
    assert float(bf.sic_below_lower[0]) == pytest.approx(1 / 9)
    assert float(bf.sic_above_upper[0]) == pytest.approx(1 / 9)
    # sit: 8 finite ocean cells; at 0: 3, below: 1; no upper bound
    assert float(bf.sit_at_lower[0]) == pytest.approx(3 / 8)
    assert float(bf.sit_below_lower[0]) == pytest.approx(1 / 8)
    assert "sit_at_upper" not in bf and not any(k.startswith("siu") for k in bf.data_vars)


def test_keeps_time_dim_and_dask_matches_numpy():
    grid = syn.projected_grid(120, 10e3)
    sics = np.stack([syn.ramp_disc(grid, 150e3 + 20e3 * i, 400e3, x0=5e3 * i) for i in range(4)])
    sit = 2.0 * sics
    ds = syn.state(grid, sic=sics, sit=sit).assign_coords(time=np.arange(4))
    eager = stats.state_stats(ds)
    lazy = stats.state_stats(ds.chunk({"time": 1, "y": 60}))
    assert all(lazy[v].chunks is not None for v in lazy.data_vars)
    assert eager.extent.dims == ("time",) and eager.sizes["time"] == 4
    xr.testing.assert_allclose(eager, lazy.compute())
    rb = np.array([syn.ramp_radius(0.15, 150e3 + 20e3 * i, 400e3) for i in range(4)])
    ra = np.array([syn.ramp_radius(0.80, 150e3 + 20e3 * i, 400e3) for i in range(4)])
    np.testing.assert_allclose(eager.extent.values, np.pi * rb**2, rtol=0.02)
    np.testing.assert_allclose(eager.miz_area.values, np.pi * (rb**2 - ra**2), rtol=0.03)


def test_clear_errors():
    grid = syn.projected_grid(10, 1000.0)
    ds = syn.state(grid, sic=np.zeros((10, 10)))
    with pytest.raises(SeaIceInputError, match="cell_area"):
        stats.extent(ds.sic.drop_vars("cell_area"))
    with pytest.raises(SeaIceInputError, match="sit"):
        stats.volume(ds)
    with pytest.raises(SeaIceInputError, match="unknown ice-edge method"):
        stats.ice_edge_length(ds, method="bogus")


def test_package_docstring_example_runs():
    import doctest

    result = doctest.testmod(stats, verbose=False)
    assert result.attempted >= 4 and result.failed == 0
