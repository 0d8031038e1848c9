"""Shared fixtures of the bench tests: a tiny user model exported once per session (ONNX, TorchScript, pt2) into
a folder whose path contains spaces, and synthetic reports."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

TINY = textwrap.dedent("""
    import torch
    from torch import nn


    def tiny():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))


    def example_inputs():
        return {"x": torch.randn(2, 6)}


    OUTPUT_NAMES = ["logits"]
""")


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``{"ref": model reference, "dir": export directory, "model": LoadedModel}``: a 6 -> 4 MLP exported to
    ONNX, TorchScript and pt2, verified, with its manifest."""
    from edgekit.artifacts.formats import FORMATS
    from edgekit.export.driver import export_all
    from edgekit.intake.load import load_model

    root = tmp_path_factory.mktemp("bench") / "my models"
    root.mkdir()
    (root / "tiny_model.py").write_text(TINY)
    ref = f"{root / 'tiny_model.py'}:tiny"
    model = load_model(ref)
    out = root / "export dir"
    results = export_all(model, [FORMATS["onnx"], FORMATS["torchscript"], FORMATS["pt2"]], out)
    assert all(r.error is None for r in results), [str(r.error) for r in results]
    return {"ref": ref, "dir": out, "model": model, "root": root}


def synthetic_report(rows: int = 3, metric: str | None = "top1") -> dict[str, Any]:
    """A report built from real BenchRow / LatencyStats objects with synthetic latencies (no timing involved)."""
    from edgekit.bench.run import BenchResult, picks
    from edgekit.bench.subjects import BenchRow
    from edgekit.bench.timing import LatencyStats

    rng = np.random.default_rng(0)
    out = []
    backends = ["torch", "onnxruntime", "torchscript", "pt2"]
    for batch in (1, 8):
        for i in range(rows):
            name = "eager" if i == 0 else f"model<{i}>&.onnx"
            base = 1.0 / (i + 1) * batch
            samples = (base + rng.gamma(2.0, 0.02 * base, 400)) * 1e6
            lat = LatencyStats.from_ns(samples.astype(np.int64))
            row = BenchRow(
                name,
                None if i == 0 else f"/x/{name}",
                "eager" if i == 0 else "onnx",
                backends[i % len(backends)],
                "fp32",
                batch,
                "ok",
                latency=lat,
                throughput=lat.throughput(batch),
                size_bytes=None if i == 0 else 1000 * i,
                verification=None if i == 0 else "pass",
                load_ms=5.0,
                cold_ms=7.0,
                accuracy={metric: 0.9 - 0.01 * i} if metric else {},
                agreement={"max_abs_diff": 1e-7 * i, "top1_pct": 100.0, "samples": 10},
            )
            out.append(row)
        out.append(
            BenchRow(
                "model.engine",
                "/x/model.engine",
                "trt",
                "tensorrt",
                "fp16",
                batch,
                "unavailable",
                "tensorrt runs on cuda, not cpu",
            )
        )
    eager = {r.batch: r.latency.p50 for r in out if r.name == "eager" and r.latency}
    for r in out:
        if r.latency:
            r.speedup = eager[r.batch] / r.latency.p50
    host = {
        "hostname": "h",
        "cpu": "Test CPU",
        "cores_logical": 2,
        "cores_physical": 2,
        "memory_gb": 8.0,
        "os": "Linux",
        "machine": "x86_64",
        "load_average": [0.1, 0.1, 0.1],
        "gpu": None,
        "versions": {"edgekit": "0", "python": "3"},
    }
    settings = {
        "device": "cpu",
        "threads": 2,
        "batches": [1, 8],
        "warmup": 10,
        "iters": 400,
        "budget_per": "subject and batch",
        "backend": "default",
        "interleave": True,
        "timed_call": "x",
    }
    model = {"source": "factory:tiny", "recipe": None, "inputs": [], "outputs": ["logits"]}
    evaluation = {"source": "test data", "metric": metric, "higher_is_better": True, "samples": 10}
    return BenchResult(host, settings, model, evaluation, out, picks(out)).to_json()


@pytest.fixture()
def report() -> dict[str, Any]:
    return synthetic_report()


@pytest.fixture()
def make_report() -> Callable[..., dict[str, Any]]:
    """:func:`synthetic_report` itself, for tests that need variants."""
    return synthetic_report
