"""``seaice-explorer evaluate``: the paper-style comparison of backends against a reference.

Finn et al. 2024 (arXiv 2406.18417, Sec. 4) compare data-space (``dm``) and latent
(``ldm-gaussian``, ``ldm-censored``) diffusion by extent and MIZ statistics, mean/spread maps,
marginals, spectra and bound violations. This command generates ``--n`` states per backend and
bounds setting (or reuses cached ones), scores them against every state of the reference, and
writes a report folder::

    seaice-explorer evaluate --backends dm ldm-gaussian ldm-censored --n 64 --steps 20 \\
        --reference default --out report/

    report/table.md, table.csv   one row per backend/bounds (+ reference rows), see scores.py
    report/maps.nc               MIZ frequency (+ differences), mean/std maps, spectra (CF attrs)
    report/*.png                 sample maps, MIZ-frequency maps, extent/MIZ histograms, spectra
    report/README.md             command, date, version, device, timings, findings (findings.py)
    report/samples/*.nc          the sample cache (git-ignored, not part of the report)

The raw sample of a backend is the same for ``none``, ``clip`` and ``censored``: ``generate``
applies those as a final projection clamp(x, l, u) (``censored`` is the censored decoder's point
estimate, also clamp(μ, l, u)). So each backend is sampled once with ``bounds="none"`` and the
other two are projected with the same :func:`~seaice_explorer.diffusion.censored.censored_point`;
``censored-sample`` (a random draw) is sampled on its own.
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
from types import MappingProxyType

import numpy as np
import xarray as xr

from ..errors import SeaIceInputError
from ..variables import VARIABLES
from . import findings as findings_mod
from .report import RunInfo, build_table, maps_dataset, readme_text, table_markdown, write_maps
from .compare import M2_TO_1E6KM2, ReferenceSummary, SetSummary, score_set, small_band_label, summarise_reference

log = logging.getLogger(__name__)

BACKEND_NAMES: tuple[str, ...] = ("dm", "ldm-gaussian", "ldm-censored")
ALL_BOUNDS: tuple[str, ...] = ("none", "clip", "censored", "censored-sample")
#: bounds settings each backend supports (censored ones need the censored decoder)
VALID_BOUNDS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType({
    "dm": ("none", "clip"), "ldm-gaussian": ("none", "clip"), "ldm-censored": ALL_BOUNDS,
})
#: settings that are a deterministic projection of the raw (``none``) sample
PROJECTED: tuple[str, ...] = ("clip", "censored")
SAMPLER = "heun"


@dataclass(frozen=True)
class Setting:
    """One backend at one bounds setting: one row of the table."""

    backend: str
    bounds: str

    @property
    def label(self) -> str:
        return f"{self.backend}/{self.bounds}"

    @property
    def raw_bounds(self) -> str:
        """The bounds ``generate`` is called with for this setting."""
        return "none" if self.bounds in PROJECTED else self.bounds


def plan_settings(backends: Sequence[str], bounds: Sequence[str]) -> tuple[list[Setting], list[Setting]]:
    """(valid settings, skipped invalid combinations), in backend then bounds order."""
    valid, skipped = [], []
    for backend in dict.fromkeys(backends):
        if backend not in VALID_BOUNDS:
            raise SeaIceInputError("--backends", f"unknown backend {backend!r}", f"Use {', '.join(BACKEND_NAMES)}")
        for b in dict.fromkeys(bounds):
            if b not in ALL_BOUNDS:
                raise SeaIceInputError("--bounds", f"unknown bounds {b!r}", f"Use {', '.join(ALL_BOUNDS)}")
            (valid if b in VALID_BOUNDS[backend] else skipped).append(Setting(backend, b))
    if not valid:
        raise SeaIceInputError("--bounds", "no valid backend/bounds combination", "Include 'none' or 'clip'")
    return valid, skipped


# --------------------------------------------------------------------------- samples (cached)
def sample_path(samples_dir: Path, backend: str, bounds: str, n: int, steps: int, seed: int) -> Path:
    """``<samples>/<backend>_<bounds>_n<n>_s<steps>_seed<seed>.nc``."""
    return Path(samples_dir) / f"{backend}_{bounds}_n{n}_s{steps}_seed{seed}.nc"


def current_hashes(backend: str, models_dir: str | os.PathLike | None) -> str:
    """``name:sha256[:12],…`` of the checkpoints behind ``backend`` (as in ``generate``'s attrs)."""
    from ..checkpoints import BACKENDS, checkpoint_dir, checkpoint_hash

    return ",".join(f"{name}:{checkpoint_hash(checkpoint_dir(name, models_dir))}" for name in BACKENDS[backend])


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


def obtain(backend: str, bounds: str, args: argparse.Namespace, samples_dir: Path,
           generate_fn: Callable[..., xr.Dataset]) -> Sampled:
    """Reuse the cached sample if it matches (backend, bounds, n, steps, seed, checkpoints), else generate it."""
    path = sample_path(samples_dir, backend, bounds, args.n, args.steps, args.seed)
    hashes = current_hashes(backend, args.models_dir)
    if path.exists() and not args.no_cache:
        with xr.open_dataset(path) as cached:
            ds = cached.load()
        if _cache_matches(ds, backend, bounds, args.n, args.steps, args.seed, hashes):
            log.info("reusing %s", path)
            return Sampled(ds, float(ds.attrs.get("generation_seconds", np.nan)), True, path)
        log.warning("cache %s does not match the request or the checkpoints; regenerating", path)
    log.info("generating %s bounds=%s n=%d steps=%d seed=%d", backend, bounds, args.n, args.steps, args.seed)
    start = time.perf_counter()

    def progress(step: int, sigma: float, x: object, x0_hat: object) -> None:
        if step % 5 == 4 or step == args.steps - 1:
            log.info("%s: step %d/%d (sigma %.3g), %.0f s", backend, step + 1, args.steps, sigma,
                     time.perf_counter() - start)

    ds = generate_fn(backend, n=args.n, steps=args.steps, seed=args.seed, bounds=bounds, sampler=SAMPLER,
                     device=args.device, models_dir=args.models_dir, callback=progress)
    seconds = time.perf_counter() - start
    ds.attrs["generation_seconds"] = seconds
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".nc.tmp")
    ds.to_netcdf(tmp, encoding={v: {"zlib": True, "complevel": 1} for v in ds.data_vars})
    tmp.replace(path)
    return Sampled(ds, seconds, False, path)


def project(raw: xr.Dataset, bounds: str) -> xr.Dataset:
    """``clip`` / ``censored`` from the raw sample: clamp(x, l, u) per variable with
    :func:`censored_point`, the projection ``generate`` applies itself (land stays NaN)."""
    if bounds == "none":
        return raw
    import torch

    from ..diffusion.censored import bounds_tensors, censored_point

    names = [v for v in raw.data_vars if v in VARIABLES]
    stacked = torch.from_numpy(np.stack([raw[v].values for v in names], axis=1))  # (B, C, H, W)
    lower, upper = bounds_tensors(names)
    clamped = censored_point(stacked, lower, upper).numpy()
    out = raw.copy()
    for i, v in enumerate(names):
        out[v] = raw[v].copy(data=clamped[:, i])
    out.attrs.update(bounds=bounds, derived_from="the bounds='none' sample, projected with clamp(x, l, u)")
    return out


def _check_grid(ds: xr.Dataset, ref: xr.Dataset, label: str) -> None:
    same = ds.sizes["y"] == ref.sizes["y"] and ds.sizes["x"] == ref.sizes["x"] and \
        np.array_equal(ds["mask"].values, ref["mask"].values)
    if not same:
        raise SeaIceInputError(label, f"samples on a {ds.sizes['y']}×{ds.sizes['x']} grid do not match the reference "
                               f"({ref.sizes['y']}×{ref.sizes['x']}, {ref.attrs.get('grid', '')})",
                               "Evaluate against a reference on the models' grid (the default reference at 128²)")


# --------------------------------------------------------------------------- CLI
def command_line(args: argparse.Namespace) -> str:
    """The canonical command that reproduces this run."""
    parts = ["seaice-explorer evaluate", "--backends", *args.backends, "--n", str(args.n), "--steps", str(args.steps),
             "--reference", str(args.reference), "--out", str(args.out), "--bounds", *args.bounds,
             "--seed", str(args.seed), "--device", str(args.device)]
    if args.models_dir:
        parts += ["--models-dir", str(args.models_dir)]
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
    parser.add_argument("--backends", nargs="+", default=list(BACKEND_NAMES), choices=list(BACKEND_NAMES))
    parser.add_argument("--n", type=int, default=64, help="samples per backend and bounds setting")
    parser.add_argument("--steps", type=int, default=20, help="Heun steps (2·steps − 1 network evaluations)")
    parser.add_argument("--reference", default="default", help="'default' or any file open_reference reads")
    parser.add_argument("--out", default="report", help="report folder (created)")
    parser.add_argument("--bounds", nargs="+", default=["none", "clip", "censored"], choices=list(ALL_BOUNDS),
                        help="bounds settings; combinations a backend does not support are skipped")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    parser.add_argument("--models-dir", default=None, help="checkpoint folder (default: models/)")
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


def generate_and_score(settings: Sequence[Setting], args: argparse.Namespace, ref: xr.Dataset,
                       ref_summary: ReferenceSummary, samples_dir: Path, info: RunInfo,
                       generate_fn: Callable[..., xr.Dataset]) -> Scored:
    """One raw sample per backend (cached), projected to each bounds setting and scored."""
    scored = Scored([], {}, {}, {})
    t_scores = 0.0
    for setting in settings:
        key = (setting.backend, setting.raw_bounds)
        if key not in scored.raw:
            sampled = scored.raw[key] = obtain(*key, args, samples_dir, generate_fn)
            _check_grid(sampled.ds, ref, str(sampled.path))
            info.checkpoints[setting.backend] = sampled.ds.attrs.get("checkpoint_sha256", "")
            info.generation.append(f"{setting.backend} bounds={key[1]}: {sampled.seconds:.1f} s for {args.n} samples "
                                   f"({'cached' if sampled.cached else 'generated'}, "
                                   f"device {sampled.ds.attrs.get('device', '?')}, {sampled.ds.attrs.get('precision', '?')})")
        sampled = scored.raw[key]
        t0 = time.perf_counter()
        row, summary = score_set(project(sampled.ds, setting.bounds), ref_summary)
        t_scores += time.perf_counter() - t0
        scored.rows.append({"backend": setting.backend, "bounds": setting.bounds, **row,
                            "time_per_sample_s": sampled.seconds / args.n})
        scored.summaries[setting.label] = summary
        scored.settings[setting.label] = setting
    info.timings["generation (this run)"] = sum(s.seconds for s in scored.raw.values() if not s.cached)
    info.timings["scores"] = t_scores
    return scored


def native_settings(scored: Scored) -> dict[str, Setting]:
    """Per backend, the setting the figures show: its native bounds, else the first evaluated."""
    out: dict[str, Setting] = {}
    for backend in dict.fromkeys(s.backend for s in scored.settings.values()):
        for b in (findings_mod.NATIVE_BOUNDS[backend], "none", *VALID_BOUNDS[backend]):
            if f"{backend}/{b}" in scored.summaries:
                out[f"{backend}/{b}"] = scored.settings[f"{backend}/{b}"]
                break
    return out


def write_figures(scored: Scored, ref: xr.Dataset, ref_summary: ReferenceSummary, out: Path) -> None:
    """The four PNGs, for the native setting of each backend."""
    from ..plots import report_figures as figs

    native = native_settings(scored)
    r = ref_summary.summary
    samples = {k: project(scored.raw[(s.backend, s.raw_bounds)].ds, s.bounds) for k, s in native.items()}
    figs.sample_maps(ref, samples, out / "sample_maps.png")
    figs.miz_frequency_maps(r.miz_frequency, {k: scored.summaries[k].miz_frequency for k in native},
                            out / "miz_frequency.png")
    dist = {k: {"extent": scored.summaries[k].extent * M2_TO_1E6KM2,
                "miz_area": scored.summaries[k].miz_area * M2_TO_1E6KM2} for k in native}
    figs.distributions({"extent": r.extent * M2_TO_1E6KM2, "miz_area": r.miz_area * M2_TO_1E6KM2}, dist,
                       out / "distributions.png")
    figs.spectra(r.spectrum, {k: scored.summaries[k].spectrum for k in native}, out / "spectra.png",
                 small_scale_km=ref_summary.bands[0][1])


def run(args: argparse.Namespace, generate_fn: Callable[..., xr.Dataset] | None = None) -> int:
    """Generate (or reuse), score, and write the report folder; see the module docstring."""
    from ..data import open_reference
    from ..diffusion.generate import generate, pick_device

    info = RunInfo(command_line(args), datetime.now(timezone.utc), device_text(pick_device(args.device).type))
    clock = time.perf_counter()
    settings, skipped = plan_settings(args.backends, args.bounds)
    info.skipped = [s.label for s in skipped]
    for s in skipped:
        log.warning("skipping %s: %s supports bounds %s", s.label, s.backend, ", ".join(VALID_BOUNDS[s.backend]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    samples_dir = Path(args.samples_dir) if args.samples_dir else out / "samples"
    samples_dir.mkdir(parents=True, exist_ok=True)
    if args.samples_dir is None:
        (samples_dir / ".gitignore").write_text("*\n")

    t0 = time.perf_counter()
    ref = open_reference(args.reference).load()
    ref_summary = summarise_reference(ref)
    info.timings["reference statistics"] = time.perf_counter() - t0
    scored = generate_and_score(settings, args, ref, ref_summary, samples_dir, info, generate_fn or generate)

    sub_row, _ = score_set(_subsample(ref, args.n, args.seed), ref_summary, dim="time")
    rows = scored.rows + [{"backend": "reference-subsample", "bounds": "–", **sub_row},
                          {"backend": "reference", "bounds": "all states", **ref_summary.summary.row}]
    table = build_table(rows)
    table.to_csv(out / "table.csv", index=False, float_format="%.6g")
    band = small_band_label(ref_summary)
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
