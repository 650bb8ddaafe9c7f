"""The shared training loop: AdamW, warm-up + cosine learning rate, EMA, checkpoints, resume, DDP.

Resume state lives in ``<out>/train_state/`` without pickles: ``model.safetensors`` (raw
weights), ``optimizer.safetensors`` (AdamW moments and step counts, one tensor each),
``rng.safetensors`` (the generators' states as uint8 tensors) and ``state.json`` (step, wall
time, running losses). The EMA weights are the checkpoint's own ``model.safetensors``. Resuming
restores all of them, so a run cut at step k and resumed gives the same weights as an uncut run.

Across machines, where ``train_state/`` is not kept (it is git-ignored), ``--resume`` continues
from the checkpoint itself: ``<out>/training.json`` (step, wall time, states seen, CPU threads) is written with
every checkpoint, and a resume that finds it but no ``train_state/`` is a *warm restart*: the raw
and EMA weights start from the checkpoint's EMA weights, AdamW starts afresh, and the learning rate
ramps up over ``RESTART_WARMUP`` steps to the value the schedule has at that step. The card records
each restart, and the run's budget (states seen, training FLOPs, CPU hours; :mod:`.budget`).

Under ``torchrun`` (``training.distributed``) every process runs this loop on its rows of each
global batch, with the model in DDP; all load the same resume state, and process 0 alone writes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..checkpoints import (
    CARD_FILE,
    CONFIG_FILE,
    WEIGHTS_FILE,
    Config,
    VAEConfig,
    config_from_dict,
    load_checkpoint,
    resolve_device,
    save_checkpoint,
)
from ..errors import SeaIceInputError
from .budget import PROGRESS_FILE, Budget, forward_flops, run_threads
from .distributed import current_shard, local_device, wrap
from .ema import EMA
from .report import hardware

log = logging.getLogger(__name__)

STATE_DIR = "train_state"
#: loss_fn(net, batch, cpu_generator, device_generator) -> (loss, {name: scalar tensor}); ``batch`` is
#: this process's rows (B, C, H, W) of the global batch, on the CPU
LossFn = Callable[[nn.Module, Tensor, torch.Generator, torch.Generator], tuple[Tensor, dict[str, Tensor]]]
#: batches(start_step, cpu_generator) -> this process's rows of each global batch from start_step on
Batches = Callable[[int, torch.Generator], Iterator[Tensor]]


@dataclass(frozen=True)
class TrainOptions:
    """Optimisation and bookkeeping settings shared by every model (not stored in config.json)."""

    steps: int = 1000
    batch_size: int = 8
    lr: float = 5e-4
    warmup: int | None = None  # None: min(500, steps // 20)
    min_lr_ratio: float = 0.05  # cosine decays to lr * min_lr_ratio
    weight_decay: float = 0.01
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "auto"
    crop: int | None = None  # random square crops (patch training) of this size
    checkpoint_every: int = 500
    bf16: bool = False  # bf16 autocast (CPU or CUDA)
    compile: bool = False  # torch.compile the network
    workers: int = 2  # DataLoader worker processes of a streamed store (0: read in the training process)
    channels_last: bool | None = None  # None: on CUDA only (on the CPU it slows training, benchmarks/train_speed.py)
    resume: bool = False
    stop_at: int | None = None  # stop after this step, leaving a resumable state (time-boxed runs)
    snapshot_every: int = 0  # keep a copy of the checkpoint every k steps in train_state/snapshots/ (learning curves)
    progress: bool = True
    preview: bool = True  # write sample.png with the final checkpoint
    command: str | None = None  # exact command line, for the model card

    @property
    def warmup_steps(self) -> int:
        return self.warmup if self.warmup is not None else min(500, self.steps // 20)

    def memory_format(self, device: torch.device) -> torch.memory_format:
        """channels-last where asked, or by default on CUDA (on the CPU it made training 16 % slower)."""
        last = self.channels_last if self.channels_last is not None else device.type == "cuda"
        return torch.channels_last if last else torch.contiguous_format


@dataclass
class TrainResult:
    """What a training run produced."""

    out: Path
    config: Config
    step: int
    wall_time_s: float
    final_losses: dict[str, float] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)


def lr_at(step: int, base_lr: float, warmup: int, total: int, min_ratio: float = 0.05) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to ``base_lr * min_ratio`` at ``total``.

    Loshchilov & Hutter 2017 (SGDR, arXiv 1608.03983) cosine schedule with a linear warm-up
    (Goyal et al. 2017); ``step`` is 0-based.
    """
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base_lr * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def seeded_module(build: Callable[[], nn.Module], seed: int) -> nn.Module:
    """Build a network with the global RNG seeded, so initial weights depend on ``seed`` only."""
    torch.manual_seed(seed)
    return build()


def fit(model: nn.Module, loss_fn: LossFn, batches: Batches, config: Config, out: str | os.PathLike,
        opts: TrainOptions, card: dict[str, Any], *, entry: str = "forward") -> TrainResult:
    """Optimise ``model`` for ``opts.steps`` steps; checkpoints (EMA weights) go to ``out``.

    ``loss_fn`` calls ``model.<entry>`` as ``net(...)`` (in DDP under torchrun).
    """
    out = Path(out).absolute()  # a bare name like "dm" would otherwise resolve to the models dir on reload
    shard = current_shard()
    device = local_device(opts.device)
    model = model.to(device=device, memory_format=opts.memory_format(device)).train()
    optimizer = _adamw(model, opts)
    ema = EMA(model, opts.ema_decay)
    gen_cpu = torch.Generator().manual_seed(opts.seed)
    gen_dev = torch.Generator(device=device).manual_seed(opts.seed + 1)
    step, elapsed, history = 0, 0.0, {}
    progress = _read_progress(out) if opts.resume else None
    if opts.resume and (out / STATE_DIR / "state.json").is_file():
        step, elapsed, history = _load_state(out, config, model, ema, optimizer, gen_cpu, gen_dev)
        log.info("resumed %s at step %d", out, step)
    elif progress is not None:
        step, elapsed = _warm_restart(out, config, model, ema, progress)
        gen_cpu.manual_seed(opts.seed + step)
        gen_dev.manual_seed(opts.seed + step + 1)
        progress["restarts"] = [*progress.get("restarts", []), step]
        log.warning("no resume state in %s: warm restart from its checkpoint at step %d (fresh AdamW, new warm-up)",
                    out, step)
    elif opts.resume:
        log.info("nothing to resume in %s: starting from step 0", out)
    elif (out / "model.safetensors").exists() and shard.main:
        log.warning("overwriting the checkpoint in %s (pass resume=True / --resume to continue it)", out)
    net = wrap(model, device, entry)
    if opts.compile:
        net = torch.compile(net)
    stream = batches(step, gen_cpu)
    stop = min(opts.steps, opts.stop_at) if opts.stop_at is not None else opts.steps
    bar = _progress(opts, step, stop) if shard.main else None
    t0 = time.perf_counter() - elapsed

    restart = progress["restarts"][-1] if progress and progress.get("restarts") else 0  # the last warm restart
    step0, seen0 = (int(progress["step"]), int(progress.get("states_seen", 0))) if progress else (0, 0)
    threads = run_threads(device, shard.world)  # None on a GPU
    flops = forward_flops(config, opts.crop)  # one state's forward pass, counted once on the meta device

    def record(step: int, elapsed: float) -> dict[str, Any]:
        rec = {"step": step, "elapsed_s": round(elapsed, 1), "states_seen": seen0 + (step - step0) * opts.batch_size,
               "restarts": list((progress or {}).get("restarts", []))}
        return {**rec, "threads": threads} if threads else rec

    def checkpoint(step: int) -> None:
        if not shard.main:
            return
        now = time.perf_counter() - t0
        rec = record(step, now)
        save_checkpoint(out, ema.module, config, {**card, **_progress_card(step, now, history, opts, rec, flops)})
        _write_json(out / PROGRESS_FILE, rec)
        _save_state(out, step, now, history, model, optimizer, gen_cpu, gen_dev)
        if opts.snapshot_every and step % opts.snapshot_every == 0:
            _snapshot(out, step)

    try:
        while step < stop:
            lr = lr_at(step, opts.lr, opts.warmup_steps, opts.steps, opts.min_lr_ratio)
            if restart:  # a short ramp while the fresh AdamW moments settle, then the same schedule
                lr *= min(1.0, (step - restart + 1) / RESTART_WARMUP)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = next(stream)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=opts.bf16):
                loss, parts = loss_fn(net, batch, gen_cpu, gen_dev)
            if not torch.isfinite(loss):
                raise RuntimeError(f"non-finite loss {loss.item()} at step {step}; lower the learning rate")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if opts.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), opts.grad_clip)
            optimizer.step()
            ema.update(model, step)
            step += 1
            _record(history, shard.average({"loss": loss, **parts}))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{history['loss'][-1]:.4f}", lr=f"{lr:.2e}")
            if step % opts.checkpoint_every == 0 or step == stop:
                checkpoint(step)
    except KeyboardInterrupt:  # keep the finished steps: the run can be resumed
        if step > 0 and step % opts.checkpoint_every and step != stop:
            log.warning("interrupted at step %d: saving a resumable state in %s", step, out)
            checkpoint(step)
        raise
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - t0
    return TrainResult(out, config, step, elapsed, _final_losses(history),
                       {**card, **_progress_card(step, elapsed, history, opts, record(step, elapsed), flops)})


def _adamw(model: nn.Module, opts: TrainOptions) -> torch.optim.AdamW:
    """AdamW with weight decay on weight matrices and kernels only: biases, norms and the VAE's
    log-scale are not pulled towards 0 (Loshchilov & Hutter 2019, arXiv 1711.05101)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim > 1], "weight_decay": opts.weight_decay},
              {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=opts.lr)


def _progress(opts: TrainOptions, start: int, stop: int):
    if not opts.progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=stop, initial=start, desc="train", unit="step", dynamic_ncols=True)


def _record(history: dict[str, list[float]], values: dict[str, Tensor]) -> None:
    for k, v in values.items():
        hist = history.setdefault(k, [])
        hist.append(float(v.detach()))
        del hist[:-200]  # keep the last 200 steps


def _final_losses(history: dict[str, list[float]], last: int = 100) -> dict[str, float]:
    """Mean of each loss over the last ``last`` steps."""
    return {k: sum(v[-last:]) / len(v[-last:]) for k, v in history.items() if v}


def _progress_card(step: int, elapsed: float, history: dict[str, list[float]], opts: TrainOptions,
                   record: dict[str, Any], flops: tuple[int, str]) -> dict[str, Any]:
    """The card fields of the run so far: its settings, its budget (:mod:`.budget`) and its losses."""
    budget = Budget(record["states_seen"], *flops, elapsed_s=record["elapsed_s"], threads=record.get("threads"),
                    restarts=tuple(record["restarts"]))
    return {
        **budget.card_fields(),
        "steps": step if step >= opts.steps else f"{step} of {opts.steps} (in progress)",
        "batch_size": opts.batch_size,
        "wall_time_s": round(elapsed, 1),
        "hardware": hardware(resolve_device(opts.device), opts.bf16) + _parallel(opts),
        "seed": opts.seed,
        "command": opts.command or "(Python API)",
        "final_losses": {f"{k} (mean of last 100 steps)": v for k, v in _final_losses(history).items()},
    }


def _parallel(opts: TrainOptions) -> str:
    shard = current_shard()
    return (f"; DDP over {shard.world} processes" if shard.world > 1 else "") + ("; torch.compile" if opts.compile else "")


# -- progress kept with the checkpoint (training.json, PROGRESS_FILE) and warm restarts -----------
RESTART_WARMUP = 100  # steps of linear ramp after a warm restart


def _read_progress(out: Path) -> dict[str, Any] | None:
    path = out / PROGRESS_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        int(record["step"]), float(record["elapsed_s"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SeaIceInputError(path, f"unreadable training record ({err})",
                               "Delete it to train from scratch, or restore it from the repository") from None
    return record


def _write_json(path: Path, record: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(record) + "\n")
    os.replace(tmp, path)


def _warm_restart(out: Path, config: Config, model: nn.Module, ema: EMA, progress: dict[str, Any]) -> tuple[int, float]:
    """Raw and EMA weights from the checkpoint's EMA weights; the step and wall time from training.json."""
    saved = config_from_dict(json.loads((out / CONFIG_FILE).read_text()), out / CONFIG_FILE)
    if _comparable(saved) != _comparable(config):
        raise SeaIceInputError(out / CONFIG_FILE, "the saved config differs from this run's config",
                               "Resume with the same config and data, or train into a new --out folder")
    device = next(model.parameters()).device
    ema_module, _ = load_checkpoint(out, device=device)
    model.load_state_dict(ema_module.state_dict())
    ema.module.load_state_dict(ema_module.state_dict())
    return int(progress["step"]), float(progress["elapsed_s"])


def _snapshot(out: Path, step: int) -> None:
    """A copy of the checkpoint at ``step`` in train_state/snapshots/ (scored later for a learning curve)."""
    folder = out / STATE_DIR / "snapshots" / f"step_{step:06d}"
    folder.mkdir(parents=True, exist_ok=True)
    for name in (CONFIG_FILE, WEIGHTS_FILE, CARD_FILE):
        shutil.copy2(out / name, folder / name)


# -- resume state (safetensors + JSON, no pickles) ------------------------------------------------
def _save_state(out: Path, step: int, elapsed: float, history: dict, model: nn.Module,
                optimizer: torch.optim.Optimizer, gen_cpu: torch.Generator, gen_dev: torch.Generator) -> None:
    from safetensors.torch import save_file

    folder = out / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    opt_tensors = {}
    for idx, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            opt_tensors[f"{idx}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    save_file(opt_tensors, str(folder / "optimizer.safetensors"))
    save_file({"cpu": gen_cpu.get_state(), "device": gen_dev.get_state().cpu()}, str(folder / "rng.safetensors"))
    # the checkpoint the state belongs to (config and EMA weights), so that a state kept outside a work
    # tree that is laid anew (a link) still resumes: _load_state puts it back when out/ lacks it
    (folder / "checkpoint").mkdir(exist_ok=True)
    for name in (CONFIG_FILE, WEIGHTS_FILE, CARD_FILE):
        shutil.copy2(out / name, folder / "checkpoint" / name)
    state = {"step": step, "elapsed_s": elapsed, "device": gen_dev.device.type, "history": history}
    (folder / "state.json").write_text(json.dumps(state) + "\n")


def _comparable(config: Config) -> Config:
    """The config without what training adds at the end (a VAE's latent scaling), for resume checks."""
    return dataclasses.replace(config, latent_mean=None, latent_std=None) if isinstance(config, VAEConfig) else config


def _load_state(out: Path, config: Config, model: nn.Module, ema: EMA, optimizer: torch.optim.Optimizer,
                gen_cpu: torch.Generator, gen_dev: torch.Generator) -> tuple[int, float, dict]:
    from safetensors.torch import load_file

    folder = out / STATE_DIR
    kept = folder / "checkpoint"
    if not (out / CONFIG_FILE).is_file() and (kept / CONFIG_FILE).is_file():
        for name in (CONFIG_FILE, WEIGHTS_FILE, CARD_FILE):
            shutil.copy2(kept / name, out / name)
        log.info("restored the checkpoint of %s from its resume state", out)
    saved = config_from_dict(json.loads((out / "config.json").read_text()), out / "config.json")
    if _comparable(saved) != _comparable(config):
        raise SeaIceInputError(out / "config.json", "the saved config differs from this run's config",
                               "Resume with the same config and data, or train into a new --out folder")
    try:
        state = json.loads((folder / "state.json").read_text())
        raw = load_file(str(folder / "model.safetensors"))
        opt = load_file(str(folder / "optimizer.safetensors"))
        rng = load_file(str(folder / "rng.safetensors"))
    except Exception as err:  # noqa: BLE001 - any unreadable state file means the same fix
        raise SeaIceInputError(folder, f"unreadable resume state ({err})", "Delete the folder to restart from scratch") from None
    device = next(model.parameters()).device
    if state.get("device", device.type) != device.type:
        raise SeaIceInputError(folder, f"state saved on {state['device']}, resuming on {device.type}",
                               f"Resume with --device {state['device']} (the random streams differ per device)")
    model.load_state_dict(raw)
    ema_module, _ = load_checkpoint(out, device=device)
    ema.module.load_state_dict(ema_module.state_dict())
    fresh = optimizer.state_dict()
    per_param: dict[int, dict[str, Tensor]] = {}
    for key, value in opt.items():
        idx, name = key.split(".", 1)
        per_param.setdefault(int(idx), {})[name] = value.to(device) if name != "step" else value
    optimizer.load_state_dict({"state": per_param, "param_groups": fresh["param_groups"]})
    gen_cpu.set_state(rng["cpu"])
    gen_dev.set_state(rng["device"])
    return int(state["step"]), float(state["elapsed_s"]), {k: list(v) for k, v in state["history"].items()}
