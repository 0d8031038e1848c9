"""TensorRT for real: build and run an engine for EVERY recipe at fp32, fp16 and int8 and compare it with eager
PyTorch at each recipe's verification shapes, with precision-appropriate tolerances.

These tests need TensorRT (10 or 11), pycuda and an NVIDIA GPU; without them they skip with the reason (one line
naming what is missing and the fix). docs/jetson.md gives the exact steps to run them on a Jetson (JetPack 6 with
TensorRT 10, JetPack 7.2.2+ with TensorRT 11) and on a desktop GPU:

    python -m pytest tests/trt/test_engine_integration.py -m trt -v -rs

int8 uses a symmetric Q/DQ ONNX (zero points 0, per-channel weights) written by ONNX Runtime's ``quantize_static``
from random calibration batches, so the test depends on nothing but what is installed; the int8 engine is compared
with ONNX Runtime running that same Q/DQ file (same quantized model) and, more loosely, with eager fp32.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgekit.backends.trt.fallback import trt_unavailable_reason
from edgekit.core.errors import BadInput
from edgekit.training.recipe import recipe_names

REASON = trt_unavailable_reason()
RECIPES = recipe_names() or ["(no recipes)"]
pytestmark = [
    pytest.mark.trt,
    pytest.mark.skipif(REASON is not None, reason=f"TensorRT tests need TensorRT, pycuda and a GPU: {REASON}"),
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trt")


@pytest.fixture(scope="module")
def onnx_files() -> dict[str, Path]:
    """fp32 ONNX exports shared by the fp16/int8 tests (one export per recipe)."""
    return {}


def _model(recipe: str) -> Any:
    if recipe == "(no recipes)":
        pytest.skip("no recipes are installed (recipes/ is empty)")
    from edgekit.intake.load import load_model

    return load_model(recipe)


def _onnx(recipe: str, model: Any, workdir: Path, cache: dict[str, Path]) -> Path:
    if recipe not in cache:
        from edgekit.export.onnx import export_onnx

        path = workdir / f"{recipe}.onnx"
        export_onnx(model, path)
        cache[recipe] = path
    return cache[recipe]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    denom = float(np.linalg.norm(a64) * np.linalg.norm(b64))
    return float(np.dot(a64, b64) / denom) if denom > 0 else float(np.array_equal(a64, b64))


def _verify(model: Any, engine: Path, precision: str, details: dict[str, Any]) -> Any:
    import dataclasses

    from edgekit.artifacts.verify import verify_runner
    from edgekit.backends.trt.loader import EngineFromPath
    from edgekit.backends.trt.precision import tolerance_for
    from edgekit.backends.trt.profiles import align_with_onnx
    from edgekit.backends.trt.runner import TensorRTRunner

    if details.get("frozen_axes"):  # the ONNX exporter froze these: verify at the sizes the engine was built for
        print(f"{engine.name}: the ONNX export froze {details['frozen_axes']}")
        specs, _ = align_with_onnx(model.inputs, details["onnx"])
        model = dataclasses.replace(model, inputs=specs)
    tol = tolerance_for(precision, model.atol, model.rtol)
    with TensorRTRunner(EngineFromPath(engine), outputs=model.outputs) as runner:
        result = verify_runner(model, runner, str(engine), "trt", atol=tol.atol, rtol=tol.rtol)
    for line in result.failures():
        print(f"  {precision}: {line}")
    cosines = [o.cosine for c in result.checks for o in c.outputs]
    print(
        f"{engine.name}: {result.status}, max_abs {result.max_abs:.3g}, min cosine {min(cosines, default=1):.6f}, "
        f"{result.details.get('precision')}"
    )
    assert result.passed, result.failures()
    assert all(c >= tol.min_cosine for c in cosines), cosines
    return result


@pytest.mark.parametrize("recipe", RECIPES)
def test_fp32_engine_matches_eager(recipe: str, workdir: Path, onnx_files: dict[str, Path]) -> None:
    """The full --format trt path: ONNX export inside export_engine, build, run, compare."""
    from edgekit.export.trt import export_engine

    model = _model(recipe)
    engine = workdir / f"{recipe}.fp32.engine"
    details = export_engine(
        model, engine, precision="fp32", cache_dir=workdir / "cache", timing_cache=workdir / "timing.cache"
    )
    onnx_files.setdefault(recipe, Path(details["onnx_export"]["path"]))
    assert engine.is_file() and (workdir / f"{recipe}.fp32.engine.json").is_file()
    assert details["precision"]["precision"] == "fp32"
    _verify(model, engine, "fp32", details)


@pytest.mark.parametrize("recipe", RECIPES)
def test_fp16_engine_matches_eager(recipe: str, workdir: Path, onnx_files: dict[str, Path]) -> None:
    """fp16: BuilderFlag.FP16 on TensorRT 10; the graph converted to fp16 (fp32 I/O) on TensorRT 11."""
    from edgekit.export.trt import export_engine

    model = _model(recipe)
    engine = workdir / f"{recipe}.fp16.engine"
    details = export_engine(
        model,
        engine,
        precision="fp16",
        onnx=_onnx(recipe, model, workdir, onnx_files),
        cache_dir=workdir / "cache",
        timing_cache=workdir / "timing.cache",
    )
    major = int(details["trt_version"].split(".")[0])
    assert details["precision"]["path"] == ("builder-flags" if major == 10 else "strongly-typed")
    if major >= 11:
        assert details["parse"]["parsed"].endswith(".fp16.onnx") and details["parse"]["fp16_converter"]
    _verify(model, engine, "fp16", details)


def _qdq_onnx(model: Any, src: Path, dest: Path) -> Path:
    """A TensorRT-compatible Q/DQ ONNX: symmetric int8 activations and per-channel weights (zero points 0), Q/DQ on
    the inputs of Conv/Gemm/MatMul only (TRAPS.md: ConvTranspose per-channel is doubtful in TensorRT, and extra
    Q/DQ pairs break fusions)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from edgekit.core.spec import random_inputs

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.feeds = iter([random_inputs(model.inputs, seed=s) for s in range(16)])

        def get_next(self) -> Any:
            return next(self.feeds, None)

    quantize_static(
        str(src),
        str(dest),
        Reader(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["Conv", "Gemm", "MatMul"],
        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
    )
    return dest


@pytest.mark.parametrize("recipe", RECIPES)
def test_int8_qdq_engine_matches_its_onnx_and_eager(recipe: str, workdir: Path, onnx_files: dict[str, Path]) -> None:
    import onnxruntime as ort

    from edgekit.backends.trt.loader import EngineFromPath
    from edgekit.backends.trt.precision import tolerance_for
    from edgekit.backends.trt.runner import TensorRTRunner
    from edgekit.core.spec import random_inputs, shape_plan
    from edgekit.export.trt import export_engine

    model = _model(recipe)
    qdq = _qdq_onnx(model, _onnx(recipe, model, workdir, onnx_files), workdir / f"{recipe}.qdq.onnx")
    engine = workdir / f"{recipe}.int8.engine"
    details = export_engine(model, engine, precision="int8", onnx=qdq, cache_dir=workdir / "cache")
    assert details["parse"]["qdq_nodes"] > 0
    if details.get("frozen_axes"):
        import dataclasses

        from edgekit.backends.trt.profiles import align_with_onnx

        model = dataclasses.replace(model, inputs=align_with_onnx(model.inputs, qdq)[0])
    tol = tolerance_for("int8", model.atol, model.rtol)
    session = ort.InferenceSession(str(qdq), providers=["CPUExecutionProvider"])
    with TensorRTRunner(EngineFromPath(engine), outputs=model.outputs) as runner:
        for i, sizes in enumerate(shape_plan(model.inputs)):
            feed = random_inputs(model.inputs, sizes, seed=500 + i)
            got = runner.infer(feed)
            same_model = dict(zip(model.outputs, session.run(None, feed), strict=True))
            eager = model.predict(feed)
            for name in model.outputs:
                vs_qdq, vs_eager = _cosine(got[name], same_model[name]), _cosine(got[name], eager[name])
                print(
                    f"{recipe} int8 {sizes or 'example'} {name}: cosine vs ORT Q/DQ {vs_qdq:.5f}, "
                    f"vs eager {vs_eager:.5f}"
                )
                assert got[name].shape == eager[name].shape
                assert vs_qdq >= 0.99 and vs_eager >= tol.min_cosine


def test_engine_cache_hit_and_timing_cache(workdir: Path, onnx_files: dict[str, Path]) -> None:
    from edgekit.backends.trt.build import build_engine

    recipe = "cnn" if "cnn" in RECIPES else RECIPES[0]
    model = _model(recipe)
    src = _onnx(recipe, model, workdir, onnx_files)
    timing = workdir / "cache-test.timing"
    first = build_engine(
        src, workdir / "c1.engine", precision="fp32", cache_dir=workdir / "cache2", timing_cache=timing
    )
    second = build_engine(
        src, workdir / "c2.engine", precision="fp32", cache_dir=workdir / "cache2", timing_cache=timing
    )
    assert first["cache"]["hit"] is False and second["cache"]["hit"] is True
    assert timing.stat().st_size > 0
    assert (workdir / "c2.engine").read_bytes() == (workdir / "c1.engine").read_bytes()


def test_shape_outside_the_profile_is_a_clear_error(workdir: Path, onnx_files: dict[str, Path]) -> None:
    from edgekit.backends.trt.build import build_engine
    from edgekit.backends.trt.loader import EngineFromPath
    from edgekit.backends.trt.runner import TensorRTRunner
    from edgekit.core.spec import random_inputs

    recipe = "cnn" if "cnn" in RECIPES else RECIPES[0]
    model = _model(recipe)
    src = _onnx(recipe, model, workdir, onnx_files)
    spec = model.inputs[0]
    example = "x".join(map(str, spec.shape))
    biggest = "x".join(map(str, (2,) + spec.shape[1:]))
    build_engine(
        src,
        workdir / "narrow.engine",
        cache_dir=workdir / "cache",
        min_shapes=[f"{spec.name}:{example}"],
        opt_shapes=[f"{spec.name}:{example}"],
        max_shapes=[f"{spec.name}:{biggest}"],
    )
    with TensorRTRunner(EngineFromPath(workdir / "narrow.engine"), outputs=model.outputs) as runner:
        runner.infer(random_inputs(model.inputs, {spec.name: {0: 2}}))
        with pytest.raises(BadInput, match=f"input '{spec.name}' has shape 3x.*outside the engine's profile"):
            runner.infer(random_inputs(model.inputs, {spec.name: {0: 3}}))
        split = runner.timing_breakdown(random_inputs(model.inputs), iterations=20, warmup=5)
    assert all(math.isfinite(v) for v in split.values()) and set(split) >= {"h2d_ms", "compute_ms", "d2h_ms"}


def test_dla_with_gpu_fallback_reports_gpu_layers(workdir: Path, onnx_files: dict[str, Path]) -> None:
    """Jetson only: build cnn for DLA core 0 with GPU fallback, report the GPU layers, and compare at fp16."""
    import tensorrt as trt

    from edgekit.backends.trt.build import CollectingLogger, build_engine

    if trt.Builder(CollectingLogger().trt_logger).num_DLA_cores == 0:
        pytest.skip("this GPU has no DLA core (DLA is on Jetson AGX Orin / Orin NX / Xavier)")
    recipe = "cnn" if "cnn" in RECIPES else RECIPES[0]
    model = _model(recipe)
    engine = workdir / f"{recipe}.dla.engine"
    details = build_engine(
        _onnx(recipe, model, workdir, onnx_files),
        engine,
        precision="fp16",
        dla_core=0,
        cache_dir=workdir / "cache",
        max_shapes=[f"{model.inputs[0].name}:" + "x".join(map(str, model.inputs[0].shape))],
    )
    dla = details["dla"]
    print(f"DLA: {dla['layers'] - len(dla['gpu_layers'])}/{dla['layers']} layers on DLA; GPU: {dla['gpu_layers']}")
    assert isinstance(dla["gpu_layers"], list) and dla["core"] == 0
    from edgekit.backends.trt.loader import EngineFromPath
    from edgekit.backends.trt.precision import tolerance_for
    from edgekit.backends.trt.runner import TensorRTRunner
    from edgekit.core.spec import random_inputs

    tol = tolerance_for("fp16", model.atol, model.rtol)
    feed = random_inputs(model.inputs)
    with TensorRTRunner(EngineFromPath(engine), outputs=model.outputs) as runner:
        got = runner.infer(feed)
    eager = model.predict(feed)
    assert all(_cosine(got[n], eager[n]) >= tol.min_cosine for n in model.outputs)
