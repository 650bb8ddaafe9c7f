"""``seaice-explorer assimilate``: states of a backend's posterior given observations, written to NetCDF.

Example: ``seaice-explorer assimilate --backend osisaf-ldm-gaussian --obs obs.nc --n 16 --obs-sigma 0.05
--seed 0 --method dps --out post.nc``. ``obs.nc`` holds the backend's variables on its grid (the
coordinates of its data set, e.g. one day of the bundled OSI SAF set), NaN where unobserved. The
recipe options and their defaults are ``generate``'s (:data:`~seaice_explorer.recipe.PAPER`).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import xarray as xr
from tqdm import tqdm

from ..arguments import non_negative_int, positive_int
from ..errors import SeaIceInputError
from ..outputs import atomic_file, check_outputs, created_by, option_paths
from ..recipe import PAPER, PRECISIONS, recipes_note, sampler_help, sampler_names
from ..registry import BOUNDS
from .core import assimilate
from .guidance import METHODS
from .observations import ObsSigma

log = logging.getLogger(__name__)

RECIPE_OPTIONS: tuple[str, ...] = ("sampler", "steps", "n", "seed", "bounds", "precision")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = recipes_note()
    parser.add_argument("--backend", required=True, help="backend whose prior is conditioned (a model folder in --models)")
    parser.add_argument("--obs", required=True, metavar="OBS.nc",
                        help="NetCDF of observed variables on the backend's grid, NaN where unobserved")
    parser.add_argument("--obs-sigma", default="0.05", metavar="SIGMA",
                        help="observation error in physical units: one number, or per variable, e.g. sic=0.05,sit=0.3 "
                             "(default 0.05)")
    parser.add_argument("--method", choices=list(METHODS), default="mmps",
                        help="; ".join(f"{m.name}: {m.label}, {m.reference}" for m in METHODS.values())
                        + " (default mmps; dps and mmps need about 10 steps or more)")
    parser.add_argument("--guidance", type=float, default=1.0,
                        help="scale of the likelihood term of dps/mmps (1: as it is, 0: unconditional; default 1)")
    parser.add_argument("--jumps", type=positive_int, default=1, help="repaint's resampling jumps per step (default 1)")
    parser.add_argument("--n", type=positive_int, default=None, help=f"number of members (default {PAPER.n})")
    parser.add_argument("--steps", type=positive_int, default=None, help=f"sampler steps (default {PAPER.steps})")
    parser.add_argument("--seed", type=non_negative_int, default=None, help=f"seed (default {PAPER.seed})")
    parser.add_argument("--sampler", choices=sampler_names(), default=None,
                        help=f"{sampler_help()} (default {PAPER.sampler})")
    parser.add_argument("--bounds", choices=list(BOUNDS), default=None,
                        help=f"raw, clamp or draw, as for generate (default {PAPER.bounds})")
    parser.add_argument("--precision", choices=PRECISIONS, default=None, help=f"(default {PAPER.precision})")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    parser.add_argument("--models", "--models-dir", dest="models_dir", default=None, metavar="DIR",
                        help="folder of the models (default: the shipped models/)")
    parser.add_argument("--out", default="posterior.nc", help="output NetCDF file (an existing one needs --overwrite)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it was written by seaice-explorer")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def parse_obs_sigma(text: str) -> ObsSigma:
    """``0.05`` -> 0.05; ``sic=0.05,sit=0.3`` -> {"sic": 0.05, "sit": 0.3}; the values are checked later."""
    fix = "Pass --obs-sigma as a number > 0 (e.g. 0.05) or as name=number pairs (e.g. sic=0.05,sit=0.3)"
    try:
        if "=" not in text:
            return float(text)
        pairs = (part.split("=", 1) for part in text.split(",") if part.strip())
        return {name.strip(): float(value) for name, value in pairs}
    except ValueError:
        raise SeaIceInputError("--obs-sigma", f"{text!r} is not a number or name=number pairs", fix) from None


def read_obs(path: Path) -> xr.Dataset:
    """The observations file, loaded and closed; a clear error for a missing or unreadable one."""
    if not path.is_file():
        raise SeaIceInputError(path, "--obs names no file", "Pass a NetCDF file of observations")
    try:
        with xr.open_dataset(path) as ds:
            return ds.load()
    except (OSError, ValueError) as err:
        raise SeaIceInputError(path, f"--obs: not a readable NetCDF file ({err})", "Pass a NetCDF file") from None


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    check_outputs(option_paths([("--out", out, "netcdf")]), overwrite=args.overwrite,
                  inputs=[args.models_dir, args.obs])
    obs_sigma = parse_obs_sigma(args.obs_sigma)
    obs = read_obs(Path(args.obs))
    steps = args.steps or PAPER.steps
    bar = tqdm(total=steps, desc=f"assimilate {args.backend}",
               unit="step", disable=True if args.no_progress else None)

    def progress(info: dict) -> None:
        bar.set_postfix(sigma=f"{info['sigma']:.3g}")
        bar.update(1)

    start = time.perf_counter()
    overrides = {k: getattr(args, k) for k in RECIPE_OPTIONS}
    try:
        ds = assimilate(args.backend, obs, PAPER, obs_sigma=obs_sigma, method=args.method,
                        guidance=args.guidance, jumps=args.jumps,
                        device=args.device, models_dir=args.models_dir, callback=progress, source=str(args.obs),
                        **overrides)
    finally:
        bar.close()
    encoding = {name: {"zlib": True, "complevel": 4} for name in ds.data_vars}
    with atomic_file(out) as tmp:
        ds.assign_attrs(created_by("assimilate")).to_netcdf(tmp, encoding=encoding)
    log.info("wrote %s: %d posterior states of %s (%s, %s, obs_sigma %s, %.1f%% of ocean cells observed, %.2f s)",
             out, ds.sizes["sample"], ", ".join(ds.data_vars), args.backend, args.method, ds.attrs["obs_sigma"],
             100 * ds.attrs["observed_fraction"], time.perf_counter() - start)
    return 0
