"""Data-parallel training: ``torchrun`` with 2 CPU processes (Gloo) and a global batch of B equals
1 process with B, up to the order of floating-point sums.

Tolerance: the raw and the EMA weights agree to ``atol = rtol = 1e-5`` after 3 AdamW steps (every
random draw is made for the global batch and sliced per process; the gradients differ only by the
summation order of DDP's average of two half-batch means).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from seaice_explorer.data.store import prepare
from seaice_explorer.training import train_diffusion, train_vae
from seaice_explorer.training.cli import default_hyperparameters

from test_store import canonical

TOL = dict(atol=1e-5, rtol=1e-5)
STEPS, BATCH = 3, 4
ARGS = ["--steps", str(STEPS), "--batch-size", str(BATCH), "--device", "cpu", "--no-progress", "--no-preview",
        "--seed", "3", "--lr", "1e-3", "--set", "base_channels=8", "--workers", "0"]


def torchrun(args: list[str], cwd) -> None:
    """``torchrun --standalone --nproc_per_node=2 -m seaice_explorer.cli train ...`` with one thread each."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "seaice_explorer.cli", "train", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]


def assert_same_weights(a, b) -> None:
    for name in ("model.safetensors", "train_state/model.safetensors"):  # EMA and raw weights
        wa, wb = load_file(str(a / name)), load_file(str(b / name))
        assert wa.keys() == wb.keys()
        for k in wa:
            torch.testing.assert_close(wa[k], wb[k], **TOL, msg=f"{name} {k}")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    path = canonical(folder / "states.nc", pd.date_range("2000-01-01", periods=10, freq="D"))
    return path, prepare(path, folder / "states.zarr")  # 8 train days: 2 whole batches of 4 per epoch


def test_two_processes_equal_one_in_memory_vae_with_crops(data, tmp_path):
    """In memory: each process takes its rows of the same random global batch; the crops hold different
    numbers of ocean cells, which the per-process loss rescaling accounts for."""
    path, _ = data
    torchrun(["vae", "--data", str(path), "--out", str(tmp_path / "two"), "--crop", "8", "--set", "latent_channels=4",
              *ARGS], tmp_path)
    params = {**default_hyperparameters("vae"), "base_channels": 8, "latent_channels": 4}  # as the CLI builds it
    one = train_vae(params, path, tmp_path / "one", STEPS, batch_size=BATCH, crop=8, seed=3, lr=1e-3, device="cpu",
                    progress=False, preview=False)
    assert_same_weights(tmp_path / "two", one.out)
    card = (tmp_path / "two" / "README.md").read_text()
    assert "DDP over 2 processes" in card and "| batch size | 4 |" in card  # the global batch


def test_two_processes_equal_one_streaming_dm(data, tmp_path):
    """Streamed from a store: DistributedSampler gives each process its rows of the same global batch."""
    _, store = data
    dm = ["--set", "channel_mults=[1,2]", "--set", "attn_levels=[]"]
    torchrun(["dm", "--data", str(store), "--out", str(tmp_path / "two"), *dm, *ARGS], tmp_path)
    params = {**default_hyperparameters("dm"), "base_channels": 8, "channel_mults": [1, 2], "attn_levels": []}
    one = train_diffusion(params, store, tmp_path / "one", STEPS, batch_size=BATCH, seed=3, lr=1e-3, device="cpu",
                          progress=False, preview=False, workers=0)
    assert_same_weights(tmp_path / "two", one.out)
    assert not (tmp_path / "two" / "sample.png").exists()
