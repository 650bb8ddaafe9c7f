"""``verdicts.json`` of ``assimilation-report`` (issue 22 §3): the targets, the calibration and the censored
effect as data, so that the README, the tour and the tests quote the same numbers.

:func:`verdicts_record` turns a report summary (:class:`.assimilation_report.ReportSummary`) into the
record written beside the README; :func:`read_verdicts` reads it back (None when there is no report).
Every value is a mean over report days with its 90 % bootstrap interval over days.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .assimilation_summary import TARGETS, Estimate
from .bootstrap import DEFAULT_LEVEL
from .reports import reports_dir

VERDICTS_FILE = "verdicts.json"
#: The report folder under the reports directory (``docs/``).
FOLDER = "assimilation"


def assimilation_folder(root: str | os.PathLike | None = None) -> Path:
    """Where ``assimilation-report`` writes by default: ``docs/assimilation`` (or under ``root``)."""
    return (Path(root) if root is not None else reports_dir()) / FOLDER


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _estimate(est: Estimate) -> dict[str, Any]:
    return {"estimate": _number(est.estimate), "ci_low": _number(est.ci_low), "ci_high": _number(est.ci_high),
            "days": est.days, "level": est.level}


def verdicts_record(summary: Any, report_days: int, members: int) -> dict[str, Any]:
    """The record of a :class:`~.assimilation_report.ReportSummary` (``targets``, ``calibration``, ``censored``)."""
    targets = [{"backend": t["backend"], "maker": t["maker"], "mask": t["mask"], "target": t["target"],
                "rule": f"{TARGETS[t['target']].name} {TARGETS[t['target']].text}", "verdict": t["verdict"],
                **_estimate(t["estimate"])} for t in summary.targets]
    calibration = [{"backend": c["backend"], "maker": c["maker"], "mask": c["mask"], "expected": c["expected"],
                    "coverage": _estimate(c["coverage"]), "coverage_word": c["coverage_word"],
                    "spread_skill": _estimate(c["spread_skill"]), "spread_skill_word": c["spread_skill_word"]}
                   for c in summary.calibration]
    censored = None
    if summary.censored is not None:
        c = summary.censored
        censored = {"a": c["a"], "b": c["b"], "score": "fair CRPS", "mask": "edge_box", "word": c["word"],
                    **_estimate(c["estimate"])}
    return {"report_days": report_days, "members": members, "level": DEFAULT_LEVEL, "targets": targets,
            "calibration": calibration,
            "censored": censored}


@dataclass(frozen=True)
class AssimilationVerdicts:
    """``verdicts.json`` as read: the targets (one per posterior, mask and target), the calibration rows and
    the censored-likelihood effect."""

    folder: Path
    report_days: int
    members: int
    targets: Sequence[Mapping[str, Any]]
    calibration: Sequence[Mapping[str, Any]]
    censored: Mapping[str, Any] | None

    def target(self, backend: str, mask: str, name: str) -> Mapping[str, Any] | None:
        """One target row (``name``: ``crps_ratio``, ``iiee_ratio`` or ``coverage``), None when not judged."""
        return next((t for t in self.targets if (t["backend"], t["mask"], t["target"]) == (backend, mask, name)), None)

    def calibration_of(self, backend: str, mask: str) -> Mapping[str, Any] | None:
        return next((c for c in self.calibration if (c["backend"], c["mask"]) == (backend, mask)), None)

    @property
    def days_scored(self) -> int:
        """The most report days any target rests on."""
        return max((int(t["days"]) for t in self.targets), default=0)


def read_verdicts(folder: str | os.PathLike | None = None) -> AssimilationVerdicts | None:
    """The report's ``verdicts.json`` (default folder: :func:`assimilation_folder`); None without one.
    A file that is not such a record raises ``ValueError`` naming it."""
    folder = Path(folder) if folder is not None else assimilation_folder()
    path = folder / VERDICTS_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return AssimilationVerdicts(folder, int(data["report_days"]), int(data["members"]), list(data["targets"]),
                                    list(data["calibration"]), data.get("censored"))
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a verdicts file of `seaice-explorer assimilation-report` ({err}); "
                         "rewrite it with `seaice-explorer assimilation-report --report-only`") from err
