"""Training: data preparation, LR schedule, EMA, determinism, resume, the three kinds and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import xarray as xr
from safetensors.torch import load_file

from seaice_explorer.checkpoints import checkpoint_hash, load_checkpoint
from seaice_explorer.diffusion.pipeline import load_pipeline
from seaice_explorer.grid import default_grid
from seaice_explorer.registry import ModelEntry
from seaice_explorer.training import TrainOptions, load_training_data, lr_at, train_diffusion, train_vae
from seaice_explorer.training.ema import EMA
from seaice_explorer.training.vae import encode_dataset
from seaice_explorer.variables import VARIABLES

TINY_VAE = {"base_channels": 8, "latent_channels": 4, "downsample": 4}
TINY_DM = {"kind": "dm", "base_channels": 8, "channel_mults": [1, 2]}
FAST = dict(batch_size=2, progress=False, preview=False, device="cpu")


def synthetic_states(size: int = 16, n: int = 6, seed: int = 0) -> xr.Dataset:
    """Canonical Dataset: an ice cap whose edge moves with a season, values at the bounds, NaN on land."""
    grid = default_grid(size)
    rng = np.random.default_rng(seed)
    lat, ocean = grid.lat.values, grid.mask.values > 0
    edge = 72 + 6 * np.cos(2 * np.pi * np.arange(n) / n)[:, None, None]
    fields = {
        "sic": np.clip((lat - edge) / 5 + 0.5, 0, 1),
        "sit": np.clip((lat - edge) / 6, 0, None),
        "sid": np.clip(rng.uniform(-0.2, 1.2, (n, size, size)), 0, 1),
        "siu": rng.normal(0, 0.05, (n, size, size)),
        "siv": rng.normal(0, 0.05, (n, size, size)),
    }
    data = {k: (("time", "y", "x"), np.where(ocean, v, np.nan).astype(np.float32), VARIABLES[k].cf_attrs())
            for k, v in fields.items()}
    ds = xr.Dataset(data, coords=grid.coords).assign_coords(time=np.arange(n).astype("datetime64[D]"))
    ds.attrs.update(grid.attrs, title="synthetic test states")
    return ds


@pytest.fixture(scope="module")
def states() -> xr.Dataset:
    return synthetic_states()


def _weights(folder, name="model.safetensors"):
    return load_file(str(folder / name))


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_training_data_normalised_with_exact_bounds(states):
    td = load_training_data(states)
    ocean = td.mask > 0
    assert td.fields.shape == (6, 5, 16, 16)
    assert (ocean.numpy() == (states.mask.values > 0)).all()
    assert (td.fields[:, :, ~ocean] == 0).all()  # land is zero
    lower, upper = td.bounds
    sic = td.fields[:, 1][:, ocean]
    assert (sic >= lower[1]).all() and (sic <= upper[1]).all()
    # cells at sic = 0 and 1 sit *exactly* on the normalised bounds (censored likelihood needs it)
    raw = torch.from_numpy(states.sic.values[:, ocean.numpy()])
    assert (sic == lower[1]).sum() == (raw == 0).sum() > 0
    assert (sic == upper[1]).sum() == (raw == 1).sum() > 0
    assert math.isinf(lower[3]) and math.isinf(upper[0])
    # data normalisation: zero mean, unit variance over ocean cells
    tdd = load_training_data(states, normalisation="data")
    vals = tdd.fields[:, 3][:, ocean]
    assert abs(vals.mean()) < 1e-4 and abs(vals.std(unbiased=False) - 1) < 1e-3


def test_lr_schedule_warmup_then_cosine():
    base, warm, total, floor = 1e-3, 10, 110, 0.05
    assert [lr_at(s, base, warm, total, floor) for s in range(3)] == pytest.approx([1e-4, 2e-4, 3e-4])
    assert lr_at(9, base, warm, total, floor) == pytest.approx(base)
    assert lr_at(10, base, warm, total, floor) == pytest.approx(base)
    assert lr_at(60, base, warm, total, floor) == pytest.approx(base * (floor + (1 - floor) * 0.5))
    assert lr_at(110, base, warm, total, floor) == pytest.approx(base * floor)
    mid = [lr_at(s, base, warm, total, floor) for s in range(10, 111)]
    assert all(b <= a for a, b in zip(mid, mid[1:]))  # monotone decay after the warm-up
    assert TrainOptions(steps=1000).warmup_steps == 50 and TrainOptions(steps=100_000).warmup_steps == 500


def test_ema_update_rule():
    net = torch.nn.Linear(2, 2)
    ema = EMA(net, decay=0.9)
    before = {k: v.clone() for k, v in ema.module.state_dict().items()}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    ema.update(net, step=100)  # decay_t = min(0.9, 101/110) = 0.9
    for k, v in ema.module.state_dict().items():
        torch.testing.assert_close(v, 0.9 * before[k] + 0.1 * net.state_dict()[k])
    assert ema.decay_at(0) == pytest.approx(0.1)


def test_vae_training_is_deterministic_and_ema_differs(states, tmp_path):
    a = train_vae(TINY_VAE, states, tmp_path / "a", 3, seed=1, **FAST)
    b = train_vae(TINY_VAE, states, tmp_path / "b", 3, seed=1, **FAST)
    c = train_vae(TINY_VAE, states, tmp_path / "c", 3, seed=2, **FAST)
    assert a.step == 3
    assert _equal(_weights(a.out), _weights(b.out))
    assert checkpoint_hash(a.out) == checkpoint_hash(b.out) != checkpoint_hash(c.out)
    raw = _weights(a.out / "train_state")
    ema = _weights(a.out)
    assert any(not torch.equal(raw[k], ema[k]) for k in raw)  # EMA is its own set of weights
    card = (a.out / "README.md").read_text()
    assert "Reconstruction error per variable" in card and "sit RMSE [m]" in card


def test_resume_continues_from_the_step(states, tmp_path):
    full = train_vae(TINY_VAE, states, tmp_path / "full", 4, seed=0, checkpoint_every=2, **FAST)
    cut = train_vae(TINY_VAE, states, tmp_path / "cut", 4, seed=0, checkpoint_every=2, stop_at=2, **FAST)
    assert cut.step == 2
    assert json.loads((cut.out / "train_state" / "state.json").read_text())["step"] == 2
    assert "in progress" in (cut.out / "README.md").read_text()
    resumed = train_vae(TINY_VAE, states, tmp_path / "cut", 4, seed=0, checkpoint_every=2, resume=True, **FAST)
    assert resumed.step == 4
    assert _equal(_weights(full.out), _weights(resumed.out))
    assert _equal(_weights(full.out / "train_state"), _weights(resumed.out / "train_state"))
    assert _equal(_weights(full.out / "train_state", "optimizer.safetensors"),
                  _weights(resumed.out / "train_state", "optimizer.safetensors"))


def test_resume_refuses_a_different_config(states, tmp_path):
    from seaice_explorer.errors import SeaIceInputError

    train_vae(TINY_VAE, states, tmp_path / "v", 2, **FAST)
    with pytest.raises(SeaIceInputError, match="config differs"):
        train_vae({**TINY_VAE, "beta": 0.5}, states, tmp_path / "v", 4, resume=True, **FAST)


def test_dm_trains_on_crops_and_keeps_the_mask(states, tmp_path):
    res = train_diffusion(TINY_DM, states, tmp_path / "dm", 3, crop=8, **FAST)
    net, cfg = load_checkpoint(res.out)
    assert cfg.kind == "dm" and cfg.grid_size == 16 and cfg.mean == tuple(VARIABLES[v].mean for v in cfg.variables)
    assert "cond" not in net.state_dict()  # the conditioning is an argument of D(x, σ, cond=...)
    pipe = load_pipeline(ModelEntry("dm", res.out, cfg), "cpu")
    cond = pipe.cond["cond"][0]  # (3, 16, 16): mask, x, y from the grid
    assert torch.equal(cond[0], torch.from_numpy((states.mask.values > 0).astype(np.float32)))
    assert torch.equal(cond[1, 0], torch.linspace(-1, 1, 16)) and torch.equal(cond[2, :, 0], torch.linspace(-1, 1, 16))
    assert all(math.isfinite(v) for v in res.final_losses.values())


def test_ldm_standardises_latents_and_records_the_vae(states, tmp_path):
    """The VAE owns the latent scaling (set when it is trained); the ldm trains on the standardised latents."""
    vae_res = train_vae({**TINY_VAE, "decoder": "censored"}, states, tmp_path / "vae-censored", 2, **FAST)
    res = train_diffusion({"kind": "ldm", "base_channels": 8, "attn_levels": [2]}, states, tmp_path / "ldm", 2,
                          vae=vae_res.out, **FAST)
    _, cfg = load_checkpoint(res.out)
    assert cfg.kind == "ldm" and cfg.vae == "vae-censored" and cfg.vae_hash == checkpoint_hash(vae_res.out)
    assert (cfg.latent_channels, cfg.latent_size) == (4, 4)
    assert "VAE sit RMSE [m]" in (res.out / "README.md").read_text()
    vae, vae_cfg = load_checkpoint(vae_res.out)
    assert cfg.latent_mean is None and vae_cfg.latent_mean is not None  # not a second copy in the ldm config
    z = encode_dataset(vae, load_training_data(states).fields)
    zn = (z - torch.tensor(vae_cfg.latent_mean)[:, None, None]) / torch.tensor(vae_cfg.latent_std)[:, None, None]
    torch.testing.assert_close(zn.mean(dim=(0, 2, 3)), torch.zeros(4), atol=1e-4, rtol=0)
    torch.testing.assert_close(zn.std(dim=(0, 2, 3)), torch.ones(4), atol=1e-4, rtol=0)


def test_cli_trains_and_records_the_command(states, tmp_path, monkeypatch, capsys):
    from seaice_explorer.cli import main

    path = tmp_path / "states.nc"
    states.to_netcdf(path)
    out = tmp_path / "models" / "vae-gaussian"
    argv = ["train", "vae", "--data", str(path), "--out", str(out), "--steps", "2", "--batch-size", "2",
            "--set", "base_channels=8", "--set", "latent_channels=4", "--device", "cpu", "--no-progress"]
    monkeypatch.setattr("sys.argv", ["seaice-explorer", *argv])
    assert main(argv) == 0
    _, cfg = load_checkpoint(out)
    assert cfg.base_channels == 8 and cfg.decoder == "gaussian"
    card = (out / "README.md").read_text()
    assert "seaice-explorer train vae --data" in card and "--set base_channels=8" in card
    assert (out / "sample.png").stat().st_size > 1000
    assert "step 2/2" in capsys.readouterr().out


def test_relative_out_named_like_a_shipped_model_keeps_its_own_weights(states, tmp_path, monkeypatch):
    """Training into ./dm must not reload (on finishing or on resume) the models dir's dm."""
    shipped = tmp_path / "shipped"
    other = train_diffusion(TINY_DM, states, shipped / "dm", 2, seed=5, **FAST)
    monkeypatch.setenv("SEAICE_EXPLORER_MODELS", str(shipped))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    cut = train_diffusion(TINY_DM, states, "dm", 4, seed=0, checkpoint_every=2, stop_at=2, **FAST)
    assert cut.out == work / "dm"
    resumed = train_diffusion(TINY_DM, states, "dm", 4, seed=0, checkpoint_every=2, resume=True, **FAST)
    full = train_diffusion(TINY_DM, states, tmp_path / "full" / "dm", 4, seed=0, checkpoint_every=2, **FAST)
    assert checkpoint_hash(work / "dm") != checkpoint_hash(other.out)
    assert _equal(_weights(work / "dm"), _weights(full.out))  # the EMA survived resume and the final card
    assert f"`{checkpoint_hash(work / 'dm')}`" in (work / "dm" / "README.md").read_text()


def test_resume_from_a_state_kept_outside_the_work_tree(states, tmp_path):
    """The resume state carries its checkpoint: a fresh out folder (work tree laid anew) with only the
    state linked in resumes to the same weights as an uncut run."""
    full = train_vae(TINY_VAE, states, tmp_path / "full", 4, checkpoint_every=2, **FAST)
    cut = train_vae(TINY_VAE, states, tmp_path / "cut", 4, stop_at=2, checkpoint_every=2, **FAST)
    kept = tmp_path / "kept"
    (cut.out / "train_state").rename(kept)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "train_state").symlink_to(kept)
    resumed = train_vae(TINY_VAE, states, fresh, 4, resume=True, checkpoint_every=2, **FAST)
    assert resumed.step == 4 and _equal(_weights(full.out), _weights(resumed.out))


def test_resume_without_a_state_is_a_warm_restart_from_the_checkpoint(states, tmp_path):
    """A checkpoint whose train_state/ was lost (a new machine) resumes from its EMA weights and its
    training.json: the step, the states seen and the restart carry on; the first step's raw weights
    start from the checkpoint's EMA weights."""
    first = train_diffusion(TINY_DM, states, tmp_path / "m", 4, seed=0, checkpoint_every=2, **FAST)
    record = json.loads((first.out / "training.json").read_text())
    assert record["step"] == 4 and record["states_seen"] == 8 and record["restarts"] == []
    ema_before = _weights(first.out)
    import shutil

    shutil.rmtree(first.out / "train_state")
    more = train_diffusion(TINY_DM, states, first.out, 6, seed=0, checkpoint_every=2, resume=True,
                           snapshot_every=2, stop_at=5, **FAST)
    assert more.step == 5
    raw = _weights(first.out / "train_state")
    moved = max(float((raw[k] - ema_before[k]).abs().max()) for k in raw)
    assert 0 < moved < 0.05  # one small step away from the EMA weights, not a fresh initialisation
    record = json.loads((first.out / "training.json").read_text())
    assert record == {"step": 5, "elapsed_s": record["elapsed_s"], "states_seen": 10, "restarts": [4],
                      "threads": record["threads"]}
    assert record["threads"] >= 1
    resumed = train_diffusion(TINY_DM, states, first.out, 6, seed=0, checkpoint_every=2, resume=True,
                              snapshot_every=2, **FAST)  # now an ordinary resume: the restart is remembered
    record = json.loads((first.out / "training.json").read_text())
    assert resumed.step == 6 and record["states_seen"] == 12 and record["restarts"] == [4]
    assert (first.out / "train_state" / "snapshots" / "step_000006" / "model.safetensors").is_file()
    assert "warm restarts" in (first.out / "README.md").read_text()


def test_an_unreadable_training_record_is_a_clear_error(states, tmp_path):
    first = train_diffusion(TINY_DM, states, tmp_path / "m", 2, seed=0, checkpoint_every=2, **FAST)
    (first.out / "training.json").write_text("{not json")
    with pytest.raises(Exception, match="training.json"):
        train_diffusion(TINY_DM, states, first.out, 4, seed=0, resume=True, **FAST)
