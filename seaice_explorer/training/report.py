"""Model-card helpers: the hardware line and small PNG previews of states (matplotlib, no display)."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..variables import VARIABLES


def hardware(device: torch.device, bf16: bool = False) -> str:
    """One line naming the device the model was trained on."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = _cpu_name() or platform.processor() or platform.machine()
        name = f"CPU {name}, {torch.get_num_threads()} threads"
    return f"{name}; torch {torch.__version__}" + ("; bf16 autocast" if bf16 else "")


def _cpu_name() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def save_states_png(path: str | Path, states: np.ndarray, variables: Sequence[str], row_titles: Sequence[str]) -> Path:
    """Rows of states ``(N, C, H, W)`` in physical units (NaN on land), one column per variable."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    n, c = states.shape[:2]
    fig, axes = plt.subplots(n, c, figsize=(1.9 * c, 1.9 * n), squeeze=False, constrained_layout=True)
    for j, name in enumerate(variables):
        var = VARIABLES[name]
        for i in range(n):
            ax = axes[i, j]
            im = ax.imshow(states[i, j], cmap=var.cmap, vmin=var.clim[0], vmax=var.clim[1], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"{name} [{var.units}]", fontsize=8)
            if j == 0:
                ax.set_ylabel(row_titles[i], fontsize=8)
        fig.colorbar(im, ax=axes[:, j], shrink=0.6, location="bottom")
    path = Path(path)
    fig.savefig(path, dpi=72)
    plt.close(fig)
    return path
