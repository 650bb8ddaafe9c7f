"""The training budget on model cards: states seen, training FLOPs (≈ 3 × forward), CPU hours."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from test_training import FAST, TINY_DM, TINY_VAE, synthetic_states

from seaice_explorer.bench_flops import count_flops
from seaice_explorer.configs import DenoiserConfig, VAEConfig
from seaice_explorer.training import train_diffusion
from seaice_explorer.training.budget import (
    BUDGET_ROWS,
    Budget,
    card_rows,
    folder_budget,
    forward_flops,
    hardware_threads,
    sci,
    training_budget,
    update_card,
)

ROOT = Path(__file__).resolve().parents[1]
SMALL = DenoiserConfig(grid_size=16, base_channels=8, channel_mults=(1, 2))
LDM = DenoiserConfig(kind="ldm", base_channels=8, vae="vae", latent_channels=4, latent_size=8)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny dm trained 2 steps, then warm-restarted (its train_state/ lost) to step 3."""
    out = tmp_path_factory.mktemp("budget") / "dm"
    states = synthetic_states()
    train_diffusion(TINY_DM, states, out, 2, seed=0, workers=0, **FAST)
    shutil.rmtree(out / "train_state")
    train_diffusion(TINY_DM, states, out, 3, seed=0, resume=True, workers=0, **FAST)
    return out


def test_training_flops_scale_linearly_with_states_seen():
    one, three = training_budget(SMALL, 1000), training_budget(SMALL, 3000)
    assert one.forward_flops == three.forward_flops > 0
    assert three.training_flops == 3 * one.training_flops == 3 * 3 * one.forward_flops * 1000
    assert training_budget(SMALL, 0).training_flops == 0


def test_forward_flops_are_the_bench_counters_and_grow_with_the_network():
    """The denoiser's count is bench --flops' count; a wider or deeper network costs more; a VAE
    counts its encoder on top of the decoder bench counts; an ldm its U-Net on the latent only."""
    assert forward_flops(SMALL)[0] == count_flops(SMALL)["flops"]
    wider = DenoiserConfig(grid_size=16, base_channels=16, channel_mults=(1, 2))
    deeper = DenoiserConfig(grid_size=16, base_channels=8, channel_mults=(1, 2), num_res_blocks=2)
    assert forward_flops(wider)[0] > 3 * forward_flops(SMALL)[0]  # convolutions grow with width²
    assert forward_flops(deeper)[0] > forward_flops(SMALL)[0]
    assert training_budget(wider, 50).training_flops > training_budget(SMALL, 50).training_flops
    vae = VAEConfig(grid_size=16, **TINY_VAE)
    assert forward_flops(vae)[0] > count_flops(vae)["flops"] > 0
    flops, what = forward_flops(LDM)
    assert flops == count_flops(LDM)["flops"] and "latent only" in what
    crop, _ = forward_flops(SMALL, crop=8)  # convolutions scale with the area
    assert crop == pytest.approx(forward_flops(SMALL)[0] / 4, rel=0.05)
    assert forward_flops(SMALL, crop=16) == forward_flops(SMALL)  # a crop as large as the grid is no crop


def test_cpu_hours_and_formatting():
    b = Budget(states_seen=10, forward_flops=10**9, counted="x", elapsed_s=7200.0, threads=4, restarts=(5, 9))
    assert b.cpu_hours == 8.0
    fields = b.card_fields()
    assert fields["cpu_hours"] == "8 (7,200 s × 4 threads)"
    assert fields["training_flops"].startswith("3.0 × 10¹⁰ ")
    assert fields["warm_restarts"].startswith("step 5, step 9")
    assert "warm_restarts" not in Budget(10, 10, "x").card_fields()
    assert Budget(10, 10, "x", elapsed_s=60.0).cpu_hours is None
    assert sci(2.4e15) == "2.4 × 10¹⁵" and sci(9.96e-1) == "0.996"
    assert hardware_threads("CPU AMD EPYC, 4 threads; torch 2.13.0+cpu; DDP over 2 processes") == 8
    assert hardware_threads("CPU AMD EPYC, 1 threads; torch 2.13.0+cpu") == 1
    assert hardware_threads("NVIDIA H200; torch 2.13.0") is None


def test_card_gets_the_budget_rows_after_a_tiny_training_run(trained):
    record = json.loads((trained / "training.json").read_text())
    assert record["threads"] == torch.get_num_threads() and record["restarts"] == [2]
    rows = card_rows((trained / "README.md").read_text())
    labels = list(rows)
    at = labels.index("batch size")
    assert labels[at + 1:at + 5] == list(BUDGET_ROWS.values())  # one block after batch size
    assert rows["states seen"] == "6"  # 3 steps × batch 2
    flops, _ = forward_flops(DenoiserConfig.from_dict(json.loads((trained / "config.json").read_text())))
    assert rows["training FLOPs (≈3× forward)"].startswith(sci(3 * flops * 6) + " ")
    assert re.fullmatch(rf"\S+ \([\d,]+ s × {torch.get_num_threads()} threads?\)", rows["CPU hours (wall × threads)"])
    assert rows["warm restarts"].startswith("step 2 ")
    assert folder_budget(trained).card_fields()["states_seen"] == rows["states seen"]


NEW_ROWS = list(BUDGET_ROWS.values())[:3]  # states seen, training FLOPs, CPU hours


def _without_new_rows(card: str) -> str:
    return "".join(line for line in card.splitlines(keepends=True)
                   if not any(line.startswith(f"| {label} |") for label in NEW_ROWS))


def _old_card(folder: Path) -> None:
    """Make ``folder`` look like a checkpoint from before the budget rows: no training.json, a card with
    its warm restarts but no states seen, FLOPs or CPU hours."""
    (folder / "README.md").write_text(_without_new_rows((folder / "README.md").read_text()))
    (folder / "training.json").unlink()


def _script(*folders: Path) -> None:
    """Run ``scripts/card_budgets.py FOLDER...`` (in this process: no second torch import)."""
    spec = importlib.util.spec_from_file_location("card_budgets", ROOT / "scripts" / "card_budgets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main([str(f) for f in folders]) == 0


def test_script_updates_a_copied_card_idempotently(trained, tmp_path):
    current = shutil.copytree(trained, tmp_path / "current", ignore=shutil.ignore_patterns("train_state"))
    old = shutil.copytree(trained, tmp_path / "old", ignore=shutil.ignore_patterns("train_state"))
    _old_card(old)
    before = (old / "README.md").read_text()
    _script(current, old)
    once = {f: (f / "README.md").read_text() for f in (current, old)}
    _script(current, old)
    assert {f: (f / "README.md").read_text() for f in (current, old)} == once
    rows = card_rows(once[old])
    assert rows["states seen"] == "6 (3 steps × batch 2)"  # from the card's steps and batch size rows
    assert rows["warm restarts"].startswith("step 2 ")  # without training.json, the card's restarts are kept
    labels = list(rows)
    assert labels[labels.index("batch size") + 1:][:4] == list(BUDGET_ROWS.values())
    assert _without_new_rows(once[old]) == before  # nothing else changed
    fresh, redone = card_rows((trained / "README.md").read_text()), card_rows(once[current])
    assert [redone[k] for k in NEW_ROWS[:2]] == [fresh[k] for k in NEW_ROWS[:2]]  # the writer's own rows


def test_update_card_moves_old_rows_into_one_block():
    card = "# m\n\n| field | value |\n|---|---|\n| steps | 4 |\n| batch size | 2 |\n| seed | 0 |\n" \
           "| states seen | 8 |\n\n## Config\n"
    new = update_card(card, {"states_seen": "8", "cpu_hours": "1"})
    assert new == "# m\n\n| field | value |\n|---|---|\n| steps | 4 |\n| batch size | 2 |\n| states seen | 8 |\n" \
                  "| CPU hours (wall × threads) | 1 |\n| seed | 0 |\n\n## Config\n"
    assert update_card(new, {"states_seen": "8", "cpu_hours": "1"}) == new
