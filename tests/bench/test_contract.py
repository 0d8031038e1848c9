"""The contract of the two tables (issue 10): every (format, backend) pair the backend rows declare goes through the
benchmark and either runs or says why not -- ``unavailable`` with the reason (wrong device, a probe that failed),
never ``skipped`` for a format the backend declares. A ``.engine`` is benchmarked by ``tensorrt`` and ``--backend
auto`` considers it.

Where TensorRT and a GPU are missing, the engine runs on the LABELLED FAKES of tests/trt/conftest.py (a trivial
``y = 2x`` engine): that checks edgekit's wiring from the tables to the runner, not TensorRT itself.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from edgekit.artifacts.formats import FORMATS
from edgekit.backends.registry import BACKENDS, EAGER, BackendInfo
from edgekit.bench.config import BenchConfig
from edgekit.bench.run import run_bench
from edgekit.bench.subjects import plan, read_artifact
from edgekit.core.model import FlatOutputs, LoadedModel
from edgekit.core.spec import InputSpec

FAST: dict[str, Any] = {"batches": (1,), "iters": 2, "warmup": 0, "accuracy": False}


def _fakes() -> Any:
    """tests/trt/conftest.py as a plain module: its fake ``tensorrt`` / ``pycuda`` factories."""
    path = Path(__file__).resolve().parents[1] / "trt" / "conftest.py"
    spec = importlib.util.spec_from_file_location("edgekit_tests_trt_fakes", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FAKES = _fakes()


def install_fakes(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Install the fake tensorrt 10 + pycuda for one test; returns the scenario."""
    scenario = FAKES.FakeScenario()
    monkeypatch.setitem(sys.modules, "tensorrt", FAKES.make_fake_trt(scenario))
    for name, mod in FAKES.make_fake_pycuda().items():
        monkeypatch.setitem(sys.modules, name, mod)
    FAKES.FakeCuda.MEMORY.clear()
    return scenario


def _declared_pairs() -> list[tuple[str, BackendInfo]]:
    return [(fmt, row) for row in BACKENDS.values() for fmt in row.formats]


def test_every_format_is_run_by_some_backend() -> None:
    declared = {fmt for fmt, _ in _declared_pairs()}
    assert set(FORMATS) <= declared, f"formats no backend runs: {sorted(set(FORMATS) - declared)}"
    assert EAGER in declared


def _expected(row: BackendInfo, device: str) -> tuple[str, str | None]:
    """(status, reason fragment) the contract asks of ``row`` on ``device`` on this machine."""
    if device not in row.devices:
        return "unavailable", f"{row.name} runs on {'/'.join(row.devices)}, not {device}"
    reason = row.unavailable_reason()
    return ("unavailable", reason) if reason is not None else ("ok", None)


def _other_formats(model: LoadedModel, out: Path, have: set[str]) -> dict[str, Path]:
    """The tiny model in every format the fixture did not export: exported where the format is available here, else
    a placeholder file of its suffix (its backend's probe must then answer ``unavailable`` before loading it)."""
    from edgekit.artifacts.formats import format_reasons
    from edgekit.export.driver import export_all

    reasons = format_reasons("cpu")
    todo = [FORMATS[f] for f in FORMATS if f not in have]
    runnable = [f for f in todo if reasons.get(f.name) is None and f.name != "trt"]
    results = {r.format: r for r in export_all(model, runnable, out)} if runnable else {}
    files = {}
    for f in todo:
        path = out / f"model{f.suffix}"
        if f.name not in results or results[f.name].error is not None:
            path.write_bytes(b"never loaded: no exporter here")
        files[f.name] = path
    return files


def test_every_declared_pair_through_run_bench_on_cpu(tiny_export: dict[str, Any], tmp_path: Path) -> None:
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"never loaded on the cpu")
    files = {
        "onnx": tiny_export["dir"] / "model.onnx",
        "torchscript": tiny_export["dir"] / "model.ts",
        "pt2": tiny_export["dir"] / "model.pt2",
        "trt": engine,
    }
    files.update(_other_formats(tiny_export["model"], tmp_path / "more", set(files)))
    assert set(FORMATS) <= set(files), "a new format needs an artifact here"
    seen = set()
    for row in BACKENDS.values():
        if row.name == "torch":
            continue  # the eager baseline, in every run (checked below)
        # an eager-only backend gets one artifact it does not run, so that bench does not export one of its own
        artifacts = [files[f] for f in row.formats if f != EAGER] or [files["onnx"]]
        # trusted: this test compiled the AOTInductor package itself (native code is refused by default)
        config = BenchConfig(backend=row.name, **FAST)
        result = run_bench(tiny_export["model"], artifacts, config, trust_checkpoint=True)
        mine = [r for r in result.rows if r.backend == row.name and r.format in row.formats]
        assert {r.format for r in mine} == set(row.formats), (row.name, [(r.format, r.status) for r in mine])
        for r in result.rows:
            if r.backend == row.name and r.format not in row.formats:
                assert r.status == "skipped" and "does not run" in r.reason, (r.name, r.status, r.reason)
        status, reason = _expected(row, "cpu")
        for r in mine:
            seen.add((r.format, r.backend))
            assert r.status != "skipped", f"{r.name} [{r.backend}] skipped for a format it declares: {r.reason}"
            assert r.status == status, (r.name, r.backend, r.status, r.reason)
            if reason is not None:
                assert reason in r.reason
    eager = next(r for r in result.rows if r.backend == "torch" and r.format == EAGER)
    assert eager.status == "ok"
    seen.add((EAGER, "torch"))
    assert seen == {(f, row.name) for f, row in _declared_pairs()}


class Double(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(2 * x)


def _double() -> LoadedModel:
    return LoadedModel(FlatOutputs(Double()), [InputSpec("x", (2, 3))], ["y"], "test:double")


def test_auto_on_cuda_benchmarks_an_engine_and_builds_from_onnx(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgekit.backends.trt.fallback import trt_unavailable_reason

    if trt_unavailable_reason() is None:
        pytest.skip("real TensorRT is present: tests/trt/test_engine_integration.py benchmarks real engines")
    install_fakes(monkeypatch)
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "cache"))
    from edgekit.backends.trt.build import build_engine

    onnx_path = FAKES.tiny_onnx(tmp_path / "model.onnx")
    build_engine(onnx_path, tmp_path / "model.engine", min_shapes=["x:1x3"], opt_shapes=["x:2x3"], max_shapes=["x:4x3"])
    model = _double()
    config = BenchConfig(device="cuda", backend="auto", batches=(1, 2), iters=2, warmup=0)
    for path in (tmp_path / "model.engine", onnx_path):
        art = read_artifact(path)
        subjects = [s for s in plan(model, [art], config) if s.artifact is not None]
        assert "tensorrt" in [s.backend for s in subjects], f"auto does not consider {path.name} for tensorrt"
        for s in subjects:
            s.open(config)
            assert s.status == "ok" or (s.status == "unavailable" and s.reason), (s.backend, s.status, s.reason)
            if s.backend != "tensorrt":
                continue
            assert s.status == "ok", s.reason
            for batch in (1, 2):
                fn = s.timed_fn(batch)
                assert fn is not None
                got = fn()
                np.testing.assert_allclose(got["y"], 2 * s.feeds[batch]["x"], rtol=1e-6)
                assert s.row(batch, np.array([1000, 1200])).status == "ok"
            s.close()


def test_a_failed_probe_gives_unavailable_rows_with_its_reason(
    tiny_export: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    result = run_bench(tiny_export["model"], [tiny_export["dir"] / "model.onnx"], BenchConfig(**FAST))
    (row,) = [r for r in result.rows if r.backend == "onnxruntime"]
    assert row.status == "unavailable"
    assert "onnxruntime cannot be imported" in row.reason and "pip install" in row.reason


def test_auto_on_the_cpu_says_why_an_engine_does_not_run(tiny_export: dict[str, Any], tmp_path: Path) -> None:
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"never loaded on the cpu")
    result = run_bench(tiny_export["model"], [engine], BenchConfig(backend="auto", **FAST))
    (row,) = [r for r in result.rows if r.format == "trt"]
    assert (row.backend, row.status, row.reason) == ("tensorrt", "unavailable", "tensorrt runs on cuda, not cpu")
