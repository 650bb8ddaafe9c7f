"""The knobs of ``assimilation-report`` (issue 22 §3): the guided sampler's settings, the tuning grid, knobs.json.

A :class:`Knob` is one setting (method, guidance, σ_obs, Heun steps, bounds); :func:`knob_grid` the
small fixed grid tried on the tuning days; ``knobs.json`` keeps per backend the chosen knob, the grid's
scores and the days used (:func:`write_knobs`, :func:`read_knobs`, :func:`knob_of`). :func:`family`
picks the backends of a data set from the registry (no backend name is listed here).

>>> Knob(method="mmps", guidance=0.5).label
'mmps-g0.5-s0.05-steps10-clamp'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..assimilation import METHODS
from ..errors import SeaIceInputError
from ..outputs import atomic_file
from ..registry import ModelEntry, Registry

COMMAND = "assimilation-report"
#: The observed family's data set (the OSI SAF backends are the registry's backends of this data set).
OBSERVED_DATASET = "osisaf"
#: The tuning grid (issue 22 §3): guidance scales tried with dps and mmps; repaint takes none.
GUIDANCES: tuple[float, ...] = (0.5, 1.0)
OBS_SIGMA = 0.05
#: Heun steps: dps and mmps overshoot below 10 (assimilation.core.MIN_GUIDED_STEPS).
STEPS = 10
BOUNDS = "clamp"


@dataclass(frozen=True, kw_only=True)
class Knob:
    """One setting of the guided sampler: method, guidance, σ_obs, Heun steps and bounds."""

    method: str
    guidance: float = 1.0
    obs_sigma: float = OBS_SIGMA
    steps: int = STEPS
    bounds: str = BOUNDS

    @property
    def label(self) -> str:
        """``mmps-g1-s0.05-steps10-clamp`` (repaint takes no guidance)."""
        g = "" if self.method == "repaint" else f"-g{self.guidance:g}"
        return f"{self.method}{g}-s{self.obs_sigma:g}-steps{self.steps}-{self.bounds}"

    def describe(self) -> str:
        g = "" if self.method == "repaint" else f", guidance {self.guidance:g}"
        return f"{self.method}{g}, σ_obs {self.obs_sigma:g}, {self.steps} Heun steps, bounds {self.bounds}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Knob:
        return cls(**{k: data[k] for k in ("method", "guidance", "obs_sigma", "steps", "bounds") if k in data})


def knob_grid(entry: ModelEntry, guidances: Sequence[float] = GUIDANCES, obs_sigma: float = OBS_SIGMA,
              steps: int = STEPS, bounds: str = BOUNDS) -> list[Knob]:
    """Every method of :data:`~seaice_explorer.assimilation.METHODS` the backend's kind runs × ``guidances``."""
    knobs: list[Knob] = []
    for name, spec in METHODS.items():
        if entry.kind not in spec.kinds:
            continue
        for g in ((1.0,) if name == "repaint" else guidances):
            knobs.append(Knob(method=name, guidance=float(g), obs_sigma=obs_sigma, steps=steps, bounds=bounds))
    return knobs


def family(registry: Registry, dataset: str, names: Sequence[str] | None = None) -> list[ModelEntry]:
    """The named backends, else one backend of ``dataset`` per (kind, decoder), the first in registry order
    (a second training seed of the same model is left out)."""
    if names:
        return [registry.get(n) for n in names]
    seen: dict[tuple[str, str], ModelEntry] = {}
    for entry in registry.for_dataset(dataset):
        seen.setdefault((entry.kind, entry.decoder), entry)
    return list(seen.values())


def read_knobs(path: Path) -> dict[str, Any]:
    """``knobs.json`` as written by :func:`write_knobs`; a clear error when it is missing."""
    if not path.is_file():
        raise SeaIceInputError(path, "no knobs.json: the report's knobs are fixed on the tuning days first",
                               f"Run `seaice-explorer {COMMAND} --stage tune` (same --work) before --stage report")
    try:
        data = json.loads(path.read_text())
    except ValueError as err:
        raise SeaIceInputError(path, f"not JSON ({err})", "Rerun --stage tune to rewrite it") from None
    if not isinstance(data, dict) or not isinstance(data.get("backends"), dict):
        raise SeaIceInputError(path, "holds no 'backends' table", "Rerun --stage tune to rewrite it")
    return data


def knob_of(knobs: Mapping[str, Any], backend: str, path: Path | str = "knobs.json") -> Knob:
    """The chosen knob of ``backend`` in ``knobs``; an error naming the fix when it was not tuned."""
    entry = knobs["backends"].get(backend)
    if not entry or "chosen" not in entry:
        raise SeaIceInputError(path, f"{backend} has no tuned knobs",
                               f"Run --stage tune --backends {backend} first")
    return Knob.from_dict(entry["chosen"])


def _plain(value: Any) -> Any:
    """``value`` with NaN as None, so the file is standard JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def write_knobs(path: Path, knobs: Mapping[str, Any]) -> Path:
    """Write ``knobs.json`` atomically (NaN written as null)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(_plain(knobs), indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    return path
