"""The engine-marking helper against a stand-in ``tensorrt`` (control flow only: no GPU, no TensorRT here)."""

from __future__ import annotations

import types

from edgekit.debug.trt import mark_all_outputs


class _Tensor:
    def __init__(self, name: str, dtype: str, out: bool = False) -> None:
        self.name, self.dtype, self.is_network_output = name, dtype, out


class _Layer:
    def __init__(self, *outs: _Tensor) -> None:
        self.outs = outs
        self.num_outputs = len(outs)

    def get_output(self, j: int) -> _Tensor:
        return self.outs[j]


class _Network:
    def __init__(self, layers: list[_Layer]) -> None:
        self.layers, self.marked = layers, []  # type: ignore[var-annotated]
        self.num_layers = len(layers)

    def get_layer(self, i: int) -> _Layer:
        return self.layers[i]

    def mark_output(self, t: _Tensor) -> None:
        self.marked.append(t.name)
        t.is_network_output = True


def test_marks_float_layer_outputs_once() -> None:
    trt = types.SimpleNamespace(float32="f32", float16="f16")
    net = _Network(
        [_Layer(_Tensor("conv", "f32")), _Layer(_Tensor("shape", "i64")), _Layer(_Tensor("logits", "f32", out=True))]
    )
    assert mark_all_outputs(net, trt) == ["conv"] and net.marked == ["conv"]
    net2 = _Network([_Layer(_Tensor("a", "f16"), _Tensor("b", "f32"))])
    assert mark_all_outputs(net2, trt, only={"b"}) == ["b"]
