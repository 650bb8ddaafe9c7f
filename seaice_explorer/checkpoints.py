"""Checkpoints: ``models/<name>/config.json`` + ``model.safetensors`` + ``README.md`` (model card).

Config travels with the weights (as in huggingface/diffusers): frozen dataclasses with
``to_dict``/``from_dict``, rebuilt without pickles. Loading checks the config keys, the kind,
the tensor names and shapes and raises :class:`SeaIceInputError` naming the file on any problem.

Backends (Finn et al. 2024, Sec. 3): ``dm`` diffuses in data space; ``ldm-gaussian`` and
``ldm-censored`` diffuse in the latent of a VAE with a Gaussian or censored-Gaussian decoder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

import torch
from torch import nn

from .errors import SeaIceInputError
from .variables import STATE_VARIABLES, VARIABLES

log = logging.getLogger(__name__)

#: Default folder of the shipped checkpoints (project root ``models/``); env SEAICE_EXPLORER_MODELS overrides.
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
MODELS_ENV = "SEAICE_EXPLORER_MODELS"
CONFIG_FILE, WEIGHTS_FILE, CARD_FILE = "config.json", "model.safetensors", "README.md"
FORMAT_VERSION = 1

#: backend -> checkpoint names it is built from (VAE first for the latent backends).
BACKENDS: dict[str, tuple[str, ...]] = {
    "dm": ("dm",),
    "ldm-gaussian": ("vae-gaussian", "ldm-gaussian"),
    "ldm-censored": ("vae-censored", "ldm-censored"),
}

_TABLE_MEAN = tuple(VARIABLES[n].mean for n in STATE_VARIABLES)
_TABLE_STD = tuple(VARIABLES[n].std for n in STATE_VARIABLES)


def _problem(source: object, problem: str, fix: str = "Fix the value or retrain the model") -> SeaIceInputError:
    return SeaIceInputError(None if source is None else str(source), problem, fix)


class _ConfigMixin:
    """``to_dict``/``from_dict`` for the frozen config dataclasses (JSON-safe, tuples as lists)."""

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: object = None):
        if not isinstance(data, Mapping):
            raise _problem(source, f"a config must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise _problem(source, f"unknown config keys {unknown} for {cls.__name__}",
                           f"Remove them; known keys are {sorted(names)}")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        try:
            return cls(**kwargs)
        except SeaIceInputError as err:
            raise _problem(source, err.problem, err.fix) from None
        except (TypeError, ValueError) as err:
            raise _problem(source, f"invalid {cls.__name__}: {err}") from None


def _check_common(cfg: Any) -> None:
    unknown = [v for v in cfg.variables if v not in VARIABLES]
    if unknown:
        raise _problem(None, f"unknown variables {unknown}", f"Use names from {list(VARIABLES)}")
    for key in ("mean", "std"):
        vals = getattr(cfg, key)
        if len(vals) != len(cfg.variables) or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in vals):
            raise _problem(None, f"{key} must hold one finite number per variable {cfg.variables}, got {vals}")
    if any(s <= 0 for s in cfg.std):
        raise _problem(None, f"std must be positive, got {cfg.std}")
    if cfg.format_version != FORMAT_VERSION:
        raise _problem(None, f"checkpoint format {cfg.format_version} is not {FORMAT_VERSION}", "Retrain or upgrade seaice-explorer")


@dataclass(frozen=True)
class VAEConfig(_ConfigMixin):
    """VAE of the latent backends (Finn et al. 2024, Sec. 2.2): f=4 -> 8×32×32 at 128², f=8 -> 16×64×64 at 512²."""

    kind: Literal["vae"] = "vae"
    decoder: Literal["gaussian", "censored"] = "gaussian"
    variables: tuple[str, ...] = STATE_VARIABLES
    grid_size: int = 128
    grid: str = "default"  # description of the training grid
    mean: tuple[float, ...] = _TABLE_MEAN  # data normalisation z = (x - mean) / std, per channel
    std: tuple[float, ...] = _TABLE_STD
    latent_channels: int = 8
    base_channels: int = 32
    downsample: int = 4
    channel_mults: tuple[int, ...] | None = None  # None: (1, 2, 2, ...) one level per factor 2
    num_res_blocks: int = 1
    beta: float = 1e-3  # weight of the KL term (per latent element)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.kind != "vae":
            raise _problem(None, f"VAEConfig kind must be 'vae', got {self.kind!r}")
        if self.decoder not in ("gaussian", "censored"):
            raise _problem(None, f"decoder must be 'gaussian' or 'censored', got {self.decoder!r}")
        _check_common(self)
        f = self.downsample
        if f < 1 or f & (f - 1) or self.grid_size % f:
            raise _problem(None, f"downsample {f} must be a power of two dividing grid_size {self.grid_size}")

    @property
    def latent_size(self) -> int:
        return self.grid_size // self.downsample


@dataclass(frozen=True)
class DenoiserConfig(_ConfigMixin):
    """Denoiser of ``dm`` (data space) or ``ldm`` (latent space); EDM settings of Karras et al. 2022."""

    kind: Literal["dm", "ldm"] = "dm"
    variables: tuple[str, ...] = STATE_VARIABLES
    grid_size: int = 128
    grid: str = "default"
    mean: tuple[float, ...] = _TABLE_MEAN
    std: tuple[float, ...] = _TABLE_STD
    sigma_data: float = 1.0
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    # Training noise distribution ln σ ~ N(p_mean, p_std²). EDM Table 1 has p_mean = -1.2 for σ_data = 0.5;
    # our states and latents are standardised (σ_data = 1), so the mean moves by ln 2. With -1.2 the
    # high-noise levels, which decide a state's extent, were under-trained and summer minima went missing.
    p_mean: float = -0.5
    p_std: float = 1.2
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 1
    attn_levels: tuple[int, ...] = ()
    attn_heads: int = 1
    dropout: float = 0.0
    mask_channel: bool = True  # dm: the land mask is a fixed input channel
    coord_channels: bool = True  # dm: x and y in [-1, 1] as fixed input channels (where a crop lies)
    vae: str | None = None  # ldm: name of the VAE checkpoint
    vae_hash: str | None = None  # ldm: checkpoint_hash of that VAE at training time
    latent_channels: int | None = None
    latent_size: int | None = None
    latent_mean: tuple[float, ...] | None = None  # per-channel latent normalisation (training set)
    latent_std: tuple[float, ...] | None = None
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.kind not in ("dm", "ldm"):
            raise _problem(None, f"denoiser kind must be 'dm' or 'ldm', got {self.kind!r}")
        _check_common(self)
        if not 0 < self.sigma_min < self.sigma_max or self.sigma_data <= 0:
            raise _problem(None, f"need 0 < sigma_min < sigma_max and sigma_data > 0, got "
                                 f"{self.sigma_min}, {self.sigma_max}, {self.sigma_data}")
        if any(not 0 <= lv < len(self.channel_mults) for lv in self.attn_levels):
            raise _problem(None, f"attn_levels {self.attn_levels} outside 0..{len(self.channel_mults) - 1}")
        if self.kind == "ldm":
            if not self.vae or not self.latent_channels or not self.latent_size:
                raise _problem(None, "an ldm config needs vae, latent_channels and latent_size")
            for key in ("latent_mean", "latent_std"):
                vals = getattr(self, key)
                if vals is None or len(vals) != self.latent_channels:
                    raise _problem(None, f"{key} must hold {self.latent_channels} numbers, got {vals}")
        size = self.spatial_size
        if size % 2 ** (len(self.channel_mults) - 1):
            raise _problem(None, f"size {size} is not divisible by 2**{len(self.channel_mults) - 1}")

    @property
    def in_channels(self) -> int:
        return len(self.variables) if self.kind == "dm" else int(self.latent_channels or 0)

    @property
    def cond_channels(self) -> int:
        """Fixed conditioning channels of a dm U-Net: [mask][, x, y]; 0 for ldm."""
        return (int(self.mask_channel) + 2 * int(self.coord_channels)) if self.kind == "dm" else 0

    @property
    def spatial_size(self) -> int:
        return self.grid_size if self.kind == "dm" else int(self.latent_size or 0)


Config = Union[VAEConfig, DenoiserConfig]


def config_from_dict(data: Mapping[str, Any], source: object = None) -> Config:
    """Dispatch on ``kind``: ``vae`` -> :class:`VAEConfig`, ``dm``/``ldm`` -> :class:`DenoiserConfig`."""
    kind = data.get("kind") if isinstance(data, Mapping) else None
    if kind == "vae":
        return VAEConfig.from_dict(data, source)
    if kind in ("dm", "ldm"):
        return DenoiserConfig.from_dict(data, source)
    raise _problem(source, f"unknown checkpoint kind {kind!r}", "kind must be one of 'vae', 'dm', 'ldm'")


def build_module(config: Config) -> nn.Module:
    """A freshly initialised network for ``config`` (the raw U-Net for denoisers)."""
    from .networks import VAE, UNet

    if isinstance(config, VAEConfig):
        return VAE(len(config.variables), config.latent_channels, config.base_channels, config.downsample,
                   config.decoder, config.channel_mults, config.num_res_blocks, config.beta)
    cond = config.cond_channels
    size = config.spatial_size
    return UNet(config.in_channels, config.in_channels, config.base_channels, config.channel_mults,
                config.num_res_blocks, config.attn_levels, cond_channels=cond,
                cond_shape=(size, size) if cond else None, attn_heads=config.attn_heads, dropout=config.dropout)


# -- paths ----------------------------------------------------------------------------------------
def resolve_models_dir(models_dir: str | os.PathLike | None = None) -> Path:
    """``models_dir`` if given, else ``$SEAICE_EXPLORER_MODELS``, else :data:`MODELS_DIR`."""
    if models_dir is not None:
        return Path(models_dir)
    env = os.environ.get(MODELS_ENV)
    return Path(env) if env else MODELS_DIR


def checkpoint_dir(name_or_dir: str | os.PathLike, models_dir: str | os.PathLike | None = None) -> Path:
    """The folder of a checkpoint given its name (under the models dir) or its path."""
    path = Path(name_or_dir)
    if len(path.parts) > 1 or path.is_absolute():
        return path
    named = resolve_models_dir(models_dir) / path  # a bare name is looked up in the models dir first
    return path if not named.is_dir() and path.is_dir() else named


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


def config_json(config: Config) -> str:
    """``config.json`` text: one key per line, lists kept on their line."""
    items = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in config.to_dict().items()]
    return "{\n" + ",\n".join(items) + "\n}\n"


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
    ("seed", "seed"), ("parameters", "parameters"), ("vae", "VAE"),
)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# -- load -----------------------------------------------------------------------------------------
def load_config(name_or_dir: str | os.PathLike, models_dir: str | os.PathLike | None = None) -> Config:
    """Read and check ``config.json`` of a checkpoint."""
    path = checkpoint_dir(name_or_dir, models_dir) / CONFIG_FILE
    if not path.parent.is_dir():
        raise _problem(path.parent, "checkpoint folder not found",
                       f"Train it with `seaice-explorer train` or set models_dir / ${MODELS_ENV}")
    if not path.is_file():
        raise _problem(path, "config file missing", "A checkpoint needs config.json beside model.safetensors")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _problem(path, f"unreadable JSON ({err})", "Restore the file from the training output") from None
    return config_from_dict(data, path)


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


def load_denoiser(
    name_or_dir: str | os.PathLike,
    models_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, DenoiserConfig]:
    """A denoiser ``D(x, sigma)``: the checkpoint's U-Net wrapped in ``EDMPrecond(net, sigma_data)``."""
    from .diffusion.precond import EDMPrecond

    net, config = load_checkpoint(name_or_dir, models_dir, device)
    if not isinstance(config, DenoiserConfig):
        raise _problem(checkpoint_dir(name_or_dir, models_dir), f"expected a denoiser checkpoint, found kind {config.kind!r}",
                       "Pass a dm or ldm checkpoint")
    return EDMPrecond(net, config.sigma_data).to(resolve_device(device)), config
