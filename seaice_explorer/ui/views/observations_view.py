"""The Observations tab: hide part of a day, let a model fill it in, compare with the held-out truth.

The view builds nothing until it is first shown (:func:`.tabs.lazy_tabs` draws a ready-made view
then): its :class:`~..model.observations.ObservationsState` (which imports the conditioning, and
torch with it), its widgets and maps. A run's progress and end are pushed to the page
(``doc.add_next_tick_callback``), as the page's generations are: no timer polls.
"""

from __future__ import annotations

import logging
from typing import Any

import holoviews as hv
import numpy as np
import panel as pn
import param
from bokeh.document import Document
from panel.viewable import Viewable, Viewer

from ...data.masks import EDGE_THRESHOLD
from ...data.readers import dataset_label
from ...plots import maps
from ...plots.style import HIDDEN_COLOUR, REFERENCE_COLOUR
from ..model import observation_results as results
from ..model import observations as obs
from ..model import texts
from ..model.state import ExplorerState
from .layout import RESIZE_PARAMS, Display, MapGrid
from .panes import Markdown

log = logging.getLogger(__name__)

#: Height (px) of the tab's controls beyond the maps' usual row (two rows of widgets).
CONTROLS_EXTRA_PX = 120
#: Colours of the 15 % ice edges on the probability map.
EDGE_COLOURS = {"ensemble": "#d95f02", "truth": REFERENCE_COLOUR}
BOX_COLOUR = "#d95f02"


def edges_layer(res: results.ObservationResult, reveal: bool):
    """The ensemble median's and (revealed) the truth's 15 % ice edges, in display coordinates."""
    g = res.geometry
    curves = [hv.Curve(maps.join_lines(maps.contour_lines(g.x, g.y, g.display(field), EDGE_THRESHOLD)),
                       kdims=["x"], vdims=["y"], label=f"{name} edge").opts(color=EDGE_COLOURS[name], line_width=2.2,
                                                                            tools=[])
              for name, field in results.edge_fields(res, reveal).items()]
    return hv.Overlay(curves)


def hidden_layer(res: results.ObservationResult):
    """The hidden (unobserved) cells in one grey, over the observed field; the rest transparent."""
    g = res.geometry
    hidden = np.where(g.display(res.hidden.values.astype(np.float32)) > 0.5, 1.0, np.nan).astype(np.float32)
    return hv.Image((g.x, g.y, hidden), kdims=["x", "y"], vdims=["hidden"]).opts(
        cmap=[HIDDEN_COLOUR], clim=(0, 1), colorbar=False, tools=[], alpha=0.9)


def _dynamic(element) -> hv.DynamicMap:
    """``element`` as a DynamicMap, like the maps tab's panels: the styles of a static overlay, merged into
    the layout's options, would otherwise override those of the member panel's frames after a redraw."""
    return hv.DynamicMap(lambda: element)


def connect(model: obs.ObservationsState, doc: Document | None) -> None:
    """Push the model's progress to the page: it polls on its own thread; a closed page cancels its run."""
    if doc is None or doc.session_context is None:
        return

    def push() -> None:  # from a worker
        try:
            doc.add_next_tick_callback(model.poll)
        except Exception:  # noqa: BLE001 - the page closed meanwhile: nothing to tell
            log.debug("an observation run ended after its page closed")

    def closed(context: object) -> None:
        model.push = None
        model.cancel()

    model.push = push
    doc.on_session_destroyed(closed)


class ObservationsView(Viewer):
    """Controls, the six maps (observed, truth, member, mean, spread, probability) and the scores."""

    state = param.ClassSelector(class_=ExplorerState)
    display = param.ClassSelector(class_=Display, doc="The browser's size and presentation mode (sizes the maps).")

    def __init__(self, *, assimilate_fn: obs.AssimilateFn | None = None, record_loader: Any = None,
                 **params: Any) -> None:
        super().__init__(**params)
        if self.display is None:
            self.display = Display()
        self._injected = {"assimilate_fn": assimilate_fn, "record_loader": record_loader}
        self._doc = pn.state.curdoc  # the page's document, while the page is being built
        self.model: obs.ObservationsState | None = None
        self._layout: pn.Column | None = None
        self._grid: MapGrid | None = None

    # ---------------------------------------------------------------- built when first shown
    def build(self) -> obs.ObservationsState:
        """The model, widgets and watchers (once)."""
        if self.model is not None:
            return self.model
        m = self.model = obs.ObservationsState(self.state, **self._injected)
        connect(m, self._doc)
        self.day = pn.widgets.DatePicker.from_param(m.param.day, name="Day", width=150)
        self.preset = pn.widgets.Select.from_param(m.param.preset, name="Hidden cells", options=texts.MASK_LABELS,
                                                   width=220)
        self.obs_sigma = pn.widgets.FloatSlider.from_param(m.param.obs_sigma, name="σ_obs (observation error)",
                                                           step=0.005, width=200)
        self.n = pn.widgets.IntSlider.from_param(m.param.n, name="Members", width=180)
        self.backend = pn.widgets.Select.from_param(m.param.backend, name="Model", width=300)
        self.method = pn.widgets.Select.from_param(m.param.method, name="Method", width=110)
        self.steps = pn.widgets.IntInput.from_param(m.param.steps, name="Steps", width=90)
        self.run = pn.widgets.Button(label="Run", color="primary", width=110, align="end", css_classes=["obs-run"])
        self.run.on_click(lambda _: m.run())
        self.cancel = pn.widgets.Button(label="Cancel", color="danger", variant="outline", width=110, align="end",
                                        visible=False)
        self.cancel.on_click(lambda _: m.cancel())
        self.progress = pn.indicators.Progress(value=0, max=1000, bar_color="primary", width=300, height=14,
                                               visible=False, align="center")
        self.status = Markdown("", css_classes=["obs-status"], margin=(0, 10))
        self.reveal = pn.widgets.Toggle.from_param(m.param.reveal, name="Reveal truth", color="warning",
                                                   width=140, align="end")
        self.member = pn.widgets.IntSlider.from_param(m.param.member, name="Member", end=max(m.n - 1, 1), width=200)
        self.source = Markdown("", margin=(0, 10), css_classes=["obs-source"])
        self.empty = Markdown(texts.NO_OBSERVATION, visible=True)
        self.pane = pn.pane.HoloViews(None, backend="bokeh", css_classes=["observation-maps"])
        self.edges = Markdown("", margin=(0, 10))
        self.scores = pn.pane.DataFrame(None, css_classes=["observation-scores"], float_format="{:.4g}".format,
                                        sizing_mode="stretch_width", visible=False)
        m.param.watch(self._on_running, ["running", "progress", "status"])
        m.param.watch(self._on_truth, ["truth"])
        m.param.watch(self._rebuild, ["result", "reveal"])
        self.state.param.watch(self._on_dataset, ["dataset"])
        self.display.param.watch(self._resize, list(RESIZE_PARAMS))
        self._on_dataset()
        self._on_truth()
        self._on_running()
        self._rebuild()
        return m

    def __panel__(self) -> Viewable:
        if self._layout is None:
            self.build()
            controls = pn.Column(
                pn.Row(self.day, self.preset, self.obs_sigma, self.n, sizing_mode="stretch_width"),
                pn.Row(self.backend, self.method, self.steps, self.run, self.cancel, self.reveal, self.member,
                       sizing_mode="stretch_width"),
                pn.Row(self.progress, self.status, sizing_mode="stretch_width"),
                sizing_mode="stretch_width")
            self._layout = pn.Column(controls, self.source, self.empty, self.pane, self.edges, self.scores,
                                     Markdown(texts.OBSERVATIONS_HELP), sizing_mode="stretch_width")
        return self._layout

    # ---------------------------------------------------------------- watchers
    def _on_dataset(self, *_: object) -> None:
        entries = self.state.registry.for_dataset(self.state.dataset)
        self.backend.options = {e.label: e.name for e in entries}

    def _on_truth(self, *_: object) -> None:
        m = self.model
        ref = m.truth
        if ref is None:
            self.source.object = ""
            return
        first, last = m.param.day.bounds
        self.day.param.update(start=first, end=last)
        attrs = ref.ds.attrs
        self.source.object = texts.observations_source(
            ref.kind or dataset_label(self.state.dataset), f"{first} to {last}",
            held_out=attrs.get("split") == "validation", credit=str(attrs.get("copyright", "")))

    def _on_running(self, *_: object) -> None:
        m = self.model
        self.run.disabled = m.running
        self.cancel.visible = self.progress.visible = m.running
        self.progress.value = int(1000 * m.progress)
        self.status.object = m.status

    def _resize(self, *_: object) -> None:
        if self.model is not None and self.display.grid(3, extra=CONTROLS_EXTRA_PX) != self._grid:
            self._rebuild()

    def _rebuild(self, *_: object) -> None:
        m = self.model
        res = m.result
        self.empty.visible = res is None
        self.scores.visible = res is not None
        self.member.end = max((res.n if res is not None else m.n) - 1, 1)
        if res is None:
            self.pane.object = None
            self.scores.object = None
            self.edges.object = ""
            return
        self._grid = grid = self.display.grid(3, extra=CONTROLS_EXTRA_PX)
        size = dict(frame=grid.frame, fonts=grid.fonts)
        member = maps.dynamic_panel(lambda member: results.member_spec(res, member), [hv.streams.Params(m, ["member"])],
                                    res.geometry, **size)
        observed = maps.map_panel(results.observed_spec(res), **size) * hidden_layer(res)
        panels = [(_dynamic(observed) * self._box_layer()).opts(show_legend=False),
                  _dynamic(maps.map_panel(results.truth_spec(res, m.reveal), **size)), member,
                  _dynamic(maps.map_panel(results.mean_spec(res), **size)),
                  _dynamic(maps.map_panel(results.spread_spec(res), **size)),
                  _dynamic(maps.map_panel(results.probability_spec(res), show_miz=False, **size)
                           * edges_layer(res, m.reveal))]
        self.pane.object = maps.map_layout(panels, ncols=grid.ncols)
        self.edges.object = texts.edges_caption(m.reveal)
        self.scores.object = m.scores_table()

    # ---------------------------------------------------------------- the drawn box
    def _box_layer(self) -> hv.DynamicMap:
        """The drawn box on the observed map, editable (BoxEdit: shift + drag draws a new one)."""
        m = self.model
        x0, x1, y0, y1 = m.box
        rects = hv.Rectangles([(x0, y0, x1, y1)] if m.preset == results.DRAWN_BOX else []).opts(
            fill_alpha=0.12, fill_color=BOX_COLOUR, line_color=BOX_COLOUR, line_width=2, line_dash="dashed")
        boxes = _dynamic(rects)
        self._box_stream = hv.streams.BoxEdit(source=boxes, num_objects=1)
        self._box_stream.add_subscriber(self._on_box)
        return boxes

    def _on_box(self, data: dict) -> None:
        """A box drawn or moved in the browser: it becomes the mask (Run applies it)."""
        if not data or not len(data.get("x0", ())):
            return
        x0, x1, y0, y1 = (float(np.ravel(data[k])[0]) for k in ("x0", "x1", "y0", "y1"))
        self.model.param.update(box=(min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)), preset=results.DRAWN_BOX)
