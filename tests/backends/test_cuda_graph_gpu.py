"""CUDA-graph runners on a real GPU: every recipe captured, replayed and compared with eager fp32 (CPU), in fp32 and
fp16, from the module, a TorchScript file and an ExportedProgram; ORT's CUDA EP with and without graphs.

All tests are ``cuda``-marked and skip (with the reason) where torch sees no CUDA GPU (tests/backends/conftest.py).
They have not been run on a GPU in this repository yet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from edgekit.artifacts.verify import verify_runner
from edgekit.backends.cuda_graph import CudaGraphRunner, ModuleForGraphs
from edgekit.backends.graph_capture import SYNC_HINT
from edgekit.backends.precision import tf32, tolerance_for
from edgekit.core.model import FlatOutputs, LoadedModel
from edgekit.core.spec import InputSpec, random_inputs
from edgekit.intake.load import load_model
from edgekit.training.recipe import recipe_names

pytestmark = pytest.mark.cuda
RECIPES = recipe_names()


def verify_graph_runner(model: LoadedModel, runner: CudaGraphRunner, precision: str) -> None:
    tol = tolerance_for(precision, "cuda", model.atol, model.rtol)
    result = verify_runner(model, runner, model.source, runner.format, atol=tol.atol, rtol=tol.rtol)
    assert result.passed, f"{model.source} {precision}: {result.failures()}"
    assert "fallback" not in runner.details, f"not captured: {runner.details.get('fallback')}"
    assert runner.details["graphs"]["captures"] >= len(result.checks)


def test_probes_say_yes() -> None:
    from edgekit.backends.probes import cuda_graphs_work

    ok, reason = cuda_graphs_work()
    assert ok, reason


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_captures_and_matches_eager(name: str, precision: str) -> None:
    model = load_model(name)
    runner = CudaGraphRunner(ModuleForGraphs(model, precision=precision))
    with runner:
        verify_graph_runner(model, runner, precision)


def test_bf16_where_supported() -> None:
    if not torch.cuda.is_bf16_supported():
        pytest.skip(f"{torch.cuda.get_device_name()} has no bf16")
    model = load_model("cnn")
    runner = CudaGraphRunner(ModuleForGraphs(model, precision="bf16"))
    with runner:
        verify_graph_runner(model, runner, "bf16")


@pytest.mark.parametrize("fmt", ["torchscript", "pt2"])
@pytest.mark.parametrize("name", RECIPES)
def test_saved_artifacts_capture(name: str, fmt: str, tmp_path: Path) -> None:
    from edgekit.export.pt2 import export_pt2
    from edgekit.export.torchscript import export_torchscript

    model = load_model(name)
    path = tmp_path / ("model.ts" if fmt == "torchscript" else "model.pt2")
    (export_torchscript if fmt == "torchscript" else export_pt2)(model, path)
    runner = CudaGraphRunner(ModuleForGraphs(path), inputs=model.input_names, outputs=model.outputs)
    with runner:
        verify_graph_runner(model, runner, "fp32")


class HostSync(nn.Module):
    """Data-dependent control flow: ``bool(tensor)`` synchronizes with the host, so capture must be refused."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        return y if y.sum() > 0 else -y


def test_host_sync_falls_back_with_the_reason() -> None:
    model = LoadedModel(FlatOutputs(HostSync().eval()), [InputSpec("x", (2, 4))], ["y"], "test:hostsync")
    with CudaGraphRunner(ModuleForGraphs(model)) as runner:
        feed = random_inputs(model.inputs)
        got = runner.infer(feed)["y"]
        np.testing.assert_allclose(got, model.predict(feed)["y"], atol=1e-3, rtol=1e-3)
        assert runner.details["fallback"].startswith(SYNC_HINT), runner.details["fallback"]
        assert runner.timed_call(feed)() is not None


def test_runner_matches_a_bare_replay() -> None:
    model = load_model("cnn")
    feed = random_inputs(model.inputs, seed=5)
    module = model.module.to("cuda")
    x = torch.from_numpy(feed["x"]).cuda()
    static = x.clone()
    stream = torch.cuda.Stream()
    with torch.no_grad(), tf32(False):  # the runner's fp32 default
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                module(static)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            (out,) = module(static)
    graph.replay()
    torch.cuda.synchronize()
    model.module.to("cpu")
    with CudaGraphRunner(ModuleForGraphs(model)) as runner:
        np.testing.assert_allclose(runner.infer(feed)["logits"], out.cpu().numpy(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("graph", [True, False])
@pytest.mark.parametrize("name", RECIPES)
def test_ort_cuda_runs_every_recipe(name: str, graph: bool, tmp_path: Path) -> None:
    import onnxruntime as ort

    from edgekit.backends.ort_cuda import CudaSessionsFromOnnx, OrtCudaRunner
    from edgekit.export.onnx import export_onnx

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip(f"onnxruntime {ort.__version__} has no CUDA EP (install onnxruntime-gpu)")
    model = load_model(name)
    path = tmp_path / "model.onnx"
    export_onnx(model, path)
    with OrtCudaRunner(CudaSessionsFromOnnx(path, graph=graph)) as runner:
        tol = tolerance_for("fp32", "cuda", model.atol, model.rtol)
        result = verify_runner(model, runner, str(path), "onnx", atol=tol.atol, rtol=tol.rtol)
        assert result.passed, result.failures()
        if graph and "fallback" in runner.details:  # refusals are allowed, silent ones are not
            assert runner.details["fallback"]
        assert runner.timed_call(random_inputs(model.inputs))() is None
