"""The fp16 converter's block list as graph surgery: the named nodes keep computing in fp32 inside an fp16 graph
(fp32 copies of their initializers, Casts around their float activations). Used by
:func:`edgekit.backends.trt.precision.convert_to_fp16`; :mod:`.fp16_guard` finds which nodes need it.
"""

from __future__ import annotations

from typing import Any


def float_tensors(graph: Any) -> set[str]:
    """Names of the fp32 tensors of ``graph``: typed values, initializers and Constant outputs."""
    import onnx

    fp32 = onnx.TensorProto.FLOAT
    names = {v.name for v in list(graph.value_info) + list(graph.input) + list(graph.output) if _elem(v) == fp32}
    names |= {t.name for t in graph.initializer if t.data_type == fp32}
    for n in graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].t.data_type == fp32:
            names.add(n.output[0])
    return names


def _elem(vi: Any) -> int:
    return int(vi.type.tensor_type.elem_type) if vi.type.HasField("tensor_type") else 0


def isolate_fp32(graph: Any, blocked: set[str]) -> set[str]:
    """Rewire ``graph`` (before fp16 conversion) so the ``blocked`` nodes compute in fp32: each gets fp32 copies
    of its initializers and Casts to fp32 on its float activation inputs, and its float outputs are cast to fp16
    for the nodes that are not blocked. Returns the tensor names the converter must leave fp32."""
    import onnx
    from onnx import helper

    if not blocked:
        return set()
    floats = float_tensors(graph)
    inits = {t.name: t for t in graph.initializer}
    graph_inputs = {i.name for i in graph.input}
    producer = {o: n.name for n in graph.node for o in n.output}
    keep: set[str] = set()
    new_nodes = []
    for node in graph.node:
        if node.name in blocked:
            for k, t in enumerate(node.input):
                if t in inits and inits[t].data_type == onnx.TensorProto.FLOAT:
                    copy = f"{t}__fp32"
                    if copy not in keep:
                        dup = onnx.TensorProto()
                        dup.CopyFrom(inits[t])
                        dup.name = copy
                        graph.initializer.append(dup)
                    node.input[k] = copy
                    keep.add(copy)
                elif t in floats and t not in graph_inputs and producer.get(t) not in blocked:
                    cast = f"{t}__fp32_for_{node.name}"
                    new_nodes.append(
                        helper.make_node("Cast", [t], [cast], name=f"{cast}_cast", to=onnx.TensorProto.FLOAT)
                    )
                    node.input[k] = cast
                    keep.add(cast)
            keep.update(o for o in node.output if o in floats)
        else:
            for k, t in enumerate(node.input):
                if t in floats and producer.get(t) in blocked:
                    cast = f"{t}__fp16_for_{node.name or k}"
                    new_nodes.append(
                        helper.make_node("Cast", [t], [cast], name=f"{cast}_cast", to=onnx.TensorProto.FLOAT16)
                    )
                    node.input[k] = cast
        new_nodes.append(node)
    graph.ClearField("node")
    graph.node.extend(new_nodes)
    return keep
