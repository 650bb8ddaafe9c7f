"""The tour's prepared stops as slides (Panel): each drawn once, with the app's own views on the
stop's own state (:meth:`~.tour.Tour.slide_state`), one visible at a time.

Drawing maps takes seconds on a small CPU; showing a drawn slide should take no time at all. So the
first stop is drawn in the background as soon as its results are ready (a page that never opens
the tour pays for that one slide only), the other prepared stops are drawn one by one once the tour
is opened (one per tick of the page, so it stays responsive), and a step then only changes which
slide is visible. While a slide is shown the app's tabs are hidden; closing the tour shows them again,
on the last stop's settings.

The slides and the tabs are **layers** of one stack (:attr:`Slides.stack`): a CSS grid of one cell
that holds them all, so it is as tall as its tallest layer. A step changes the layers' styles alone
(:func:`layer`: visibility, opacity, stacking): every layer stays laid out and painted, and no
element changes size, so the browser lays out nothing again. Bokeh's ``visible=False`` would collapse a hidden slide
(``display: none``) and showing it again would lay out and repaint each of its plots: 0.7-2.6 s a
step on this machine; so would any change of the stack's height, since Bokeh then lays out every
layer of it again.
"""

from __future__ import annotations

import panel as pn
import param
from panel.io.callbacks import PeriodicCallback
from panel.viewable import Viewable, Viewer

from .denoise_view import DenoiseView
from .layout import Display
from .maps_view import MapsView
from .session import in_server, ticker
from .state import ExplorerState
from .tabs import MizView, SmoothingView
from .tour import DENOISE, MAPS, MIZ, SMOOTHING, Stop, Tour

#: The view class of each tab a stop can show.
VIEWS = {MAPS: MapsView, DENOISE: DenoiseView, MIZ: MizView, SMOOTHING: SmoothingView}


#: The styles of a shown and a hidden layer: all in the stack's one grid cell (see the module docstring),
#: the shown one on top. ``visibility`` alone does not hide a layer: Panel's text panes set their own
#: content visible; ``opacity`` hides all of it, and ``pointer-events`` keeps clicks off it.
SHOWN = {"grid-area": "1 / 1", "visibility": "visible", "opacity": "1", "pointer-events": "auto", "z-index": "1"}
HIDDEN = {"grid-area": "1 / 1", "visibility": "hidden", "opacity": "0", "pointer-events": "none", "z-index": "0"}
#: The stack: one grid cell, as wide as the page's main area.
STACK_CSS = ":host { display: grid !important; grid-template-columns: minmax(0, 1fr); }"


def layer(obj: Viewable, shown: bool) -> None:
    """Show or hide ``obj``, a layer of a stack, by its styles (no re-layout, see the module docstring)."""
    styles = SHOWN if shown else HIDDEN
    if any(obj.styles.get(k) != v for k, v in styles.items()):
        obj.styles = {**obj.styles, **styles}


def shown(obj: Viewable) -> bool:
    """True when the layer ``obj`` is shown."""
    return obj.visible and obj.styles.get("visibility") != "hidden"


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
        #: One layer per stop (see :func:`layer`); a stop's slide is drawn into it once.
        self.slots = {stop.key: pn.Column(sizing_mode="stretch_width", margin=0, styles=dict(HIDDEN),
                                          css_classes=["tour-slide", f"tour-slide-{stop.key}"])
                      for stop in self.tour.stops}
        layers = [*self.slots.values(), *([self.tabs] if self.tabs is not None else [])]
        #: The slides and the app's tabs, one shown at a time (``main=[card, slides.stack]``).
        self.stack = pn.Column(*layers, sizing_mode="stretch_width", margin=0, stylesheets=[STACK_CSS])
        self._polling: PeriodicCallback | None = None
        self.tour.param.watch(self._show, ["shown"])
        self._show()
        if in_server() and self.tour.stops:
            # the first stop, so opening the tour only shows it; once the page has rendered, since a
            # slide drawn while it loads can reach it before its models
            pn.state.onload(lambda: self._draw_ready(self.tour.stops[:1], 1000))

    def _draw_ready(self, stops: list[Stop], period_ms: int) -> None:
        """Draw the undrawn ``stops`` in the background, one per tick as their results become ready;
        stop once all are drawn, or the preparation has ended and the rest failed."""
        def tick() -> None:
            ready = [s for s in stops if s.key not in self.views and self.tour.ready(s)]
            if ready:
                self._draw(ready[0])
            if all(s.key in self.views for s in stops) or (self.tour.bank.done and not ready):
                callback.stop()
        callback = ticker(tick, period_ms)

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
        for key, slide in self.slots.items():
            layer(slide, on and key == stop.key)
        if self.tabs is not None:
            layer(self.tabs, not on)
        if on:
            self._draw_the_rest()

    def _draw_the_rest(self) -> None:
        """Draw the other prepared stops in the background, and poll the slides' own generations (in a
        server only; once)."""
        if self._polling is None and in_server():
            self._draw_ready(self.tour.stops, 250)
            self._polling = ticker(self._poll, 300)

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
    def showing(self) -> str | None:
        """The key of the slide shown, None while none is (the app's tabs are shown then)."""
        return next((key for key, slide in self.slots.items() if shown(slide)), None)

    def __panel__(self) -> Viewable:
        return self.stack
