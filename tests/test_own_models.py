"""A user's own model, trained here into a temporary --models folder, shows up in generate,
evaluate, bench and the app without any code change (models are data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import xarray as xr

from seaice_explorer.bench import run_bench
from seaice_explorer.cli import main
from seaice_explorer.registry import discover
from seaice_explorer.training import train_diffusion, train_vae
from test_training import FAST, synthetic_states

TINY = {"base_channels": 8, "latent_channels": 4, "downsample": 4}


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(models folder with one latent backend 'ldm-mine', its training data file inside that folder)."""
    root = tmp_path_factory.mktemp("own") / "mymodels"
    root.mkdir()
    data = root / "my_states.nc"  # model folders are self-contained: the data lies inside the models folder
    synthetic_states().to_netcdf(data)
    train_vae({**TINY, "decoder": "censored"}, str(data), root / "vae-mine", 2, **FAST)
    train_diffusion({"kind": "ldm", "base_channels": 8, "attn_levels": [2], "label": "mine · tiny latent model",
                     "colour": "#e7298a", "selected": True}, str(data), root / "ldm-mine", 2,
                    vae=root / "vae-mine", **FAST)
    return root, data


def test_registry_finds_it_with_its_dataset(own: tuple[Path, Path]) -> None:
    root, data = own
    reg = discover(root)
    entry = reg.get("ldm-mine")
    assert reg.names == ["ldm-mine"] and entry.decoder == "censored" and entry.kind == "latent"
    assert entry.dataset == "my_states.nc" and entry.label == "mine · tiny latent model"  # relative to root
    assert reg.default_selection(entry.dataset) == ["ldm-mine"]


def test_generate_cli(own: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = own
    out = tmp_path / "mine.nc"
    assert main(["generate", "--models", str(root), "--backend", "ldm-mine", "--n", "2", "--steps", "2",
                 "--bounds", "draw", "--device", "cpu", "--out", str(out), "--no-progress"]) == 0
    with xr.open_dataset(out) as ds:
        assert ds.attrs["backend"] == "ldm-mine" and ds.attrs["bounds"] == "draw" and ds.sic.shape == (2, 16, 16)
    # the shipped backends are not in this folder
    assert main(["generate", "--models", str(root), "--backend", "dm", "--out", str(out)]) == 2


def test_evaluate_cli(own: tuple[Path, Path], tmp_path: Path) -> None:
    root, data = own
    out = tmp_path / "report"
    assert main(["evaluate", "--models", str(root), "--reference", str(data), "--n", "3", "--steps", "2",
                 "--device", "cpu", "--out", str(out)]) == 0
    table = (out / "table.md").read_text()
    assert "ldm-mine" in table and "raw" in table and "clamp" in table


def test_bench(own: tuple[Path, Path]) -> None:
    report = run_bench(n=1, steps=1, device="cpu", precisions=("float32",), models_dir=str(own[0]), train=False)
    row = report["sampling"]["ldm-mine/float32"]
    assert "error" not in row and row["seconds"] > 0, json.dumps(report)


def test_app_offers_it(own: tuple[Path, Path]) -> None:
    from seaice_explorer.ui.model.state import ExplorerState

    root, data = own
    state = ExplorerState(discover(root), auto_regenerate=False)
    assert state.param.backends.objects == ["ldm-mine"] and state.backends == ["ldm-mine"]
    assert state.dataset == "my_states.nc" and state.reference == state.dataset
    assert state.sources[state.dataset] == str(data.resolve())  # opened inside the models folder
    assert state.bounds_modes() == {"raw": None, "clamp": None, "draw": None}


def test_ui_sampler_names_match_the_samplers() -> None:
    from seaice_explorer.diffusion.samplers import SAMPLERS
    from seaice_explorer.ui.model.settings import SAMPLERS as UI_SAMPLERS

    assert set(UI_SAMPLERS) == set(SAMPLERS)


def test_a_model_trained_on_data_outside_its_folder_samples_from_its_folder_alone(tmp_path: Path) -> None:
    """The grid travels with the weights (grid.nc): the data may lie anywhere, or be gone; the
    recorded dataset is then a label the registry never opens."""
    data = tmp_path / "elsewhere" / "states.nc"
    data.parent.mkdir()
    synthetic_states(size=16, n=6, seed=4).to_netcdf(data)
    root = tmp_path / "models"
    train_diffusion({"kind": "dm", "base_channels": 8, "channel_mults": [1, 2]}, str(data), root / "dm-far", 2, **FAST)
    assert (root / "dm-far" / "grid.nc").is_file()
    data.unlink()  # the training data are gone: sampling needs nothing outside the models folder
    reg = discover(root)
    assert reg.names == ["dm-far"] and not reg.broken and reg.dataset_source(reg.get("dm-far").dataset) is None
    out = tmp_path / "s.nc"
    assert main(["generate", "--models", str(root), "--backend", "dm-far", "--n", "1", "--steps", "1",
                 "--device", "cpu", "--out", str(out), "--no-progress"]) == 0
    with xr.open_dataset(out) as ds, xr.open_dataset(root / "dm-far" / "grid.nc") as grid:
        assert ds.sic.shape == (1, 16, 16) and (ds["mask"].values == grid["mask"].values).all()
    (root / "dm-far" / "grid.nc").unlink()  # without its grid, an outside dataset is refused as before
    assert "dm-far" in discover(root).broken
