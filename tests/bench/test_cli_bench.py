"""edgekit bench / doctor / pipeline through Typer's CliRunner: reports written, and every bad input answered by
one line on stderr with the documented exit code (2 bad input, 3 unavailable)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from edgekit.cli.bench import bench, doctor, parse_batches, pipeline
from edgekit.core.errors import BadInput

app = typer.Typer()
app.command()(bench)
app.command()(doctor)
app.command()(pipeline)
runner = CliRunner()


def invoke(*args: Any) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(result: Any, code: int) -> str:
    assert result.exit_code == code, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.output
    return str(lines[0])


def test_bench_writes_every_report(tiny_export: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "reports here"
    result = invoke(
        "bench",
        tiny_export["ref"],
        tiny_export["dir"] / "model.onnx",
        "--iters",
        5,
        "--warmup",
        1,
        "--batch",
        "1,3",
        "--threads",
        1,
        "--json",
        out / "b.json",
        "--markdown",
        out / "b.md",
        "--html",
        out / "b.html",
    )
    assert result.exit_code == 0, result.output
    assert "model.onnx" in result.stdout and "vs eager" in result.stdout and "fastest verified" in result.stdout
    data = json.loads((out / "b.json").read_text())
    assert data["schema"] == "edgekit.bench/1" and data["settings"]["threads"] == 1
    assert [(r["name"], r["batch"]) for r in data["rows"]] == [
        ("eager", 1),
        ("model.onnx", 1),
        ("eager", 3),
        ("model.onnx", 3),
    ]
    assert "<svg" in (out / "b.html").read_text() and "| `model.onnx` |" in (out / "b.md").read_text()


def test_artifact_that_does_not_load(tiny_export: dict[str, Any], tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_text("garbage")
    line = one_error_line(invoke("bench", tiny_export["ref"], broken, "--iters", 2), 2)
    assert "cannot load" in line and "broken.onnx" in line


def test_data_that_does_not_match_the_inputs(tiny_export: dict[str, Any], tmp_path: Path) -> None:
    npz = tmp_path / "data.npz"
    np.savez(npz, image=np.zeros((4, 6), np.float32))
    line = one_error_line(
        invoke("bench", tiny_export["ref"], tiny_export["dir"] / "model.onnx", "--data", npz, "--iters", 2), 2
    )
    assert "no array 'x'" in line and "'image'" in line


def test_unknown_backend_suggests_the_closest(tiny_export: dict[str, Any]) -> None:
    line = one_error_line(invoke("bench", tiny_export["ref"], tiny_export["dir"], "--backend", "onnxrt"), 2)
    assert "unknown backend 'onnxrt'" in line and "Did you mean 'onnxruntime'" in line


@pytest.mark.parametrize("batch", ["0", "1,0", "-4", "x"])
def test_bad_batch(tiny_export: dict[str, Any], batch: str) -> None:
    line = one_error_line(invoke("bench", tiny_export["ref"], tiny_export["dir"], "--batch", batch), 2)
    assert "--batch" in line


def test_cuda_on_a_machine_without_one(tiny_export: dict[str, Any]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    line = one_error_line(invoke("bench", tiny_export["ref"], tiny_export["dir"], "--device", "cuda"), 3)
    assert "--device cuda" in line and "--device cpu" in line


def test_missing_artifact_and_two_models(tiny_export: dict[str, Any], tmp_path: Path) -> None:
    assert "does not exist" in one_error_line(invoke("bench", tiny_export["ref"], tmp_path / "nope.onnx"), 2)
    assert "two models" in one_error_line(invoke("bench", "cnn", "mlp"), 2)


def test_doctor(tmp_path: Path) -> None:
    result = invoke("doctor", "--json", tmp_path / "d.json")
    assert result.exit_code == 0, result.output
    assert "onnxruntime" in result.stdout and "Backends" in result.stdout
    assert {"checks", "formats", "backends"} <= set(json.loads((tmp_path / "d.json").read_text()))


def test_pipeline_int8_fails_fast_when_quantization_is_unavailable(tmp_path: Path, monkeypatch) -> None:
    from edgekit.jobs import pipeline as pl

    assert pl.int8_unavailable_reason() is None  # torchao's pt2e flow is installed here
    monkeypatch.setattr(pl, "int8_unavailable_reason", lambda: "--int8 needs torchao's pt2e quantization (test)")
    line = one_error_line(invoke("pipeline", "cnn", "--int8", "-o", tmp_path / "p"), 3)
    assert "--int8" in line
    assert not (tmp_path / "p" / "checkpoint.pt").exists()  # failed before training


def test_pipeline_bad_input() -> None:
    assert "unknown recipe" in one_error_line(invoke("pipeline", "cnnn"), 2)
    assert "--epochs" in one_error_line(invoke("pipeline", "cnn", "--epochs", 0), 2)


def test_parse_batches() -> None:
    assert parse_batches("1, 8,32") == (1, 8, 32)
    with pytest.raises(BadInput):
        parse_batches("")
