"""Static PNG figures of the ``assimilation-report`` (matplotlib, Agg; offline, no Panel).

- :func:`example_png`: one day on one mask, one row per backend: observed, truth, a member, ensemble
  mean, spread and the probability of ice (sic ≥ 0.15) with the truth's 15 % edge and the ensemble
  median's, cropped to the hidden cells and a margin;
- :func:`rank_histograms_png`: pooled rank histograms per mask, one line per maker, against flat.

Every function takes plain arrays and a path, writes one PNG atomically and returns the path.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..outputs import atomic_file
from ..variables import VARIABLES
from .style import LAND_COLOUR, MIZ_COLOURS, NODATA_COLOUR, REFERENCE_COLOUR, SPREAD_CMAP, source_colours

DPI = 90
EDGE = 0.15
MARGIN = 6  # cells around the hidden area in the example's crop


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    return path


def _crop(hidden: np.ndarray) -> tuple[slice, slice]:
    rows, cols = np.nonzero(hidden)
    if rows.size == 0:
        return slice(None), slice(None)
    h, w = hidden.shape
    return (slice(max(rows.min() - MARGIN, 0), min(rows.max() + MARGIN + 1, h)),
            slice(max(cols.min() - MARGIN, 0), min(cols.max() + MARGIN + 1, w)))


def _panel(ax, values: np.ndarray, land: np.ndarray, cmap: str, clim: tuple[float, float], title: str):
    from matplotlib.colors import ListedColormap

    ax.set_facecolor(NODATA_COLOUR)  # unobserved cells: grey, never mistaken for ice
    ax.imshow(np.ma.masked_where(~land, np.ones(land.shape)), cmap=ListedColormap([LAND_COLOUR]),
              interpolation="nearest")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=clim[0], vmax=clim[1], interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=8)
    return image


def _outline(ax, hidden: np.ndarray) -> None:
    """The border of the hidden cells (contour of the 0/1 map at 0.5)."""
    if hidden.any() and not hidden.all():
        ax.contour(hidden.astype(float), levels=[0.5], colors="#555555", linewidths=0.7, linestyles="dashed")


def _edge(ax, field: np.ndarray, colour: str) -> None:
    if np.nanmin(field) < EDGE < np.nanmax(field):
        ax.contour(np.nan_to_num(field, nan=0.0), levels=[EDGE], colors=colour, linewidths=1.1)


def example_png(path: str | Path, *, truth: np.ndarray, observed: np.ndarray, land: np.ndarray, hidden: np.ndarray,
                ensembles: Mapping[str, np.ndarray], title: str) -> Path:
    """Rows: one per ensemble (members (m, H, W) of sic); columns: observed, truth, member 1, mean,
    spread, P(sic ≥ 0.15) with the truth's 15 % edge (dark) and the ensemble median's (yellow)."""
    rows, cols = _crop(hidden)
    crop = (lambda a: np.asarray(a)[..., rows, cols])
    var = VARIABLES["sic"]
    t, o, lnd, hid = crop(truth), crop(observed), crop(land), crop(hidden)
    n_rows = max(len(ensembles), 1)
    fig = _figure(13.0, 2.35 * n_rows + 0.5)
    axes = fig.subplots(n_rows, 6, squeeze=False)
    for i, (label, members) in enumerate(ensembles.items()):
        m = crop(members)
        prob = (m >= EDGE).mean(0)
        median = np.median(m, axis=0)
        panels = [(o, var.cmap, var.clim, "observed (grey: hidden)"), (t, var.cmap, var.clim, "truth"),
                  (m[0], var.cmap, var.clim, "member 1"), (m.mean(0), var.cmap, var.clim, f"mean of {m.shape[0]}"),
                  (m.std(0, ddof=1) if m.shape[0] > 1 else np.full_like(t, np.nan), SPREAD_CMAP, (0.0, 0.3),
                   "spread (std)"),
                  (prob, "Blues", (0.0, 1.0), "P(sic ≥ 0.15)")]
        for j, (values, cmap, clim, name) in enumerate(panels):
            ax = axes[i, j]
            image = _panel(ax, np.where(lnd, np.nan, values), lnd, cmap, clim, name)
            _outline(ax, hid)
            if j == 5:
                _edge(ax, t, REFERENCE_COLOUR)
                _edge(ax, median, MIZ_COLOURS[0.15])
            if j in (3, 4, 5):
                bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02)
                bar.ax.tick_params(labelsize=6)
        axes[i, 0].set_ylabel(label, fontsize=8)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def rank_histograms_png(path: str | Path, counts: Mapping[str, Mapping[str, np.ndarray]], title: str,
                        colours: Mapping[str, str] | None = None) -> Path:
    """One panel per mask: each maker's pooled rank counts as frequencies per rank, with the flat line."""
    masks = list(counts) or ["(none)"]
    fig = _figure(3.3 * len(masks), 3.6)
    axes = fig.subplots(1, len(masks), squeeze=False)[0]
    makers = list(dict.fromkeys(k for per in counts.values() for k in per))
    colour = source_colours(makers, colours)
    for ax, mask in zip(axes, masks):
        for label, c in counts.get(mask, {}).items():
            c = np.asarray(c, dtype=float)
            if c.sum() <= 0:
                continue
            freq = c / c.sum()
            ax.step(np.arange(freq.size), freq, where="mid", color=colour[label], lw=1.2, label=label)
            ax.axhline(1.0 / freq.size, color="#999999", lw=0.8, ls=":")
        ax.set_title(mask, fontsize=9)
        ax.set_xlabel("rank of the truth among the members", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("frequency (dotted: flat)", fontsize=8)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=7, frameon=False)
        fig.subplots_adjust(bottom=0.32, top=0.84)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)
