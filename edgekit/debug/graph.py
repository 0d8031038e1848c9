"""An artifact's graph as :mod:`edgekit.debug` sees it: nodes in execution order, each owned by the ``nn.Module``
(dotted path) the exporter recorded for it, and the tensors that leave each module's nodes (its outputs).

Where the owner comes from:

* dynamo ONNX exporter (torch 2.13, onnxscript 0.7): each node's ``metadata_props`` hold
  ``pkg.torch.onnx.name_scopes`` (``['', 'module', 'module.1', 'relu']``: the module path, one entry per level, then
  the op) and ``pkg.torch.onnx.class_hierarchy`` (the classes along it). Nodes the optimizer fused keep one
  module's scope: Conv+BatchNorm becomes one Conv node scoped to the BatchNorm, still reading the conv's weight
  initializer (``module.0.weight``), which is why initializers are owned by their *name* too;
* legacy (TorchScript-based) exporter: no metadata; node names are scopes (``/module/rnn/RNN``);
* torch.export / ``.pt2`` (an FX graph): each node's ``nn_module_stack``.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

PARAM_SUFFIXES = (
    ".weight",
    ".bias",
    ".in_proj_weight",
    ".in_proj_bias",
    ".running_mean",
    ".running_var",
)


@dataclasses.dataclass
class GraphNode:
    """One node: its name, op type, owning module path (``None``: the exporter recorded none), tensor names."""

    name: str
    op: str
    owner: str | None
    inputs: list[str]
    outputs: list[str]


@dataclasses.dataclass
class TapGraph:
    """Nodes in execution (topological) order, parameter tensors and their owners, the graph outputs."""

    nodes: list[GraphNode]
    params: dict[str, str | None]
    graph_outputs: list[str]
    exporter: str = ""

    def owned(self, path: str) -> list[GraphNode]:
        """Nodes owned by ``path`` or by a module inside it."""
        return [n for n in self.nodes if n.owner is not None and within(n.owner, path)]

    def module_outputs(self, path: str) -> list[str]:
        """Tensors produced by ``path``'s nodes and read outside them (or graph outputs), in production order."""
        mine = self.owned(path)
        inside = {id(n) for n in mine}
        produced = [t for n in mine for t in n.outputs if t]
        read_outside = {t for n in self.nodes if id(n) not in inside for t in n.inputs}
        outs = set(self.graph_outputs)
        return [t for t in produced if t in read_outside or t in outs]

    def module_inputs(self, path: str) -> list[str]:
        """Tensors ``path``'s nodes read that other nodes produce (parameters and graph inputs excluded)."""
        mine = self.owned(path)
        inside = {t for n in mine for t in n.outputs}
        prod = self.producers()
        return list(dict.fromkeys(t for n in mine for t in n.inputs if t in prod and t not in inside))

    def producers(self) -> dict[str, GraphNode]:
        return {t: n for n in self.nodes for t in n.outputs if t}

    def ancestors(self, tensors: Iterable[str]) -> list[GraphNode]:
        """Nodes the ``tensors`` depend on (themselves included), in graph order."""
        prod = self.producers()
        seen: set[int] = set()
        stack = [prod[t] for t in tensors if t in prod]
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack += [prod[t] for t in node.inputs if t in prod]
        return [n for n in self.nodes if id(n) in seen]


def within(path: str, root: str) -> bool:
    """``path`` is ``root`` or a module inside it (``''`` is the root of everything)."""
    return not root or path == root or path.startswith(root + ".")


def param_owner(name: str, modules: set[str]) -> str | None:
    """The module a parameter tensor belongs to by its name (``module.0.weight`` -> ``module.0``), or None."""
    for suffix in PARAM_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in modules:
            return name[: -len(suffix)]
    head = name.rsplit(".", 1)[0] if "." in name else ""
    return head if head in modules else None


def _dynamo_owner(meta: dict[str, str], modules: set[str]) -> str | None:
    raw = meta.get("pkg.torch.onnx.name_scopes")
    if not raw:
        return None
    try:
        scopes = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return None
    for scope in reversed(list(scopes)[:-1]):  # the last entry is the op itself
        if scope in modules:
            return str(scope)
    return None


def _legacy_owner(name: str, modules: set[str]) -> str | None:
    """``/module/features/features.0/Conv`` or ``/module/rnn/RNN`` -> the deepest known module path."""
    if not name.startswith("/"):
        return None
    path, best = "", None
    for part in name.strip("/").split("/")[:-1]:
        path = part if (path and part.startswith(path + ".")) or not path else f"{path}.{part}"
        if path in modules:
            best = path
    return best


def onnx_graph(model: Any, modules: set[str]) -> TapGraph:
    """The :class:`TapGraph` of an ``onnx.ModelProto`` (main graph; subgraph bodies stay inside their node)."""
    graph = model.graph
    dynamo = any(p.key == "pkg.torch.onnx.name_scopes" for n in graph.node for p in n.metadata_props)
    nodes = []
    for n in graph.node:
        meta = {p.key: p.value for p in n.metadata_props}
        owner = _dynamo_owner(meta, modules) if dynamo else _legacy_owner(n.name, modules)
        nodes.append(GraphNode(n.name or n.output[0], n.op_type, owner, list(n.input), list(n.output)))
    _inherit_owners(nodes)
    params: dict[str, str | None] = {}
    for init in graph.initializer:
        owner = param_owner(init.name, modules)
        if owner is None:  # a folded or renamed constant: owned by the module of the node reading it
            owner = next((g.owner for g in nodes if init.name in g.inputs and g.owner), None)
        params[init.name] = owner
    outs = [o.name for o in graph.output]
    return TapGraph(nodes, params, outs, "dynamo" if dynamo else "legacy")


def _inherit_owners(nodes: list[GraphNode]) -> None:
    """A node the exporter left unscoped (QuantizeLinear/DequantizeLinear of a Q/DQ graph, shape arithmetic)
    whose outputs only one module's nodes read belongs to that module: a weight's DequantizeLinear to its
    layer, an input's Q/DQ pair to the layer it quantizes for. Walked backwards so chains inherit too."""
    readers: dict[str, list[GraphNode]] = {}
    for n in nodes:
        for t in n.inputs:
            readers.setdefault(t, []).append(n)
    for n in reversed(nodes):
        if n.owner is not None:
            continue
        owners = {r.owner for t in n.outputs for r in readers.get(t, [])}
        if len(owners) == 1:
            n.owner = owners.pop()


def fx_graph(gm: Any, modules: set[str]) -> TapGraph:
    """The :class:`TapGraph` of a ``torch.fx.GraphModule`` (``ExportedProgram.module()``, a converted Q/DQ graph)."""
    nodes, params = [], {}
    graph_outputs: list[str] = []
    for node in gm.graph.nodes:
        if node.op == "get_attr":
            params[node.name] = param_owner(_strip(str(node.target)), modules)
            continue
        if node.op == "output":
            graph_outputs = [a.name for a in _node_args(node.args)]
            continue
        if node.op == "placeholder":
            continue
        stack = node.meta.get("nn_module_stack") or {}
        owner = None
        for path, _cls in reversed(list(stack.values())):
            if _strip(str(path)) in modules:
                owner = _strip(str(path))
                break
        inputs = [a.name for a in _node_args((node.args, node.kwargs))]
        nodes.append(GraphNode(node.name, str(node.target), owner, inputs, [node.name]))
    return TapGraph(nodes, params, graph_outputs, "torch.export")


def _strip(path: str) -> str:
    """FX module paths (``L['self'].module.0``, ``module.0``) as ``named_modules`` writes them."""
    for prefix in ("L['self'].", "L__self__.", "L['self']"):
        if path.startswith(prefix):
            path = path[len(prefix) :]
    return path


def _node_args(args: Any) -> list[Any]:
    import torch.fx

    found: list[Any] = []
    torch.fx.node.map_arg(args, lambda n: found.append(n))  # type: ignore[arg-type,func-returns-value]
    return found


def first_unverified(graph: TapGraph, failing: Sequence[str], verified: Iterable[str]) -> list[GraphNode]:
    """The nodes that produce ``failing`` and are not behind a tensor that agreed (``verified``): where the
    divergence was born. Returned in graph order."""
    trusted = {id(n) for n in graph.ancestors(verified)}
    return [n for n in graph.ancestors(failing) if id(n) not in trusted]
