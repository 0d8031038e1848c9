"""GPU-free logic of the TensorRT runner and builder.

The helpers (dtype table, buffer sizes, input preparation) are tested directly. The control flow of
``build_engine`` and ``TensorRTRunner`` runs against the FAKE tensorrt/pycuda modules of conftest.py: these tests
show that edgekit makes the calls the TensorRT 10/11 API documents, in a valid order (input shapes before output
shapes, device addresses as ints, the stream's handle to execute_async_v3, profile shapes as trt.Dims, flags per
major version), and handles the answers. They do not verify TensorRT itself; test_engine_integration.py does, on
a machine with a GPU.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgekit.backends.trt.bindings import Binding, dims_tuple, numpy_dtype, prepare_input, volume
from edgekit.backends.trt.build import CollectingLogger, build_engine, check_network_inputs, parser_errors
from edgekit.backends.trt.loader import EngineFromOnnx, EngineFromPath
from edgekit.backends.trt.profiles import ShapeRange
from edgekit.backends.trt.runner import TensorRTRunner
from edgekit.core.errors import BackendUnavailable, BadInput
from edgekit.export.trt import export_engine


def _enum(name: str) -> Any:
    class E:
        pass

    e = E()
    e.name = name  # type: ignore[attr-defined]
    return e


# -- helpers ------------------------------------------------------------------------------------------------------
def test_dtype_table() -> None:
    assert numpy_dtype(_enum("FLOAT")) == np.float32 and numpy_dtype(_enum("HALF")) == np.float16
    assert numpy_dtype(_enum("INT64")) == np.int64 and numpy_dtype(_enum("BOOL")) == np.bool_
    assert numpy_dtype("DataType.INT32") == np.int32
    with pytest.raises(BadInput, match="BF16, which has no numpy equivalent"):
        numpy_dtype(_enum("BF16"), "logits")


def test_volume_dims_and_buffer_size() -> None:
    assert volume((8, 3, 32, 32)) == 24576 and volume(()) == 1
    assert dims_tuple([1, 2, 3]) == (1, 2, 3)
    b = Binding("x", True, np.dtype(np.float16), (8, 3, 32, 32))
    assert b.nbytes == 8 * 3 * 32 * 32 * 2
    assert Binding("e", False, np.dtype(np.float32), (0, 4)).nbytes == 1  # never a zero-byte allocation


def test_prepare_input_casts_and_checks() -> None:
    rng = ShapeRange((1, 3), (2, 3), (4, 3))
    out = prepare_input("x", np.ones((2, 3), np.float64)[:, ::1], np.dtype(np.float32), rng)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    assert prepare_input("ids", np.ones((2, 3), np.int64), np.dtype(np.int32), rng).dtype == np.int32
    with pytest.raises(BadInput, match="dtype float32, the engine expects int32"):
        prepare_input("ids", np.ones((2, 3), np.float32), np.dtype(np.int32), rng)
    with pytest.raises(BadInput, match=r"outside the engine's profile \(min 1x3, opt 2x3, max 4x3\)"):
        prepare_input("x", np.ones((5, 3), np.float32), np.dtype(np.float32), rng)


def test_check_network_inputs() -> None:
    prof = {"x": ShapeRange((1, 3), (2, 3), (8, 3))}
    check_network_inputs({"x": (-1, 3), "k": (1,)}, prof)
    assert prof["k"] == ShapeRange((1,), (1,), (1,))  # a static input joins the profile as fixed
    with pytest.raises(BadInput, match="dynamic axes \\[0\\] but no profile"):
        check_network_inputs({"x": (-1, 3), "ids": (-1, 7)}, {"x": ShapeRange((1, 3), (2, 3), (8, 3))})
    with pytest.raises(BadInput, match="Did you mean 'x'"):
        check_network_inputs({"x": (-1, 3)}, {"xx": ShapeRange((1, 3), (2, 3), (8, 3))})
    with pytest.raises(BadInput, match="changes static axis 1 from 3 to 4"):
        check_network_inputs({"x": (-1, 3)}, {"x": ShapeRange((1, 4), (2, 4), (8, 4))})


def test_collecting_logger_keeps_errors(fake_gpu: Any) -> None:
    class Severity:
        def __str__(self) -> str:
            return "Severity.ERROR"

    log = CollectingLogger()
    log.trt_logger.log(Severity(), "boom")  # TensorRT calls the logger's log(severity, msg)
    assert log.errors == ["boom"]
    log.record("Severity.ERROR", "first")
    log.record("Severity.WARNING", "careful")
    log.record("Severity.INFO", "chatter")
    assert log.errors[-1] == "first" and log.warnings == ["careful"] and log.last_errors().endswith("first")


# -- the builder against the fake tensorrt ----------------------------------------------------------------------------
def _build(tmp: Path, make_onnx: Any, **kw: Any) -> dict[str, Any]:
    qdq = kw.pop("qdq", False)
    onnx_path = tmp / ("q.onnx" if qdq else "m.onnx")
    if not onnx_path.exists():
        make_onnx(onnx_path, qdq=qdq)
    kw.setdefault("cache_dir", tmp / "cache")
    return build_engine(onnx_path, tmp / "out" / "m.engine", **kw)


def test_build_fp16_on_tensorrt_10(tmp_path: Path, make_onnx: Any, fake_gpu: Any) -> None:
    d = _build(
        tmp_path,
        make_onnx,
        precision="fp16",
        workspace=256,
        max_shapes=["x:16x3"],
        opt_shapes=["x:4x3"],
        min_shapes=["x:1x3"],
    )
    ((_, config),) = [c for c in fake_gpu.calls if c[0] == "build"]
    assert {"FP16", "TF32"} <= config.flags and config.pool == {"WORKSPACE": 256 << 20}
    assert config.profiling_verbosity is not None
    lo, opt, hi = config.profiles[0].shapes["x"]
    assert (tuple(lo), tuple(opt), tuple(hi)) == ((1, 3), (4, 3), (16, 3))
    assert d["precision"]["path"] == "builder-flags" and d["cache"]["hit"] is False
    assert d["gpu"] == "Fake GPU (compute capability 8.7)"
    engine = tmp_path / "out" / "m.engine"
    side = json.loads((tmp_path / "out" / "m.engine.json").read_text())
    assert engine.read_bytes().startswith(b"FAKE-ENGINE")
    assert side["key"]["precision"] == "fp16" and side["key"]["compute_capability"] == "8.7"
    assert side["profiles"]["x"] == {"min": [1, 3], "opt": [4, 3], "max": [16, 3]}
    assert d["layers"]["count"] == 2 and Path(d["layers"]["file"]).is_file()


def test_fp32_turns_tf32_off(tmp_path: Path, make_onnx: Any, fake_gpu: Any) -> None:
    _build(tmp_path, make_onnx)
    ((_, config),) = [c for c in fake_gpu.calls if c[0] == "build"]
    assert "TF32" not in config.flags and "FP16" not in config.flags


def test_second_identical_build_comes_from_the_cache(tmp_path: Path, make_onnx: Any, fake_gpu: Any) -> None:
    _build(tmp_path, make_onnx, precision="fp16")
    again = _build(tmp_path, make_onnx, precision="fp16")
    assert fake_gpu.builds == 1 and again["cache"]["hit"] is True
    other = _build(tmp_path, make_onnx, precision="fp32")
    assert fake_gpu.builds == 2 and other["cache"]["hit"] is False
    _build(tmp_path, make_onnx, precision="fp16", use_cache=False)
    assert fake_gpu.builds == 3


def test_timing_cache_is_read_and_written_back(tmp_path: Path, make_onnx: Any, fake_gpu: Any) -> None:
    tc = tmp_path / "timing.cache"
    d = _build(tmp_path, make_onnx, timing_cache=tc)
    assert tc.read_bytes() == b"+timed" and "new" in d["build"]["timing_cache"]
    d = _build(tmp_path, make_onnx, timing_cache=tc, precision="fp16")
    assert tc.read_bytes() == b"+timed+timed" and d["build"]["timing_cache"].startswith("loaded")


def test_parser_errors_are_listed_with_their_nodes(tmp_path: Path, make_onnx: Any, fake_gpu: Any) -> None:
    fake_gpu.parse_errors = [(3, "up1", "Resize", "unsupported mode"), (7, "gather_5", "Gather", "bad axis")]
    with pytest.raises(BadInput) as exc:
        _build(tmp_path, make_onnx)
    msg = str(exc.value)
    assert "(2 errors)" in msg
    assert "node 3 (Resize 'up1'): unsupported mode | node 7 (Gather 'gather_5'): bad axis" in msg


def test_parser_errors_helper_on_graph_level_errors(fake_gpu: Any) -> None:
    import tensorrt

    fake_gpu.parse_errors = [(-1, "", "", "model has no opset")]
    parser = tensorrt.OnnxParser(None, None)  # type: ignore[arg-type]
    assert parser_errors(parser) == ["graph: model has no opset"]


def test_failed_build_says_why(tmp_path: Path, make_onnx: Any, fake_gpu: Any) -> None:
    fake_gpu.build_fails = True
    with pytest.raises(BadInput, match="failed to build an engine .*out of memory \\(fake\\)"):
        _build(tmp_path, make_onnx)
    assert not (tmp_path / "out" / "m.engine").exists()


def test_dla_reports_gpu_layers(tmp_path: Path, make_onnx: Any, fake_gpu: Any) -> None:
    fake_gpu.dla_cores = 2
    d = _build(tmp_path, make_onnx, precision="fp16", dla_core=1)
    ((_, config),) = [c for c in fake_gpu.calls if c[0] == "build"]
    assert config.DLA_core == 1 and config.default_device_type.name == "DLA" and "GPU_FALLBACK" in config.flags
    assert d["dla"]["gpu_layers"] == [{"layer": "softmax", "type": "SOFTMAX"}] and d["dla"]["layers"] == 2
    with pytest.raises(BadInput, match="cannot run on DLA core 0 and GPU fallback is off: softmax \\(SOFTMAX\\)"):
        _build(tmp_path, make_onnx, precision="fp16", dla_core=0, gpu_fallback=False)
    with pytest.raises(BadInput, match="2 DLA core"):
        _build(tmp_path, make_onnx, precision="fp16", dla_core=2)


def test_no_dla_on_this_device(tmp_path: Path, make_onnx: Any, fake_gpu: Any) -> None:
    with pytest.raises(BackendUnavailable, match="no DLA"):
        _build(tmp_path, make_onnx, precision="fp16", dla_core=0)


def test_tensorrt_11_fp16_converts_the_graph(
    tmp_path: Path, make_onnx: Any, use_fake_trt_version: Any, fake_gpu: Any
) -> None:
    use_fake_trt_version("11.4.1")
    d = _build(tmp_path, make_onnx, precision="fp16")
    ((_, config),) = [c for c in fake_gpu.calls if c[0] == "build"]
    assert "FP16" not in config.flags
    parsed = [c[1] for c in fake_gpu.calls if c[0] == "parse"]
    assert parsed == [str(tmp_path / "m.fp16.onnx")]
    assert d["parse"]["fp16_converter"] == "edgekit" and d["precision"]["path"] == "strongly-typed"


def test_int8_requires_qdq(tmp_path: Path, make_onnx: Any, fake_gpu: Any) -> None:
    with pytest.raises(BadInput, match="QuantizeLinear"):
        _build(tmp_path, make_onnx, precision="int8")
    d = _build(tmp_path, make_onnx, precision="int8", qdq=True, use_cache=False)
    ((_, config),) = [c for c in fake_gpu.calls if c[0] == "build"]
    assert "INT8" in config.flags and d["parse"]["qdq_nodes"] == 2


def test_bad_options(tmp_path: Path, make_onnx: Any, fake_gpu: Any) -> None:
    with pytest.raises(BadInput, match="positive number of MiB"):
        _build(tmp_path, make_onnx, workspace=0)
    with pytest.raises(BadInput, match="does not exist"):
        build_engine(tmp_path / "none.onnx", tmp_path / "x.engine")
    with pytest.raises(BadInput, match="names input 'y'"):
        _build(tmp_path, make_onnx, opt_shapes=["y:1x3"])


def test_export_engine_exports_onnx_then_builds(
    tmp_path: Path, make_onnx: Any, fake_gpu: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    from edgekit.core.spec import InputSpec

    exported: list[Path] = []

    def export_onnx(model: Any, path: Path, **kw: Any) -> dict[str, Any]:
        make_onnx(path)
        exported.append(path)
        return {"exporter": "dynamo", "opset": 18}

    monkeypatch.setattr("edgekit.export.trt.export_onnx", export_onnx)
    model = types.SimpleNamespace(inputs=[InputSpec("x", (2, 3))])
    d = export_engine(
        model,
        tmp_path / "m.engine",
        precision="fp16",
        cache_dir=tmp_path / "c",  # type: ignore
        max_shapes=["x:32x3"],
        unrelated_option=1,
    )
    assert exported == [tmp_path / "m.trt.onnx"] and d["onnx_export"]["exporter"] == "dynamo"
    assert d["profiles"]["x"] == {"min": [32, 3], "opt": [32, 3], "max": [32, 3]}  # trtexec: max alone pins
    assert (tmp_path / "m.engine").is_file() and (tmp_path / "m.engine.json").is_file()
    assert "frozen_axes" not in d
    d = export_engine(
        model,
        tmp_path / "n.engine",
        cache_dir=tmp_path / "c",  # type: ignore[arg-type]
        onnx=tmp_path / "m.trt.onnx",
    )
    assert d["onnx_export"] == {"path": str(tmp_path / "m.trt.onnx"), "exporter": "given"} and len(exported) == 1
    assert d["profiles"]["x"] == {"min": [1, 3], "opt": [2, 3], "max": [8, 3]}
    # an ONNX whose batch axis was frozen at 2 (by the exporter): built at that size, and reported
    make_onnx(tmp_path / "static.onnx", dynamic=False)
    d = export_engine(
        model,
        tmp_path / "s.engine",
        cache_dir=tmp_path / "c",  # type: ignore[arg-type]
        onnx=tmp_path / "static.onnx",
    )
    assert d["frozen_axes"] == ["x:0"] and d["profiles"]["x"] == {"min": [2, 3], "opt": [2, 3], "max": [2, 3]}


# -- the runner against the fakes -------------------------------------------------------------------------------------
@pytest.fixture
def engine_file(tmp_path: Path, make_onnx: Any, fake_gpu: Any) -> Path:
    _build(tmp_path, make_onnx, min_shapes=["x:1x3"], opt_shapes=["x:2x3"], max_shapes=["x:4x3"])
    return tmp_path / "out" / "m.engine"


def test_runner_runs_every_shape_in_the_profile(engine_file: Path, fake_gpu: Any) -> None:
    with TensorRTRunner(EngineFromPath(engine_file), outputs=["y"]) as runner:
        assert runner.bindings["x"].max_shape == (4, 3) and runner.bindings["y"].max_shape == (4, 3)
        for n in (1, 2, 4):
            x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
            out = runner.infer({"x": x})
            np.testing.assert_array_equal(out["y"], 2 * x)
        executes = [c for c in fake_gpu.calls if c[0] == "execute"]
        assert [c[2] for c in executes] == [(1, 3), (2, 3), (4, 3)] and executes[0][1] == 4242
        assert set(runner.last_timing) == {"h2d_ms", "compute_ms", "d2h_ms", "total_ms"}
        t = runner.last_timing
        assert t["total_ms"] == pytest.approx(t["h2d_ms"] + t["compute_ms"] + t["d2h_ms"])
        assert runner.details["profile"] == {"x": "min 1x3, opt 2x3, max 4x3"}
        assert "builder-flags" not in runner.details["precision"] and "fp32" in runner.details["precision"]
        bindings = list(runner.bindings.values())
    assert all(b.device.freed for b in bindings)


def test_runner_refuses_shapes_outside_the_profile(engine_file: Path, fake_gpu: Any) -> None:
    with TensorRTRunner(EngineFromPath(engine_file)) as runner:
        with pytest.raises(BadInput) as exc:
            runner.infer({"x": np.zeros((5, 3), np.float32)})
        assert "input 'x' has shape 5x3, outside the engine's profile (min 1x3, opt 2x3, max 4x3)" in str(exc.value)
        assert "--max-shape x:5x3" in str(exc.value)
        with pytest.raises(BadInput, match="missing \\['x'\\]"):
            runner.infer({"z": np.zeros((1, 3), np.float32)})


def test_runner_timed_call_and_breakdown(engine_file: Path, fake_gpu: Any) -> None:
    feed = {"x": np.ones((2, 3), np.float32)}
    with TensorRTRunner(EngineFromPath(engine_file)) as runner:
        call = runner.timed_call(feed)
        np.testing.assert_array_equal(call()["y"], 2 * feed["x"])
        split = runner.timing_breakdown(feed, iterations=5, warmup=1)
    assert split["iterations"] == 5 and split["compute_ms"] > 0 and split["h2d_ms"] > 0


def test_runner_file_errors(tmp_path: Path, fake_gpu: Any) -> None:
    with pytest.raises(BadInput, match="does not exist"):
        TensorRTRunner(EngineFromPath(tmp_path / "none.engine")).activate()
    (tmp_path / "other.engine").write_bytes(b"built elsewhere")
    with pytest.raises(BadInput, match="only load with the TensorRT version and GPU architecture"):
        TensorRTRunner(EngineFromPath(tmp_path / "other.engine")).activate()


def test_runner_builds_an_onnx_first(
    tmp_path: Path, make_onnx: Any, fake_gpu: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "cache"))
    onnx_path = make_onnx(tmp_path / "m.onnx")
    build = EngineFromOnnx(
        onnx_path, precision="fp16", max_shapes=["x:2x3"], min_shapes=["x:1x3"], opt_shapes=["x:1x3"]
    )
    with TensorRTRunner(EngineFromPath(build)) as runner:
        assert runner.details["build"]["precision"]["precision"] == "fp16"
        assert Path(runner.details["engine"]).parent == tmp_path / "cache" / "engines" / "runner"
        np.testing.assert_array_equal(runner.infer({"x": np.ones((2, 3), np.float32)})["y"], 2 * np.ones((2, 3)))


def test_runner_on_a_static_engine(tmp_path: Path, make_onnx: Any, fake_gpu: Any) -> None:
    fake_gpu.inputs = {"x": (2, 3)}
    make_onnx(tmp_path / "m.onnx", dynamic=False)
    build_engine(tmp_path / "m.onnx", tmp_path / "s.engine", cache_dir=tmp_path / "c")
    with TensorRTRunner(EngineFromPath(tmp_path / "s.engine")) as runner:
        assert runner.bindings["x"].range == ShapeRange((2, 3), (2, 3), (2, 3))
        np.testing.assert_array_equal(runner.infer({"x": np.ones((2, 3), np.float32)})["y"], 2 * np.ones((2, 3)))
        with pytest.raises(BadInput, match="min 2x3, opt 2x3, max 2x3"):
            runner.infer({"x": np.ones((1, 3), np.float32)})


def test_build_summary_lines() -> None:
    from edgekit.cli.trt import summary_lines

    lines = summary_lines(
        {
            "engine": "m.engine",
            "trt_version": "10.3.0",
            "gpu": "Orin (compute capability 8.7)",
            "precision": {
                "description": "fp16 on TensorRT 10: BuilderFlag.FP16 on an fp32 graph, DLA with GPU fallback"
            },
            "profiles": {"x": {"min": [1, 3], "opt": [2, 3], "max": [8, 3]}},
            "cache": {"hit": False},
            "build": {"seconds": 12.5, "timing_cache": "loaded t.cache (10 bytes)"},
            "dla": {"core": 0, "layers": 5, "gpu_layers": [{"layer": "softmax", "type": "SOFTMAX"}]},
        }
    )
    assert lines[0] == "engine: m.engine (built in 12.5 s)"
    assert "profile: x: min 1x3, opt 2x3, max 8x3" in lines
    assert "DLA core 0: 4 of 5 layers on DLA; on the GPU: softmax (SOFTMAX)" in lines
    assert lines[-1] == "sidecar: m.engine.json"
