"""The verdicts of one report run with several sampling seeds, side by side (issue 21).

    python scripts/seed_table.py docs/evaluation-osisaf docs/evaluation-osisaf-seed1 docs/evaluation-osisaf-seed2 \
        --out docs/evaluation-osisaf/seeds.md

Reads each folder's ``findings.json`` (the same parts in the same order, as ``evaluate`` writes them) and
writes a Markdown table: one row per finding part, one column per run (verdict, effect and interval),
and whether the verdict is the same in every run; then the verdict of each finding per run.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from seaice_explorer.evaluation.reports import read_parts, summarise_parts


HEADER = "# Verdicts per "


def _seed(folder: Path) -> str:
    """The sampling seed recorded in the report's command line."""
    words = (folder / "README.md").read_text().split()
    return words[words.index("--seed") + 1] if "--seed" in words else "?"


def seed_table(folders: list[Path], labels: list[str] | None = None, note: str | None = None,
               title: str = "sampling seed") -> str:
    """The table; ``labels`` name the columns (default ``seed <sampling seed>``), ``note`` replaces the intro."""
    runs = [read_parts(f / "findings.json") for f in folders]
    if not runs or any(len(r) != len(runs[0]) for r in runs) or not runs[0]:
        raise SystemExit("every folder needs a findings.json with the same parts")
    heads = labels or [f"seed {_seed(f)}" for f in folders]
    sizes = sorted({r[0].n for r in runs})
    n = sizes[0] if len(sizes) == 1 else " or ".join(map(str, sizes)) + ", as each column says"
    intro = note or ("Each column is one run of the same `evaluate` command with another `--seed` (the sampling "
                     "seed; the models, the reference and the rules are the same).")
    lines = [f"{HEADER}{title} (n = {n} per setting)", "", intro + " Effect (interval, at the level its rule uses).", "",
             "| finding | part | " + " | ".join(heads) + " | same in all |",
             "|---|---|" + "---|" * len(heads) + "---|"]
    for parts in zip(*runs):
        name = parts[0].part.split(" (not judged")[0]
        cells = [f"{p.verdict}: {p.effect:.3g} ({p.ci_low:.3g} to {p.ci_high:.3g})" for p in parts]
        same = "yes" if len({p.verdict for p in parts}) == 1 else "**no**"
        lines.append(f"| {parts[0].finding} | {name} | " + " | ".join(cells) + f" | {same} |")
    lines += ["", "| finding | " + " | ".join(heads) + " | same in all |",
              "|---|" + "---|" * len(heads) + "---|"]
    summaries = [summarise_parts(r) for r in runs]
    for findings in zip(*summaries):
        verdicts = [f.verdict for f in findings]
        same = "yes" if len({re.sub(r" at n = \d+", "", v) for v in verdicts}) == 1 else "**no**"
        lines.append(f"| {findings[0].number}. {findings[0].claim} | " + " | ".join(verdicts) + f" | {same} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--labels", nargs="+", default=None, help="column names, one per folder (default: seed N)")
    ap.add_argument("--title", default="sampling seed", help="what differs between the columns, for the title")
    ap.add_argument("--note", default=None, help="the sentence that says what differs between the columns")
    args = ap.parse_args()
    if args.labels is not None and len(args.labels) != len(args.folders):
        raise SystemExit("give one --labels entry per folder")
    if args.out.exists() and not args.out.read_text().startswith(HEADER):
        raise SystemExit(f"{args.out} exists and was not written by this script: choose another --out")
    args.out.write_text(seed_table(args.folders, args.labels, args.note, args.title))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
