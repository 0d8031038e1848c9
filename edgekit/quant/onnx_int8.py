"""INT8 ONNX: the Q/DQ file for TensorRT, its re-encoding for ONNX Runtime's CPU EP, and their checks.

One set of learned or calibrated ranges, two encodings (TRAPS.md, "Symmetric activations are slow on ONNX
Runtime's CPU EP"):

``*.int8.trt.onnx`` (TensorRT)
    What convert + the dynamo exporter produce: symmetric int8, every zero point 0, weights as int8 constants
    behind DequantizeLinear (per channel, axis 0 for Conv/Gemm; axis of the output channel for MatMul
    weights), activations per tensor, Q/DQ only on the inputs of Conv/ConvTranspose/Gemm/MatMul.
    :func:`validate_trt` fails on anything TensorRT's parser would refuse.

``*.int8.ort.onnx`` (ONNX Runtime, CPU)
    The same ranges re-encoded so ORT's QDQ fusions fire: activations whose range is non-negative by
    construction (after Relu, Sigmoid, Softmax ...) become uint8 over [0, max] with zero point 0 (scale x127/255:
    finer steps over the same range), so ORT drops the Relu and fuses Conv+Relu+Q into QLinearConv; other
    activations become uint8 with zero point 128 (the same grid); each Q/DQ pair is copied backwards through
    MaxPool/Reshape/Flatten/... to the producing Conv/Gemm/Relu so pooling runs in int8 too; ConvTranspose,
    which has no int8 kernel in ORT, gets float weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.core.errors import BadInput, VerificationFailed, one_line
from edgekit.core.model import LoadedModel

TRT_SUFFIX = ".int8.trt.onnx"
ORT_SUFFIX = ".int8.ort.onnx"
QDQ = ("QuantizeLinear", "DequantizeLinear")
WEIGHTED = ("Conv", "ConvTranspose", "Gemm", "MatMul")
# ops whose output is >= 0 whatever their input, and ops that keep a non-negative input non-negative
NONNEG_OPS = ("Relu", "Sigmoid", "Softmax", "Abs", "Exp", "Sqrt")
NONNEG_KEEPERS = (
    "MaxPool",
    "GlobalMaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "ReduceMax",
    "ReduceMean",
    "Reshape",
    "Flatten",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Identity",
    "Slice",
    "Gather",
    "Concat",
    "Mul",
)
# ops a Q/DQ pair is copied backwards through in the ORT encoding: monotonic or data-moving, so quantizing before
# or after them gives the same values, and ORT runs them on int8 data
PASS_THROUGH = ("MaxPool", "GlobalMaxPool", "ReduceMax", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze")
INT8_PRODUCERS = ("Conv", "Gemm", "MatMul")


# -- export --------------------------------------------------------------------------------------------------------


def export_qdq(qmodel: LoadedModel, path: Path, opset: int = 18) -> dict[str, Any]:
    """Export the converted Q/DQ model with the dynamo exporter (under no_grad, every dynamic axis kept), fold
    transposed weights into their int8 constants, check with ``onnx.checker`` and write ``path`` atomically.

    Raises:
        BadInput: the exporter or the checker refuses the model.
    """
    import onnx
    import torch

    from edgekit.core.io import atomic_path
    from edgekit.export.common import export_example, quiet_export
    from edgekit.export.onnx import check_onnx
    from edgekit.export.pt2 import dynamic_shapes

    with quiet_export(), torch.no_grad():
        try:
            program = torch.onnx.export(
                qmodel.module,
                export_example(qmodel),
                dynamo=True,
                opset_version=opset,
                input_names=qmodel.input_names,
                output_names=qmodel.outputs,
                dynamic_shapes=tuple(dynamic_shapes(qmodel)["args"]),
                optimize=True,
                verbose=False,
            )
        except Exception as exc:  # the exporter raises many types
            raise BadInput(f"INT8 ONNX export failed: {one_line(exc)}") from exc
    proto = program.model_proto  # type: ignore[union-attr]
    folded = fold_weight_transposes(proto)
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))
        check_onnx(tmp)
    return {"exporter": "dynamo", "opset": opset, "folded_weight_transposes": folded}


# -- graph helpers -------------------------------------------------------------------------------------------------


class Graph:
    """Lookups over an ONNX graph: constants by name (initializers and Constant nodes), producers, consumers."""

    def __init__(self, model: Any) -> None:
        from onnx import numpy_helper

        self.model = model
        self.graph = model.graph
        self.inits = {i.name: i for i in self.graph.initializer}
        self.const_nodes = {n.output[0]: n for n in self.graph.node if n.op_type == "Constant"}
        self._np = numpy_helper
        self.refresh()

    def refresh(self) -> None:
        self.producer = {o: n for n in self.graph.node for o in n.output}
        self.consumers: dict[str, list[Any]] = {}
        for n in self.graph.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        for o in self.graph.output:
            self.consumers.setdefault(o.name, []).append(None)

    def const(self, name: str) -> np.ndarray | None:
        if name in self.inits:
            return self._np.to_array(self.inits[name])
        node = self.const_nodes.get(name)
        if node is not None:
            for a in node.attribute:
                if a.name == "value":
                    return self._np.to_array(a.t)
        return None

    def add_const(self, name: str, value: np.ndarray) -> str:
        """Add an initializer named ``name`` (made unique) holding ``value``; returns its name."""
        base, k = name, 0
        while name in self.inits or name in self.producer:
            k += 1
            name = f"{base}_{k}"
        init = self._np.from_array(np.asarray(value), name)
        self.graph.initializer.append(init)
        self.inits[name] = init
        return name


def _attr(node: Any, name: str, default: Any = None) -> Any:
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _set_attr(node: Any, name: str, value: Any) -> None:
    import onnx

    for a in list(node.attribute):
        if a.name == name:
            node.attribute.remove(a)
    node.attribute.append(onnx.helper.make_attribute(name, value))


def fold_weight_transposes(model: Any) -> int:
    """Replace DequantizeLinear(int8 constant) -> Transpose with DequantizeLinear(transposed constant) on the
    permuted axis: the exporter writes a Linear on 3-D input as Transpose(W) + MatMul, and both TensorRT and
    ONNX Runtime want the DequantizeLinear to feed the MatMul directly. Returns how many were folded."""
    g = Graph(model)
    folded = 0
    for dq in [n for n in g.graph.node if n.op_type == "DequantizeLinear"]:
        users = g.consumers.get(dq.output[0], [])
        w = g.const(dq.input[0])
        if w is None or len(users) != 1 or users[0] is None or users[0].op_type != "Transpose":
            continue
        tr = users[0]
        perm = list(_attr(tr, "perm", list(range(w.ndim))[::-1]))
        scale = g.const(dq.input[1])
        new_w = g.add_const(dq.input[0] + "_t", np.ascontiguousarray(np.transpose(w, perm)))
        dq.input[0] = new_w
        if scale is not None and scale.size > 1:
            _set_attr(dq, "axis", perm.index(int(_attr(dq, "axis", 1)) % w.ndim))
        dq.output[0] = tr.output[0]
        g.graph.node.remove(tr)
        g.refresh()
        folded += 1
    _drop_unused_initializers(g)
    return folded


def _drop_unused_initializers(g: Graph) -> None:
    used = {i for n in g.graph.node for i in n.input} | {o.name for o in g.graph.output}
    for init in list(g.graph.initializer):
        if init.name not in used:
            g.graph.initializer.remove(init)
            g.inits.pop(init.name, None)


# -- listing and the TensorRT validator ----------------------------------------------------------------------------


@dataclasses.dataclass
class QDQNode:
    """One QuantizeLinear/DequantizeLinear: what it quantizes and how."""

    name: str
    op: str
    tensor: str
    dtype: str
    zero_points: list[int]
    axis: int | None
    channels: int
    is_weight: bool
    feeds: list[str]

    def describe(self) -> str:
        where = f"per-channel axis {self.axis} ({self.channels})" if self.channels > 1 else "per-tensor"
        zps = sorted(set(self.zero_points))
        return (
            f"{self.op} {self.name}: {self.tensor} {self.dtype} zero_point={zps if len(zps) > 1 else zps[0]} "
            f"{where} -> {', '.join(self.feeds) or '-'}"
        )


def list_qdq(model: Any) -> list[QDQNode]:
    """Every Q/DQ node of ``model`` (an ONNX ModelProto or a path) with zero points, axis and consumers."""
    import onnx

    if not hasattr(model, "graph"):
        model = onnx.load(str(model))
    g = Graph(model)
    out = []
    for n in g.graph.node:
        if n.op_type not in QDQ:
            continue
        zp = g.const(n.input[2]) if len(n.input) > 2 and n.input[2] else None
        scale = g.const(n.input[1])
        channels = int(scale.size) if scale is not None else 1
        feeds = sorted({u.op_type if u is not None else "graph output" for u in g.consumers.get(n.output[0], [])})
        out.append(
            QDQNode(
                name=n.name or n.output[0],
                op=n.op_type,
                tensor=n.input[0],
                dtype=str(zp.dtype) if zp is not None else "uint8 (no zero point)",
                zero_points=[int(v) for v in np.unique(zp)] if zp is not None else [0],
                axis=int(_attr(n, "axis", 1)) if channels > 1 else None,
                channels=channels,
                is_weight=g.const(n.input[0]) is not None,
                feeds=feeds,
            )
        )
    return out


def validate_trt(path: str | Path) -> list[QDQNode]:
    """Check that ``path`` is a Q/DQ graph TensorRT's parser accepts: int8 everywhere with explicit zero point
    0, per-channel weights on the output-channel axis (0 for Conv and Gemm), Q/DQ only in front of weighted ops.

    Returns:
        The Q/DQ nodes (for the report).

    Raises:
        VerificationFailed: listing every offending node.
    """
    import onnx

    model = onnx.load(str(path))
    g = Graph(model)
    nodes = list_qdq(model)
    problems = []
    for q in nodes:
        if q.dtype != "int8" or any(z != 0 for z in q.zero_points):
            problems.append(f"{q.name}: zero point {q.zero_points} ({q.dtype}); TensorRT needs int8 with zero point 0")
        if q.op == "DequantizeLinear" and any(f not in (*WEIGHTED, "Transpose") for f in q.feeds):
            problems.append(f"{q.name}: feeds {q.feeds}; Q/DQ belongs on inputs of {', '.join(WEIGHTED)} only")
    for n in g.graph.node:
        if n.op_type not in ("Conv", "Gemm") or len(n.input) < 2:
            continue
        dq = g.producer.get(n.input[1])
        if dq is None or dq.op_type != "DequantizeLinear":
            continue
        scale = g.const(dq.input[1])
        want = 1 if n.op_type == "Gemm" and not _attr(n, "transB", 0) else 0
        if scale is not None and scale.size > 1 and int(_attr(dq, "axis", 1)) != want:
            problems.append(
                f"{dq.name}: weight of {n.op_type} '{n.name}' quantized on axis {_attr(dq, 'axis', 1)}; "
                f"TensorRT wants the output-channel axis {want}"
            )
    if not nodes:
        problems.append("no QuantizeLinear/DequantizeLinear nodes: the file is not quantized")
    if problems:
        raise VerificationFailed(
            f"'{path}' is not a valid TensorRT INT8 graph: "
            + "; ".join(problems[:8])
            + ("" if len(problems) <= 8 else f" (+{len(problems) - 8} more)")
        )
    return nodes


# -- the ONNX Runtime encoding -------------------------------------------------------------------------------------


def _chain_origin(g: Graph, tensor: str) -> tuple[Any, list[Any]]:
    """Walk back from ``tensor`` through pass-through ops to the op that computed it; returns (that op or None,
    the pass-through ops a Q/DQ pair may be copied in front of: nearest first, while each input has one user)."""
    crossed: list[Any] = []
    blocked = len(g.consumers.get(tensor, [])) != 1
    node = g.producer.get(tensor)
    while node is not None and node.op_type in PASS_THROUGH:
        if not blocked and len(g.consumers.get(node.input[0], [])) == 1:
            crossed.append(node)
        else:
            blocked = True
        node = g.producer.get(node.input[0])
    return node, crossed


def _int8_origin(g: Graph, tensor: str) -> tuple[bool, list[Any]]:
    """Whether ``tensor`` comes (through pass-through ops, and at most one Relu) from an op ORT runs in int8
    when its output is quantized, and the pass-through ops a Q/DQ pair may be copied in front of."""
    origin, crossed = _chain_origin(g, tensor)
    if origin is not None and origin.op_type == "Relu":
        origin = g.producer.get(origin.input[0])
    return origin is not None and origin.op_type in INT8_PRODUCERS, crossed


def is_nonnegative(g: Graph, tensor: str, depth: int = 0) -> bool:
    """True when ``tensor`` is >= 0 by construction (a Relu, Sigmoid ... possibly behind pooling/reshapes)."""
    node = g.producer.get(tensor)
    if node is None or depth > 32:
        return False
    if node.op_type in NONNEG_OPS:
        return True
    if node.op_type == "Clip" and len(node.input) > 1 and node.input[1]:
        low = g.const(node.input[1])
        return low is not None and float(low) >= 0
    if node.op_type in ("Concat", "Mul"):
        consts = [g.const(i) for i in node.input]
        return all(
            is_nonnegative(g, i, depth + 1) if c is None else float(np.min(c)) >= 0
            for i, c in zip(node.input, consts, strict=True)
        )
    if node.op_type in NONNEG_KEEPERS:
        return is_nonnegative(g, node.input[0], depth + 1)
    return False


def make_ort_encoding(
    trt_path: str | Path, ort_path: str | Path, calibration: Iterable[dict[str, np.ndarray]] | None = None
) -> dict[str, Any]:
    """Write the ONNX Runtime encoding of the TensorRT file (see the module doc) and check it.

    Args:
        calibration: input batches; when given, the outputs of quantized Conv/Gemm that no Q/DQ pair follows
            (a classifier's logits, say) get a uint8 pair with the range seen on them, so ORT runs those layers
            as QLinearConv/QGemm too (ORT's own quantize_static does the same). These ranges exist only in the
            ORT file: TensorRT's placement keeps outputs unquantized.

    Returns:
        What changed: re-encoded activations ([0, max] uint8 vs zero point 128), pairs copied through
        pooling/reshapes, quantized outputs, ConvTranspose weights made float, pairs dropped.
    """
    import onnx

    from edgekit.core.io import atomic_path
    from edgekit.export.onnx import check_onnx

    model = onnx.load(str(trt_path))
    g = Graph(model)
    stats = {
        "unsigned_0_max": 0,
        "uint8_zero_point_128": 0,
        "copied_through": 0,
        "quantized_outputs": 0,
        "float_conv_transpose": 0,
        "dropped_pairs": 0,
    }
    _float_conv_transpose(g, stats)
    for q in [n for n in g.graph.node if n.op_type == "QuantizeLinear" and g.const(n.input[0]) is None]:
        _reencode_activation(g, q, stats)
    if calibration is not None:
        _quantize_outputs(g, trt_path, list(calibration), stats)
    _drop_unused_initializers(g)
    with atomic_path(ort_path) as tmp:
        onnx.save(model, str(tmp))
        check_onnx(tmp)
    return stats


def _unquantized_outputs(g: Graph) -> list[str]:
    """Outputs (after a following Relu, if any) of Conv/Gemm with a quantized input and weight that no
    QuantizeLinear consumes, and that no float layer reads: a Conv/Gemm/MatMul/recurrent cell reading it
    directly was kept float (``--keep-float``), and a pair there would quantize its input after all."""
    out = []
    for n in g.graph.node:
        if n.op_type not in ("Conv", "Gemm") or len(n.input) < 2:
            continue
        if any(g.producer.get(i) is None or g.producer[i].op_type != "DequantizeLinear" for i in n.input[:2]):
            continue
        tensor = n.output[0]
        users = g.consumers.get(tensor, [])
        if len(users) == 1 and users[0] is not None and users[0].op_type == "Relu":
            tensor = users[0].output[0]
            users = g.consumers.get(tensor, [])
        if any(u is not None and u.op_type in WEIGHTED + ("LSTM", "GRU", "RNN") for u in users):
            continue
        if not any(u is not None and u.op_type == "QuantizeLinear" for u in users):
            out.append(tensor)
    return out


def _quantize_outputs(
    g: Graph, trt_path: str | Path, feeds: list[dict[str, np.ndarray]], stats: dict[str, int]
) -> None:
    """Give each tensor of :func:`_unquantized_outputs` a uint8 Q/DQ pair over its calibrated [min, max]
    (widened to hold 0)."""
    import onnx
    import onnxruntime as ort

    tensors = _unquantized_outputs(g)
    if not tensors or not feeds:
        return
    probe = onnx.load(str(trt_path))
    known = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(t) for t in tensors if t not in known)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    low = {t: 0.0 for t in tensors}
    high = {t: 0.0 for t in tensors}
    for feed in feeds:
        values = dict(zip(names, session.run(None, feed), strict=True))
        for t in tensors:
            low[t], high[t] = min(low[t], float(values[t].min())), max(high[t], float(values[t].max()))
    graph_outputs = {o.name for o in g.graph.output}
    for t in tensors:
        scale = max(high[t] - low[t], 1e-8) / 255.0
        zp = int(np.clip(round(-low[t] / scale), 0, 255))
        s_name = g.add_const(f"{t}_out_scale", np.array(scale, np.float32))
        z_name = g.add_const(f"{t}_out_zero_point", np.array(zp, np.uint8))
        src, prod = t, g.producer[t]
        if t in graph_outputs:  # keep the graph output's name: it becomes the DQ's output
            src = f"{t}_before_q"
            prod.output[list(prod.output).index(t)] = src
        users = [u for u in g.consumers.get(t, []) if u is not None]
        qname, dqname = f"{t}_out_q", (t if t in graph_outputs else f"{t}_out_dq")
        new_q = onnx.helper.make_node("QuantizeLinear", [src, s_name, z_name], [qname], name=qname)
        new_dq = onnx.helper.make_node("DequantizeLinear", [qname, s_name, z_name], [dqname], name=f"{t}_out_dq")
        idx = list(g.graph.node).index(prod) + 1
        g.graph.node.insert(idx, new_dq)
        g.graph.node.insert(idx, new_q)
        for u in users:
            for i, name in enumerate(u.input):
                if name == t:
                    u.input[i] = dqname
        for vi in [v for v in g.graph.value_info if v.name == t]:
            g.graph.value_info.remove(vi)
        g.refresh()
        stats["quantized_outputs"] += 1


def _float_conv_transpose(g: Graph, stats: dict[str, int]) -> None:
    """ORT has no int8 ConvTranspose: give it float weights; drop its input pair unless an int8 op produces
    the input (then the pair quantizes that op's output and lets it fuse)."""
    for node in [n for n in g.graph.node if n.op_type == "ConvTranspose"]:
        dq: Any = g.producer.get(node.input[1])
        w_int = g.const(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
        w_scale = g.const(dq.input[1]) if w_int is not None else None
        if w_int is not None and w_scale is not None:
            w, scale = w_int.astype(np.float32), w_scale.astype(np.float32)
            if scale.size > 1:
                shape = [1] * w.ndim
                shape[int(_attr(dq, "axis", 1))] = -1
                scale = scale.reshape(shape)
            node.input[1] = g.add_const(dq.input[0] + "_float", (w * scale).astype(np.float32))
            stats["float_conv_transpose"] += 1
        act_dq = g.producer.get(node.input[0])
        if act_dq is None or act_dq.op_type != "DequantizeLinear":
            continue
        q = g.producer.get(act_dq.input[0])
        if q is not None and not _int8_origin(g, q.input[0])[0]:
            node.input[0] = q.input[0]
            stats["dropped_pairs"] += 1
    g.refresh()
    for n in [n for n in g.graph.node if n.op_type in QDQ and not g.consumers.get(n.output[0])]:
        g.graph.node.remove(n)
    g.refresh()


def _reencode_activation(g: Graph, q: Any, stats: dict[str, int]) -> None:
    """Re-encode one activation Q and its DQs as uint8, and copy the pair back through pass-through ops."""
    scale = g.const(q.input[1])
    if scale is None or scale.size != 1:
        return
    s = float(scale.reshape(()))
    if is_nonnegative(g, q.input[0]):
        new_scale, zp = np.float32(s * 127.0 / 255.0), np.uint8(0)
        stats["unsigned_0_max"] += 1
    else:
        new_scale, zp = np.float32(s), np.uint8(128)
        stats["uint8_zero_point_128"] += 1
    s_name = g.add_const(f"{q.output[0]}_scale_u8", np.array(new_scale, np.float32))
    z_name = g.add_const(f"{q.output[0]}_zero_point_u8", np.array(zp, np.uint8))
    for n in [q, *[u for u in g.consumers.get(q.output[0], []) if u is not None and u.op_type == "DequantizeLinear"]]:
        n.input[1], n.input[2] = s_name, z_name
    for vi in [v for v in g.graph.value_info if v.name == q.output[0]]:  # recorded as int8; shape inference redoes it
        g.graph.value_info.remove(vi)
    fusable, crossed = _int8_origin(g, q.input[0])
    if not fusable:
        return
    for node in crossed:  # insert Q -> DQ in front of each pass-through op, same parameters
        import onnx

        src = node.input[0]
        qname, dqname = f"{src}_q_u8", f"{src}_dq_u8"
        new_q = onnx.helper.make_node("QuantizeLinear", [src, s_name, z_name], [qname], name=qname)
        new_dq = onnx.helper.make_node("DequantizeLinear", [qname, s_name, z_name], [dqname], name=dqname)
        idx = list(g.graph.node).index(node)
        g.graph.node.insert(idx, new_dq)
        g.graph.node.insert(idx, new_q)
        node.input[0] = dqname
        stats["copied_through"] += 1
    g.refresh()
