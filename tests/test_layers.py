"""The import layers of the package hold (import-linter contract in pyproject.toml) and package
modules are imported at the top of a module, where a reader sees them."""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "seaice_explorer"
#: Package modules that may be imported inside a function: they load torch, and the importer must
#: start without it (the dashboard's first page, the CLI's sub-command table).
LAZY_ALLOWED = {"diffusion.generate"}


def test_import_layers_contract() -> None:
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports not found: run the set-up (pip install -e '.[test]')")
    out = subprocess.run([exe, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def _local_package_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    found = []
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("seaice_explorer")):
                module = (node.module or "").removeprefix("seaice_explorer.")
                names = [f"{module}.{a.name}".strip(".") for a in node.names]
                if not any(module == ok or n == ok for n in names for ok in LAZY_ALLOWED):
                    found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def test_no_function_local_package_imports() -> None:
    offenders = {str(p.relative_to(ROOT)): hits for p in sorted(PACKAGE.rglob("*.py"))
                 if (hits := _local_package_imports(p))}
    assert not offenders, f"package modules imported inside functions (move them to the top): {offenders}"
