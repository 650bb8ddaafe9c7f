"""``scripts/seed_table.py``: the verdicts of several report runs side by side (issue 21 §6)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("seed_table", ROOT / "scripts" / "seed_table.py")
seed_table = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(seed_table)


def _run(folder: Path, parts: list[dict], seed: int) -> Path:
    folder.mkdir()
    (folder / "findings.json").write_text(json.dumps(parts))
    (folder / "README.md").write_text(f"seaice-explorer evaluate --seed {seed} --n {parts[0]['n']}\n")
    return folder


def _part(verdict: str, n: int, effect: float = 0.9) -> dict:
    return {"finding": 2, "part": "sic small- ÷ large-scale power ratio, a ÷ b", "verdict": verdict,
            "effect": effect, "ci_low": effect - 0.05, "ci_high": effect + 0.05, "null": 1.0, "margin": None, "n": n,
            "backends": ["a", "b"]}


def test_the_same_verdict_at_another_n_is_the_same_and_a_changed_one_is_not(tmp_path: Path) -> None:
    a = _run(tmp_path / "a", [_part("reproduced", 512)], 0)
    b = _run(tmp_path / "b", [_part("reproduced", 1536, 0.92)], 3)
    text = seed_table.seed_table([a, b])
    assert "n = 512 or 1536" in text and "| seed 0 | seed 3 |" in text
    assert "**no**" not in text
    c = _run(tmp_path / "c", [_part("not resolved", 512, 0.97)], 1)
    text = seed_table.seed_table([a, c])
    assert text.count("**no**") == 2  # the part's row and the finding's row
