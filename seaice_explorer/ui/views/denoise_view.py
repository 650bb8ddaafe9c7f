"""The denoising replay: one sample's path from noise to ice, latent next to decoded, and its
take-aways (the animation as a GIF, or an MP4 where PyAV is installed)."""

from __future__ import annotations

import io

import holoviews as hv
import numpy as np
import panel as pn
import param
from panel.viewable import Viewer

from ...plots import animate, charts, maps
from ..model import analysis, texts
from .layout import RESIZE_PARAMS, Display, MapGrid
from .panes import Markdown
from ..model.state import ExplorerState

#: Height (px) of the replay's two control rows beyond the maps' one (measured in chromium).
CONTROLS_EXTRA_PX = 116


class DenoiseView(Viewer):
    """Replay one sample's path from noise to ice, latent next to decoded, with explanations."""

    state = param.ClassSelector(class_=ExplorerState)
    display = param.ClassSelector(class_=Display, doc="The browser's size and presentation mode (sizes the maps).")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        if self.display is None:
            self.display = Display()
        self._grid: MapGrid | None = None
        s = self.state
        self.backend = pn.widgets.Select.from_param(s.param.denoise_backend, label="Model", width=200)
        self.record = pn.widgets.Button(label="Record denoising", color="primary", align="end", width=180)
        self.record.on_click(lambda _: s.record_trajectory())
        style = dict(color="success", variant="outline", align="end", width=170, disabled=True)
        self.gif = pn.widgets.FileDownload(callback=lambda: self._animation("GIF", animate.gif_bytes),
                                           filename="seaice_denoise.gif", label="Animation (GIF)",
                                           css_classes=["download-gif"], **style)
        self.mp4 = pn.widgets.FileDownload(callback=lambda: self._animation("MP4", animate.mp4_bytes),
                                           filename="seaice_denoise.mp4", label="Animation (MP4)",
                                           css_classes=["download-mp4"], visible=animate.mp4_available(), **style)
        self.player = pn.widgets.Player(label="Step", start=0, end=1, value=0, interval=350, loop_policy="once",
                                        show_loop_controls=False, width=420, disabled=True)
        self.player.link(s, value="denoise_step")
        s.param.watch(lambda e: setattr(self.player, "value", e.new), ["denoise_step"])
        self.sigma = Markdown("", margin=(0, 10), css_classes=["denoise-sigma"])
        self.pane = pn.pane.HoloViews(None, backend="bokeh", css_classes=["denoise-maps"])
        s.param.watch(self._rebuild, ["trajectory"])
        s.param.watch(self._on_step, ["denoise_step"])
        self.display.param.watch(self._resize, list(RESIZE_PARAMS))
        if s.trajectory is not None:  # e.g. a tour slide, made on a state that has its replay already
            self._rebuild()

    # ---------------------------------------------------------------- keyboard (presentation mode)
    def step_by(self, delta: int) -> None:
        """Show the previous / next step (clamped), pausing the player."""
        traj = self.state.trajectory
        if traj is not None:
            self.player.direction = 0
            self.state.denoise_step = int(np.clip(self.state.denoise_step + delta, 0, traj.n_steps))

    def go_to(self, step: int) -> None:
        traj = self.state.trajectory
        if traj is not None:
            self.player.direction = 0
            self.state.denoise_step = int(np.clip(step, 0, traj.n_steps))

    def toggle_play(self) -> None:
        """Play from the current step (from the start once finished) or pause."""
        traj = self.state.trajectory
        if traj is None:
            return
        if self.player.direction:
            self.player.direction = 0
            return
        if self.state.denoise_step >= traj.n_steps:
            self.state.denoise_step = 0
        self.player.direction = 1

    # ---------------------------------------------------------------- drawing
    def _on_step(self, *_: object) -> None:
        traj = self.state.trajectory
        if traj is None:
            return
        step = int(np.clip(self.state.denoise_step, 0, traj.n_steps))
        self.sigma.object = (f"Step **{step}** of {traj.n_steps} · noise level σ = **{traj.sigma_of(step):.3g}**"
                             + (" · finished" if step == traj.n_steps else ""))

    def _resize(self, *_: object) -> None:
        if self.state.trajectory is not None and self.display.grid(2, extra=CONTROLS_EXTRA_PX) != self._grid:
            self._rebuild()

    def _rebuild(self, *_: object) -> None:
        s, traj = self.state, self.state.trajectory
        for button in (self.gif, self.mp4):
            button.disabled = traj is None
        if traj is None:
            self.pane.object = None
            self.player.disabled = True
            return
        self.player.param.update(end=traj.n_steps, disabled=False,
                                 value=int(np.clip(s.denoise_step, 0, traj.n_steps)))
        self.gif.filename = f"seaice_denoise_{traj.backend}.gif"
        self.mp4.filename = f"seaice_denoise_{traj.backend}.mp4"
        self._grid = grid = self.display.grid(2, extra=CONTROLS_EXTRA_PX)
        stream = hv.streams.Params(s, ["denoise_step", "variable"])
        geometry = analysis.replay_geometry(traj)

        def noisy(denoise_step: int, variable: str):
            return charts.latent_image(animate.noisy_field(traj, variable, denoise_step, geometry),
                                       title=f"{traj.backend} · {traj.noisy_label(variable)}", clim=(-3, 3),
                                       label="latent value" if traj.latent else "normalised value",
                                       frame=grid.frame).opts(**grid.fonts.opts())

        decoded = maps.dynamic_panel(lambda denoise_step, variable: animate.guess_spec(traj, variable, denoise_step,
                                                                                       geometry),
                                     [stream], geometry, frame=grid.frame, fonts=grid.fonts)
        self.pane.object = hv.Layout([hv.DynamicMap(noisy, streams=[stream]), decoded]).opts(shared_axes=False)
        self._on_step()

    def _animation(self, what: str, write) -> io.BytesIO:
        """The shown trajectory as an animation, one labelled frame per sampler step."""
        s = self.state
        try:
            return io.BytesIO(write(animate.frames(s.trajectory, s.variable)))
        except Exception as err:  # noqa: BLE001 - reported in the page
            s.notify(f"Could not make the {what}: {err}", "error")
            return io.BytesIO(b"")

    def __panel__(self) -> pn.viewable.Viewable:
        explain = pn.Row(Markdown(texts.DIFFUSION, width=420), Markdown(texts.LATENT, width=420))
        explain2 = pn.Row(Markdown(texts.BOUNDS_HELP, width=420), Markdown(texts.MIZ, width=420))
        return pn.Column(pn.Row(self.backend, self.record, self.gif, self.mp4), pn.Row(self.player, self.sigma),
                         self.pane, explain, explain2, sizing_mode="stretch_width")
