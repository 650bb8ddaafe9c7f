"""The page header's controls, visible in every mode: presentation mode, the current view as a PNG at
presentation resolution, the presenter's keys, and what a mounted part adds (the tour's button, its
keys and its pictures: :class:`Extension`) (Panel)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import panel as pn
import param
from panel.viewable import Viewable, Viewer

from ...plots import animate, export
from ...variables import VARIABLES
from ..model import analysis
from .denoise_view import DenoiseView
from .layout import Display
from .maps_view import panel_specs
from .presentation import Screen
from ..model.state import ExplorerState
from ..model.texts import DENOISE


@dataclass(frozen=True)
class Extension:
    """What a part of the page adds to the header: buttons, a key handler that may take a key first
    (True: taken), and the picture to save while it is shown (None: the app's view is saved)."""

    buttons: tuple[Viewable, ...] = ()
    on_key: Callable[[str], bool] = lambda action: False
    picture: Callable[[], bytes | None] = lambda: None


class Header(Viewer):
    """Guided tour, Presentation, Save view (PNG); forwards the presenter's keys (see :mod:`.presentation`)."""

    state = param.ClassSelector(class_=ExplorerState)
    display = param.ClassSelector(class_=Display)
    tabs = param.ClassSelector(class_=pn.Tabs)
    denoise = param.ClassSelector(class_=DenoiseView)
    extensions = param.List(default=[], item_type=Extension, doc="Parts mounted on the page (e.g. the tour).")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.screen = Screen(self.display)
        self.screen.on_key = self.on_key
        self.presentation = pn.widgets.Toggle.from_param(self.display.param.presentation, label="Presentation",
                                                         color="light", variant="outline",
                                                         css_classes=["presentation-toggle"], width=130, margin=(5, 8))
        self.png = pn.widgets.FileDownload(callback=self._png, filename="seaice_view.png", label="Save view (PNG)",
                                           color="light", variant="outline", css_classes=["download-view"],
                                           width=150, margin=(5, 8))

    # ---------------------------------------------------------------- the presenter's keys
    def _target(self) -> tuple[ExplorerState, DenoiseView | None, bool]:
        """What is shown: the state, its denoising replay and whether that replay is shown."""
        names = list(self.tabs._names)
        return self.state, self.denoise, self.tabs.active < len(names) and names[self.tabs.active] == DENOISE

    def on_key(self, action: str) -> None:
        """Do what a key means (:data:`.presentation.KEYS`) in the view shown (a mounted part first)."""
        if any(extension.on_key(action) for extension in self.extensions):
            return
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
        elif action == "leave":
            self.display.presentation = False

    # ---------------------------------------------------------------- the view as a PNG
    def view_png(self) -> bytes:
        """A mounted part's picture, or the denoising step shown (on its tab) or the maps shown, 1920 px wide."""
        picture = next((p for p in (e.picture() for e in self.extensions) if p is not None), None)
        if picture is not None:
            return picture
        s, _, on_denoise = self._target()
        if on_denoise and s.trajectory is not None:
            frame = animate.frame_of(s.trajectory, s.variable, s.denoise_step, analysis.replay_geometry(s.trajectory))
            return animate.png_bytes(frame, animate.PRESENTATION_WIDTH)
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
        buttons = [b for e in self.extensions for b in e.buttons]
        return pn.Row(*buttons, self.presentation, self.png, self.screen, align="center")
