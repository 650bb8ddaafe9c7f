"""PNG export of map panels with matplotlib (Agg): offline, no browser, no selenium.

Draws the same :class:`~seaice_explorer.plots.maps.MapSpec` panels as the dashboard, in the
same display coordinates: land from the mask, the coastline as the mask's contour, MIZ contours.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from .maps import MIZ_LEVELS, MapSpec, contour_lines
from .style import COAST_COLOUR, LAND_COLOUR, MIZ_COLOURS


def _mesh(spec: MapSpec):
    return np.meshgrid(spec.geometry.x, spec.geometry.y)


def draw_map(fig, ax, spec: MapSpec, *, show_miz: bool = True, title_size: float = 9, label_size: float = 8):
    """One map panel on ``ax``: land, the field, coastline, MIZ contours, title and colour bar.

    Returns the field's mesh and the MIZ contour lines, so an animation can update them in place.
    """
    from matplotlib.colors import ListedColormap

    xx, yy = _mesh(spec)
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
