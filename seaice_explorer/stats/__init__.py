"""Sea-ice statistics: xarray in, xarray out, reducing over (y, x), lazy with dask.

- :mod:`.state`: per-state extent, area, MIZ, ice edge, thickness, volume, bound fractions;
- :mod:`.spectra`: radially integrated power spectra and their wavelength bands (the smoothing
  diagnostic);
- :mod:`.ensemble`: per-cell statistics of a set of states (MIZ frequency, mean and std maps);
- :mod:`.distances`: set-against-set kernels with one signature ``f(a, b, dim, weights)``, as in
  xskillscore (W1 and energy distances, area-weighted RMSE, IIEE).

A leaf of the package: it imports only ``variables``, ``errors`` and ``grid``. The comparison of a
generated set with a reference (one row of ``evaluate``, the dashboard's scores) is built from
these functions in :mod:`seaice_explorer.evaluation.compare`.

Example: a ramp disc (sic = 1 inside 300 km, 0 beyond 700 km) has its MIZ between 380 and
640 km, so the MIZ area is π(640² − 380²) km² ≈ 0.833 × 10⁶ km² and the edge 2π·640 km:

>>> from seaice_explorer import stats
>>> from seaice_explorer.stats import synthetic
>>> grid = synthetic.projected_grid(400, 5_000.0)
>>> ds = synthetic.state(grid, sic=synthetic.ramp_disc(grid, 300e3, 700e3))
>>> round(float(stats.miz_area(ds)[0]) / 1e12, 3), round(float(stats.ice_edge_length(ds)[0]) / 1e3)
(0.833, 4021)
"""

from .distances import Distribution, area_weighted_rmse, energy_distance, iiee, ocean_values, wasserstein1
from .ensemble import mean_std_maps, miz_frequency
from .probabilistic import coverage, ensemble_iiee, fair_crps, rank_flatness, rank_histogram, spread_skill, sps
from .spectra import band_power, default_bands, power_spectrum
from .state import (
    area,
    area_where,
    beyond_bounds,
    bound_fractions,
    extent,
    ice_edge_length,
    ice_mask,
    mean_thickness,
    miz_area,
    miz_mask,
    miz_width,
    state_stats,
    volume,
)

__all__ = [
    "Distribution", "area", "area_weighted_rmse", "area_where", "band_power", "beyond_bounds", "bound_fractions",
    "default_bands", "energy_distance", "extent", "ice_edge_length", "ice_mask", "iiee", "mean_std_maps",
    "mean_thickness", "miz_area", "miz_frequency", "miz_mask", "miz_width", "ocean_values", "power_spectrum",
    "state_stats", "volume", "wasserstein1",
    # ensemble scores against one true field (issue 22)
    "coverage", "ensemble_iiee", "fair_crps", "rank_flatness", "rank_histogram", "spread_skill", "sps",
]
