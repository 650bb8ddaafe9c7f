"""``seaice-explorer evaluate``: the paper-style comparison of backends against a reference.

Finn et al. 2024 (arXiv 2406.18417) compare data-space and latent diffusion (with a Gaussian and a
censored decoder) by extent and MIZ statistics, mean/spread maps, marginals, spectra and bound
violations. :func:`evaluate` generates ``n`` states per backend and bounds mode (or reuses cached
ones, :mod:`.samples`), scores them against every state of the reference (:mod:`.compare`), each
score with its 90 % bootstrap interval (:mod:`.bootstrap`), judges the paper's three findings as
effects with intervals (:mod:`.verdicts`) and writes a report folder::

    seaice-explorer evaluate --n 256 --steps 20 --reference default --out report/
    evaluate(None, "default", out=Path("report"))        # the same, from Python

    report/table.md, table.csv   one row per backend/bounds, the noise floor, the baseline and the reference
    report/findings.json         every judged finding part (rules.FindingPart.to_dict), one object each
    report/maps.nc               MIZ frequency (+ differences), mean/std maps, spectra (CF attrs)
    report/*.png                 sample maps, MIZ-frequency maps, extent/MIZ histograms, spectra
    report/neighbours.csv        per backend: IIEE to the nearest reference state (realism), from each
                                 reference state to the nearest sample (coverage), memorised share
    report/seasons.csv           month shares of the samples' nearest reference days, and of the reference
    report/README.md             command, date, version, device, timings, findings and their rules
    report/samples/*.nc          the sample cache (git-ignored, not part of the report)

The backends are the folders of ``models_dir`` (:func:`seaice_explorer.registry.discover`); by
default every backend trained on the reference's dataset. Combinations of backend and bounds mode a
backend does not support are skipped and listed, with the reason, in the README. The reference is
any file ``open_reference`` reads; OSI SAF daily files (one, several or a glob) are put on the
models' grid with the regridding of the bundled OSI SAF dataset (:func:`.data.osisaf.to_model_grid`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from os import PathLike
from pathlib import Path

import pandas as pd
import xarray as xr

from ..arguments import non_negative_int, positive_int
from ..checkpoints import resolve_device
from ..data import open_reference
from ..data.osisaf import REFERENCE_KIND, to_model_grid
from ..data.readers import dataset_name, is_osisaf_source
from ..diffusion import generate as generate_mod
from ..errors import SeaIceInputError
from ..outputs import Output, atomic_file, check_outputs, mark_folder
from ..plots import report_figures as figs
from ..recipe import PAPER, recipes_note, sampler_help, sampler_names
from ..registry import BOUNDS, ModelEntry, Registry, discover
from .bootstrap import (
    DEFAULT_REPLICATES,
    Score,
    Spread,
    baseline_distribution,
    bootstrap_scores,
    derived_seed,
    reference_split_floor,
)
from .compare import M2_TO_1E6KM2, ReferenceSummary, SetSummary, same_grid, score_set
from .features import StateFeatures
from .neighbours import NeighbourReport, neighbour_report, training_sets
from .report import RunInfo, build_table, maps_dataset, readme_text, table_markdown, verdicts_markdown, write_maps
from .rules import FindingPart
from .samples import SAMPLER, SampleRequest, Sampled, Setting, obtain, plan_settings, project, sample_path  # noqa: F401
from .verdicts import Contender, Verdicts, judge

log = logging.getLogger(__name__)

DEFAULT_BOUNDS: tuple[str, ...] = ("raw", "clamp")
#: States per setting of a report (PAPER's sampler, steps and seed; its n is one file's, a report needs more).
DEFAULT_N = 256
#: Draws of the noise floor and of the baseline distribution.
DEFAULT_DRAWS = 200

Spec = str | PathLike | Sequence[str | PathLike]  # a name, a file, a glob or a list of files


@dataclass(frozen=True, eq=False)
class EvaluationReport:
    """What :func:`evaluate` wrote: the table, the verdicts on the findings and the report's files."""

    folder: Path
    table: pd.DataFrame
    verdicts: Verdicts
    files: tuple[Path, ...]

    @property
    def findings(self) -> tuple[FindingPart, ...]:
        """Every judged finding part (the objects of ``findings.json``)."""
        return self.verdicts.parts


# --------------------------------------------------------------------------- backends and reference
def spec_text(spec: Spec) -> str:
    """A reference spec as one line of text."""
    return str(spec) if isinstance(spec, (str, PathLike)) else " ".join(map(str, spec))


def reference_dataset(spec: Spec, ref: xr.Dataset) -> str | None:
    """The dataset name backends must be trained on to match the reference (None: unknown);
    OSI SAF files are the ``osisaf`` dataset's observations."""
    if is_osisaf_source(spec):
        return "osisaf"
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


def on_model_grid(spec: Spec, ds: xr.Dataset, entries: Sequence[ModelEntry]) -> xr.Dataset:
    """``ds`` as opened from ``spec``; OSI SAF files (read on their 25 km grid) averaged onto the
    backends' grid with the bundled dataset's regridding (:func:`.data.osisaf.to_model_grid`)."""
    if not is_osisaf_source(spec):
        return ds
    sizes = sorted({e.grid_size for e in entries})
    if len(sizes) != 1:
        raise SeaIceInputError(spec_text(spec), f"the backends have grids of {', '.join(map(str, sizes))} cells",
                               "Evaluate backends of one grid at a time (--backends)")
    out = to_model_grid(ds, sizes[0])
    out.attrs.update(title=ds.attrs.get("title", ""), source=ds.attrs.get("source", ""), reference_kind=REFERENCE_KIND)
    return out


def open_on_grid(spec: Spec, entries: Sequence[ModelEntry]) -> xr.Dataset:
    """Open ``spec`` (``open_reference``), on the backends' grid, loaded."""
    return on_model_grid(spec, open_reference(spec), entries).load()


def _check_grid(ds: xr.Dataset, ref: xr.Dataset, label: str) -> None:
    if not same_grid(ds, ref):
        raise SeaIceInputError(label, f"samples on a {ds.sizes['y']}×{ds.sizes['x']} grid do not match the reference "
                               f"({ref.sizes['y']}×{ref.sizes['x']}, {ref.attrs.get('grid', '')})",
                               "Evaluate against a reference on the models' grid (the default reference at 128²)")


# --------------------------------------------------------------------------- scores with intervals
def interval_columns(scores: dict[str, Score], row: dict[str, float]) -> dict[str, float]:
    """``{score}_lo``/``{score}_hi`` of each bootstrap score that the row has."""
    out = {}
    for name, score in scores.items():
        if name in row:
            out[f"{name}_lo"], out[f"{name}_hi"] = score.ci_low, score.ci_high
    return out


def spread_row(spreads: dict[str, Spread]) -> dict[str, float]:
    """A table row of score distributions: the median in the score's column, the 5–95 % in ``_lo``/``_hi``."""
    row: dict[str, float] = {}
    for name, s in spreads.items():
        row[name], row[f"{name}_lo"], row[f"{name}_hi"] = s.median, s.low, s.high
    return row


@dataclass
class Scored:
    """The outcome of generating and scoring every setting."""

    rows: list[dict[str, object]]
    summaries: dict[str, SetSummary]  # setting label -> summary
    raw: dict[tuple[str, str], Sampled]  # (backend, raw bounds) -> sample
    settings: dict[str, Setting]  # setting label -> setting
    features: dict[tuple[str, str], StateFeatures]  # (backend, bounds) -> per-state features


def _describe(entry: ModelEntry) -> dict[str, object]:
    return {"backend": entry.name, "label": entry.label, "kind": entry.kind, "decoder": entry.decoder}


def features_of(scored: Scored, backend: str, bounds: str, ref_features: StateFeatures) -> StateFeatures:
    """The features of one backend's set at ``bounds`` (``clamp`` projected from ``raw``), computed once."""
    key = (backend, bounds)
    if key not in scored.features:
        raw = scored.raw[(backend, "raw" if bounds == "clamp" else bounds)].ds
        scored.features[key] = StateFeatures.of(project(raw, bounds), "sample", bands=ref_features.bands)
    return scored.features[key]


def generate_and_score(settings: Sequence[Setting], request: SampleRequest, ref: xr.Dataset,
                       ref_summary: ReferenceSummary, ref_features: StateFeatures, samples_dir: Path, info: RunInfo,
                       generate_fn: Callable[..., xr.Dataset]) -> Scored:
    """One raw sample per backend (cached), projected to each bounds setting and scored with intervals."""
    scored = Scored([], {}, {}, {}, {})
    t_scores = 0.0
    for setting in settings:
        key = (setting.backend, setting.raw_bounds)
        if key not in scored.raw:
            sampled = scored.raw[key] = obtain(setting.entry, key[1], request, samples_dir, generate_fn)
            _check_grid(sampled.ds, ref, str(sampled.path))
            info.checkpoints[setting.backend] = sampled.ds.attrs.get("checkpoint_sha256", "")
            info.generation.append(f"{setting.backend} bounds={key[1]}: {sampled.seconds:.1f} s for {request.n} "
                                   f"samples ({'cached' if sampled.cached else 'generated'}, "
                                   f"device {sampled.ds.attrs.get('device', '?')}, {sampled.ds.attrs.get('precision', '?')})")
        sampled = scored.raw[key]
        t0 = time.perf_counter()
        row, summary = score_set(project(sampled.ds, setting.bounds), ref_summary)
        boot = bootstrap_scores(features_of(scored, setting.backend, setting.bounds, ref_features), ref_features,
                                info.replicates, seed=derived_seed(request.seed, "scores", setting.label))
        t_scores += time.perf_counter() - t0
        scored.rows.append({**_describe(setting.entry), "bounds": setting.bounds, **row, **interval_columns(boot, row),
                            "time_per_sample_s": sampled.seconds / request.n})
        scored.summaries[setting.label] = summary
        scored.settings[setting.label] = setting
    info.timings["generation (this run)"] = sum(s.seconds for s in scored.raw.values() if not s.cached)
    info.timings["scores and intervals"] = t_scores
    return scored


def contenders(scored: Scored, entries: Sequence[ModelEntry], ref_features: StateFeatures) -> list[Contender]:
    """Each backend with a raw sample, with its ``raw`` and ``clamp`` sets, for the findings."""
    out = []
    for entry in entries:
        if (entry.name, "raw") in scored.raw:
            sets = {b: features_of(scored, entry.name, b, ref_features) for b in ("raw", "clamp")}
            out.append(Contender(entry.name, entry.kind, entry.decoder, sets))
    return out


REFERENCE_ROW: dict[str, str] = {"label": "reference", "kind": "reference", "decoder": "none"}


def noise_rows(ref_features: StateFeatures, baseline: Spec | None, entries: Sequence[ModelEntry],
               info: RunInfo) -> tuple[list[dict[str, object]], dict[str, Spread]]:
    """The rows of what n states score without a model: the out-of-sample noise floor (n reference states
    against the others) and, with a baseline, n states of another real period; each the median of
    ``info.draws`` draws with the 5–95 % range. Also returns the baseline's spreads ({} without one)."""
    rows: list[dict[str, object]] = []
    if ref_features.n >= 2:
        info.n_floor = min(info.n, ref_features.n // 2)
        floor = reference_split_floor(ref_features, info.n_floor, info.draws, seed=derived_seed(info.seed, "floor"))
        rows.append({"backend": "reference-split-floor", "bounds": "–", **REFERENCE_ROW, "n": info.n_floor,
                     "label": f"noise floor: {info.n_floor} reference states against the others, "
                              f"median of {info.draws} draws", **spread_row(floor)})
    if not baseline:
        return rows, {}
    other = StateFeatures.of(open_on_grid(baseline, entries), "time", bands=ref_features.bands)
    info.n_baseline = min(info.n, other.n)
    spreads = baseline_distribution(other, ref_features, info.n_baseline, info.draws,
                                    seed=derived_seed(info.seed, "baseline"))
    rows.append({"backend": f"baseline {spec_text(baseline)}", "bounds": "–", "label": "baseline",
                 "kind": "baseline", "decoder": "none", "n": info.n_baseline, **spread_row(spreads)})
    return rows, spreads


# --------------------------------------------------------------------------- figures
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


def write_figures(scored: Scored, ref: xr.Dataset, ref_summary: ReferenceSummary, out: Path) -> list[Path]:
    """The four PNGs, for the native setting of each backend, in each backend's colour."""
    native = native_settings(scored)
    colours = {k: s.entry.colour for k, s in native.items()}
    r = ref_summary.summary
    samples = {k: project(scored.raw[(s.backend, s.raw_bounds)].ds, s.bounds) for k, s in native.items()}
    paths = [out / name for name in ("sample_maps.png", "miz_frequency.png", "distributions.png", "spectra.png")]
    figs.sample_maps(ref, samples, paths[0], colours=colours)
    figs.miz_frequency_maps(r.miz_frequency, {k: scored.summaries[k].miz_frequency for k in native},
                            paths[1], colours=colours)
    dist = {k: {"extent": scored.summaries[k].extent * M2_TO_1E6KM2,
                "miz_area": scored.summaries[k].miz_area * M2_TO_1E6KM2} for k in native}
    figs.distributions({"extent": r.extent * M2_TO_1E6KM2, "miz_area": r.miz_area * M2_TO_1E6KM2}, dist,
                       paths[2], colours=colours)
    figs.spectra(r.spectrum, {k: scored.summaries[k].spectrum for k in native}, paths[3],
                 small_scale_km=ref_summary.bands[0][1], colours=colours)
    return paths


def neighbours_of(scored: Scored, ref: xr.Dataset, registry: Registry, reference: Spec) -> NeighbourReport | None:
    """Season mix, realism, coverage and memorisation (IIEE nearest neighbours, :mod:`.neighbours`) of each
    backend's native setting with sic; memorisation against the backend's training data, where it opens.
    None when the reference has no sic."""
    if "sic" not in ref.data_vars:
        log.info("no nearest-neighbour diagnostics: the reference has no sic")
        return None
    native = [s for s in native_settings(scored).values() if "sic" in scored.raw[(s.backend, s.raw_bounds)].ds]
    sets = {s.backend: (s.bounds, project(scored.raw[(s.backend, s.raw_bounds)].ds[["sic"]], s.bounds))
            for s in native}
    training = training_sets({s.backend: s.entry for s in native}, registry, ref, spec_text(reference))
    return neighbour_report(sets, ref, training)


# --------------------------------------------------------------------------- the library function
def command_line(backends: Sequence[str], reference: Spec, *, out: str | PathLike, n: int, steps: int, seed: int,
                 sampler: str = SAMPLER, bounds: Sequence[str], baseline: str | None, models_dir: str | PathLike | None, device: str,
                 replicates: int, draws: int, samples_dir: str | PathLike | None, no_cache: bool) -> str:
    """The canonical command that reproduces this run."""
    refs = [reference] if isinstance(reference, (str, PathLike)) else list(reference)
    parts = ["seaice-explorer", "evaluate", "--backends", *backends, "--n", n, "--steps", steps,
             *(["--sampler", sampler] if sampler != SAMPLER else []),
             "--reference", *refs, "--out", out, "--bounds", *bounds, "--seed", seed, "--device", device,
             "--replicates", replicates, "--draws", draws]
    if models_dir:
        parts += ["--models", models_dir]
    if baseline:
        parts += ["--baseline", baseline]
    if samples_dir:
        parts += ["--samples-dir", samples_dir]
    if no_cache:
        parts.append("--no-cache")
    return " ".join(shlex.quote(str(p)) for p in parts)


def device_text(device: str) -> str:
    import torch

    if device == "cuda":
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu ({os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()})"


def _write_text(path: Path, text: str) -> Path:
    with atomic_file(path) as tmp:
        tmp.write_text(text)
    return path


def _write_csv(path: Path, df: pd.DataFrame) -> Path:
    with atomic_file(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    return path


def _inputs(*specs: Spec | None) -> list[object]:
    out: list[object] = []
    for spec in specs:
        out += [spec] if spec is None or isinstance(spec, (str, PathLike)) else list(spec)
    return out


def evaluate(backends: Sequence[str] | None = None, reference: Spec = "default", *, out: str | PathLike,
             n: int = DEFAULT_N, steps: int = PAPER.steps, seed: int = PAPER.seed, sampler: str = PAPER.sampler,
             bounds: Sequence[str] = DEFAULT_BOUNDS,
             baseline: str | None = None, models_dir: str | PathLike | None = None, device: str = "auto",
             replicates: int = DEFAULT_REPLICATES, draws: int = DEFAULT_DRAWS,
             samples_dir: str | PathLike | None = None, no_cache: bool = False, overwrite: bool = False,
             generate_fn: Callable[..., xr.Dataset] | None = None) -> EvaluationReport:
    """Generate (or reuse) ``n`` states per backend and bounds mode, score them with intervals, judge the
    findings and write the report folder ``out`` (see the module docstring).

    ``backends``: model folder names (default: every backend of the reference's dataset); ``reference``
    and ``baseline``: anything ``open_reference`` reads (OSI SAF files are regridded onto the models'
    grid); ``replicates``: bootstrap replicates of every interval; ``draws``: draws of the noise floor and
    the baseline distribution; ``generate_fn``: stands in for :func:`.diffusion.generate.generate`.
    Raises :class:`SeaIceInputError` before any work when ``out`` would lose data (an existing report
    needs ``overwrite``) or an input is unusable.
    """
    clock = t0 = time.perf_counter()
    out = Path(out)
    check_outputs([Output(out, "report")], overwrite=overwrite, inputs=_inputs(reference, baseline, models_dir))
    registry = discover(models_dir).require()
    opened = open_reference(reference)
    entries = select_backends(registry, backends, reference_dataset(reference, opened))
    ref = on_model_grid(reference, opened, entries).load()
    settings, skipped = plan_settings(entries, bounds)
    request = SampleRequest(n, steps, seed, device, models_dir, no_cache, sampler)
    names = [e.name for e in entries]
    info = RunInfo(command_line(names, reference, out=out, n=n, steps=steps, seed=seed, sampler=sampler, bounds=bounds,
                                baseline=baseline, models_dir=models_dir, device=device, replicates=replicates,
                                draws=draws, samples_dir=samples_dir, no_cache=no_cache),
                   datetime.now(timezone.utc), device_text(resolve_device(device).type),
                   reference=spec_text(reference), n=n, steps=steps, seed=seed, sampler=sampler, replicates=replicates, draws=draws,
                   baseline=baseline, skipped=skipped)
    for reason in skipped:
        log.warning("skipping %s", reason)
    out.mkdir(parents=True, exist_ok=True)
    mark_folder(out, "report", "evaluate")
    samples = Path(samples_dir) if samples_dir else out / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    if samples_dir is None:
        (samples / ".gitignore").write_text("*\n")

    ref_summary = ReferenceSummary.of(ref)
    ref_features = StateFeatures.of(ref, "time")
    info.timings["reference statistics"] = time.perf_counter() - t0
    scored = generate_and_score(settings, request, ref, ref_summary, ref_features, samples, info,
                                generate_fn or generate_mod.generate)

    t0 = time.perf_counter()
    floor_rows, baseline_spreads = noise_rows(ref_features, baseline, entries, info)
    rows = [*scored.rows, *floor_rows, {"backend": "reference", "bounds": "all states", **REFERENCE_ROW,
                                        **ref_summary.summary.row}]
    baseline_median = getattr(baseline_spreads.get("miz_area_w1_1e6km2"), "median", None)
    table = build_table(rows)
    info.timings["noise floor and baseline"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    verdicts = judge(contenders(scored, entries, ref_features), ref_features, replicates=replicates, seed=seed,
                     baseline_miz_area_w1=baseline_median)
    info.timings["findings"] = time.perf_counter() - t0

    files = [out / "table.csv"]
    with atomic_file(files[0]) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    files.append(_write_text(out / "table.md", table_markdown(table, ref_summary.small_band_label)))
    findings_json = json.dumps(verdicts.to_json(), indent=2, ensure_ascii=False) + "\n"
    files.append(_write_text(out / "findings.json", findings_json))
    t0 = time.perf_counter()
    files.append(write_maps(maps_dataset(ref_summary, scored.summaries, ref), out / "maps.nc"))
    files += write_figures(scored, ref, ref_summary, out)
    info.timings["maps and figures"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    near = neighbours_of(scored, ref, registry, reference)
    if near is not None:
        files += [_write_csv(out / "neighbours.csv", near.table), _write_csv(out / "seasons.csv", near.seasons)]
    info.timings["nearest neighbours (IIEE)"] = time.perf_counter() - t0
    info.timings["total"] = time.perf_counter() - clock
    files.append(_write_text(out / "README.md", readme_text(info, ref, ref_summary, table, verdicts,
                                                            ref_features.bands, near)))
    log.info("wrote %s/ in %.0f s", out, info.timings["total"])
    return EvaluationReport(out, table, verdicts, tuple(files))


# --------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = recipes_note()
    parser.add_argument("--backends", nargs="+", default=None,
                        help="backends (model folders) to compare; default: every backend of the reference's dataset")
    parser.add_argument("--n", type=positive_int, default=DEFAULT_N, help="samples per backend and bounds setting")
    parser.add_argument("--steps", type=positive_int, default=PAPER.steps,
                        help=f"sampler steps (default {PAPER.steps})")
    parser.add_argument("--sampler", choices=sampler_names(), default=PAPER.sampler,
                        help=f"the sampler of every backend: {sampler_help()} (default {PAPER.sampler}, the reports' "
                             "setting)")
    parser.add_argument("--reference", nargs="+", default=["default"],
                        help="'default', 'osisaf:SPLIT' or any file(s) open_reference reads; OSI SAF daily files "
                             "(one, several or a quoted glob) are put on the models' grid")
    parser.add_argument("--out", default="report",
                        help="report folder (created and marked; an existing one needs --overwrite)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the files of an existing report folder that evaluate wrote (no other folder)")
    parser.add_argument("--bounds", nargs="+", default=list(DEFAULT_BOUNDS),
                        help=f"bounds modes ({', '.join(BOUNDS)}); combinations a backend does not support are skipped")
    parser.add_argument("--baseline", default=None, metavar="DATA",
                        help="also score --n random states of DATA (e.g. osisaf:train), many draws: a row no model "
                             "can be expected to beat, and finding 1's convergence guard")
    parser.add_argument("--seed", type=non_negative_int, default=PAPER.seed)
    parser.add_argument("--replicates", type=positive_int, default=DEFAULT_REPLICATES,
                        help="bootstrap replicates of every interval")
    parser.add_argument("--draws", type=positive_int, default=DEFAULT_DRAWS,
                        help="draws of the noise floor and of the baseline distribution")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    parser.add_argument("--models", default=None, help="models directory (default: $SEAICE_EXPLORER_MODELS or models/)")
    parser.add_argument("--models-dir", dest="models", help=argparse.SUPPRESS)
    parser.add_argument("--samples-dir", default=None, help="sample cache (default: OUT/samples)")
    parser.add_argument("--no-cache", action="store_true", help="regenerate even when cached samples exist")


def run(args: argparse.Namespace, generate_fn: Callable[..., xr.Dataset] | None = None) -> int:
    """The CLI: :func:`evaluate` with the parsed options; prints the table and the verdicts."""
    reference = args.reference[0] if len(args.reference) == 1 else list(args.reference)
    report = evaluate(args.backends, reference, out=args.out, n=args.n, steps=args.steps, seed=args.seed,
                      sampler=args.sampler, bounds=args.bounds, baseline=args.baseline, models_dir=args.models, device=args.device,
                      replicates=args.replicates, draws=args.draws, samples_dir=args.samples_dir,
                      no_cache=args.no_cache, overwrite=args.overwrite, generate_fn=generate_fn)
    print((report.folder / "table.md").read_text())
    print(verdicts_markdown(report.verdicts))
    print(f"\nwrote {report.folder}/")
    return 0
