"""Own-process timing (the thread-pool trap): the child rebuilds the runner from a spec and returns its samples."""

from __future__ import annotations

import types

import pytest

from edgekit.bench import isolated
from edgekit.core.spec import InputSpec


def test_compare_says_how_the_row_was_timed():
    assert isolated.compare(0.20, 0.19)["timed"] == "in-process interleaved"
    far = isolated.compare(0.34, 0.166)
    assert far["timed"] == "own process" and far["in_vs_own"] == pytest.approx(2.048, abs=1e-3)
    assert far["in_process_p50_ms"] == 0.34 and far["own_process_p50_ms"] == 0.166


def _subject(artifact, backend="onnxruntime"):
    model = types.SimpleNamespace(inputs=[InputSpec("x", (1, 64))], outputs=["logits"])
    return types.SimpleNamespace(artifact=artifact, backend=backend, model=model, options={})


def _config():
    return types.SimpleNamespace(device="cpu", thread_count=1, budget={"iters": 20}, warmup=2)


def test_an_eager_object_cannot_be_rebuilt_in_a_child():
    with pytest.raises(ValueError, match="given as an object"):
        isolated.spec_of(_subject(None, "torch"), [1], _config(), None, None)


def test_child_times_an_onnx_artifact_alone(tmp_path):
    from edgekit.export.onnx import export_onnx
    from edgekit.intake.load import load_model

    path = tmp_path / "mlp.onnx"
    export_onnx(load_model("mlp"), path)
    art = types.SimpleNamespace(path=path)
    spec = isolated.spec_of(_subject(art), [1, 4], _config(), None, None)
    samples = isolated.time_in_own_process(spec, timeout=120)
    assert sorted(samples) == [1, 4] and all(len(x) == 20 and (x > 0).all() for x in samples.values())


def test_a_failing_child_is_a_runtime_error_with_its_reason(tmp_path):
    spec = isolated.spec_of(_subject(types.SimpleNamespace(path=tmp_path / "missing.onnx")), [1], _config(), None, None)
    with pytest.raises(RuntimeError, match="own-process timing failed"):
        isolated.time_in_own_process(spec, timeout=120)


def test_bench_rows_say_how_they_were_timed(tmp_path):
    pytest.importorskip("openvino")
    from edgekit.artifacts.formats import parse_formats
    from edgekit.bench.run import BenchConfig, run_bench
    from edgekit.export.driver import export_all
    from edgekit.intake.load import load_model

    export_all(load_model("mlp"), parse_formats("onnx,openvino"), tmp_path)
    config = BenchConfig(batches=(1, 4), iters=30, warmup=3, backend="openvino,onnxruntime", isolate=True)
    result = run_bench("mlp", [tmp_path], config)
    timed = [r for r in result.rows if r.latency is not None]
    assert {(r.name, r.backend) for r in timed} >= {("model.xml", "openvino"), ("model.onnx", "openvino"),
                                                    ("model.onnx", "onnxruntime"), ("eager", "torch")}  # fmt: skip
    for r in timed:
        assert r.details["timed"] in ("own process", "in-process interleaved")
        assert r.details["own_process_p50_ms"] > 0 and r.details["in_process_p50_ms"] > 0
        chosen = r.details["own_process_p50_ms"] if r.details["timed"] == "own process" else None
        assert chosen is None or r.latency.p50 == chosen
    assert result.settings["isolate"] is True
