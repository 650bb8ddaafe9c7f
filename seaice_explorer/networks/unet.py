"""A compact, fully convolutional U-Net: the raw network ``F(x, c_noise)`` behind a denoiser.

Architecture after the DDPM++ U-Net of Karras et al. 2022 (EDM, arXiv 2206.00364, App. F.2),
scaled down for CPU training: residual blocks with a scale-shift of the noise embedding,
optional self-attention at chosen levels (and in the middle when the lowest level is among
them), skip connections from every encoder block. For data-space diffusion (Finn et al. 2024,
Sec. 3) the land mask is a fixed conditioning channel stored as a buffer and concatenated
inside, so the network keeps the plain ``net(x, c_noise)`` contract.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import Downsample, PositionalEmbedding, ResBlock, SelfAttention, Upsample, check_divisible, group_norm


class UNet(nn.Module):
    """U-Net ``(B, in, H, W), (B,) -> (B, out, H, W)``; H and W divisible by ``2**(len(channel_mults)-1)``.

    Parameters
    ----------
    in_channels, out_channels : channels of the state (or latent) in and out.
    base_channels : width of the first level; level ``i`` has ``base_channels * channel_mults[i]``.
    num_res_blocks : residual blocks per level on the way down (one more on the way up).
    attn_levels : levels with self-attention after each block; keep it to the lowest level.
    cond_channels : fixed conditioning channels (e.g. 1 for the land mask) concatenated to ``x``.
    cond_shape : ``(H, W)`` of the stored conditioning buffer; ``None`` means ``cond`` is always passed.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        base_channels: int = 32,
        channel_mults: Sequence[int] = (1, 2, 2),
        num_res_blocks: int = 1,
        attn_levels: Sequence[int] = (),
        cond_channels: int = 0,
        cond_shape: tuple[int, int] | None = None,
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
        if cond_channels and cond_shape is not None:
            self.register_buffer("cond", torch.zeros(cond_channels, *cond_shape))
        else:
            self.register_buffer("cond", None)

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
    def set_mask(self, mask: Tensor) -> None:
        """Store the fixed conditioning (e.g. the land mask, ocean = 1) as the ``cond`` buffer."""
        mask = torch.as_tensor(mask, dtype=torch.float32)
        if mask.ndim == 2:
            mask = mask[None]  # (1, H, W)
        if mask.ndim != 3 or mask.shape[0] != self.cond_channels:
            raise ValueError(f"mask must be (H, W) or ({self.cond_channels}, H, W), got {tuple(mask.shape)}")
        device = next(self.parameters()).device
        if self.cond is not None and self.cond.shape == mask.shape:
            self.cond.copy_(mask)
        else:
            self.register_buffer("cond", mask.to(device))

    def _conditioning(self, x: Tensor, cond: Tensor | None) -> Tensor:
        if cond is None:
            if self.cond is None:
                raise ValueError("this U-Net has conditioning channels but no stored mask; call set_mask or pass cond=")
            cond = self.cond
            if cond.shape[-2:] != x.shape[-2:]:
                raise ValueError(
                    f"stored mask is {tuple(cond.shape[-2:])} but x is {tuple(x.shape[-2:])}; "
                    "pass the matching crop of the mask as cond="
                )
        if cond.ndim == 3:
            cond = cond[None]  # (1, Cc, H, W)
        return cond.to(dtype=x.dtype, device=x.device).expand(x.shape[0], -1, -1, -1)  # (B, Cc, H, W)

    # -- forward --------------------------------------------------------------------------------
    def forward(self, x: Tensor, c_noise: Tensor, cond: Tensor | None = None) -> Tensor:
        """``x``: (B, in, H, W); ``c_noise``: (B,) or scalar; ``cond``: optional (B|1, Cc, H, W) override."""
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
