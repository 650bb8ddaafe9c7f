"""The sidebar: generation settings (backends from the registry), the bounds choice with the
reasons a mode is not offered, Generate / Cancel with progress, and the downloads."""

from __future__ import annotations

import io

import panel as pn
import param
from panel.viewable import Viewer

from ...data.readers import dataset_label
from ...plots import export
from ...variables import VARIABLES
from ..model import download, texts
from ..model.bounds import BOUNDS, BOUNDS_LABELS
from .maps_view import panel_specs
from ..model.state import ExplorerState


def _heading(text: str) -> pn.pane.Markdown:
    return pn.pane.Markdown(f"#### {text}", margin=(0, 10))


class Sidebar(Viewer):
    """Generation settings, the bounds rule, Generate / Cancel with progress, the bound violations."""

    state = param.ClassSelector(class_=ExplorerState)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        s = self.state
        notice = texts.registry_notice(s.registry)
        self.models_notice = pn.pane.Alert(notice, alert_type="warning", visible=bool(notice),
                                           css_classes=["models-notice"], margin=(0, 10))
        self.dataset = pn.widgets.Select.from_param(s.param.dataset, label="Data set",
                                                    options={dataset_label(d): d for d in s.param.dataset.objects},
                                                    visible=len(s.param.dataset.objects) > 1)
        self.backends = pn.widgets.CheckBoxGroup.from_param(s.param.backends, label="")
        self.no_backend = pn.pane.Markdown(css_classes=["no-backend"], margin=(0, 10))
        self.variable = pn.widgets.Select.from_param(s.param.variable, label="Variable")
        self.n = pn.widgets.IntSlider.from_param(s.param.n, label="Samples per model")
        self.sampler = pn.widgets.RadioButtonGroup.from_param(s.param.sampler, label="Sampler", variant="outline")
        self.steps = pn.widgets.IntSlider.from_param(s.param.steps, label="Denoising steps")
        self.seed = pn.widgets.IntInput.from_param(s.param.seed, label="Seed", width=150)
        self.new_seed = pn.widgets.Button(label="New seed", width=110, align="end")
        self.new_seed.on_click(lambda _: s.new_seed())
        self.bounds = pn.widgets.RadioButtonGroup.from_param(s.param.bounds, label="Physical bounds",
                                                             variant="outline", color="primary")
        self.bounds_help = pn.widgets.TooltipIcon(
            value="\n".join(f"{BOUNDS_LABELS[m]}: {h}" for m, h in BOUNDS.items()))
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
        #: "Copy as command": the `seaice-explorer generate` line of the settings shown (select and copy it)
        self.command = pn.widgets.TextAreaInput(label="Copy as command", value=s.command(), rows=3,
                                                css_classes=["copy-command"], sizing_mode="stretch_width")
        s.param.watch(lambda *_: setattr(self.command, "value", s.command()),
                      ["backends", "n", "steps", "sampler", "seed", "bounds"])
        s.param.watch(self._on_dataset, ["dataset"])
        s.param.watch(self._on_bounds, ["backends", "bounds", "dataset"])
        s.param.watch(self._on_running, ["running", "progress", "status", "stale"])
        s.param.watch(self._on_results, ["results"])
        self._on_dataset()
        self._on_bounds()
        self._on_running()
        self._on_results()

    def _on_dataset(self, *_: object) -> None:
        s = self.state
        entries = s.registry.for_dataset(s.dataset)
        self.backends.options = {e.label: e.name for e in entries}
        # the variables of the data set's backends (sic alone for observations), with their long names
        self.variable.options = {f"{v} · {VARIABLES[v].long_name}": v for v in s.param.variable.objects}
        self.no_backend.object = "" if entries else (
            f"**No backend for data set {s.dataset}** in `{s.registry.models_dir}`: see the About tab.")

    def _on_bounds(self, *_: object) -> None:
        """Offer only the modes every selected backend can apply; say why the others are not offered."""
        s = self.state
        modes = s.bounds_modes()
        self.bounds.options = {BOUNDS_LABELS[m]: m for m, why in modes.items() if why is None}
        self.rule.object = texts.bounds_markdown(s.bounds, modes, s.entries())

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
        lines = ["**Beyond physical bounds** (share of ice values):"] if results else []
        lines += [f"- `{b}` ({r.key.bounds}): **{texts.format_fraction(r.beyond_fraction)}**"
                  for b, r in results.items()]
        self.violations.object = "\n".join(lines)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            self.models_notice, self.dataset, _heading("Models to compare"), self.backends, self.no_backend,
            self.variable, self.n,
            pn.pane.Markdown("Sampler", margin=(0, 10)), self.sampler, self.steps,
            pn.Row(self.seed, self.new_seed),
            pn.Row(_heading("Physical bounds"), self.bounds_help), self.bounds, self.rule,
            self.reference,
            self.generate, self.cancel, self.progress, self.status, self.violations, self.command,
            sizing_mode="stretch_width",
        )


class Downloads(Viewer):
    """NetCDF of the generated samples (with provenance) and a PNG of the maps."""

    state = param.ClassSelector(class_=ExplorerState)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        style = dict(color="success", variant="outline", sizing_mode="stretch_width")
        self.netcdf = pn.widgets.FileDownload(callback=self._netcdf, filename="seaice_samples.nc",
                                              label="Samples (NetCDF)", css_classes=["download-netcdf"], **style)
        self.png = pn.widgets.FileDownload(callback=self._png, filename="seaice_maps.png", label="Maps (PNG)",
                                           css_classes=["download-png"], **style)
        self.state.param.watch(self._on_results, ["results"])
        self._on_results()

    def _on_results(self, *_: object) -> None:
        s = self.state
        self.netcdf.disabled = not s.results
        self.netcdf.filename = f"seaice_samples_seed{s.seed}.nc"

    def _export(self, what: str, make) -> io.BytesIO:
        try:
            return io.BytesIO(make())
        except Exception as err:  # noqa: BLE001 - reported in the page
            self.state.notify(f"Could not export the {what}: {err}", "error")
            return io.BytesIO(b"")

    def _netcdf(self) -> io.BytesIO:
        s = self.state
        return self._export("samples", lambda: download.netcdf_bytes(download.export_dataset(s.results, s.reference)))

    def _png(self) -> io.BytesIO:
        s = self.state

        def png() -> bytes:
            specs = panel_specs(s)
            return export.maps_png(specs, ncols=min(len(specs), 4), show_miz=s.show_miz,
                                   title=f"{VARIABLES[s.variable].long_name} · seed {s.seed}")

        return self._export("figure", png)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(_heading("Download"), pn.Row(self.netcdf, self.png), sizing_mode="stretch_width")
