"""``edgekit debug`` from the command line: CliRunner and a real subprocess, on a planted perturbation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgekit.cli.main import app


@pytest.fixture(scope="module")
def cnn_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """cnn (random weights) exported to ONNX, and a copy with the second conv's weight perturbed."""
    import onnx
    from onnx import numpy_helper

    from edgekit.export.onnx import export_onnx
    from edgekit.intake.load import load_model

    folder = tmp_path_factory.mktemp("cli debug")
    good = folder / "cnn.onnx"
    export_onnx(load_model("cnn"), good)
    proto = onnx.load(str(good))
    init = next(t for t in proto.graph.initializer if t.name == "module.3.weight")
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 1.5, init.name))
    bad = folder / "cnn.bad.onnx"
    onnx.save(proto, str(bad))
    return good, bad


def test_cli_names_the_module_and_writes_json(cnn_files: tuple[Path, Path], tmp_path: Path) -> None:
    _, bad = cnn_files
    out = tmp_path / "debug.json"
    inputs = tmp_path / "in.npz"
    result = CliRunner().invoke(app, ["debug", "cnn", str(bad), "--json", str(out), "--save-inputs", str(inputs)])
    assert result.exit_code == 1, result.output
    assert "first diverging module: 3 (Conv2d)" in result.output and "DIVERGES" in result.output
    data = json.loads(out.read_text())
    first = data["first_diverging"]
    assert data["diverged"] and first["module"] == "3" and first["class"] == "Conv2d"
    import inspect

    import torch

    assert first["source"].endswith(f"torch/nn/modules/conv.py:{inspect.getsourcelines(torch.nn.Conv2d)[1]}")
    assert data["inputs"]["shapes"] == {"x": [1, 1, 8, 8]} and data["inputs"]["file"] == str(inputs)
    import numpy as np

    assert np.load(inputs)["x"].shape == (1, 1, 8, 8)
    rows = {r["module"]: r for r in data["modules"]}
    assert rows["2"]["passed"] and rows["4"]["passed"] is False


def test_cli_clean_file_exits_0(cnn_files: tuple[Path, Path]) -> None:
    good, _ = cnn_files
    result = CliRunner().invoke(app, ["debug", "cnn", str(good)])
    assert result.exit_code == 0, result.output
    assert "every compared module agrees" in result.output


def test_cli_refuses_an_engine_and_a_missing_file(tmp_path: Path) -> None:
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"x")
    result = CliRunner().invoke(app, ["debug", "mlp", str(engine)])
    assert result.exit_code == 2 and "cannot inspect" in result.output and "Traceback" not in result.output
    missing = CliRunner().invoke(app, ["debug", "mlp", str(tmp_path / "nope.onnx")])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_subprocess_debug(cnn_files: tuple[Path, Path]) -> None:
    _, bad = cnn_files
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-m", "edgekit.cli.main", "debug", "cnn", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert "first diverging module: 3 (Conv2d)" in proc.stderr
    assert "Traceback" not in proc.stderr and "WARNING" not in proc.stderr
