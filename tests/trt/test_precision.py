"""Precision plans per TensorRT major version, the fp16 graph converter (checked with onnx and ONNX Runtime on the
CPU), and the Q/DQ checks int8 relies on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgekit.backends.precision import tolerance_for
from edgekit.backends.trt.precision import (
    check_qdq,
    convert_to_fp16,
    plan_precision,
    prepare_onnx,
    trt_major,
    write_fp16,
)
from edgekit.core.errors import BackendUnavailable, BadInput


def test_trt_major() -> None:
    assert trt_major("10.13.0.35") == 10 and trt_major("11.4.1") == 11
    with pytest.raises(BackendUnavailable):
        trt_major("x.y")


@pytest.mark.parametrize(
    "precision, flags, clear", [("fp32", (), ("TF32",)), ("fp16", ("FP16",), ()), ("int8", ("INT8",), ())]
)
def test_tensorrt_10_uses_builder_flags(precision: str, flags: tuple[str, ...], clear: tuple[str, ...]) -> None:
    plan = plan_precision(precision, 10)
    assert plan.path == "builder-flags" and plan.set_flags == flags and plan.clear_flags == clear
    assert not plan.convert_fp16
    assert plan.requires_qdq == (precision == "int8")
    assert "TensorRT 10" in plan.describe()


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_tensorrt_11_is_strongly_typed_without_precision_flags(precision: str) -> None:
    plan = plan_precision(precision, 11)
    assert plan.path == "strongly-typed"
    assert not {"FP16", "INT8"} & set(plan.set_flags)
    assert plan.convert_fp16 == (precision == "fp16")
    assert plan.requires_qdq == (precision == "int8")
    if precision == "fp16":
        assert "converted to fp16 with fp32 I/O" in plan.describe()


def test_tf32_stays_on_when_asked() -> None:
    assert plan_precision("fp32", 10, tf32=True).clear_flags == ()
    assert plan_precision("fp32", 11).clear_flags == ("TF32",)


def test_dla_plans() -> None:
    plan = plan_precision("fp16", 10, dla=True)
    assert plan.set_flags == ("FP16", "GPU_FALLBACK") and "DLA with GPU fallback" in plan.describe()
    assert plan_precision("int8", 11, dla=True, gpu_fallback=False).set_flags == ()
    with pytest.raises(BadInput, match="DLA runs fp16 or int8 only"):
        plan_precision("fp32", 10, dla=True)


def test_bad_precision_and_old_tensorrt() -> None:
    with pytest.raises(BadInput, match="Did you mean 'fp16'"):
        plan_precision("fp61", 10)
    with pytest.raises(BackendUnavailable, match="TensorRT 8 is too old"):
        plan_precision("fp32", 8)


def test_tolerances_loosen_with_precision() -> None:
    # the one tolerance table (edgekit.backends.precision) as the TensorRT engines are judged by it: on cuda
    fp32, fp16, int8 = (tolerance_for(p, "cuda", 1e-5, 1e-4) for p in ("fp32", "fp16", "int8"))
    assert fp32.atol == 1e-3 and fp16.atol == 1e-2 and int8.atol == 0.1
    assert fp32.min_cosine > fp16.min_cosine > int8.min_cosine
    assert tolerance_for("fp16", "cuda", 0.5, 0.5).atol == 0.5


def _mixed_model() -> Any:
    """Conv -> Relu -> Resize (fp32 scales) -> LayerNorm -> Softmax, plus a Cast to float and a float Constant."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b"),
        numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
        numpy_helper.from_array(np.ones(16, np.float32), "gamma"),
        numpy_helper.from_array(np.zeros(16, np.float32), "beta"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Resize", ["r", "", "scales"], ["up"], mode="nearest"),
        helper.make_node("LayerNormalization", ["up", "gamma", "beta"], ["ln"], axis=-1),
        helper.make_node("Constant", [], ["half"], value=numpy_helper.from_array(np.array(0.5, np.float32))),
        helper.make_node("Cast", ["k"], ["kf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["ln", "half"], ["m"]),
        helper.make_node("Add", ["m", "kf"], ["a"]),
        helper.make_node("Softmax", ["a"], ["y"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "mixed",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8]),
            helper.make_tensor_value_info("k", TensorProto.INT64, [1]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 16, 16])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    return model


def test_fp16_converter_keeps_fp32_io_and_valid_types(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto

    model = convert_to_fp16(_mixed_model())
    onnx.checker.check_model(model, full_check=True)  # strict type inference over the converted graph
    io = {v.name: v.type.tensor_type.elem_type for v in list(model.graph.input) + list(model.graph.output)}
    assert io == {"x": TensorProto.FLOAT, "k": TensorProto.INT64, "y": TensorProto.FLOAT}
    inits = {t.name: t.data_type for t in model.graph.initializer}
    assert inits["w"] == inits["gamma"] == TensorProto.FLOAT16
    assert inits["scales"] == TensorProto.FLOAT  # ONNX requires Resize scales in fp32
    casts = [n for n in model.graph.node if n.op_type == "Cast"]
    assert {n.name for n in casts} >= {"edgekit_cast_in_x", "edgekit_cast_out_y"}
    assert [a.i for n in casts if n.input == ["k"] for a in n.attribute] == [TensorProto.FLOAT16]


def test_fp16_graph_matches_fp32_in_onnxruntime(tmp_path: Path) -> None:
    import onnx
    import onnxruntime as ort

    onnx.save(_mixed_model(), str(tmp_path / "m.onnx"))
    details = write_fp16(tmp_path / "m.onnx", tmp_path / "m16.onnx", converter="edgekit")
    assert details == {"fp16_converter": "edgekit", "fp16_onnx": str(tmp_path / "m16.onnx"), "io_types": "fp32"}
    feed = {
        "x": np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32),
        "k": np.array([3], np.int64),
    }
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    ref = ort.InferenceSession(str(tmp_path / "m.onnx"), opts, providers=["CPUExecutionProvider"]).run(None, feed)
    got = ort.InferenceSession(str(tmp_path / "m16.onnx"), opts, providers=["CPUExecutionProvider"]).run(None, feed)
    assert got[0].dtype == np.float32 and got[0].shape == (2, 4, 16, 16)
    np.testing.assert_allclose(got[0], ref[0], atol=2e-3, rtol=1e-2)


def test_fp16_converter_choice(tmp_path: Path, make_onnx: Any) -> None:
    src = make_onnx(tmp_path / "m.onnx")
    with pytest.raises(BadInput, match="unknown fp16 converter"):
        write_fp16(src, tmp_path / "o.onnx", converter="magic")
    with pytest.raises(BadInput, match="modelopt"):
        write_fp16(src, tmp_path / "o.onnx", converter="modelopt")  # not installed here
    assert write_fp16(src, tmp_path / "o.onnx")["fp16_converter"] == "edgekit"  # auto falls back to ours


def test_prepare_onnx_per_version(tmp_path: Path, make_onnx: Any) -> None:
    src = make_onnx(tmp_path / "m.onnx")
    path10, d10 = prepare_onnx(src, plan_precision("fp16", 10))
    assert path10 == src and "fp16_converter" not in d10
    path11, d11 = prepare_onnx(src, plan_precision("fp16", 11))
    assert path11 == tmp_path / "m.fp16.onnx" and path11.is_file() and d11["fp16_converter"] == "edgekit"
    assert "TensorRT 11" in d11["plan"]


def test_int8_needs_qdq(tmp_path: Path, make_onnx: Any) -> None:
    plain = make_onnx(tmp_path / "plain.onnx")
    with pytest.raises(BadInput) as exc:
        prepare_onnx(plain, plan_precision("int8", 10))
    assert "QuantizeLinear/DequantizeLinear" in str(exc.value) and "edgekit quantize" in str(exc.value)
    qdq = make_onnx(tmp_path / "qdq.onnx", qdq=True)
    assert prepare_onnx(qdq, plan_precision("int8", 11))[1]["qdq_nodes"] == 2


def test_int8_refuses_nonzero_zero_points(tmp_path: Path, make_onnx: Any) -> None:
    asym = make_onnx(tmp_path / "asym.onnx", qdq=True, zero_point=3)
    with pytest.raises(BadInput) as exc:
        check_qdq(asym)
    assert "zero point 0" in str(exc.value) and "q_x" in str(exc.value) and "dq_x" in str(exc.value)


def _recipes() -> list[str]:
    from edgekit.training.recipe import recipe_names

    return recipe_names()


@pytest.mark.slow
@pytest.mark.parametrize("recipe", _recipes())
def test_fp16_conversion_of_every_recipe_runs_in_onnxruntime(recipe: str, tmp_path: Path) -> None:
    """TensorRT 11's fp16 path without TensorRT: the converted graph of each recipe passes the full ONNX check and,
    in ONNX Runtime's CPU EP, matches eager fp32 at fp16 tolerances at every verification shape."""
    import onnx
    import onnxruntime as ort

    from edgekit.core.spec import random_inputs, shape_plan
    from edgekit.export.onnx import export_onnx
    from edgekit.intake.load import load_model

    model = load_model(recipe)
    export_onnx(model, tmp_path / "m.onnx")
    write_fp16(tmp_path / "m.onnx", tmp_path / "m16.onnx", converter="edgekit")
    onnx.checker.check_model(onnx.load(str(tmp_path / "m16.onnx")), full_check=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(tmp_path / "m16.onnx"), opts, providers=["CPUExecutionProvider"])
    tol = tolerance_for("fp16", "cpu", model.atol, model.rtol)
    for i, sizes in enumerate(shape_plan(model.inputs)):
        feed = random_inputs(model.inputs, sizes, seed=40 + i)
        ref = model.predict(feed)
        for name, got in zip(model.outputs, session.run(None, feed), strict=True):
            assert got.dtype == np.float32 and got.shape == ref[name].shape
            np.testing.assert_allclose(got, ref[name], atol=tol.atol, rtol=tol.rtol)
