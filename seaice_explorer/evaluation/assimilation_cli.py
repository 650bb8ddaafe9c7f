"""``seaice-explorer assimilation-report``: observation-guided ensembles on held-out 2019 days against baselines.

Issue 22 §3, in stages that only ever add missing rows to the cache (``--work``)::

    seaice-explorer assimilation-report --stage tune --tune-days 10      # knobs on tuning days -> WORK/knobs.json
    seaice-explorer assimilation-report --stage report --max-days 20     # report days × masks, all makers
    seaice-explorer assimilation-report --stage fivevar                  # SYNTHETIC five-variable family
    seaice-explorer assimilation-report --report-only                    # rebuild OUT/ from the rows there are

Every stage ends by rewriting the report folder (``--out``) from all rows in the cache
(:mod:`.assimilation_report`, :mod:`.assimilation_readme`).
"""

from __future__ import annotations

import argparse
import logging
import shlex
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from .. import __version__
from ..arguments import non_negative_int, positive_float, positive_int
from ..checkpoints import resolve_device
from ..configs import DEFAULT_DATASET
from ..data import open_reference
from ..data.masks import MASKS
from ..registry import Registry, discover
from . import assimilation_fivevar as five
from . import assimilation_report as rep
from . import assimilation_stages as stages
from .assimilation_readme import ReadmeInfo, fivevar_section, readme_text
from .assimilation_knobs import COMMAND, GUIDANCES, OBS_SIGMA, OBSERVED_DATASET, STEPS, Knob, family, read_knobs
from .assimilation_runs import REPORT_N, TUNE_N
from .assimilation_scores import TRUTH_SOURCE, assimilation_days
from .assimilation_verdicts import verdicts_record
from .bootstrap import DEFAULT_REPLICATES
from .evaluate import device_text

log = logging.getLogger(__name__)

DEFAULT_WORK = Path("runs/assimilation")
DEFAULT_OUT = Path("docs/assimilation")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", choices=("tune", "report", "fivevar"), default="report",
                        help="tune: knobs on the 30 tuning days; report: the 62 report days × masks; fivevar: the "
                             "SYNTHETIC five-variable family (default report)")
    parser.add_argument("--report-only", action="store_true",
                        help="compute nothing: rewrite the report folder from the rows in --work")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help=f"row cache (default {DEFAULT_WORK})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"report folder (default {DEFAULT_OUT}; one this command did not write is refused)")
    parser.add_argument("--knobs", type=Path, default=None, help="knobs file (default WORK/knobs.json)")
    parser.add_argument("--backends", nargs="+", default=None,
                        help="backends of the stage (default: one per kind and decoder of the stage's data set)")
    parser.add_argument("--masks", nargs="+", choices=list(MASKS), default=list(MASKS),
                        help="masks of the report stage (default all four)")
    parser.add_argument("--n", type=positive_int, default=None,
                        help=f"members per ensemble (default {TUNE_N} for tune, {REPORT_N} for report and fivevar)")
    parser.add_argument("--tune-days", type=positive_int, default=None,
                        help="use only the first K tuning days (in an order spread over the year; default all 30)")
    parser.add_argument("--max-days", type=positive_int, default=None,
                        help="score only the first N report days (spread over the year; default all 62)")
    parser.add_argument("--steps", type=positive_int, default=STEPS, help=f"Heun steps (default {STEPS})")
    parser.add_argument("--guidance", type=positive_float, nargs="+", default=list(GUIDANCES),
                        help=f"guidance scales of the tuning grid for dps and mmps (default {' '.join(map(str, GUIDANCES))})")
    parser.add_argument("--obs-sigma", type=positive_float, default=OBS_SIGMA,
                        help=f"observation error σ_obs of sic (default {OBS_SIGMA})")
    parser.add_argument("--fivevar-days", type=positive_int, default=five.FIVEVAR_DAYS,
                        help=f"SYNTHETIC held-out days (default {five.FIVEVAR_DAYS})")
    parser.add_argument("--fivevar-seed", type=non_negative_int, default=five.FIVEVAR_SEED,
                        help=f"generator seed of the SYNTHETIC days (default {five.FIVEVAR_SEED}; not the shipped 0)")
    parser.add_argument("--fivevar-method", choices=("mmps", "dps"), default="mmps",
                        help="method of the SYNTHETIC stage, fixed in advance (default mmps, guidance 1)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of masks and members (default 0)")
    parser.add_argument("--replicates", type=positive_int, default=DEFAULT_REPLICATES,
                        help=f"bootstrap replicates of every interval (default {DEFAULT_REPLICATES})")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    parser.add_argument("--models", default=None, metavar="DIR", help="models folder (default: the shipped models/)")


def command_line(args: argparse.Namespace) -> str:
    """The command as run, with every option that differs from its default."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    defaults = vars(parser.parse_args([]))
    parts = ["seaice-explorer", COMMAND] + (["--report-only"] if args.report_only else ["--stage", args.stage])
    for name, value in vars(args).items():
        if name in ("stage", "report_only") or value == defaults.get(name, value):
            continue
        values = value if isinstance(value, list) else [value]
        parts += [f"--{name.replace('_', '-')}", *map(str, values)]
    return shlex.join(parts)


def stage_n(args: argparse.Namespace, stage: str) -> int:
    """Members of ``stage``'s ensembles: ``--n`` when this run computes that stage (or only writes the report),
    else the stage's default (the report of a tune run reads the report rows of n = 16)."""
    if args.n is not None and (args.report_only or args.stage == stage):
        return args.n
    return TUNE_N if stage == "tune" else REPORT_N


def fivevar_knob(args: argparse.Namespace) -> Knob:
    return Knob(method=args.fivevar_method, guidance=1.0, obs_sigma=args.obs_sigma, steps=args.steps)


def _observed(registry: Registry, args: argparse.Namespace) -> list:
    return family(registry, OBSERVED_DATASET, args.backends)


def _synthetic(registry: Registry, args: argparse.Namespace) -> list:
    return family(registry, DEFAULT_DATASET, args.backends if args.stage == "fivevar" else None)


def build_report(args: argparse.Namespace, registry: Registry, factories: stages.Factories,
                 knobs: dict[str, Any] | None, truth: xr.Dataset) -> Path:
    """Rewrite ``--out`` from every row in ``--work`` (the report stage's and the SYNTHETIC stage's)."""
    n = stage_n(args, "report")
    args.out.mkdir(parents=True, exist_ok=True)  # the figures are drawn into it first
    entries = [registry.get(name) for name in (knobs or {}).get("backends", {}) if name in registry.names]
    specs = stages.report_specs(entries, knobs, n, factories)
    rows = rep.collect(args.work, args.seed, specs)
    labels = {s.label: s for s in specs}
    summary = rep.summarise_report(rows, specs, args.replicates, args.seed)
    figures = [rep.example_figure(args.out, args.work, args.seed, truth, specs, stages.example_day()),
               rep.rank_figure(args.out, rows, labels)]
    five_specs = stages.fivevar_specs(_synthetic(registry, args), fivevar_knob(args), stage_n(args, "fivevar"),
                                      factories)
    five_rows = {s.label: r for s in five_specs if (r := five.load_fivevar(args.work, args.seed, s.key)) is not None}
    pairs = {s.backend: (five_rows.get(f"{s.backend} posterior"), five_rows.get(f"{s.backend} unconditional"))
             for s in five_specs if s.role == "posterior"}
    five_summary = five.summarise_fivevar(pairs, args.replicates, args.seed)
    dates = sorted({f"{pd.Timestamp(d):%Y-%m-%d}" for r in five_rows.values() for d in r["day"].values})
    info = ReadmeInfo(command_line(args), datetime.now(timezone.utc), __version__,
                      device_text(resolve_device(args.device).type), args.work, args.seed, n,
                      len(assimilation_days()["report"]), len(assimilation_days()["tuning"]), args.replicates)
    section = fivevar_section(five_summary, dates, args.fivevar_seed, fivevar_knob(args).describe())
    readme = readme_text(info, summary, knobs, figures, section)
    rep.write_report(args.out, readme, rows, labels, knobs=knobs,
                     fivevar=five.fivevar_dataset(five_rows) if five_rows else None, figures=figures,
                     verdicts=verdicts_record(summary, len(assimilation_days()["report"]), n))
    return args.out


def run(args: argparse.Namespace, factories: stages.Factories | None = None, truth: xr.Dataset | None = None,
        synthetic: xr.Dataset | None = None) -> int:
    """The CLI. ``factories``, ``truth`` (OSI SAF 2019) and ``synthetic`` (the SYNTHETIC days) stand in for the
    real makers and data in tests."""
    t0 = time.perf_counter()
    rep.check_report_folder(args.out, args.work)
    knobs_path = args.knobs or args.work / "knobs.json"
    registry = discover(args.models).require()
    factories = factories or stages.default_factories(seed=args.seed, device=args.device, models_dir=args.models)
    truth = truth if truth is not None else open_reference(TRUTH_SOURCE)
    knobs = read_knobs(knobs_path) if knobs_path.is_file() else None
    if not args.report_only and args.stage == "tune":
        knobs = stages.tune(_observed(registry, args), work=args.work, truth=truth, knobs_path=knobs_path,
                            factories=factories, n=stage_n(args, "tune"), tune_days=args.tune_days, seed=args.seed,
                            steps=args.steps, obs_sigma=args.obs_sigma, guidances=args.guidance,
                            replicates=args.replicates, existing=knobs, command=command_line(args),
                            device=device_text(resolve_device(args.device).type))
    elif not args.report_only and args.stage == "report":
        knobs = read_knobs(knobs_path)  # refuses a missing file with the fix
        entries = stages.tuned(_observed(registry, args), knobs, named=bool(args.backends))
        specs = stages.report_specs(entries, knobs, stage_n(args, "report"), factories, knobs_path)
        stages.report(specs, work=args.work, truth=truth, masks=args.masks, max_days=args.max_days, seed=args.seed,
                      device=device_text(resolve_device(args.device).type))
    elif not args.report_only and args.stage == "fivevar":
        entries = _synthetic(registry, args)
        if synthetic is None:
            synthetic = five.synthetic_days(args.fivevar_days, args.fivevar_seed, size=entries[0].grid_size)
        specs = stages.fivevar_specs(entries, fivevar_knob(args), stage_n(args, "fivevar"), factories)
        stages.fivevar(specs, work=args.work, truth=synthetic, seed=args.seed)
    build_report(args, registry, factories, knobs, truth)
    log.info("%s done in %.0f s; report in %s/, rows in %s/", "report-only" if args.report_only else args.stage,
             time.perf_counter() - t0, args.out, args.work)
    print(f"wrote {args.out}/ (rows in {args.work}/)")
    return 0
