"""The one table of per-variable metadata: names, units, bounds, normalisation, colours.

Bounds are data (Finn et al. 2024): the censored decoder, clipping, the map
colour limits and the axis labels all read this table and nothing else.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

INF = math.inf


@dataclass(frozen=True)
class Variable:
    """Metadata of one sea-ice state variable."""

    name: str
    long_name: str
    standard_name: str | None
    units: str
    lower: float  # physical lower bound, -inf if unbounded
    upper: float  # physical upper bound, +inf if unbounded
    mean: float  # normalisation: z = (x - mean) / std
    std: float
    cmap: str  # matplotlib / colorcet name
    clim: tuple[float, float]  # default colour limits on maps
    aliases: tuple[str, ...] = ()  # names in other products (e.g. neXtSIM's `damage`)

    @property
    def bounded(self) -> bool:
        return math.isfinite(self.lower) or math.isfinite(self.upper)

    @property
    def label(self) -> str:
        """Axis / colour-bar label with units."""
        return f"{self.long_name} [{self.units}]"

    def cf_attrs(self) -> dict[str, object]:
        """CF attributes for a DataArray of this variable."""
        attrs: dict[str, object] = {"long_name": self.long_name, "units": self.units}
        if self.standard_name:
            attrs["standard_name"] = self.standard_name
        if math.isfinite(self.lower):
            attrs["valid_min"] = self.lower
        if math.isfinite(self.upper):
            attrs["valid_max"] = self.upper
        return attrs

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


# Normalisation statistics are the ocean-cell mean and standard deviation of the bundled
# default reference (data/nextsim_like_default.nc); models store their own copy in config.json.
VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in (
        Variable("sit", "sea-ice thickness", "sea_ice_thickness", "m", 0.0, INF,
                 0.853, 1.040, "viridis", (0.0, 5.0), ("sea_ice_thickness", "hi")),
        Variable("sic", "sea-ice concentration", "sea_ice_area_fraction", "1", 0.0, 1.0,
                 0.468, 0.467, "Blues_r", (0.0, 1.0), ("damage_free_sic", "siconc", "ice_conc")),
        Variable("sid", "sea-ice damage", None, "1", 0.0, 1.0,
                 0.188, 0.292, "inferno", (0.0, 1.0), ("damage",)),
        Variable("siu", "sea-ice velocity along grid x", "sea_ice_x_velocity", "m s-1", -INF, INF,
                 -0.007, 0.041, "RdBu_r", (-0.3, 0.3), ("vxsi", "u")),
        Variable("siv", "sea-ice velocity along grid y", "sea_ice_y_velocity", "m s-1", -INF, INF,
                 -0.016, 0.051, "RdBu_r", (-0.3, 0.3), ("vysi", "v")),
        Variable("snt", "snow thickness on sea ice", "surface_snow_thickness", "m", 0.0, INF,
                 0.15, 0.15, "cividis", (0.0, 0.6), ("snow_thickness", "hs")),
    )
}

#: The five state variables of the paper, in channel order.
STATE_VARIABLES: tuple[str, ...] = ("sit", "sic", "sid", "siu", "siv")


def get(name: str) -> Variable:
    """Look a variable up by canonical name or alias."""
    if name in VARIABLES:
        return VARIABLES[name]
    for var in VARIABLES.values():
        if name in var.aliases:
            return var
    raise KeyError(f"unknown variable {name!r}; known: {', '.join(VARIABLES)}")


def bounds_array(names: tuple[str, ...] | list[str] = STATE_VARIABLES) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds, one per channel, as float arrays (±inf when unbounded)."""
    lower = np.array([VARIABLES[n].lower for n in names], dtype=np.float64)
    upper = np.array([VARIABLES[n].upper for n in names], dtype=np.float64)
    return lower, upper
