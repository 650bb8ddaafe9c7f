"""Shared fixtures: paths to the real data in ../shared/data and tiny synthetic states."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real files beside the project; tests using them skip when the folder is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"real data folder {SHARED} not found (it sits beside the project in CI)")
    return SHARED
