"""``seaice-explorer evaluate``: the paper-style comparison of backends against a reference.

Finn et al. 2024 (arXiv 2406.18417, Sec. 4) compare data-space and latent diffusion (with a
Gaussian and a censored decoder) by extent and MIZ statistics, mean/spread maps, marginals,
spectra and bound violations. This command generates ``--n`` states per backend and bounds mode
(or reuses cached ones), scores them against every state of the reference
(:mod:`.compare`), and writes a report folder::

    seaice-explorer evaluate --n 64 --steps 20 --reference default --out report/

    report/table.md, table.csv   one row per backend/bounds (+ reference rows), see compare.py
    report/maps.nc               MIZ frequency (+ differences), mean/std maps, spectra (CF attrs)
    report/*.png                 sample maps, MIZ-frequency maps, extent/MIZ histograms, spectra
    report/README.md             command, date, version, device, timings, findings (findings.py)
    report/samples/*.nc          the sample cache (git-ignored, not part of the report)

The backends are the folders of ``--models`` (:func:`seaice_explorer.registry.discover`); by
default every backend trained on the reference's dataset. The bounds modes are ``raw``, ``clamp``
and ``draw`` (:data:`seaice_explorer.registry.BOUNDS`; old names are mapped and deduplicated).
``clamp`` is a projection clamp(x, l, u) of the ``raw`` sample, so each backend is sampled once
with ``raw`` and projected here (:func:`project`); ``draw`` is sampled on its own. Combinations a
backend does not support are skipped and listed, with the reason, in the README.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..checkpoints import checkpoint_hash
from ..data import open_reference
from ..data.readers import dataset_name
from ..diffusion import generate as generate_mod
from ..errors import SeaIceInputError
from ..plots import report_figures as figs
from ..registry import BOUNDS, DEPRECATED_BOUNDS, ModelEntry, Registry, discover
from ..variables import VARIABLES
from . import findings as findings_mod
from .compare import M2_TO_1E6KM2, ReferenceSummary, SetSummary, same_grid, score_set
from .report import RunInfo, build_table, maps_dataset, readme_text, table_markdown, write_maps

log = logging.getLogger(__name__)

DEFAULT_BOUNDS: tuple[str, ...] = ("raw", "clamp")
SAMPLER = "heun"


@dataclass(frozen=True)
class Setting:
    """One backend at one bounds mode: one row of the table."""

    entry: ModelEntry
    bounds: str  # raw | clamp | draw

    @property
    def backend(self) -> str:
        return self.entry.name

    @property
    def label(self) -> str:
        return f"{self.backend}/{self.bounds}"

    @property
    def raw_bounds(self) -> str:
        """The bounds ``generate`` is called with: ``clamp`` is projected from the ``raw`` sample."""
        return "raw" if self.bounds == "clamp" else self.bounds


def plan_settings(entries: Sequence[ModelEntry], bounds: Sequence[str]) -> tuple[list[Setting], list[str]]:
    """(valid settings, ``"backend/bounds: reason"`` of each skipped combination), backend then bounds order.

    Old bounds names are mapped per backend (``entry.resolve_bounds``) and duplicates dropped.
    """
    unknown = [b for b in bounds if b not in BOUNDS and b not in DEPRECATED_BOUNDS]
    if unknown:
        raise SeaIceInputError("--bounds", f"unknown bounds {', '.join(map(repr, unknown))}", f"Use {', '.join(BOUNDS)}")
    valid: dict[tuple[str, str], Setting] = {}
    skipped: list[str] = []
    for entry in {e.name: e for e in entries}.values():
        for b in dict.fromkeys(bounds):
            try:
                mode = entry.resolve_bounds(b)
            except SeaIceInputError as err:
                skipped.append(f"{entry.name}/{b}: {err.problem}")
                continue
            valid.setdefault((entry.name, mode), Setting(entry, mode))
    if not valid:
        raise SeaIceInputError("--bounds", "no valid backend/bounds combination", "Include 'raw' or 'clamp'")
    return list(valid.values()), skipped


def reference_dataset(spec: str, ref: xr.Dataset) -> str | None:
    """The dataset name backends must be trained on to match the reference (None: unknown)."""
    return dataset_name(spec) or ref.attrs.get("dataset")


def select_backends(registry: Registry, names: Sequence[str] | None, dataset: str | None) -> list[ModelEntry]:
    """The named backends, else every backend of ``dataset`` (all of them when it is unknown)."""
    if names:
        return [registry.get(name) for name in names]
    entries = registry.for_dataset(dataset) if dataset is not None else list(registry.entries.values())
    if not entries:
        raise SeaIceInputError(registry.models_dir, f"no backend trained on dataset {dataset!r} "
                               f"(known: {', '.join(registry.names) or 'none'})",
                               "Pass --backends, or a reference of the models' dataset")
    return entries


# --------------------------------------------------------------------------- samples (cached)
def sample_path(samples_dir: Path, backend: str, bounds: str, n: int, steps: int, seed: int) -> Path:
    """``<samples>/<backend>_<bounds>_n<n>_s<steps>_seed<seed>.nc``."""
    return Path(samples_dir) / f"{backend}_{bounds}_n{n}_s{steps}_seed{seed}.nc"


def current_hashes(entry: ModelEntry) -> str:
    """``name:sha256[:12],…`` of the checkpoints behind a backend, VAE first (as ``generate``'s attrs)."""
    return ",".join(f"{folder.name}:{checkpoint_hash(folder)}" for folder in entry.folders)


def _cache_matches(ds: xr.Dataset, backend: str, bounds: str, n: int, steps: int, seed: int, hashes: str) -> bool:
    a = ds.attrs
    return (a.get("backend") == backend and a.get("bounds") == bounds and ds.sizes.get("sample") == n
            and int(a.get("steps", -1)) == steps and int(a.get("seed", -1)) == seed
            and a.get("sampler") == SAMPLER and a.get("checkpoint_sha256") == hashes)


@dataclass
class Sampled:
    """A raw sample and how it was obtained."""

    ds: xr.Dataset
    seconds: float  # wall time of the generate call (from the cache file when reused)
    cached: bool
    path: Path


def obtain(entry: ModelEntry, bounds: str, args: argparse.Namespace, samples_dir: Path,
           generate_fn: Callable[..., xr.Dataset]) -> Sampled:
    """Reuse the cached sample if it matches (backend, bounds, n, steps, seed, checkpoints), else generate it."""
    backend = entry.name
    path = sample_path(samples_dir, backend, bounds, args.n, args.steps, args.seed)
    hashes = current_hashes(entry)
    if path.exists() and not args.no_cache:
        with xr.open_dataset(path) as cached:
            ds = cached.load()
        if _cache_matches(ds, backend, bounds, args.n, args.steps, args.seed, hashes):
            log.info("reusing %s", path)
            return Sampled(ds, float(ds.attrs.get("generation_seconds", np.nan)), True, path)
        log.warning("cache %s does not match the request or the checkpoints; regenerating", path)
    log.info("generating %s bounds=%s n=%d steps=%d seed=%d", backend, bounds, args.n, args.steps, args.seed)
    start = time.perf_counter()

    def progress(info: dict[str, Any]) -> None:
        step = int(info["i"])
        if step % 5 == 4 or step == args.steps - 1:
            log.info("%s: step %d/%d (sigma %.3g), %.0f s", backend, step + 1, args.steps, float(info["sigma"]),
                     time.perf_counter() - start)

    ds = generate_fn(backend, n=args.n, steps=args.steps, seed=args.seed, bounds=bounds, sampler=SAMPLER,
                     device=args.device, models_dir=args.models, callback=progress)
    seconds = time.perf_counter() - start
    ds.attrs["generation_seconds"] = seconds
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".nc.tmp")
    ds.to_netcdf(tmp, encoding={v: {"zlib": True, "complevel": 1} for v in ds.data_vars})
    tmp.replace(path)
    return Sampled(ds, seconds, False, path)


def project(raw: xr.Dataset, bounds: str) -> xr.Dataset:
    """``clamp`` from the raw sample: clamp(x, l, u) per variable with the bounds of
    ``variables.VARIABLES``, the projection ``generate`` applies itself (land stays NaN)."""
    if bounds != "clamp":
        return raw
    out = raw.copy()
    for v in raw.data_vars:
        if v in VARIABLES and VARIABLES[v].bounded:
            out[v] = raw[v].clip(VARIABLES[v].lower, VARIABLES[v].upper, keep_attrs=True)
    out.attrs.update(bounds=bounds, derived_from="the bounds='raw' sample, projected with clamp(x, l, u)")
    return out


def _check_grid(ds: xr.Dataset, ref: xr.Dataset, label: str) -> None:
    if not same_grid(ds, ref):
        raise SeaIceInputError(label, f"samples on a {ds.sizes['y']}×{ds.sizes['x']} grid do not match the reference "
                               f"({ref.sizes['y']}×{ref.sizes['x']}, {ref.attrs.get('grid', '')})",
                               "Evaluate against a reference on the models' grid (the default reference at 128²)")


# --------------------------------------------------------------------------- CLI
def command_line(args: argparse.Namespace) -> str:
    """The canonical command that reproduces this run."""
    parts = ["seaice-explorer evaluate", "--backends", *args.backends, "--n", str(args.n), "--steps", str(args.steps),
             "--reference", str(args.reference), "--out", str(args.out), "--bounds", *args.bounds,
             "--seed", str(args.seed), "--device", str(args.device)]
    if args.models:
        parts += ["--models", str(args.models)]
    if getattr(args, "baseline", None):
        parts += ["--baseline", str(args.baseline)]
    if args.samples_dir:
        parts += ["--samples-dir", str(args.samples_dir)]
    if args.no_cache:
        parts.append("--no-cache")
    return " ".join(parts)


def device_text(device: str) -> str:
    import torch

    if device == "cuda":
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu ({os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()})"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backends", nargs="+", default=None,
                        help="backends (model folders) to compare; default: every backend of the reference's dataset")
    parser.add_argument("--n", type=int, default=64, help="samples per backend and bounds setting")
    parser.add_argument("--steps", type=int, default=20, help="Heun steps (2·steps − 1 network evaluations)")
    parser.add_argument("--reference", default="default", help="'default' or any file open_reference reads")
    parser.add_argument("--out", default="report", help="report folder (created)")
    parser.add_argument("--bounds", nargs="+", default=list(DEFAULT_BOUNDS),
                        help=f"bounds modes ({', '.join(BOUNDS)}); combinations a backend does not support are skipped")
    parser.add_argument("--baseline", default=None, metavar="DATA",
                        help="also score --n random states of DATA (e.g. osisaf:train) like a backend's samples: "
                             "a row no model can be expected to beat")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    parser.add_argument("--models", default=None, help="models directory (default: $SEAICE_EXPLORER_MODELS or models/)")
    parser.add_argument("--models-dir", dest="models", help=argparse.SUPPRESS)
    parser.add_argument("--samples-dir", default=None, help="sample cache (default: OUT/samples)")
    parser.add_argument("--no-cache", action="store_true", help="regenerate even when cached samples exist")


def _subsample(ref: xr.Dataset, n: int, seed: int) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(ref.sizes["time"], size=min(n, ref.sizes["time"]), replace=False))
    return ref.isel(time=idx)


@dataclass
class Scored:
    """The outcome of generating and scoring every setting."""

    rows: list[dict[str, object]]
    summaries: dict[str, SetSummary]  # setting label -> summary
    raw: dict[tuple[str, str], Sampled]  # (backend, raw bounds) -> sample
    settings: dict[str, Setting]  # setting label -> setting


def _describe(entry: ModelEntry) -> dict[str, object]:
    return {"backend": entry.name, "label": entry.label, "kind": entry.kind, "decoder": entry.decoder}


def generate_and_score(settings: Sequence[Setting], args: argparse.Namespace, ref: xr.Dataset,
                       ref_summary: ReferenceSummary, samples_dir: Path, info: RunInfo,
                       generate_fn: Callable[..., xr.Dataset]) -> Scored:
    """One raw sample per backend (cached), projected to each bounds setting and scored."""
    scored = Scored([], {}, {}, {})
    t_scores = 0.0
    for setting in settings:
        key = (setting.backend, setting.raw_bounds)
        if key not in scored.raw:
            sampled = scored.raw[key] = obtain(setting.entry, key[1], args, samples_dir, generate_fn)
            _check_grid(sampled.ds, ref, str(sampled.path))
            info.checkpoints[setting.backend] = sampled.ds.attrs.get("checkpoint_sha256", "")
            info.generation.append(f"{setting.backend} bounds={key[1]}: {sampled.seconds:.1f} s for {args.n} samples "
                                   f"({'cached' if sampled.cached else 'generated'}, "
                                   f"device {sampled.ds.attrs.get('device', '?')}, {sampled.ds.attrs.get('precision', '?')})")
        sampled = scored.raw[key]
        t0 = time.perf_counter()
        row, summary = score_set(project(sampled.ds, setting.bounds), ref_summary)
        t_scores += time.perf_counter() - t0
        scored.rows.append({**_describe(setting.entry), "bounds": setting.bounds, **row,
                            "time_per_sample_s": sampled.seconds / args.n})
        scored.summaries[setting.label] = summary
        scored.settings[setting.label] = setting
    info.timings["generation (this run)"] = sum(s.seconds for s in scored.raw.values() if not s.cached)
    info.timings["scores"] = t_scores
    return scored


def native_settings(scored: Scored) -> dict[str, Setting]:
    """Per backend, the setting the figures show: its native bounds, else raw, else the first evaluated."""
    out: dict[str, Setting] = {}
    for setting in scored.settings.values():
        if setting.backend in {s.backend for s in out.values()}:
            continue
        for b in (setting.entry.native_bounds, "raw", setting.bounds):
            if f"{setting.backend}/{b}" in scored.settings:
                out[f"{setting.backend}/{b}"] = scored.settings[f"{setting.backend}/{b}"]
                break
    return out


def write_figures(scored: Scored, ref: xr.Dataset, ref_summary: ReferenceSummary, out: Path) -> None:
    """The four PNGs, for the native setting of each backend, in each backend's colour."""
    native = native_settings(scored)
    colours = {k: s.entry.colour for k, s in native.items()}
    r = ref_summary.summary
    samples = {k: project(scored.raw[(s.backend, s.raw_bounds)].ds, s.bounds) for k, s in native.items()}
    figs.sample_maps(ref, samples, out / "sample_maps.png", colours=colours)
    figs.miz_frequency_maps(r.miz_frequency, {k: scored.summaries[k].miz_frequency for k in native},
                            out / "miz_frequency.png", colours=colours)
    dist = {k: {"extent": scored.summaries[k].extent * M2_TO_1E6KM2,
                "miz_area": scored.summaries[k].miz_area * M2_TO_1E6KM2} for k in native}
    figs.distributions({"extent": r.extent * M2_TO_1E6KM2, "miz_area": r.miz_area * M2_TO_1E6KM2}, dist,
                       out / "distributions.png", colours=colours)
    figs.spectra(r.spectrum, {k: scored.summaries[k].spectrum for k in native}, out / "spectra.png",
                 small_scale_km=ref_summary.bands[0][1], colours=colours)


def run(args: argparse.Namespace, generate_fn: Callable[..., xr.Dataset] | None = None) -> int:
    """Generate (or reuse), score, and write the report folder; see the module docstring."""
    clock = t0 = time.perf_counter()
    registry = discover(args.models)
    ref = open_reference(args.reference).load()
    entries = select_backends(registry, args.backends, reference_dataset(args.reference, ref))
    args.backends = [e.name for e in entries]
    settings, skipped = plan_settings(entries, args.bounds)
    info = RunInfo(command_line(args), datetime.now(timezone.utc),
                   device_text(generate_mod.pick_device(args.device).type), skipped=skipped)
    for reason in skipped:
        log.warning("skipping %s", reason)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    samples_dir = Path(args.samples_dir) if args.samples_dir else out / "samples"
    samples_dir.mkdir(parents=True, exist_ok=True)
    if args.samples_dir is None:
        (samples_dir / ".gitignore").write_text("*\n")

    ref_summary = ReferenceSummary.of(ref)
    info.timings["reference statistics"] = time.perf_counter() - t0
    scored = generate_and_score(settings, args, ref, ref_summary, samples_dir, info,
                                generate_fn or generate_mod.generate)

    sub_row, _ = score_set(_subsample(ref, args.n, args.seed), ref_summary, dim="time")
    reference = {"label": "reference", "kind": "reference", "decoder": "none"}
    rows = scored.rows + [{"backend": "reference-subsample", "bounds": "–", **reference, **sub_row}]
    if args.baseline:  # another period of real data at the same n: how different another real period is
        base_row, _ = score_set(_subsample(open_reference(args.baseline).load(), args.n, args.seed), ref_summary,
                                dim="time")
        rows.append({"backend": f"baseline {args.baseline}", "bounds": "–", "label": "baseline",
                     "kind": "baseline", "decoder": "none", **base_row})
    rows.append({"backend": "reference", "bounds": "all states", **reference, **ref_summary.summary.row})
    table = build_table(rows)
    table.to_csv(out / "table.csv", index=False, float_format="%.6g")
    band = ref_summary.small_band_label
    (out / "table.md").write_text(table_markdown(table, band))
    verdicts = findings_mod.assess(table)

    t0 = time.perf_counter()
    write_maps(maps_dataset(ref_summary, scored.summaries, ref), out / "maps.nc")
    write_figures(scored, ref, ref_summary, out)
    info.timings["maps and figures"] = time.perf_counter() - t0
    info.timings["total"] = time.perf_counter() - clock
    (out / "README.md").write_text(readme_text(info, ref, ref_summary, table, verdicts, args))
    print(table_markdown(table, band))
    print(findings_mod.findings_markdown(verdicts))
    print(f"\nwrote {out}/ in {info.timings['total']:.0f} s")
    return 0
