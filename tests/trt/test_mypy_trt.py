"""The TensorRT modules pass ``mypy --strict`` against tensorrt-stubs (repaired by tools/trt_typings.py).

This is the static check of edgekit's TensorRT code on machines without TensorRT: misuse of the API that the stubs
describe (profile shapes that are not ``trt.Dims``, iterating a ``Dims``, removed methods such as
``build_engine`` or ``execute_async_v2``) fails here.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _skip_reason() -> str | None:
    if os.environ.get("EDGEKIT_TRT_MYPY_RAN") == "1":
        return "make test ran this strict check (make typecheck) just before pytest; it is not run twice"
    if importlib.util.find_spec("mypy") is None:
        return "mypy is not installed: pip install 'edgekit[dev]'"
    try:
        importlib.metadata.distribution("tensorrt-stubs")
    except importlib.metadata.PackageNotFoundError:
        return "tensorrt-stubs is not installed: pip install --no-deps tensorrt-stubs==10.13.0.35.1"
    return None


@pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))
def test_trt_modules_pass_mypy_strict() -> None:
    typings = subprocess.run(
        [sys.executable, "tools/trt_typings.py"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert typings.returncode == 0, typings.stderr
    assert (ROOT / ".typings" / "tensorrt_bindings" / "tensorrt.pyi").is_file()
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy-trt.ini"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_typings_script_repairs_the_stub_syntax() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import trt_typings
    finally:
        sys.path.pop(0)
    text = (
        "    def configure_plugin(self: IPluginV3, in: list[X], out: list[X]) -> None:\n"
        "    def add_scale_nd(self, input: ITensor, power: Weights = None, channel_axis: int) -> IScaleLayer:\n"
    )
    fixed = trt_typings.fix_stub(text)
    assert "in_: list[X]" in fixed and "channel_axis: int = ...)" in fixed
    compile(fixed.replace("    def", "def").replace(":\n", ": ...\n"), "<stub>", "exec")
