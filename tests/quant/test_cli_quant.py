"""`edgekit qat` / `edgekit quantize` from the command line: bad input is one clear line and exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from edgekit.cli.quant import app

runner = CliRunner()


def _run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


def _one_error_line(result) -> str:  # type: ignore[no-untyped-def]
    text = result.output.strip()
    assert "Traceback" not in text
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("error:"), text
    return " ".join(lines)


def test_model_with_no_quantizable_layer(tiny_models: Path, tmp_path: Path) -> None:
    data = tmp_path / "calib.npz"
    np.savez(data, x=np.random.default_rng(0).standard_normal((8, 6)).astype(np.float32))
    result = _run(
        "quantize",
        f"{tiny_models}:norm_only",
        "--input",
        "x:2x6",
        "--data",
        str(data),
        "--calibrate",
        "1",
        "-o",
        str(tmp_path),
    )
    assert result.exit_code == 2
    assert "no layer edgekit can quantize" in _one_error_line(result)


def test_negative_max_drop(tmp_path: Path) -> None:
    for cmd in ("quantize", "qat"):
        result = _run(cmd, "mlp", "--max-drop", "-0.5", "-o", str(tmp_path))
        assert result.exit_code == 2
        assert "--max-drop must be a number >= 0" in _one_error_line(result)


def test_calibration_data_of_wrong_shape(mlp_checkpoint: Path, tmp_path: Path) -> None:
    data = tmp_path / "calib.npz"
    np.savez(data, x=np.zeros((16, 63), np.float32))
    result = _run("quantize", "mlp", "--checkpoint", str(mlp_checkpoint), "--data", str(data), "-o", str(tmp_path))
    assert result.exit_code == 2
    assert "shape 16x63" in _one_error_line(result)


def test_unknown_method_and_missing_data(tiny_models: Path, tmp_path: Path) -> None:
    result = _run("quantize", "mlp", "--method", "kl", "-o", str(tmp_path))
    assert result.exit_code == 2
    result = _run("quantize", f"{tiny_models}:conv_net", "--input", "x:2x1x8x8", "-o", str(tmp_path))
    assert result.exit_code == 2
    assert "--data FILE.npz" in _one_error_line(result)


def test_quantize_ok_prints_table(mlp_checkpoint: Path, tmp_path: Path) -> None:
    result = _run(
        "quantize",
        "mlp",
        "--checkpoint",
        str(mlp_checkpoint),
        "--calibrate",
        "2",
        "--max-drop",
        "0.1",
        "-o",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert "gate: pass" in result.output and "mlp.ptq.int8.ort.onnx" in result.output
