"""The TensorRT placement rules: what is annotated, how, and what stays float; percentile/entropy ranges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgekit.core.errors import BadInput
from edgekit.intake.load import load_model
from edgekit.quant.ptq import entropy_threshold, percentile_threshold
from edgekit.quant.quantizer import (
    QuantPolicy,
    TensorRTInt8Quantizer,
    capture,
    float_layers,
    frozen_axes,
    require_quantizable,
    set_attention_dropout,
)


def _annotated(ref: str, policy: QuantPolicy | None = None, **load: object):  # type: ignore[no-untyped-def]
    model = load_model(ref, **load)  # type: ignore[arg-type]
    gm, captured = capture(model, train=False)
    quantizer = TensorRTInt8Quantizer(policy)
    quantizer.annotate(gm)
    return model, gm, captured, quantizer


def _specs(gm: torch.fx.GraphModule) -> dict[str, list[tuple[object, int | None]]]:
    """Annotated op -> [(qscheme, ch_axis) of each annotated input]."""
    out = {}
    for n in gm.graph.nodes:
        ann = n.meta.get("quantization_annotation")
        if ann is not None:
            out[n.name] = [(s.qscheme, s.ch_axis) for s in ann.input_qspec_map.values()]
    return out


def test_conv_and_linear_get_symmetric_int8_per_channel_weights(tiny_models: Path) -> None:
    _, gm, _, q = _annotated(f"{tiny_models}:conv_net", inputs=["x:2x1x8x8"])
    assert set(q.quantized) == {"features.0", "head"}
    for specs in _specs(gm).values():
        act, weight = specs
        assert act == (torch.per_tensor_symmetric, None)
        assert weight == (torch.per_channel_symmetric, 0)
    ann = next(n.meta["quantization_annotation"] for n in gm.graph.nodes if "quantization_annotation" in n.meta)
    act_spec, w_spec = ann.input_qspec_map.values()
    assert (act_spec.dtype, act_spec.quant_min, act_spec.quant_max) == (torch.int8, -128, 127)
    assert (w_spec.dtype, w_spec.quant_min, w_spec.quant_max) == (torch.int8, -127, 127)


def test_conv_transpose_per_tensor_lstm_and_norms_float(tiny_models: Path) -> None:
    model, gm, captured, q = _annotated(f"{tiny_models}:mixed", inputs=["x:2x4x2x2"])
    assert q.quantized["up"].startswith("ConvTranspose2d") and "weight per-tensor" in q.quantized["up"]
    assert "per-channel axis 0" in q.quantized["proj"]
    floats = float_layers(model.module, q.quantized)
    assert floats["lstm"].startswith("LSTM: recurrent")
    assert floats["bn"].startswith("BatchNorm2d")
    weights = [s[1] for s in _specs(gm).values()]
    assert (torch.per_tensor_symmetric, None) in weights  # the ConvTranspose weight


def test_conv_transpose_float_policy_and_skip(tiny_models: Path) -> None:
    _, _, _, q = _annotated(
        f"{tiny_models}:mixed", QuantPolicy(conv_transpose="float", skip=("proj",)), inputs=["x:2x4x2x2"]
    )
    assert q.quantized == {}
    assert "kept float" in q.float_ops["up"] and "skipped" in q.float_ops["proj"]


def test_no_quantizable_layer_is_bad_input(tiny_models: Path) -> None:
    model, _, _, q = _annotated(f"{tiny_models}:norm_only", inputs=["x:2x6"])
    with pytest.raises(BadInput, match="no layer edgekit can quantize"):
        require_quantizable(q, model)


def test_unknown_conv_transpose_policy() -> None:
    with pytest.raises(BadInput, match="per_tensor"):
        TensorRTInt8Quantizer(QuantPolicy(conv_transpose="per_channel"))


def test_recurrent_time_axis_is_reported_frozen() -> None:
    model = load_model("lstm")
    _, captured = capture(model, train=False)
    assert frozen_axes(model, captured) == ["x:1=8"]
    assert captured.inputs[0].dynamic == (0,)


def test_attention_dropout_switches_with_eval() -> None:
    model = load_model("transformer")
    gm, _ = capture(model, train=True)
    x = torch.randn(3, 8, 8)
    set_attention_dropout(gm, False)
    from torchao.quantization.pt2e import move_exported_model_to_eval

    move_exported_model_to_eval(gm)
    with torch.no_grad():
        a, b = gm(x)[0], gm(x)[0]
    assert torch.equal(a, b)  # no dropout left anywhere in eval
    set_attention_dropout(gm, True)
    ps = [n.args[4] for n in gm.graph.nodes if n.target == torch.ops.aten.scaled_dot_product_attention.default]
    assert ps and all(p > 0 for p in ps)


def test_percentile_and_entropy_clip_outliers() -> None:
    rng = np.random.default_rng(0)
    values = np.abs(np.concatenate([rng.normal(0, 1, 200_000), [40.0]]))
    hist, _ = np.histogram(values, bins=2048, range=(0, values.max()))
    top = float(values.max())
    p = percentile_threshold(hist, top, 99.99)
    e = entropy_threshold(hist, top)
    assert 3.0 < p < 6.0
    assert 2.0 < e < 20.0
    assert e < top and p < top
