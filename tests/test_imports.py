"""Every module imports, and the CLI's entry point stays light (after Polygraphy's import tests)."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import edgekit

MODULES = sorted(m.name for m in pkgutil.walk_packages(edgekit.__path__, "edgekit."))


@pytest.mark.parametrize("name", MODULES)
def test_every_module_imports(name):
    importlib.import_module(name)


def test_cli_entry_imports_neither_torch_nor_onnxruntime_and_help_works():
    code = (
        "import sys, edgekit.cli.main\n"
        "heavy = [m for m in ('torch', 'onnxruntime', 'onnx', 'tensorrt') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    done = subprocess.run(
        [sys.executable, "-m", "edgekit.cli.main", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "pipeline" in done.stdout and "export" in done.stdout
