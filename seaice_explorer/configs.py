"""Model configs as data: frozen dataclasses read from ``models/<name>/config.json`` (torch-free).

Config travels with the weights (as in huggingface/diffusers' ``config.json``): ``to_dict`` /
``from_dict``, checked on construction, every problem a :class:`SeaIceInputError` naming the file.
A denoiser config also says what the model *is* for the registry (:mod:`seaice_explorer.registry`):
the dataset it was trained on, its label and colour; a VAE config says its decoder and owns the
latent scaling (per-channel mean and std of the posterior means, as diffusers' ``scaling_factor``).
Finn et al. 2024 (arXiv 2406.18417), Sec. 2-3.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

from .errors import SeaIceInputError
from .variables import STATE_VARIABLES, VARIABLES

#: Default folder of the shipped checkpoints (project root ``models/``); env SEAICE_EXPLORER_MODELS overrides.
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
MODELS_ENV = "SEAICE_EXPLORER_MODELS"
CONFIG_FILE, WEIGHTS_FILE, CARD_FILE = "config.json", "model.safetensors", "README.md"
FORMAT_VERSION = 1
#: The dataset name of the bundled synthetic neXtSIM-like reference (``open_reference("default")``).
DEFAULT_DATASET = "default"

_TABLE_MEAN = tuple(VARIABLES[n].mean for n in STATE_VARIABLES)
_TABLE_STD = tuple(VARIABLES[n].std for n in STATE_VARIABLES)


def problem(source: object, problem: str, fix: str = "Fix the value or retrain the model") -> SeaIceInputError:
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
            raise problem(source, f"a config must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise problem(source, f"unknown config keys {unknown} for {cls.__name__}",
                           f"Remove them; known keys are {sorted(names)}")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        try:
            return cls(**kwargs)
        except SeaIceInputError as err:
            raise problem(source, err.problem, err.fix) from None
        except (TypeError, ValueError) as err:
            raise problem(source, f"invalid {cls.__name__}: {err}") from None


def _check_common(cfg: Any) -> None:
    unknown = [v for v in cfg.variables if v not in VARIABLES]
    if unknown:
        raise problem(None, f"unknown variables {unknown}", f"Use names from {list(VARIABLES)}")
    for key in ("mean", "std"):
        vals = getattr(cfg, key)
        if len(vals) != len(cfg.variables) or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in vals):
            raise problem(None, f"{key} must hold one finite number per variable {cfg.variables}, got {vals}")
    if any(s <= 0 for s in cfg.std):
        raise problem(None, f"std must be positive, got {cfg.std}")
    if cfg.format_version != FORMAT_VERSION:
        raise problem(None, f"checkpoint format {cfg.format_version} is not {FORMAT_VERSION}", "Retrain or upgrade seaice-explorer")


def _check_scaling(cfg: Any, channels: int | None) -> None:
    """Latent scaling: both or neither of latent_mean / latent_std, one finite number per channel, std > 0."""
    mean, std = cfg.latent_mean, cfg.latent_std
    if mean is None and std is None:
        return
    for key, vals in (("latent_mean", mean), ("latent_std", std)):
        if vals is None or len(vals) != channels or not all(isinstance(v, (int, float)) and math.isfinite(v)
                                                            for v in vals):
            raise problem(None, f"{key} must hold {channels} finite numbers, got {vals}")
    if any(v <= 0 for v in std):
        raise problem(None, f"latent_std must be positive, got {std}")


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
    # Latent scaling owned by the VAE (diffusers' scaling_factor, per channel): the sampler works on
    # (z - latent_mean) / latent_std of the posterior means z of the training set. None: not yet set.
    latent_mean: tuple[float, ...] | None = None
    latent_std: tuple[float, ...] | None = None
    dataset: str = DEFAULT_DATASET  # the data it was trained on (as in DenoiserConfig)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.kind != "vae":
            raise problem(None, f"VAEConfig kind must be 'vae', got {self.kind!r}")
        if self.decoder not in ("gaussian", "censored"):
            raise problem(None, f"decoder must be 'gaussian' or 'censored', got {self.decoder!r}")
        _check_common(self)
        f = self.downsample
        if f < 1 or f & (f - 1) or self.grid_size % f:
            raise problem(None, f"downsample {f} must be a power of two dividing grid_size {self.grid_size}")
        _check_scaling(self, self.latent_channels)

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
    # Deprecated: the latent scaling now lives in the VAE's config; read from here only for a VAE
    # trained before that (format 1 checkpoints of earlier versions).
    latent_mean: tuple[float, ...] | None = None
    latent_std: tuple[float, ...] | None = None
    # What the model is, for the registry and the app (models as data).
    dataset: str = DEFAULT_DATASET  # the data it was trained on: a name open_reference knows, or a path
    label: str = ""  # display name; "" = the folder name
    colour: str = ""  # display colour (#rrggbb); "" = from the registry's palette
    selected: bool = False  # compared by default in the app
    order: int = 0  # position among the backends (then the folder name)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.kind not in ("dm", "ldm"):
            raise problem(None, f"denoiser kind must be 'dm' or 'ldm', got {self.kind!r}")
        _check_common(self)
        if not 0 < self.sigma_min < self.sigma_max or self.sigma_data <= 0:
            raise problem(None, f"need 0 < sigma_min < sigma_max and sigma_data > 0, got "
                                 f"{self.sigma_min}, {self.sigma_max}, {self.sigma_data}")
        if any(not 0 <= lv < len(self.channel_mults) for lv in self.attn_levels):
            raise problem(None, f"attn_levels {self.attn_levels} outside 0..{len(self.channel_mults) - 1}")
        if self.kind == "ldm":
            if not self.vae or not self.latent_channels or not self.latent_size:
                raise problem(None, "an ldm config needs vae, latent_channels and latent_size")
            _check_scaling(self, self.latent_channels)
        if self.colour and not (len(self.colour) == 7 and self.colour.startswith("#")):
            raise problem(None, f"colour must look like '#1b9e77', got {self.colour!r}")
        size = self.spatial_size
        if size % 2 ** (len(self.channel_mults) - 1):
            raise problem(None, f"size {size} is not divisible by 2**{len(self.channel_mults) - 1}")

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
    raise problem(source, f"unknown checkpoint kind {kind!r}", "kind must be one of 'vae', 'dm', 'ldm'")


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


def config_json(config: Config) -> str:
    """``config.json`` text: one key per line, lists kept on their line."""
    items = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in config.to_dict().items()]
    return "{\n" + ",\n".join(items) + "\n}\n"


def load_config(name_or_dir: str | os.PathLike, models_dir: str | os.PathLike | None = None) -> Config:
    """Read and check ``config.json`` of a checkpoint."""
    path = checkpoint_dir(name_or_dir, models_dir) / CONFIG_FILE
    if not path.parent.is_dir():
        raise problem(path.parent, "checkpoint folder not found",
                       f"Train it with `seaice-explorer train` or set models_dir / ${MODELS_ENV}")
    if not path.is_file():
        raise problem(path, "config file missing", "A checkpoint needs config.json beside model.safetensors")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise problem(path, f"unreadable JSON ({err})", "Restore the file from the training output") from None
    return config_from_dict(data, path)
