"""The analysis tabs (MIZ statistics, smoothing) and Panel's lazy tabs that hold them.

:func:`lazy_tabs` is ``pn.Tabs(dynamic=True)``: Panel renders only the tab that is shown, and a
tab's content function runs when its tab is first shown (``lazy``); it runs again when the
results or the reference change while it is shown, or when it is shown again after they changed,
never while it is hidden.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
from panel.viewable import Viewable, Viewer

from ...plots import charts, maps
from ...variables import STATE_VARIABLES, VARIABLES
from ..model import analysis, texts
from .layout import RESIZE_PARAMS, Display, map_grid
from ..model.state import ExplorerState


def _while_shown(index: int, build: Callable[[], Viewable], once: bool = False) -> Callable[..., Viewable]:
    """``build`` for Panel to call on tab ``index``: skipped while hidden or covered, when its inputs are
    unchanged, and after the first time with ``once`` (a view that updates itself)."""
    built: list[tuple[int, ...] | None] = [None]

    def content(active: int, covered: bool, *inputs: object) -> Viewable:
        key = tuple(v if isinstance(v, (bool, int, float, str)) else id(v) for v in inputs)
        if active != index or covered or key == built[0] or (once and built[0] is not None):
            raise param.Skip  # Panel keeps what the tab shows
        built[0] = key
        return build()

    return content


def lazy_tabs(state: ExplorerState, *tabs: tuple[str, Viewable | Callable[[], Viewable]],
              watch: Sequence[param.Parameter] = (), covered: param.Parameter | None = None, **params) -> pn.Tabs:
    """Tabs; a callable tab is content built by Panel when shown (see the module docstring).

    ``watch``: more parameters whose change rebuilds a shown tab (e.g. the window's size).
    ``covered``: a boolean parameter, True while something covers the tabs (a tour slide): then no
    tab is built, not even a view given ready-made, which is drawn the first time it is uncovered.
    """
    out = pn.Tabs(dynamic=True, **params)
    cover = covered if covered is not None else False
    for index, (name, tab) in enumerate(tabs):
        if callable(tab) and not isinstance(tab, Viewable):
            tab = pn.panel(pn.bind(_while_shown(index, tab), out.param.active, cover, state.param.results,
                                   state.param.reference_data, *watch), lazy=True, sizing_mode="stretch_width")
        elif covered is not None:
            tab = pn.panel(pn.bind(_while_shown(index, lambda view=tab: view, once=True), out.param.active, covered),
                           lazy=True, sizing_mode="stretch_width")
        out.append((name, tab))
    return out


class _ResultsTab(Viewer):
    """A tab drawn from the results and the reference; ``content()`` builds it."""

    state = param.ClassSelector(class_=ExplorerState)
    display = param.ClassSelector(class_=Display, doc="The browser's size and presentation mode (sizes the plots).")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        if self.display is None:
            self.display = Display()

    def size_params(self) -> list[param.Parameter]:
        """The display parameters a rebuild of this tab follows (for :func:`lazy_tabs`)."""
        return [self.display.param[p] for p in RESIZE_PARAMS]

    def content(self) -> Viewable:
        raise NotImplementedError

    def __panel__(self) -> Viewable:
        return pn.panel(pn.bind(lambda *_: self.content(), self.state.param.results, self.state.param.reference_data,
                                *self.size_params()))


class MizView(_ResultsTab):
    """MIZ frequency maps and differences, extent / MIZ-area histograms, scores, bound violations."""

    def content(self) -> Viewable:
        s = self.state
        if s.reference_data is None or not s.results:
            return pn.pane.Markdown(texts.NO_RESULTS)
        return pn.Column(
            pn.pane.Markdown(texts.MIZ_HELP),
            pn.pane.HoloViews(self._frequency_maps(), backend="bokeh"),
            pn.pane.HoloViews(self._histograms(), backend="bokeh"),
            pn.pane.Markdown(texts.SCORES_HELP),
            pn.pane.DataFrame(self._scores(), index=True, css_classes=["scores"], sizing_mode="stretch_width"),
            pn.pane.HoloViews(self._score_intervals(), backend="bokeh", css_classes=["score-intervals"]),
            pn.pane.Markdown(self._violation_text(), css_classes=["violation-detail"]),
            pn.pane.HoloViews(self._violation_maps(), backend="bokeh"),
            sizing_mode="stretch_width",
        )

    def _frequency_maps(self):
        s, ref = self.state, self.state.reference_data
        n = int(ref.miz_frequency is not None) + sum(r.miz_frequency is not None for r in s.results.values())
        grid = self.display.grid(max(n, 1), extra=60)  # below the help text
        size = dict(frame=grid.frame, fonts=grid.fonts)
        panels = []
        if ref.miz_frequency is not None:
            panels.append(maps.map_panel(maps.field_spec(ref.miz_frequency.values, ref.geometry, "sic",
                                                         f"reference · {ref.n_states} days", kind="frequency"),
                                         **size))
        for b, r in s.results.items():
            if r.miz_frequency is not None:
                panels.append(maps.map_panel(maps.field_spec(r.miz_frequency.values, r.geometry, "sic",
                                                             f"{b} · {r.n} samples", kind="frequency"), **size))
        diffs = [maps.map_panel(replace(maps.field_spec(r.miz_frequency_diff.values, r.geometry, "sic",
                                                        f"{b} − reference", kind="difference", clim=(-0.5, 0.5)),
                                        label="MIZ frequency difference"), **size)
                 for b, r in s.results.items() if r.miz_frequency_diff is not None]
        return maps.map_layout(panels + diffs, ncols=max(min(len(panels), grid.ncols), 1)).opts(title="MIZ frequency")

    def _histograms(self):
        s, ref = self.state, self.state.reference_data
        extent = {"reference": ref.extent, **{b: r.extent for b, r in s.results.items()}}
        miz = {"reference": ref.miz_area, **{b: r.miz_area for b, r in s.results.items()}}
        colours = s.colours()
        return (charts.histogram_overlay(extent, xlabel="sea-ice extent [10⁶ km²]", title="Extent", colours=colours)
                + charts.histogram_overlay(miz, xlabel="MIZ area [10⁶ km²]", title="MIZ area", colours=colours)
                ).opts(shared_axes=False)

    def _intervals(self) -> dict[str, dict[str, analysis.Score]]:
        """Per backend, the 90 % bootstrap interval of each score (computed once per result)."""
        s = self.state
        return {b: analysis.score_intervals(r, s.reference_data) for b, r in s.results.items()}

    def _scores(self) -> pd.DataFrame:
        """One row per source: each score as "value (low–high)", its 90 % bootstrap interval."""
        s = self.state
        intervals = self._intervals()
        rows = {"reference": {k: texts.format_interval(v) for k, v in analysis.reference_row(s.reference_data).items()}}
        for b, r in s.results.items():
            rows[f"{b} ({r.key.bounds})"] = {
                k: texts.format_interval(v, *((intervals[b][k].ci_low, intervals[b][k].ci_high)
                                              if k in intervals[b] else (None, None)))
                for k, v in r.scores.items()}
        return pd.DataFrame(rows).T.fillna("–")

    def _score_intervals(self):
        """The MIZ scores of each backend with their intervals (error bars); the reference's mean extent as a line."""
        s = self.state
        intervals = self._intervals()
        shown = [c for c in analysis.INTERVAL_CHART if any(c in i for i in intervals.values())]
        scores = {c: {b: (r.scores[c], intervals[b][c].ci_low, intervals[b][c].ci_high)
                      for b, r in s.results.items() if c in intervals[b] and c in r.scores} for c in shown}
        fonts = self.display.grid(3).fonts
        width = max(200, (self.display.main_width - 220) // max(len(scores), 1) - 16)
        return charts.score_intervals(scores, reference=analysis.reference_row(s.reference_data),
                                      colours=s.colours(), width=width, height=90 + 34 * len(s.results),
                                      font_px=fonts.label)

    def _violation_text(self) -> str:
        lines = ["#### Bound violations",
                 "Share of values beyond their physical bounds (thickness < 0 m; concentration and damage "
                 "outside 0 to 1), per model and variable:"]
        for b, r in self.state.results.items():
            parts = [f"{v} {texts.format_fraction(float(r.beyond_maps[v].mean()))}" for v in r.beyond_maps.data_vars
                     if v != "any"]
            lines.append(f"- `{b}` with bounds **{r.key.bounds}**: " + " · ".join(parts))
        return "\n".join(lines)

    def _violation_maps(self):
        panels = []
        for b, r in self.state.results.items():
            if "any" not in r.beyond_maps:
                continue
            spec = maps.MapSpec(r.geometry.display(r.beyond_maps["any"].values).astype(np.float32), r.geometry,
                                f"{b} · bounds {r.key.bounds}", "beyond",
                                "share of members beyond a bound", "Reds", (0.0, 1.0))
            panels.append(maps.map_panel(spec, frame=240, fonts=self.display.grid(3).fonts))
        fracs = {b: r.beyond_fraction for b, r in self.state.results.items()}
        bars = charts.fraction_bars(fracs, ylabel="beyond bounds [%]", title="All bounded variables", width=320,
                                    colours=self.state.colours())
        return (maps.map_layout(panels) + bars).cols(len(panels) + 1) if panels else bars


def _resolved(spectrum) -> tuple[np.ndarray, np.ndarray]:
    """(wavelength, power) up to the grid's Nyquist wavenumber (rings beyond it are partial)."""
    k = spectrum["wavenumber"].values
    nyquist = float(spectrum.attrs.get("nyquist_km-1", np.inf))
    keep = k <= nyquist * (1 + 1e-9)
    return spectrum["wavelength"].values[keep], spectrum.values[keep]


def _power_label(units: str) -> str:
    return "power (dimensionless)" if units == "1" else f"power [{units}²]" if " " not in units \
        else f"power [({units})²]"


class SmoothingView(_ResultsTab):
    """Power spectra per variable, generated vs reference, on log-log axes."""

    def content(self) -> Viewable:
        s, ref = self.state, self.state.reference_data
        if ref is None or not s.results:
            return pn.pane.Markdown(texts.NO_RESULTS)
        plots = []
        d = self.display
        width = max(260, (d.main_width - 60) // 3 - 20)
        height = min(int(width * 0.62), map_grid(1, d.main_width, d.height, presentation=d.presentation,
                                                 above=d.above + 90).frame)
        fonts = self.display.grid(3).fonts
        fontsize = {"title": f"{fonts.title}px", "labels": f"{fonts.label}px", "ticks": f"{fonts.ticks}px",
                    "legend": f"{fonts.ticks}px"}
        for v in STATE_VARIABLES:
            spectra = {"reference": _resolved(ref.spectra[v])} if v in ref.spectra else {}
            spectra.update({b: _resolved(r.spectra[v]) for b, r in s.results.items() if v in r.spectra})
            if spectra:
                plots.append(charts.spectra_overlay(spectra, title=VARIABLES[v].long_name,
                                                    ylabel=_power_label(VARIABLES[v].units), width=width,
                                                    height=height, show_legend=not plots,
                                                    colours=s.colours()).opts(fontsize=fontsize))
        layout = hv.Layout(plots).cols(3).opts(shared_axes=False)
        return pn.Column(pn.pane.Markdown(texts.SMOOTHING_HELP), pn.pane.HoloViews(layout, backend="bokeh"),
                         sizing_mode="stretch_width")


class AboutView(_ResultsTab):
    """What the data and models are, stated honestly: the registry, broken folders, what is in use."""

    def content(self) -> Viewable:
        s, ref = self.state, self.state.reference_data
        lines = [texts.ABOUT, texts.models_markdown(s.registry), texts.BOUNDS_HELP, texts.recipes_markdown(),
                 "### In use now"]
        if ref is not None:
            credit = ref.ds.attrs.get("copyright")
            lines.append(f"- Reference **{ref.name}**: {ref.kind}; {ref.n_states} states; grid "
                         f"{ref.ds.attrs.get('grid', 'unknown')}" + (f"; {credit}" if credit else ""))
        for b, r in s.results.items():
            a = r.samples.attrs
            lines.append(f"- `{b}`: checkpoints {a.get('checkpoint_sha256', 'n/a')}, sampler {a.get('sampler')}, "
                         f"{a.get('steps')} steps, bounds {a.get('bounds')}, device {a.get('device', 'n/a')}")
        lines.append(f"\nThe same samples from the command line: `{s.command()}`")
        return pn.pane.Markdown("\n".join(lines), sizing_mode="stretch_width", max_width=900)
