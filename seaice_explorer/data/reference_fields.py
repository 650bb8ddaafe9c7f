"""Building blocks of the synthetic neXtSIM-like reference: random Fourier weather and geography.

Every field here is a pure function of (seed, position, day), so any single day of the
reference can be regenerated exactly without running the days before it. Coordinates are
the default grid's projection coordinates in **km** (x east, y towards 180°, both on the
EASE2-North plane seen from above).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr


@dataclass(frozen=True)
class FourierField:
    """A smooth random space-time field: ``sqrt(2/N) * sum_j cos(k_j . x + w_j t + phi_j)``.

    With wave vectors drawn from N(0, 1/L^2) and frequencies from N(0, 1/tau^2) this is the
    random-Fourier-feature approximation of a unit-variance Gaussian process with covariance
    ``exp(-r^2 / 2L^2) exp(-dt^2 / 2tau^2)`` (Rahimi & Recht 2007). Evaluating day ``t`` needs
    nothing but ``t``.
    """

    kx: np.ndarray  # (N,) rad/km
    ky: np.ndarray  # (N,) rad/km
    omega: np.ndarray  # (N,) rad/day
    phase: np.ndarray  # (N,)
    amp: np.ndarray  # (N,)

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int, length_km: float, tau_days: float,
             angle: float | None = None, spread: float = 0.2, wavelength_km: tuple[float, float] | None = None) -> "FourierField":
        """Draw ``n`` modes: isotropic Gaussian spectrum, or plane waves near ``angle`` (radians)."""
        if angle is None:
            kx = rng.normal(0.0, 1.0 / length_km, n)
            ky = rng.normal(0.0, 1.0 / length_km, n)
        else:  # anisotropic: wave vectors within ``spread`` rad of ``angle``
            lo, hi = wavelength_km or (length_km, 3 * length_km)
            k = 2 * np.pi / rng.uniform(lo, hi, n)
            theta = angle + rng.normal(0.0, spread, n)
            kx, ky = k * np.cos(theta), k * np.sin(theta)
        omega = rng.normal(0.0, 1.0 / tau_days, n)
        phase = rng.uniform(0.0, 2 * np.pi, n)
        amp = np.full(n, np.sqrt(2.0 / n))
        return cls(kx, ky, omega, phase, amp)

    def basis(self, xk: np.ndarray, yk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """cos and sin of the spatial phases, (N, P) each, for flattened points ``xk``, ``yk``."""
        p = np.outer(self.kx, xk) + np.outer(self.ky, yk)  # (N, P)
        return np.cos(p), np.sin(p)

    def value(self, basis: tuple[np.ndarray, np.ndarray], t: float) -> np.ndarray:
        """Field at day ``t`` on the points of ``basis``: (P,)."""
        cos_p, sin_p = basis
        b = self.omega * t + self.phase
        return (self.amp * np.cos(b)) @ cos_p - (self.amp * np.sin(b)) @ sin_p

    def gradient(self, basis: tuple[np.ndarray, np.ndarray], t: float) -> tuple[np.ndarray, np.ndarray]:
        """(d/dx, d/dy) of the field at day ``t``, per km: two (P,) arrays."""
        cos_p, sin_p = basis
        b = self.omega * t + self.phase
        # d/dx cos(p + b) = -k_x sin(p + b) = -k_x (sin p cos b + cos p sin b)
        sc = self.amp * np.cos(b)
        ss = self.amp * np.sin(b)
        dx = -((self.kx * sc) @ sin_p + (self.kx * ss) @ cos_p)
        dy = -((self.ky * sc) @ sin_p + (self.ky * ss) @ cos_p)
        return dx, dy


    def rotated(self, xk: np.ndarray, yk: np.ndarray, t: float, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Value and (d/dx, d/dy) at day ``t`` with all wave vectors turned by ``alpha`` rad."""
        ca, sa = np.cos(alpha), np.sin(alpha)
        kx = ca * self.kx - sa * self.ky
        ky = sa * self.kx + ca * self.ky
        p = np.outer(kx, xk) + np.outer(ky, yk) + (self.omega * t + self.phase)[:, None]  # (N, P)
        c, s = np.cos(p), np.sin(p)
        return self.amp @ c, -((self.amp * kx) @ s), -((self.amp * ky) @ s)


def time_series(rng: np.random.Generator, n: int, periods_days: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random low-frequency 1-D series: (omega, phase, amp) of ``n`` cosines, unit variance."""
    omega = 2 * np.pi / rng.uniform(*periods_days, n)
    return omega, rng.uniform(0, 2 * np.pi, n), np.full(n, np.sqrt(2.0 / n))


def eval_series(series: tuple[np.ndarray, np.ndarray, np.ndarray], t: float) -> float:
    """Value of a :func:`time_series` at day ``t``."""
    omega, phase, amp = series
    return float(amp @ np.cos(omega * t + phase))


# ----------------------------------------------------------------------------------- geography

def _xy_km(lat: float, lon: float) -> tuple[float, float]:
    """EASE2-North plane coordinates (km) of a point, spherical approximation (good to ~1 %)."""
    r = 2 * 6371.0 * np.sin(np.radians(90.0 - lat) / 2)
    return r * np.sin(np.radians(lon)), -r * np.cos(np.radians(lon))


def _dist_to_polyline(x: np.ndarray, y: np.ndarray, points: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Distance (km) from each point to a lat/lon polyline, and the along-path position 0..1."""
    verts = np.array([_xy_km(*p) for p in points])
    best = np.full(x.shape, np.inf)
    along = np.zeros(x.shape)
    seg_len = np.hypot(*np.diff(verts, axis=0).T)
    start = np.concatenate([[0.0], np.cumsum(seg_len)])
    for i in range(len(verts) - 1):
        (ax, ay), (bx, by) = verts[i], verts[i + 1]
        dx, dy = bx - ax, by - ay
        u = np.clip(((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
        d = np.hypot(x - ax - u * dx, y - ay - u * dy)
        closer = d < best
        best = np.where(closer, d, best)
        along = np.where(closer, (start[i] + u * seg_len[i]) / start[-1], along)
    return best, along


def _dist_to_land(land: np.ndarray, dx_km: float) -> np.ndarray:
    from scipy import ndimage

    return ndimage.distance_transform_edt(~land) * dx_km


@dataclass(frozen=True)
class Geography:
    """Static fields of the default grid the generator is built on (all (H, W), km or 1)."""

    x: np.ndarray  # km, (H, W)
    y: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    ocean: np.ndarray  # bool
    dist_greenland: np.ndarray  # km to Greenland / the Canadian Archipelago
    dist_siberia: np.ndarray  # km to the Eurasian and Alaskan coasts
    dist_land: np.ndarray  # km to any land
    iciness: np.ndarray  # "effective distance" from the cold pole (km): small = ice longest
    atlantic: np.ndarray  # 0..1 weight of the Atlantic sector (wide MIZ)
    h_max: np.ndarray  # late-winter thickness climatology (m)

    @classmethod
    def from_grid(cls, grid: xr.Dataset) -> "Geography":
        xx, yy = np.meshgrid(grid["x"].values / 1e3, grid["y"].values / 1e3)
        lat = grid["lat"].values.astype(np.float64)
        lon = grid["lon"].values.astype(np.float64)
        ocean = grid["mask"].values == 1
        land = ~ocean
        dx_km = float(abs(grid["x"].values[1] - grid["x"].values[0])) / 1e3
        greenland = land & (lat > 59) & (lon > -125) & (lon < -10)  # Greenland + Archipelago
        siberia = land & ~greenland & ((lon > 20) | (lon < -140))  # Eurasia east of Norway, Alaska
        d_gr = _dist_to_land(greenland, dx_km)
        d_si = _dist_to_land(siberia, dx_km)
        d_land = _dist_to_land(land, dx_km)
        iciness = _iciness(xx, yy, lat, lon, d_gr, d_si)
        atlantic = _sector_weight(lon, -45.0, 90.0, 15.0)
        h_max = _thickness_climatology(xx, yy, d_gr, d_si)
        return cls(xx, yy, lat, lon, ocean, d_gr, d_si, d_land, iciness, atlantic, h_max)


def _sector_weight(lon: np.ndarray, west: float, east: float, soft: float) -> np.ndarray:
    """Smooth 0..1 indicator of west < lon < east (degrees)."""
    return 1 / (1 + np.exp(-(lon - west) / soft * 4)) * 1 / (1 + np.exp((lon - east) / soft * 4))


def _iciness(x: np.ndarray, y: np.ndarray, lat: np.ndarray, lon: np.ndarray, d_gr: np.ndarray,
             d_si: np.ndarray) -> np.ndarray:
    """Effective distance (km) from the cold pole: cells are ice covered while it is below a
    threshold that follows the seasonal cycle, so the ice retreats towards the Canadian side.

    - distance from a cold centre displaced from the pole towards the Beaufort Sea;
    - Atlantic Water inflow (Norwegian Atlantic Current, West Spitsbergen Current, Barents
      branch) and the Irminger/West Greenland Current keep the water open;
    - ice exported along East Greenland and held against Greenland and the Archipelago;
    - the shallow Siberian and Alaskan shelves melt out first in summer.
    """
    cx, cy = _xy_km(85.5, -125.0)
    d = np.hypot(x - cx, y - cy)
    d = np.where(d > 1800, 1800 + 0.6 * (d - 1800), d)  # continental seas freeze far south
    d_atl, along = _dist_to_polyline(x, y, [(58, -8), (64, 0), (70, 12), (74, 15), (78, 10), (80.5, 6)])
    d_bar, along_b = _dist_to_polyline(x, y, [(70, 15), (71.5, 30), (73, 42), (74, 50)])
    atl = 2200 * np.exp(-(d_atl / 600) ** 2) * (1.0 - 0.65 * along)
    atl = np.maximum(atl, 1400 * np.exp(-(d_bar / 350) ** 2) * (1.0 - 0.6 * along_b))
    d_irm, along_i = _dist_to_polyline(x, y, [(58, -40), (61, -47), (64, -53), (67, -55)])
    atl = np.maximum(atl, 1400 * np.exp(-(d_irm / 250) ** 2) * (1.0 - 0.6 * along_i))
    d_pac, _ = _dist_to_polyline(x, y, [(50, 165), (54, 180), (55, -160), (58, -145), (55, -130)])
    atl = np.maximum(atl, 1500 * np.exp(-(d_pac / 500) ** 2))
    green = 1.0 - np.exp(-(d_gr / 150) ** 2)
    bonus = 500 * np.exp(-d_gr / 180) / (1 + np.exp(-(lat - 68.0) / 2.0))
    shelf = 500 * np.exp(-d_si / 400)
    return d + atl * green - bonus + shelf


def _thickness_climatology(x: np.ndarray, y: np.ndarray, d_gr: np.ndarray, d_si: np.ndarray) -> np.ndarray:
    """Late-winter ice thickness (m): 4-5 m against north Greenland and the Archipelago,
    about 2 m in the central Arctic, 1.2-1.6 m on the Siberian shelves."""
    cx, cy = _xy_km(85.0, -70.0)
    d = np.hypot(x - cx, y - cy)
    h = 1.6 + 2.0 * np.exp(-(d / 1100) ** 2) + 1.2 * np.exp(-d_gr / 250)
    return h - 0.4 * np.exp(-d_si / 400)


def mean_streamfunction(geo: Geography) -> np.ndarray:
    """Climatological ice-drift streamfunction (m^2/s): Beaufort Gyre, Transpolar Drift, EGC.

    Velocity is u = -dpsi/dy, v = dpsi/dx, so a positive bump is anticyclonic (clockwise).
    """
    x, y = geo.x, geo.y
    bx, by = _xy_km(76.5, -145.0)
    psi = 5.0e4 * np.exp(-((x - bx) ** 2 + (y - by) ** 2) / (2 * 550.0**2))  # Beaufort Gyre
    # Transpolar Drift: from the Laptev Sea over the pole to Fram Strait, accelerating
    ax, ay = _xy_km(78.0, 135.0)
    fx, fy = _xy_km(80.0, -5.0)
    ex, ey = fx - ax, fy - ay
    length = np.hypot(ex, ey)
    ex, ey = ex / length, ey / length
    n_km = -ey * (x - ax) + ex * (y - ay)  # across the axis
    s = ((x - ax) * ex + (y - ay) * ey) / length  # 0 at the Laptev Sea, 1 at Fram Strait
    speed = 0.045 + 0.06 / (1 + np.exp(-(s - 0.75) * 8))
    width = 700.0
    psi = psi - speed * width * 1e3 * np.tanh(n_km / width)
    # East Greenland Current: southward along Greenland's east coast (the coast on its right)
    east_coast = _sector_weight(geo.lon, -50.0, 15.0, 10.0) / (1 + np.exp((geo.lat - 81.0) / 1.5))
    psi = psi + 1.6e4 * np.exp(-geo.dist_greenland / 120) * east_coast
    return psi
