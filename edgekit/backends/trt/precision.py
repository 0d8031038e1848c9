"""Precision per TensorRT major version: what ``--precision fp32 | fp16 | int8`` means on TensorRT 10 and on 11.

TensorRT 10 is weakly typed by default: fp16 and int8 are builder flags (``BuilderFlag.FP16`` / ``INT8``) that let
TensorRT pick lower-precision kernels; int8 there still means *explicit* quantization (the Q/DQ ONNX from
``edgekit quantize`` / ``edgekit qat``), since implicit calibration is deprecated since 10.1.
TensorRT 11 removed those flags (strongly typed networks only; NVIDIA's migration guide, "Removed Python APIs"):
tensor types in the graph decide precision. So fp16 on 11 means converting the ONNX graph to fp16 before parsing,
keeping fp32 inputs and outputs (what ModelOpt AutoCast's ``keep_io_types=True`` does), and int8 means Q/DQ nodes.

The fp16 conversion here is edgekit's own, short converter (:func:`convert_to_fp16`) over the ``onnx`` package:
float initializers, Constant/ConstantOfShape values and Cast targets become fp16, a Cast is inserted after each
float input and before each float output, and tensors that ONNX requires in fp32 (Resize scales) are left alone.
ModelOpt AutoCast is used instead when it is importable (``converter="auto"``); the plan's ``details`` say which
ran. In fp32, TF32 is turned off so that "fp32" compares with eager PyTorch at fp32 tolerances (``tf32=True``
keeps TensorRT's default).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from edgekit.core.errors import BackendUnavailable, BadInput, suggest

PRECISIONS = ("fp32", "fp16", "int8")


@dataclasses.dataclass(frozen=True)
class PrecisionPlan:
    """How one precision is obtained on one TensorRT major version.

    Args:
        precision: ``fp32``, ``fp16`` or ``int8``.
        trt_major: the TensorRT major version the plan is for.
        path: ``builder-flags`` (TensorRT 10) or ``strongly-typed`` (TensorRT 11).
        set_flags / clear_flags: names of ``trt.BuilderFlag`` members to set / clear.
        convert_fp16: convert the ONNX graph to fp16 (fp32 I/O) before parsing.
        requires_qdq: the ONNX must hold QuantizeLinear/DequantizeLinear nodes (explicit quantization).
        dla: built for a DLA core (GPU fallback flag included when allowed).
    """

    precision: str
    trt_major: int
    path: str
    set_flags: tuple[str, ...] = ()
    clear_flags: tuple[str, ...] = ()
    convert_fp16: bool = False
    requires_qdq: bool = False
    dla: bool = False

    def describe(self) -> str:
        """One line for reports: which path ran and why."""
        how = {
            ("builder-flags", "fp32"): "fp32 kernels (TF32 off)" if "TF32" in self.clear_flags else "fp32 kernels",
            ("builder-flags", "fp16"): "BuilderFlag.FP16 on an fp32 graph",
            ("builder-flags", "int8"): "BuilderFlag.INT8 on the Q/DQ graph (explicit quantization)",
            ("strongly-typed", "fp32"): "strongly typed fp32 graph" + (" (TF32 off)" if self.clear_flags else ""),
            ("strongly-typed", "fp16"): "graph converted to fp16 with fp32 I/O, strongly typed",
            ("strongly-typed", "int8"): "the Q/DQ graph, strongly typed",
        }[(self.path, self.precision)]
        return f"{self.precision} on TensorRT {self.trt_major}: {how}" + (
            ", DLA with GPU fallback" if "GPU_FALLBACK" in self.set_flags else ", DLA" if self.dla else ""
        )

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["description"] = self.describe()
        return data


def trt_major(version: str) -> int:
    """``10.13.0.35`` -> 10.

    Raises:
        BackendUnavailable: an unparsable version string.
    """
    try:
        return int(version.split(".")[0])
    except ValueError:
        raise BackendUnavailable(f"cannot read the TensorRT version '{version}'; expected e.g. 10.13.0") from None


def plan_precision(
    precision: str, major: int, *, dla: bool = False, gpu_fallback: bool = True, tf32: bool = False
) -> PrecisionPlan:
    """The plan for ``precision`` on TensorRT ``major``.

    Args:
        dla: building for a DLA core (fp16/int8 only; GPU fallback allowed when ``gpu_fallback``).
        tf32: keep TensorRT's default TF32 for fp32 (off by default so fp32 matches eager).

    Raises:
        BadInput: unknown precision, or fp32 on DLA.
        BackendUnavailable: TensorRT older than 10.
    """
    if precision not in PRECISIONS:
        raise BadInput(
            f"unknown precision '{precision}'; expected one of {', '.join(PRECISIONS)}.{suggest(precision, PRECISIONS)}"
        )
    if major < 10:
        raise BackendUnavailable(
            f"TensorRT {major} is too old: edgekit uses the TensorRT 10 tensor-name API; "
            f"install TensorRT 10 or 11 (pip install 'edgekit[trt]', or JetPack 6+)"
        )
    if dla and precision == "fp32":
        raise BadInput(
            "DLA runs fp16 or int8 only; use --precision fp16 (or int8 with a Q/DQ ONNX) with "
            "--dla-core, or drop --dla-core to build for the GPU"
        )
    clear = () if tf32 or precision != "fp32" else ("TF32",)
    extra = ("GPU_FALLBACK",) if dla and gpu_fallback else ()
    if major == 10:
        flags = {"fp32": (), "fp16": ("FP16",), "int8": ("INT8",)}[precision]
        return PrecisionPlan(
            precision, major, "builder-flags", flags + extra, clear, requires_qdq=precision == "int8", dla=dla
        )
    return PrecisionPlan(
        precision,
        major,
        "strongly-typed",
        extra,
        clear,
        convert_fp16=precision == "fp16",
        requires_qdq=precision == "int8",
        dla=dla,
    )


# -- the ONNX a plan needs ----------------------------------------------------------------------------------------
def prepare_onnx(
    onnx_path: Path, plan: PrecisionPlan, *, converter: str = "auto", block: Iterable[str] = ()
) -> tuple[Path, dict[str, Any]]:
    """The ONNX file to parse for ``plan``, and details for the report.

    fp16 on TensorRT 11 writes ``<stem>.fp16.onnx`` beside ``onnx_path``; int8 checks the graph's Q/DQ nodes.
    ``block``: node names kept fp32 in the fp16 graph (from :func:`edgekit.backends.trt.fp16_guard.find_unsafe`).

    Raises:
        BadInput: int8 without Q/DQ nodes or with non-zero zero points; an unknown converter.
    """
    details: dict[str, Any] = {"plan": plan.describe()}
    if plan.requires_qdq:
        details.update(check_qdq(onnx_path))
    if not plan.convert_fp16:
        return onnx_path, details
    out = onnx_path.with_name(onnx_path.stem + ".fp16.onnx")
    details.update(write_fp16(onnx_path, out, converter=converter, block=block))
    return out, details


def check_qdq(onnx_path: Path) -> dict[str, Any]:
    """Count Q/DQ nodes and check every zero point is 0 (TensorRT refuses others).

    Raises:
        BadInput: no Q/DQ nodes (with how to make them), or the nodes whose zero points are not 0.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    consts = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute:
            consts[node.output[0]] = node.attribute[0].t
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    if not qdq:
        raise BadInput(
            f"--precision int8 needs an explicitly quantized ONNX (QuantizeLinear/DequantizeLinear "
            f"nodes), and '{onnx_path}' has none; make one with `edgekit quantize MODEL` or `edgekit qat "
            f"MODEL` and build from that file, or use --precision fp16"
        )
    bad = []
    for n in qdq:
        if len(n.input) > 2 and n.input[2] and n.input[2] in consts:
            zp = numpy_helper.to_array(consts[n.input[2]])
            if np.any(zp != 0):
                bad.append(n.name or n.output[0])
    if bad:
        raise BadInput(
            f"TensorRT accepts only symmetric int8 Q/DQ (zero point 0); these nodes of '{onnx_path}' have "
            f"non-zero zero points: {', '.join(bad[:10])}{' ...' if len(bad) > 10 else ''}; "
            f"re-quantize with a symmetric int8 scheme (edgekit quantize writes one for TensorRT)"
        )
    return {"qdq_nodes": len(qdq)}


def write_fp16(src: Path, dest: Path, *, converter: str = "auto", block: Iterable[str] = ()) -> dict[str, Any]:
    """Convert ``src`` to fp16 with fp32 I/O into ``dest`` (atomically); returns which converter ran.

    Args:
        converter: ``auto`` (ModelOpt AutoCast when importable, else edgekit's), ``modelopt`` or ``edgekit``.
        block: node names kept fp32 (AutoCast's ``nodes_to_exclude``; that path is unverified here, ModelOpt is
            not installed).

    Raises:
        BadInput: an unknown converter, or ``modelopt`` asked for but not installed.
    """
    import onnx

    from edgekit.core.io import atomic_path

    if converter not in ("auto", "modelopt", "edgekit"):
        raise BadInput(f"unknown fp16 converter '{converter}'; expected auto, modelopt or edgekit")
    autocast = _modelopt_autocast() if converter != "edgekit" else None
    if converter == "modelopt" and autocast is None:
        raise BadInput(
            "fp16 converter 'modelopt' asked for, but modelopt.onnx.autocast does not import: "
            "pip install nvidia-modelopt[onnx], or use the edgekit converter"
        )
    if autocast is not None:
        extra = {"nodes_to_exclude": list(block)} if block else {}
        model = autocast(onnx_path=str(src), low_precision_type="fp16", keep_io_types=True, **extra)
        name = "modelopt-autocast"
    else:
        model = convert_to_fp16(onnx.load(str(src)), block=block)
        name = "edgekit"
    with atomic_path(dest) as tmp:
        onnx.save(model, str(tmp))
    details: dict[str, Any] = {"fp16_converter": name, "fp16_onnx": str(dest), "io_types": "fp32"}
    if block:
        details["fp32_nodes"] = sorted(block)
    return details


def _modelopt_autocast() -> Any:
    try:
        from modelopt.onnx.autocast import convert_to_mixed_precision
    except ImportError:
        return None
    return convert_to_mixed_precision


# -- edgekit's fp16 converter ----------------------------------------------------------------------------------------
# Inputs that ONNX requires in fp32 whatever the data type: (op_type, input index).
_KEEP_FP32_INPUTS = {("Resize", 1), ("Resize", 2), ("Upsample", 1)}
_DTYPE_ATTRS = {
    "Cast": "to",
    "RandomNormalLike": "dtype",
    "RandomUniformLike": "dtype",
    "RandomNormal": "dtype",
    "RandomUniform": "dtype",
    "EyeLike": "dtype",
}


def convert_to_fp16(model: Any, block: Iterable[str] = ()) -> Any:
    """``model`` (an ``onnx.ModelProto``, changed in place and returned) computing in fp16 with fp32 I/O.

    Args:
        block: names of main-graph nodes that stay fp32 (the block list): their parameters keep fp32 copies,
            their float inputs are cast to fp32 and their outputs back to fp16 for fp16 consumers.
    """
    import onnx

    from edgekit.backends.trt.fp16_block import isolate_fp32

    graph = model.graph
    keep = {
        node.input[i]
        for node in _all_nodes(graph)
        for (op, i) in _KEEP_FP32_INPUTS
        if node.op_type == op and len(node.input) > i
    }
    blocked = set(block)
    keep |= isolate_fp32(graph, blocked)
    _convert_graph(graph, keep)
    float_inputs = [
        i
        for i in graph.input
        if i.type.tensor_type.elem_type == onnx.TensorProto.FLOAT and i.name not in {t.name for t in graph.initializer}
    ]
    casts = []
    for inp in float_inputs:
        cast_name = f"{inp.name}__fp16"
        for node in _all_nodes(graph):
            if node.name not in blocked:  # a blocked node reads the fp32 input itself
                node.input[:] = [cast_name if x == inp.name else x for x in node.input]
        casts.append(
            onnx.helper.make_node(
                "Cast", [inp.name], [cast_name], name=f"edgekit_cast_in_{inp.name}", to=onnx.TensorProto.FLOAT16
            )
        )
    for out in graph.output:
        if out.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
            continue
        inner = f"{out.name}__fp16"
        for node in _all_nodes(graph):
            node.output[:] = [inner if x == out.name else x for x in node.output]
            node.input[:] = [inner if x == out.name else x for x in node.input]
        graph.node.append(
            onnx.helper.make_node(
                "Cast", [inner], [out.name], name=f"edgekit_cast_out_{out.name}", to=onnx.TensorProto.FLOAT
            )
        )
    for i, cast in enumerate(casts):
        graph.node.insert(i, cast)
    return model


def _all_nodes(graph: Any) -> Iterable[Any]:
    """Nodes of ``graph`` and of every subgraph (If/Loop/Scan bodies)."""
    import onnx

    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _all_nodes(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _all_nodes(g)


def _convert_graph(graph: Any, keep: set[str]) -> None:
    import onnx

    fp32, fp16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16
    for init in graph.initializer:
        if init.data_type == fp32 and init.name not in keep:
            _tensor_to_fp16(init)
    for vi in list(graph.value_info):
        if vi.type.tensor_type.elem_type == fp32 and vi.name not in keep:
            vi.type.tensor_type.elem_type = fp16
    for node in graph.node:
        if node.op_type == "ConstantOfShape" and not node.attribute and not (set(node.output) & keep):
            # without a value ConstantOfShape makes fp32 zeros: give it an explicit fp16 zero
            node.attribute.append(
                onnx.helper.make_attribute("value", onnx.helper.make_tensor("value", fp16, [1], [0.0]))
            )
            continue
        for attr in node.attribute:
            if node.op_type in ("Constant", "ConstantOfShape") and attr.type == onnx.AttributeProto.TENSOR:
                if attr.t.data_type == fp32 and not (set(node.output) & keep):
                    _tensor_to_fp16(attr.t)
            elif _DTYPE_ATTRS.get(node.op_type) == attr.name and attr.i == fp32 and not (set(node.output) & keep):
                attr.i = fp16
            elif attr.type == onnx.AttributeProto.GRAPH:
                _convert_graph(attr.g, keep)
                _retype_io(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    _convert_graph(g, keep)
                    _retype_io(g)


def _retype_io(graph: Any) -> None:
    """Subgraph inputs/outputs carry the converted types (only the main graph keeps fp32 I/O)."""
    import onnx

    for vi in list(graph.input) + list(graph.output):
        if vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT:
            vi.type.tensor_type.elem_type = onnx.TensorProto.FLOAT16


def _tensor_to_fp16(tensor: Any) -> None:
    """Rewrite an fp32 TensorProto as fp16 in place (values beyond fp16's range saturate at +-65504)."""
    import numpy as np
    from onnx import numpy_helper

    arr = numpy_helper.to_array(tensor).astype(np.float32)
    converted = numpy_helper.from_array(np.clip(arr, -65504, 65504).astype(np.float16), tensor.name)
    tensor.CopyFrom(converted)
