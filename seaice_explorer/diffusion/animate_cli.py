"""``seaice-explorer animate``: one sample's denoising as an animated GIF (or MP4, or PNG frames) for slides.

Example: ``seaice-explorer animate --backend ldm-censored --steps 20 --seed 0 --bounds clamp
--variable sic --out denoise.gif`` (``.mp4`` needs PyAV; ``--models DIR`` for your own models).
One frame per sampler step, each labelled with the step and σ (:mod:`seaice_explorer.plots.animate`).
Sampler, steps and seed default to the :data:`~seaice_explorer.recipe.PAPER` recipe (one sample,
clamped to the bounds so the frames show physical maps).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..arguments import non_negative_int, positive_int
from ..errors import SeaIceInputError
from ..outputs import Output, atomic_file, check_outputs
from ..plots import animate
from ..recipe import PAPER, Recipe, recipes_note, sampler_help, sampler_names
from ..registry import BOUNDS, discover
from .generate import MAX_STEPS, generate

log = logging.getLogger(__name__)

FORMATS = (".gif", ".mp4", ".png")
#: one sample of PAPER, clamped: a slide shows physically valid maps
ANIMATION = PAPER.replace(n=1, bounds="clamp")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = recipes_note()
    parser.add_argument("--backend", default=None,
                        help="backend to animate (default: the first backend the app compares by default)")
    parser.add_argument("--steps", type=positive_int, default=ANIMATION.steps,
                        help=f"sampler steps = frames (1-{MAX_STEPS}; default {ANIMATION.steps})")
    parser.add_argument("--seed", type=non_negative_int, default=ANIMATION.seed, help="seed of the torch.Generator")
    parser.add_argument("--bounds", choices=list(BOUNDS), default=ANIMATION.bounds,
                        help=f"bounds applied to the decoded maps (default {ANIMATION.bounds})")
    parser.add_argument("--sampler", choices=sampler_names(), default=ANIMATION.sampler,
                        help=f"{sampler_help()} (default {ANIMATION.sampler})")
    parser.add_argument("--variable", default="sic", help="variable shown on the decoded map (default sic)")
    parser.add_argument("--width", type=positive_int, default=None,
                        help=f"frame width in pixels (default {animate.GIF_WIDTH}; {animate.PRESENTATION_WIDTH} for .png)")
    parser.add_argument("--frame-ms", type=positive_int, default=animate.FRAME_MS, help="milliseconds per frame")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    parser.add_argument("--models", "--models-dir", dest="models_dir", default=None, metavar="DIR",
                        help="folder of the models (default: the shipped models/)")
    parser.add_argument("--out", default="denoise.gif",
                        help="output file: .gif (animated), .mp4 (needs PyAV) or .png (one PNG per step, "
                             "named OUT_stepNN.png, at presentation resolution)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing output images (only files that are images of that format)")


def _check(args: argparse.Namespace, out: Path) -> None:
    if out.suffix.lower() not in FORMATS:
        raise SeaIceInputError(out, f"unknown output format {out.suffix!r}", f"Use one of {', '.join(FORMATS)}")
    kind = out.suffix.lower()[1:]
    check_outputs([Output(path, kind) for path in _paths(out, args.steps)], overwrite=args.overwrite,  # type: ignore[arg-type]
                  inputs=[args.models_dir])
    if out.suffix.lower() == ".mp4" and not animate.mp4_available():
        raise SeaIceInputError(out, "MP4 needs PyAV, which is not installed",
                               "pip install av (its wheel bundles FFmpeg), or write a .gif")
    if args.width is None:
        args.width = animate.PRESENTATION_WIDTH if out.suffix.lower() == ".png" else animate.GIF_WIDTH
    if not 64 <= args.width <= 4096:
        raise SeaIceInputError("width", f"--width {args.width} is not in 64..4096", "Pass a width in pixels")


def _paths(out: Path, steps: int) -> list[Path]:
    """The files written: ``out``, or one PNG per step for ``.png``."""
    if out.suffix.lower() != ".png":
        return [out]
    return [out.with_name(f"{out.stem}_step{k:02d}.png") for k in range(1, steps + 1)]


def run(args: argparse.Namespace) -> int:
    if args.backend is None:
        args.backend = discover(args.models_dir).require().default_selection()[0]
    out = Path(args.out)
    _check(args, out)
    recipe: Recipe = ANIMATION.replace(steps=args.steps, seed=args.seed, bounds=args.bounds, sampler=args.sampler)
    samples, traj = generate(args.backend, recipe, device=args.device, models_dir=args.models_dir,
                             return_trajectory=True)
    try:
        frames = animate.frames(traj, args.variable)
    except ValueError as err:
        raise SeaIceInputError("variable", str(err), "Pass --variable with one of the backend's variables") from None
    suffix = out.suffix.lower()
    if suffix == ".png":
        paths = [out.with_name(f"{out.stem}_step{f.step + 1:02d}.png") for f in frames]
        for frame, path in zip(frames, paths):
            with atomic_file(path) as tmp:
                tmp.write_bytes(animate.png_bytes(frame, args.width))
        print(f"wrote {len(paths)} PNG frames {paths[0]} … {paths[-1]}")
        return 0
    write = animate.gif_bytes if suffix == ".gif" else animate.mp4_bytes
    with atomic_file(out) as tmp:
        tmp.write_bytes(write(frames, args.width, frame_ms=args.frame_ms))
    print(f"wrote {out}: {len(frames)} frames ({args.backend}, {recipe.describe()}, seed {recipe.seed}, "
          f"bounds {samples.attrs['bounds']}, {args.variable})")
    return 0
