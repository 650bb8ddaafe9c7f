"""Checkpoints: ``models/<name>/config.json`` + ``model.safetensors`` + ``README.md`` (model card).

The configs are data (:mod:`seaice_explorer.configs`, torch-free); this module rebuilds the
networks from them without pickles. Loading checks the config keys, the kind, the tensor names
and shapes and raises :class:`SeaIceInputError` naming the file on any problem.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .configs import (
    CARD_FILE,
    CONFIG_FILE,
    MODELS_DIR,
    MODELS_ENV,
    WEIGHTS_FILE,
    Config,
    DenoiserConfig,
    VAEConfig,
    checkpoint_dir,
    config_from_dict,
    config_json,
    load_config,
    resolve_models_dir,
)
from .configs import problem as _problem
from .networks import VAE, UNet

log = logging.getLogger(__name__)

__all__ = ["CARD_FILE", "CONFIG_FILE", "MODELS_DIR", "MODELS_ENV", "WEIGHTS_FILE", "Config", "DenoiserConfig",
           "VAEConfig", "build_module", "checkpoint_dir", "checkpoint_hash", "config_from_dict", "config_json",
           "load_checkpoint", "load_config", "resolve_device", "resolve_models_dir", "save_checkpoint"]

def build_module(config: Config) -> nn.Module:
    """A freshly initialised network for ``config`` (the raw U-Net for denoisers)."""
    if isinstance(config, VAEConfig):
        return VAE(len(config.variables), config.latent_channels, config.base_channels, config.downsample,
                   config.decoder, config.channel_mults, config.num_res_blocks, config.beta)
    return UNet(config.in_channels, config.in_channels, config.base_channels, config.channel_mults,
                config.num_res_blocks, config.attn_levels, cond_channels=config.cond_channels,
                attn_heads=config.attn_heads, dropout=config.dropout)


# -- paths ----------------------------------------------------------------------------------------
def checkpoint_hash(dirpath: str | os.PathLike) -> str:
    """First 12 hex digits of the SHA-256 of the checkpoint's ``model.safetensors``."""
    path = Path(dirpath) / WEIGHTS_FILE
    if not path.is_file():
        raise _problem(path, "no weights file", "Train the model or point to a checkpoint folder")
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]


# -- save -----------------------------------------------------------------------------------------
def save_checkpoint(dirpath: str | os.PathLike, module: nn.Module, config: Config, card: Mapping[str, Any] | None = None) -> Path:
    """Write ``config.json``, ``model.safetensors`` (the given, usually EMA, weights) and ``README.md``.

    Files are written to temporaries and renamed, so a reader never sees half a checkpoint file.
    """
    from safetensors.torch import save_file

    out = Path(dirpath)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
    meta = {"format": "pt"}  # one key only: a multi-key header is written in random order (hash!)
    _atomic(out / WEIGHTS_FILE, lambda p: save_file(tensors, str(p), metadata=meta))
    _atomic(out / CONFIG_FILE, lambda p: p.write_text(config_json(config)))
    _atomic(out / CARD_FILE, lambda p: p.write_text(render_card(out.name, config, dict(card or {}), checkpoint_hash(out))))
    log.info("saved checkpoint %s (%s)", out, checkpoint_hash(out))
    return out


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


def render_card(name: str, config: Config, card: dict[str, Any], weights_hash: str) -> str:
    """The model card (README.md) of a checkpoint, from the ``card`` fields and the config."""
    lines = [f"# {name}", "", card.pop("description", _DESCRIPTIONS.get(config.kind, "")), ""]
    rows = [("kind", config.kind), ("weights sha256 (12)", f"`{weights_hash}`")]
    for key, label in _CARD_FIELDS:
        if key in card:
            value = card.pop(key)
            rows.append((label, f"`{value}`" if key == "command" else _fmt(value)))
    lines += ["| field | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    for key in ("final_losses", "reconstruction_error"):
        table = card.pop(key, None)
        if table:
            title = {"final_losses": "Final losses", "reconstruction_error": "Reconstruction error per variable"}[key]
            lines += ["", f"## {title}", "", "| name | value |", "|---|---|"]
            lines += [f"| {k} | {_fmt(v)} |" for k, v in table.items()]
    image = card.pop("sample_image", None)
    if image:
        lines += ["", "## Sample", "", f"![sample]({image})"]
    if card:
        lines += ["", "## Other", "", "| name | value |", "|---|---|"] + [f"| {k} | {_fmt(v)} |" for k, v in card.items()]
    lines += ["", "## Config", "", "```json", config_json(config).rstrip(), "```", ""]
    return "\n".join(lines)


_DESCRIPTIONS = {
    "vae": "Convolutional VAE of the latent backends (Finn et al. 2024, arXiv 2406.18417, Sec. 2.2).",
    "dm": "Data-space diffusion denoiser, EDM preconditioning (Karras et al. 2022; Finn et al. 2024, Sec. 3).",
    "ldm": "Latent diffusion denoiser, EDM preconditioning (Karras et al. 2022; Finn et al. 2024, Sec. 3).",
}
_CARD_FIELDS = (
    ("training_data", "training data"), ("command", "command"), ("steps", "steps"),
    ("batch_size", "batch size"), ("wall_time_s", "wall time [s]"), ("hardware", "hardware"),
    ("seed", "seed"), ("parameters", "parameters"), ("vae", "VAE"), ("states_seen", "states seen"),
    ("warm_restarts", "warm restarts"),
)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# -- load -----------------------------------------------------------------------------------------
def load_checkpoint(
    name_or_dir: str | os.PathLike,
    models_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, Config]:
    """Rebuild a network from ``config.json`` + ``model.safetensors`` (never a pickle), in eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    config = load_config(name_or_dir, models_dir)
    folder = checkpoint_dir(name_or_dir, models_dir)
    path = folder / WEIGHTS_FILE
    if not path.is_file():
        raise _problem(path, "weights file missing", "A checkpoint needs model.safetensors beside config.json")
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise _problem(path, f"corrupt or truncated safetensors file ({err})", "Re-save or re-train the model") from None
    module = build_module(config)
    if "cond" in tensors and "cond" not in module.state_dict():
        # checkpoints of earlier versions stored the dm's fixed conditioning (mask, x, y) as a U-Net
        # buffer; it now comes from the grid through D(x, sigma, cond=...), so the stored copy is unused
        log.debug("%s: ignoring the stored conditioning buffer 'cond' of an earlier version", path)
        del tensors["cond"]
    _check_state(path, module.state_dict(), tensors)
    module.load_state_dict(tensors, strict=True)
    module.eval().requires_grad_(False)
    return module.to(resolve_device(device)), config


def _check_state(path: Path, expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor]) -> None:
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing or extra:
        raise _problem(path, f"weights do not match config.json: missing {missing[:5]}, unexpected {extra[:5]}",
                       "The weights and config come from different models; re-save them together")
    for key, ref in expected.items():
        got = found[key]
        if tuple(got.shape) != tuple(ref.shape):
            raise _problem(path, f"tensor {key!r} has shape {tuple(got.shape)}, config.json implies {tuple(ref.shape)}",
                           "The weights and config come from different models; re-save them together")
        if not got.is_floating_point() or not torch.isfinite(got).all():
            raise _problem(path, f"tensor {key!r} is not finite floating point", "Re-train the model")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
