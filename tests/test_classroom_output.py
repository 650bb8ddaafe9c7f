"""The classroom benchmark follows the output rule: it replaces only a result it wrote itself."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import classroom  # noqa: E402


def test_only_its_own_result_may_be_replaced(tmp_path):
    assert classroom.ours(tmp_path / "new.json")  # nothing there yet
    (tmp_path / "other.json").write_text(json.dumps({"students": 20}))
    assert not classroom.ours(tmp_path / "other.json")  # a JSON someone else wrote
    (tmp_path / "notes.txt").write_text("a teacher's notes")
    assert not classroom.ours(tmp_path / "notes.txt")
    (tmp_path / "mine.json").write_text(json.dumps({"written_by": classroom.WRITTEN_BY}))
    assert classroom.ours(tmp_path / "mine.json")
    assert classroom.ours(ROOT / "docs" / "benchmarks" / "classroom.json")  # the committed result
