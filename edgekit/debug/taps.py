"""The artifact's own intermediates, per format.

* ONNX: a temporary copy of the graph with the tensors leaving each module added as graph outputs, run in ONNX
  Runtime (CPU, one thread). Only the copy is changed; the artifact is read, never written.
* ``.pt2``: ``ExportedProgram.module()`` run node by node (``torch.fx.Interpreter``), every node's value kept.
* TorchScript: each traced submodule is called on the inputs eager gave that module (its *local* error).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgekit.backends.trt.fp16_guard import expose_outputs
from edgekit.core.errors import BadInput, one_line
from edgekit.debug.graph import TapGraph, fx_graph, onnx_graph


def load_onnx(path: Path) -> Any:
    """The ``onnx.ModelProto`` at ``path``, shapes inferred where the file has none.

    Raises:
        BadInput: not a readable ONNX file.
    """
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf raises DecodeError and friends
        raise BadInput(f"cannot read '{path}' as ONNX: {one_line(exc)}; expected a .onnx file") from exc
    if len(model.graph.value_info) < len(model.graph.node) // 2:
        try:
            model = onnx.shape_inference.infer_shapes(model)
        except Exception:  # a graph shape inference cannot type: keep what it has
            pass
    return model


def onnx_precision(model: Any) -> str:
    """``int8`` (Q/DQ nodes), ``fp16`` (fp16 initializers or casts to fp16) or ``fp32``."""
    import onnx

    ops = {n.op_type for n in model.graph.node}
    if ops & {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul"}:
        return "int8"
    fp16 = onnx.TensorProto.FLOAT16
    if any(t.data_type == fp16 for t in model.graph.initializer) or any(
        n.op_type == "Cast" and any(a.name == "to" and a.i == fp16 for a in n.attribute) for n in model.graph.node
    ):
        return "fp16"
    return "fp32"


class OnnxSession:
    """An ONNX Runtime session (CPU, one thread) over an in-memory ModelProto.

    Raises:
        BadInput: ONNX Runtime cannot load it.
    """

    def __init__(self, model: Any) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own Fail/InvalidArgument types
            raise BadInput(f"ONNX Runtime cannot load the instrumented copy: {one_line(exc)}") from exc
        self.names = [o.name for o in self.sess.get_outputs()]
        self.inputs = {i.name for i in self.sess.get_inputs()}

    def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every graph output by name.

        Raises:
            BadInput: it fails at these shapes.
        """
        try:
            values = self.sess.run(self.names, {k: v for k, v in feed.items() if k in self.inputs})
        except Exception as exc:  # a frozen axis, a wrong dtype
            raise BadInput(f"ONNX Runtime fails on the instrumented copy: {one_line(exc)}") from exc
        return dict(zip(self.names, values, strict=True))


def onnx_taps(path: Path, modules: set[str]) -> tuple[TapGraph, OnnxSession]:
    """The graph of the ONNX file at ``path`` and a session over a copy that outputs every module's tensors
    (those leaving a module's nodes, and those entering them)."""
    model = load_onnx(path)
    graph = onnx_graph(model, modules)
    wanted = [t for m in modules for t in graph.module_outputs(m) + graph.module_inputs(m)]
    copy, _ = expose_outputs(model, wanted)
    return graph, OnnxSession(copy)


def load_pt2_module(path: Path) -> Any:
    """``torch.export.load(path).module()``.

    Raises:
        BadInput: not a loadable ExportedProgram.
    """
    import torch

    try:
        return torch.export.load(str(path)).module()
    except Exception as exc:  # torch raises many types on a bad archive
        raise BadInput(f"cannot load '{path}' with torch.export.load: {one_line(exc)}; expected a .pt2 file") from exc


def fx_taps(gm: Any, modules: set[str], args: tuple[Any, ...]) -> tuple[TapGraph, dict[str, Any]]:
    """The graph of an FX GraphModule and every node's value on ``args`` (a Q/DQ reference or a ``.pt2``)."""
    import torch
    import torch.fx

    from edgekit.debug.capture import to_numpy

    graph = fx_graph(gm, modules)
    values: dict[str, Any] = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n: torch.fx.Node) -> Any:
            out = super().run_node(n)
            if isinstance(out, torch.Tensor):
                values[n.name] = to_numpy(out)
            return out

    with torch.inference_mode():
        out = Recorder(gm).run(*args)
    flat = out if isinstance(out, (tuple, list)) else [out]
    for name, t in zip(graph.graph_outputs, flat, strict=False):
        if isinstance(t, torch.Tensor):
            values[name] = to_numpy(t)
    return graph, values


def torchscript_local(path: Path, calls: dict[str, Any]) -> dict[str, list[np.ndarray] | str]:
    """Each traced submodule of the TorchScript file at ``path`` run on eager's inputs to it: path -> outputs,
    or the reason it could not run (not traced as a submodule, or a different signature).

    Raises:
        BadInput: the file does not load with ``torch.jit.load``.
    """
    import torch

    from edgekit.debug.capture import tensors_in, to_numpy

    try:
        ts = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # a corrupt or foreign file
        raise BadInput(f"cannot load '{path}' with torch.jit.load: {one_line(exc)}; expected TorchScript") from exc
    found: dict[str, list[np.ndarray] | str] = {}
    subs = dict(ts.named_modules())
    for name, call in calls.items():
        if name not in subs:
            found[name] = "not a submodule of the TorchScript file"
            continue
        try:
            with torch.inference_mode():
                found[name] = [to_numpy(t) for t in tensors_in(subs[name](*call.inputs))]
        except Exception as exc:  # a submodule tracing never called, or other arguments (kwargs, state)
            found[name] = f"cannot call it alone: {one_line(exc, 80)}"
    return found
