"""Convolutional VAE mapping the normalised 5-channel state to a latent and back.

Finn et al. 2024 (arXiv 2406.18417): a fully convolutional encoder gives the
mean and log-variance of a Gaussian posterior q(z|x); the decoder gives the location ``mu`` of
a per-cell Gaussian, or censored Gaussian, with a learned scale per variable. The loss is the
negative log-likelihood averaged over all ocean cells plus ``beta`` times the KL divergence to
N(0, I). A small ``beta`` (1e-3 per latent element here) keeps the autoencoder close to
deterministic, as in the KL-regularised autoencoders of Rombach et al. 2022 (arXiv 2112.10752,
Sec. 3 and App. G); the latent is standardised afterwards for the diffusion model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn

from .censored import censored_gaussian_nll
from .layers import Downsample, ResBlock, Upsample, check_divisible, group_norm, log2_int

Decoder = Literal["gaussian", "censored"]


class VAELoss(NamedTuple):
    """Total loss and its parts (all scalars)."""

    total: Tensor
    nll: Tensor
    kl: Tensor


def default_mults(downsample: int) -> tuple[int, ...]:
    """Channel multipliers ``(1, 2, 2, ...)``: one level per factor of two, plus the input level."""
    return (1,) + (2,) * log2_int(downsample)


class VAE(nn.Module):
    """VAE ``(B, C, H, W) <-> (B, latent, H/f, W/f)`` with ``f = downsample`` (a power of two).

    ``f=4, latent_channels=8`` gives 8×32×32 latents at 128²; ``f=8, latent_channels=16`` gives
    the paper's 16×64×64 at 512². The hyper-parameters after the channels are keyword-only
    (``VAE(**config.network_kwargs())``).
    """

    def __init__(
        self,
        in_channels: int = 5,
        latent_channels: int = 8,
        *,
        base_channels: int = 32,
        downsample: int = 4,
        decoder: Decoder = "gaussian",
        channel_mults: Sequence[int] | None = None,
        num_res_blocks: int = 1,
        beta: float = 1e-3,
    ) -> None:
        super().__init__()
        if decoder not in ("gaussian", "censored"):
            raise ValueError(f"decoder must be 'gaussian' or 'censored', got {decoder!r}")
        mults = tuple(channel_mults) if channel_mults is not None else default_mults(downsample)
        if len(mults) != log2_int(downsample) + 1:
            raise ValueError(f"downsample {downsample} needs {log2_int(downsample) + 1} channel_mults, got {mults}")
        self.in_channels, self.latent_channels = in_channels, latent_channels
        self.downsample, self.decoder, self.beta = downsample, decoder, beta
        widths = [base_channels * m for m in mults]

        enc: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1)]
        ch = widths[0]
        for level, width in enumerate(widths):
            for _ in range(num_res_blocks):
                enc.append(ResBlock(ch, width))
                ch = width
            if level < len(widths) - 1:
                enc.append(Downsample(ch))
        enc += [ResBlock(ch, ch), group_norm(ch), nn.SiLU(), nn.Conv2d(ch, 2 * latent_channels, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)

        dec: list[nn.Module] = [nn.Conv2d(latent_channels, widths[-1], 3, padding=1), ResBlock(widths[-1], widths[-1])]
        ch = widths[-1]
        for level in reversed(range(len(widths))):
            for _ in range(num_res_blocks):
                dec.append(ResBlock(ch, widths[level]))
                ch = widths[level]
            if level > 0:  # change width before the larger grid: half the cost at 128²
                dec.append(Upsample(ch, widths[level - 1]))
                ch = widths[level - 1]
        dec += [group_norm(ch), nn.SiLU(), nn.Conv2d(ch, in_channels, 3, padding=1)]
        self.decoder_net = nn.Sequential(*dec)
        #: log of the per-variable decoder scale sigma (normalised units), shape (C,)
        self.log_scale = nn.Parameter(torch.full((in_channels,), math.log(0.1)))  # near a trained value

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance, each (B, latent, H/f, W/f)."""
        check_divisible(x, self.downsample, "VAE.encode")
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Location ``mu`` (B, C, H, W) and scale ``sigma`` (C,) of the decoder distribution."""
        return self.decoder_net(z), self.log_scale.exp()

    def forward(self, x: Tensor) -> Tensor:
        """Deterministic reconstruction ``mu`` of ``x`` through the posterior mean."""
        return self.decode(self.encode(x)[0])[0]

    def loss(
        self,
        x: Tensor,
        mask: Tensor,
        lower: Tensor,
        upper: Tensor,
        generator: torch.Generator | None = None,
        eps: Tensor | None = None,
    ) -> VAELoss:
        """NLL over all ocean cells (censored or plain Gaussian) + beta·KL, Finn et al. 2024 Eq. (4)-(5).

        ``x``: normalised state (B, C, H, W) with zeros on land; ``mask``: ocean = 1, broadcastable
        to (B, 1, H, W); ``lower``/``upper``: normalised bounds (C,), ±inf where unbounded. The
        Gaussian decoder ignores the bounds (it is the censored likelihood with infinite bounds).
        ``eps``: the reparameterisation's standard normal draws (B, L, h, w), else drawn by ``generator``.
        """
        mean, logvar = self.encode(x)
        if eps is None:
            eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + (0.5 * logvar).exp() * eps  # reparameterisation, (B, L, h, w)
        mu, sigma = self.decode(z)
        dtype = torch.promote_types(mu.dtype, torch.float32)  # bf16 under autocast -> fp32
        mu, x, mean, logvar = mu.to(dtype), x.to(dtype), mean.to(dtype), logvar.to(dtype)
        if self.decoder == "gaussian":
            lower = torch.full_like(lower, -math.inf)
            upper = torch.full_like(upper, math.inf)
        weight = _broadcast_mask(mask, mu)  # (B, C, H, W)
        nll = censored_gaussian_nll(x, mu, sigma.to(dtype)[:, None, None].expand_as(mu), lower, upper, weight=weight)
        kl = kl_divergence(mean, logvar)
        return VAELoss(nll + self.beta * kl, nll, kl)


def _broadcast_mask(mask: Tensor, like: Tensor) -> Tensor:
    mask = mask.to(device=like.device, dtype=like.dtype)
    while mask.ndim < 4:
        mask = mask[None]
    return mask.expand_as(like)


def kl_divergence(mean: Tensor, logvar: Tensor) -> Tensor:
    """Mean KL(N(mean, exp(logvar)) || N(0, 1)) per latent element."""
    return 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar).mean()
