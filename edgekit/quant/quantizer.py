"""A symmetric INT8 quantizer for torchao's pt2e flow that encodes TensorRT's placement rules, and the graph
capture / convert steps around it.

TensorRT's explicit quantization (see ../shared/TRAPS.md and docs/quantization.md) wants:

* symmetric int8 everywhere: every zero point 0 (its parser refuses anything else); activations use the full
  range [-128, 127], weights the narrow one [-127, 127];
* weights per output channel, axis 0, for Conv and Gemm (Linear); activations per tensor;
* Q/DQ only on the *inputs* of Conv, ConvTranspose, Gemm/MatMul, so that TensorRT fuses Conv+BN+ReLU (extra
  Q/DQ pairs on outputs break its fusions); BatchNorm is folded into the conv by convert;
* ConvTranspose weights per tensor (per-channel support on deconvolution is doubtful), or the layer left float;
* LSTM/GRU cells, norms, embeddings and attention's activation-by-activation MatMuls stay float.

The quantizer only annotates the graph: torchao's ``prepare_pt2e`` / ``prepare_qat_pt2e`` insert observers or
fake quantization from the annotations, and ``convert_pt2e`` turns them into quantize/dequantize ops that the
dynamo ONNX exporter writes as QuantizeLinear/DequantizeLinear.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any

import torch
from torch.fx import GraphModule, Node
from torchao.quantization.pt2e import (  # type: ignore[import-untyped]
    FakeQuantize,
    FusedMovingAvgObsFakeQuantize,
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver,
    PerChannelMinMaxObserver,
)
from torchao.quantization.pt2e.quantizer import (  # type: ignore[import-untyped]
    QuantizationAnnotation,
    QuantizationSpec,
    Quantizer,
)

from edgekit.core.errors import BadInput, one_line
from edgekit.core.model import FlatOutputs, LoadedModel

ACT_QMIN, ACT_QMAX = -128, 127
WEIGHT_QMIN, WEIGHT_QMAX = -127, 127

_aten = torch.ops.aten
CONV_OPS = frozenset(
    {
        _aten.conv1d.default,
        _aten.conv2d.default,
        _aten.conv3d.default,
        _aten.conv1d.padding,
        _aten.conv2d.padding,
        _aten.conv3d.padding,
    }
)
CONV_TRANSPOSE_OPS = frozenset(
    {_aten.conv_transpose1d.default, _aten.conv_transpose2d.input, _aten.conv_transpose3d.input}
)
LINEAR_OPS = frozenset({_aten.linear.default})
MATMUL_OPS = frozenset({_aten.matmul.default, _aten.bmm.default, _aten.mm.default})
SDPA = _aten.scaled_dot_product_attention.default
QUANTIZABLE_OPS = CONV_OPS | CONV_TRANSPOSE_OPS | LINEAR_OPS | MATMUL_OPS

# Layers with parameters that stay float on purpose, and why (the report's "float layers").
FLOAT_REASONS = {
    "LSTM": "recurrent cell: TensorRT and ONNX Runtime run it in float",
    "GRU": "recurrent cell: TensorRT and ONNX Runtime run it in float",
    "RNN": "recurrent cell: TensorRT and ONNX Runtime run it in float",
    "BatchNorm1d": "norm: folded into the preceding conv/linear when there is one, else float",
    "BatchNorm2d": "norm: folded into the preceding conv when there is one, else float",
    "BatchNorm3d": "norm: folded into the preceding conv when there is one, else float",
    "LayerNorm": "norm: kept float",
    "GroupNorm": "norm: kept float",
    "InstanceNorm1d": "norm: kept float",
    "InstanceNorm2d": "norm: kept float",
    "Embedding": "lookup table: nothing to multiply",
}


@dataclasses.dataclass(frozen=True)
class QuantPolicy:
    """What to quantize and how to observe it.

    Args:
        conv_transpose: ``per_tensor`` (weights per tensor: TensorRT's safe choice) or ``float``.
        matmul: also quantize both inputs of activation-by-activation MatMuls (off: attention stays float).
        skip: module names (as in ``named_modules``) whose ops stay float, e.g. a sensitive first layer.
        qat: build fake-quantize modules (training) instead of observers (calibration).
        act_observer: observer class for activations in PTQ (default min/max; see :mod:`edgekit.quant.ptq`).
    """

    conv_transpose: str = "per_tensor"
    matmul: bool = False
    skip: tuple[str, ...] = ()
    qat: bool = False
    act_observer: Any = None


def activation_spec(policy: QuantPolicy) -> QuantizationSpec:
    """Per-tensor symmetric int8 for activations (zero point 0, full range)."""
    common = {"dtype": torch.int8, "qscheme": torch.per_tensor_symmetric, "quant_min": ACT_QMIN, "quant_max": ACT_QMAX}
    if policy.qat:
        ctr = FusedMovingAvgObsFakeQuantize.with_args(
            observer=MovingAverageMinMaxObserver, averaging_constant=0.01, **common
        )
    else:
        ctr = (policy.act_observer or MinMaxObserver).with_args(**common)
    return QuantizationSpec(observer_or_fake_quant_ctr=ctr, **common)


def weight_spec(policy: QuantPolicy, per_channel: bool) -> QuantizationSpec:
    """Symmetric int8 weights (narrow range): per output channel on axis 0, or per tensor."""
    if per_channel:
        common: dict[str, Any] = {
            "dtype": torch.int8,
            "qscheme": torch.per_channel_symmetric,
            "quant_min": WEIGHT_QMIN,
            "quant_max": WEIGHT_QMAX,
            "ch_axis": 0,
        }
        if policy.qat:
            # averaging_constant=1: the range follows the current weights, not a stale average
            ctr = FusedMovingAvgObsFakeQuantize.with_args(
                observer=MovingAveragePerChannelMinMaxObserver, averaging_constant=1.0, **common
            )
        else:
            ctr = PerChannelMinMaxObserver.with_args(**common)
        return QuantizationSpec(observer_or_fake_quant_ctr=ctr, **common)
    common = {
        "dtype": torch.int8,
        "qscheme": torch.per_tensor_symmetric,
        "quant_min": WEIGHT_QMIN,
        "quant_max": WEIGHT_QMAX,
    }
    if policy.qat:
        ctr = FakeQuantize.with_args(observer=MovingAverageMinMaxObserver, averaging_constant=1.0, **common)
    else:
        ctr = MinMaxObserver.with_args(**common)
    return QuantizationSpec(observer_or_fake_quant_ctr=ctr, **common)


def _strip_root(path: str) -> str:
    for prefix in ("L['self'].", "L__self__.", "module."):
        if path.startswith(prefix):
            path = path[len(prefix) :]
    return path


def module_path(node: Node) -> str:
    """The dotted module name a graph node came from (``features.0``), or ''."""
    stack = node.meta.get("nn_module_stack") or {}
    return _strip_root(str(list(stack.values())[-1][0])) if stack else ""


def module_type(node: Node) -> str:
    """The class name of the module a graph node came from (``Conv2d``), or ''."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    cls = list(stack.values())[-1][1]
    return cls.__name__ if isinstance(cls, type) else str(cls).rsplit(".", 1)[-1].strip("'>")


def layer_name(node: Node) -> str:
    """A layer's name for the report: its weight's parameter name without ``.weight`` (``features.0``,
    ``encoder.layers.0.self_attn.in_proj``), else the module it came from, else the node's name."""
    w = node.args[1] if len(node.args) > 1 else None
    if isinstance(w, Node) and w.op == "get_attr":
        name = _strip_root(str(w.target))
        for suffix in (".weight", "_weight"):
            if name.endswith(suffix):
                return name[: -len(suffix)]
        return name
    return module_path(node) or node.name


def _is_param(node: Any) -> bool:
    return isinstance(node, Node) and node.op == "get_attr"


class TensorRTInt8Quantizer(Quantizer):  # type: ignore[misc]
    """Annotates the inputs of Conv / ConvTranspose / Linear (and MatMul with a constant operand, or both
    activations when asked) for symmetric int8, following TensorRT's placement rules.

    After :meth:`annotate`, :attr:`quantized` maps layer names to what was done (``Conv2d: int8 input
    per-tensor, weight per-channel axis 0``) and :attr:`float_ops` lists quantizable ops left float, with why.
    """

    def __init__(self, policy: QuantPolicy | None = None) -> None:
        super().__init__()
        self.policy = policy or QuantPolicy()
        if self.policy.conv_transpose not in ("per_tensor", "float"):
            raise BadInput(f"conv_transpose policy must be 'per_tensor' or 'float', got '{self.policy.conv_transpose}'")
        self.quantized: dict[str, str] = {}
        self.float_ops: dict[str, str] = {}
        self.skip_hits: set[str] = set()

    def _skipped(self, node: Node) -> bool:
        """A skip entry names the node's module (or one around it) or its layer (``layer_name``); the entries
        that matched are recorded in :attr:`skip_hits` (an entry matching nothing is a typo)."""
        names = (module_path(node), layer_name(node))
        hits = [s for s in self.policy.skip if any(n == s or n.startswith(s + ".") for n in names)]
        self.skip_hits.update(hits)
        return bool(hits)

    def annotate(self, model: GraphModule) -> GraphModule:
        act = activation_spec(self.policy)
        for node in model.graph.nodes:
            if node.op != "call_function":
                continue
            if node.target == SDPA and not self.policy.matmul:
                self.float_ops[module_path(node) + " (attention)"] = "scaled-dot-product attention: kept float"
            if node.target not in QUANTIZABLE_OPS:
                continue
            name, kind = layer_name(node), module_type(node)
            if self._skipped(node):
                self.float_ops[name] = f"{kind or node.target}: skipped by request"
            elif node.target in CONV_OPS or node.target in LINEAR_OPS:
                self._annotate(node, {node.args[0]: act, node.args[1]: weight_spec(self.policy, True)})
                self.quantized[name] = f"{kind or 'Conv/Gemm'}: int8 input per-tensor, weight per-channel axis 0"
            elif node.target in CONV_TRANSPOSE_OPS:
                if self.policy.conv_transpose == "float":
                    self.float_ops[name] = f"{kind or 'ConvTranspose'}: kept float (--conv-transpose float)"
                    continue
                self._annotate(node, {node.args[0]: act, node.args[1]: weight_spec(self.policy, False)})
                self.quantized[name] = f"{kind or 'ConvTranspose'}: int8 input per-tensor, weight per-tensor"
            else:
                self._annotate_matmul(node, act, name)
        return model

    @staticmethod
    def _annotate(node: Node, qmap: dict[Any, QuantizationSpec]) -> None:
        qmap = {k: v for k, v in qmap.items() if isinstance(k, Node)}
        node.meta["quantization_annotation"] = QuantizationAnnotation(input_qspec_map=qmap, _annotated=True)

    def _annotate_matmul(self, node: Node, act: QuantizationSpec, name: str) -> None:
        a, b = node.args[0], node.args[1]
        if _is_param(b):
            self._annotate(node, {a: act, b: weight_spec(self.policy, False)})
            self.quantized[name] = "MatMul: int8 input per-tensor, weight per-tensor"
        elif self.policy.matmul:
            self._annotate(node, {a: act, b: act})
            self.quantized[name] = "MatMul: int8 inputs per-tensor"
        else:
            self.float_ops[name] = "MatMul of two activations: kept float"

    def validate(self, model: GraphModule) -> None:
        """Nothing to check beyond what :meth:`annotate` enforces."""


def float_layers(module: torch.nn.Module, quantized: dict[str, str]) -> dict[str, str]:
    """Leaf modules with parameters of their own that no quantized layer covers, with the reason."""
    root = module.module if isinstance(module, FlatOutputs) else module
    out: dict[str, str] = {}
    for name, mod in root.named_modules():
        if not name or any(True for _ in mod.children()) or not any(True for _ in mod.parameters(False)):
            continue
        if name in quantized or any(q.startswith(name + ".") for q in quantized):
            continue
        kind = type(mod).__name__
        if kind in FLOAT_REASONS:
            out[name] = f"{kind}: {FLOAT_REASONS[kind]}"
        elif isinstance(mod, (torch.nn.Linear, torch.nn.modules.conv._ConvNd)):
            out[name] = f"{kind}: not on the deployed forward path (used in training only)"
        else:
            out[name] = f"{kind}: no int8 placement rule for this layer type"
    return out


# -- capture and convert --------------------------------------------------------------------------------------------


def capture(model: LoadedModel, *, train: bool) -> tuple[GraphModule, LoadedModel]:
    """``torch.export`` a copy of the model (its :class:`FlatOutputs` wrapper) into the ATen graph pt2e works
    on, with the model's dynamic axes, in training mode for QAT (BatchNorm batch statistics, dropout) or in
    eval mode for PTQ.

    torch.export cannot keep some axes dynamic (it unrolls ``nn.LSTM``/``nn.GRU`` over time); those are captured
    at their example size (at least 2) and the returned model's specs hold them static, so the INT8 files are
    exported and verified at that size. The axes are listed in ``frozen_axes(model, returned)``.

    Returns:
        The captured graph and ``model`` with its specs as captured.

    Raises:
        BadInput: torch.export cannot capture the model.
    """
    import copy

    from edgekit.export.common import export_example, quiet_export
    from edgekit.export.pt2 import dynamic_shapes
    from edgekit.export.pt2 import frozen_axes as program_frozen_axes

    # a copy: the captured graph shares tensors with the module it came from, and QAT trains it in place
    module = copy.deepcopy(model.module)
    module.train(train)
    example = export_example(model)
    try:
        with quiet_export():
            try:
                program = torch.export.export(module, example, dynamic_shapes=dynamic_shapes(model), strict=False)
            except Exception:  # retry letting torch specialize axes it cannot keep dynamic (recurrent cells)
                program = torch.export.export(
                    module, example, dynamic_shapes=dynamic_shapes(model, "AUTO"), strict=False
                )
    except Exception as exc:  # torch.export raises many types
        raise BadInput(
            f"cannot capture the model for quantization: torch.export failed: {one_line(exc)}; "
            f"check that forward has no data-dependent control flow"
        ) from exc
    frozen = {(n, int(a)) for n, _, a in (f.rpartition(":") for f in program_frozen_axes(program, model))}
    specs = [
        dataclasses.replace(
            s,
            dynamic=tuple(a for a in s.dynamic if (s.name, a) not in frozen),
            shape=tuple(int(t.shape[a]) if (s.name, a) in frozen else d for a, d in enumerate(s.shape)),
        )
        for s, t in zip(model.inputs, example, strict=True)
    ]
    gm: GraphModule = program.module()
    return gm, dataclasses.replace(model, inputs=specs)


def frozen_axes(model: LoadedModel, captured: LoadedModel) -> list[str]:
    """Axes dynamic in ``model`` but static in ``captured``, as ``NAME:AXIS=SIZE``."""
    return [
        f"{a.name}:{ax}={b.shape[ax]}"
        for a, b in zip(model.inputs, captured.inputs, strict=True)
        for ax in a.dynamic
        if ax not in b.dynamic
    ]


def require_quantizable(quantizer: TensorRTInt8Quantizer, model: LoadedModel) -> None:
    """Raise when the annotation found nothing to quantize.

    Raises:
        BadInput: no Conv / ConvTranspose / Linear / MatMul with a weight in the model.
    """
    unmatched = [s for s in quantizer.policy.skip if s not in quantizer.skip_hits]
    if unmatched:
        layers = sorted(set(quantizer.quantized) | {k for k, v in quantizer.float_ops.items() if "skipped" in v})
        raise BadInput(
            f"--keep-float/--skip {', '.join(unmatched)} names no quantizable layer of '{model.source}'; "
            f"expected one of: {', '.join(layers)} (or a module holding them)"
        )
    if not quantizer.quantized:
        kinds = sorted({type(m).__name__ for m in model.module.modules() if any(True for _ in m.parameters(False))})
        raise BadInput(
            f"'{model.source}' has no layer edgekit can quantize to INT8: expected Conv, ConvTranspose, "
            f"Linear or MatMul with weights, found {', '.join(kinds) or 'no layers with parameters'}; "
            f"deploy it in fp32/fp16 instead"
        )


def set_attention_dropout(gm: GraphModule, train: bool) -> None:
    """Switch scaled-dot-product attention's dropout between training (its exported ``dropout_p``) and eval
    (0): torchao's train/eval switch covers dropout and BatchNorm nodes but not this argument."""
    for node in gm.graph.nodes:
        if node.op != "call_function" or node.target != SDPA:
            continue
        args = list(node.args)
        if len(args) > 4:
            node.meta.setdefault("edgekit_dropout_p", args[4])
            args[4] = node.meta["edgekit_dropout_p"] if train else 0.0
            node.args = tuple(args)
        elif "dropout_p" in node.kwargs:
            node.meta.setdefault("edgekit_dropout_p", node.kwargs["dropout_p"])
            node.kwargs = {**node.kwargs, "dropout_p": node.meta["edgekit_dropout_p"] if train else 0.0}
    gm.recompile()


def allow_train_eval(gm: GraphModule) -> GraphModule:
    """Let ``gm.train()`` / ``gm.eval()`` work on a prepared graph (task loops and DDP call them): dropout,
    BatchNorm and attention dropout switch modes."""
    from torchao.quantization.pt2e import move_exported_model_to_eval, move_exported_model_to_train

    def _train(self: GraphModule, mode: bool = True) -> GraphModule:
        (move_exported_model_to_train if mode else move_exported_model_to_eval)(self)
        set_attention_dropout(self, mode)
        self.training = mode
        return self

    def _eval(self: GraphModule) -> GraphModule:
        return _train(self, False)

    gm.train = types.MethodType(_train, gm)  # type: ignore[method-assign]
    gm.eval = types.MethodType(_eval, gm)  # type: ignore[method-assign]
    return gm


def convert(prepared: GraphModule) -> GraphModule:
    """``convert_pt2e`` in eval mode: observers/fake-quant become quantize/dequantize ops, weights are stored
    quantized (int8 constants behind a DequantizeLinear), BatchNorm is folded into the preceding conv."""
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e  # type: ignore[import-untyped]

    move_exported_model_to_eval(prepared)
    set_attention_dropout(prepared, False)
    converted: GraphModule = convert_pt2e(prepared)
    set_attention_dropout(converted, False)
    return converted


def as_loaded(converted: GraphModule, model: LoadedModel, source: str) -> LoadedModel:
    """The converted Q/DQ graph as a :class:`LoadedModel` with the original inputs and outputs (its ``predict``
    is the torch reference the INT8 ONNX files are verified against)."""
    return LoadedModel(converted, list(model.inputs), list(model.outputs), source, model.recipe, model.atol, model.rtol)
