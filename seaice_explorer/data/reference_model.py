"""The synthetic neXtSIM-like sea-ice model behind the default reference: one day at a time.

:class:`ReferenceModel` turns a seed into a set of smooth random weather fields
(:class:`~seaice_explorer.data.reference_fields.FourierField`) and evaluates the five state
variables of Finn et al. (2024) for any day ``t`` directly, without time stepping:

- **ice edge**: a cell is ice covered (sic >= 0.15) when its static *iciness* plus weather
  perturbations lies below a threshold chosen each day so that the in-domain extent follows
  the NSIDC 1991-2020 climatology (minus what falls outside the domain);
- **sic**: a marginal-ice-zone ramp inside the edge (wider in summer and in the Atlantic
  sector), a pack at exactly 1 in winter, lowered in summer (melt ponds) and along fresh leads;
- **sid**: linear kinematic features from the zero lines of anisotropic plane-wave fields,
  healing over a few days, plus a patchy background and a damaged MIZ;
- **sit**: a thickness climatology (thickest north of Greenland) with a seasonal cycle, thin
  young ice near the edge in autumn, ridging on damaged ice; cell-mean thickness = h * sic;
- **siu, siv**: Beaufort Gyre + Transpolar Drift + East Greenland Current, plus synoptic
  wind-driven drift from a random streamfunction; zero where there is no ice.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .reference_fields import FourierField, Geography, eval_series, mean_streamfunction, time_series

#: NSIDC Sea Ice Index v3, 1991-2020 monthly mean Arctic extent (10^6 km^2), Jan..Dec.
NSIDC_CLIMATOLOGY = (13.98, 14.87, 15.03, 14.32, 12.93, 11.30, 8.75, 6.43, 5.58, 7.49, 10.14, 12.40)
#: Extent the 128 x 128 default grid cannot hold (10^6 km^2), estimated from the OSI SAF CDR
#: files in ../shared/data/osisaf: ice outside the +-3200 km box was 1.48 on 2018-03-17,
#: 0.27 on 2020-07-15 and 0 on both September dates (Sea of Okhotsk, Bering Sea, Baltic,
#: Gulf of St Lawrence, south Labrador and James Bay), scaled by month with the usual
#: timing of those seas' ice; plus 0.15 lost to the coarse 50 km coastline (the mean over
#: the four dates of OSI extent inside the box minus OSI averaged onto the 50 km grid:
#: 0.20, 0.08, 0.17, 0.14).
OUT_OF_BOX_MARCH = 1.48
OUT_OF_BOX_SHAPE = (0.75, 0.95, 1.0, 0.85, 0.45, 0.2, 0.18, 0.02, 0.0, 0.0, 0.08, 0.4)
COAST_LOSS = 0.15

N_LINE_FAMILIES = 6
DAMAGE_MEMORY_DAYS = 6


def in_domain_targets() -> np.ndarray:
    """Monthly mean extent the default domain should hold (10^6 km^2), Jan..Dec."""
    clim = np.asarray(NSIDC_CLIMATOLOGY)
    return clim - COAST_LOSS - OUT_OF_BOX_MARCH * np.asarray(OUT_OF_BOX_SHAPE)


def _daily_climatology(monthly: np.ndarray) -> np.ndarray:
    """Smooth periodic daily curve (366 values, day-of-year 1..366) whose monthly means equal
    ``monthly``: a 4-harmonic fit, corrected by a few fixed-point iterations."""
    doy = np.arange(1, 367)
    month = pd.to_datetime("2000-01-01") + pd.to_timedelta(doy - 1, "D")
    month_idx = month.month.values - 1
    mid = np.array([np.mean(doy[month_idx == m]) for m in range(12)])
    nodes = monthly.astype(np.float64).copy()
    for _ in range(8):
        phase = 2 * np.pi * mid / 366.0
        design = np.column_stack([np.ones(12)] + [f(k * phase) for k in range(1, 5) for f in (np.cos, np.sin)])
        coef, *_ = np.linalg.lstsq(design, nodes, rcond=None)
        p = 2 * np.pi * doy / 366.0
        curve = np.column_stack([np.ones(366)] + [f(k * p) for k in range(1, 5) for f in (np.cos, np.sin)]) @ coef
        means = np.array([curve[month_idx == m].mean() for m in range(12)])
        nodes = nodes + (monthly - means)
    return curve


def _steepness(iciness: np.ndarray, ocean: np.ndarray, dx_km: float) -> np.ndarray:
    """Smoothed |grad iciness| (dimensionless), clipped to 0.5..5."""
    from scipy import ndimage

    filled = np.where(ocean, iciness, ndimage.gaussian_filter(np.where(ocean, iciness, 0), 3)
                      / np.maximum(ndimage.gaussian_filter(ocean.astype(float), 3), 1e-6))
    gy, gx = np.gradient(filled, dx_km)
    return np.clip(ndimage.gaussian_filter(np.hypot(gx, gy), 1.5), 0.5, 5.0)


def _bump(doy: float, centre: float, width: float) -> float:
    """Periodic Gaussian bump in day-of-year."""
    d = (doy - centre + 182.5) % 365.0 - 182.5
    return float(np.exp(-((d / width) ** 2)))


class ReferenceModel:
    """All random draws of one seed, and the state of any day (see module docstring)."""

    def __init__(self, grid: xr.Dataset, seed: int = 0, start: str = "2000-01-01") -> None:
        self.grid = grid
        self.geo = Geography.from_grid(grid)
        self.start = pd.Timestamp(start)
        self.ocean = self.geo.ocean
        self.cell_area_km2 = grid["cell_area"].values[self.ocean] / 1e6  # (P,)
        g = self.geo
        xo, yo = g.x[self.ocean], g.y[self.ocean]
        rng = np.random.default_rng(seed)
        draw = FourierField.draw
        self.fields: dict[str, FourierField] = {
            "edge_fast": draw(rng, 48, 450.0, 6.0),
            "edge_small": draw(rng, 64, 180.0, 4.0),
            "edge_slow": draw(rng, 32, 1000.0, 45.0),
            "miz": draw(rng, 32, 350.0, 8.0),
            "pond": draw(rng, 48, 180.0, 6.0),
            "thick": draw(rng, 32, 300.0, 40.0),
            "wind": draw(rng, 64, 650.0, 2.0),
            "wind_slow": draw(rng, 32, 1400.0, 15.0),
            "dmg_bg": draw(rng, 48, 250.0, 4.0),
            "dmg_act": draw(rng, 48, 450.0, 2.0),
        }
        # line families evenly spread in orientation, each turning slowly with time
        angles = rng.uniform(0, np.pi) + np.pi * np.arange(N_LINE_FAMILIES) / N_LINE_FAMILIES
        for j, a in enumerate(angles):
            self.fields[f"lines{j}"] = draw(rng, 16, 350.0, 15.0, angle=a, spread=0.22, wavelength_km=(700.0, 2400.0))
        self.family_series = [time_series(rng, 6, (6.0, 40.0)) for _ in range(N_LINE_FAMILIES)]
        self.family_turn = [time_series(rng, 4, (60.0, 250.0)) for _ in range(N_LINE_FAMILIES)]
        self.xo, self.yo = xo, yo
        self.extent_series = time_series(rng, 8, (30.0, 700.0))
        self.bases = {k: f.basis(xo, yo) for k, f in self.fields.items() if not k.startswith("lines")}
        # climatological drift from the streamfunction, m/s on ocean points
        psi = mean_streamfunction(g)
        dx_m = float(abs(grid["x"].values[1] - grid["x"].values[0]))
        dpsi_dy_row, dpsi_dx = np.gradient(psi, dx_m)
        dpsi_dy = -dpsi_dy_row  # rows run north -> south: y decreases with row index
        self.u_mean = -dpsi_dy[self.ocean]
        self.v_mean = dpsi_dx[self.ocean]
        self.iciness = g.iciness[self.ocean]
        # km of iciness per km on the ground: converts distance-inside-the-edge to real km
        self.steepness = _steepness(g.iciness, g.ocean, dx_m / 1e3)[self.ocean]
        self.atlantic = g.atlantic[self.ocean]
        self.h_max = g.h_max[self.ocean]
        self.dist_land = g.dist_land[self.ocean]
        targets = in_domain_targets()
        self.daily_target = _daily_climatology(targets)
        self._fresh_cache: dict[int, np.ndarray] = {}
        # lines about one cell wide, so that every cell they cross lights up (no dashes)
        self.line_width_km = 0.8 * dx_m / 1e3

    # ------------------------------------------------------------------ helpers
    def _f(self, name: str, t: float) -> np.ndarray:
        return self.fields[name].value(self.bases[name], t)

    def doy(self, t: int) -> int:
        return int((self.start + pd.Timedelta(days=int(t))).dayofyear)

    def fresh_leads(self, t: int) -> np.ndarray:
        """Leads opened on day ``t``: 0..~1.4 along thin lines, (P,). Cached per day."""
        if t in self._fresh_cache:
            return self._fresh_cache[t]
        lines = np.zeros(self.cell_area_km2.shape)
        for j in range(N_LINE_FAMILIES):
            name = f"lines{j}"
            weight = 1.0 / (1.0 + np.exp(-3.0 * eval_series(self.family_series[j], t)))
            turn = 0.35 * eval_series(self.family_turn[j], t)
            val, gx, gy = self.fields[name].rotated(self.xo, self.yo, t, turn)
            dist = np.abs(val) / (np.hypot(gx, gy) + 1e-9)  # km to the zero line
            lines = np.maximum(lines, weight * np.exp(-((dist / self.line_width_km) ** 2)))
        act = 1.0 / (1.0 + np.exp(-(self._f("dmg_act", t) - 0.2) * 4.0))
        fresh = np.maximum(1.6 * lines * act - 0.1, 0.0)
        if len(self._fresh_cache) > 4 * DAMAGE_MEMORY_DAYS:
            self._fresh_cache.pop(min(self._fresh_cache))
        self._fresh_cache[t] = fresh
        return fresh

    # ------------------------------------------------------------------ one day
    def state(self, t: int) -> dict[str, np.ndarray]:
        """The five variables on ocean points for day ``t`` (days since ``start``): (P,) each."""
        doy = self.doy(t)
        summer = _bump(doy, 225.0, 60.0)  # widest MIZ, loosest pack
        ponds = _bump(doy, 195.0, 35.0)
        autumn = _bump(doy, 300.0, 40.0)  # young ice near the edge
        winter = _bump(doy, 60.0, 70.0)

        # ice edge: threshold on iciness + weather, set to hit today's target extent
        pert = 110.0 * self._f("edge_fast", t) + 130.0 * self._f("edge_slow", t) + 70.0 * self._f("edge_small", t)
        eff = self.iciness + pert
        target = self.daily_target[doy - 1] * (1.0 + 0.035 * eval_series(self.extent_series, t))
        order = np.argsort(eff, kind="stable")
        cum = np.cumsum(self.cell_area_km2[order]) / 1e6
        k = min(int(np.searchsorted(cum, target)), eff.size - 1)
        s = (eff[order][k] - eff) / self.steepness  # km inside the ice edge (>= 0: sic >= 0.15)

        # damage: healing memory of fresh lines, background, damaged MIZ
        fresh = self.fresh_leads(t)
        acc = fresh.copy()
        for lag in range(1, DAMAGE_MEMORY_DAYS + 1):
            acc = np.maximum(acc, self.fresh_leads(t - lag) * np.exp(-lag / 2.5))
        width = (100.0 + 130.0 * summer) * (1.0 + 1.0 * self.atlantic) * np.exp(0.3 * self._f("miz", t))
        bg = np.clip(0.22 * self._f("dmg_bg", t) - 0.05 + 0.05 * winter, 0.0, 0.4)
        miz_dmg = 0.95 * np.clip(1.0 - s / (1.5 * width), 0.0, 1.0)
        sid = np.clip(np.maximum.reduce([acc * (0.75 + 0.25 * winter), bg, miz_dmg]), 0.0, 1.0)

        # concentration
        pond = self._f("pond", t)
        pack = 1.05 - ponds * (0.12 + 0.08 * pond) - 0.012 * np.maximum(pond, 0) - 0.10 * np.minimum(fresh, 1.0)
        pack = np.clip(pack, 0.35, 1.0)
        # ramp 0.15 + (pack - 0.15) (1 - (1 - z)^2), z = s / (1.94 W): sic = 0.8 at s = W
        z = np.clip(s / (1.94 * width), 0.0, 1.0)
        inside = 0.15 + (pack - 0.15) * (1.0 - (1.0 - z) ** 2)
        outside = 0.15 * (1.0 + s / (0.5 * width))
        sic = np.where(s >= 0, inside, np.where(outside >= 0.05, outside, 0.0))
        sic = np.clip(sic, 0.0, 1.0)
        ice = sic > 0

        # thickness: climatology x season x young-ice ramp x weather x ridging, times sic
        season = 0.80 + 0.20 * np.cos(2 * np.pi * (doy - 120) / 365.0)
        young = 1.0 - 0.85 * np.exp(-np.maximum(s, 0.0) / (120.0 + 250.0 * autumn))
        h = self.h_max * season * young * np.exp(0.15 * self._f("thick", t)) * (1.0 + 0.12 * acc)
        sit = np.where(ice, h * sic, 0.0)

        # drift: climatology + synoptic weather, slowed by landfast ice and the winter pack
        wx, wy = self.fields["wind"].gradient(self.bases["wind"], t)
        sx, sy = self.fields["wind_slow"].gradient(self.bases["wind_slow"], t)
        psi_w, psi_s = 3.2e4, 3.0e4  # m^2/s; per-km gradients -> /1e3 for m/s
        u = self.u_mean - (psi_w * wy + psi_s * sy) / 1e3
        v = self.v_mean + (psi_w * wx + psi_s * sx) / 1e3
        resp = (0.85 + 0.3 * _bump(doy, 280.0, 60.0)) * (1.0 - 0.6 * winter * np.exp(-self.dist_land / 60.0))
        resp = resp * (1.0 + 0.3 * np.clip(1.0 - s / width, 0.0, 1.0))  # free drift in the MIZ
        u = np.where(ice, u * resp, 0.0)
        v = np.where(ice, v * resp, 0.0)
        sid = np.where(ice, sid, 0.0)
        return {"sit": sit, "sic": sic, "sid": sid, "siu": u, "siv": v}
