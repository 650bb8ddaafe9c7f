"""Recompute the training-budget rows of existing model cards, without retraining.

    python scripts/card_budgets.py models/osisaf-dm [models/osisaf-ldm-gaussian ...] [--dry-run]

For each checkpoint folder, the budget (``seaice_explorer.training.budget.folder_budget``: states
seen, training FLOPs ≈ 3 × forward, CPU hours = wall × threads, the warm restarts) is read from its
``config.json``, ``training.json`` and card, and only those rows of its ``README.md`` table are
rewritten, as one block after the "batch size" row. Running it twice gives the same file.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from seaice_explorer.training.budget import folder_budget, update_card

log = logging.getLogger("card_budgets")


def update_folder(folder: Path, dry_run: bool = False) -> bool:
    """Rewrite the budget rows of ``folder``'s card; True if the file changed (or would, ``dry_run``)."""
    card = folder / "README.md"
    fields = folder_budget(folder).card_fields()
    for key, value in fields.items():
        log.info("%s: %s = %s", folder.name, key, value)
    old = card.read_text()
    new = update_card(old, fields)
    if new == old or dry_run:
        return new != old
    tmp = card.with_name(f".{card.name}.tmp{os.getpid()}")
    tmp.write_text(new)
    os.replace(tmp, card)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="checkpoint folders (config.json + README.md)")
    parser.add_argument("--dry-run", action="store_true", help="show the rows, write nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for folder in args.folders:
        changed = update_folder(folder, args.dry_run)
        log.info("%s: %s", folder, ("would change" if args.dry_run else "updated") if changed else "unchanged")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
