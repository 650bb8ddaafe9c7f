"""Panel views of :class:`~seaice_explorer.ui.state.ExplorerState` (``pn.viewable.Viewer`` classes).

Views only render the state and forward clicks to its actions; the logic lives in
:mod:`.state` and :mod:`.analysis`. Maps update in place through HoloViews streams, so
switching the variable or member only replaces data, not figures.
"""

from __future__ import annotations

import io
import logging
from concurrent.futures import ThreadPoolExecutor

import holoviews as hv
import numpy as np
import panel as pn
import param
from panel.viewable import Viewer

from ..plots import export, maps
from ..variables import STATE_VARIABLES, VARIABLES
from . import analysis, texts
from .state import ByteLRU, ExplorerState, bounds_rule, format_fraction
from .tabs import AboutView, DenoiseView, LazyTab, MizView, SmoothingView

__all__ = ["AboutView", "DenoiseView", "Downloads", "MapsView", "MizView", "Sidebar", "SmoothingView",
           "cached_reference", "connect_session", "follow_active_tab", "shared_cache", "shared_executor"]

log = logging.getLogger(__name__)

BACKEND_LABELS = {
    "dm": "dm · data-space diffusion",
    "ldm-gaussian": "ldm-gaussian · latent, Gaussian decoder",
    "ldm-censored": "ldm-censored · latent, censored decoder",
}
REFERENCE_STREAM_PARAMS = ["variable", "summary", "show_miz", "ref_index"]
RESULT_STREAM_PARAMS = ["variable", "summary", "show_miz", "member"]


# --------------------------------------------------------------------------- per-server resources
def shared_cache(budget_mb: int = 1024) -> ByteLRU:
    """The results cache shared by every session of this server."""
    return pn.state.as_cached("seaice-explorer:results", lambda: ByteLRU(budget_mb << 20))


def shared_executor() -> ThreadPoolExecutor:
    """Worker threads shared by every session: generation never runs on the UI thread."""
    return pn.state.as_cached("seaice-explorer:executor",
                              lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="seaice-generate"))


def warm_up(device: str = "auto") -> float:
    """Compile Datashader's kernels (numba), load the checkpoints and run each backend once
    (one sample, two steps), once per server; returns the seconds taken."""
    import time

    from holoviews.operation.datashader import rasterize

    t0 = time.perf_counter()
    x = np.linspace(0.0, 1.0, 8)  # float64 coordinates and float32 values, as the maps use
    z = np.outer(x, x).astype(np.float32)
    z[0, 0] = np.nan
    for element in (hv.Image((x, x, z)), hv.Image((x, x[::-1], z))):
        rasterize(element, dynamic=False, width=16, height=16, x_range=(0, 1), y_range=(0, 1))
        rasterize(element, dynamic=False, width=16, height=16)
    try:
        from ..diffusion.generate import generate
        from .state import BACKENDS

        for backend in BACKENDS:
            generate(backend, n=1, steps=2, seed=0, device=device)
    except Exception as err:  # noqa: BLE001 - missing models are reported when generating
        log.warning("warm-up could not load the models: %s", err)
    seconds = time.perf_counter() - t0
    log.info("warm-up done in %.1f s", seconds)
    return seconds


def start_warm_up(device: str = "auto") -> None:
    """Run :func:`warm_up` once per server, in the background (the page does not wait for it)."""
    pn.state.as_cached("seaice-explorer:warm-up", lambda: shared_executor().submit(warm_up, device))


@pn.cache(max_items=4)
def cached_reference(spec: str, grid: str | None = None) -> analysis.ReferenceData:
    """A reference and its summaries, loaded once per server and (spec, grid)."""
    return analysis.load_reference(spec, grid=grid)


def _variable_options() -> dict[str, str]:
    return {f"{v} · {VARIABLES[v].long_name}": v for v in STATE_VARIABLES}


# --------------------------------------------------------------------------- sidebar
class Sidebar(Viewer):
    """Generation settings, the bounds rule, Generate / Cancel with progress, downloads."""

    state = param.ClassSelector(class_=ExplorerState)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        s = self.state
        self.backends = pn.widgets.CheckBoxGroup.from_param(
            s.param.backends, options={BACKEND_LABELS[b]: b for b in s.param.backends.objects}, label="")
        self.variable = pn.widgets.Select.from_param(s.param.variable, options=_variable_options(), label="Variable")
        self.n = pn.widgets.IntSlider.from_param(s.param.n, label="Samples per model")
        self.sampler = pn.widgets.RadioButtonGroup.from_param(s.param.sampler, label="Sampler", variant="outline")
        self.steps = pn.widgets.IntSlider.from_param(s.param.steps, label="Denoising steps")
        self.seed = pn.widgets.IntInput.from_param(s.param.seed, label="Seed", width=150)
        self.new_seed = pn.widgets.Button(label="New seed", width=110, align="end")
        self.new_seed.on_click(lambda _: s.new_seed())
        self.bounds = pn.widgets.RadioButtonGroup.from_param(s.param.bounds, label="Physical bounds",
                                                             variant="outline", color="primary")
        self.rule = pn.pane.Markdown(css_classes=["bounds-rule"], margin=(0, 10))
        self.reference = pn.widgets.Select.from_param(s.param.reference, label="Reference data")
        self.generate = pn.widgets.Button(label="Generate", color="primary", sizing_mode="stretch_width",
                                          css_classes=["generate"])
        self.generate.on_click(lambda _: s.generate())
        self.cancel = pn.widgets.Button(label="Cancel", color="danger", variant="outline", visible=False,
                                        sizing_mode="stretch_width")
        self.cancel.on_click(lambda _: s.cancel())
        self.progress = pn.indicators.Progress(value=0, max=1000, bar_color="primary", sizing_mode="stretch_width",
                                               height=14, visible=False)
        self.status = pn.pane.Markdown("", css_classes=["status"], margin=(0, 10))
        self.violations = pn.pane.Markdown("", css_classes=["violation-summary"], margin=(0, 10))
        s.param.watch(self._on_rule, ["backends", "bounds"])
        s.param.watch(self._on_running, ["running", "progress", "status", "stale"])
        s.param.watch(self._on_results, ["results"])
        self._on_rule()
        self._on_running()
        self._on_results()

    def _on_rule(self, *_: object) -> None:
        self.rule.object = texts.bounds_rule_markdown(bounds_rule(self.state.backends, self.state.bounds),
                                                      self.state.bounds)

    def _on_running(self, *_: object) -> None:
        s = self.state
        self.generate.disabled = s.running
        self.cancel.visible = s.running
        self.progress.visible = s.running
        self.progress.value = int(1000 * s.progress)
        note = " · settings changed: press **Generate**" if s.stale and not s.running else ""
        self.status.object = f"{s.status}{note}" if (s.status or note) else ""

    def _on_results(self, *_: object) -> None:
        results = self.state.results
        if not results:
            self.violations.object = ""
            return
        lines = ["**Beyond physical bounds** (share of ice values):"]
        for b, r in results.items():
            lines.append(f"- `{b}` ({r.key.bounds}): **{format_fraction(r.beyond_fraction)}**")
        self.violations.object = "\n".join(lines)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown("#### Models to compare", margin=(0, 10)), self.backends,
            self.variable, self.n,
            pn.pane.Markdown("Sampler", margin=(0, 10)), self.sampler, self.steps,
            pn.Row(self.seed, self.new_seed),
            pn.pane.Markdown("#### Physical bounds", margin=(0, 10)), self.bounds, self.rule,
            self.reference,
            self.generate, self.cancel, self.progress, self.status, self.violations,
            sizing_mode="stretch_width",
        )


# --------------------------------------------------------------------------- maps
class MapsView(Viewer):
    """Generated members (or mean / spread) next to the reference, pan and zoom linked."""

    state = param.ClassSelector(class_=ExplorerState)

    def __init__(self, **params) -> None:
        super().__init__(**params)
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
        self.empty = pn.pane.Markdown(texts.NO_RESULTS, visible=True)
        s.param.watch(self._rebuild, ["results", "reference_data"])
        self._rebuild()

    def panel_specs(self) -> list[maps.MapSpec]:
        """The panels currently shown (reference first), for the PNG export."""
        s = self.state
        specs = []
        if s.reference_data is not None:
            specs.append(analysis.reference_spec(s.reference_data, s.variable, s.summary, s.ref_index, s.show_miz))
        specs += [analysis.result_spec(r, s.variable, s.summary, s.member, s.show_miz) for r in s.results.values()]
        return specs

    def _rebuild(self, *_: object) -> None:
        s = self.state
        ref = s.reference_data
        if ref is not None:
            self.ref_index.end = max(ref.n_states - 1, 1)
            self.ref_index.disabled = ref.n_states < 2
        n = max((r.n for r in s.results.values()), default=1)
        self.member.end = max(n - 1, 1)
        self.member.disabled = n < 2
        self.empty.visible = not s.results
        if ref is None and not s.results:
            self.pane.object = None
            return
        panels = []
        frame = 300 if len(s.results) + 1 <= 2 else 270
        if ref is not None:  # each panel listens only to what changes it: a member switch skips the reference
            ref_stream = hv.streams.Params(s, REFERENCE_STREAM_PARAMS)
            panels.append(maps.dynamic_panel(
                lambda variable, summary, show_miz, ref_index: analysis.reference_spec(
                    ref, variable, summary, ref_index, show_miz), [ref_stream], ref.geometry, frame=frame))
        member_stream = hv.streams.Params(s, RESULT_STREAM_PARAMS)
        for result in s.results.values():
            panels.append(maps.dynamic_panel(
                lambda variable, summary, show_miz, member, _r=result: analysis.result_spec(
                    _r, variable, summary, member, show_miz), [member_stream], result.geometry, frame=frame))
        ncols = len(panels) if len(panels) <= 3 else 2
        self.pane.object = maps.map_layout(panels, ncols=ncols)

    def __panel__(self) -> pn.viewable.Viewable:
        controls = pn.Row(self.summary, self.member, self.ref_index, self.show_miz, sizing_mode="stretch_width")
        return pn.Column(controls, self.empty, self.pane, pn.pane.Markdown(texts.MAPS_HELP),
                         sizing_mode="stretch_width")


# --------------------------------------------------------------------------- export
class Downloads(Viewer):
    """NetCDF of the generated samples (with provenance) and a PNG of the maps."""

    state = param.ClassSelector(class_=ExplorerState)
    maps_view = param.ClassSelector(class_=MapsView)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.netcdf = pn.widgets.FileDownload(callback=self._netcdf, filename="seaice_samples.nc",
                                              label="Samples (NetCDF)",
                                              color="success", variant="outline", sizing_mode="stretch_width",
                                              css_classes=["download-netcdf"])
        self.png = pn.widgets.FileDownload(callback=self._png, filename="seaice_maps.png", label="Maps (PNG)",
                                           color="success", variant="outline", sizing_mode="stretch_width",
                                           css_classes=["download-png"])
        self.state.param.watch(self._on_results, ["results"])
        self._on_results()

    def _on_results(self, *_: object) -> None:
        s = self.state
        self.netcdf.disabled = not s.results
        self.netcdf.filename = f"seaice_samples_seed{s.seed}.nc"

    def _netcdf(self) -> io.BytesIO:
        s = self.state
        try:
            return io.BytesIO(analysis.netcdf_bytes(analysis.export_dataset(s.results, s.reference)))
        except Exception as err:  # noqa: BLE001
            s.notify(f"Could not export the samples: {err}", "error")
            return io.BytesIO(b"")

    def _png(self) -> io.BytesIO:
        s = self.state
        try:
            specs = self.maps_view.panel_specs()
            return io.BytesIO(export.maps_png(specs, ncols=min(len(specs), 4), show_miz=s.show_miz,
                                              title=f"{VARIABLES[s.variable].long_name} · seed {s.seed}"))
        except Exception as err:  # noqa: BLE001
            s.notify(f"Could not export the figure: {err}", "error")
            return io.BytesIO(b"")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(pn.pane.Markdown("#### Download", margin=(0, 10)), pn.Row(self.netcdf, self.png),
                         sizing_mode="stretch_width")


# --------------------------------------------------------------------------- session wiring
def follow_active_tab(tabs: pn.Tabs, lazy: dict[int, LazyTab]) -> None:
    """Tell the lazy tabs whether they are shown, so hidden tabs do no work."""

    def on_active(event: param.parameterized.Event) -> None:
        for index, view in lazy.items():
            view.active = event.new == index

    tabs.param.watch(on_active, ["active"])

def connect_session(state: ExplorerState, *, autogenerate: bool = True, poll_ms: int = 200) -> None:
    """Per-session plumbing: first load, notifications and polling of the worker.

    The reference (cached per server) and cached results are applied before the page first
    renders, so a warm server shows its maps at once. Does nothing outside a server (tests);
    in ``panel serve --warm`` start-up runs it only warms the caches.
    """
    doc = pn.state.curdoc
    if doc is None:
        return
    start_warm_up(state.device)
    if state.load_reference() and autogenerate:
        state.generate()
    if doc.session_context is None:
        return
    notifications = pn.state.notifications

    def notify(event: param.parameterized.Event) -> None:
        if notifications is not None and state.message:
            duration = 0 if state.message_level == "error" else 5000
            getattr(notifications, state.message_level)(state.message, duration=duration)

    state.param.watch(notify, ["message_serial"])
    pn.state.add_periodic_callback(state.poll, period=poll_ms)
    pn.state.on_session_destroyed(lambda context: state.cancel())  # a closed page stops its job
