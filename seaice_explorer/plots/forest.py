"""Forest plots of the paper's findings: each part's effect with its interval, the null and the margin
(HoloViews, no Panel).

A finding of Finn et al. 2024 is judged part by part (``findings.json``, issue 21): an effect (a ratio
with null 1, or a difference with null 0), its bootstrap interval and a rule that can fail. Here
each part is one row: a point at the effect, coloured (and shaped) by its verdict, and a bar for its
interval; a vertical line marks the null and, for an equivalence rule, the margin is shaded
(null ÷ margin … null × margin for a ratio, null ± margin for a difference). Ratios are drawn on a
log axis, so 0.8× and 1.25× lie equally far from 1×. Parts on another scale, or comparing another
pair of backends, get a small panel of their own; panels of one scale share their x range.

:func:`forest_panels` is what both builders draw: :func:`forest_plot` (Bokeh, for the tour card) and
:func:`.export.forest_png` (matplotlib, a static figure).

>>> parts = [{"part": "MIZ-area W1 ratio, ldm ÷ dm", "verdict": "not resolved", "effect": 1.1,
...           "ci_low": 0.9, "ci_high": 1.4, "null": 1.0, "margin": 1.25, "backends": ["ldm", "dm"]}]
>>> [(r.label, r.verdict) for r in forest_panels(parts)[0].rows]
[('MIZ-area W1', 'not resolved')]
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

#: Verdict -> colour (Okabe & Ito's colour-blind-safe blue and vermilion, and grey) and marker.
VERDICT_COLOURS: Mapping[str, str] = MappingProxyType(
    {"reproduced": "#0072b2", "refuted": "#d55e00", "not resolved": "#8a8a8a"})
VERDICT_MARKERS: Mapping[str, str] = MappingProxyType(
    {"reproduced": "circle", "refuted": "square", "not resolved": "diamond"})
#: Colour of the null line and of the margin band.
NULL_COLOUR, MARGIN_COLOUR = "#222222", "#7fb8da"
#: Default size (px) of a forest plot: the tour card's.
CARD_SIZE = (470, 276)


@dataclass(frozen=True)
class ForestRow:
    """One part of a finding: its effect, interval and verdict."""

    label: str  # the score, short (e.g. "MIZ-area W1")
    part: str  # the part as the report names it
    verdict: str
    effect: float
    low: float
    high: float
    level: float | None = None  # the interval's level, e.g. 0.9
    n: int | None = None

    @property
    def colour(self) -> str:
        return VERDICT_COLOURS.get(self.verdict, VERDICT_COLOURS["not resolved"])

    @property
    def marker(self) -> str:
        return VERDICT_MARKERS.get(self.verdict, VERDICT_MARKERS["not resolved"])

    def interval_text(self) -> str:
        level = f"{100 * self.level:g} % interval " if self.level else "interval "
        return f"{level}{self.low:.3g}–{self.high:.3g}" + (f", n = {self.n}" if self.n else "")


@dataclass(frozen=True)
class ForestPanel:
    """Parts on one scale comparing one pair of backends: one small panel of the forest plot."""

    kind: Literal["ratio", "difference"]
    null: float
    margins: tuple[float, ...]  # the equivalence margins of its parts (none for directional rules)
    title: str  # the comparison, e.g. "ldm-gaussian/raw ÷ dm/raw"
    xlabel: str  # what the effects are, e.g. "ratio"
    rows: tuple[ForestRow, ...]
    log: bool = False  # a log x axis: ratios, when every value of the scale is positive

    def bands(self) -> list[tuple[float, float]]:
        """(low, high) of each margin: null ÷ m … null × m for a ratio, null ± m for a difference."""
        if self.kind == "ratio":
            return [(self.null / m, self.null * m) for m in self.margins]
        return [(self.null - m, self.null + m) for m in self.margins]

    def extent(self) -> tuple[float, float]:
        """The smallest and largest value drawn: intervals, effects, the null and the margins."""
        values = [v for r in self.rows for v in (r.effect, r.low, r.high)] + [self.null]
        values += [v for band in self.bands() for v in band]
        finite = [v for v in values if math.isfinite(v) and (v > 0 or not self.log)]
        return (min(finite), max(finite)) if finite else (self.null - 1.0, self.null + 1.0)


# --------------------------------------------------------------------------- reading the parts
def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def _strip_brackets(text: str) -> str:
    """``text`` without its (possibly nested) parentheses."""
    while True:
        out = re.sub(r"\s*\([^()]*\)", "", text)
        if out == text:
            return out.strip()
        text = out


def _split(part: str) -> tuple[str, str]:
    """(score, comparison) of a part's name, e.g. ("MIZ-area W1 ratio", "ldm/raw ÷ dm/raw")."""
    score, _, comparison = _strip_brackets(part).partition(", ")
    return score.strip(), comparison.strip()


def _common_suffix(labels: Sequence[str]) -> str:
    """The words that end every label (none when a label would be left empty)."""
    if len(labels) < 2:
        return ""
    words = [label.split(" ") for label in labels]
    k = 0
    while k < min(map(len, words)) - 1 and len({tuple(w[len(w) - k - 1:]) for w in words}) == 1:
        k += 1
    return " ".join(words[0][len(words[0]) - k:]) if k else ""


def _panel(kind: str, null: float, parts: Sequence[Mapping[str, object]], backends: tuple[str, ...]) -> ForestPanel:
    split = [_split(str(p.get("part", ""))) for p in parts]
    scores = [s for s, _ in split]
    suffix = _common_suffix(scores)
    comparisons = {c for _, c in split}
    sign = " ÷ " if kind == "ratio" else " − "
    title = comparisons.pop() if len(comparisons) == 1 and "" not in comparisons else sign.join(backends)
    rows = tuple(ForestRow(label=(s[: len(s) - len(suffix)].strip() if suffix else s) or s,
                           part=str(p.get("part", "")), verdict=str(p.get("verdict", "not resolved")),
                           effect=_float(p.get("effect")), low=_float(p.get("ci_low")), high=_float(p.get("ci_high")),
                           level=_float(p["level"]) if p.get("level") is not None else None,
                           n=int(p["n"]) if p.get("n") is not None else None)  # type: ignore[call-overload]
                 for p, s in zip(parts, scores))
    margins = tuple(sorted({_float(p["margin"]) for p in parts if p.get("margin") is not None
                            and math.isfinite(_float(p["margin"]))}))
    return ForestPanel(kind, null, margins, title, suffix or kind, rows)  # type: ignore[arg-type]


def forest_panels(parts: Sequence[Mapping[str, object]]) -> list[ForestPanel]:
    """The panels of one finding's parts (``findings.json`` records): one per scale (ratio, null 1, or
    difference, null 0) and pair of backends, in the order the parts come; rows keep their order.
    Ratios get a log axis when every value of theirs is positive."""
    groups: dict[tuple[str, float, tuple[str, ...]], list[Mapping[str, object]]] = {}
    for p in parts:
        null = _float(p.get("null"))
        kind = "ratio" if null == 1.0 else "difference"
        backends = tuple(str(b) for b in (p.get("backends") or ()))  # type: ignore[union-attr]
        groups.setdefault((kind, null, backends), []).append(p)
    panels = [_panel(kind, null, members, backends) for (kind, null, backends), members in groups.items()]
    ratios = [v for p in panels if p.kind == "ratio" for r in p.rows for v in (r.effect, r.low, r.high)]
    log = all(v > 0 for v in ratios if math.isfinite(v))
    return [replace(p, log=p.kind == "ratio" and log) for p in panels]


def shared_range(panels: Sequence[ForestPanel]) -> tuple[float, float]:
    """The x range of ``panels`` (one scale), padded by 6 % of its span (of its log span for ratios)."""
    lo = min(p.extent()[0] for p in panels)
    hi = max(p.extent()[1] for p in panels)
    if panels[0].log:
        a, b = math.log10(lo), math.log10(hi)
        pad = 0.06 * (b - a) or 0.05
        return 10 ** (a - pad), 10 ** (b + pad)
    pad = 0.06 * (hi - lo) or 0.5
    return lo - pad, hi + pad


def nice_ticks(lo: float, hi: float, log: bool = False, target: int = 5) -> list[float]:
    """About ``target`` round tick values in [lo, hi]: 1-2-2.5-5 steps, or 1-2-5 per decade on a long log axis."""
    if log and hi / lo > 12:
        decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
        for mantissas in ((1, 2, 5), (1, 3), (1,)):
            ticks = [m * 10.0**d for d in decades for m in mantissas if lo <= m * 10.0**d <= hi]
            if len(ticks) <= target + 2:
                return ticks
        return ticks
    raw = (hi - lo) / max(target, 1)
    power = 10.0 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.ceil(lo / step) * step
    return [round(v, 12) for v in np.arange(start, hi + step * 1e-9, step)]


def tick_label(value: float) -> str:
    return f"{value:g}"


# --------------------------------------------------------------------------- the Bokeh figure
def interval_layers(frame: pd.DataFrame, *, point_size: int, line_width: float,
                    hover: Sequence[tuple[str, str]], legend: str | None = None,
                    keys: Mapping[str, tuple[str, str]] | None = None) -> list:
    """A bar from ``low`` to ``high`` and a point at ``estimate`` at height ``y`` per row of ``frame``
    (columns y, estimate, low, high, colour, marker, and more for the ``hover``). ``legend``: a column whose
    values are the legend's entries; ``keys``: more entries (name -> (colour, marker)) without a row here."""
    import holoviews as hv

    finite = frame[np.isfinite(frame["low"]) & np.isfinite(frame["high"])].assign(y_end=lambda f: f["y"])
    layers = [hv.Segments(finite, kdims=["low", "y", "high", "y_end"], vdims=["colour"]).opts(
        color="colour", line_width=line_width)]
    points = frame[np.isfinite(frame["estimate"])]
    vdims = ["y", *[c for c in points.columns if c not in ("estimate", "y")]]
    style = dict(line_color="white", line_width=0.8)
    groups = list(points.groupby(legend, sort=False)) if legend else [("", points)]
    for name, rows in groups:
        layers.append(hv.Scatter(rows, kdims=["estimate"], vdims=vdims, label=str(name)).opts(
            color="colour", marker="marker", size=_size(point_size, rows["marker"].iloc[0]), tools=["hover"],
            hover_tooltips=list(hover), **style))
    shown = {str(name) for name, _ in groups}
    x = float(frame["estimate"].dropna().iloc[0]) if frame["estimate"].notna().any() else 1.0
    for name, (colour, marker) in (keys or {}).items():
        if name not in shown:  # a point below the frame: its legend entry only
            layers.append(hv.Scatter(([x], [-1e3]), kdims=["estimate"], vdims=["y"], label=name).opts(
                color=colour, marker=marker, size=_size(point_size, marker), **style))
    return layers


def _size(point_size: int, marker: str) -> int:
    """Markers of about one visual size (a diamond looks smaller than a circle of its size)."""
    return int(round(point_size * (1.3 if marker == "diamond" else 1.0)))


def axis_ticks(panels: Sequence[ForestPanel], xrange: tuple[float, float]) -> list[float]:
    """Round ticks over ``xrange``, with the null and the margins' edges always among them."""
    log = panels[0].log
    fixed = sorted({v for p in panels for v in (p.null, *[e for band in p.bands() for e in band])
                    if xrange[0] <= v <= xrange[1]})
    scale = (lambda v: math.log10(v)) if log else (lambda v: v)
    room = 0.07 * (scale(xrange[1]) - scale(xrange[0]))
    nice = [t for t in nice_ticks(*xrange, log=log) if all(abs(scale(t) - scale(f)) > room for f in fixed)]
    return sorted(nice + fixed)


def _heights(panels: Sequence[ForestPanel], height: int, font_px: int, axis_shown: Sequence[bool]) -> list[int]:
    """Each panel's height (px), so that every row gets the same height and the panels ``height`` in all."""
    title, axis = int(1.4 * font_px) + 8, int(2.9 * font_px) + 12
    overhead = [title + (axis if shown else 6) for shown in axis_shown]
    overhead[0] += legend_px(font_px)
    rows = sum(len(p.rows) for p in panels)
    per_row = max((height - sum(overhead)) / max(rows, 1), 10.0)
    return [int(o + per_row * len(p.rows)) for o, p in zip(overhead, panels)]


def legend_px(font_px: int) -> int:
    """Height (px) of the one-line legend above the first panel."""
    return int(1.3 * font_px) + 8


def _style(left_px: int, font_px: int, legend: bool):
    """A hook: the same left border on every panel (their frames line up), the title from the figure's
    left edge (over the labels), a compact legend above the frame."""
    def hook(plot, element) -> None:
        fig = plot.state
        fig.min_border_left, fig.min_border_right, fig.min_border_top, fig.min_border_bottom = left_px, 14, 2, 2
        fig.title.align, fig.title.offset = "left", -(left_px - 4)
        fig.border_fill_alpha = 0.0  # around the frame: the colour of what the plot sits on
        for item in fig.legend if legend else ():
            item.update(margin=0, padding=2, spacing=10, border_line_alpha=0, background_fill_alpha=0,
                        label_height=font_px, glyph_height=font_px, glyph_width=font_px,
                        label_standoff=3, location="left")
    return hook


def _panel_plot(panel: ForestPanel, xrange: tuple[float, float], ticks: Sequence[float], *, width: int, height: int,
                font_px: int, left_px: int, show_axis: bool, keys: Mapping[str, tuple[str, str]] | None):
    import holoviews as hv
    import pandas as pd

    k = len(panel.rows)
    frame = pd.DataFrame({
        "y": [float(k - 1 - i) for i in range(k)],
        "estimate": [r.effect for r in panel.rows], "low": [r.low for r in panel.rows],
        "high": [r.high for r in panel.rows], "colour": [r.colour for r in panel.rows],
        "marker": [r.marker for r in panel.rows], "verdict": [r.verdict for r in panel.rows],
        "part": [r.part for r in panel.rows], "interval": [r.interval_text() for r in panel.rows]})
    layers = [hv.VSpan(lo, hi).opts(color=MARGIN_COLOUR, alpha=0.28, line_alpha=0) for lo, hi in panel.bands()]
    layers += [hv.VLine(v).opts(color=MARGIN_COLOUR, line_dash="dashed", line_width=1.2)
               for band in panel.bands() for v in band]
    layers.append(hv.VLine(panel.null).opts(color=NULL_COLOUR, line_width=1.4))
    layers += interval_layers(frame, legend="verdict" if keys is not None else None, keys=keys,
                              point_size=int(0.75 * font_px) + 2, line_width=max(2.0, font_px / 5),
                              hover=[("part", "@part"), ("verdict", "@verdict"), ("effect", "@estimate{0.000}"),
                                     ("", "@interval")])
    fontsize = {"title": f"{font_px}px", "labels": f"{font_px}px", "xticks": f"{font_px - 1}px",
                "yticks": f"{font_px}px", "legend": f"{font_px - 1}px"}
    return hv.Overlay(layers).opts(
        title=panel.title, width=width, height=height, logx=panel.log, xlim=xrange, ylim=(-0.6, k - 0.4),
        xticks=[(t, tick_label(t)) for t in ticks],
        yticks=[(float(k - 1 - i), r.label) for i, r in enumerate(panel.rows)],
        xlabel=panel.xlabel if show_axis else "", ylabel="", xaxis="bottom" if show_axis else None,
        show_grid=True, gridstyle={"ygrid_line_alpha": 0.0, "xgrid_line_alpha": 0.35}, fontsize=fontsize,
        show_legend=keys is not None, legend_position="top", legend_opts={"orientation": "horizontal"},
        toolbar=None, hooks=[_style(left_px, font_px, keys is not None)])


def forest_plot(parts: Sequence[Mapping[str, object]], *, width: int = CARD_SIZE[0], height: int = CARD_SIZE[1],
                font_px: int = 12):
    """The forest plot of one finding's parts (``findings.json`` records), ``width`` × ``height`` px in all.

    One row per part (point at the effect, bar for its interval, colour and marker by verdict, the part,
    verdict and interval in the hover), the null as a line, each equivalence margin shaded; a panel per
    scale and pair of backends, ratios on a log axis; the legend names every verdict shown. ``font_px``:
    the text size (larger for a projector).
    """
    import holoviews as hv

    panels = forest_panels(parts)
    if not panels:
        raise ValueError("a forest plot needs at least one part")
    kinds = {p.kind for p in panels}
    ranges = {kind: shared_range([p for p in panels if p.kind == kind]) for kind in kinds}
    ticks = {kind: axis_ticks([p for p in panels if p.kind == kind], ranges[kind]) for kind in kinds}
    last = {p.kind: i for i, p in enumerate(panels)}
    axis = [last[p.kind] == i for i, p in enumerate(panels)]  # one x axis below the last panel of a scale
    heights = _heights(panels, height, font_px, axis)
    left = int(0.56 * font_px * max(len(r.label) for p in panels for r in p.rows)) + 16
    verdicts = list(dict.fromkeys(r.verdict for p in panels for r in p.rows))
    keys = {v: (VERDICT_COLOURS.get(v, VERDICT_COLOURS["not resolved"]),
                VERDICT_MARKERS.get(v, VERDICT_MARKERS["not resolved"])) for v in verdicts}
    plots = [_panel_plot(p, ranges[p.kind], ticks[p.kind], width=width, height=h, font_px=font_px, left_px=left,
                         show_axis=shown, keys=keys if i == 0 else None)
             for i, (p, h, shown) in enumerate(zip(panels, heights, axis))]
    return hv.Layout(plots).cols(1).opts(shared_axes=False, toolbar=None)
