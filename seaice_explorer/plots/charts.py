"""Charts for the comparison of generated ensembles with the reference (HoloViews, no Panel).

Histograms of extent and MIZ area, power spectra on log-log axes (the smoothing diagnostic of
Finn et al. 2024), a table of scores, scores with their intervals, bound-violation bars and
latent-space images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .forest import interval_layers
from .style import REFERENCE, REFERENCE_COLOUR, source_colours

CHART_WIDTH = 420
CHART_HEIGHT = 260


def _edges(samples: Mapping[str, np.ndarray], bins: int) -> np.ndarray:
    finite = [np.asarray(v, dtype=np.float64)[np.isfinite(v)] for v in samples.values()]
    finite = [v for v in finite if v.size]
    if not finite:
        return np.linspace(0.0, 1.0, bins + 1)
    lo = min(float(v.min()) for v in finite)
    hi = max(float(v.max()) for v in finite)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.02 * (hi - lo)
    return np.linspace(lo - pad, hi + pad, bins + 1)


def histogram_overlay(samples: Mapping[str, np.ndarray], *, xlabel: str, title: str = "",
                      bins: int = 20, width: int = CHART_WIDTH, height: int = CHART_HEIGHT,
                      colours: Mapping[str, str] | None = None):
    """Overlaid density histograms on common bins, one per source (e.g. reference and backends).

    Densities (not counts) so an ensemble of 8 compares with a reference of 365 states.
    ``colours``: source name -> colour (e.g. ``entry.colour``); the reference is dark grey.
    """
    import holoviews as hv

    edges = _edges(samples, bins)
    colour = source_colours(samples, colours)
    layers = []
    for name, values in samples.items():
        values = np.asarray(values, dtype=np.float64)
        values = values[np.isfinite(values)]
        density, _ = np.histogram(values, bins=edges, density=values.size > 0)
        layers.append(hv.Histogram((edges, density), kdims=[hv.Dimension("x", label=xlabel)],
                                   vdims=[hv.Dimension("density")], label=name).opts(
            fill_color=colour[name], line_color=colour[name],
            fill_alpha=0.15 if name == REFERENCE else 0.35, line_width=1.5, tools=["hover"]))
    return hv.Overlay(layers).opts(title=title, width=width, height=height, legend_position="right",
                                   show_grid=True)


def spectra_overlay(spectra: Mapping[str, tuple[np.ndarray, np.ndarray]], *, title: str = "",
                    xlabel: str = "wavelength [km]", ylabel: str = "power spectral density",
                    invert_x: bool = True, width: int = CHART_WIDTH, height: int = CHART_HEIGHT,
                    show_legend: bool = True, colours: Mapping[str, str] | None = None):
    """Radially averaged power spectra on log-log axes, one curve per source.

    ``spectra[name] = (x, power)``; non-positive values are left out (log axes). ``colours`` as in
    :func:`histogram_overlay`.
    """
    import holoviews as hv

    colour = source_colours(spectra, colours)
    curves = []
    for name, (x, power) in spectra.items():
        x = np.asarray(x, dtype=np.float64)
        power = np.asarray(power, dtype=np.float64)
        keep = (x > 0) & (power > 0) & np.isfinite(x) & np.isfinite(power)
        curves.append(hv.Curve((x[keep], power[keep]), kdims=[hv.Dimension("k", label=xlabel)],
                               vdims=[hv.Dimension("power", label=ylabel)], label=name).opts(
            color=colour[name], line_width=2.5 if name == REFERENCE else 1.8,
            line_dash="dashed" if name == REFERENCE else "solid", tools=["hover"]))
    finite = [c.dimension_values(0) for c in curves if len(c)]
    ticks = None
    if finite:
        lo, hi = min(float(f.min()) for f in finite), max(float(f.max()) for f in finite)
        ticks = [t for t in (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000) if lo <= t <= hi] or None
    return hv.Overlay(curves).opts(title=title, logx=True, logy=True, width=width, height=height, xticks=ticks,
                                   invert_xaxis=invert_x, legend_position="bottom_left", show_grid=True,
                                   show_legend=show_legend)


def scores_table(rows: Sequence[Mapping[str, object]]):
    """A table of evaluation scores, one row per backend; columns are the union of row keys."""
    import holoviews as hv
    import pandas as pd

    frame = pd.DataFrame(list(rows))
    return hv.Table(frame).opts(width=2 * CHART_WIDTH, height=40 + 28 * max(len(frame), 1))


def score_intervals(scores: Mapping[str, Mapping[str, tuple[float, float, float]]], *,
                    reference: Mapping[str, float] | None = None, colours: Mapping[str, str] | None = None,
                    level: float = 0.9, width: int = 250, height: int = 170, font_px: int = 12):
    """One small panel per score, side by side: per source a point at its value and an error bar for its
    interval, ``scores[score][source] = (value, low, high)``; ``reference[score]``, where given, is the
    reference's own value (a dashed line). Sources are named on the first panel and coloured as in
    :func:`histogram_overlay`; the hover gives each value and its ``level`` interval."""
    import holoviews as hv
    import pandas as pd

    panels = []
    label_px = int(0.6 * font_px * max((len(n) for v in scores.values() for n in v), default=4)) + 16
    for i, (score, values) in enumerate(scores.items()):
        names = list(values)
        colour = source_colours(names, colours)
        k = len(names)
        frame = pd.DataFrame({
            "y": [float(k - 1 - j) for j in range(k)], "estimate": [float(values[n][0]) for n in names],
            "low": [float(values[n][1]) for n in names], "high": [float(values[n][2]) for n in names],
            "colour": [colour[n] for n in names], "marker": "circle", "source": names,
            "interval": [f"{values[n][1]:.3g}–{values[n][2]:.3g}" for n in names]})
        layers = interval_layers(frame, point_size=int(0.8 * font_px), line_width=2.5,
                                 hover=[("", "@source"), ("value", "@estimate{0.000}"),
                                        (f"{100 * level:g} % interval", "@interval")])
        drawn = [*frame["estimate"], *frame["low"], *frame["high"]]
        if reference and score in reference and np.isfinite(reference[score]):
            drawn.append(float(reference[score]))
            layers.insert(0, hv.VLine(float(reference[score])).opts(color=REFERENCE_COLOUR, line_dash="dashed",
                                                                    line_width=1.5))
        lo, hi = np.nanmin(drawn), np.nanmax(drawn)
        pad = 0.08 * (hi - lo) or 0.05 * abs(hi) or 0.5
        first = i == 0
        panels.append(hv.Overlay(layers).opts(
            title=score, width=width + (label_px if first else 0), height=height, ylim=(-0.6, k - 0.4),
            xlim=(lo - pad, hi + pad),
            yticks=[(float(k - 1 - j), n) for j, n in enumerate(names)], yaxis="left" if first else None,
            xlabel="", ylabel="", show_legend=False, show_grid=True, toolbar=None,
            fontsize={"title": f"{font_px}px", "xticks": f"{font_px - 1}px", "yticks": f"{font_px}px"}))
    return hv.Layout(panels).cols(max(len(panels), 1)).opts(shared_axes=False, toolbar=None)


def fraction_bars(fractions: Mapping[str, float], *, ylabel: str, title: str = "",
                  width: int = CHART_WIDTH, height: int = CHART_HEIGHT, colours: Mapping[str, str] | None = None):
    """Bars of one fraction (e.g. of ocean cells beyond a physical bound) per source, in %;
    ``colours`` as in :func:`histogram_overlay`."""
    import holoviews as hv

    names = list(fractions)
    values = [100.0 * float(fractions[n]) for n in names]
    bars = hv.Bars((names, values), kdims=[hv.Dimension("source")], vdims=[hv.Dimension("percent", label=ylabel)])
    return bars.opts(color=hv.dim("source").categorize(source_colours(names, colours)),
                     title=title, width=width, height=height, tools=["hover"], show_grid=True,
                     ylim=(0, max(values) * 1.15 if max(values, default=0) > 0 else 1.0), yformatter="%.2g")


def latent_image(z: np.ndarray, *, title: str, frame: int = 220, clim: tuple[float, float] | None = None,
                 label: str = "latent value"):
    """One latent channel (h, w) as an image in index coordinates, row 0 on top like the maps
    (``label``: the colour bar's, e.g. "normalised value" for a noisy data-space state)."""
    import holoviews as hv

    z = np.asarray(z, dtype=np.float32)
    if clim is None:
        amax = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
        clim = (-max(amax, 1e-6), max(amax, 1e-6))
    h, w = z.shape
    img = hv.Image(z, bounds=(0, 0, w, h), kdims=["column", "row"], vdims=[hv.Dimension("z", label=label)])
    return img.opts(cmap="RdBu_r", clim=clim, colorbar=True, title=title, frame_width=frame,
                    frame_height=int(frame * h / w), xaxis=None, yaxis=None, tools=["hover"], toolbar=None)
