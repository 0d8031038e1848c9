"""The two INT8 ONNX encodings: TensorRT's rules hold, ORT's re-encoding is what its fusions need, both run and
agree with the torch Q/DQ model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from edgekit.core.errors import VerificationFailed
from edgekit.core.spec import random_inputs
from edgekit.intake.load import load_model
from edgekit.quant.onnx_int8 import Graph, export_qdq, is_nonnegative, list_qdq, make_ort_encoding, validate_trt
from edgekit.quant.ptq import calibrate
from edgekit.quant.report import verify_int8


def _ptq(ref: str, tmp: Path, name: str, **load: object):  # type: ignore[no-untyped-def]
    model = load_model(ref, **load)  # type: ignore[arg-type]
    feeds = [random_inputs(model.inputs, {s.name: {0: 16} for s in model.inputs}, seed=i) for i in range(3)]
    feeds = [{k: np.abs(v) for k, v in f.items()} for f in feeds]
    q = calibrate(model, feeds, "minmax")
    trt, ort_path = tmp / f"{name}.int8.trt.onnx", tmp / f"{name}.int8.ort.onnx"
    export_qdq(q.model, trt)
    stats = make_ort_encoding(trt, ort_path)
    return q, trt, ort_path, stats


@pytest.fixture(scope="module")
def conv_files(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return _ptq(f"{tiny_models}:conv_net", tmp_path_factory.mktemp("conv"), "conv", inputs=["x:2x1x8x8"])


def test_trt_file_is_symmetric_int8_with_weights_on_axis_0(conv_files) -> None:  # type: ignore[no-untyped-def]
    _, trt, _, _ = conv_files
    nodes = validate_trt(trt)
    assert all(n.dtype == "int8" and n.zero_points == [0] for n in nodes)
    weights = [n for n in nodes if n.is_weight]
    assert {tuple(n.feeds) for n in weights} == {("Conv",), ("Gemm",)}
    assert all(n.axis == 0 and n.channels > 1 for n in weights)
    acts = [n for n in nodes if not n.is_weight and n.op == "DequantizeLinear"]
    assert {f for n in acts for f in n.feeds} <= {"Conv", "Gemm"}
    assert all(n.channels == 1 for n in acts)
    ops = {n.op_type for n in onnx.load(str(trt)).graph.node}
    assert "BatchNormalization" not in ops  # folded into the conv


def test_ort_file_reencodes_activations_as_uint8(conv_files) -> None:  # type: ignore[no-untyped-def]
    _, trt, ort_path, stats = conv_files
    assert stats["unsigned_0_max"] >= 1 and stats["uint8_zero_point_128"] == 1  # the network input is signed
    assert stats["copied_through"] >= 1  # Q/DQ copied in front of MaxPool/Flatten to the Relu
    nodes = list_qdq(ort_path)
    acts = [n for n in nodes if not n.is_weight]
    assert all(n.dtype == "uint8" for n in acts)
    assert any("MaxPool" in n.feeds for n in acts)
    with pytest.raises(VerificationFailed, match="zero point"):
        validate_trt(ort_path)
    trt_scale = _scales(trt)
    ort_scale = _scales(ort_path)
    ratios = {k: ort_scale[k] / trt_scale[k] for k in trt_scale}
    assert ratios.pop("x") == pytest.approx(1.0)  # signed: same grid, zero point 128
    assert ratios and all(r == pytest.approx(127 / 255, rel=1e-6) for r in ratios.values())  # [0, max] uint8


def _scales(path: Path) -> dict[str, float]:
    g = Graph(onnx.load(str(path)))
    return {
        n.input[0]: float(g.const(n.input[1]))
        for n in g.graph.node
        if n.op_type == "QuantizeLinear" and g.const(n.input[0]) is None
    }


def test_both_files_run_and_agree_with_torch_int8(conv_files) -> None:  # type: ignore[no-untyped-def]
    q, trt, ort_path, _ = conv_files
    for path, tol in ((trt, 0.02), (ort_path, 0.08)):
        v = verify_int8(q.model, path, tol)
        assert v.passed, v.failures()
        assert len(v.checks) == 3  # example shape and two other batch sizes


def test_validator_rejects_nonzero_zero_point(conv_files, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, trt, _, _ = conv_files
    model = onnx.load(str(trt))
    g = Graph(model)
    q = next(n for n in g.graph.node if n.op_type == "QuantizeLinear")
    name = g.add_const("bad_zero_point", np.array(3, np.int8))
    q.input[2] = name
    bad = tmp_path / "bad.onnx"
    onnx.save(model, str(bad))
    with pytest.raises(VerificationFailed, match=r"zero point \[3\]"):
        validate_trt(bad)


def test_mixed_model_transposes_folded_conv_transpose_float_in_ort(tiny_models: Path, tmp_path: Path) -> None:
    q, trt, ort_path, stats = _ptq(f"{tiny_models}:mixed", tmp_path, "mixed", inputs=["x:2x4x2x2"])
    trt_nodes = validate_trt(trt)
    assert not any("Transpose" in n.feeds for n in trt_nodes)  # weight transposes folded into the constants
    matmul_w = [n for n in trt_nodes if n.is_weight and "MatMul" in n.feeds]
    assert matmul_w and all(n.axis == 1 for n in matmul_w)  # output channels of a (in, out) weight
    assert stats["float_conv_transpose"] == 1
    ort_ops = {n.op_type for n in onnx.load(str(ort_path)).graph.node}
    assert "LSTM" in ort_ops
    g = Graph(onnx.load(str(ort_path)))
    convt = next(n for n in g.graph.node if n.op_type == "ConvTranspose")
    assert g.const(convt.input[1]).dtype == np.float32
    assert verify_int8(q.model, ort_path, 0.08).passed


def test_is_nonnegative_follows_relu_through_pooling() -> None:
    h = onnx.helper
    nodes = [
        h.make_node("Relu", ["x"], ["r"]),
        h.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2]),
        h.make_node("Flatten", ["p"], ["f"]),
        h.make_node("Neg", ["f"], ["n"]),
    ]
    graph = h.make_graph(
        nodes,
        "g",
        [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 1, 4, 4])],
        [h.make_tensor_value_info("n", onnx.TensorProto.FLOAT, None)],
    )
    g = Graph(h.make_model(graph))
    assert is_nonnegative(g, "f") and is_nonnegative(g, "r")
    assert not is_nonnegative(g, "n") and not is_nonnegative(g, "x")


def test_ort_output_quantization_keeps_output_names(conv_files, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    q, trt, _, _ = conv_files
    feeds = [{"x": np.abs(np.random.default_rng(i).standard_normal((8, 1, 8, 8))).astype(np.float32)} for i in range(2)]
    out = tmp_path / "calibrated.int8.ort.onnx"
    stats = make_ort_encoding(trt, out, feeds)
    assert stats["quantized_outputs"] == 1  # the logits of the head Gemm
    model = onnx.load(str(out))
    assert [o.name for o in model.graph.output] == [o.name for o in onnx.load(str(trt)).graph.output]
    assert model.graph.node and any(
        n.op_type == "QuantizeLinear" and n.input[0].endswith("_before_q") for n in model.graph.node
    )
    assert verify_int8(q.model, out, 0.08, sample=feeds[0]).passed
