"""Named network presets as data: config keys per model kind, the start of ``seaice-explorer train``.

``train --preset NAME`` starts from ``PRESETS[NAME][kind]``, then the ``--config`` file, then each
``--set``. Two presets:

- ``default-128``: the shipped models on the 128² default grid (50 km): a VAE with f = 4 to an
  8×32×32 latent, a latent U-Net for 32² and a 5-level data-space U-Net (128² -> 8²).
- ``paper-512``: the 512² configuration of Finn et al. 2024 (arXiv 2406.18417), the size
  of their neXtSIM CREG025 fields: a VAE with f = 8 to a 16×64×64 latent from 5×512×512 (for both
  decoders), a latent U-Net for 64² and a 7-level data-space U-Net (512² -> 8², attention at 8²).
  The data-space U-Net is convolutional with attention only at its lowest level, so it trains on
  patches (``--crop 128``, any multiple of 64) and samples whole 512² fields.

Widths stay modest (32 channels at full resolution, as the shipped models) so that a few steps run
on a CPU; the levels and latent shapes are the paper's. Each U-Net's lowest level is 8², where
self-attention gives a global receptive field. The training noise distribution ln σ ~ N(p_mean,
p_std²) is shifted by ln(size / 32) from the 32² latent models' p_mean = -0.5 (resolution shift,
Hoogeboom et al. 2023, arXiv 2301.11093, Sec. 3.1), as in ``default-128``'s data-space model.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from ..errors import SeaIceInputError

KINDS: tuple[str, ...] = ("vae", "dm", "ldm")
DEFAULT_PRESET = "default-128"
#: the grid size (cells per side) each preset is built for; training takes the size of its data
PRESET_GRID_SIZE: Mapping[str, int] = {"default-128": 128, "paper-512": 512}


def _shifted_p_mean(size: int) -> float:
    """p_mean of a denoiser on ``size``² fields: -0.5 (32² latents) + ln(size / 32), to 2 decimals."""
    return round(-0.5 + math.log(size / 32), 2)


#: preset -> kind -> config keys (VAEConfig / DenoiserConfig), before --config and --set.
PRESETS: Mapping[str, Mapping[str, Mapping[str, Any]]] = {
    "default-128": {
        "vae": {"latent_channels": 8, "base_channels": 32, "downsample": 4, "beta": 1e-3},
        # 5 levels (128² -> 8²) with attention at 8²: a global receptive field, which the ice cap needs;
        # 3 levels trained on 64² crops gave patchy caps (tested on the reference). Noise levels shifted
        # up by ln(128/32): 128² fields keep the season (the state mean) up to sigma ~ 40, and with
        # p_mean -0.5 the denoiser was biased towards winter there (mean sic +0.04 at sigma 80).
        "dm": {"kind": "dm", "base_channels": 32, "channel_mults": [1, 2, 2, 2, 2], "attn_levels": [4],
               "p_mean": 0.9, "p_std": 1.4},
        "ldm": {"kind": "ldm", "base_channels": 32, "channel_mults": [1, 2, 2], "attn_levels": [2]},
    },
    "paper-512": {
        # f = 8: 5×512×512 -> 16×64×64 (channel_mults (1, 2, 2, 2): 32, 64, 64, 64 channels)
        "vae": {"latent_channels": 16, "base_channels": 32, "downsample": 8, "beta": 1e-3},
        # 7 levels, 512² -> 8², attention at 8²; trained on --crop patches, sampled whole
        "dm": {"kind": "dm", "base_channels": 32, "channel_mults": [1, 2, 2, 2, 2, 2, 2], "attn_levels": [6],
               "p_mean": _shifted_p_mean(512), "p_std": 1.4},
        # 4 levels on the 64² latent, 64² -> 8², attention at 8²
        "ldm": {"kind": "ldm", "base_channels": 32, "channel_mults": [1, 2, 2, 2], "attn_levels": [3],
                "p_mean": _shifted_p_mean(64)},
    },
}


def preset_hyperparameters(kind: str, preset: str = DEFAULT_PRESET) -> dict[str, Any]:
    """A fresh copy of the config keys of ``kind`` (``vae``, ``dm``, ``ldm``) in ``preset``."""
    if preset not in PRESETS:
        raise SeaIceInputError("--preset", f"unknown preset {preset!r}", f"Use one of {', '.join(PRESETS)}")
    if kind not in KINDS:
        raise SeaIceInputError("kind", f"unknown model kind {kind!r}", f"Use one of {', '.join(KINDS)}")
    return copy.deepcopy(dict(PRESETS[preset][kind]))
