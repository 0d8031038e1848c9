"""GPU-free logic of the CUDA-graph runners: shape keys, the LRU graph cache and its shared pool, capture refusals
and fallbacks, precision wrappers, ORT graph slots. The runner is driven on the CPU with a fake capture."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from edgekit.backends.cuda_graph import CudaGraphRunner, ModuleForGraphs, artifact_format
from edgekit.backends.graph_cache import CaptureRefused, GraphCache, describe_key, shape_key
from edgekit.backends.graph_capture import SYNC_HINT, explain_capture_error, output_obstacle, replay_mismatch
from edgekit.backends.ort_cuda import CudaSessionsFromOnnx, GraphSlots, OrtCudaRunner, graph_refusal, outputs_match
from edgekit.backends.precision import precision_forward, tf32, tolerance_for
from edgekit.core.errors import BackendUnavailable, BadInput
from edgekit.core.model import FlatOutputs, LoadedModel
from edgekit.core.spec import InputSpec, random_inputs

# -- shape keys ----------------------------------------------------------------------------------------------------


def test_shape_key_is_names_shapes_dtypes_in_input_order() -> None:
    feed = {"b": np.zeros((2, 3), np.int64), "a": np.zeros((1, 4), np.float32)}
    key = shape_key(["a", "b"], feed)
    assert key == (("a", (1, 4), "float32"), ("b", (2, 3), "int64"))
    tensors = {"a": torch.zeros(1, 4), "b": torch.zeros(2, 3, dtype=torch.int64)}
    assert shape_key(["a", "b"], tensors) == key  # numpy and torch give the same key
    assert shape_key(["a", "b"], {**feed, "a": np.zeros((1, 4), np.float16)}) != key
    assert shape_key(["a", "b"], {**feed, "a": np.zeros((2, 4), np.float32)}) != key
    assert describe_key(key) == "a:1x4:float32,b:2x3:int64"


# -- the graph cache -----------------------------------------------------------------------------------------------


def key(n: int) -> tuple[tuple[str, tuple[int, ...], str], ...]:
    return (("x", (n, 4), "float32"),)


class Recorder:
    """A fake capture function recording which pool every capture received."""

    def __init__(self) -> None:
        self.pools: list[Any] = []

    def capture(self, name: str) -> Any:
        def run(pool: Any) -> str:
            self.pools.append(pool)
            return name

        return run


def test_cache_captures_once_per_key_and_counts_hits() -> None:
    rec = Recorder()
    cache: GraphCache[str] = GraphCache(4)
    assert cache.get(key(1), rec.capture("g1")) == "g1"
    assert cache.get(key(1), rec.capture("other")) == "g1"
    assert cache.get(key(2), rec.capture("g2")) == "g2"
    assert len(rec.pools) == 2
    assert cache.stats() == {
        "graphs": 2,
        "max_graphs": 4,
        "captures": 2,
        "hits": 1,
        "misses": 2,
        "evictions": 0,
        "refused": 0,
    }


def test_cache_evicts_least_recently_used_and_releases_it() -> None:
    released: list[str] = []
    cache: GraphCache[str] = GraphCache(2, release=released.append)
    rec = Recorder()
    cache.get(key(1), rec.capture("g1"))
    cache.get(key(2), rec.capture("g2"))
    cache.get(key(1), rec.capture("unused"))  # refreshes key 1: key 2 is now the oldest
    cache.get(key(3), rec.capture("g3"))
    assert released == ["g2"]
    assert cache.keys() == [key(1), key(3)]
    assert key(2) not in cache
    assert cache.get(key(2), rec.capture("g2 again")) == "g2 again"  # recaptured after eviction
    assert released == ["g2", "g1"]
    assert cache.stats()["evictions"] == 2
    cache.clear()
    assert len(cache) == 0 and released == ["g2", "g1", "g3", "g2 again"]


def test_cache_shares_one_pool_across_all_captures_and_evictions() -> None:
    made: list[object] = []

    def factory() -> object:
        made.append(object())
        return made[-1]

    cache: GraphCache[str] = GraphCache(1, pool_factory=factory)
    rec = Recorder()
    for n in range(1, 5):
        cache.get(key(n), rec.capture(f"g{n}"))
    assert len(made) == 1
    assert rec.pools == [made[0]] * 4
    assert cache.pool is made[0]


def test_cache_remembers_refusals_and_does_not_retry() -> None:
    calls = 0

    def refuse(pool: Any) -> str:
        nonlocal calls
        calls += 1
        raise CaptureRefused("host sync in forward")

    cache: GraphCache[str] = GraphCache(2)
    assert cache.get(key(1), refuse) is None
    assert cache.get(key(1), refuse) is None
    assert calls == 1
    assert cache.refused == {key(1): "host sync in forward"}
    assert len(cache) == 0 and cache.stats()["refused"] == 1


def test_cache_lets_other_errors_through_and_rejects_size_zero() -> None:
    cache: GraphCache[str] = GraphCache(2)

    def broken(pool: Any) -> str:
        raise RuntimeError("shape mismatch in forward")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        cache.get(key(1), broken)
    assert key(1) not in cache.refused
    with pytest.raises(BadInput, match="at least 1"):
        GraphCache(0)


# -- capture diagnostics -------------------------------------------------------------------------------------------


def test_output_obstacle() -> None:
    assert output_obstacle([torch.zeros(2)], "cpu") is None
    assert "runs on the CPU" in (output_obstacle([torch.zeros(2)], "cuda") or "")
    assert "not a tensor" in (output_obstacle([3.0], "cpu") or "")


def test_replay_mismatch() -> None:
    a = torch.arange(6.0).reshape(2, 3)
    assert replay_mismatch([a], [a.clone()]) is None
    assert "differs from eager" in (replay_mismatch([a + 1], [a]) or "")
    assert "!=" in (replay_mismatch([a], [a.reshape(3, 2)]) or "")
    assert "outputs" in (replay_mismatch([a, a], [a]) or "")
    ints = torch.arange(4)
    assert replay_mismatch([ints], [ints.clone()]) is None
    assert replay_mismatch([ints], [ints + 1]) is not None


def test_explain_capture_error_finds_the_root_cause() -> None:
    outer = RuntimeError("CUDA error: operation failed due to a previous error during capture")
    outer.__context__ = RuntimeError("CUDA error: operation not permitted when stream is capturing")
    reason = explain_capture_error(outer)  # torch's capture_end error sits on top of forward's
    assert reason.startswith(SYNC_HINT)
    assert "not permitted when stream is capturing" in reason
    assert explain_capture_error(ValueError("odd")) == "capture failed: ValueError: odd"


def test_tf32_context_restores_flags() -> None:
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    with tf32(True):
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    with tf32(False):
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before


def test_artifact_format() -> None:
    assert artifact_format(nn.Linear(2, 2)) == "eager"
    assert artifact_format("m.pt2") == "pt2"
    assert artifact_format("dir with space/m.ts") == "torchscript"
    with pytest.raises(BadInput, match="onnxruntime-cudagraph"):
        artifact_format("m.onnx")


# -- precision wrappers (device-agnostic, run on the CPU) ----------------------------------------------------------


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)).eval()


@pytest.mark.parametrize("precision,mode", [("bf16", "cast"), ("bf16", "autocast"), ("fp16", "cast")])
def test_precision_forward_takes_and_returns_fp32(precision: str, mode: str) -> None:
    module = mlp()
    x = torch.randn(3, 16)
    forward = precision_forward(module, precision, mode, device_type="cpu")
    with torch.no_grad():
        (got,) = forward(x)
        ref = module(x)
    assert got.dtype == torch.float32
    tol = tolerance_for(precision)
    assert torch.allclose(got, ref, atol=tol.atol, rtol=tol.rtol)
    assert next(module.parameters()).dtype == torch.float32  # the caller's module stays fp32


def test_precision_forward_leaves_integer_inputs_alone() -> None:
    module = nn.Sequential(nn.Embedding(10, 8), nn.Flatten(), nn.Linear(16, 2)).eval()
    ids = torch.tensor([[1, 2], [3, 4]])
    (got,) = precision_forward(module, "bf16", "cast", device_type="cpu")(ids)
    assert got.dtype == torch.float32 and got.shape == (2, 2)


def test_precision_forward_fp32_is_the_plain_call_and_int8_is_refused() -> None:
    module = mlp()
    x = torch.randn(2, 16)
    assert torch.equal(precision_forward(module, "fp32")(x)[0], module(x))
    with pytest.raises(BadInput, match="precision 'int8'"):
        precision_forward(module, "int8")
    with pytest.raises(BadInput, match="precision mode"):
        precision_forward(module, "fp16", "magic")


def test_tolerances_never_tighter_than_the_model() -> None:
    assert tolerance_for("fp16").atol == 1e-2
    assert tolerance_for("fp16", atol=0.05).atol == 0.05
    assert tolerance_for("fp32", "cuda").atol == 1e-3
    assert tolerance_for("fp32").atol == 1e-4
    assert tolerance_for("bf16").rtol > tolerance_for("fp16").rtol > tolerance_for("fp32").rtol
    with pytest.raises(BadInput, match="did you mean|Did you mean"):
        tolerance_for("fp61")


# -- the runner, on the CPU with a fake capture -------------------------------------------------------------------


class FakeReplay:
    """Stands in for a CUDA graph: copies into static inputs and runs forward eagerly."""

    def __init__(self, forward: Any, example: Sequence[torch.Tensor]) -> None:
        self.forward = forward
        self.static = [t.clone() for t in example]

    def run(self, tensors: Sequence[torch.Tensor]) -> tuple[Any, ...]:
        for s, t in zip(self.static, tensors, strict=True):
            s.copy_(t)
        with torch.no_grad():
            result: tuple[Any, ...] = self.forward(*self.static)
        return result


class CpuGraphRunner(CudaGraphRunner):
    """CudaGraphRunner with the CUDA parts replaced, so its bookkeeping runs on the CPU."""

    refuse: str | None = None

    def __init__(self, artifact: Any, **options: Any) -> None:
        super().__init__(ModuleForGraphs(artifact, device="cpu", **options), device="cpu")
        self.captured_keys: list[Any] = []
        self.pools: list[Any] = []

    def _check_device(self) -> None:
        pass

    def _pool_factory(self) -> Any:
        return "the-pool"

    def _new_stream(self) -> Any:
        return None

    def _sync(self) -> None:
        pass

    def _capture(self, pool: Any, tensors: Sequence[Any]) -> Any:
        self.pools.append(pool)
        self.captured_keys.append(tuple(t.shape for t in tensors))
        if self.refuse:
            raise CaptureRefused(self.refuse)
        return FakeReplay(self._forward, tensors)


def small_model() -> LoadedModel:
    return LoadedModel(FlatOutputs(mlp()), [InputSpec("x", (2, 16))], ["logits"], "test:mlp")


def test_runner_captures_once_per_shape_and_matches_eager() -> None:
    model = small_model()
    runner = CpuGraphRunner(model, max_graphs=2)
    with runner:
        for batch in (2, 2, 5, 2):
            feed = random_inputs(model.inputs, {"x": {0: batch}}, seed=batch)
            got = runner.infer(feed)
            np.testing.assert_allclose(got["logits"], model.predict(feed)["logits"], rtol=1e-6, atol=1e-6)
        assert runner.captured_keys == [(torch.Size([2, 16]),), (torch.Size([5, 16]),)]
        assert runner.pools == ["the-pool", "the-pool"]
        assert runner.details["graphs"]["captures"] == 2
        assert runner.details["captured"] == ["x:2x16:float32", "x:5x16:float32"]
        assert "fallback" not in runner.details
        call = runner.timed_call(random_inputs(model.inputs, seed=9))
        assert call()[0].shape == (2, 4)
    assert next(model.module.parameters()).device.type == "cpu"  # the runner worked on its own copy


def test_runner_evicts_beyond_max_graphs() -> None:
    model = small_model()
    runner = CpuGraphRunner(model, max_graphs=2)
    with runner:
        for batch in (1, 2, 3, 1):
            runner.infer(random_inputs(model.inputs, {"x": {0: batch}}))
        assert runner.details["graphs"]["evictions"] == 2
        assert len(runner.captured_keys) == 4  # batch 1 was evicted by batch 3, then captured again


def test_runner_falls_back_and_records_why() -> None:
    model = small_model()
    runner = CpuGraphRunner(model)
    runner.refuse = "forward synchronizes with the host"
    with runner:
        feed = random_inputs(model.inputs, seed=3)
        for _ in range(3):
            got = runner.infer(feed)
        np.testing.assert_allclose(got["logits"], model.predict(feed)["logits"], rtol=1e-6, atol=1e-6)
        assert len(runner.captured_keys) == 1  # refused once, never retried
        assert runner.details["fallback"] == "forward synchronizes with the host"
        assert runner.details["fallback_shapes"] == {"x:2x16:float32": "forward synchronizes with the host"}
        assert runner.timed_call(feed)()[0].shape == (2, 4)


def test_runner_reports_a_model_failure_as_bad_input() -> None:
    model = small_model()
    with CpuGraphRunner(model) as runner, pytest.raises(BadInput, match="the model failed on inputs"):
        runner.infer({"x": np.zeros((2, 7), np.float32)})


class ConstantMatmul(nn.Module):
    """Holds an fp32 tensor that is not a buffer: ``.to(fp16)`` leaves it, so the cast model fails."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.const = torch.eye(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) @ self.const


def test_runner_auto_precision_falls_back_from_cast_to_autocast() -> None:
    model = LoadedModel(FlatOutputs(ConstantMatmul().eval()), [InputSpec("x", (2, 4))], ["y"], "test")
    with CpuGraphRunner(model, precision="bf16") as runner:
        feed = random_inputs(model.inputs)
        got = runner.infer(feed)["y"]
        assert got.dtype == np.float32
        assert runner.details["precision_mode"] == "autocast"
        assert "cast to bf16 failed" in runner.details["precision_note"]
        tol = tolerance_for("bf16")
        np.testing.assert_allclose(got, model.predict(feed)["y"], atol=tol.atol, rtol=tol.rtol)


def test_runner_bf16_cast_on_a_recipe_verifies_at_bf16_tolerance() -> None:
    from edgekit.artifacts.verify import verify_runner
    from edgekit.intake.load import load_model

    model = load_model("cnn")
    with CpuGraphRunner(model, precision="bf16") as runner:
        tol = tolerance_for("bf16", atol=model.atol, rtol=model.rtol)
        result = verify_runner(model, runner, "cnn", "eager", atol=tol.atol, rtol=tol.rtol)
        assert result.passed, result.failures()
        assert runner.details["precision_mode"] == "cast"
        assert runner.details["graphs"]["captures"] == len(result.checks)


def test_real_runner_refuses_without_a_gpu() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(BackendUnavailable, match="no CUDA GPU") as info:
        CudaGraphRunner(ModuleForGraphs(small_model())).activate()
    assert info.value.exit_code == 3
    with pytest.raises(BackendUnavailable, match="cuda only"):
        CudaGraphRunner(ModuleForGraphs(small_model(), device="cpu"), device="cpu").activate()
    with pytest.raises(BadInput, match="precision"):
        ModuleForGraphs(small_model(), precision="int8")


# -- ONNX Runtime graph bookkeeping --------------------------------------------------------------------------------


def test_graph_slots_number_from_one_and_run_out() -> None:
    slots = GraphSlots(2)
    assert slots.assign(key(1)) == 1
    assert slots.assign(key(2)) == 2
    assert slots.assign(key(1)) == 1
    assert slots.assign(key(3)) is None
    with pytest.raises(BadInput):
        GraphSlots(0)


def test_graph_refusal_names_the_cause() -> None:
    partition = RuntimeError(
        "[ONNXRuntimeError] : 1 : FAIL : This session cannot use the graph capture feature as "
        "requested by the user as all compute graph nodes have not been partitioned to the "
        "CUDAExecutionProvider"
    )
    assert graph_refusal(partition).startswith("ORT placed some nodes on the CPU")
    assert "[ONNXRuntimeError]" not in graph_refusal(partition)
    flow = RuntimeError("This session cannot use the graph capture feature as the model has control flow nodes")
    assert "control-flow" in graph_refusal(flow)
    assert graph_refusal(RuntimeError("odd")) == "ORT refused CUDA-graph capture: odd"


def test_outputs_match() -> None:
    a = np.ones((2, 3), np.float32)
    assert outputs_match([a], [a.copy()]) is None
    assert outputs_match([a], [a * 2]) is not None
    assert outputs_match([a], [a.reshape(3, 2)]) is not None


def test_ort_cuda_runner_refuses_without_a_gpu(tmp_path: Any) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    from edgekit.backends.probes import tiny_onnx_model

    path = tmp_path / "tiny.onnx"
    path.write_bytes(tiny_onnx_model())
    with pytest.raises(BackendUnavailable, match="no CUDA GPU") as info:
        OrtCudaRunner(CudaSessionsFromOnnx(path)).activate()
    assert info.value.exit_code == 3
    with pytest.raises(BackendUnavailable, match="cuda only"):
        OrtCudaRunner(CudaSessionsFromOnnx(path, device="cpu"), device="cpu").activate()
