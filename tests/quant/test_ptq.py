"""Post-training quantization: calibrators, calibration-data checks, the whole `quantize` run and its gate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgekit.core.errors import BadInput, VerificationFailed
from edgekit.quant.ptq import batches_of, calibrate, check_calibration
from edgekit.quant.ptq_run import run_ptq
from edgekit.quant.report import check_max_drop, drop_of, gate


@pytest.mark.parametrize("method", ["minmax", "percentile", "entropy"])
def test_calibrate_methods_track_fp32(mlp_fp32, method: str) -> None:  # type: ignore[no-untyped-def]
    loaded, recipe, data = mlp_fp32
    q = calibrate(loaded, batches_of(data.train, ["x"], 32, 8), method)
    assert q.method == f"ptq-{method}"
    assert set(q.quantized) == {"0", "3", "5"}
    assert q.details["calibration_batches"] == 8
    feed = {"x": data.val["x"][:64]}
    ref, got = loaded.predict(feed)["logits"], q.model.predict(feed)["logits"]
    cos = float(np.sum(ref * got) / (np.linalg.norm(ref) * np.linalg.norm(got)))
    assert cos > 0.99
    assert np.mean(ref.argmax(1) == got.argmax(1)) > 0.9


def test_wrong_calibration_shape_is_bad_input(mlp_fp32) -> None:  # type: ignore[no-untyped-def]
    loaded, _, _ = mlp_fp32
    with pytest.raises(BadInput, match=r"shape 4x63.*expects Nx64"):
        check_calibration([{"x": np.zeros((4, 63), np.float32)}], loaded.inputs)
    with pytest.raises(BadInput, match="no input 'x'"):
        check_calibration([{"y": np.zeros((4, 64), np.float32)}], loaded.inputs)
    with pytest.raises(BadInput, match="no calibration data"):
        check_calibration([], loaded.inputs)


def test_unknown_method_is_bad_input(mlp_fp32) -> None:  # type: ignore[no-untyped-def]
    loaded, _, data = mlp_fp32
    with pytest.raises(BadInput, match="Did you mean 'entropy'"):
        calibrate(loaded, batches_of(data.train, ["x"], 32, 1), "entropie")


def test_gate_units_and_direction() -> None:
    assert drop_of(0.95, 0.93, True) == pytest.approx(0.02)
    assert drop_of(0.10, 0.12, False) == pytest.approx(0.02)  # lower-is-better metric got worse
    report = {"metric": "top1", "drop": {"int8_torch": 0.0, "int8_trt_onnx": 0.02, "int8_ort_onnx": 0.01}}
    assert gate(report, 0.03)["status"] == "pass"
    failed = gate(report, 0.01)
    assert failed["status"] == "FAIL" and failed["worst"] == "int8_trt_onnx"
    assert gate(report, None)["status"] == "not set"
    with pytest.raises(BadInput, match=">= 0"):
        check_max_drop(-0.5, None)
    with pytest.raises(BadInput, match="--recipe"):
        check_max_drop(0.1, None)


def test_run_ptq_writes_both_encodings_and_report(mlp_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "out dir"
    report = run_ptq("mlp", out, calibrate_batches=4, checkpoint=mlp_checkpoint, max_drop=0.05)
    assert report["gate"]["status"] == "pass"
    for key in ("trt", "ort"):
        assert Path(report["artifacts"][key]["path"]).is_file()
        assert report["artifacts"][key]["verification"] == "pass"
    assert set(report["metrics"]) == {"fp32", "int8_torch", "int8_trt_onnx", "int8_ort_onnx"}
    assert report["fp32_weights"].startswith("checkpoint")
    saved = json.loads((out / "mlp.ptq.quant.json").read_text())
    assert saved["quantized_layers"] == report["quantized_layers"]
    md = (out / "mlp.ptq.quant.md").read_text()
    assert "| top1 (gate) |" in md and "## Float layers" in md


def test_run_ptq_gate_failure_exits_1_after_writing(
    mlp_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edgekit.quant.report as rep

    def worse(*args, **kwargs):  # type: ignore[no-untyped-def]
        scored = real(*args, **kwargs)
        scored["drop"] = {k: 0.5 for k in scored["drop"]}
        return scored

    real = rep.score
    monkeypatch.setattr(rep, "score", worse)
    with pytest.raises(VerificationFailed, match="accuracy gate"):
        run_ptq("mlp", tmp_path, calibrate_batches=2, checkpoint=mlp_checkpoint, max_drop=0.1)
    assert json.loads((tmp_path / "mlp.ptq.quant.json").read_text())["gate"]["status"] == "FAIL"
