"""edgekit doctor: every check present, providers tried for real, Jetson detection, formats and backends listed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from edgekit.artifacts.formats import FORMATS
from edgekit.backends.registry import BACKENDS
from edgekit.jobs import doctor


def test_diagnose_lists_everything() -> None:
    report = doctor.diagnose()
    names = [c["name"] for c in report["checks"]]
    assert names == [
        "python",
        "torch",
        "gpu",
        "cuda graphs",
        "onnxruntime cuda",
        "onnxruntime cuda graph",
        "onnxruntime",
        "tensorrt",
        "pycuda",
        "jetson",
    ]
    assert [c["name"] for c in report["formats"]] == list(FORMATS)
    assert [c["name"] for c in report["backends"]] == list(BACKENDS)
    for c in report["checks"] + report["formats"] + report["backends"]:
        assert c["status"] in ("ok", "missing", "warn") and c["detail"]
    by_name = {c["name"]: c for c in report["checks"]}
    assert "CPUExecutionProvider" in by_name["onnxruntime"]["detail"]
    formats = {c["name"]: c["status"] for c in report["formats"]}
    assert formats["onnx"] == "ok" and formats["pt2"] == "ok"
    backends = {c["name"]: c for c in report["backends"]}
    assert backends["onnxruntime"]["status"] == "ok" and "cpu" in backends["onnxruntime"]["detail"]
    assert len(doctor.render(report)) == 3


def test_providers_are_tried_not_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime as ort

    real = ort.get_available_providers()
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["BogusExecutionProvider", *real])
    doctor.working_providers.cache_clear()
    try:
        ok, failed = doctor.working_providers()
    finally:
        doctor.working_providers.cache_clear()
    assert "CPUExecutionProvider" in ok and "BogusExecutionProvider" not in ok
    assert "BogusExecutionProvider" in failed and failed["BogusExecutionProvider"]


def test_jetson_detection(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    release = tmp_path / "nv_tegra_release"
    monkeypatch.setattr(doctor, "TEGRA_RELEASE", release)
    assert doctor.check_jetson().status == "missing"
    release.write_text("# R36 (release), REVISION: 4.0, GCID: 1, BOARD: generic, EABI: aarch64\n")
    check = doctor.check_jetson()
    assert check.status == "ok" and "R36 (release)" in check.detail and "DLA cores" in check.detail


def test_missing_tensorrt_and_pycuda_say_why() -> None:
    trt = doctor.check_tensorrt()
    if trt.status == "ok":
        pytest.skip("TensorRT is installed here")
    assert "NVIDIA GPU" in trt.detail
    pycuda = doctor.check_pycuda()
    assert pycuda.status in ("missing", "warn", "ok") and pycuda.detail


def test_a_failing_probe_is_reported_not_raised() -> None:
    def broken() -> doctor.Check:
        raise RuntimeError("probe exploded\nsecond line")

    check = doctor._guard("thing", broken)
    assert check.status == "warn" and check.detail == "check failed: RuntimeError: probe exploded"


def test_tiny_onnx_runs() -> None:
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(doctor.tiny_onnx(), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"x": np.ones((1, 4), np.float32)})
    assert np.allclose(y, 2.0)


def test_a_backend_whose_library_does_not_import_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError
    backends = {c.name: c for c in doctor.backend_availability(gpu=False, ort_providers=())}
    assert backends["onnxruntime"].status == "missing", backends["onnxruntime"].detail
    assert "onnxruntime cannot be imported" in backends["onnxruntime"].detail
    assert "pip install 'onnxruntime>=1.20'" in backends["onnxruntime"].detail
    assert backends["torch"].status == "ok"  # the others are still judged by their own probes
