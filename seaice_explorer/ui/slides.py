"""The tour's prepared stops as slides (Panel): each drawn once, with the app's own views on the
stop's own state (:meth:`~.tour.Tour.slide_state`), one visible at a time.

Drawing maps takes seconds on a small CPU; showing a drawn slide takes a fraction of one. So the
stop shown is drawn first, the other prepared stops are drawn one by one in the background
(one per tick of the page, so it stays responsive), and a step then only changes which slide is
visible. While a slide is shown the app's tabs are hidden; closing the tour shows them again,
on the last stop's settings.
"""

from __future__ import annotations

import panel as pn
import param
from panel.viewable import Viewable, Viewer

from .denoise_view import DenoiseView
from .layout import Display
from .maps_view import MapsView
from .state import ExplorerState
from .tabs import MizView, SmoothingView
from .tour import DENOISE, MAPS, MIZ, SMOOTHING, Stop, Tour

#: The view class of each tab a stop can show.
VIEWS = {MAPS: MapsView, DENOISE: DenoiseView, MIZ: MizView, SMOOTHING: SmoothingView}


class Slides(Viewer):
    """The prepared stops of the tour, drawn once each; the tour's step picks the visible one."""

    tour = param.ClassSelector(class_=Tour)
    display = param.ClassSelector(class_=Display)
    tabs = param.ClassSelector(class_=pn.Tabs, doc="The app's tabs, hidden while a slide is shown.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        #: The slides' sizes: the page's, with the tour card always above them (see :meth:`.Display.mirror`).
        self.own = self.display.mirror()
        self.views: dict[str, Viewable] = {}
        self.denoise: dict[str, DenoiseView] = {}  # the replay of each denoising stop (for the player's keys)
        #: One Bokeh root per stop (:attr:`roots`, laid out by app.py): showing or hiding a slide then
        #: re-lays out that slide alone, not a document part holding every drawn slide.
        self.slots = {stop.key: pn.Column(sizing_mode="stretch_width", visible=False, margin=0,
                                          css_classes=["tour-slide", f"tour-slide-{stop.key}"])
                      for stop in self.tour.stops}
        self._callbacks: list = []
        self.tour.param.watch(self._show, ["shown"])
        self._show()

    def _draw(self, stop: Stop) -> Viewable:
        """The stop's slide: its tab's view on the stop's own state (hidden until shown)."""
        view = VIEWS[stop.tab](state=self.tour.slide_state(stop), display=self.own)
        if isinstance(view, DenoiseView):
            self.denoise[stop.key] = view
        slide = self.slots[stop.key]
        slide.objects = [view]
        self.views[stop.key] = slide
        return slide

    def _show(self, *_: object) -> None:
        tour, stop = self.tour, self.tour.stop
        on = stop is not None and tour.slide
        if on and stop.key not in self.views:
            self._draw(stop)
        for key, slide in self.views.items():
            slide.visible = on and key == stop.key
        if self.tabs is not None:
            self.tabs.visible = not on
        if on:
            self._draw_the_rest()

    def _draw_the_rest(self) -> None:
        """Draw the other prepared stops in the background, one per tick (in a server only)."""
        doc = pn.state.curdoc
        if self._callbacks or doc is None or doc.session_context is None:
            return
        todo = [s for s in self.tour.stops if s.key not in self.views and self.tour.ready(s)]
        if todo:
            self._callbacks.append(pn.state.add_periodic_callback(self._draw_next, period=250, count=len(todo)))
        self._callbacks.append(pn.state.add_periodic_callback(self._poll, period=300))

    def _draw_next(self) -> None:
        todo = [s for s in self.tour.stops if s.key not in self.views and self.tour.ready(s)]
        if todo:
            self._draw(todo[0])

    def _poll(self) -> None:
        """A slide's own generation (e.g. a replay recorded on it) finishes like the session's."""
        for key in self.views:
            self.tour.slide_state(next(s for s in self.tour.stops if s.key == key)).poll()

    def target(self) -> tuple[ExplorerState, DenoiseView | None, bool] | None:
        """The shown slide's state, its denoising view and whether it shows the denoising; None off slides."""
        tour, stop = self.tour, self.tour.stop
        if stop is None or not tour.slide:
            return None
        return tour.slide_state(stop), self.denoise.get(stop.key), stop.tab == DENOISE

    @property
    def showing(self) -> bool:
        """True while a slide is shown (the app's tabs are hidden then)."""
        return any(slide.visible for slide in self.views.values())

    @property
    def roots(self) -> list[pn.Column]:
        """The slides as separate page roots (``main=[card, *slides.roots, tabs]``)."""
        return list(self.slots.values())

    def __panel__(self) -> Viewable:
        return pn.Column(*self.roots, sizing_mode="stretch_width", margin=0)
