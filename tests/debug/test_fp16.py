"""fp16: the planted overflow layer is found, kept fp32 by the converter's block list, and named by debug."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit.intake.load import load_model


@pytest.fixture(scope="module")
def overflow_onnx(faulty_models: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    from edgekit.export.onnx import export_onnx

    model = load_model(f"{faulty_models}:overflow", inputs=["x:2x8"])
    path = tmp_path_factory.mktemp("fp16") / "overflow.onnx"
    export_onnx(model, path)
    return model, path


def test_overflow_layer_is_kept_fp32(overflow_onnx: tuple[object, Path], tmp_path: Path) -> None:
    import onnx

    from edgekit.debug.fp16 import fp16_unsafe_modules

    model, path = overflow_onnx
    found = fp16_unsafe_modules(model, path, write=tmp_path / "guarded.onnx")  # type: ignore[arg-type]
    first = found["layers"][0]
    assert (first["module"], first["class"]) == ("big", "Linear") and "non-finite" in first["reason"]
    assert {layer["module"] for layer in found["layers"]} <= {"big", "shrink"}  # nothing else is blocked
    guarded = onnx.load(str(tmp_path / "guarded.onnx"))
    onnx.checker.check_model(guarded, full_check=True)
    inits = {t.name: t.data_type for t in guarded.graph.initializer}
    assert inits["module.big.weight__fp32"] == onnx.TensorProto.FLOAT
    assert inits["module.fc.weight"] == onnx.TensorProto.FLOAT16  # the rest is fp16


def test_debug_names_the_overflow_in_a_plain_fp16_file(overflow_onnx: tuple[object, Path], tmp_path: Path) -> None:
    from edgekit.backends.trt.precision import write_fp16
    from edgekit.debug.fp16 import fp16_unsafe_modules
    from edgekit.debug.run import debug_artifact

    model, path = overflow_onnx
    write_fp16(path, tmp_path / "plain.fp16.onnx", converter="edgekit")
    report = debug_artifact(model, tmp_path / "plain.fp16.onnx")  # type: ignore[arg-type]
    assert report.precision == "fp16" and report.culprit is not None
    assert report.culprit.path == "module.big"
    rows = {r.path: r for r in report.rows}
    assert rows["module.fc"].passed  # fp16 tolerance: the first layer is fine
    fp16_unsafe_modules(model, path, write=tmp_path / "guarded.fp16.onnx")  # type: ignore[arg-type]
    fixed = debug_artifact(model, tmp_path / "guarded.fp16.onnx")  # type: ignore[arg-type]
    assert fixed.culprit is None and fixed.output_passed


def test_safe_model_blocks_nothing(tmp_path: Path) -> None:
    from edgekit.debug.fp16 import fp16_unsafe_modules
    from edgekit.export.onnx import export_onnx

    model = load_model("mlp")
    export_onnx(model, tmp_path / "mlp.onnx")
    assert fp16_unsafe_modules(model, tmp_path / "mlp.onnx")["layers"] == []


def test_blocked_graph_runs_in_onnxruntime_and_matches(overflow_onnx: tuple[object, Path]) -> None:
    import onnx
    import onnxruntime as ort

    from edgekit.backends.trt.precision import convert_to_fp16
    from edgekit.core.spec import random_inputs

    model, path = overflow_onnx
    names = [n.name for n in onnx.load(str(path)).graph.node if n.op_type == "Gemm"]
    converted = convert_to_fp16(onnx.load(str(path)), block=names[1:])  # big and shrink
    feed = random_inputs(model.inputs, None, 3)  # type: ignore[attr-defined]
    sess = ort.InferenceSession(converted.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, feed)[0]
    ref = model.predict(feed)["output"]  # type: ignore[attr-defined]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=1e-2, atol=1e-2)
