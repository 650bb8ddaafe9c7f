"""HoloViews/GeoViews plot builders for the dashboard and reports (no Panel import).

- :mod:`.maps`: polar maps in the data's native CRS, land from the mask, coastline as the
  mask's contour, MIZ contours, linked axes (shared ``x``/``y`` dimensions).
- :mod:`.charts`: histograms, power spectra, score tables, bound-violation bars.
- :mod:`.export`: a matplotlib PNG of the maps (offline, no browser needed).
- :mod:`.report_figures`: the static PNGs of the ``evaluate`` report.

Builders take backend colours from the caller (``colours``, from the registry); the reference is
drawn in :data:`.style.REFERENCE_COLOUR`.
"""

from .style import REFERENCE_COLOUR, source_colours

__all__ = ["REFERENCE_COLOUR", "source_colours"]
