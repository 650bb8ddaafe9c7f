"""Tiny analytic sea-ice states with known statistics, for tests and docstring examples.

A disc of ice with a linear concentration ramp: sic = 1 for r ≤ r1, falling linearly to 0 at
r2, on a square projected grid. With r(c) = r2 − c·(r2 − r1), r_a = r(0.80) and r_b = r(0.15),
the MIZ (0.15 ≤ sic ≤ 0.80) is the annulus r_a ≤ r ≤ r_b: MIZ area = π(r_b² − r_a²), edge
length = 2π·r_b and MIZ width = MIZ area / edge length = (r_b − r_a)(r_b + r_a) / (2 r_b),
which tends to the ramp width r_b − r_a when the ramp is thin beside the radius.
"""

from __future__ import annotations

import numpy as np
import xarray as xr


def projected_grid(n: int = 200, dx: float = 10_000.0, land: np.ndarray | None = None) -> xr.Dataset:
    """An n×n grid of ``dx`` m cells centred on 0 (y descending), all ocean unless ``land`` (H, W)."""
    half = n * dx / 2
    x = -half + (np.arange(n) + 0.5) * dx
    y = half - (np.arange(n) + 0.5) * dx
    mask = np.ones((n, n), dtype=np.int8) if land is None else (~np.asarray(land, dtype=bool)).astype(np.int8)
    xx, yy = np.meshgrid(x, y)
    lat = 90.0 - np.hypot(xx, yy) / 111_195.0  # pole-centred, spherical approximation
    lon = np.degrees(np.arctan2(xx, -yy))
    return xr.Dataset(coords={
        "y": ("y", y, {"units": "m"}), "x": ("x", x, {"units": "m"}),
        "lat": (("y", "x"), lat.astype(np.float32)), "lon": (("y", "x"), lon.astype(np.float32)),
        "mask": (("y", "x"), mask), "cell_area": (("y", "x"), np.full((n, n), dx * dx)),
    })


def radius(grid: xr.Dataset, x0: float = 0.0, y0: float = 0.0) -> np.ndarray:
    """Distance (m) of each cell centre from (x0, y0), (H, W)."""
    return np.hypot(grid.x.values[None, :] - x0, grid.y.values[:, None] - y0)


def ramp_disc(grid: xr.Dataset, r1: float, r2: float, x0: float = 0.0, y0: float = 0.0) -> np.ndarray:
    """sic (H, W): 1 inside r1, linear to 0 at r2, 0 outside."""
    return np.clip((r2 - radius(grid, x0, y0)) / (r2 - r1), 0.0, 1.0)


def ramp_radius(c: float, r1: float, r2: float) -> float:
    """Radius where the ramp has concentration c."""
    return r2 - c * (r2 - r1)


def state(grid: xr.Dataset, dim: str = "time", **fields: np.ndarray) -> xr.Dataset:
    """A canonical Dataset from (H, W) or (N, H, W) arrays; land set to NaN."""
    sea = grid.mask.values == 1
    data = {}
    for name, arr in fields.items():
        arr = np.asarray(arr, dtype=np.float32)
        arr = arr[None] if arr.ndim == 2 else arr
        data[name] = ((dim, "y", "x"), np.where(sea, arr, np.nan).astype(np.float32))
    return xr.Dataset(data, coords=grid.coords)
