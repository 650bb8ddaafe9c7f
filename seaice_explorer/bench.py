"""``seaice-explorer bench``: sampling and training speed and peak memory, measured side by side.

Every measurement runs in its own fresh process (so peak RSS is its own) one after the other in
one run, and the ratios (data-space ÷ latent sampling time) come from numbers taken on the same
machine minutes apart. The backends are those of ``--models`` (:func:`registry.discover`), each
sampled at its native bounds mode. Targets on the 2-core CPU (issue 3): latent ≥ 10× faster than
data space at 128², 16 latent samples ≤ 3 s. No timed assertions live in the tests; this script
is where speed is checked.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from .arguments import non_negative_int, positive_int
from .bench_flops import flop_report, flop_table
from .bench_process import whole_process
from .diffusion.generate import generate
from .errors import SeaIceInputError
from .evaluation.quality import quality_against_nfe
from .recipe import PAPER, sampler_names
from .registry import ModelEntry, Registry, discover
from .training.cli import default_hyperparameters
from .training.diffusion import train_diffusion
from .training.vae import train_vae

log = logging.getLogger(__name__)

#: Training throughput is measured for the VAE and for a data-space and a latent denoiser.
TRAIN_KINDS = ("vae", "data", "latent")
#: Exit status of ``bench`` when no measurement succeeded (the report still says why each failed).
NOTHING_MEASURED = 1
EXIT_STATUS = ("exit status: 0 when at least one measurement succeeded; 1 when nothing was measured (every "
               "sampling, training and whole-process row failed: the report lists each error); 2 for bad "
               "arguments or input (counts below 1, an unknown or broken backend), before anything runs")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _sampling(backend: str, n: int, steps: int, sampler: str, device: str, precision: str,
              models_dir: str | None) -> dict[str, Any]:
    """Time ``generate`` for ``n`` samples at the backend's native bounds, decode included, after a
    1-sample 1-step warm-up."""
    import torch

    recipe = PAPER.replace(sampler=sampler, steps=steps, n=n, bounds=discover(models_dir).get(backend).native_bounds,
                           precision=precision)
    generate(backend, recipe.replace(n=1, steps=1), device=device, models_dir=models_dir)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    ds = generate(backend, recipe, device=device, models_dir=models_dir)
    seconds = time.perf_counter() - t0
    out = {"seconds": round(seconds, 3), "per_sample_s": round(seconds / n, 4), "peak_rss_mb": round(_peak_rss_mb(), 1),
           "device": ds.attrs["device"], "precision": ds.attrs["precision"]}
    if torch.cuda.is_available() and device != "cpu":
        out["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def _training(what: str, steps: int, batch_size: int, device: str, models_dir: str | None) -> dict[str, Any]:
    """Training throughput: wall time of ``steps`` optimiser steps on the default reference.

    ``what``: ``vae``, or a registry kind (``data``, ``latent``): the denoiser of the first backend
    of that kind, with its config kind's default hyper-parameters; the latent denoiser trains on
    that backend's VAE.
    """
    common = dict(batch_size=batch_size, device=device, progress=False, preview=False,
                  checkpoint_every=10**9, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        if what == "vae":
            result = train_vae(default_hyperparameters("vae"), "default", tmp, steps, **common)
        else:
            entry = _first_of_kind(discover(models_dir), what)
            params = default_hyperparameters(entry.config.kind)
            extra = {"crop": 64} if entry.vae_path is None else {"vae": entry.vae_path}
            result = train_diffusion(params, "default", tmp, steps, **extra, **common)
    per_step = result.wall_time_s / steps
    return {"steps": steps, "batch_size": batch_size, "s_per_step": round(per_step, 4),
            "samples_per_s": round(batch_size / per_step, 2), "peak_rss_mb": round(_peak_rss_mb(), 1)}


def _first_of_kind(registry: Registry, kind: str) -> ModelEntry:
    """The first backend of ``kind`` (``data`` or ``latent``) in the registry, or a clear error."""
    entry = next((e for e in registry.entries.values() if e.kind == kind), None)
    if entry is None:
        raise SeaIceInputError(registry.models_dir, f"no {kind} backend to take the training set-up from",
                               "Train one first, or bench with --no-train")
    return entry


def _in_child(fn, *args) -> dict[str, Any]:
    """Run ``fn(*args)`` in a fresh spawned process; return its result or the error."""
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        try:
            return pool.apply(fn, args)
        except Exception as err:  # noqa: BLE001 - report, keep benchmarking the rest
            return {"error": f"{type(err).__name__}: {err}"}


def _ratios(report: dict[str, Any], registry: Registry | None, backends: Sequence[str], precision: str) -> None:
    """Data-space ÷ latent sampling time for every pair measured at ``precision``."""
    kinds = {e.name: e.kind for e in registry.entries.values()} if registry is not None else {}
    seconds = {b: report["sampling"][f"{b}/{precision}"].get("seconds") for b in backends}
    for data in (b for b in backends if kinds.get(b) == "data" and seconds[b]):
        for latent in (b for b in backends if kinds.get(b) == "latent" and seconds[b]):
            report["ratios"][f"{data}/{latent} ({precision})"] = round(seconds[data] / seconds[latent], 2)


def run_bench(n: int = PAPER.n, steps: int = PAPER.steps, sampler: str = PAPER.sampler, device: str = "auto",
              precisions: tuple[str, ...] = ("float32", "bf16"), train_steps: int = 10,
              batch_size: int = 8, backends: Sequence[str] | None = None,
              models_dir: str | None = None, train: bool = True, process_repeat: int = 0) -> dict[str, Any]:
    """All measurements, in one run; returns a JSON-ready dict with the data-space ÷ latent ratios.

    ``backends``: default every backend of the models directory. Failures (a missing models
    directory or checkpoint) are reported per measurement, not raised. ``process_repeat`` > 0 adds
    the whole-process CLI timings (start-up included, :mod:`bench_process`), that many runs each.
    """
    import torch

    check_counts(n=n, steps=steps, train_steps=train_steps, batch_size=batch_size)
    if process_repeat < 0:
        raise SeaIceInputError("process_repeat", f"{process_repeat} runs", "Use 0 (off) or more")
    try:
        registry: Registry | None = discover(models_dir)
    except SeaIceInputError as err:
        if not backends:
            raise
        log.warning("%s", err)
        registry = None
    backends = list(backends or registry.require().names)  # type: ignore[union-attr]
    if registry is not None:
        for backend in backends:
            registry.get(backend)  # an unknown or broken backend: a clear error before anything runs
    report: dict[str, Any] = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                    "ld_preload": os.environ.get("LD_PRELOAD", "")},
        "sampling": {}, "training": {}, "ratios": {},
        "settings": {"n": n, "steps": steps, "sampler": sampler, "device": device},
    }
    for precision in precisions:
        for backend in backends:
            key = f"{backend}/{precision}"
            log.info("sampling %s", key)
            report["sampling"][key] = _in_child(_sampling, backend, n, steps, sampler, device, precision, models_dir)
        _ratios(report, registry, backends, precision)
    if train:
        for kind in TRAIN_KINDS:
            log.info("training %s", kind)
            report["training"][kind] = _in_child(_training, kind, train_steps, batch_size, device, models_dir)
    if process_repeat > 0 and registry is not None:
        log.info("whole-process CLI timings")
        report["whole_process"] = whole_process(registry, process_repeat, n, steps, models_dir)
    return report


def check_counts(**counts: int) -> None:
    """Refuse a count below 1 (samples, steps, ...) with a clear error, before any work."""
    for name, value in counts.items():
        if int(value) < 1:
            raise SeaIceInputError(name, f"{value} is not a count", f"Use an integer >= 1 for {name}")


def measured(report: dict[str, Any]) -> int:
    """How many rows of a :func:`run_bench` report hold a measurement (not an error)."""
    rows = [*report["sampling"].values(), *report["training"].values()]
    ok = sum("error" not in row for row in rows)
    return ok + sum("wall_s" in row for row in report.get("whole_process", {}).get("rows", {}).values())


def _failures(report: dict[str, Any]) -> str:
    errors = [f"{kind} {key}: {row['error']}" for kind in ("sampling", "training")
              for key, row in report[kind].items() if "error" in row]
    if not errors:
        return "there was nothing to measure (no backend, --no-train)"
    return f"{len(errors)} failed, the first: {errors[0]}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXIT_STATUS
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--n", type=positive_int, default=PAPER.n, help=f"samples per timing (>= 1, default {PAPER.n})")
    parser.add_argument("--steps", type=positive_int, default=PAPER.steps,
                        help=f"sampler steps (>= 1, default {PAPER.steps})")
    parser.add_argument("--sampler", default=PAPER.sampler, choices=sampler_names(),
                        help=f"default {PAPER.sampler} (PAPER, the reports' setting)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", nargs="+", default=["float32", "bf16"], choices=("float32", "bf16"))
    parser.add_argument("--backends", nargs="+", default=None, help="backends to time (default: all in --models)")
    parser.add_argument("--train-steps", type=positive_int, default=10,
                        help="optimiser steps timed per model kind (>= 1, default 10)")
    parser.add_argument("--no-train", action="store_true", help="skip the training throughput")
    parser.add_argument("--process-repeat", type=non_negative_int, default=None,
                        help="runs per whole-process CLI timing (start-up included; 0: none); "
                             "default 3 with --json, else 0")
    parser.add_argument("--models", default=None, help="models directory (default: $SEAICE_EXPLORER_MODELS or models/)")
    parser.add_argument("--models-dir", dest="models", help=argparse.SUPPRESS)
    parser.add_argument("--quality", action="store_true",
                        help="instead: scores against network evaluations (5-40 NFE, Heun and DPM-Solver++(2M)) "
                             "per backend, with the noise floor, against --reference")
    parser.add_argument("--reference", default="default", help="reference of the --quality table")
    parser.add_argument("--flops", action="store_true",
                        help="instead: parameters and FLOPs per network evaluation of each training preset "
                             "(default-128, paper-512) and the predicted dm ÷ ldm sampling cost at --steps")
    parser.add_argument("--time", action="store_true",
                        help="with --flops: also time one evaluation of each network on the CPU (random weights)")


def _table(report: dict[str, Any]) -> str:
    lines = ["sampling (n={n}, {steps} {sampler} steps, decode included)".format(**report["settings"])]
    for key, row in report["sampling"].items():
        lines.append(f"  {key:<24} " + ("  ".join(f"{k}={v}" for k, v in row.items())))
    lines.append("ratios data space ÷ latent (sampling time)")
    lines += [f"  {k:<34} {v}x" for k, v in report["ratios"].items()]
    if report["training"]:
        lines.append("training throughput")
        for key, row in report["training"].items():
            lines.append(f"  {key:<6} " + ("  ".join(f"{k}={v}" for k, v in row.items())))
    if "whole_process" in report:
        wp = report["whole_process"]
        lines.append(f"whole process, start-up included (allocator: {wp['allocator']}, median of {wp['repeat']})")
        for key, row in wp["rows"].items():
            lines.append(f"  {key:<40} {row.get('wall_s')} s  {row.get('peak_rss_mib')} MiB  x{row.get('x_baseline')}")
        lines += [f"  {k:<40} {v}x" for k, v in wp["ratios"].items()]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.flops:
        report = flop_report(sampler=args.sampler, steps=args.steps, timed=args.time)
        print(json.dumps(report, indent=2) if args.json else flop_table(report))
        return 0
    if args.quality:
        report = quality_against_nfe(args.backends, n=args.n, reference=args.reference, models_dir=args.models,
                                     device=args.device)
        print(json.dumps(report, indent=2))
        return 0
    report = run_bench(args.n, args.steps, args.sampler, args.device, tuple(args.precision), args.train_steps,
                       backends=args.backends, models_dir=args.models, train=not args.no_train,
                       process_repeat=args.process_repeat if args.process_repeat is not None else 3 * args.json)
    print(json.dumps(report, indent=2) if args.json else _table(report))
    if not measured(report):
        print(f"error: nothing was measured: {_failures(report)}. Check --models and --backends; "
              "the report above lists the error of each row", file=sys.stderr)
        return NOTHING_MEASURED
    return 0
