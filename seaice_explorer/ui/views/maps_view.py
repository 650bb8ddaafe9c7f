"""The maps tab: generated members (or mean / spread) next to the reference, pan and zoom linked.

Maps update in place through HoloViews streams, so switching the variable or the member only
replaces data, not figures; a member switch does not even touch the reference panel. Their size
follows the window (:class:`~.layout.Display`): one to three per row, as large as the width allows.
"""

from __future__ import annotations

import holoviews as hv
import panel as pn
import param
from panel.viewable import Viewer

from ...plots import maps
from ..model import analysis, texts, timing
from .layout import RESIZE_PARAMS, Display, MapGrid
from .panes import Markdown
from ..model.state import ExplorerState

REFERENCE_STREAM_PARAMS = ["variable", "summary", "show_miz", "ref_index"]
RESULT_STREAM_PARAMS = ["variable", "summary", "show_miz", "member"]


def panel_specs(s: ExplorerState) -> list[maps.MapSpec]:
    """The panels currently shown (reference first), for the PNG export."""
    specs = []
    if s.reference_data is not None:
        specs.append(analysis.reference_spec(s.reference_data, s.variable, s.summary, s.ref_index, s.show_miz))
    specs += [analysis.result_spec(r, s.variable, s.summary, s.member, s.show_miz) for r in s.results.values()]
    return specs


class MapsView(Viewer):
    """Reference and generated maps with their controls (what is shown, member, reference state)."""

    state = param.ClassSelector(class_=ExplorerState)
    display = param.ClassSelector(class_=Display, doc="The browser's size and presentation mode (sizes the maps).")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        if self.display is None:
            self.display = Display()
        self._grid: MapGrid | None = None
        s = self.state
        self.summary = pn.widgets.RadioButtonGroup.from_param(
            s.param.summary, label="Show", variant="outline", width=400, align="end",
            margin=(5, 25, 5, 10),
            options={"one member": "member", "ensemble mean": "mean", "ensemble spread": "spread"})
        self.member = pn.widgets.IntSlider.from_param(s.param.member, label="Member", end=max(s.n - 1, 1), width=200)
        self.ref_index = pn.widgets.IntSlider.from_param(s.param.ref_index, label="Reference state", end=1, width=240)
        self.show_miz = pn.widgets.Checkbox.from_param(s.param.show_miz, label="MIZ contours",
                                                       width=140, align="end")
        self.pane = pn.pane.HoloViews(None, backend="bokeh", css_classes=["maps"])
        self.empty = Markdown(texts.NO_RESULTS, visible=True)
        self.timing = Markdown("", css_classes=["timing"], sizing_mode="stretch_width")
        s.param.watch(self._rebuild, ["results", "reference_data"])
        self.display.param.watch(self._resize, list(RESIZE_PARAMS))
        self._rebuild()

    def n_panels(self) -> int:
        return int(self.state.reference_data is not None) + len(self.state.results)

    def _resize(self, *_: object) -> None:
        """Redraw only when the window's size or presentation mode changes the maps' size."""
        if self.display.grid(max(self.n_panels(), 1)) != self._grid:
            self._rebuild()

    def _rebuild(self, *_: object) -> None:
        s = self.state
        ref = s.reference_data
        if ref is not None:
            self.ref_index.end = max(ref.n_states - 1, 1)
            self.ref_index.disabled = ref.n_states < 2
        n = max((r.n for r in s.results.values()), default=1)
        self.member.end = max(n - 1, 1)
        self.member.disabled = n < 2
        self.empty.visible = not s.results and not self.display.above  # the tour card says what is shown
        self.timing.object = timing.timing_markdown(timing.costs(s.results, s.registry))
        if ref is None and not s.results:
            self.pane.object = None
            return
        panels = []
        self._grid = grid = self.display.grid(max(self.n_panels(), 1))
        frame, fonts = grid.frame, grid.fonts
        if ref is not None:  # each panel listens only to what changes it: a member switch skips the reference
            ref_stream = hv.streams.Params(s, REFERENCE_STREAM_PARAMS)
            panels.append(maps.dynamic_panel(
                lambda variable, summary, show_miz, ref_index: analysis.reference_spec(
                    ref, variable, summary, ref_index, show_miz), [ref_stream], ref.geometry, frame=frame, fonts=fonts))
        member_stream = hv.streams.Params(s, RESULT_STREAM_PARAMS)
        for result in s.results.values():
            panels.append(maps.dynamic_panel(
                lambda variable, summary, show_miz, member, _r=result: analysis.result_spec(
                    _r, variable, summary, member, show_miz), [member_stream], result.geometry, frame=frame,
                fonts=fonts))
        self.pane.object = maps.map_layout(panels, ncols=grid.ncols)

    def __panel__(self) -> pn.viewable.Viewable:
        controls = pn.Row(self.summary, self.member, self.ref_index, self.show_miz, sizing_mode="stretch_width")
        return pn.Column(controls, self.empty, self.pane, Markdown(texts.MAPS_HELP), self.timing,
                         sizing_mode="stretch_width")
