"""``seaice-explorer generate``: sample states from a backend of the registry and write them to NetCDF.

Example: ``seaice-explorer generate --backend ldm-censored --n 16 --steps 20 --seed 0
--bounds clamp --sampler heun --device auto --out samples.nc`` (``--models DIR`` for your own models).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from tqdm import tqdm

from ..arguments import non_negative_int, positive_int
from ..outputs import atomic_file, check_outputs, created_by, option_paths
from ..registry import BOUNDS, DEPRECATED_BOUNDS, discover
from .generate import MAX_SAMPLES, MAX_STEPS, generate
from .samplers import SAMPLERS

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", default=None,
                        help="backend to sample from: a model folder name in --models (default: the first "
                             "backend the app compares by default)")
    parser.add_argument("--n", type=positive_int, default=16, help=f"number of samples (1-{MAX_SAMPLES})")
    parser.add_argument("--steps", type=positive_int, default=20,
                        help=f"sampler steps (1-{MAX_STEPS}); Heun uses 2n-1 evaluations")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the torch.Generator")
    parser.add_argument("--bounds", choices=list(BOUNDS) + list(DEPRECATED_BOUNDS), default="raw",
                        help="raw: the model's mean (may violate bounds); clamp: clamp(x, l, u) onto the bounds "
                             "(the censored decoder's point estimate); draw: a random draw from the VAE decoder "
                             "(latent backends). Old names none/clip/censored/censored-sample are deprecated")
    parser.add_argument("--sampler", choices=list(SAMPLERS), default="heun")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    parser.add_argument("--precision", choices=("auto", "float32", "bf16"), default="auto",
                        help="auto: bf16 autocast on CUDA, float32 on CPU; bf16 is about 2x faster on CPU too")
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


def run(args: argparse.Namespace) -> int:
    if args.backend is None:
        args.backend = discover(args.models_dir).require().default_selection()[0]
    out = Path(args.out)
    check_outputs(option_paths([("--out", out, "netcdf"), ("--trajectory", args.trajectory, "netcdf")]),
                  overwrite=args.overwrite, inputs=[args.models_dir])
    bar = tqdm(total=args.steps, desc=f"generate {args.backend}", unit="step",
               disable=True if args.no_progress else None)

    def progress(info: dict) -> None:
        bar.set_postfix(sigma=f"{info['sigma']:.3g}")
        bar.update(1)

    start = time.perf_counter()
    try:
        result = generate(args.backend, n=args.n, steps=args.steps, seed=args.seed, bounds=args.bounds,
                          sampler=args.sampler, device=args.device, callback=progress,
                          models_dir=args.models_dir, return_trajectory=bool(args.trajectory),
                          precision=args.precision)
    finally:
        bar.close()
    elapsed = time.perf_counter() - start
    ds, traj = result if args.trajectory else (result, None)
    _write(ds, out)
    if traj is not None:
        _write(traj, Path(args.trajectory))
    print(f"wrote {out}: {args.n} samples of {', '.join(ds.data_vars)} on {ds.attrs.get('grid', '')} "
          f"({args.backend}, {args.sampler} {args.steps} steps, bounds={ds.attrs['bounds']}, seed={args.seed}, "
          f"{ds.attrs['device']}, {elapsed:.2f} s; {ds.attrs['checkpoint_sha256']})")
    return 0
