"""Checkpoints: ``models/<name>/config.json`` + ``model.safetensors`` + ``README.md`` (model card).

The configs are data (:mod:`seaice_explorer.configs`, torch-free); this module rebuilds the
networks from them without pickles. Loading checks the config keys, the kind, then the tensor
names, dtypes and shapes in the safetensors header against the network built on the meta device,
before any tensor is read or memory allocated, and raises :class:`SeaIceInputError` naming the file
on any problem.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
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
    DataDenoiserConfig,
    DenoiserConfig,
    LatentDenoiserConfig,
    VAEConfig,
    checkpoint_dir,
    config_from_dict,
    config_json,
    load_config,
    resolve_models_dir,
)
from .configs import problem as _problem
from .errors import SeaIceInputError
from .networks import VAE, UNet

log = logging.getLogger(__name__)

__all__ = ["CARD_FILE", "CONFIG_FILE", "MODELS_DIR", "MODELS_ENV", "WEIGHTS_FILE", "Config", "DataDenoiserConfig",
           "DenoiserConfig", "LatentDenoiserConfig", "VAEConfig", "build_module", "checkpoint_dir", "checkpoint_hash", "config_from_dict", "config_json",
           "expected_shapes", "load_checkpoint", "load_config", "read_header", "resolve_device", "resolve_models_dir",
           "save_checkpoint"]

def build_module(config: Config) -> nn.Module:
    """A freshly initialised network for ``config`` (the raw U-Net for denoisers), built by keyword."""
    if isinstance(config, VAEConfig):
        return VAE(**config.network_kwargs())
    return UNet(**config.network_kwargs())


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
    "vae": "Convolutional VAE of the latent backends (Finn et al. 2024, arXiv 2406.18417).",
    "dm": "Data-space diffusion denoiser, EDM preconditioning (Karras et al. 2022; Finn et al. 2024).",
    "ldm": "Latent diffusion denoiser, EDM preconditioning (Karras et al. 2022; Finn et al. 2024).",
}
_CARD_FIELDS = (  # the budget rows after batch size are training.budget.BUDGET_ROWS (same labels, same order)
    ("training_data", "training data"), ("command", "command"), ("steps", "steps"), ("batch_size", "batch size"),
    ("states_seen", "states seen"), ("training_flops", "training FLOPs (≈3× forward)"),
    ("cpu_hours", "CPU hours (wall × threads)"), ("warm_restarts", "warm restarts"),
    ("wall_time_s", "wall time [s]"), ("hardware", "hardware"), ("seed", "seed"), ("parameters", "parameters"),
    ("vae", "VAE"),
)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# -- load -----------------------------------------------------------------------------------------
#: Largest safetensors header read (tensor names, dtypes, shapes); a 1000-tensor model needs ~100 kB.
MAX_HEADER_BYTES = 16 << 20
#: Bytes per element of each safetensors dtype; only the floating ones are weights.
_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8, "I32": 4,
                "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}
_FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")
_RESAVE = "Re-save or re-train the model"
_MISMATCH = "The weights and config come from different models; re-save them together"


def load_checkpoint(
    name_or_dir: str | os.PathLike,
    models_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, Config]:
    """Rebuild a network from ``config.json`` + ``model.safetensors`` (never a pickle), in eval mode.

    The weights' header (names, dtypes, shapes) is checked against the network the config implies,
    built on the meta device, before any tensor is read or any network allocated.
    """
    config = load_config(name_or_dir, models_dir)
    folder = checkpoint_dir(name_or_dir, models_dir)
    path = folder / WEIGHTS_FILE
    if not path.is_file():
        raise _problem(path, "weights file missing", "A checkpoint needs model.safetensors beside config.json")
    found = read_header(path)
    expected = expected_shapes(config, folder / CONFIG_FILE)
    if "cond" in found and "cond" not in expected:
        # checkpoints of earlier versions stored the dm's fixed conditioning (mask, x, y) as a U-Net
        # buffer; it now comes from the grid through D(x, sigma, cond=...), so the stored copy is unused
        log.debug("%s: ignoring the stored conditioning buffer 'cond' of an earlier version", path)
        del found["cond"]
    _check_header(path, expected, found)
    tensors = _read_tensors(path, list(expected))
    module = build_module(config)
    module.load_state_dict(tensors, strict=True)
    module.eval().requires_grad_(False)
    return module.to(resolve_device(device)), config


def expected_shapes(config: Config, source: object = None) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor the config's network holds, built on the meta device (no memory)."""
    try:
        with torch.device("meta"):
            module = build_module(config)
    except (ValueError, RuntimeError) as err:
        raise _problem(source, f"no network can be built from this config ({err})") from None
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def read_header(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Name -> (dtype, shape) from a safetensors header (8-byte length + JSON), no tensor read."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 2 <= length <= min(MAX_HEADER_BYTES, size - 8):
            raise _corrupt(path, f"header length {length} in a {size}-byte file (at most {MAX_HEADER_BYTES})")
        raw = fh.read(length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _corrupt(path, f"unreadable header: {err}") from None
    if not isinstance(header, dict):
        raise _corrupt(path, "the header is not a JSON object")
    data_bytes = size - 8 - length
    return {k: _tensor_info(path, k, v, data_bytes) for k, v in header.items() if k != "__metadata__"}


def _tensor_info(path: Path, name: str, info: object, data_bytes: int) -> tuple[str, tuple[int, ...]]:
    """(dtype, shape) of one header entry whose byte range fits its shape and the file."""
    ok = isinstance(info, dict) and info.get("dtype") in _DTYPE_BYTES and isinstance(info.get("shape"), list)
    shape = tuple(info["shape"]) if ok else ()  # type: ignore[index]
    offsets = info.get("data_offsets") if ok else None  # type: ignore[union-attr]
    ok = ok and all(isinstance(d, int) and d >= 0 for d in shape) and isinstance(offsets, list) \
        and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
    if ok:
        begin, end = offsets  # type: ignore[misc]
        ok = 0 <= begin <= end <= data_bytes and end - begin == math.prod(shape) * _DTYPE_BYTES[info["dtype"]]
    if not ok:
        raise _corrupt(path, f"bad header entry for tensor {name!r}")
    return info["dtype"], shape  # type: ignore[index]


def _corrupt(path: Path, why: str) -> SeaIceInputError:
    return _problem(path, f"corrupt or truncated safetensors file ({why})", _RESAVE)


def _check_header(path: Path, expected: Mapping[str, tuple[int, ...]],
                  found: Mapping[str, tuple[str, tuple[int, ...]]]) -> None:
    """The header holds exactly the expected names, shapes and floating-point dtypes."""
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing or extra:
        raise _problem(path, f"weights do not match config.json: missing {missing[:5]}, unexpected {extra[:5]}",
                       _MISMATCH)
    for key, shape in expected.items():
        dtype, got = found[key]
        if got != shape:
            raise _problem(path, f"tensor {key!r} has shape {got}, config.json implies {shape}", _MISMATCH)
        if dtype not in _FLOAT_DTYPES:
            raise _problem(path, f"tensor {key!r} is not finite floating point (dtype {dtype})", "Re-train the model")


def _read_tensors(path: Path, names: list[str]) -> dict[str, torch.Tensor]:
    """The named tensors (CPU), each checked finite."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            tensors = {k: fh.get_tensor(k) for k in names}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise _corrupt(path, str(err)) from None
    for key, value in tensors.items():
        if not torch.isfinite(value).all():
            raise _problem(path, f"tensor {key!r} is not finite floating point", "Re-train the model")
    return tensors


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The one device resolver (loading, sampling, training): ``"auto"`` -> CUDA when available, else CPU.

    An unknown device, CUDA asked for without one, or a GPU index the machine lacks is an input
    error, raised before anything is built. ``"cuda"`` stays index-free (the current GPU; under
    torchrun :func:`training.distributed.local_device` names this process's).
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise _problem("device", f"unknown device {device!r}", "Use 'auto', 'cpu' or 'cuda'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise _problem("device", "CUDA was asked for but is not available", "Use device='auto' or 'cpu'")
    if dev.type not in ("cpu", "cuda", "meta"):
        raise _problem("device", f"device type {dev.type!r} is not supported", "Use 'auto', 'cpu' or 'cuda'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise _problem("device", f"{dev} was asked for, but this machine has {torch.cuda.device_count()} GPU(s)",
                       "Use 'cuda' (the current GPU) or an index below the GPU count")
    return dev
