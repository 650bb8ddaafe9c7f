"""Reading back the report folders ``evaluate`` writes (``table.csv`` and ``README.md``), for the tour.

The verdicts on the paper's findings come from the report's ``findings.json`` (issue 21: effects
with intervals, judged by rules that can fail), never from the table's point values; a report
without it has no verdicts. A missing or unreadable folder is ``None``, never an error. The synthetic family's report is ``docs/evaluation/``, another data set's
``docs/evaluation-<dataset>/`` (e.g. ``docs/evaluation-osisaf/``).
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..configs import DEFAULT_DATASET
from . import findings as findings_mod
from .rules import FindingPart
from .verdicts import finding_verdict

log = logging.getLogger(__name__)

#: Environment variable naming the folder that holds the report folders (default: the project's docs/).
REPORTS_ENV = "SEAICE_EXPLORER_REPORTS"


def reports_dir() -> Path:
    """The folder of the report folders: ``$SEAICE_EXPLORER_REPORTS`` or the project's ``docs/``."""
    env = os.environ.get(REPORTS_ENV)
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / "docs"


def report_folder(dataset: str, root: str | os.PathLike | None = None) -> Path:
    """Where the evaluation report of ``dataset``'s backends lives."""
    name = "evaluation" if dataset == DEFAULT_DATASET else f"evaluation-{dataset}"
    return Path(root) / name if root is not None else reports_dir() / name


def _readme_field(text: str, name: str) -> str | None:
    """The value of a ``- name: value`` line of the README (continuation lines joined)."""
    m = re.search(rf"^- {name}: (.+(?:\n  .+)*)", text, flags=re.MULTILINE)
    return " ".join(part.strip() for part in m.group(1).splitlines()) if m else None


@dataclass(frozen=True, eq=False)
class Report:
    """One evaluation report: its table (one row per backend and bounds mode) and README facts."""

    folder: Path
    table: pd.DataFrame
    reference: str = ""  # what the README says of the reference, e.g. "`default`, 730 states, ..."
    n: int | None = None  # samples per setting
    date: str = ""
    findings: list[findings_mod.Finding] = field(default_factory=list)
    parts: tuple[FindingPart, ...] = ()  # the judged parts of findings.json, whose verdicts ``findings`` sums up
    #: Rows looked up once: (kind, decoder) -> native row, (backend, bounds) -> row (the tour's card asks on every step).
    _native: dict = field(default_factory=dict, init=False, repr=False)
    _rows: dict = field(default_factory=dict, init=False, repr=False)

    def finding(self, number: int) -> findings_mod.Finding | None:
        return next((f for f in self.findings if f.number == number), None)

    def parts_of(self, number: int) -> list[dict[str, object]]:
        """The parts of finding ``number`` as ``findings.json`` records, with their interval's ``level``
        (for :func:`seaice_explorer.plots.forest.forest_plot`); empty when the report has none."""
        return [{**p.to_dict(), "level": p.level} for p in self.parts if p.finding == number]

    def native(self, kind: str, decoder: str | None = None) -> pd.Series | None:
        """The first backend of ``kind`` (and ``decoder``) at its native bounds mode, as the findings judge it."""
        if (kind, decoder) not in self._native:
            rows = findings_mod.native_rows(self.table, kind, decoder)
            self._native[kind, decoder] = rows[0] if rows else None
        return self._native[kind, decoder]

    def row(self, backend: str, bounds: str) -> pd.Series | None:
        if (backend, bounds) not in self._rows:
            hit = self.table[(self.table["backend"] == backend) & (self.table["bounds"] == bounds)]
            self._rows[backend, bounds] = hit.iloc[0] if len(hit) else None
        return self._rows[backend, bounds]

    def reference_row(self) -> pd.Series | None:
        """The reference's own row (all its states)."""
        hit = self.table[self.table["backend"] == "reference"]
        return hit.iloc[0] if len(hit) else None


def read_report(folder: str | os.PathLike) -> Report | None:
    """The report in ``folder``, or None when it has no readable ``table.csv`` (logged)."""
    folder = Path(folder)
    table_path = folder / "table.csv"
    if not table_path.is_file():
        return None
    try:
        table = pd.read_csv(table_path)
        readme = (folder / "README.md").read_text() if (folder / "README.md").is_file() else ""
    except (OSError, ValueError, pd.errors.ParserError) as err:
        log.warning("could not read the report in %s: %s", folder, err)
        return None
    if not {"backend", "bounds"} <= set(table.columns):
        log.warning("%s is not an evaluate table (no backend/bounds columns)", table_path)
        return None
    samples = _readme_field(readme, "samples") or ""
    n = re.search(r"n = (\d+)", samples)
    parts = read_parts(folder / FINDINGS_FILE)
    return Report(folder=folder, table=table, reference=_readme_field(readme, "reference") or "",
                  n=int(n.group(1)) if n else None, date=_readme_field(readme, "date") or "",
                  findings=summarise_parts(parts), parts=tuple(parts))


FINDINGS_FILE = "findings.json"
_CLAIMS = {1: "Latent diffusion scores about as well as data-space diffusion",
           2: "Latent diffusion smooths the small scales",
           3: "Censoring improves the marginal ice zone"}


def read_parts(path: Path) -> list[FindingPart]:
    """The judged parts in a report's ``findings.json``; none when it is missing or unreadable (logged)."""
    if not path.is_file():
        return []
    try:
        return [FindingPart(**{**d, "backends": tuple(d.get("backends") or ())}) for d in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError) as err:
        log.warning("could not read %s: %s", path, err)
        return []


def summarise_parts(parts: list[FindingPart]) -> list[findings_mod.Finding]:
    """The verdict on each finding from its judged parts (all reproduced, any refuted, else not resolved)."""
    out = []
    for number in sorted({p.finding for p in parts}):
        mine = [p for p in parts if p.finding == number]
        evidence = "; ".join(f"{p.part}: {p.verdict} ({p.effect:.3g}, interval {p.ci_low:.3g}–{p.ci_high:.3g})"
                             for p in mine if p.effect is not None and p.ci_low is not None and p.ci_high is not None)
        out.append(findings_mod.Finding(number, _CLAIMS.get(number, f"finding {number}"),
                                        finding_verdict(mine), evidence))  # type: ignore[arg-type]
    return out


def judged_findings(path: Path) -> list[findings_mod.Finding]:
    """The verdict on each finding from the report's ``findings.json`` (effects with intervals and rules
    that can fail); none for a report without it: its point comparisons decide nothing (issue 21)."""
    return summarise_parts(read_parts(path))
