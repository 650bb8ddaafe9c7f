"""Checkpoints: round trip, no pickles, clear errors on corrupt files and mismatched configs."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

import seaice_explorer
from seaice_explorer import checkpoints as ck
from seaice_explorer.checkpoints import (
    DataDenoiserConfig,
    DenoiserConfig,
    LatentDenoiserConfig,
    VAEConfig,
    build_module,
    checkpoint_hash,
    config_from_dict,
    load_checkpoint,
    save_checkpoint,
)
from seaice_explorer.errors import SeaIceInputError
from seaice_explorer.networks.unet import fixed_conditioning

DM = DataDenoiserConfig(grid_size=32, base_channels=8)
VAE_CFG = VAEConfig(decoder="censored", grid_size=32, base_channels=8, latent_channels=4)
LDM = LatentDenoiserConfig(grid_size=32, base_channels=8, attn_levels=(2,), vae="vae-censored", latent_channels=4,
                           latent_size=8, latent_mean=(0.1, 0.2, 0.3, 0.4), latent_std=(1.0, 2.0, 3.0, 4.0))


def _random_module(config, seed: int = 0) -> torch.nn.Module:
    module = build_module(config)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    return module.eval()


COND = fixed_conditioning((torch.rand(32, 32, generator=torch.Generator().manual_seed(1)) > 0.3).float())[None]


@pytest.fixture()
def saved_dm(tmp_path) -> tuple[Path, torch.nn.Module]:
    module = _random_module(DM)
    return save_checkpoint(tmp_path / "dm", module, DM, {"command": "pytest", "steps": 3}), module


@pytest.mark.parametrize("config", [DM, VAE_CFG, LDM], ids=["dm", "vae", "ldm"])
def test_round_trip_gives_identical_outputs(tmp_path, config):
    module = _random_module(config)
    save_checkpoint(tmp_path / "m", module, config, {"final_losses": {"loss": 0.5}})
    loaded, cfg = load_checkpoint(tmp_path / "m")
    assert cfg == config
    assert not loaded.training
    x = torch.randn(2, config.in_channels if isinstance(config, DenoiserConfig) else 5,
                    *(2 * (config.spatial_size if isinstance(config, DenoiserConfig) else 32,)))
    with torch.no_grad():
        if isinstance(config, VAEConfig):
            assert torch.equal(module(x), loaded(x))
            assert torch.equal(module.log_scale, loaded.log_scale)
        else:
            sig = torch.full((2,), 0.3)
            cond = {"cond": COND} if config.cond_channels else {}
            assert torch.equal(module(x, sig, **cond), loaded(x, sig, **cond))
    assert {p.name for p in (tmp_path / "m").iterdir()} == {"config.json", "model.safetensors", "README.md"}


def test_legacy_conditioning_buffer_in_the_weights_is_ignored(saved_dm):
    """Earlier versions stored the dm's mask/x/y as a U-Net buffer ``cond``; such weights still load."""
    from safetensors.torch import load_file, save_file

    folder, module = saved_dm
    tensors = load_file(str(folder / "model.safetensors"))
    save_file({**tensors, "cond": COND[0]}, str(folder / "model.safetensors"))
    loaded, _ = load_checkpoint(folder)
    assert "cond" not in loaded.state_dict()
    x, sig = torch.randn(1, 5, 32, 32), torch.full((1,), 0.3)
    assert torch.equal(module(x, sig, cond=COND), loaded(x, sig, cond=COND))


def test_loading_never_unpickles(saved_dm, monkeypatch):
    folder, _ = saved_dm

    def forbidden(*args, **kwargs):
        raise AssertionError("a pickle was loaded")

    for name in ("load", "loads"):
        monkeypatch.setattr(pickle, name, forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    load_checkpoint(folder)
    package = Path(seaice_explorer.__file__).parent
    for path in [package / "checkpoints.py", *sorted((package / "training").glob("*.py"))]:
        text = path.read_text()
        assert "torch.load" not in text and "import pickle" not in text, path


def test_model_card_fields(saved_dm):
    folder, _ = saved_dm
    card = (folder / "README.md").read_text()
    assert "`pytest`" in card and checkpoint_hash(folder) in card and '"kind": "dm"' in card


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_weights_raise(saved_dm, damage):
    folder, _ = saved_dm
    path = folder / "model.safetensors"
    raw = path.read_bytes()
    path.write_bytes({"garbage": b"not a safetensors file" * 10, "truncated": raw[: len(raw) // 2], "empty": b""}[damage])
    with pytest.raises(SeaIceInputError, match="model.safetensors.*(corrupt|truncated)"):
        load_checkpoint(folder)


def test_shape_mismatch_raises(saved_dm):
    folder, _ = saved_dm
    cfg = json.loads((folder / "config.json").read_text())
    cfg["base_channels"] = 16
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(SeaIceInputError, match=r"model.safetensors.*shape"):
        load_checkpoint(folder)


def test_missing_tensor_raises(tmp_path):
    from safetensors.torch import load_file, save_file

    module = _random_module(VAE_CFG)
    folder = save_checkpoint(tmp_path / "vae", module, VAE_CFG)
    tensors = load_file(folder / "model.safetensors")
    tensors.pop("log_scale")
    save_file(tensors, folder / "model.safetensors")
    with pytest.raises(SeaIceInputError, match="missing.*log_scale"):
        load_checkpoint(folder)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c.update(shade="blue"), "unknown config keys.*shade"),
        (lambda c: c.update(colour="blue"), "colour must look like"),
        (lambda c: c.update(kind="gan"), "unknown checkpoint kind"),
        (lambda c: c.update(variables=["sit", "zzz", "sid", "siu", "siv"]), "unknown variables"),
        (lambda c: c.update(mean=[0.0]), "mean must hold"),
        (lambda c: c.update(sigma_min=100.0), "sigma_min"),
        (lambda c: c.update(kind="ldm"), "ldm config needs"),
    ],
)
def test_wrong_config_raises(saved_dm, edit, message):
    folder, _ = saved_dm
    cfg = json.loads((folder / "config.json").read_text())
    edit(cfg)
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(SeaIceInputError, match=message) as err:
        load_checkpoint(folder)
    assert "config.json" in str(err.value)


def test_missing_files_raise(tmp_path, saved_dm):
    with pytest.raises(SeaIceInputError, match="not found"):
        load_checkpoint("no-such-model", models_dir=tmp_path)
    folder, _ = saved_dm
    (folder / "config.json").write_text("{not json")
    with pytest.raises(SeaIceInputError, match="unreadable JSON"):
        load_checkpoint(folder)
    (folder / "config.json").unlink()
    with pytest.raises(SeaIceInputError, match="config file missing"):
        load_checkpoint(folder)


def test_load_by_name_and_env(tmp_path, saved_dm, monkeypatch):
    folder, _ = saved_dm  # tmp_path / "dm"
    _, cfg = load_checkpoint("dm", models_dir=tmp_path)
    assert cfg == DM
    monkeypatch.setenv(ck.MODELS_ENV, str(tmp_path))
    assert ck.resolve_models_dir() == tmp_path
    _, cfg = load_checkpoint("dm")
    assert cfg == DM
    monkeypatch.delenv(ck.MODELS_ENV)
    assert ck.resolve_models_dir() == Path(seaice_explorer.__file__).resolve().parents[1] / "models"


def test_hash_is_stable_and_tracks_weights(tmp_path):
    module = _random_module(VAE_CFG)
    a = checkpoint_hash(save_checkpoint(tmp_path / "a", module, VAE_CFG))
    b = checkpoint_hash(save_checkpoint(tmp_path / "b", load_checkpoint(tmp_path / "a")[0], VAE_CFG))
    assert a == b and len(a) == 12
    with torch.no_grad():
        module.log_scale.add_(1.0)
    assert checkpoint_hash(save_checkpoint(tmp_path / "c", module, VAE_CFG)) != a


def test_config_round_trip_and_registry():
    for cfg in (DM, VAE_CFG, LDM, VAEConfig(downsample=8, latent_channels=16, grid_size=512)):
        assert config_from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert VAEConfig(downsample=8, latent_channels=16, grid_size=512).latent_size == 64
    with pytest.raises(Exception):
        DM.kind = "ldm"  # type: ignore[misc]  # frozen


def test_edm_precond_passes_the_conditioning_to_the_network(saved_dm):
    """D(x, σ, cond=c) = c_skip x + c_out F(c_in x, c_noise, cond=c) (Karras et al. 2022, Eq. 7)."""
    from seaice_explorer.diffusion.precond import EDMPrecond

    folder, module = saved_dm
    net, cfg = load_checkpoint(folder)
    denoiser = EDMPrecond.from_config(net, cfg)
    assert (denoiser.sigma_min, denoiser.sigma_max) == (cfg.sigma_min, cfg.sigma_max)
    x = torch.randn(1, 5, 32, 32)
    sigma = torch.tensor([0.7])
    c_in = 1 / (sigma**2 + 1).sqrt()
    expected = x / (1 + sigma**2) + sigma / (sigma**2 + 1).sqrt() * module(c_in * x, sigma.log() / 4, cond=COND)
    torch.testing.assert_close(denoiser(x, sigma, cond=COND), expected)


def test_build_module_passes_the_config_by_keyword(monkeypatch):
    """Networks are built from ``config.network_kwargs()`` by keyword, never from a positional list."""
    seen = []

    def spy(real):
        def build(*args, **kwargs):
            seen.append(args)
            return real(*args, **kwargs)
        return build

    monkeypatch.setattr(ck, "UNet", spy(ck.UNet))
    monkeypatch.setattr(ck, "VAE", spy(ck.VAE))
    for config in (DM, LDM, VAE_CFG):
        build_module(config)
    assert seen == [(), (), ()]
    assert build_module(DM).cond_channels == DM.cond_channels == 3 and build_module(LDM).cond_channels == 0
    with pytest.raises(TypeError):
        ck.UNet(5, 5, 8)  # hyper-parameters after the channels are keyword-only


def test_resolve_device_is_the_one_resolver():
    assert ck.resolve_device("cpu") == torch.device("cpu")
    assert ck.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert ck.resolve_device(torch.device("cpu")) == torch.device("cpu")
    for device, problem in [("tpu", "unknown device"), ("mps", "not supported"),
                            (f"cuda:{torch.cuda.device_count() + 1}", "CUDA was asked for|GPU")]:
        with pytest.raises(SeaIceInputError, match=problem):
            ck.resolve_device(device)
