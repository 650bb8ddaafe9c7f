"""A compact, fully convolutional U-Net: the raw network ``F(x, c_noise)`` behind a denoiser.

Architecture after the DDPM++ U-Net of Karras et al. 2022 (EDM, arXiv 2206.00364, App. F.2),
scaled down for CPU training: residual blocks with a scale-shift of the noise embedding,
optional self-attention at chosen levels (and in the middle when the lowest level is among
them), skip connections from every encoder block. For data-space diffusion (Finn et al. 2024)
the land mask and the x/y coordinates are conditioning channels passed as
``net(x, c_noise, cond=...)``: the denoiser contract is ``D(x, σ, **cond)`` as in EDM and k-diffusion.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import Downsample, PositionalEmbedding, ResBlock, SelfAttention, Upsample, check_divisible, group_norm


def fixed_conditioning(mask: Tensor, with_mask: bool = True, with_coords: bool = True) -> Tensor:
    """Fixed conditioning channels (Cc, H, W): the ocean mask, then x and y in [-1, 1] (CoordConv,
    Liu et al. 2018, arXiv 1807.03247) so a fully convolutional net trained on crops knows where
    each crop lies on the grid."""
    h, w = mask.shape
    chans = [mask.float()] if with_mask else []
    if with_coords:
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        chans += [xx, yy]
    return torch.stack(chans) if chans else torch.zeros(0, h, w)


class UNet(nn.Module):
    """U-Net ``(B, in, H, W), (B,) -> (B, out, H, W)``; H and W divisible by ``2**(len(channel_mults)-1)``.

    The hyper-parameters after the channels are keyword-only (``UNet(**config.network_kwargs())``).

    Parameters
    ----------
    in_channels, out_channels : channels of the state (or latent) in and out.
    base_channels : width of the first level; level ``i`` has ``base_channels * channel_mults[i]``.
    num_res_blocks : residual blocks per level on the way down (one more on the way up).
    attn_levels : levels with self-attention after each block; keep it to the lowest level.
    cond_channels : conditioning channels (e.g. the land mask and x, y) concatenated to ``x``;
        then ``forward`` needs ``cond`` of shape ``(B or 1, cond_channels, H, W)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        base_channels: int = 32,
        channel_mults: Sequence[int] = (1, 2, 2),
        num_res_blocks: int = 1,
        attn_levels: Sequence[int] = (),
        cond_channels: int = 0,
        emb_channels: int | None = None,
        attn_heads: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.cond_channels = in_channels, out_channels, cond_channels
        self.levels = len(channel_mults)
        emb_ch = emb_channels or 4 * base_channels
        self.embed = PositionalEmbedding(base_channels)
        self.emb_mlp = nn.Sequential(nn.Linear(base_channels, emb_ch), nn.SiLU(), nn.Linear(emb_ch, emb_ch))
        widths = [base_channels * m for m in channel_mults]
        self.conv_in = nn.Conv2d(in_channels + cond_channels, widths[0], 3, padding=1)
        self.down = nn.ModuleList()
        skips, ch = [widths[0]], widths[0]
        for level, width in enumerate(widths):
            for _ in range(num_res_blocks):
                self.down.append(_Block(ch, width, emb_ch, level in attn_levels, attn_heads, dropout))
                ch = width
                skips.append(ch)
            if level < self.levels - 1:
                self.down.append(Downsample(ch))
                skips.append(ch)
        mid_attn = (self.levels - 1) in attn_levels
        self.mid = nn.ModuleList([_Block(ch, ch, emb_ch, mid_attn, attn_heads, dropout), _Block(ch, ch, emb_ch, False, 1, dropout)])
        self.up = nn.ModuleList()
        for level in reversed(range(self.levels)):
            for _ in range(num_res_blocks + 1):
                self.up.append(_Block(ch + skips.pop(), widths[level], emb_ch, level in attn_levels, attn_heads, dropout))
                ch = widths[level]
            if level > 0:
                self.up.append(Upsample(ch))
        self.norm_out = group_norm(ch)
        self.conv_out = nn.Conv2d(ch, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    # -- conditioning ---------------------------------------------------------------------------
    def _conditioning(self, x: Tensor, cond: Tensor | None) -> Tensor:
        if cond is None:
            raise ValueError(f"this U-Net takes {self.cond_channels} conditioning channels: pass cond=")
        if cond.ndim == 3:
            cond = cond[None]  # (1, Cc, H, W)
        if cond.shape[1] != self.cond_channels or cond.shape[-2:] != x.shape[-2:]:
            raise ValueError(f"cond {tuple(cond.shape)} does not fit {self.cond_channels} channels on x of "
                             f"{tuple(x.shape[-2:])}; pass the matching crop")
        return cond.to(dtype=x.dtype, device=x.device).expand(x.shape[0], -1, -1, -1)  # (B, Cc, H, W)

    # -- forward --------------------------------------------------------------------------------
    def forward(self, x: Tensor, c_noise: Tensor, cond: Tensor | None = None) -> Tensor:
        """``x``: (B, in, H, W); ``c_noise``: (B,) or scalar; ``cond``: (B|1, Cc, H, W) when ``cond_channels``."""
        check_divisible(x, 2 ** (self.levels - 1), "UNet")
        if self.cond_channels:
            x = torch.cat([x, self._conditioning(x, cond)], dim=1)  # (B, in + Cc, H, W)
        c_noise = c_noise.reshape(-1).expand(x.shape[0]) if c_noise.numel() == 1 else c_noise.reshape(-1)
        emb = F.silu(self.emb_mlp(self.embed(c_noise)))  # (B, E)
        h = self.conv_in(x)
        hs = [h]
        for block in self.down:
            h = block(h, emb) if isinstance(block, _Block) else block(h)
            hs.append(h)
        for block in self.mid:
            h = block(h, emb)
        for block in self.up:
            if isinstance(block, _Block):
                h = block(torch.cat([h, hs.pop()], dim=1), emb)
            else:
                h = block(h)
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, out, H, W)


class _Block(nn.Module):
    """A residual block optionally followed by self-attention."""

    def __init__(self, cin: int, cout: int, emb: int, attn: bool, heads: int, dropout: float) -> None:
        super().__init__()
        self.res = ResBlock(cin, cout, emb, dropout)
        self.attn = SelfAttention(cout, heads) if attn else None

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        x = self.res(x, emb)
        return self.attn(x) if self.attn is not None else x
