"""Training steps per second of one model, settings side by side in one run (issue 21).

python benchmarks/train_speed.py --kind dm --data osisaf --batch-size 4 --steps 20 --threads 1

Each setting trains a fresh copy for ``--steps`` optimiser steps into a temporary folder (no
preview, no checkpoint until the end) and reports the loop's own wall time, so data loading is
left out. Settings: fp32 / bf16 autocast, channels-last on / off.
"""

from __future__ import annotations

import argparse
import json
import tempfile

import torch

from seaice_explorer.training.cli import default_hyperparameters
from seaice_explorer.training.diffusion import train_diffusion
from seaice_explorer.training.data import load_training_data

SETTINGS = {"fp32": dict(bf16=False, channels_last=False), "fp32 channels-last": dict(bf16=False, channels_last=True),
            "bf16 channels-last": dict(bf16=True, channels_last=True)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", default="dm", choices=("dm",))
    ap.add_argument("--data", default="osisaf")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    params = default_hyperparameters(args.kind)
    data = load_training_data(args.data, ["sic"] if args.data.startswith("osisaf") else None)
    rows = {}
    for name, setting in SETTINGS.items():
        with tempfile.TemporaryDirectory() as tmp:
            res = train_diffusion(dict(params), data, tmp, args.steps, batch_size=args.batch_size, device="cpu",
                                  progress=False, preview=False, checkpoint_every=10**9, workers=0, **setting)
        rows[name] = args.steps / res.wall_time_s
    base = rows["fp32"]
    out = {k: {"steps_per_s": round(v, 4), "speed-up": round(v / base, 2)} for k, v in rows.items()}
    out["_settings"] = vars(args)
    print(json.dumps(out, indent=1) if args.json else "\n".join(f"{k:22s} {v['steps_per_s']:.3f} steps/s  x{v['speed-up']}" for k, v in out.items() if not k.startswith("_")))


if __name__ == "__main__":
    main()
