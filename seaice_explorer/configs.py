"""Model configs as data: frozen dataclasses read from ``models/<name>/config.json`` (torch-free).

Config travels with the weights (as in huggingface/diffusers' ``config.json``): ``to_dict`` /
``from_dict``, checked on construction, every problem a :class:`SeaIceInputError` naming the file;
:func:`config_from_dict` picks the class by ``kind`` (``vae``, ``dm``: :class:`DataDenoiserConfig`,
``ldm``: :class:`LatentDenoiserConfig`), and reads the configs of earlier versions unchanged.
A denoiser config also says what the model *is* for the registry (:mod:`seaice_explorer.registry`):
the dataset it was trained on, its label and colour; a VAE config says its decoder and owns the
latent scaling (per-channel mean and std of the posterior means, as diffusers' ``scaling_factor``).
Every size is bounded (the ``MAX_*`` constants) and checked on construction, before any network is
built; an ldm's ``vae`` names a folder inside the models folder. Finn et al. 2024 (arXiv 2406.18417).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Literal, Union

from .errors import SeaIceInputError
from .variables import STATE_VARIABLES, VARIABLES

#: Default folder of the shipped checkpoints (project root ``models/``); env SEAICE_EXPLORER_MODELS overrides.
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
MODELS_ENV = "SEAICE_EXPLORER_MODELS"
CONFIG_FILE, WEIGHTS_FILE, CARD_FILE = "config.json", "model.safetensors", "README.md"
#: The model's data-space grid (coordinates, land mask, cell areas), written by training when the data is
#: not a known dataset, so that a model trained on files anywhere samples from its own folder alone.
GRID_FILE = "grid.nc"
FORMAT_VERSION = 1
#: The dataset name of the bundled synthetic neXtSIM-like reference (``open_reference("default")``).
DEFAULT_DATASET = "default"

#: The data sets ``open_reference`` knows by name (``seaice_explorer.data.readers.DATASETS``); those in
#: SPLIT_DATASETS also take a split, ``osisaf:2019``. Any other ``dataset`` is a path inside the models folder.
DATASET_NAMES: tuple[str, ...] = (DEFAULT_DATASET, "osisaf")
SPLIT_DATASETS: tuple[str, ...] = ("osisaf",)

# Bounds on a config, checked before any network is built (issue 24): generous for the paper's 512²
# preset (grid 512, latent 16×64×64, 7 U-Net levels, 32 channels) and every shipped model, small
# enough that no config hangs or asks for absurd memory.
#: Cells per side: a 1024² data-space U-Net at 32 channels holds 4 GB per feature map at 32 samples a
#: chunk; 2048² ran out of memory after 49 s (issue 24). The paper's fields are 512².
MAX_GRID_SIZE = 1024
#: Smallest grid or latent side (the tiny test models use 16², latents 4²).
MIN_GRID_SIZE = 4
#: Channels at full resolution; the presets use 32.
MAX_BASE_CHANNELS = 256
#: Widest level (base_channels × channel_mult): a 512-wide 3×3 convolution holds 2.4 M weights.
MAX_WIDTH = 512
#: Elements of one full-resolution feature map, base_channels × size² (2**25: 128 MB in float32 per
#: sample); the paper's 512² at 32 channels is 2**23.
MAX_FEATURE_MAP = 2**25
MAX_LATENT_CHANNELS = 64  # the paper: 16
MAX_LEVELS = 8  # U-Net levels (len(channel_mults)); the paper's 512² data-space U-Net has 7
MAX_CHANNEL_MULT = 8
MAX_RES_BLOCKS = 4  # per level; EDM's largest networks use 4
MAX_DOWNSAMPLE = 32  # VAE factor f; the paper: 8
MAX_ATTN_HEADS = 16
#: Largest side of a level with self-attention (32² = 1024 tokens; the presets attend at 8²).
MAX_ATTN_SIZE = 32
_GRID_WHY = " (larger grids run out of memory; the paper's fields are 512²)"

_TABLE_MEAN = tuple(VARIABLES[n].mean for n in STATE_VARIABLES)
_TABLE_STD = tuple(VARIABLES[n].std for n in STATE_VARIABLES)


def is_named_dataset(dataset: object) -> bool:
    """True for a data set ``open_reference`` knows by name: ``default``, ``osisaf``, ``osisaf:SPLIT``."""
    if not isinstance(dataset, str):
        return False
    name, colon, _ = dataset.strip().lower().partition(":")
    return name in DATASET_NAMES and (not colon or name in SPLIT_DATASETS)


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
        data = cls._upgrade(data, source)
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

    @classmethod
    def _upgrade(cls, data: Mapping[str, Any], source: object) -> Mapping[str, Any]:
        """``data`` as this version's keys (configs written by earlier versions)."""
        return data


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


def _check_int(name: str, value: object, low: int, high: int, why: str = "") -> None:
    """``value`` is a whole number in ``low..high``, else an error naming the limit (and ``why``)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise problem(None, f"{name} must be a whole number in {low}..{high}{why}, got {value!r}",
                      f"Set {name} within {low}..{high} in config.json (the limits are in seaice_explorer/configs.py)")


def _check_float(name: str, value: object, low: float = -math.inf, high: float = math.inf) -> None:
    """``value`` is a finite number in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise problem(None, f"{name} must be a finite number in [{low:g}, {high:g}], got {value!r}")


def _check_ints(name: str, values: object, low: int, high: int, max_len: int) -> tuple[int, ...]:
    """A tuple of 1..``max_len`` whole numbers, each in ``low..high``."""
    if not isinstance(values, tuple) or not 1 <= len(values) <= max_len:
        raise problem(None, f"{name} must be a list of 1..{max_len} whole numbers, got {values!r}",
                      f"Use at most {max_len} levels (the limits are in seaice_explorer/configs.py)")
    for value in values:
        _check_int(f"each of {name}", value, low, high)
    return values


def _check_network(cfg: Any, size: int, mults: tuple[int, ...]) -> None:
    """Width, depth and feature-map size of a VAE or U-Net of ``size``² inputs, before anything is built."""
    _check_int("base_channels", cfg.base_channels, 1, MAX_BASE_CHANNELS)
    _check_int("num_res_blocks", cfg.num_res_blocks, 1, MAX_RES_BLOCKS)
    _check_ints("channel_mults", mults, 1, MAX_CHANNEL_MULT, MAX_LEVELS)
    widths = [cfg.base_channels * m for m in mults]
    if max(widths) > MAX_WIDTH:
        raise problem(None, f"base_channels × channel_mults gives widths {widths}, above {MAX_WIDTH} channels",
                      f"Keep base_channels × each channel_mult within {MAX_WIDTH}")
    biggest = max(w * (size >> level) ** 2 for level, w in enumerate(widths))
    if biggest > MAX_FEATURE_MAP:
        raise problem(None, f"a {size}² input at widths {widths} makes feature maps of {biggest} elements, above "
                            f"{MAX_FEATURE_MAP} (128 MB a sample in float32)",
                      "Use fewer channels at full resolution or a smaller grid")


def check_inside(name: str, value: object, example: str) -> str:
    """A path relative to the models folder that cannot leave it: not absolute, no ``..`` component."""
    text = value if isinstance(value, str) else ""
    parts = text.replace("\\", "/").split("/")
    if not text.strip() or PurePosixPath(text).is_absolute() or Path(text).is_absolute() or ".." in parts \
            or text.startswith("~"):
        raise problem(None, f"{name} {value!r} must name something inside the models folder (a relative path "
                            "without '..')",
                      f"Put it inside the models folder and set {name} to its path there, e.g. {example!r}")
    return text


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
    """VAE of the latent backends (Finn et al. 2024): f=4 -> 8×32×32 at 128², f=8 -> 16×64×64 at 512²."""

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
    dataset: str = DEFAULT_DATASET  # the data it was trained on (as in a DenoiserConfig)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.kind != "vae":
            raise problem(None, f"VAEConfig kind must be 'vae', got {self.kind!r}")
        if self.decoder not in ("gaussian", "censored"):
            raise problem(None, f"decoder must be 'gaussian' or 'censored', got {self.decoder!r}")
        _check_common(self)
        _check_int("grid_size", self.grid_size, MIN_GRID_SIZE, MAX_GRID_SIZE, _GRID_WHY)
        _check_int("downsample", self.downsample, 1, MAX_DOWNSAMPLE)
        f = self.downsample
        if f & (f - 1) or self.grid_size % f:
            raise problem(None, f"downsample {f} must be a power of two dividing grid_size {self.grid_size}")
        _check_int("latent_channels", self.latent_channels, 1, MAX_LATENT_CHANNELS)
        levels = f.bit_length()  # log2(f) + 1: the input level and one per factor 2
        mults = self.channel_mults if self.channel_mults is not None else (1,) + (2,) * (levels - 1)
        _check_network(self, self.grid_size, mults)
        if len(mults) != levels:
            raise problem(None, f"downsample {f} needs {levels} channel_mults, got {mults}")
        _check_float("beta", self.beta, 0.0)
        _check_scaling(self, self.latent_channels)

    @property
    def latent_size(self) -> int:
        return self.grid_size // self.downsample

    def network_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the VAE, ``networks.VAE(**config.network_kwargs())``."""
        return {"in_channels": len(self.variables), "latent_channels": self.latent_channels,
                "base_channels": self.base_channels, "downsample": self.downsample, "decoder": self.decoder,
                "channel_mults": self.channel_mults, "num_res_blocks": self.num_res_blocks, "beta": self.beta}


@dataclass(frozen=True, kw_only=True)
class DenoiserConfig(_ConfigMixin):
    """What every denoiser shares: EDM settings (Karras et al. 2022), its U-Net, what it is for the registry.

    A config is a :class:`DataDenoiserConfig` (``dm``) or a :class:`LatentDenoiserConfig` (``ldm``);
    :meth:`from_dict` and ``DenoiserConfig(kind=...)`` on this base build the class of that kind.
    """

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
    # What the model is, for the registry and the app (models as data).
    dataset: str = DEFAULT_DATASET  # the data it was trained on: a name open_reference knows, or a path
    label: str = ""  # display name; "" = the folder name
    colour: str = ""  # display colour (#rrggbb); "" = from the registry's palette
    selected: bool = False  # compared by default in the app
    order: int = 0  # position among the backends (then the folder name)
    format_version: int = FORMAT_VERSION

    #: keys of configs written before the split that this kind reads and drops, with the value they
    #: must hold (``...``: any; they never applied to this kind)
    LEGACY_KEYS: ClassVar[Mapping[str, object]] = {}

    def __new__(cls, *args: Any, **kwargs: Any) -> DenoiserConfig:
        """``DenoiserConfig(kind=..., ...)`` (as before the split) builds the class of that kind."""
        if cls is DenoiserConfig:
            cls = denoiser_class(kwargs.get("kind", "dm"))
        return super().__new__(cls)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: object = None):
        """The config of ``data``; on this base, of the class its ``kind`` names."""
        if cls is DenoiserConfig and isinstance(data, Mapping):
            return denoiser_class(data.get("kind", "dm"), source).from_dict(data, source)
        return super().from_dict(data, source)

    @classmethod
    def _upgrade(cls, data: Mapping[str, Any], source: object) -> dict[str, Any]:
        """``data`` checked to be of this kind, without the :attr:`LEGACY_KEYS` (values checked)."""
        own = cls.__dataclass_fields__["kind"].default
        if data.get("kind", own) != own:
            raise problem(source, f"a config of kind {data.get('kind')!r} is not a {cls.__name__} (kind {own!r})",
                          "Read config.json with configs.config_from_dict, which picks the class by its kind")
        out = dict(data)
        for key, allowed in cls.LEGACY_KEYS.items():
            if key in out and allowed is not ... and out[key] != allowed:
                raise problem(source, f"a {own} config has no {key} (got {out[key]!r})",
                              f"Remove {key}, or set kind to the model it belongs to")
            out.pop(key, None)
        return out

    def __post_init__(self) -> None:
        own = type(self).__dataclass_fields__["kind"].default
        if self.kind != own:
            raise problem(None, f"{type(self).__name__} kind must be {own!r}, got {self.kind!r}",
                          "Build the config with configs.config_from_dict, which picks the class by kind")
        _check_common(self)
        for name in ("sigma_data", "sigma_min", "sigma_max", "p_mean", "p_std"):
            _check_float(name, getattr(self, name))
        if not 0 < self.sigma_min < self.sigma_max or self.sigma_data <= 0 or self.p_std <= 0:
            raise problem(None, f"need 0 < sigma_min < sigma_max, sigma_data > 0 and p_std > 0, got "
                                 f"{self.sigma_min}, {self.sigma_max}, {self.sigma_data}, {self.p_std}")
        _check_float("dropout", self.dropout, 0.0, 0.99)
        _check_int("grid_size", self.grid_size, MIN_GRID_SIZE, MAX_GRID_SIZE, _GRID_WHY)
        self._check_space()
        if self.colour and not (len(self.colour) == 7 and self.colour.startswith("#")):
            raise problem(None, f"colour must look like '#1b9e77', got {self.colour!r}")
        size = self.spatial_size
        _check_network(self, size, self.channel_mults)
        if self.base_channels % 2:
            raise problem(None, f"base_channels must be even (the noise embedding), got {self.base_channels}")
        if size % 2 ** (len(self.channel_mults) - 1):
            raise problem(None, f"size {size} is not divisible by 2**{len(self.channel_mults) - 1}")
        self._check_attention(size)

    def _check_space(self) -> None:
        """Checks of the space the denoiser works in (none in data space)."""

    def _check_attention(self, size: int) -> None:
        """Attention levels inside the U-Net, heads that split the width, no attention on large grids."""
        levels = self.attn_levels
        if not isinstance(levels, tuple) or len(set(levels)) != len(levels):
            raise problem(None, f"attn_levels must be a list of distinct levels, got {levels!r}")
        for lv in levels:
            _check_int("each of attn_levels", lv, 0, len(self.channel_mults) - 1)
        _check_int("attn_heads", self.attn_heads, 1, MAX_ATTN_HEADS)
        for lv in levels:
            width, side = self.base_channels * self.channel_mults[lv], size >> lv
            if side > MAX_ATTN_SIZE:
                raise problem(None, f"self-attention at level {lv} would run on {side}² cells, above "
                                     f"{MAX_ATTN_SIZE}² ({MAX_ATTN_SIZE ** 2} tokens)",
                              "Put attention on a lower level (the presets attend at 8²)")
            if width % self.attn_heads:
                raise problem(None, f"{width} channels at level {lv} do not split into {self.attn_heads} heads")

    @property
    def in_channels(self) -> int:
        """Channels of what the sampler integrates: the state's variables or the latent's channels."""
        raise NotImplementedError

    @property
    def cond_channels(self) -> int:
        """Fixed conditioning channels of the U-Net (``D(x, σ, cond=...)``)."""
        return 0

    @property
    def spatial_size(self) -> int:
        """Side of what the sampler integrates: the grid or the latent."""
        raise NotImplementedError

    def network_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the raw U-Net, ``networks.UNet(**config.network_kwargs())``."""
        return {"in_channels": self.in_channels, "out_channels": self.in_channels,
                "base_channels": self.base_channels, "channel_mults": self.channel_mults,
                "num_res_blocks": self.num_res_blocks, "attn_levels": self.attn_levels,
                "cond_channels": self.cond_channels, "attn_heads": self.attn_heads, "dropout": self.dropout}


@dataclass(frozen=True, kw_only=True)
class DataDenoiserConfig(DenoiserConfig):
    """Denoiser of a ``dm``: diffuses the normalised state on the grid (Finn et al. 2024)."""

    kind: Literal["dm"] = "dm"
    mask_channel: bool = True  # the land mask is a fixed input channel
    coord_channels: bool = True  # x and y in [-1, 1] as fixed input channels (where a crop lies)

    LEGACY_KEYS: ClassVar[Mapping[str, object]] = dict.fromkeys(
        ("vae", "vae_hash", "latent_channels", "latent_size", "latent_mean", "latent_std"))

    @property
    def in_channels(self) -> int:
        return len(self.variables)

    @property
    def cond_channels(self) -> int:
        """[mask][, x, y]."""
        return int(self.mask_channel) + 2 * int(self.coord_channels)

    @property
    def spatial_size(self) -> int:
        return self.grid_size


@dataclass(frozen=True, kw_only=True)
class LatentDenoiserConfig(DenoiserConfig):
    """Denoiser of an ``ldm``: diffuses the standardised latent of the VAE it names (Finn et al. 2024)."""

    kind: Literal["ldm"] = "ldm"
    vae: str | None = None  # name of the VAE checkpoint (a folder inside the models folder)
    vae_hash: str | None = None  # checkpoint_hash of that VAE at training time
    latent_channels: int | None = None
    latent_size: int | None = None
    # Deprecated: the latent scaling now lives in the VAE's config; read from here only for a VAE
    # trained before that (format 1 checkpoints of earlier versions).
    latent_mean: tuple[float, ...] | None = None
    latent_std: tuple[float, ...] | None = None

    LEGACY_KEYS: ClassVar[Mapping[str, object]] = dict.fromkeys(("mask_channel", "coord_channels"), ...)

    def _check_space(self) -> None:
        if not self.vae or not self.latent_channels or not self.latent_size:
            raise problem(None, "an ldm config needs vae, latent_channels and latent_size")
        _check_int("latent_channels", self.latent_channels, 1, MAX_LATENT_CHANNELS)
        _check_int("latent_size", self.latent_size, MIN_GRID_SIZE, MAX_GRID_SIZE, _GRID_WHY)
        _check_scaling(self, self.latent_channels)
        check_inside("vae", self.vae, "vae-gaussian")

    @property
    def in_channels(self) -> int:
        return int(self.latent_channels or 0)

    @property
    def spatial_size(self) -> int:
        return int(self.latent_size or 0)


#: ``kind`` -> config class: the one table :func:`config_from_dict` reads.
CONFIG_CLASSES: Mapping[str, type[VAEConfig] | type[DenoiserConfig]] = {
    "vae": VAEConfig, "dm": DataDenoiserConfig, "ldm": LatentDenoiserConfig}
Config = Union[VAEConfig, DenoiserConfig]


def denoiser_class(kind: object, source: object = None) -> type[DenoiserConfig]:
    """:class:`DataDenoiserConfig` for ``dm``, :class:`LatentDenoiserConfig` for ``ldm``."""
    cls = CONFIG_CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None or not issubclass(cls, DenoiserConfig):
        raise problem(source, f"denoiser kind must be 'dm' or 'ldm', got {kind!r}",
                      "Set kind to 'dm' (data space) or 'ldm' (latent space)")
    return cls


def config_from_dict(data: Mapping[str, Any], source: object = None) -> Config:
    """The config of a ``config.json`` dict, of the class its ``kind`` names (:data:`CONFIG_CLASSES`)."""
    if not isinstance(data, Mapping):
        raise problem(source, f"a config must be a JSON object, got {type(data).__name__}")
    kind = data.get("kind")
    cls = CONFIG_CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise problem(source, f"unknown checkpoint kind {kind!r}", "kind must be one of 'vae', 'dm', 'ldm'")
    return cls.from_dict(data, source)


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
