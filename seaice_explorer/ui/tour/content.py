"""What each tour stop shows, made once per server: its words, its forest plot and its picture (no Panel).

Every session of a server shows the same eight stops, so they are drawn here once, as static
full-resolution images by the export code (:mod:`seaice_explorer.plots.export`,
:mod:`~seaice_explorer.plots.animate`), and every page only shows them: a page costs the server its
image strings, not a set of live plots, and a step changes nothing but which layer is visible.
Panning and zooming is what a class gives up; **Explore this** opens the live dashboard at the
stop's settings for that.

The finding stops draw the evaluation report's own summaries (``maps.nc``: the mean maps, the
MIZ-frequency maps and the mean spectra of the samples its verdicts rest on), so their pictures and
their numbers come from the same samples.
"""

from __future__ import annotations

import base64
import functools
import html
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from ...plots import animate, export
from ...plots.maps import MapSpec, field_spec, map_geometry
from ...evaluation.reports import Report
from ...registry import Registry
from ...variables import VARIABLES
from ..model import analysis
from ..model import observation_results as observed
from . import story
from .stops import Stop

log = logging.getLogger(__name__)

#: Width (px) of the pictures: a projector's width, for a map row; one map or an animation is narrower.
WIDE_PX, MAP_PX = 1900, 900


@dataclass(frozen=True, eq=False)
class StopContent:
    """One stop as every page shows it: words (Markdown), where they come from, and two images."""

    key: str
    words: str
    footer: str
    picture: bytes | None = None
    picture_format: str = "png"  # or "gif"
    forest: bytes | None = None  # the finding's forest plot (PNG); None on other stops
    problem: str | None = None  # why the picture could not be drawn (then the words say so)

    @functools.cached_property
    def picture_html(self) -> str:
        """The picture as an ``<img>`` (a data URL, encoded once per server), or why there is none."""
        if self.picture is None:
            return f"<p class='tour-missing'>No picture: {html.escape(self.problem or 'not drawn')}.</p>"
        return _img(self.picture, self.picture_format, f"tour picture: {self.key}")

    @functools.cached_property
    def forest_html(self) -> str:
        """The forest plot as an ``<img>``, empty on a stop without one."""
        return _img(self.forest, "png", f"forest plot: {self.key}") if self.forest is not None else ""


def _img(data: bytes, fmt: str, alt: str) -> str:
    return f'<img src="data:image/{fmt};base64,{base64.b64encode(data).decode()}" alt="{html.escape(alt)}">'


# --------------------------------------------------------------------------- the report's summaries
def _report_maps(reports: story.Reports) -> xr.Dataset | None:
    report = reports.family
    path = Path(report.folder) / "maps.nc" if report is not None else None
    if path is None or not path.is_file():
        return None
    with xr.open_dataset(path) as ds:
        return ds.load()


def _settings(maps: xr.Dataset, stop: Stop, report: Report) -> list[str]:
    """The report's settings (``backend/bounds``) the stop shows: the report's own backends, picked by kind
    and decoder as its findings judge them, each at its native bounds or at the stop's ``report_bounds``."""
    kinds = ([("latent", "gaussian"), ("latent", "censored")] if stop.report_bounds != "native" else
             [("data", None), ("latent", "gaussian"), ("latent", "censored")])
    rows = [row for row in (report.native(kind, decoder) for kind, decoder in kinds) if row is not None]
    names = {str(s) for s in maps["setting"].values}
    wanted = [f"{row['backend']}/{row['bounds'] if stop.report_bounds == 'native' else stop.report_bounds}"
              for row in rows]
    return [s for s in dict.fromkeys(wanted) if s in names]


def _grid(maps: xr.Dataset, name: str) -> np.ndarray:
    return np.asarray(maps[name].transpose(..., "y", "x").values, dtype=np.float32)


def _finding_picture(stop: Stop, maps: xr.Dataset, report: Report, registry: Registry) -> bytes:
    """Finding 1: the mean sic maps; finding 2: the mean spectra; finding 3: the MIZ-frequency maps."""
    settings = _settings(maps, stop, report)
    colours = {e.name: e.colour for e in registry.entries.values()}
    if not settings:
        raise ValueError("the report's maps.nc has none of the settings its findings judge")
    geometry = map_geometry(maps, analysis.DISPLAY_PROJ4)
    if stop.key == "finding2":
        pick = maps.sel(setting=settings)
        curves = {s: np.asarray(pick["sic_spectrum"].sel(setting=s).values) for s in settings}
        return export.spectra_png(maps["wavelength"].values, maps["sic_spectrum_reference"].values, curves,
                                  colours={s: colours.get(s.split("/")[0], "") for s in settings},
                                  small_scale_km=200.0, ylabel="power of sic per ring",
                                  title="Mean power spectra of sea-ice concentration (grey: wavelengths below 200 km)",
                                  width_px=WIDE_PX)
    if stop.key == "finding3":
        specs: list[MapSpec] = [field_spec(_grid(maps, "miz_frequency_reference"), geometry, "sic", "reference",
                                           kind="frequency")]
        specs += [field_spec(_grid(maps.sel(setting=s), "miz_frequency"), geometry, "sic", s, kind="frequency")
                  for s in settings]
        return export.maps_png(specs, title="How often each cell is in the marginal ice zone (0.15 ≤ sic ≤ 0.80)",
                               show_miz=False, width_px=WIDE_PX)
    mean = _grid(maps, "sic_mean_reference")
    specs = [field_spec(mean, geometry, "sic", "reference · mean", miz=mean)]
    for s in settings:
        values = _grid(maps.sel(setting=s), "sic_mean")
        specs.append(field_spec(values, geometry, "sic", f"{s} · mean", miz=values))
    return export.maps_png(specs, title=f"{VARIABLES['sic'].long_name}: the mean of each set", width_px=WIDE_PX)


# --------------------------------------------------------------------------- the generated stops
def _gaps_picture(res: observed.ObservationResult) -> bytes:
    """What was observed, one member, the mean and the spread (the truth stays for the Observations tab)."""
    specs = [observed.observed_spec(res), observed.member_spec(res, 0), observed.mean_spec(res),
             observed.spread_spec(res)]
    return export.maps_png(specs, width_px=WIDE_PX)


def _generated_picture(stop: Stop, shown: story.Shown) -> tuple[bytes, str]:
    if stop.observes:
        if shown.observation is None:
            raise ValueError("the gap filling did not run")
        return _gaps_picture(shown.observation), "png"
    if stop.replay:
        if shown.trajectory is None:
            raise ValueError(f"no denoising of {stop.replay} was recorded")
        return animate.gif_bytes(animate.frames(shown.trajectory, stop.variable), animate.GIF_WIDTH), "gif"
    if stop.key == "ice":
        if shown.reference_data is None:
            raise ValueError("the reference could not be loaded")
        spec = analysis.reference_spec(shown.reference_data, stop.variable, "member", shown.ref_index, True)
        return export.maps_png([spec], width_px=MAP_PX), "png"
    if not shown.results:
        raise ValueError("nothing was generated")
    specs = [analysis.result_spec(r, stop.variable, "member", 0, True) for r in shown.results.values()]
    return export.maps_png(specs, width_px=min(WIDE_PX, MAP_PX * len(specs))), "png"


def build(stop: Stop, shown: story.Shown, reports: story.Reports) -> StopContent:
    """The stop's words and pictures (a picture that cannot be drawn leaves a ``problem``, logged)."""
    words, footer = story.story(stop, shown, reports), story.footer(stop, reports)
    forest, picture, fmt, problem = None, None, "png", None
    parts = story.forest_parts(stop, reports)
    try:
        if parts:
            forest = export.forest_png(parts, width_px=620, dpi=100)
        if stop.generated:
            picture, fmt = _generated_picture(stop, shown)
        else:
            maps = _report_maps(reports)
            if maps is None:
                raise ValueError("no evaluation report with maps.nc (run `seaice-explorer evaluate`)")
            picture = _finding_picture(stop, maps, reports.family, shown.registry)
    except Exception as err:  # noqa: BLE001 - one stop's picture never stops the tour
        log.warning("the tour could not draw %r: %s", stop.key, err)
        problem = str(err)
    return StopContent(stop.key, words, footer, picture, fmt, forest, problem)
