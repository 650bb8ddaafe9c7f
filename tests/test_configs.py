"""Model configs as data: a data-space and a latent denoiser config, picked by ``kind``, that read every
shipped ``config.json`` unchanged and round-trip through ``to_dict``/``from_dict``."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from seaice_explorer.configs import (
    CONFIG_CLASSES,
    MODELS_DIR,
    DataDenoiserConfig,
    DenoiserConfig,
    LatentDenoiserConfig,
    VAEConfig,
    config_from_dict,
    config_json,
    load_config,
)
from seaice_explorer.errors import SeaIceInputError

SHIPPED = sorted(p.parent for p in MODELS_DIR.glob("*/config.json"))
LDM_KEYS = {"vae": "vae-gaussian", "latent_channels": 4, "latent_size": 8}
#: keys of the single config of earlier versions that belong to the other kind (read and dropped)
LEGACY = {"dm": {"vae", "vae_hash", "latent_channels", "latent_size", "latent_mean", "latent_std"},
          "ldm": {"mask_channel", "coord_channels"}}


def test_there_are_shipped_models_of_every_kind() -> None:
    kinds = {json.loads((d / "config.json").read_text())["kind"] for d in SHIPPED}
    assert kinds == {"vae", "dm", "ldm"}


@pytest.mark.parametrize("folder", SHIPPED, ids=[d.name for d in SHIPPED])
def test_every_shipped_config_loads_unchanged_and_round_trips(folder) -> None:
    data = json.loads((folder / "config.json").read_text())
    cfg = load_config(folder)
    assert type(cfg) is CONFIG_CLASSES[data["kind"]]
    out = cfg.to_dict()
    assert {k: data[k] for k in out} == out  # every value kept as written
    assert set(data) - set(out) <= LEGACY.get(data["kind"], set())  # only the other kind's keys dropped
    again = config_from_dict(json.loads(config_json(cfg)), folder)  # what is written from now on reads back
    assert again == cfg and again.to_dict() == out


def test_the_two_denoiser_configs_own_their_fields() -> None:
    dm, ldm = DataDenoiserConfig(), LatentDenoiserConfig(**LDM_KEYS)
    assert isinstance(dm, DenoiserConfig) and isinstance(ldm, DenoiserConfig)
    dm_keys, ldm_keys = set(dm.to_dict()), set(ldm.to_dict())
    assert dm_keys - ldm_keys == LEGACY["ldm"] and ldm_keys - dm_keys == LEGACY["dm"]
    assert (dm.in_channels, dm.cond_channels, dm.spatial_size) == (5, 3, 128)
    assert (ldm.in_channels, ldm.cond_channels, ldm.spatial_size) == (4, 0, 8)
    assert DataDenoiserConfig(mask_channel=False).cond_channels == 2
    with pytest.raises(TypeError):
        DataDenoiserConfig("dm")  # type: ignore[misc]  # built by keyword only
    with pytest.raises(dataclasses.FrozenInstanceError):
        dm.grid_size = 64  # type: ignore[misc]


def test_the_base_builds_the_class_of_its_kind() -> None:
    """``DenoiserConfig(kind=...)`` and ``DenoiserConfig.from_dict`` (callers from before the split)."""
    assert type(DenoiserConfig()) is DataDenoiserConfig
    assert DenoiserConfig(kind="ldm", **LDM_KEYS) == LatentDenoiserConfig(**LDM_KEYS)
    assert type(DenoiserConfig.from_dict({"kind": "ldm", **LDM_KEYS})) is LatentDenoiserConfig
    assert dataclasses.replace(LatentDenoiserConfig(**LDM_KEYS), label="x").label == "x"
    with pytest.raises(SeaIceInputError, match="denoiser kind must be 'dm' or 'ldm'"):
        DenoiserConfig.from_dict({"kind": "vae"}, "config.json")


@pytest.mark.parametrize("cls, data, message", [
    (DataDenoiserConfig, {"kind": "ldm", **LDM_KEYS}, "kind 'ldm' is not a DataDenoiserConfig"),
    (LatentDenoiserConfig, {"kind": "dm"}, "kind 'dm' is not a LatentDenoiserConfig"),
    (VAEConfig, {"kind": "dm"}, "unknown config keys|kind must be 'vae'"),
    (DataDenoiserConfig, {"kind": "dm", "vae": "vae-gaussian"}, "a dm config has no vae"),
    (DataDenoiserConfig, {"kind": "dm", "latent_size": 8}, "a dm config has no latent_size"),
    (LatentDenoiserConfig, {"kind": "ldm"}, "an ldm config needs vae, latent_channels and latent_size"),
])
def test_the_wrong_kind_or_keys_give_a_clear_error(cls, data, message) -> None:
    with pytest.raises(SeaIceInputError, match=message) as err:
        cls.from_dict(data, "models/x/config.json")
    assert err.value.source == "models/x/config.json"


@pytest.mark.parametrize("data, message", [
    ({"kind": "gan"}, "unknown checkpoint kind 'gan'"),
    ({"kind": ["dm"]}, "unknown checkpoint kind"),
    ({}, "unknown checkpoint kind None"),
    ([1, 2], "must be a JSON object"),
])
def test_config_from_dict_refuses_unknown_kinds(data, message) -> None:
    with pytest.raises(SeaIceInputError, match=message):
        config_from_dict(data, "config.json")


def test_network_kwargs_name_the_networks_parameters() -> None:
    """Each config gives its network's constructor keywords (built by keyword, not position)."""
    import inspect

    from seaice_explorer.networks import VAE, UNet

    for cls, cfg in ((UNet, DataDenoiserConfig()), (UNet, LatentDenoiserConfig(**LDM_KEYS)), (VAE, VAEConfig())):
        kwargs = cfg.network_kwargs()
        inspect.signature(cls).bind(**kwargs)
        assert set(kwargs) <= set(inspect.signature(cls).parameters)
    assert DataDenoiserConfig().network_kwargs()["cond_channels"] == 3


def test_configs_are_torch_free() -> None:
    code = "import sys, seaice_explorer.configs as c; c.load_config('dm'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
