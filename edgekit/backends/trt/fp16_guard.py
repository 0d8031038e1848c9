"""fp16 that cannot be trusted, found per node: convert the ONNX graph to fp16, expose every float tensor, compare
each node's output with the fp32 graph's in ONNX Runtime, and keep the first offending node in fp32 (the
converter's block list); repeat until no node offends.

A node offends when its fp16 output holds non-finite values where fp32 does not (overflow past 65504) or when
``max |fp16 - fp32| / max |fp32|`` exceeds the fp16 tolerance (precision lost: tiny weights that fp16 flushes, a
large sum that swallows a small one). Blocking the first one at a time matters: an overflowed tensor poisons
everything after it, so later nodes are only judged once the earlier ones run in fp32.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from edgekit.backends.trt.fp16_block import float_tensors

FP16_REL_TOL = 1e-2
"""fp16 keeps ~3 decimal digits; errors accumulate over layers: 1e-2 of a tensor's range, as tolerance_for does."""


@dataclasses.dataclass
class UnsafeNode:
    """A node kept fp32, and why."""

    node: str
    op: str
    reason: str
    norm_error: float

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def expose_outputs(model: Any, tensors: Iterable[str]) -> tuple[Any, list[str]]:
    """A copy of ``model`` (ModelProto) that also outputs ``tensors`` (those some node produces)."""
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    typed = {v.name: v for v in list(copy.graph.value_info) + list(copy.graph.input) + list(copy.graph.output)}
    present = {o.name for o in copy.graph.output}
    added = []
    produced = {t for n in copy.graph.node for t in n.output}
    for name in dict.fromkeys(tensors):
        if name in present or name not in produced:
            continue
        vi = onnx.ValueInfoProto()
        if name in typed and typed[name].type.HasField("tensor_type"):
            vi.CopyFrom(typed[name])
        else:  # no recorded type (a tensor a rewrite renamed): ONNX Runtime infers it
            vi = onnx.helper.make_empty_tensor_value_info(name)
        copy.graph.output.append(vi)
        added.append(name)
    return copy, added


def _session(model: Any) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _run(model: Any, tensors: Sequence[str], feeds: Sequence[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    exposed, _ = expose_outputs(model, tensors)
    sess = _session(exposed)
    names = [o.name for o in sess.get_outputs()]
    wanted = {i.name for i in sess.get_inputs()}
    return [dict(zip(names, sess.run(names, {k: v for k, v in f.items() if k in wanted}), strict=True)) for f in feeds]


def _offence(got: np.ndarray, ref: np.ndarray, tol: float) -> tuple[str, float] | None:
    g, r = got.astype(np.float64), ref.astype(np.float64)
    if r.size == 0 or not np.isfinite(r).all():
        return None
    if not np.isfinite(g).all():
        return f"non-finite fp16 values (fp32 max |x| = {np.max(np.abs(r)):.3g}, fp16 max 65504)", float("inf")
    err = float(np.max(np.abs(g - r)) / (np.max(np.abs(r)) + 1e-12))
    return (f"relative error {err:.2g} > {tol:g}", err) if err > tol else None


def find_unsafe(
    model: Any, feeds: Sequence[dict[str, np.ndarray]], *, tol: float = FP16_REL_TOL, max_nodes: int = 32
) -> list[UnsafeNode]:
    """The nodes of ``model`` (an fp32 ModelProto) to keep in fp32 so that fp16 matches fp32 on ``feeds``, in
    the order they were found (see the module doc). At most ``max_nodes`` are blocked."""
    import onnx

    from edgekit.backends.trt.precision import convert_to_fp16

    if len(model.graph.value_info) < len(model.graph.node) // 2:
        model = onnx.shape_inference.infer_shapes(model)
    floats = float_tensors(model.graph)
    outs = [o for n in model.graph.node for o in n.output if o in floats]
    ref = _run(model, outs, feeds)
    found: list[UnsafeNode] = []
    while len(found) < max_nodes:
        trial = onnx.ModelProto()
        trial.CopyFrom(model)
        got = _run(convert_to_fp16(trial, block={u.node for u in found}), outs, feeds)
        bad = _first_offender(model, {u.node for u in found}, floats, ref, got, tol)
        if bad is None:
            break
        found.append(bad)
    return found


def _first_offender(
    model: Any, blocked: set[str], floats: set[str], ref: list[dict[str, Any]], got: list[dict[str, Any]], tol: float
) -> UnsafeNode | None:
    for node in model.graph.node:
        if node.name in blocked or not node.name:
            continue
        for o in node.output:
            if o not in floats:
                continue
            for r, g in zip(ref, got, strict=True):
                if o in r and o in g:
                    hit = _offence(g[o], r[o], tol)
                    if hit is not None:
                        return UnsafeNode(node.name, node.op_type, hit[0], hit[1])
    return None
