"""The paper's 512² configuration (Finn et al. 2024): the ``paper-512`` preset's shapes, the
FLOP counter of ``bench --flops``, and (slow) the whole chain on synthetic CREG025 Moorings files:
moorings -> prepare -> train vae/ldm/dm -> generate -> stats -> the app."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pytest
import torch
import xarray as xr
from torch.utils.flop_counter import FlopCounterMode

from seaice_explorer.bench_flops import count_flops, flop_report, nfe, preset_configs
from seaice_explorer.checkpoints import build_module
from seaice_explorer.cli import main
from seaice_explorer.networks.unet import fixed_conditioning
from seaice_explorer.training import cli as train_cli
from seaice_explorer.training.presets import PRESETS, preset_hyperparameters

ROOT = Path(__file__).resolve().parents[1]


def _train_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    return parser.parse_args(list(argv))


# ----------------------------------------------------------------------------------- presets
def test_default_preset_keeps_the_shipped_hyperparameters():
    assert train_cli.default_hyperparameters("vae") == {"latent_channels": 8, "base_channels": 32, "downsample": 4,
                                                         "beta": 1e-3}
    assert train_cli.default_hyperparameters("dm") == {"kind": "dm", "base_channels": 32, "channel_mults": [1, 2, 2, 2, 2],
                                                        "attn_levels": [4], "p_mean": 0.9, "p_std": 1.4}
    assert train_cli.default_hyperparameters("ldm") == {"kind": "ldm", "base_channels": 32, "channel_mults": [1, 2, 2],
                                                         "attn_levels": [2]}
    assert set(PRESETS) == {"default-128", "paper-512"} and all(set(p) == {"vae", "dm", "ldm"} for p in PRESETS.values())


def test_preset_then_config_then_set(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"base_channels": 48, "attn_heads": 2}))
    args = _train_args("dm", "--preset", "paper-512", "--out", "x", "--config", str(cfg), "--set", "base_channels=16")
    params = train_cli.build_config(args)
    assert params["channel_mults"] == [1, 2, 2, 2, 2, 2, 2]  # the preset
    assert params["attn_heads"] == 2 and params["base_channels"] == 16  # --config, then --set wins
    params["channel_mults"].append(2)
    assert preset_hyperparameters("dm", "paper-512")["channel_mults"] == [1, 2, 2, 2, 2, 2, 2]  # a fresh copy
    vae = train_cli.build_config(_train_args("vae", "--preset", "paper-512", "--decoder", "censored", "--out", "x"))
    assert vae["latent_channels"] == 16 and vae["downsample"] == 8 and vae["decoder"] == "censored"
    with pytest.raises(SystemExit):
        _train_args("vae", "--preset", "paper-1024", "--out", "x")


def test_paper_512_shapes_on_the_meta_device():
    cfgs = preset_configs("paper-512")
    assert (cfgs["vae"].latent_channels, cfgs["vae"].latent_size) == (16, 64)
    with torch.device("meta"):
        vae = build_module(cfgs["vae"])
        z = vae.encode(torch.zeros(1, 5, 512, 512))[0]
        assert tuple(z.shape) == (1, 16, 64, 64)
        assert tuple(vae.decode(z)[0].shape) == (1, 5, 512, 512)
        dm = build_module(cfgs["dm"])
        out = dm(torch.zeros(1, 5, 512, 512), torch.zeros(1), cond=torch.zeros(1, 3, 512, 512))
        assert tuple(out.shape) == (1, 5, 512, 512)
        ldm = build_module(cfgs["ldm"])
        assert tuple(ldm(torch.zeros(1, 16, 64, 64), torch.zeros(1)).shape) == (1, 16, 64, 64)


@pytest.mark.parametrize("decoder", ["gaussian", "censored"])
def test_paper_512_vae_runs_on_a_small_field_with_the_same_downsampling(decoder):
    cfg = preset_configs("paper-512", grid_size=64)["vae"]
    torch.manual_seed(0)
    vae = build_module(type(cfg).from_dict({**cfg.to_dict(), "decoder": decoder}))
    x = torch.randn(2, 5, 64, 64)
    assert tuple(vae.encode(x)[0].shape) == (2, 16, 8, 8)  # f = 8
    loss = vae.loss(x, torch.ones(64, 64), torch.full((5,), -3.0), torch.full((5,), 3.0))
    assert torch.isfinite(loss.total)


def test_paper_512_dm_trains_on_64_crops_and_samples_whole_fields():
    cfg = preset_configs("paper-512")["dm"]
    torch.manual_seed(0)
    net = build_module(cfg)  # 7 levels: a crop must divide by 2**6
    cond = fixed_conditioning(torch.ones(64, 64))[None]
    assert tuple(net(torch.randn(1, 5, 64, 64), torch.zeros(1), cond=cond).shape) == (1, 5, 64, 64)


# ----------------------------------------------------------------------------------- FLOPs
def test_flop_counts_are_positive_and_count_the_real_modules():
    report = flop_report(steps=20)
    for preset, row in report["presets"].items():
        assert row["nfe"] == 39
        for net, r in row["networks"].items():
            assert r["params"] > 0 and r["flops"] > 0, (preset, net)
        dm, ldm, dec = (row["networks"][k]["flops"] for k in ("dm U-Net", "ldm U-Net", "VAE decoder"))
        assert row["predicted_ratio"] == round(dm * 39 / (ldm * 39 + dec), 1)
    cfg = preset_configs("default-128")["ldm"]
    net = build_module(cfg)
    assert count_flops(cfg)["params"] == sum(p.numel() for p in net.parameters())
    with torch.no_grad(), FlopCounterMode(display=False) as real:  # the meta count equals a real CPU run
        net(torch.randn(1, 8, 32, 32), torch.zeros(1))
    assert count_flops(cfg)["flops"] == real.get_total_flops()


def test_flops_of_the_convolutional_unet_scale_with_the_area():
    cfg = preset_configs("paper-512")["dm"]
    ratio = count_flops(cfg, 512)["flops"] / count_flops(cfg, 256)["flops"]
    assert 3.9 < ratio < 4.1  # convolutions: 4x; attention at the lowest level: negligible
    assert nfe("heun", 20) == 39 and nfe("dpmpp-2m", 20) == 20


def test_bench_flops_cli(capsys):
    assert main(["bench", "--flops", "--json", "--steps", "10", "--sampler", "dpmpp-2m"]) == 0
    report = json.loads(capsys.readouterr().out)
    row = report["presets"]["paper-512"]
    assert row["grid_size"] == 512 and row["latent"] == [16, 64, 64] and row["nfe"] == 10
    assert row["networks"]["dm U-Net"]["input"] == [5, 512, 512] and report["paper_ratio"] == 25.0
    assert main(["bench", "--flops"]) == 0
    assert "predicted dm ÷ ldm" in capsys.readouterr().out


# ----------------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_paper_512_end_to_end(shared_data, tmp_path, capsys):
    """Moorings files on the real 512² CREG025 grid -> Zarr store -> paper-512 models -> samples -> stats -> app.

    A few steps each, batch 1, on the CPU: it checks the chain and the shapes, not the skill."""
    aux = shared_data / "nextsim" / "ds_auxiliary.nc"
    if not aux.is_file():
        pytest.skip(f"{aux} not found")
    run, store, models = tmp_path / "run", tmp_path / "nextsim.zarr", tmp_path / "models"
    t0 = time.perf_counter()
    assert main(["moorings", "--grid", str(aux), "--out", str(run), "--start", "2000-01", "--months", "2",
                 "--days", "2", "--resolution-km", "25"]) == 0
    assert main(["prepare", str(run / "Moorings_*.nc"), "--out", str(store),
                 "--train", "2000-01-01..2000-01-31", "--validation", "2000-02-01..2000-02-29"]) == 0
    common = ["--preset", "paper-512", "--data", str(store), "--steps", "2", "--batch-size", "1", "--device", "cpu",
              "--no-progress", "--no-preview", "--checkpoint-every", "1000"]
    assert main(["train", "vae", "--decoder", "censored", "--out", str(models / "vae-censored"), *common]) == 0
    assert main(["train", "ldm", "--vae", str(models / "vae-censored"), "--out", str(models / "ldm-censored"),
                 "--set", "selected=true", *common]) == 0
    assert main(["train", "dm", "--crop", "128", "--out", str(models / "dm"), *common]) == 0
    vae = json.loads((models / "vae-censored" / "config.json").read_text())
    ldm = json.loads((models / "ldm-censored" / "config.json").read_text())
    dm = json.loads((models / "dm" / "config.json").read_text())
    assert (vae["grid_size"], vae["latent_channels"], vae["downsample"]) == (512, 16, 8)
    assert (ldm["latent_size"], ldm["channel_mults"]) == (64, [1, 2, 2, 2])
    assert (dm["grid_size"], len(dm["channel_mults"])) == (512, 7)
    capsys.readouterr()

    for backend in ("ldm-censored", "dm"):  # dm: trained on 128² crops, sampled on the whole 512² grid
        out = tmp_path / f"{backend}.nc"
        assert main(["generate", "--models", str(models), "--backend", backend, "--n", "1", "--steps", "2",
                     "--device", "cpu", "--no-progress", "--out", str(out)]) == 0
        samples = xr.open_dataset(out)
        assert samples.sizes == {"sample": 1, "y": 512, "x": 512} and int(samples["mask"].sum()) == 127_152
        assert samples.attrs["nfe"] == 3
    # stats of the latent samples and of a Moorings file (a 2-step dm's raw samples are far outside the
    # bounds, which `stats` rightly refuses)
    for path in (tmp_path / "ldm-censored.nc", run / "Moorings_2000m01.nc"):
        capsys.readouterr()
        assert main(["stats", "--json", str(path)]) == 0
        assert json.loads(capsys.readouterr().out)

    # the app, built in-process as the server builds it, with the Moorings files as --reference
    sys.path.insert(0, str(ROOT))
    try:
        import app

        name = "neXtSIM: Moorings_2000m02.nc"
        argv = ["--models", str(models), "--reference", str(run / "Moorings_2000m02.nc"), "--device", "cpu",
                "--no-autogenerate"]
        assert app.create_app(argv).main[0] is not None
        state = app.create_state(app.parse_args(argv))
        state.executor, state.auto_regenerate = None, False  # generate inline, as without a server
        assert state.backends == ["ldm-censored"] and name in state.param.reference.objects
        # the models' dataset is the store's path, a label never opened (their grid is in grid.nc), so
        # the server's --reference is the family's reference from the start
        assert state.reference == name and (models / "ldm-censored" / "grid.nc").is_file()
        state.param.update(n=1, steps=2)
        assert state.load_reference(), state.message
        assert state.reference_data.n_states == 2
        assert state.generate() is not None and not state.running
        assert set(state.results) == {"ldm-censored"}
    finally:
        sys.path.remove(str(ROOT))
    print(f"paper-512 end to end: {time.perf_counter() - t0:.0f} s")


def test_timed_flop_report_gives_seconds_and_their_ratio():
    from seaice_explorer.bench_flops import preset_flops

    row = preset_flops("default-128", steps=2, timed=True)  # the 128² networks: a second or two
    secs = {k: r["cpu_seconds"] for k, r in row["networks"].items()}
    assert all(s > 0 for s in secs.values()), secs
    n = row["nfe"]
    assert row["timed_ratio"] == round(secs["dm U-Net"] * n / (secs["ldm U-Net"] * n + secs["VAE decoder"]), 1)
