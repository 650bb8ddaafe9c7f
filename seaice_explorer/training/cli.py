"""``seaice-explorer train vae|dm|ldm``: train a model and write ``models/<name>/``.

Examples
--------
seaice-explorer train vae --decoder censored --data default --out models/my-vae-censored --steps 4000
seaice-explorer train dm --data default --out models/my-dm --steps 4000 --batch-size 4
seaice-explorer train ldm --vae models/my-vae-censored --data default --out models/my-ldm-censored --steps 6000
seaice-explorer train dm --preset paper-512 --data 'run/Moorings_*.nc' --crop 128 --out models/dm-512
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from pathlib import Path
from typing import Any

from ..arguments import non_negative_int, positive_float, positive_int, probability
from ..configs import is_named_dataset
from ..errors import SeaIceInputError
from ..outputs import Output, check_outputs
from .data import dataset_name
from .diffusion import train_diffusion
from .distributed import setup, teardown
from .presets import DEFAULT_PRESET, PRESETS, preset_hyperparameters
from .vae import train_vae

log = logging.getLogger(__name__)


def default_hyperparameters(kind: str, preset: str = DEFAULT_PRESET) -> dict[str, Any]:
    """Network hyper-parameters (config keys) of ``kind`` in ``preset`` (:mod:`.presets`), before --config and --set."""
    return preset_hyperparameters(kind, preset)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=("vae", "dm", "ldm"), help="what to train")
    parser.add_argument("--preset", choices=list(PRESETS), default=DEFAULT_PRESET,
                        help="network preset to start from: default-128 (the shipped 128² models) or paper-512 "
                             "(Finn et al. 2024: 16x64x64 latent from 5x512x512; dm trained with --crop 128)")
    parser.add_argument("--config", type=Path, help="JSON file of config keys (VAEConfig / DenoiserConfig)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config key (JSON value), e.g. --set base_channels=48")
    parser.add_argument("--data", default="default",
                        help="'default' (bundled reference), a canonical NetCDF/Zarr path, or a store from `prepare` (streamed)")
    parser.add_argument("--out", required=True, type=Path,
                        help="checkpoint folder, e.g. models/my-vae (an existing one needs --resume or --overwrite)")
    parser.add_argument("--overwrite", action="store_true",
                        help="train afresh into an existing checkpoint folder, replacing its model")
    parser.add_argument("--steps", type=positive_int, default=1000, help="total optimiser steps")
    parser.add_argument("--batch-size", type=positive_int, default=8)
    parser.add_argument("--lr", type=positive_float, default=5e-4, help="peak learning rate (AdamW)")
    parser.add_argument("--warmup", type=non_negative_int, default=None, help="warm-up steps (default min(500, steps/20))")
    parser.add_argument("--ema-decay", type=probability, default=0.999)
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/train_state")
    parser.add_argument("--stop-at", type=positive_int, default=None, help="stop after this step (resume later)")
    parser.add_argument("--decoder", choices=("gaussian", "censored"), default=None, help="VAE decoder (default gaussian)")
    parser.add_argument("--vae", help="VAE checkpoint for ldm, e.g. models/vae-gaussian")
    parser.add_argument("--crop", type=non_negative_int, default=0,
                        help="random square crops of this size (patch training, dm/vae); 0 = whole fields (default)")
    parser.add_argument("--normalisation", choices=("table", "data"), default="table",
                        help="per-variable mean/std from the variable table or from the training data")
    parser.add_argument("--checkpoint-every", type=positive_int, default=500)
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (CPU or CUDA)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network (CUDA: faster after warm-up)")
    parser.add_argument("--workers", type=non_negative_int, default=2,
                        help="DataLoader worker processes reading a store from `prepare` (0: read in the trainer)")
    parser.add_argument("--channels-last", dest="channels_last", action="store_true", default=None,
                        help="channels-last memory format (default: on CUDA only; on the CPU it slowed training)")
    parser.add_argument("--no-channels-last", dest="channels_last", action="store_false", help="keep the default memory format")
    parser.add_argument("--snapshot-every", type=non_negative_int, default=0,
                        help="keep a copy of the checkpoint every k steps in <out>/train_state/snapshots/ (learning curves)")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    parser.add_argument("--no-preview", action="store_true",
                        help="no sample.png (its 3 samples of 20 Heun steps are slow on 512² fields)")


def _command_line() -> str:
    argv = sys.argv
    if "train" in argv[1:]:
        return shlex.join(["seaice-explorer"] + argv[argv.index("train"):])
    return shlex.join(["seaice-explorer", "train", *argv[1:]])


def build_config(args: argparse.Namespace) -> dict[str, Any]:
    """The --preset's keys for the kind, then the --config file, then each --set, then --decoder."""
    params = default_hyperparameters(args.kind, getattr(args, "preset", DEFAULT_PRESET))
    if args.config is not None:
        try:
            params.update(json.loads(Path(args.config).read_text()))
        except (OSError, json.JSONDecodeError) as err:
            raise SeaIceInputError(args.config, f"cannot read the config ({err})", "Pass a JSON object of config keys") from None
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise SeaIceInputError("--set", f"{item!r} is not KEY=VALUE", "Write e.g. --set base_channels=48")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    if args.kind == "vae":
        if args.decoder is not None:
            params["decoder"] = args.decoder
        params.setdefault("decoder", "gaussian")
    elif params.get("kind", args.kind) != args.kind:
        raise SeaIceInputError("--config", f"config kind {params['kind']!r} does not match {args.kind!r}", "Drop 'kind' from the file")
    return params


def _warn_outside(args: argparse.Namespace, params: dict[str, Any]) -> None:
    """Say up front what the model will record about data outside its models folder."""
    dataset = params.get("dataset") or dataset_name(args.data, Path(args.out).parent)
    if not is_named_dataset(dataset) and Path(dataset).is_absolute():
        log.info("the data lie outside the models folder %s: the model keeps its grid in %s/grid.nc and "
                 "records dataset=%s as a label only (a models folder reads nothing outside it; compare "
                 "against the data with --reference)", Path(args.out).parent, args.out, dataset)


def run(args: argparse.Namespace) -> int:
    if args.resume and args.overwrite:
        raise SeaIceInputError("--resume/--overwrite", "both given", "Pass --resume to continue a model, "
                               "or --overwrite to train it afresh")
    check_outputs([Output(args.out, "checkpoint")], overwrite=args.resume or args.overwrite,
                  inputs=[args.data, args.vae, args.config], flag="--resume (continue) or --overwrite (start afresh)")
    params = build_config(args)
    _warn_outside(args, params)
    if args.device != "cpu":  # reproducible cuDNN kernels (process-wide, the CLI owns the process)
        import torch

        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    crop = args.crop
    common = dict(
        batch_size=args.batch_size, lr=args.lr, warmup=args.warmup, ema_decay=args.ema_decay, seed=args.seed,
        device=args.device, resume=args.resume, stop_at=args.stop_at, crop=crop or None,
        checkpoint_every=args.checkpoint_every, bf16=args.bf16, channels_last=args.channels_last,
        snapshot_every=args.snapshot_every,
        progress=not args.no_progress, command=_command_line(), normalisation=args.normalisation,
        preview=not getattr(args, "no_preview", False), compile=args.compile, workers=args.workers,
    )
    shard = setup(args.device)  # torchrun: join the process group; process 0 alone logs and writes
    if not shard.main:
        logging.getLogger("seaice_explorer").setLevel(logging.WARNING)
    try:
        if args.kind == "vae":
            result = train_vae(params, args.data, args.out, args.steps, **common)
        else:
            result = train_diffusion(params, args.data, args.out, args.steps, vae=args.vae, **common)
    finally:
        teardown()
    if shard.main:
        losses = ", ".join(f"{k}={v:.4g}" for k, v in result.final_losses.items())
        print(f"{result.out}: step {result.step}/{args.steps}, {result.wall_time_s:.0f} s, {losses}")
    return 0
