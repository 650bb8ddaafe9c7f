"""``seaice-explorer generate``: sample states from a backend of the registry and write them to NetCDF.

Example: ``seaice-explorer generate --backend ldm-censored --n 16 --steps 20 --seed 0
--bounds clamp --sampler heun --device auto --out samples.nc`` (``--models DIR`` for your own models).
The defaults are the :data:`~seaice_explorer.recipe.PAPER` recipe; ``--like FILE.nc`` reruns the
recipe and backend a generated file records (options given explicitly override it).
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
from ..recipe import PAPER, PRECISIONS, Recipe, recipe_of, recipes_note, sampler_help, sampler_names
from ..registry import BOUNDS, DEPRECATED_BOUNDS, discover
from .generate import MAX_SAMPLES, MAX_STEPS, generate

log = logging.getLogger(__name__)


#: the options that set a recipe field (default None: the field of PAPER, or of --like's file)
RECIPE_OPTIONS: tuple[str, ...] = ("sampler", "steps", "n", "seed", "bounds", "precision")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = recipes_note()
    parser.add_argument("--backend", default=None,
                        help="backend to sample from: a model folder name in --models (default: the backend "
                             "--like's file records, else the first backend the app compares by default)")
    parser.add_argument("--like", default=None, metavar="FILE.nc",
                        help="rerun the recipe (sampler, steps, n, seed, bounds, precision) and backend that a file "
                             "written by `seaice-explorer generate` records; options given explicitly override it")
    parser.add_argument("--n", type=positive_int, default=None,
                        help=f"number of samples (1-{MAX_SAMPLES}; default {PAPER.n})")
    parser.add_argument("--steps", type=positive_int, default=None,
                        help=f"sampler steps (1-{MAX_STEPS}; default {PAPER.steps})")
    parser.add_argument("--seed", type=non_negative_int, default=None,
                        help=f"seed of the torch.Generator (default {PAPER.seed})")
    parser.add_argument("--bounds", choices=list(BOUNDS) + list(DEPRECATED_BOUNDS), default=None,
                        help="raw: the model's mean (may violate bounds); clamp: clamp(x, l, u) onto the bounds "
                             "(the censored decoder's point estimate); draw: a random draw from the VAE decoder "
                             "(latent backends). Old names none/clip/censored/censored-sample are deprecated "
                             f"(default {PAPER.bounds})")
    parser.add_argument("--sampler", choices=sampler_names(), default=None,
                        help=f"{sampler_help()} (default {PAPER.sampler})")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="auto: bf16 autocast on CUDA, float32 on CPU; bf16 is about 2x faster on CPU too "
                             f"(default {PAPER.precision})")
    parser.add_argument("--models", "--models-dir", dest="models_dir", default=None, metavar="DIR",
                        help="folder of the models (default: the shipped models/)")
    parser.add_argument("--out", default="samples.nc", help="output NetCDF file (an existing one needs --overwrite)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out / --trajectory if they exist and were written by seaice-explorer")
    parser.add_argument("--trajectory", default=None, metavar="PATH",
                        help="also write the per-step denoised previews to this NetCDF file")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _write(ds, path: Path) -> None:
    """NetCDF, marked as written by this command, under a temporary name until complete."""
    encoding = {name: {"zlib": True, "complevel": 4} for name in ds.data_vars}
    ds = ds.assign_attrs(created_by("generate"))
    with atomic_file(path) as tmp:
        ds.to_netcdf(tmp, encoding=encoding)


def like(path: str | Path) -> tuple[str, Recipe, str | None]:
    """(backend, recipe, checkpoint_sha256) that a generated file records; a clear error for any other file."""
    path = Path(path)
    if not path.is_file():
        raise SeaIceInputError(path, "--like names no file", "Pass a NetCDF file written by `seaice-explorer generate`")
    try:
        with xr.open_dataset(path) as ds:
            attrs = dict(ds.attrs)
    except (OSError, ValueError):
        raise SeaIceInputError(path, "--like: not a readable NetCDF file",
                               "Pass a NetCDF file written by `seaice-explorer generate`") from None
    recipe = recipe_of(attrs, path)
    backend = attrs.get("backend")
    if not isinstance(backend, str) or not backend:
        raise SeaIceInputError(path, "records a recipe but no backend", "Pass --backend as well")
    return backend, recipe, attrs.get("checkpoint_sha256")


def chosen_recipe(args: argparse.Namespace, base: Recipe) -> Recipe:
    """``base`` with every recipe option given on the command line."""
    return base.replace(**{k: getattr(args, k) for k in RECIPE_OPTIONS if getattr(args, k) is not None})


def run(args: argparse.Namespace) -> int:
    base, recorded_sha = PAPER, None
    if args.like is not None:
        backend, base, recorded_sha = like(args.like)
        args.backend = args.backend or backend
    if args.backend is None:
        args.backend = discover(args.models_dir).require().default_selection()[0]
    recipe = chosen_recipe(args, base)
    out = Path(args.out)
    check_outputs(option_paths([("--out", out, "netcdf"), ("--trajectory", args.trajectory, "netcdf")]),
                  overwrite=args.overwrite, inputs=[args.models_dir, args.like])
    bar = tqdm(total=recipe.steps, desc=f"generate {args.backend}", unit="step",
               disable=True if args.no_progress else None)

    def progress(info: dict) -> None:
        bar.set_postfix(sigma=f"{info['sigma']:.3g}")
        bar.update(1)

    start = time.perf_counter()
    try:
        result = generate(args.backend, recipe, device=args.device, callback=progress, models_dir=args.models_dir,
                          return_trajectory=bool(args.trajectory))
    finally:
        bar.close()
    elapsed = time.perf_counter() - start
    ds, traj = result if args.trajectory else (result, None)
    if recorded_sha is not None and recorded_sha != ds.attrs["checkpoint_sha256"]:
        log.warning("%s was generated with checkpoints %s, these are %s: the samples will differ", args.like,
                    recorded_sha, ds.attrs["checkpoint_sha256"])
    _write(ds, out)
    if traj is not None:
        _write(traj.to_dataset(), Path(args.trajectory))
    print(f"wrote {out}: {recipe.n} samples of {', '.join(ds.data_vars)} on {ds.attrs.get('grid', '')} "
          f"({args.backend}, {recipe.describe()}, bounds={ds.attrs['bounds']}, seed={recipe.seed}, "
          f"{ds.attrs['device']}, {elapsed:.2f} s; {ds.attrs['checkpoint_sha256']})")
    return 0
