"""edgekit pipeline: train, export every available format, verify, bench, report — end to end on the cnn recipe.

The quick test trains one epoch; the slow one runs `edgekit pipeline cnn` as a user would (the recipe's full
training) and checks it ends with the table and the reports. Durations are printed, never asserted."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from edgekit.artifacts.formats import available_formats
from edgekit.bench.config import BenchConfig
from edgekit.cli.bench import pipeline as pipeline_command
from edgekit.jobs.pipeline import run_pipeline


def test_pipeline_one_epoch(tmp_path: Path) -> None:
    out = tmp_path / "pipeline out"
    config = BenchConfig(batches=(1, 4), iters=5, warmup=1)
    result = run_pipeline("cnn", out_dir=out, epochs=1, config=config)
    assert result.trained and result.checkpoint == out / "checkpoint.pt" and result.checkpoint.is_file()
    assert [r.format for r in result.exports] == [f.name for f in available_formats()]
    assert all(r.status == "pass" for r in result.exports), [(r.format, r.status, r.error) for r in result.exports]
    assert not result.failed_verifications
    assert sorted(p.name for p in result.reports) == ["report.html", "report.json", "report.md"]
    report = json.loads((out / "report.json").read_text())
    assert report["schema"] == "edgekit.bench/1"
    names = {r["name"] for r in report["rows"]}
    assert names == {"eager"} | {
        p.name
        for p in (out / "artifacts").iterdir()
        if p.suffix in (".ts", ".pt2", ".onnx", ".xml", ".pte") or p.name.endswith(".ncnn.param")
    }
    assert all(r["status"] == "ok" and "top1" in r["accuracy"] for r in report["rows"])
    p = report["pipeline"]
    assert p["trained"] and p["recipe"] == "cnn" and set(p["seconds"]) == {"train", "export_verify", "bench"}
    assert "edgekit bench cnn --checkpoint" in p["bench_again"] and "'" in p["bench_again"]  # quoted: spaces
    assert "trained cnn" in (out / "report.md").read_text()
    # with the checkpoint, nothing is trained again
    again = run_pipeline("cnn", checkpoint=result.checkpoint, out_dir=tmp_path / "again", config=config)
    assert not again.trained and again.train_metrics == {}
    top1 = {r["name"]: r["accuracy"]["top1"] for r in report["rows"] if r["batch"] == 1}
    assert len(set(top1.values())) == 1  # every artifact scores like eager


@pytest.mark.slow
def test_edgekit_pipeline_cnn(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(pipeline_command)
    app.command("noop")(lambda: None)  # two commands: the CLI keeps its `pipeline` subcommand form
    start = time.perf_counter()
    result = CliRunner().invoke(app, ["pipeline", "cnn", "-o", str(tmp_path / "run")])
    seconds = time.perf_counter() - start
    print(f"edgekit pipeline cnn: {seconds:.0f} s")
    assert result.exit_code == 0, result.output
    assert "Benchmark" in result.stdout and "vs eager" in result.stdout and "fastest verified" in result.stdout
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["pipeline"]["train_metrics"]["top1"] > 0.9
    assert all(r["accuracy"]["top1"] > 0.9 for r in report["rows"])
    assert (tmp_path / "run" / "report.html").is_file() and (tmp_path / "run" / "report.md").is_file()


def test_pipeline_int8_adds_both_encodings_of_ptq_and_qat(tmp_path: Path) -> None:
    out = tmp_path / "int8"
    config = BenchConfig(batches=(1,), iters=5, warmup=1)
    result = run_pipeline("mlp", out_dir=out, epochs=1, int8=True, config=config)
    rows = [r for r in result.report["rows"] if r["precision"] == "int8"]
    assert sorted(r["name"] for r in rows) == [
        "mlp.ptq.int8.ort.onnx",
        "mlp.ptq.int8.trt.onnx",
        "mlp.qat.int8.ort.onnx",
        "mlp.qat.int8.trt.onnx",
    ]
    assert all(r["status"] == "ok" and "top1" in r["accuracy"] for r in rows)
    fp32 = next(r for r in result.report["rows"] if r["name"] == "model.onnx")["accuracy"]["top1"]
    assert all(r["accuracy"]["top1"] >= fp32 - 0.05 for r in rows)  # QAT fine-tunes on: it may gain
    manifest = json.loads((out / "artifacts" / "manifest.json").read_text())
    encodings = {
        a["file"]: a["details"]["encoding"]
        for a in manifest["artifacts"]
        if a["details"].get("precision", "fp32") != "fp32"  # the edge formats record "precision": "fp32" too
    }
    assert encodings["mlp.ptq.int8.trt.onnx"].startswith("trt-int8")
    assert encodings["mlp.qat.int8.ort.onnx"].startswith("ort-uint8")
