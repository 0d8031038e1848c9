"""GPU probes: on a machine without a CUDA GPU they answer at once with the reason; require_cuda exits 3."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from edgekit.backends import probes as gpu
from edgekit.core.errors import BackendUnavailable, one_line

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the answers of a machine without a GPU")


@no_gpu
@pytest.mark.parametrize(
    "probe", [gpu.cuda_status, gpu.cuda_graphs_work, gpu.ort_cuda_works, lambda: gpu.ort_cuda_works(graph=True)]
)
def test_probes_say_no_quickly_with_the_reason(probe) -> None:
    start = time.perf_counter()
    ok, reason = probe()
    assert time.perf_counter() - start < 1.0
    assert ok is False
    assert reason.startswith(gpu.NO_CUDA)


@no_gpu
def test_probe_all_lists_every_probe() -> None:
    answers = gpu.probe_all()
    assert set(answers) == {"cuda", "cuda_graphs", "ort_cuda", "ort_cuda_graph"}
    assert all(ok is False and gpu.NO_CUDA in reason for ok, reason in answers.values())


@no_gpu
def test_require_cuda_raises_backend_unavailable() -> None:
    with pytest.raises(BackendUnavailable) as info:
        gpu.require_cuda("--device cuda")
    assert info.value.exit_code == 3
    message = str(info.value)
    assert "--device cuda needs a CUDA GPU" in message and gpu.NO_CUDA in message and "--device cpu" in message


def test_tiny_probe_model_is_valid_and_runs_on_the_cpu_ep() -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(gpu.tiny_onnx_model(), providers=["CPUExecutionProvider"])
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    (y,) = session.run(None, {"x": x})
    np.testing.assert_array_equal(y, x * 2)


def test_one_line_strips_the_onnxruntime_prefix() -> None:
    exc = RuntimeError("[ONNXRuntimeError] : 1 : FAIL : graph capture refused\nmore detail")
    assert one_line(exc, kind=False) == "graph capture refused"
    assert one_line(ValueError(""), kind=False) == "ValueError"
    assert len(one_line(ValueError("x" * 1000), limit=50, kind=False)) == 50


def load_gpu_table():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_table.py"
    spec = importlib.util.spec_from_file_location("gpu_table", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@no_gpu
def test_gpu_table_exits_3_with_a_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert load_gpu_table().main([]) == 3
    err = capsys.readouterr().err
    assert err.startswith("gpu_table: " + gpu.NO_CUDA) and err.count("\n") == 1


def test_gpu_table_renders_rows_and_asks_auto() -> None:
    table = load_gpu_table()
    row = {
        "recipe": "cnn",
        "batch": 1,
        "eager_ms": 0.24,
        "eager_verified": True,
        "cudagraph_ms": 0.05,
        "cudagraph_verified": True,
        "bare_ms": 0.045,
        "ort_iobinding_ms": 0.15,
        "ort_iobinding_verified": True,
        "ort_cudagraph_status": "refused: ORT placed some nodes on the CPU",
        "runner_over_bare": 0.05 / 0.045,
    }
    from edgekit.backends.selection import choose

    decision = choose([table._candidate(row, c, "fp32") for c in table.BACKENDS])
    assert decision.chosen.backend == "torch-cudagraph"
    row["auto"] = decision.to_json()
    meta = {"device": "H100", "rounds": 10, "precision": "fp32", "torch": "x", "onnxruntime": "y"}
    text = table.markdown([row], meta)
    assert (
        "| cnn | 1 | 0.240 (1.00x) | 0.050 (4.80x) | 0.045 (5.33x) | 0.150 (1.60x) | refused | 1.11 | "
        "torch-cudagraph |" in text
    )
    assert "refused: ORT placed some nodes on the CPU" in text
    calls = {"a": lambda: None, "b": lambda: None}
    times = table.time_round_robin(calls, rounds=5, warmup=1)
    assert {k: len(v) for k, v in times.items()} == {"a": 5, "b": 5}
