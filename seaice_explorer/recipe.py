"""Runs as data: *how* to generate (sampler, steps, n, seed, bounds, precision), torch-free.

The registry says *what* generates (``models/<name>/config.json``); a :class:`Recipe` says *how*
(STYLE.md convention 7). :data:`SAMPLER_TABLE` is the one list of sampler names, with their cost in
network evaluations; :mod:`seaice_explorer.diffusion.samplers` looks its functions up by these names
(Karras et al. 2022, arXiv 2206.00364; Song et al. 2021, arXiv 2010.02502; Lu et al. 2022,
arXiv 2211.01095). Two named recipes: :data:`PAPER`, the setting the reports use, and :data:`QUICK`,
the dashboard's interactive setting. A generated file carries its recipe as JSON in
``attrs["recipe"]`` (:func:`recipe_of` reads it back) and :func:`cache_key` is the one key of a
generated set.

Example
-------
>>> r = PAPER.replace(n=4, seed=1)
>>> Recipe.from_dict(r.to_dict()) == r
True
>>> SAMPLER_TABLE["heun"].evaluations(20), QUICK.evaluations
(39, 5)
"""

from __future__ import annotations

import dataclasses
import json
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from types import MappingProxyType
from typing import Any, NamedTuple

from .errors import SeaIceInputError

#: ``auto``: bf16 autocast on CUDA, float32 on the CPU (:meth:`Recipe.resolve`); or one of them always.
PRECISIONS: tuple[str, ...] = ("auto", "float32", "bf16")
#: The global attribute of a generated file that holds its recipe (JSON of :meth:`Recipe.to_dict`).
RECIPE_ATTR = "recipe"
MAX_SEED = 2**63 - 1


# -- the sampler table ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SamplerSpec:
    """One sampler: its name (CLI, app, files), label, the function that runs it and its cost.

    A call with ``steps`` steps costs ``per_step · steps − saved`` network evaluations: Heun skips
    its 2nd-order correction on the last step, which goes to σ = 0 (Karras et al. 2022, Alg. 1).
    """

    name: str
    label: str
    function: str  # the function of seaice_explorer.diffusion.samplers that runs it
    reference: str
    per_step: int = 1
    saved: int = 0

    def evaluations(self, steps: int) -> int:
        """Network evaluations of a call with ``steps`` steps (≥ 1)."""
        return self.per_step * _count("steps", steps, 1, None) - self.saved

    @property
    def cost(self) -> str:
        """The cost as a formula: ``2·steps − 1`` or ``steps`` network evaluations."""
        head = "steps" if self.per_step == 1 else f"{self.per_step}·steps"
        return f"{head} − {self.saved}" if self.saved else head


#: name -> :class:`SamplerSpec`, the one list of samplers (all deterministic as used here).
SAMPLER_TABLE: Mapping[str, SamplerSpec] = MappingProxyType({s.name: s for s in (
    SamplerSpec("heun", "Heun", "sample_heun", "Karras et al. 2022, Alg. 1 (2nd order)", per_step=2, saved=1),
    SamplerSpec("euler", "Euler", "sample_euler", "Karras et al. 2022, Eq. 4 (1st order)"),
    SamplerSpec("ddim", "DDIM", "sample_ddim", "Song et al. 2021, Eq. 12 (eta = 0: Euler in sigma)"),
    SamplerSpec("dpmpp-2m", "DPM-Solver++(2M)", "sample_dpmpp_2m", "Lu et al. 2022, Alg. 2 (2nd-order multistep)"),
)})
#: The sampler of the paper and of :data:`PAPER`.
DEFAULT_SAMPLER = "heun"


def sampler_names() -> tuple[str, ...]:
    """The sampler names, in table order (CLI choices, the app's options)."""
    return tuple(SAMPLER_TABLE)


def sampler_help() -> str:
    """One line per sampler for ``--help``: name, label and cost."""
    return "; ".join(f"{s.name}: {s.label}, {s.cost} network evaluations" for s in SAMPLER_TABLE.values())


# -- validation -----------------------------------------------------------------------------------
def _count(name: str, value: object, lo: int, hi: int | None) -> int:
    """``value`` as an ``int`` in lo..hi (NumPy integers too; not bools, floats or strings)."""
    span = f"in {lo}..{hi}" if hi is not None else f">= {lo}"
    try:
        number = operator.index(value) if not isinstance(value, bool) else None  # type: ignore[arg-type]
    except TypeError:
        number = None
    if number is None or number < lo or (hi is not None and number > hi):
        raise SeaIceInputError(name, f"{name}={value!r} is not an integer {span}",
                               f"Pass {name} as a whole number {span}")
    return number


def _choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SeaIceInputError(name, f"unknown {name} {value!r}", f"Use one of {', '.join(choices)}")


# -- the recipe -----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Recipe:
    """How a set is generated: sampler and steps, ensemble size, seed, bounds mode and precision.

    ``bounds`` is a mode of :data:`seaice_explorer.registry.BOUNDS` (``raw``, ``clamp`` or ``draw``);
    which modes a backend supports depends on its decoder, so ``generate`` checks it against the
    backend (``ModelEntry.resolve_bounds``). Every other field is checked here: a Recipe is valid
    once built, and a bad value raises :class:`SeaIceInputError`.
    """

    sampler: str
    steps: int
    n: int
    seed: int
    bounds: str
    precision: str = "auto"

    def __post_init__(self) -> None:
        _choice("sampler", self.sampler, sampler_names())
        for name, lo, hi in (("steps", 1, None), ("n", 1, None), ("seed", 0, MAX_SEED)):
            object.__setattr__(self, name, _count(name, getattr(self, name), lo, hi))  # a plain int (frozen)
        if not isinstance(self.bounds, str) or not self.bounds:
            raise SeaIceInputError("bounds", f"bounds={self.bounds!r} is not a bounds mode",
                                   "Use raw, clamp or draw (seaice_explorer.registry.BOUNDS)")
        _choice("precision", self.precision, PRECISIONS)

    @property
    def evaluations(self) -> int:
        """Network evaluations per generated set (:meth:`SamplerSpec.evaluations`)."""
        return SAMPLER_TABLE[self.sampler].evaluations(self.steps)

    def describe(self) -> str:
        """``Heun, 20 steps (39 network evaluations)``."""
        return f"{SAMPLER_TABLE[self.sampler].label}, {self.steps} steps ({self.evaluations} network evaluations)"

    def command(self, backend: str, out: str = "samples.nc") -> str:
        """The ``seaice-explorer generate`` line that runs this recipe with ``backend``."""
        return (f"seaice-explorer generate --backend {backend} --n {self.n} --steps {self.steps} "
                f"--sampler {self.sampler} --seed {self.seed} --bounds {self.bounds} --out {out}")

    def replace(self, **changes: Any) -> Recipe:
        """A copy with ``changes`` (validated); an unknown field is an input error."""
        unknown = sorted(set(changes) - set(_FIELDS))
        if unknown:
            raise SeaIceInputError("recipe", f"unknown recipe field {', '.join(unknown)}", f"Use {', '.join(_FIELDS)}")
        return dataclasses.replace(self, **changes)

    def resolve(self, device_type: str) -> Recipe:
        """The recipe as it runs on ``device_type`` (``cpu``/``cuda``): ``auto`` precision made concrete."""
        if self.precision != "auto":
            return self
        return self.replace(precision="bf16" if device_type == "cuda" else "float32")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | PathLike | None = None) -> Recipe:
        """The recipe of ``data`` (as :meth:`to_dict` writes it); every field is required and checked.

        ``source`` (a file, an option) is named in the error.
        """
        if not isinstance(data, Mapping):
            raise SeaIceInputError(source or "recipe", f"a recipe is a mapping of {', '.join(_FIELDS)}, "
                                   f"not {type(data).__name__}", "Pass a dict as Recipe.to_dict() writes it")
        unknown, missing = sorted(set(data) - set(_FIELDS)), [f for f in _FIELDS if f not in data]
        if unknown or missing:
            what = "; ".join(([f"unknown field {', '.join(unknown)}"] if unknown else [])
                             + ([f"missing field {', '.join(missing)}"] if missing else []))
            raise SeaIceInputError(source or "recipe", f"not a recipe: {what}", f"A recipe has exactly {', '.join(_FIELDS)}")
        try:
            return cls(**{f: data[f] for f in _FIELDS})
        except SeaIceInputError as err:
            if source is None:
                raise
            raise SeaIceInputError(source, f"its recipe is invalid: {err.problem}", err.fix) from None

    def to_json(self) -> str:
        """The value of ``attrs["recipe"]`` of a generated file."""
        return json.dumps(self.to_dict())


_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Recipe))


def recipe_of(attrs: Mapping[str, Any], source: str | PathLike | None = None) -> Recipe:
    """The recipe a generated file records (``attrs["recipe"]``); a clear error when it records none."""
    text = attrs.get(RECIPE_ATTR)
    if text is None:
        raise SeaIceInputError(source or "file", "records no recipe (it was not written by `seaice-explorer "
                               "generate`, or by a version before recipes were recorded)",
                               "Give the settings explicitly (--backend, --sampler, --steps, --n, --seed, --bounds), "
                               "or use a file written by this version of `seaice-explorer generate`")
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        raise SeaIceInputError(source or "file", f"its recipe attribute {text!r} is not JSON",
                               "Use a file written by `seaice-explorer generate`") from None
    return Recipe.from_dict(data, source or "file")


# -- the named recipes ----------------------------------------------------------------------------
PAPER = Recipe(sampler=DEFAULT_SAMPLER, steps=20, n=16, seed=0, bounds="raw", precision="auto")
"""The reports' setting: Heun with 20 steps (39 network evaluations), as Finn et al. 2024 sample with
Karras et al. 2022's 2nd-order sampler, so report numbers compare with the paper's. The default of
``generate()``, ``seaice-explorer generate``/``animate``/``evaluate`` and the guided tour. ``raw``
bounds show what a model does, violations included (``evaluate`` scores each bounds mode itself, and
``n`` is one file's ensemble: a report draws 256 states per set)."""

QUICK = PAPER.replace(sampler="dpmpp-2m", steps=5, n=8, bounds="clamp")
"""The dashboard's interactive setting: DPM-Solver++(2M) with 5 steps (5 network evaluations, about
8x cheaper than :data:`PAPER`), the cheapest setting whose scores stay within the noise floor of Heun
with 20 steps for dm, ldm-gaussian and ldm-censored (``bench --quality``, 64 samples:
docs/benchmarks/quality_nfe_*.json). Eight states, clamped to the physical bounds, answer a click
in seconds on a CPU; reports keep :data:`PAPER` so their numbers stay comparable with the paper."""


def recipes_note() -> str:
    """The ``--help`` note on the defaults: PAPER here, QUICK in the app, and why."""
    return (f"Defaults are the PAPER recipe: {PAPER.describe()}, the setting the reports use, as in "
            f"Finn et al. 2024. The app's interactive default is QUICK: {QUICK.describe()}, n={QUICK.n}, "
            f"bounds={QUICK.bounds}, about {round(PAPER.evaluations / QUICK.evaluations)}x fewer network "
            "evaluations, with scores within the noise floor of PAPER's (bench --quality, "
            "docs/benchmarks/quality_nfe_*.json); pass "
            f"--sampler {QUICK.sampler} --steps {QUICK.steps} to match it.")


# -- the cache key --------------------------------------------------------------------------------
class CacheKey(NamedTuple):
    """What identifies a generated set (and its statistics against ``reference``)."""

    backend: str
    recipe: Recipe
    reference: str | None  # the reference scored against, a tag such as "trajectory", or None

    # the recipe's fields, read through the key (the app's views label results by them)
    n = property(lambda self: self.recipe.n)
    steps = property(lambda self: self.recipe.steps)
    sampler = property(lambda self: self.recipe.sampler)
    seed = property(lambda self: self.recipe.seed)
    bounds = property(lambda self: self.recipe.bounds)


def cache_key(backend: str, recipe: Recipe, reference: str | None) -> CacheKey:
    """The one key of the results caches: equal exactly when backend, every recipe field and reference are."""
    if not isinstance(recipe, Recipe):
        raise TypeError(f"cache_key needs a Recipe, got {type(recipe).__name__}")
    return CacheKey(backend, recipe, reference)
