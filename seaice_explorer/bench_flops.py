"""``seaice-explorer bench --flops``: parameters and FLOPs per network evaluation, and the predicted cost ratio.

For each network preset (:mod:`.training.presets`) at the grid size it is built for, the
data-space U-Net, the latent U-Net and the VAE decoder are built on the meta device (shapes
only: no weights, no memory, no time) and one evaluation of batch 1 is counted with
``torch.utils.flop_counter.FlopCounterMode`` (FLOPs = 2 × multiply-adds of the convolutions,
matrix products and attention; norms and activations are not counted). The predicted data-space
÷ latent sampling cost is

    dm FLOPs × NFE / (ldm FLOPs × NFE + one decoder pass),

to set beside the lower cost that latent diffusion targets (Finn et al. 2024, arXiv 2406.18417, abstract;
the "about 25×" at 512² is from a third-party summary of the paper, not from its abstract). NFE: Heun
2n − 1 for n steps, the other samplers n.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from .checkpoints import build_module
from .configs import DenoiserConfig, VAEConfig
from .errors import SeaIceInputError
from .recipe import PAPER, SAMPLER_TABLE
from .training.presets import PRESET_GRID_SIZE, PRESETS, preset_hyperparameters

#: the speed-up of latent over data-space sampling Finn et al. 2024 report at 512²
PAPER_RATIO = 25.0
NETWORKS: tuple[str, ...] = ("dm U-Net", "ldm U-Net", "VAE decoder")


def nfe(sampler: str, steps: int) -> int:
    """Network evaluations of ``steps`` sampler steps, from the sampler table (Heun 2n − 1, Karras et al. 2022, Alg. 1)."""
    if int(steps) < 1:  # 0 steps would give -1 evaluations and ratios that look plausible
        raise SeaIceInputError("steps", f"{steps} sampler steps", "Use an integer >= 1")
    return SAMPLER_TABLE[sampler].evaluations(int(steps))


def preset_configs(preset: str, grid_size: int | None = None) -> dict[str, VAEConfig | DenoiserConfig]:
    """The VAE, dm and ldm configs of ``preset`` at ``grid_size`` (default: the preset's own size)."""
    size = int(grid_size or PRESET_GRID_SIZE[preset])
    vae = VAEConfig.from_dict({**preset_hyperparameters("vae", preset), "grid_size": size})
    dm = DenoiserConfig.from_dict({**preset_hyperparameters("dm", preset), "grid_size": size})
    ldm = DenoiserConfig.from_dict({**preset_hyperparameters("ldm", preset), "grid_size": size, "vae": "vae",
                                    "latent_channels": vae.latent_channels, "latent_size": vae.latent_size})
    return {"vae": vae, "dm": dm, "ldm": ldm}


def count_flops(config: VAEConfig | DenoiserConfig, size: int | None = None) -> dict[str, Any]:
    """Parameters and FLOPs of one batch-1 evaluation of the network of ``config`` (the U-Net of a
    denoiser, the decoder of a VAE) on ``size``² inputs (default: its config's spatial size)."""
    with torch.device("meta"):
        net = build_module(config)
        if isinstance(config, VAEConfig):
            side = (size or config.grid_size) // config.downsample
            args: tuple = (torch.zeros(1, config.latent_channels, side, side),)
            params = sum(p.numel() for p in net.decoder_net.parameters()) + net.log_scale.numel()
            forward, shape = net.decode, [config.latent_channels, side, side]
        else:
            side = size or config.spatial_size
            args = (torch.zeros(1, config.in_channels, side, side), torch.zeros(1))
            kwargs = {"cond": torch.zeros(1, config.cond_channels, side, side)} if config.cond_channels else {}
            params = sum(p.numel() for p in net.parameters())
            forward, shape = (lambda *a: net(*a, **kwargs)), [config.in_channels, side, side]
        with FlopCounterMode(display=False) as counter:
            forward(*args)
    return {"input": shape, "params": int(params), "flops": int(counter.get_total_flops())}


@torch.no_grad()
def time_evaluation(config: VAEConfig | DenoiserConfig, repeat: int = 3, device: str = "cpu") -> float:
    """Median seconds of one batch-1 evaluation (as :func:`count_flops`) with random weights, after
    one warm-up call; float32, the current thread count."""
    torch.manual_seed(0)
    net = build_module(config).to(device).eval()
    if isinstance(config, VAEConfig):
        side = config.grid_size // config.downsample
        z = torch.randn(1, config.latent_channels, side, side, device=device)
        call = lambda: net.decode(z)  # noqa: E731
    else:
        side = config.spatial_size
        x, sigma = torch.randn(1, config.in_channels, side, side, device=device), torch.ones(1, device=device)
        kwargs = {"cond": torch.zeros(1, config.cond_channels, side, side, device=device)} if config.cond_channels else {}
        call = lambda: net(x, sigma, **kwargs)  # noqa: E731
    if int(repeat) < 1:
        raise SeaIceInputError("repeat", f"{repeat} timed evaluations", "Use an integer >= 1")
    times = []
    for _ in range(repeat + 1):
        t0 = time.perf_counter()
        call()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def preset_flops(preset: str, sampler: str = PAPER.sampler, steps: int = PAPER.steps, timed: bool = False) -> dict[str, Any]:
    """Each network of ``preset`` (params, FLOPs) and the predicted dm ÷ ldm sampling-cost ratio;
    ``timed``: also the seconds of one evaluation on the CPU and the ratio those seconds predict."""
    cfgs = preset_configs(preset)
    nets = {"dm U-Net": cfgs["dm"], "ldm U-Net": cfgs["ldm"], "VAE decoder": cfgs["vae"]}
    rows = {name: count_flops(cfg) for name, cfg in nets.items()}
    n = nfe(sampler, steps)
    dm_cost = rows["dm U-Net"]["flops"] * n
    ldm_cost = rows["ldm U-Net"]["flops"] * n + rows["VAE decoder"]["flops"]
    vae = cfgs["vae"]
    out = {"grid_size": vae.grid_size, "latent": [vae.latent_channels, vae.latent_size, vae.latent_size],
           "nfe": n, "networks": rows, "dm_sampling_flops": dm_cost, "ldm_sampling_flops": ldm_cost,
           "predicted_ratio": round(dm_cost / ldm_cost, 1)}
    if timed:
        for name, cfg in nets.items():
            rows[name]["cpu_seconds"] = round(time_evaluation(cfg), 4)
        dm_s = rows["dm U-Net"]["cpu_seconds"] * n
        ldm_s = rows["ldm U-Net"]["cpu_seconds"] * n + rows["VAE decoder"]["cpu_seconds"]
        out.update(dm_sampling_cpu_s=round(dm_s, 2), ldm_sampling_cpu_s=round(ldm_s, 2),
                   timed_ratio=round(dm_s / ldm_s, 1), threads=torch.get_num_threads())
    return out


def flop_report(presets: Sequence[str] | None = None, sampler: str = PAPER.sampler, steps: int = PAPER.steps,
                timed: bool = False) -> dict[str, Any]:
    """:func:`preset_flops` of every preset (default: all), JSON-ready, with the paper's measured ratio."""
    nfe(sampler, steps)  # refuse steps < 1 before building any network
    unknown = [p for p in (presets or ()) if p not in PRESETS]
    if unknown:
        raise SeaIceInputError("presets", f"unknown preset(s) {unknown}", f"Use some of {', '.join(PRESETS)}")
    return {"settings": {"sampler": sampler, "steps": steps, "batch": 1, "torch": torch.__version__,
                         "counted": "torch.utils.flop_counter.FlopCounterMode on the meta device; "
                                    "FLOPs = 2 x multiply-adds"},
            "presets": {p: preset_flops(p, sampler, steps, timed) for p in (presets or PRESETS)},
            "paper_ratio": PAPER_RATIO}


def flop_table(report: dict[str, Any]) -> str:
    """The report as a text table: one row per preset and network, then the predicted ratios."""
    s = report["settings"]
    lines = [f"parameters and FLOPs per network evaluation (batch 1; {s['counted']})",
             f"  {'preset':<12} {'network':<12} {'input':<14} {'params':>10} {'GFLOPs':>10}"]
    for name, row in report["presets"].items():
        for net, r in row["networks"].items():
            shape = "x".join(map(str, r["input"]))
            lines.append(f"  {name:<12} {net:<12} {shape:<14} {r['params']:>10,} {r['flops'] / 1e9:>10.2f}")
    lines.append(f"predicted dm ÷ ldm sampling cost ({s['sampler']}, {s['steps']} steps; "
                 f"a third-party summary of the paper gives about {report['paper_ratio']:g}x at 512²)")
    for name, row in report["presets"].items():
        lines.append(f"  {name:<12} {row['grid_size']}², {row['nfe']} NFE: {row['predicted_ratio']}x")
        if "timed_ratio" in row:
            secs = ", ".join(f"{k} {r['cpu_seconds']} s" for k, r in row["networks"].items())
            lines.append(f"  {'':<12} one CPU evaluation ({row['threads']} threads): {secs}; dm {row['dm_sampling_cpu_s']} s"
                         f" vs ldm {row['ldm_sampling_cpu_s']} s per sample: {row['timed_ratio']}x")
    return "\n".join(lines)
