"""Building blocks shared by the U-Net denoiser and the VAE.

The residual block with a scale-shift (FiLM) conditioning on the noise embedding follows the
DDPM++ / ADM blocks used by Karras et al. 2022 (EDM, arXiv 2206.00364, Appendix F) and by
Finn et al. 2024 (arXiv 2406.18417); the embedding of ``c_noise`` is the sinusoidal
positional embedding of Vaswani et al. 2017 as in EDM's ``PositionalEmbedding``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def num_groups(channels: int, max_groups: int = 32, min_group_size: int = 4) -> int:
    """Largest GroupNorm group count <= ``max_groups`` dividing ``channels`` with >= 4 channels a group."""
    for g in range(min(max_groups, channels), 0, -1):
        if channels % g == 0 and channels // g >= min(min_group_size, channels):
            return g
    return 1


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups(channels), channels, eps=1e-5)


class PositionalEmbedding(nn.Module):
    """Sinusoidal embedding of the scalar noise level ``c_noise`` (EDM, Appendix F.2)."""

    def __init__(self, channels: int, max_positions: float = 10_000.0) -> None:
        super().__init__()
        if channels % 2:
            raise ValueError(f"embedding channels must be even, got {channels}")
        half = channels // 2
        freqs = (1.0 / max_positions) ** (torch.arange(half, dtype=torch.float32) / max(half - 1, 1))
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, c_noise: Tensor) -> Tensor:
        arg = c_noise.float().reshape(-1, 1) * self.freqs.to(c_noise.device)  # (B, half)
        return torch.cat([torch.cos(arg), torch.sin(arg)], dim=1)  # (B, channels)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv residual block; the embedding modulates the second norm (scale-shift).

    ``emb_channels=0`` gives the unconditioned block used by the VAE.
    """

    def __init__(self, in_channels: int, out_channels: int, emb_channels: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = group_norm(out_channels)
        self.emb = nn.Linear(emb_channels, 2 * out_channels) if emb_channels > 0 else None
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # the block starts as the identity (skip only)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, out, H, W)
        h = self.norm2(h)
        if self.emb is not None:
            if emb is None:
                raise ValueError("this block needs the noise embedding")
            scale, shift = self.emb(emb).to(h.dtype)[:, :, None, None].chunk(2, dim=1)  # (B, out, 1, 1)
            h = h * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over all pixels, with a zero-initialised output projection."""

    def __init__(self, channels: int, heads: int = 1) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"{channels} channels do not split into {heads} heads")
        self.heads = heads
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w)
        q, k, v = (t.transpose(-1, -2) for t in qkv.unbind(1))  # each (B, heads, HW, c/heads)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, HW, c/heads)
        out = out.transpose(-1, -2).reshape(b, c, h, w)
        return x + self.proj(out)


class Downsample(nn.Module):
    """Stride-2 3×3 convolution: halves H and W."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest-neighbour ×2 upsampling followed by a 3×3 convolution (to ``out_channels``)."""

    def __init__(self, channels: int, out_channels: int | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, out_channels or channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def check_divisible(x: Tensor, factor: int, what: str) -> None:
    """Raise a clear error when the spatial size cannot be down-sampled ``factor`` times."""
    h, w = x.shape[-2:]
    if h % factor or w % factor:
        raise ValueError(
            f"{what} needs H and W divisible by {factor}, got {h}×{w}; "
            f"crop or pad the field to a multiple of {factor}"
        )


def log2_int(n: int) -> int:
    k = int(round(math.log2(n)))
    if 2**k != n:
        raise ValueError(f"{n} is not a power of two")
    return k


def weighted_mean(values: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``values`` over all cells, each counted with ``weight`` (broadcast to its shape).

    Every weighted cell of every sample and channel enters one sum and one normaliser,
    so land cells (weight 0) are ignored and do not dilute the mean.
    """
    if weight is None:
        return values.mean()
    w = weight.to(dtype=values.dtype, device=values.device).expand_as(values)
    total = w.sum()
    if not total > 0:
        raise ValueError("the weight (ocean mask) is zero everywhere: no cell to average over")
    values = torch.where(w > 0, values, torch.zeros_like(values))  # NaN on land must not leak
    return (values * w).sum() / total
