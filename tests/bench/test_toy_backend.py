"""Adding a backend is one runner (+ loader) and one registry row: a toy backend, ``numpy``, that runs ONNX graphs
of Gemm/Relu nodes in numpy, is defined here in full, registered with one row, and benchmarked end to end (by name
and by ``--backend auto``) next to eager PyTorch and ONNX Runtime -- nothing else in edgekit changes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgekit.backends.base import Arrays, Runner
from edgekit.backends.registry import BACKENDS, BackendInfo
from edgekit.bench.config import BenchConfig
from edgekit.bench.run import run_bench
from edgekit.core.errors import BadInput


# -- the backend: a loader and a runner --------------------------------------------------------------------------
class GraphFromOnnx:
    """Loads an ONNX file as (nodes, weights, input names, output names); only Gemm and Relu are supported."""

    def __init__(self, path: str | Path, *, device: str = "cpu", threads: int | None = None) -> None:
        self.path = Path(path)

    def __call__(self) -> tuple[list[Any], dict[str, np.ndarray], list[str], list[str]]:
        import onnx
        from onnx import numpy_helper

        graph = onnx.load(str(self.path)).graph
        unsupported = sorted({n.op_type for n in graph.node} - {"Gemm", "Relu"})
        if unsupported:
            raise BadInput(f"the numpy backend cannot run {unsupported} nodes of '{self.path}'; expected Gemm/Relu")
        weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        inputs = [i.name for i in graph.input if i.name not in weights]
        return list(graph.node), weights, inputs, [o.name for o in graph.output]


class NumpyRunner(Runner):
    """Evaluates the loaded Gemm/Relu graph node by node."""

    backend = "numpy"

    def input_names(self) -> Sequence[str]:
        return list(self.loaded[2])

    def output_names(self) -> Sequence[str]:
        return list(self.loaded[3])

    def infer_impl(self, feed: Arrays) -> Arrays:
        nodes, weights, _, outputs = self.loaded
        values = {**weights, **{k: v.astype(np.float32) for k, v in feed.items()}}
        for node in nodes:
            x = values[node.input[0]]
            if node.op_type == "Relu":
                values[node.output[0]] = np.maximum(x, 0)
                continue
            attrs = {a.name: a for a in node.attribute}
            w = values[node.input[1]]
            w = w.T if "transB" in attrs and attrs["transB"].i else w
            values[node.output[0]] = x @ w + (values[node.input[2]] if len(node.input) > 2 else 0)
        return {name: values[name] for name in outputs}


def numpy_reason() -> str | None:
    """The probe: numpy imports and multiplies."""
    return None if float(np.ones(2) @ np.ones(2)) == 2.0 else "numpy cannot multiply; reinstall numpy"


# -- the row -------------------------------------------------------------------------------------------------------
ROW = BackendInfo(
    "numpy",
    f"{__name__}:NumpyRunner",
    f"{__name__}:GraphFromOnnx",
    ("onnx",),
    ("cpu",),
    f"{__name__}:numpy_reason",
    rank=50,
    description="toy: ONNX Gemm/Relu graphs in numpy",
)


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> BackendInfo:
    monkeypatch.setitem(BACKENDS, ROW.name, ROW)
    return ROW


def test_a_toy_backend_is_one_runner_one_loader_one_row(toy: BackendInfo, tiny_export: dict[str, Any]) -> None:
    onnx_file = tiny_export["dir"] / "model.onnx"
    for backend in ("numpy,onnxruntime", "auto"):
        config = BenchConfig(backend=backend, batches=(1, 4), iters=5, warmup=1)
        result = run_bench(tiny_export["model"], [onnx_file], config)
        rows = {(r.backend, r.batch): r for r in result.rows}
        for batch in (1, 4):
            row = rows[("numpy", batch)]
            assert row.status == "ok", row.reason
            assert row.latency is not None and row.latency.count == 5
            assert row.agreement["within_tolerance"] is True
            assert row.agreement["max_abs_diff"] < 1e-4
        picked = {c["row"].split("|")[1] for p in result.picks for c in p["candidates"]}
        assert "numpy" in picked  # the auto rule weighed the toy with the others
