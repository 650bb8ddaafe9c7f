"""Shared colours and sizes of the plots, so maps, charts and PNG exports agree.

Backend colours are data: each model's ``config.json`` sets one (``registry.ModelEntry.colour``)
and callers pass them to the builders; only the reference has a fixed colour here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from ..registry import PALETTE

#: The reference set, in every chart and figure.
REFERENCE = "reference"
REFERENCE_COLOUR = "#222222"
#: Colour of land cells and of the coastline drawn from the land mask.
LAND_COLOUR = "#cfc8b8"
COAST_COLOUR = "#4a4a4a"
#: Background where a map has no data (outside the grid, or a variable the data set lacks),
#: so it never looks like 100 % ice (white in the concentration colour map).
NODATA_COLOUR = "#e3e6ea"
#: Cells hidden from an observation (the Observations tab, the gap-filling pictures): a darker grey.
HIDDEN_COLOUR = "#8c929b"
#: MIZ contour colours: ice edge (0.15) and pack-ice edge (0.80).
MIZ_COLOURS = MappingProxyType({0.15: "#ffd23f", 0.80: "#ee4266"})
#: Colour map of difference maps (generated minus reference).
DIFF_CMAP = "RdBu_r"
#: Colour map of spread (standard deviation) maps.
SPREAD_CMAP = "magma"
#: Default map frame size in screen pixels (square: polar grids are square).
MAP_FRAME = 300


def source_colours(names: Iterable[str], colours: Mapping[str, str] | None = None) -> dict[str, str]:
    """A colour per source: the reference's fixed colour, else ``colours[name]``, else the next
    colour of the registry palette (for callers that pass none)."""
    colours = colours or {}
    out: dict[str, str] = {}
    spare = iter(c for c in PALETTE if c not in colours.values())
    for name in names:
        out[name] = REFERENCE_COLOUR if name == REFERENCE else colours.get(name) or next(spare, "#888888")
    return out
