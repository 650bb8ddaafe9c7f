"""Exponential moving average of the weights, used for sampling and saved in checkpoints.

Polyak averaging as in Karras et al. 2022 (EDM, App. F.1) and Ho et al. 2020, with the usual
warm-up ``decay_t = min(decay, (1 + t) / (10 + t))`` so early averages are not dominated by
the random initialisation.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Holds ``module``, an averaged copy of a training network (eval mode, no gradients)."""

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    def decay_at(self, step: int) -> float:
        """Effective decay after ``step`` optimiser steps (0-based)."""
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """ema <- d·ema + (1 − d)·weights; buffers (e.g. the mask) are copied."""
        d = self.decay_at(step)
        ema_params = list(self.module.parameters())
        params = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(ema_params, params, 1.0 - d)
        for eb, b in zip(self.module.buffers(), model.buffers()):
            eb.copy_(b)
