"""The analysis tabs: MIZ statistics, smoothing (spectra), the denoising replay and About.

:class:`LazyTab` views rebuild only while shown, so hidden tabs cost nothing when results
change; the app tells them which tab is active (:func:`~seaice_explorer.ui.views.follow_active_tab`).
"""

from __future__ import annotations

from dataclasses import replace

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from ..plots import charts, maps
from ..variables import STATE_VARIABLES, VARIABLES
from . import analysis, texts
from .state import ExplorerState, format_fraction


# --------------------------------------------------------------------------- tabs drawn when shown
class LazyTab(Viewer):
    """A tab that rebuilds on new results only while it is shown (``active``), else when opened."""

    state = param.ClassSelector(class_=ExplorerState)
    active = param.Boolean(default=False, doc="Set by the app when this tab is the one shown.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._holder = pn.Column(sizing_mode="stretch_width")
        self._dirty = True
        self.state.param.watch(self._invalidate, ["results", "reference_data"])
        if self.active:
            self.refresh()

    def _invalidate(self, *_: object) -> None:
        self._dirty = True
        if self.active:
            self.refresh()

    @param.depends("active", watch=True)
    def _on_active(self) -> None:
        if self.active and self._dirty:
            self.refresh()

    def refresh(self) -> None:
        self._holder[:] = [self._content()]
        self._dirty = False

    def _content(self) -> pn.viewable.Viewable:
        raise NotImplementedError

    def __panel__(self) -> pn.viewable.Viewable:
        return self._holder


# --------------------------------------------------------------------------- MIZ statistics
class MizView(LazyTab):
    """MIZ frequency maps and differences, extent / MIZ-area histograms, scores, bound violations."""

    def _content(self) -> pn.viewable.Viewable:
        s = self.state
        ref = s.reference_data
        if ref is None or not s.results:
            return pn.pane.Markdown(texts.NO_RESULTS)
        return pn.Column(
            pn.pane.Markdown(texts.MIZ_HELP),
            pn.pane.HoloViews(self._frequency_maps(), backend="bokeh"),
            pn.pane.HoloViews(self._histograms(), backend="bokeh"),
            pn.pane.Markdown("#### Scores against the reference"),
            pn.pane.DataFrame(self._scores(), index=True, float_format=lambda v: f"{v:.3g}", css_classes=["scores"],
                              na_rep="–", sizing_mode="stretch_width"),
            pn.pane.Markdown(self._violation_text(), css_classes=["violation-detail"]),
            pn.pane.HoloViews(self._violation_maps(), backend="bokeh"),
            sizing_mode="stretch_width",
        )

    def _frequency_maps(self):
        s, ref = self.state, self.state.reference_data
        panels = []
        if ref.miz_frequency is not None:
            panels.append(maps.map_panel(maps.field_spec(ref.miz_frequency.values, ref.geometry, "sic",
                                                         f"reference · {ref.n_states} days", kind="frequency"),
                                         frame=240))
        for b, r in s.results.items():
            if r.miz_frequency is not None:
                panels.append(maps.map_panel(maps.field_spec(r.miz_frequency.values, r.geometry, "sic",
                                                             f"{b} · {r.n} samples", kind="frequency"), frame=240))
        diffs = [maps.map_panel(replace(maps.field_spec(r.miz_frequency_diff.values, r.geometry, "sic",
                                                        f"{b} − reference", kind="difference", clim=(-0.5, 0.5)),
                                        label="MIZ frequency difference"), frame=240)
                 for b, r in s.results.items() if r.miz_frequency_diff is not None]
        ncols = max(len(panels), 1)
        return maps.map_layout(panels + diffs, ncols=ncols).opts(title="MIZ frequency")

    def _histograms(self):
        s, ref = self.state, self.state.reference_data
        extent = {"reference": ref.extent, **{b: r.extent for b, r in s.results.items()}}
        miz = {"reference": ref.miz_area, **{b: r.miz_area for b, r in s.results.items()}}
        return (charts.histogram_overlay(extent, xlabel="sea-ice extent [10⁶ km²]", title="Extent")
                + charts.histogram_overlay(miz, xlabel="MIZ area [10⁶ km²]", title="MIZ area")
                ).opts(shared_axes=False)

    def _scores(self) -> pd.DataFrame:
        s = self.state
        rows = {"reference": analysis.reference_row(s.reference_data)}
        rows.update({f"{b} ({r.key.bounds})": r.scores for b, r in s.results.items()})
        return pd.DataFrame(rows).T

    def _violation_text(self) -> str:
        lines = ["#### Bound violations",
                 "Share of values beyond their physical bounds (thickness < 0 m; concentration and damage "
                 "outside 0 to 1), per model and variable:"]
        for b, r in self.state.results.items():
            parts = [f"{v} {format_fraction(float(r.beyond_maps[v].mean()))}" for v in r.beyond_maps.data_vars
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
            panels.append(maps.map_panel(spec, frame=240))
        fracs = {b: r.beyond_fraction for b, r in self.state.results.items()}
        bars = charts.fraction_bars(fracs, ylabel="beyond bounds [%]", title="All bounded variables", width=320)
        return (maps.map_layout(panels) + bars).cols(len(panels) + 1) if panels else bars


# --------------------------------------------------------------------------- smoothing
def _resolved(spectrum) -> tuple[np.ndarray, np.ndarray]:
    """(wavelength, power) up to the grid's Nyquist wavenumber (rings beyond it are partial)."""
    k = spectrum["wavenumber"].values
    nyquist = float(spectrum.attrs.get("nyquist_km-1", np.inf))
    keep = k <= nyquist * (1 + 1e-9)
    return spectrum["wavelength"].values[keep], spectrum.values[keep]


class SmoothingView(LazyTab):
    """Power spectra per variable, generated vs reference, on log-log axes."""

    def _content(self) -> pn.viewable.Viewable:
        s, ref = self.state, self.state.reference_data
        if ref is None or not s.results:
            return pn.pane.Markdown(texts.NO_RESULTS)
        plots = []
        for v in STATE_VARIABLES:
            spectra = {}
            if v in ref.spectra:
                spectra["reference"] = _resolved(ref.spectra[v])
            for b, r in s.results.items():
                if v in r.spectra:
                    spectra[b] = _resolved(r.spectra[v])
            if spectra:
                units = VARIABLES[v].units
                ylabel = "power (dimensionless)" if units == "1" else f"power [{units}²]" if " " not in units \
                    else f"power [({units})²]"
                plots.append(charts.spectra_overlay(spectra, title=VARIABLES[v].long_name, ylabel=ylabel,
                                                    width=380, height=250, show_legend=not plots))
        layout = hv.Layout(plots).cols(3).opts(shared_axes=False)
        return pn.Column(pn.pane.Markdown(texts.SMOOTHING_HELP), pn.pane.HoloViews(layout, backend="bokeh"),
                         sizing_mode="stretch_width")


# --------------------------------------------------------------------------- denoising replay
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
        explain2 = pn.Row(pn.pane.Markdown(texts.BOUNDS, width=420), pn.pane.Markdown(texts.MIZ, width=420))
        return pn.Column(pn.Row(self.backend, self.record), pn.Row(self.player, self.sigma), self.pane,
                         explain, explain2, sizing_mode="stretch_width")



# --------------------------------------------------------------------------- about
class AboutView(Viewer):
    """What the data and models are, stated honestly."""

    state = param.ClassSelector(class_=ExplorerState)

    @param.depends("state.reference_data", "state.results")
    def _content(self) -> pn.viewable.Viewable:
        s, ref = self.state, self.state.reference_data
        lines = [texts.ABOUT, "### In use now"]
        if ref is not None:
            lines.append(f"- Reference **{ref.name}**: {ref.kind}; {ref.n_states} states; grid "
                         f"{ref.ds.attrs.get('grid', 'unknown')}")
        for b, r in s.results.items():
            a = r.samples.attrs
            lines.append(f"- `{b}`: checkpoints {a.get('checkpoint_sha256', 'n/a')}, sampler {a.get('sampler')}, "
                         f"{a.get('steps')} steps, bounds {a.get('bounds')}, device {a.get('device', 'n/a')}")
        return pn.pane.Markdown("\n".join(lines), sizing_mode="stretch_width", max_width=900)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.panel(self._content)
