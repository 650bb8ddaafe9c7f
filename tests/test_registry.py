"""Models as data: the registry reads backends from config.json files, and the one bounds rule."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seaice_explorer.configs import MODELS_DIR
from seaice_explorer.errors import SeaIceInputError
from seaice_explorer.registry import BOUNDS, discover


def test_shipped_synthetic_family_is_three_backends() -> None:
    reg = discover(MODELS_DIR)
    synthetic = reg.for_dataset("default")
    assert [e.name for e in synthetic] == ["dm", "ldm-gaussian", "ldm-censored"]  # config "order", not folder order
    assert reg.datasets[0] == "default" and not reg.broken
    kinds = {e.name: (e.kind, e.decoder) for e in synthetic}
    assert kinds == {"dm": ("data", "none"), "ldm-gaussian": ("latent", "gaussian"),
                     "ldm-censored": ("latent", "censored")}
    assert reg.default_selection("default") == ["ldm-gaussian", "ldm-censored"]  # "selected" in their configs
    assert len({e.colour for e in synthetic}) == 3
    assert [p.name for p in reg.get("ldm-censored").folders] == ["vae-censored", "ldm-censored"]


def test_registry_is_torch_free() -> None:
    code = "import sys, seaice_explorer.registry as r; r.discover(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_bounds_rule_names_the_reason() -> None:
    reg = discover(MODELS_DIR)
    dm, gauss, cens = (reg.get(n) for n in ("dm", "ldm-gaussian", "ldm-censored"))
    assert set(BOUNDS) == {"raw", "clamp", "draw"}
    assert dm.bounds_modes()["raw"] is None and dm.bounds_modes()["clamp"] is None
    assert "no decoder distribution" in dm.bounds_modes()["draw"]
    assert all(p is None for p in gauss.bounds_modes().values())
    assert (dm.native_bounds, gauss.native_bounds, cens.native_bounds) == ("raw", "raw", "clamp")
    with pytest.deprecated_call():
        assert cens.resolve_bounds("censored") == "clamp" and cens.resolve_bounds("censored-sample") == "draw"
    refusals = [(gauss, "censored", "needs the censored decoder"), (dm, "draw", "no decoder distribution"),
                (dm, "squash", "unknown bounds mode")]
    for entry, mode, why in refusals:
        with pytest.raises(SeaIceInputError, match=why):
            entry.resolve_bounds(mode)


def test_broken_folder_is_listed_and_the_others_still_work(tiny_models: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    shutil.copytree(tiny_models, root)
    (root / "ldm-gaussian" / "config.json").write_text("{not json")
    cfg = json.loads((root / "dm" / "config.json").read_text())
    (root / "dm-copy").mkdir()
    (root / "dm-copy" / "config.json").write_text(json.dumps({**cfg, "sigma_min": -1}))
    reg = discover(root)
    assert reg.names == ["dm", "ldm-censored"]
    assert "unreadable JSON" in reg.broken["ldm-gaussian"] and "sigma_min" in reg.broken["dm-copy"]
    with pytest.raises(SeaIceInputError, match="broken"):
        reg.get("ldm-gaussian")
    with pytest.raises(SeaIceInputError, match="known: dm, ldm-censored"):
        reg.get("nope")


def test_a_latent_model_whose_vae_is_missing_is_broken(tiny_models: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    shutil.copytree(tiny_models, root)
    shutil.rmtree(root / "vae-gaussian")
    reg = discover(root)
    assert "ldm-gaussian" in reg.broken and "ldm-censored" in reg.entries


def test_missing_models_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SeaIceInputError, match="models directory not found"):
        discover(tmp_path / "nope")
