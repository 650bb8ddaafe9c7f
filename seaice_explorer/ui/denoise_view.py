"""The denoising replay: one sample's path from noise to ice, latent next to decoded."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn
import param
from panel.viewable import Viewer

from ..plots import charts, maps
from . import texts
from .state import ExplorerState


class DenoiseView(Viewer):
    """Replay one sample's path from noise to ice, latent next to decoded, with explanations."""

    state = param.ClassSelector(class_=ExplorerState)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        s = self.state
        self.backend = pn.widgets.Select.from_param(s.param.denoise_backend, label="Model", width=200)
        self.record = pn.widgets.Button(label="Record denoising", color="primary", align="end", width=180)
        self.record.on_click(lambda _: s.record_trajectory())
        self.player = pn.widgets.Player(label="Step", start=0, end=1, value=0, interval=350, loop_policy="once",
                                        width=420, disabled=True)
        self.player.link(s, value="denoise_step")
        s.param.watch(lambda e: setattr(self.player, "value", e.new), ["denoise_step"])
        self.sigma = pn.pane.Markdown("", margin=(0, 10))
        self.pane = pn.pane.HoloViews(None, backend="bokeh")
        s.param.watch(self._rebuild, ["trajectory"])
        s.param.watch(self._on_step, ["denoise_step"])

    def _on_step(self, *_: object) -> None:
        traj = self.state.trajectory
        if traj is None:
            return
        step = int(np.clip(self.state.denoise_step, 0, traj.n_steps - 1))
        self.sigma.object = (f"Step **{step}** of {traj.n_steps - 1} · noise level σ = **{traj.sigma[step]:.3g}**"
                             + (" · finished" if step == traj.n_steps - 1 else ""))

    def _rebuild(self, *_: object) -> None:
        s, traj = self.state, self.state.trajectory
        if traj is None:
            self.pane.object = None
            self.player.disabled = True
            return
        self.player.param.update(end=traj.n_steps - 1, disabled=False)
        stream = hv.streams.Params(s, ["denoise_step", "variable"])
        channel = 0 if traj.latent else traj.channels.index(s.variable) if s.variable in traj.channels else 0
        what = "noisy latent, channel 0" if traj.latent else f"noisy {s.variable} (normalised)"

        def noisy(denoise_step: int, variable: str):
            return charts.latent_image(traj.noisy_state(denoise_step, channel), title=f"{traj.backend} · {what}",
                                       clim=(-3, 3), frame=240 if traj.latent else 270)

        decoded = maps.dynamic_panel(lambda denoise_step, variable: traj.decoded_spec(variable, denoise_step),
                                     [stream], traj.geometry, frame=270)
        self.pane.object = hv.Layout([hv.DynamicMap(noisy, streams=[stream]), decoded]).opts(shared_axes=False)
        self._on_step()

    def __panel__(self) -> pn.viewable.Viewable:
        explain = pn.Row(pn.pane.Markdown(texts.DIFFUSION, width=420), pn.pane.Markdown(texts.LATENT, width=420))
        explain2 = pn.Row(pn.pane.Markdown(texts.BOUNDS_HELP, width=420), pn.pane.Markdown(texts.MIZ, width=420))
        return pn.Column(pn.Row(self.backend, self.record), pn.Row(self.player, self.sigma), self.pane,
                         explain, explain2, sizing_mode="stretch_width")
