"""Shared colours and sizes of the plots, so maps, charts and PNG exports agree."""

from __future__ import annotations

from types import MappingProxyType

#: One colour per data source (colour-blind safe, from ColorBrewer Dark2), read-only.
BACKEND_COLOURS = MappingProxyType({
    "reference": "#222222",
    "dm": "#1b9e77",
    "ldm-gaussian": "#7570b3",
    "ldm-censored": "#d95f02",
})
#: Colour of land cells and of the coastline drawn from the land mask.
LAND_COLOUR = "#cfc8b8"
COAST_COLOUR = "#4a4a4a"
#: Background where a map has no data (outside the grid, or a variable the data set lacks),
#: so it never looks like 100 % ice (white in the concentration colour map).
NODATA_COLOUR = "#e3e6ea"
#: MIZ contour colours: ice edge (0.15) and pack-ice edge (0.80).
MIZ_COLOURS = MappingProxyType({0.15: "#ffd23f", 0.80: "#ee4266"})
#: Colour map of difference maps (generated minus reference).
DIFF_CMAP = "RdBu_r"
#: Colour map of spread (standard deviation) maps.
SPREAD_CMAP = "magma"
#: Default map frame size in screen pixels (square: polar grids are square).
MAP_FRAME = 300


def backend_colour(name: str) -> str:
    """Colour of a backend or of ``"reference"``; grey for anything unknown."""
    return BACKEND_COLOURS.get(name, "#888888")
