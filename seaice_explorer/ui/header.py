"""The page header's controls, visible in every mode: the guided tour, presentation mode, the
current view as a PNG at presentation resolution, and the presenter's keys (Panel)."""

from __future__ import annotations

import io

import numpy as np
import panel as pn
import param
from panel.viewable import Viewer

from ..plots import animate, export
from ..variables import VARIABLES
from .denoise_view import DenoiseView
from .layout import Display
from .maps_view import panel_specs
from .presentation import Screen
from .slides import Slides
from .state import ExplorerState
from .tour import DENOISE, Tour


class Header(Viewer):
    """Guided tour, Presentation, Save view (PNG); forwards the presenter's keys (see :mod:`.presentation`)."""

    state = param.ClassSelector(class_=ExplorerState)
    display = param.ClassSelector(class_=Display)
    tour = param.ClassSelector(class_=Tour)
    tabs = param.ClassSelector(class_=pn.Tabs)
    denoise = param.ClassSelector(class_=DenoiseView)
    slides = param.ClassSelector(class_=Slides, doc="The tour's slides: keys and the PNG act on the one shown.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.screen = Screen(self.display)
        self.screen.on_key = self.on_key
        self.start = pn.widgets.Button(label="Guided tour", color="light", variant="outline",
                                       css_classes=["tour-start"], width=130, margin=(5, 8))
        self.start.on_click(lambda _: self.tour.go(self.tour.step or 1))
        self.presentation = pn.widgets.Toggle.from_param(self.display.param.presentation, label="Presentation",
                                                         color="light", variant="outline",
                                                         css_classes=["presentation-toggle"], width=130, margin=(5, 8))
        self.png = pn.widgets.FileDownload(callback=self._png, filename="seaice_view.png", label="Save view (PNG)",
                                           color="light", variant="outline", css_classes=["download-view"],
                                           width=150, margin=(5, 8))

    # ---------------------------------------------------------------- the presenter's keys
    def _target(self) -> tuple[ExplorerState, DenoiseView | None, bool]:
        """What is shown: the state, its denoising replay and whether that replay is shown (a slide's or the app's)."""
        shown = self.slides.target() if self.slides is not None else None
        if shown is not None:
            return shown
        names = list(self.tabs._names)
        return self.state, self.denoise, self.tabs.active < len(names) and names[self.tabs.active] == DENOISE

    def on_key(self, action: str) -> None:
        """Do what a key means (:data:`.presentation.KEYS`) in the view shown."""
        s, denoise, on_denoise = self._target()
        if action in ("next", "previous"):
            delta = 1 if action == "next" else -1
            if on_denoise:
                denoise.step_by(delta)
            elif s.results:
                n = max(r.n for r in s.results.values())
                s.member = int(np.clip(s.member + delta, 0, n - 1))
        elif action == "play" and on_denoise:
            denoise.toggle_play()
        elif action in ("first", "last") and on_denoise:
            denoise.go_to(0 if action == "first" else 10**6)
        elif action == "tour-next":
            self.tour.go(self.tour.step + 1 if self.tour.step < len(self.tour.stops) else self.tour.step)
        elif action == "tour-previous":
            self.tour.previous()
        elif action == "leave":
            self.display.presentation = False

    # ---------------------------------------------------------------- the view as a PNG
    def view_png(self) -> bytes:
        """The denoising step shown (on its tab) or the maps shown, 1920 px wide."""
        s, _, on_denoise = self._target()
        if on_denoise and s.trajectory is not None:
            return animate.png_bytes(s.trajectory.frame(s.variable, s.denoise_step), animate.PRESENTATION_WIDTH)
        specs = panel_specs(s)
        if not specs:
            raise ValueError("nothing is shown yet")
        return export.maps_png(specs, ncols=min(len(specs), 3), show_miz=s.show_miz,
                               title=f"{VARIABLES[s.variable].long_name} · seed {s.seed}",
                               width_px=animate.PRESENTATION_WIDTH)

    def _png(self) -> io.BytesIO:
        try:
            return io.BytesIO(self.view_png())
        except Exception as err:  # noqa: BLE001 - reported in the page
            self.state.notify(f"Could not save the view: {err}", "error")
            return io.BytesIO(b"")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(self.start, self.presentation, self.png, self.screen, align="center")
