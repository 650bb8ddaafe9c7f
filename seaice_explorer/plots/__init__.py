"""HoloViews/GeoViews plot builders for the dashboard and reports (no Panel import).

- :mod:`.maps`: polar maps in the data's native CRS, land from the mask, coastline as the
  mask's contour, MIZ contours, linked axes (shared ``x``/``y`` dimensions).
- :mod:`.charts`: histograms, power spectra, score tables, bound-violation bars.
- :mod:`.export`: a matplotlib PNG of the maps (offline, no browser needed).
"""

from .style import BACKEND_COLOURS, backend_colour

__all__ = ["BACKEND_COLOURS", "backend_colour"]
