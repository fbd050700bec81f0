"""The house rules of the code, checked: layers, imports, settings, module sizes, the factory."""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fixmyphone

PACKAGE = Path(fixmyphone.__file__).parent
ROOT = PACKAGE.parent
MAX_LINES = 400
# models.py is one module by the product's fixed layout (grouped by domain inside).
LONG_ALLOWED = {"models.py"}
FIRST_USE = "loaded on first use"


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_the_import_rules_hold():
    """pyproject.toml's import-linter contracts: faces independent and above the rules, the
    workflow below the services, low modules importing no rule, no cycles among services."""
    pytest.importorskip("importlinter")
    command = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(command), "--no-cache"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_imports_sit_at_the_top_unless_a_heavy_library_loads_on_first_use():
    found = []
    for path in _modules():
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    nearby = " ".join(lines[max(inner.lineno - 3, 0) : inner.end_lineno])
                    if FIRST_USE not in nearby:
                        found.append(f"{_relative(path)}:{inner.lineno}")
    assert not found, f"function-local imports without a '# {FIRST_USE}: …' reason: {found}"


def test_only_the_config_module_reads_the_environment():
    readers = [
        _relative(p)
        for p in _modules()
        if p.name != "config.py" and re.search(r"\bos\.(environ|getenv)\b", p.read_text())
    ]
    assert readers == []


def test_modules_stay_small():
    long = {
        _relative(p): n
        for p in _modules()
        if p.name not in LONG_ALLOWED and (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_factory_reads_as_a_table_of_contents():
    lines = inspect.getsource(fixmyphone.create_app).splitlines()
    assert len(lines) < 100
