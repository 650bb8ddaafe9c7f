"""Runs as data: the recipe, the sampler table, the named recipes and the one cache key (torch-free)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from seaice_explorer.errors import SeaIceInputError
from seaice_explorer.recipe import (
    PAPER,
    QUICK,
    RECIPE_ATTR,
    SAMPLER_TABLE,
    Recipe,
    cache_key,
    recipe_of,
    recipes_note,
    sampler_names,
)

RECIPES = [PAPER, QUICK, Recipe(sampler="euler", steps=1, n=1, seed=2**63 - 1, bounds="draw", precision="bf16")]


@pytest.mark.parametrize("recipe", RECIPES)
def test_round_trip_through_dict_and_json(recipe: Recipe) -> None:
    assert Recipe.from_dict(recipe.to_dict()) == recipe
    assert recipe_of({RECIPE_ATTR: recipe.to_json()}) == recipe
    assert list(recipe.to_dict()) == ["sampler", "steps", "n", "seed", "bounds", "precision"]


def test_the_named_recipes() -> None:
    assert (PAPER.sampler, PAPER.steps, PAPER.evaluations) == ("heun", 20, 39)
    assert (QUICK.sampler, QUICK.steps, QUICK.evaluations) == ("dpmpp-2m", 5, 5)
    assert QUICK.bounds == "clamp" and PAPER.bounds == "raw"
    note = recipes_note()
    assert "PAPER" in note and "QUICK" in note and "--sampler dpmpp-2m --steps 5" in note


def test_replace_validates_and_leaves_the_original() -> None:
    r = PAPER.replace(n=4, seed=np.int64(7))
    assert (r.n, r.seed, type(r.seed)) == (4, 7, int) and PAPER.n == 16
    with pytest.raises(SeaIceInputError, match="unknown recipe field colour"):
        PAPER.replace(colour="blue")
    with pytest.raises(dataclasses.FrozenInstanceError):
        PAPER.steps = 3  # type: ignore[misc]


@pytest.mark.parametrize(("change", "field"), [
    ({"sampler": "dpm"}, "sampler"), ({"sampler": None}, "sampler"),
    ({"steps": 0}, "steps"), ({"steps": 2.5}, "steps"), ({"steps": "20"}, "steps"), ({"steps": True}, "steps"),
    ({"n": 0}, "n"), ({"n": -3}, "n"),
    ({"seed": -1}, "seed"), ({"seed": 2**63}, "seed"),
    ({"bounds": ""}, "bounds"), ({"bounds": 3}, "bounds"),
    ({"precision": "fp8"}, "precision"),
])
def test_bad_values_are_input_errors_with_a_fix(change: dict, field: str) -> None:
    data = {**PAPER.to_dict(), **change}
    with pytest.raises(SeaIceInputError) as err:
        Recipe.from_dict(data)
    assert err.value.source == field and field in err.value.problem
    assert err.value.fix.startswith(("Use", "Pass"))
    with pytest.raises(SeaIceInputError) as named:
        Recipe.from_dict(data, source="samples.nc")
    assert named.value.source == "samples.nc" and field in named.value.problem
    with pytest.raises(SeaIceInputError):
        PAPER.replace(**change)


def test_from_dict_needs_exactly_the_fields() -> None:
    with pytest.raises(SeaIceInputError, match="missing field seed"):
        Recipe.from_dict({k: v for k, v in PAPER.to_dict().items() if k != "seed"})
    with pytest.raises(SeaIceInputError, match="unknown field colour"):
        Recipe.from_dict({**PAPER.to_dict(), "colour": "blue"})
    with pytest.raises(SeaIceInputError, match="mapping"):
        Recipe.from_dict(["heun", 20])  # type: ignore[arg-type]


def test_a_file_without_a_recipe_is_named_in_the_error() -> None:
    with pytest.raises(SeaIceInputError, match="records no recipe") as err:
        recipe_of({"backend": "dm"}, "old.nc")
    assert err.value.source == "old.nc" and "--backend" in err.value.fix
    with pytest.raises(SeaIceInputError, match="not JSON"):
        recipe_of({RECIPE_ATTR: "{heun"}, "bad.nc")


@pytest.mark.parametrize(("sampler", "per_steps"), [
    ("heun", {1: 1, 2: 3, 4: 7, 20: 39}),  # the 2nd-order correction is skipped on the last step to σ = 0
    ("euler", {1: 1, 4: 4, 20: 20}),
    ("ddim", {1: 1, 4: 4, 20: 20}),
    ("dpmpp-2m", {1: 1, 4: 4, 5: 5}),
])
def test_the_table_counts_network_evaluations(sampler: str, per_steps: dict[int, int]) -> None:
    spec = SAMPLER_TABLE[sampler]
    assert {steps: spec.evaluations(steps) for steps in per_steps} == per_steps
    assert PAPER.replace(sampler=sampler, steps=4).evaluations == per_steps.get(4, spec.evaluations(4))
    with pytest.raises(SeaIceInputError, match="steps"):
        spec.evaluations(0)


def test_the_table_is_the_one_list_of_samplers() -> None:
    """The samplers module maps exactly the table's names to functions (the cost test runs them: test_generate)."""
    from seaice_explorer.diffusion import samplers

    assert tuple(samplers.SAMPLERS) == sampler_names() == ("heun", "euler", "ddim", "dpmpp-2m")
    for name, spec in SAMPLER_TABLE.items():
        assert samplers.SAMPLERS[name] is getattr(samplers, spec.function)
    assert PAPER.sampler in SAMPLER_TABLE and QUICK.sampler in SAMPLER_TABLE
    with pytest.raises(TypeError):
        SAMPLER_TABLE["new"] = SAMPLER_TABLE["heun"]  # type: ignore[index]


def test_the_recipe_module_is_torch_free() -> None:
    code = "import sys, seaice_explorer.recipe; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cache_key_differs_when_any_field_differs() -> None:
    base = cache_key("dm", PAPER, "default")
    assert base == cache_key("dm", Recipe.from_dict(PAPER.to_dict()), "default")
    assert hash(base) == hash(cache_key("dm", PAPER.replace(), "default"))
    other_values = {"sampler": "euler", "steps": 21, "n": 15, "seed": 1, "bounds": "clamp", "precision": "bf16"}
    assert set(other_values) == {f.name for f in dataclasses.fields(Recipe)}  # every field is tried
    keys = {base, cache_key("ldm-censored", PAPER, "default"), cache_key("dm", PAPER, "osisaf"),
            cache_key("dm", PAPER, None)}
    keys |= {cache_key("dm", PAPER.replace(**{k: v}), "default") for k, v in other_values.items()}
    assert len(keys) == 4 + len(other_values)
    assert base.backend == "dm" and base.recipe == PAPER and base.reference == "default"
    with pytest.raises(TypeError):
        cache_key("dm", PAPER.to_dict(), "default")  # type: ignore[arg-type]


def test_resolve_makes_auto_precision_concrete() -> None:
    assert PAPER.resolve("cpu").precision == "float32" and PAPER.resolve("cuda").precision == "bf16"
    assert PAPER.replace(precision="bf16").resolve("cpu").precision == "bf16"
    assert json.loads(PAPER.resolve("cpu").to_json())["precision"] == "float32"


def test_the_app_shows_its_settings_as_a_command_that_reproduces_them(tmp_path):
    """"Copy as command": the page's settings as a `generate` line; the line parses back to the same recipe."""
    import argparse

    from seaice_explorer.diffusion.cli import add_arguments
    from seaice_explorer.registry import discover
    from seaice_explorer.ui.model.state import ExplorerState

    state = ExplorerState(discover(None))
    state.param.update(seed=7, steps=9, n=3)
    line = state.command()
    assert line.startswith("seaice-explorer generate ") and "--seed 7" in line
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(line.split()[2:])
    assert (args.backend, args.n, args.steps, args.sampler, args.seed, args.bounds) == (
        state.backends[0], 3, 9, state.sampler, 7, state.bounds)
