"""PNG export with matplotlib (Agg): offline, no browser, no selenium.

Draws the same :class:`~seaice_explorer.plots.maps.MapSpec` panels as the dashboard, in the
same display coordinates: land from the mask, the coastline as the mask's contour, MIZ contours;
and the same forest plot of a finding as the tour card (:func:`forest_png`, from
:func:`.forest.forest_panels`).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np

from . import forest
from .maps import MIZ_LEVELS, MapSpec, contour_lines
from .style import COAST_COLOUR, LAND_COLOUR, MIZ_COLOURS, REFERENCE, source_colours


def _mesh(spec: MapSpec):
    return np.meshgrid(spec.geometry.x, spec.geometry.y)


def draw_map(fig, ax, spec: MapSpec, *, show_miz: bool = True, title_size: float = 9, label_size: float = 8):
    """One map panel on ``ax``: land, the field, coastline, MIZ contours, title and colour bar.

    Returns the field's mesh and the MIZ contour lines, so an animation can update them in place.
    """
    from matplotlib.colors import ListedColormap

    xx, yy = _mesh(spec)
    ax.set_facecolor(spec.nodata)  # no data never looks like 100 % ice (white)
    land = np.ma.masked_where(~spec.geometry.land, np.ones(spec.geometry.shape))
    ax.pcolormesh(xx, yy, land, cmap=ListedColormap([LAND_COLOUR]), shading="nearest", rasterized=True)
    mesh = ax.pcolormesh(xx, yy, np.ma.masked_invalid(spec.values), cmap=spec.cmap,
                         vmin=spec.clim[0], vmax=spec.clim[1], shading="nearest", rasterized=True)
    coast = spec.geometry.coast
    ax.plot(coast[:, 0], coast[:, 1], color=COAST_COLOUR, lw=0.6)
    lines = miz_lines(ax, spec) if show_miz else []
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(spec.title, fontsize=title_size)
    bar = fig.colorbar(mesh, ax=ax, fraction=0.046, pad=0.02)
    bar.set_label(spec.label, fontsize=label_size)
    bar.ax.tick_params(labelsize=label_size - 1)
    return mesh, lines


def miz_lines(ax, spec: MapSpec) -> list:
    """The MIZ contours (sic 0.15 and 0.80) of ``spec`` drawn on ``ax``; the line artists."""
    if spec.miz is None:
        return []
    return [ax.plot(line[:, 0], line[:, 1], color=MIZ_COLOURS[level], lw=1.1)[0]
            for level in MIZ_LEVELS for line in contour_lines(spec.geometry.x, spec.geometry.y, spec.miz, level)]


def maps_png(specs: Sequence[MapSpec], *, ncols: int | None = None, title: str = "",
             show_miz: bool = True, panel_inches: float = 3.4, dpi: int = 110, width_px: int | None = None) -> bytes:
    """A PNG (bytes) of map panels side by side, each with its colour bar and units.

    ``width_px`` sets the image width (e.g. 1920 for a projector); text scales with it.
    """
    from matplotlib.figure import Figure

    if not specs:
        raise ValueError("maps_png needs at least one panel")
    ncols = ncols or len(specs)
    nrows = int(np.ceil(len(specs) / ncols))
    size = (panel_inches * ncols * 1.18, panel_inches * nrows + (0.5 if title else 0.2))
    fig = Figure(figsize=size, dpi=width_px / size[0] if width_px else dpi)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.ravel()[len(specs):]:
        ax.set_visible(False)
    for ax, spec in zip(axes.ravel(), specs):
        draw_map(fig, ax, spec, show_miz=show_miz)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


_MPL_MARKERS = {"circle": "o", "square": "s", "diamond": "D"}


def _forest_axes(ax, panel: forest.ForestPanel, xrange: tuple[float, float], ticks: list[float], *,
                 show_axis: bool, font_pt: float) -> None:
    """One panel of a forest plot on ``ax``: margin bands, the null, one row per part."""
    for lo, hi in panel.bands():
        ax.axvspan(lo, hi, color=forest.MARGIN_COLOUR, alpha=0.28, lw=0)
        for edge in (lo, hi):
            ax.axvline(edge, color=forest.MARGIN_COLOUR, ls="--", lw=1.0)
    ax.axvline(panel.null, color=forest.NULL_COLOUR, lw=1.2)
    k = len(panel.rows)
    for i, row in enumerate(panel.rows):
        y = k - 1 - i
        ax.plot([row.low, row.high], [y, y], color=row.colour, lw=2.2, solid_capstyle="butt")
        ax.plot([row.effect], [y], marker=_MPL_MARKERS.get(row.marker, "o"), color=row.colour, mec="white",
                ms=font_pt * (0.85 if row.marker == "diamond" else 0.75), ls="none", label=row.verdict)
    if panel.log:
        ax.set_xscale("log")
    ax.set_xlim(*xrange)
    ax.set_ylim(-0.6, k - 0.4)
    ax.set_yticks(range(k - 1, -1, -1), [r.label for r in panel.rows], fontsize=font_pt)
    ax.set_xticks(ticks, [forest.tick_label(t) for t in ticks], fontsize=font_pt * 0.9)
    ax.minorticks_off()
    ax.grid(axis="x", alpha=0.35)
    ax.set_title(panel.title, fontsize=font_pt, loc="left", fontweight="bold")
    if show_axis:
        ax.set_xlabel(panel.xlabel, fontsize=font_pt, style="italic")
    else:
        ax.tick_params(axis="x", labelbottom=False)


def forest_png(parts: Sequence[dict], *, title: str = "", width_px: int = 1200, dpi: int = 110) -> bytes:
    """A PNG (bytes) of the forest plot of one finding's parts (``findings.json`` records), the figure
    :func:`.forest.forest_plot` draws for the tour card; ``width_px`` sets its width (text scales with it)."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    panels = forest.forest_panels(parts)
    if not panels:
        raise ValueError("a forest plot needs at least one part")
    kinds = {p.kind for p in panels}
    ranges = {k: forest.shared_range([p for p in panels if p.kind == k]) for k in kinds}
    ticks = {k: forest.axis_ticks([p for p in panels if p.kind == k], ranges[k]) for k in kinds}
    last = {p.kind: i for i, p in enumerate(panels)}
    width_in = width_px / dpi
    font_pt = 9 * max(width_in / 7.0, 1.0)
    ratios = [len(p.rows) + 1.6 + (1.4 if last[p.kind] == i else 0) for i, p in enumerate(panels)]
    fig = Figure(figsize=(width_in, 0.22 * font_pt / 9 * (sum(ratios) + 2.5)), dpi=dpi)
    axes = fig.subplots(len(panels), 1, squeeze=False, gridspec_kw={"height_ratios": ratios})[:, 0]
    for i, (ax, panel) in enumerate(zip(axes, panels)):
        _forest_axes(ax, panel, ranges[panel.kind], ticks[panel.kind], show_axis=last[panel.kind] == i,
                     font_pt=font_pt)
    verdicts = list(dict.fromkeys(r.verdict for p in panels for r in p.rows))
    handles = [Line2D([], [], marker=_MPL_MARKERS.get(forest.VERDICT_MARKERS.get(v, "diamond"), "o"), ls="none",
                      color=forest.VERDICT_COLOURS.get(v, forest.VERDICT_COLOURS["not resolved"]), label=v)
               for v in verdicts]
    fig.legend(handles=handles, loc="upper right", ncol=len(handles), fontsize=font_pt * 0.9, frameon=False)
    if title:
        fig.suptitle(title, fontsize=font_pt * 1.15, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def spectra_png(wavelength_km: np.ndarray, reference: np.ndarray, curves: Mapping[str, np.ndarray], *,
                colours: Mapping[str, str] | None = None, small_scale_km: float | None = None, title: str = "",
                ylabel: str = "power per ring", width_px: int = 1400, dpi: int = 110) -> bytes:
    """A PNG (bytes) of mean power spectra (log-log, finest scales on the right): the reference in dark grey,
    each of ``curves`` in its colour, the small-scale band shaded; and each curve ÷ the reference below it."""
    from matplotlib.figure import Figure

    colour = source_colours([REFERENCE, *curves], colours)
    width_in = width_px / dpi
    font_pt = 9 * max(width_in / 9.0, 1.0)
    fig = Figure(figsize=(width_in, width_in * 0.36), dpi=dpi)
    power, ratio = fig.subplots(1, 2)
    lam = np.asarray(wavelength_km, dtype=float)
    power.loglog(lam, reference, color=colour[REFERENCE], lw=2.4, label=REFERENCE)
    ratio.axhline(1.0, color=colour[REFERENCE], lw=1.2)
    for label, values in curves.items():
        power.loglog(lam, values, color=colour[label], lw=1.6, label=label)
        ratio.semilogx(lam, np.asarray(values) / np.asarray(reference), color=colour[label], lw=1.6, label=label)
    for ax, name in ((power, ylabel), (ratio, "÷ reference")):
        if small_scale_km:
            ax.axvspan(lam.min(), small_scale_km, color="#e4e4e4", zorder=0)
        ax.invert_xaxis()
        ax.set_xlabel("wavelength [km]", fontsize=font_pt)
        ax.set_ylabel(name, fontsize=font_pt)
        ax.tick_params(labelsize=font_pt * 0.9)
    power.legend(fontsize=font_pt * 0.9, frameon=False)
    if title:
        fig.suptitle(title, fontsize=font_pt * 1.1)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
