"""Models as data: the backends in a models directory, read from each folder's ``config.json``.

The backend counterpart of :mod:`seaice_explorer.variables` (torch-free, like diffusers'
``model_index.json``). A *backend* is a denoiser folder (``kind`` ``dm``: data space, ``ldm``: latent
space) plus, for latent backends, the VAE folder its config names. Its config says what it is:
the dataset it was trained on, its variables and grid, its decoder (from the VAE), a label, a
colour and whether the app compares it by default. No other module lists backend names: a
user's own trained folder shows up in ``generate``, ``evaluate``, ``bench`` and the app.

The bounds rule (Finn et al. 2024) lives here too: the modes a user can pick are the
distinct things the decode does, and :meth:`ModelEntry.bounds_problem` says why a mode is not
available on a backend.

Example
-------
>>> reg = discover()                                   # doctest: +SKIP
>>> [e.name for e in reg.for_dataset("default")]       # doctest: +SKIP
['dm', 'ldm-gaussian', 'ldm-censored']
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .configs import (
    CONFIG_FILE,
    DATASET_NAMES,
    GRID_FILE,
    SPLIT_DATASETS,
    DenoiserConfig,
    LatentDenoiserConfig,
    VAEConfig,
    check_inside,
    is_named_dataset,
    load_config,
    resolve_models_dir,
)
from .errors import SeaIceInputError

log = logging.getLogger(__name__)

Bounds = Literal["raw", "clamp", "draw"]
Decoder = Literal["none", "gaussian", "censored"]

#: The bounds modes: exactly the distinct things :meth:`Pipeline.decode` does, with their labels.
BOUNDS: Mapping[str, str] = {
    "raw": "raw mean: the decoder's (or data-space model's) mean output, may violate the bounds",
    "clamp": "clamp to bounds: clamp(μ, l, u), the projection onto the physical bounds; for a censored "
             "decoder this is its point estimate",
    "draw": "draw from the decoder: one random draw from the VAE decoder's own distribution, "
            "N(μ, σ²) (Gaussian) or clamp(μ + σε, l, u) (censored)",
}
BOUNDS_LABELS: Mapping[str, str] = {"raw": "raw mean", "clamp": "clamp to bounds", "draw": "decoder draw"}
#: Old names -> (new name, decoder it needs or None). Kept working with a deprecation note.
DEPRECATED_BOUNDS: Mapping[str, tuple[str, str | None]] = {
    "none": ("raw", None), "clip": ("clamp", None),
    "censored": ("clamp", "censored"), "censored-sample": ("draw", "censored"),
}
#: Colour-blind safe palette (ColorBrewer Dark2) for backends whose config sets no colour.
PALETTE: tuple[str, ...] = ("#1b9e77", "#7570b3", "#d95f02", "#e7298a", "#66a61e", "#e6ab02", "#a6761d")


def native_bounds(decoder: str) -> Bounds:
    """The mode that shows what a model learned: the censored decoder's point estimate, else raw."""
    return "clamp" if decoder == "censored" else "raw"


@dataclass(frozen=True)
class ModelEntry:
    """One backend: its denoiser config and, for latent diffusion, its VAE config."""

    name: str
    path: Path
    config: DenoiserConfig
    vae_config: VAEConfig | None = None
    vae_path: Path | None = None
    colour: str = PALETTE[0]

    @property
    def kind(self) -> Literal["data", "latent"]:
        return "data" if self.config.kind == "dm" else "latent"

    @property
    def decoder(self) -> Decoder:
        return "none" if self.vae_config is None else self.vae_config.decoder

    @property
    def dataset(self) -> str:
        return self.config.dataset

    @property
    def variables(self) -> tuple[str, ...]:
        return self.config.variables

    @property
    def grid(self) -> str:
        return self.config.grid

    @property
    def grid_size(self) -> int:
        return self.config.grid_size

    @property
    def label(self) -> str:
        return self.config.label or self.name

    @property
    def models_dir(self) -> Path:
        """The models folder this backend lives in (its ``vae`` and ``dataset`` paths are relative to it)."""
        return self.path.parent

    @property
    def folders(self) -> tuple[Path, ...]:
        """The checkpoint folders behind this backend, VAE first."""
        return (self.path,) if self.vae_path is None else (self.vae_path, self.path)

    @property
    def native_bounds(self) -> Bounds:
        """The mode that shows what the model learned (:func:`native_bounds` of its decoder)."""
        return native_bounds(self.decoder)

    def bounds_problem(self, mode: str) -> str | None:
        """Why ``mode`` is not available on this backend, or None when it is."""
        if mode not in BOUNDS:
            return f"unknown bounds mode {mode!r}; use one of {', '.join(BOUNDS)}"
        if mode == "draw" and self.vae_config is None:
            return (f"{self.name} diffuses in data space: it has no decoder distribution to draw from "
                    "(use raw or clamp)")
        return None

    def bounds_modes(self) -> dict[str, str | None]:
        """Every mode with None (available) or the reason it is not."""
        return {mode: self.bounds_problem(mode) for mode in BOUNDS}

    def resolve_bounds(self, mode: str) -> Bounds:
        """The mode to run for ``mode`` (old names mapped, with a deprecation note); raises when invalid."""
        if mode in DEPRECATED_BOUNDS:
            new, needs = DEPRECATED_BOUNDS[mode]
            if needs is not None and self.decoder != needs:
                raise SeaIceInputError("bounds", f"bounds={mode!r} needs the {needs} decoder, but {self.name} has "
                                       f"decoder {self.decoder!r}", f"Use bounds={new!r} (same meaning) or 'raw'")
            warnings.warn(f"bounds={mode!r} is deprecated; use {new!r}", DeprecationWarning, stacklevel=3)
            log.info("bounds %r is the old name of %r", mode, new)
            mode = new
        problem = self.bounds_problem(mode)
        if problem:
            raise SeaIceInputError("bounds", problem, f"Use one of {', '.join(m for m, p in self.bounds_modes().items() if p is None)}")
        return mode  # type: ignore[return-value]


@dataclass(frozen=True)
class Registry:
    """The backends of one models directory (by config ``order``, then name) and the folders that failed."""

    models_dir: Path
    entries: Mapping[str, ModelEntry]
    broken: Mapping[str, str] = field(default_factory=dict)  # folder name -> what is wrong

    @property
    def names(self) -> list[str]:
        return list(self.entries)

    @property
    def datasets(self) -> list[str]:
        return list(dict.fromkeys(e.dataset for e in self.entries.values()))

    def get(self, name: str) -> ModelEntry:
        """The backend ``name``; a clear error naming the known ones (or why it is broken)."""
        if name in self.entries:
            return self.entries[name]
        if name in self.broken:
            raise SeaIceInputError(self.models_dir / name, f"backend {name!r} is broken: {self.broken[name]}",
                                   "Fix or re-train that model folder")
        empty = self.unusable()
        if empty is not None:
            raise SeaIceInputError(empty.source, f"unknown backend {name!r}: {empty.problem}", empty.fix)
        known = ", ".join(self.entries) or "none"
        raise SeaIceInputError("backend", f"unknown backend {name!r} in {self.models_dir} (known: {known})",
                               "Use one of the known backends, or point --models at the folder that holds it")

    def unusable(self) -> SeaIceInputError | None:
        """Why this folder offers no backend (one model folder, every folder broken, none), or None."""
        if self.entries:
            return None
        root = self.models_dir
        if not root.is_dir():
            return SeaIceInputError(root, "models directory not found", "Pass an existing folder with --models")
        if (root / CONFIG_FILE).is_file():
            return SeaIceInputError(root, "this is one model folder, not a folder of models",
                                    f"Pass the folder that holds it: --models {root.parent}")
        if self.broken:
            why = "; ".join(f"{name}: {reason}" for name, reason in self.broken.items())
            return SeaIceInputError(root, f"no usable model: every model folder is broken ({why})",
                                    "Fix or re-train those folders, or pass another folder with --models")
        return SeaIceInputError(root, "no backend here: no sub-folder holds a dm or ldm config.json",
                                "Train one (`seaice-explorer train --out DIR/NAME`), or pass the folder that "
                                "holds your model folders with --models")

    def require(self) -> Registry:
        """This registry when it has a backend, else the clear error of :meth:`unusable`."""
        err = self.unusable()
        if err is not None:
            raise err
        return self

    def dataset_source(self, dataset: str) -> str | None:
        """What to open for a backend's ``dataset`` (:func:`dataset_source` in this models folder); None
        for a dataset that is only a label (its models carry their grid; there is no data to open)."""
        if any(is_label(dataset, e.path) for e in self.for_dataset(dataset)):
            return None
        return dataset_source(dataset, self.models_dir)

    def for_dataset(self, dataset: str) -> list[ModelEntry]:
        return [e for e in self.entries.values() if e.dataset == dataset]

    def default_selection(self, dataset: str | None = None) -> list[str]:
        """Backends the app compares first: those whose config says ``selected``, else the first two."""
        entries = self.for_dataset(dataset) if dataset is not None else list(self.entries.values())
        chosen = [e.name for e in entries if e.config.selected]
        return chosen or [e.name for e in entries[:2]]


def inside(root: Path, name: str, value: object, example: str) -> Path:
    """``root / value`` for a relative path that stays inside ``root``, links followed; else a clear error."""
    path = root / check_inside(name, value, example)
    if not path.resolve().is_relative_to(root.resolve()):
        raise SeaIceInputError(path, f"{name} {value!r} leads outside the models folder {root} (through a link)",
                               f"Copy it into the models folder and set {name} to its path there")
    return path


def dataset_source(dataset: str, models_dir: Path) -> str:
    """What to open for a config's ``dataset``: a known name as it is, else its path inside ``models_dir``.

    Never the current directory, never outside ``models_dir``: an absolute path or ``..`` is refused.
    """
    if is_named_dataset(dataset):
        return dataset
    try:
        check_inside("dataset", dataset, "data/states.nc")
    except SeaIceInputError:
        raise SeaIceInputError(None, f"dataset {dataset!r} is neither a known name ({_KNOWN_DATASETS}) nor a "
                               "relative path inside the models folder (no absolute path, no '..')",
                               _DATASET_FIX) from None
    return str(inside(models_dir, "dataset", dataset, "data/states.nc"))


_KNOWN_DATASETS = ", ".join([*DATASET_NAMES, *(f"{n}:SPLIT" for n in SPLIT_DATASETS)])
_DATASET_FIX = ("Set dataset to a known name, copy the data into the models folder and set dataset to its path "
                "there, or retrain with this version (it keeps the model's grid in grid.nc beside the weights)")


def is_label(dataset: str, folder: Path) -> bool:
    """True when ``dataset`` is only a name for the data (never opened): the model folder carries its
    own grid (:data:`GRID_FILE`) and the name is neither a known dataset nor a path inside the models folder."""
    if is_named_dataset(dataset) or not (folder / GRID_FILE).is_file():
        return False
    try:
        return not Path(dataset_source(dataset, folder.parent)).exists()
    except SeaIceInputError:
        return True


def _check_dataset(dataset: str, root: Path, source: Path) -> None:
    """A config's ``dataset`` names a known data set, something that exists inside the models folder,
    or (with the model's own grid file beside it) the data it was trained on, as a label never opened."""
    if is_label(dataset, source.parent):
        return
    try:
        path = dataset_source(dataset, root)
    except SeaIceInputError as err:
        raise SeaIceInputError(source, err.problem, err.fix) from None
    if not is_named_dataset(dataset) and not Path(path).exists():
        raise SeaIceInputError(source, f"dataset {dataset!r} is not a known name ({_KNOWN_DATASETS}) and not a "
                               f"file inside the models folder {root}", _DATASET_FIX)


def _vae(config: LatentDenoiserConfig, folder: Path, root: Path) -> tuple[VAEConfig, Path]:
    """The VAE folder an ldm config names, inside the models folder (never the current directory)."""
    try:
        vae_path = inside(root, "vae", config.vae, "vae-gaussian")
    except SeaIceInputError as err:
        raise SeaIceInputError(folder / CONFIG_FILE, err.problem, err.fix) from None
    if not (vae_path / CONFIG_FILE).is_file():
        raise SeaIceInputError(folder / CONFIG_FILE, f"its vae {config.vae!r} is not a model folder in {root}",
                               "Train that VAE into the models folder, or set vae to a VAE folder there")
    vae_config = load_config(vae_path)
    if not isinstance(vae_config, VAEConfig):
        raise SeaIceInputError(vae_path, f"expected a VAE config, found kind {vae_config.kind!r}",
                               "Point the ldm config's 'vae' at a VAE folder")
    return vae_config, vae_path


def _entry(folder: Path, config: DenoiserConfig, models_dir: Path, index: int) -> ModelEntry:
    _check_dataset(config.dataset, models_dir, folder / CONFIG_FILE)
    vae_config = vae_path = None
    if isinstance(config, LatentDenoiserConfig):
        vae_config, vae_path = _vae(config, folder, models_dir)
        _check_dataset(vae_config.dataset, models_dir, vae_path / CONFIG_FILE)
        if (vae_config.latent_channels, vae_config.latent_size) != (config.latent_channels, config.latent_size):
            raise SeaIceInputError(folder, f"denoiser latent {config.latent_channels}×{config.latent_size}² does not "
                                   f"fit VAE {vae_path.name} ({vae_config.latent_channels}×{vae_config.latent_size}²)",
                                   "Retrain the latent denoiser on this VAE")
        if vae_config.latent_mean is None and config.latent_mean is None:
            raise SeaIceInputError(vae_path, "the VAE has no latent scaling (latent_mean, latent_std)",
                                   "Retrain the VAE, or the latent denoiser, with this version")
    colour = config.colour or PALETTE[index % len(PALETTE)]
    return ModelEntry(folder.name, folder, config, vae_config, vae_path, colour)


def discover(models_dir: str | os.PathLike | None = None) -> Registry:
    """Read every ``<models_dir>/*/config.json``; denoisers become backends, broken folders are listed.

    ``models_dir``: a folder, else ``$SEAICE_EXPLORER_MODELS``, else the shipped ``models/``. Folders
    are self-contained: an ldm's ``vae`` and any ``dataset`` path are resolved inside ``models_dir``
    (absolute paths, ``..`` and links out of it are refused), a ``dataset`` may also be a known name.
    Each refusal lists its folder in ``broken`` with the reason; the other folders keep working.
    """
    root = resolve_models_dir(models_dir).expanduser().resolve()  # results never depend on the current directory
    if not root.is_dir():
        raise SeaIceInputError(root, "models directory not found", "Pass an existing folder with --models")
    entries: dict[str, ModelEntry] = {}
    broken: dict[str, str] = {}
    denoisers: list[tuple[int, str, Path, DenoiserConfig]] = []
    for folder in sorted(p for p in root.iterdir() if (p / CONFIG_FILE).is_file()):
        try:
            config = load_config(folder)
        except SeaIceInputError as err:
            _broken(broken, folder, err)
            continue
        if isinstance(config, DenoiserConfig):
            denoisers.append((config.order, folder.name, folder, config))
    for _, name, folder, config in sorted(denoisers, key=lambda t: t[:2]):
        try:
            entries[name] = _entry(folder, config, root, len(entries))
        except SeaIceInputError as err:
            _broken(broken, folder, err)
    return Registry(root, entries, broken)


def _broken(broken: dict[str, str], folder: Path, err: SeaIceInputError) -> None:
    log.warning("model folder %s is broken: %s", folder, err)
    where = f" ({err.source})" if err.source else ""
    broken[folder.name] = f"{err.problem}{where}. {err.fix}"
