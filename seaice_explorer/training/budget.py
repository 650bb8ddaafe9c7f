"""A model's training budget for its card: states seen, training FLOPs (≈ 3 × forward) and CPU hours.

Training FLOPs follow the usual estimate forward + backward ≈ 3 × forward (Kaplan et al. 2020,
arXiv 2001.08361, Sec. 2.1): ``3 × forward FLOPs of one state × states seen``. One state's forward
pass is counted as ``seaice-explorer bench --flops`` counts it (``torch.utils.flop_counter`` on
the meta device, batch 1, FLOPs = 2 × multiply-adds of convolutions, matrix products and
attention): the U-Net of a ``dm`` on the trained size (its crops, with the conditioning channels),
the U-Net of an ``ldm`` on the latent only (the VAE's one pass encoding the data set is not
counted), the encoder and decoder of a ``vae``. CPU hours are wall time × threads (all processes
of a DDP run); a run on a GPU has none.

:func:`folder_budget` reads a checkpoint folder (``config.json``, ``training.json``, the card's
rows) and :func:`update_card` rewrites the budget rows of its card, so old cards can be brought up
to date without retraining (``scripts/card_budgets.py``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..checkpoints import CARD_FILE, CONFIG_FILE, Config, VAEConfig, build_module, config_from_dict
from ..errors import SeaIceInputError

PROGRESS_FILE = "training.json"
#: card field key -> the row label the card writer gives it (checkpoints._CARD_FIELDS), in card order
BUDGET_ROWS: dict[str, str] = {
    "states_seen": "states seen",
    "training_flops": "training FLOPs (≈3× forward)",
    "cpu_hours": "CPU hours (wall × threads)",
    "warm_restarts": "warm restarts",
}
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


@dataclass(frozen=True)
class Budget:
    """What one training run cost: ``forward_flops`` of one state, and what it counts (``counted``)."""

    states_seen: int
    forward_flops: int
    counted: str
    elapsed_s: float | None = None
    threads: int | None = None  # CPU threads of all processes; None: unknown or a GPU run
    restarts: tuple[int, ...] = ()
    states_from: str = ""  # "" when recorded by the training loop, else how it was derived

    @property
    def training_flops(self) -> int:
        """3 × forward FLOPs per state × states seen (forward + backward ≈ 3 forwards)."""
        return 3 * self.forward_flops * self.states_seen

    @property
    def cpu_hours(self) -> float | None:
        """Wall time × threads in hours; None on a GPU or where the threads or the wall time are unknown."""
        if self.elapsed_s is None or not self.threads:
            return None
        return self.elapsed_s * self.threads / 3600.0

    def card_fields(self) -> dict[str, str]:
        """The card rows (keys of :data:`BUDGET_ROWS`), formatted; ``warm_restarts`` only after a restart."""
        fields = {
            "states_seen": f"{self.states_seen:,}" + (f" ({self.states_from})" if self.states_from else ""),
            "training_flops": f"{sci(self.training_flops)} (3 × {sci(self.forward_flops)} per state × "
                              f"{self.states_seen:,} states; {self.counted})",
            "cpu_hours": _hours(self.cpu_hours, self.elapsed_s, self.threads),
        }
        if self.restarts:
            fields["warm_restarts"] = ", ".join(f"step {k}" for k in self.restarts) + \
                " (resumed from the checkpoint without its optimiser state)"
        return fields


def sci(value: float) -> str:
    """``2.4 × 10¹⁵`` (two significant digits) for large numbers, the plain number below 10⁴."""
    if abs(value) < 1e4:
        return f"{value:.3g}"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"


def _hours(hours: float | None, elapsed_s: float | None, threads: int | None) -> str:
    if hours is None:
        return "n/a (GPU run or threads unknown)" if elapsed_s is not None else "n/a (wall time unknown)"
    text = f"{hours:,.0f}" if hours >= 100 else f"{hours:.3g}"
    return f"{text} ({elapsed_s:,.0f} s × {threads} thread{'s' if threads != 1 else ''})"


def forward_flops(config: Config, crop: int | None = None) -> tuple[int, str]:
    """FLOPs of one training forward pass of one state, and what was counted (a short phrase).

    ``crop``: the side of the random crops a ``dm`` or ``vae`` trained on (None: whole fields).
    """
    crop = crop if crop and crop < config.grid_size else None
    with torch.device("meta"):
        net = build_module(config)
        if isinstance(config, VAEConfig):
            side = crop or config.grid_size
            x = torch.zeros(1, len(config.variables), side, side)  # (1, C, H, W)
            call = lambda: net.decode(net.encode(x)[0])  # noqa: E731
            what = f"encoder + decoder on {len(config.variables)}×{side}²" + (" crops" if crop else "")
        elif config.kind == "ldm":
            side = config.spatial_size
            x, sigma = torch.zeros(1, config.in_channels, side, side), torch.zeros(1)  # (1, L, h, w)
            call = lambda: net(x, sigma)  # noqa: E731
            what = f"denoiser U-Net on the {config.in_channels}×{side}² latent only, VAE encoding not counted"
        else:
            side = crop or config.spatial_size
            x, sigma = torch.zeros(1, config.in_channels, side, side), torch.zeros(1)  # (1, C, H, W)
            cond = {"cond": torch.zeros(1, config.cond_channels, side, side)} if config.cond_channels else {}
            call = lambda: net(x, sigma, **cond)  # noqa: E731
            what = f"U-Net on {config.in_channels}×{side}²" + (" crops" if crop else "")
        with FlopCounterMode(display=False) as counter:
            call()
    return int(counter.get_total_flops()), what


def training_budget(config: Config, states_seen: int, elapsed_s: float | None = None, threads: int | None = None,
                    restarts: tuple[int, ...] | list[int] = (), crop: int | None = None,
                    states_from: str = "") -> Budget:
    """The :class:`Budget` of a run of ``config`` that saw ``states_seen`` states in ``elapsed_s`` seconds.

    Examples
    --------
    >>> from seaice_explorer.configs import DataDenoiserConfig
    >>> b = training_budget(DataDenoiserConfig(grid_size=16, base_channels=8, channel_mults=(1, 2)), 100, 3600.0, 2)
    >>> b.training_flops == 3 * b.forward_flops * 100, b.cpu_hours
    (True, 2.0)
    """
    flops, counted = forward_flops(config, crop)
    return Budget(int(states_seen), flops, counted, elapsed_s, threads, tuple(int(k) for k in restarts), states_from)


def run_threads(device: torch.device, world: int = 1) -> int | None:
    """CPU threads of a run on ``device`` now: torch's thread count × processes; None on a GPU."""
    return torch.get_num_threads() * world if device.type == "cpu" else None


# -- an existing checkpoint folder ----------------------------------------------------------------
_ROW = re.compile(r"^\| (?P<label>[^|]+?) \| (?P<value>.*) \|$")


def card_rows(text: str) -> dict[str, str]:
    """The ``| field | value |`` rows of a card's first table, label -> value."""
    rows: dict[str, str] = {}
    for line in _first_table(text.splitlines())[1]:
        hit = _ROW.match(line)
        if hit:
            rows[hit["label"]] = hit["value"]
    return rows


def hardware_threads(hardware: str) -> int | None:
    """Threads of all processes from a card's hardware row (``CPU ..., 4 threads; ...; DDP over 2 processes``)."""
    hit = re.search(r"(\d+) threads?\b", hardware)
    if not hardware.startswith("CPU") or hit is None:
        return None
    ddp = re.search(r"DDP over (\d+) processes", hardware)
    return int(hit.group(1)) * (int(ddp.group(1)) if ddp else 1)


def folder_budget(folder: str | os.PathLike) -> Budget:
    """The budget of the checkpoint in ``folder`` from its config, ``training.json`` and card (read only).

    Without ``training.json``, states seen are steps × batch size, and the wall time and the warm
    restarts are the card's.
    """
    folder = Path(folder)
    config = config_from_dict(_read_json(folder / CONFIG_FILE), folder / CONFIG_FILE)
    rows = card_rows((folder / CARD_FILE).read_text()) if (folder / CARD_FILE).is_file() else {}
    record = _read_json(folder / PROGRESS_FILE) if (folder / PROGRESS_FILE).is_file() else {}
    try:
        if "states_seen" in record:
            seen, how = int(record["states_seen"]), ""
        else:
            steps, batch = _leading_int(rows["steps"]), int(rows["batch size"])
            seen, how = steps * batch, f"{steps} steps × batch {batch}"
        elapsed = float(record["elapsed_s"]) if "elapsed_s" in record else _maybe_float(rows.get("wall time [s]"))
    except (KeyError, ValueError) as err:
        raise SeaIceInputError(folder, f"cannot tell the states seen or the wall time ({err})",
                               "Keep training.json with the checkpoint, or the card's steps and batch size rows"
                               ) from None
    threads = record.get("threads") or hardware_threads(rows.get("hardware", ""))
    restarts = record["restarts"] if "restarts" in record else \
        [int(k) for k in re.findall(r"step (\d+)", rows.get("warm restarts", ""))]
    crop = re.search(r"--crop[= ](\d+)", rows.get("command", ""))  # 0 means whole fields
    return training_budget(config, seen, elapsed, threads, restarts,
                           (int(crop.group(1)) or None) if crop else None, how)


def update_card(text: str, fields: dict[str, str]) -> str:
    """``text`` with the budget rows (:data:`BUDGET_ROWS`) set to ``fields``, as one block after "batch size".

    Only those rows change: each is removed where it was, and the block is put back in card order
    after the batch size row (after steps, or at the table's end, where a card has none).
    """
    lines = text.splitlines(keepends=True)
    start, table = _first_table([line.rstrip("\n") for line in lines])
    if not table:
        raise SeaIceInputError("README.md", "no field table in the model card", "Re-save the checkpoint")
    labels = set(BUDGET_ROWS.values())
    kept = [line for line in lines[start:start + len(table)] if _label(line) not in labels]
    block = [f"| {label} | {fields[key]} |\n" for key, label in BUDGET_ROWS.items() if key in fields]
    anchor = next((i + 1 for name in ("batch size", "steps") for i, line in enumerate(kept) if _label(line) == name),
                  len(kept))
    kept[anchor:anchor] = block
    return "".join(lines[:start] + kept + lines[start + len(table):])


def _first_table(lines: list[str]) -> tuple[int, list[str]]:
    """Start index and lines of the first ``| field | value |`` table."""
    for i, line in enumerate(lines):
        if line.startswith("| field | value |"):
            end = i
            while end < len(lines) and lines[end].startswith("|"):
                end += 1
            return i, lines[i:end]
    return len(lines), []


def _label(line: str) -> str | None:
    hit = _ROW.match(line.rstrip("\n"))
    return hit["label"] if hit else None


def _leading_int(text: str) -> int:
    hit = re.match(r"\s*(\d+)", text)
    if hit is None:
        raise ValueError(f"no step count in {text!r}")
    return int(hit.group(1))


def _maybe_float(text: str | None) -> float | None:
    return float(text) if text not in (None, "") else None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise SeaIceInputError(path, f"unreadable ({err})", "Restore it from the repository") from None
