"""The physical-bounds choice of the dashboard, from the registry's one rule (no Panel).

The modes are exactly :data:`seaice_explorer.registry.BOUNDS` (raw, clamp, draw). A mode is
available when every selected backend can apply it; otherwise the reasons come from
:meth:`~seaice_explorer.registry.ModelEntry.bounds_problem`. Nothing is ever substituted.
"""

from __future__ import annotations

from collections.abc import Sequence

import param

from ...registry import BOUNDS, BOUNDS_LABELS, DEPRECATED_BOUNDS, ModelEntry

__all__ = ["BOUNDS", "BOUNDS_LABELS", "BoundsSelector", "bounds_modes", "upgrade_bounds"]


def bounds_modes(entries: Sequence[ModelEntry]) -> dict[str, str | None]:
    """Every mode with None (all ``entries`` can apply it) or why not (their reasons joined)."""
    out: dict[str, str | None] = {}
    for mode in BOUNDS:
        problems = [p for p in (e.bounds_problem(mode) for e in entries) if p]
        out[mode] = "; ".join(problems) or None
    return out


def upgrade_bounds(value: object) -> object:
    """An old bounds name (``none``, ``clip``, ``censored``, ``censored-sample``) as its new name."""
    return DEPRECATED_BOUNDS[value][0] if isinstance(value, str) and value in DEPRECATED_BOUNDS else value


class BoundsSelector(param.Selector):
    """A bounds mode; old values read from a URL (``bounds=none|clip|censored``) map to the new names."""

    @classmethod
    def deserialize(cls, value: object) -> object:
        return upgrade_bounds(value)
