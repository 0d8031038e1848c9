"""Match eager module intermediates with an artifact's, compare them in execution order, and name the first module
whose error jumps beyond tolerance.

How the module is named, once the first failing module output D is known (graph artifacts: ONNX, ``.pt2``):

* if a tensor *entering* D already disagrees, the divergence was born upstream in ops no module output covers
  (a functional op of a parent, a module the exporter fused away): the nodes between the last agreeing tensors
  and that input are searched;
* otherwise it was born inside D, between its agreeing inputs and its outputs.

In that region, a parameter (initializer) read there names its owner (the one module not already shown to agree),
since fused nodes carry only one module's scope (Conv+BatchNorm -> one Conv scoped to the BatchNorm reading
``conv.weight``); failing that, the owner of the region's first node.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgekit.artifacts.verify import NOT_CHECKED, OutputCheck, compare_arrays
from edgekit.debug.capture import ModuleCall, source_of, to_numpy, user_path
from edgekit.debug.graph import GraphNode, TapGraph, first_unverified, within


@dataclasses.dataclass(frozen=True)
class Judge:
    """When an intermediate agrees: elementwise ``atol``/``rtol`` (fp32, fp16), or cosine >= ``min_cosine``
    (int8, where elementwise bounds would need one quantization step per layer)."""

    atol: float
    rtol: float
    min_cosine: float | None = None

    def check(self, name: str, got: np.ndarray, ref: np.ndarray) -> OutputCheck:
        with np.errstate(all="ignore"):  # inf/nan in an fp16 tensor is a finding, not a warning
            c = compare_arrays(name, np.asarray(got), np.asarray(ref), self.atol, self.rtol)
        if c.status == NOT_CHECKED:  # an intermediate may be all zeros (an RNN's h0): judged elementwise here
            c.passed = bool(c.max_abs <= self.atol)
        comparable = np.isfinite(c.cosine) and np.isfinite(c.max_abs)  # not a shape mismatch or non-finite values
        if self.min_cosine is not None and comparable:
            c.passed = bool(c.cosine >= self.min_cosine)
        return c


@dataclasses.dataclass
class ModuleRow:
    """One module's outputs compared (a row of the error-growth table)."""

    path: str
    cls: str
    order: int
    tensors: list[str]
    checks: list[OutputCheck]
    note: str = ""

    @property
    def compared(self) -> bool:
        return bool(self.checks)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def norm_error(self) -> float | None:
        """max |artifact - eager| / max |eager| over its outputs (inf when non-finite), None when not compared."""
        return max((norm_error(c) for c in self.checks), default=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "module": user_path(self.path),
            "class": self.cls,
            "order": self.order,
            "tensors": self.tensors,
            "passed": self.passed if self.compared else None,
            "max_abs": max((c.max_abs for c in self.checks), default=None),
            "norm_error": self.norm_error,
            "cosine": min((c.cosine for c in self.checks), default=None),
            "note": self.note,
        }


def norm_error(c: OutputCheck) -> float:
    """An OutputCheck's max abs error relative to the reference's max magnitude (stored by :func:`_checks`)."""
    return float(getattr(c, "norm_error", c.max_abs))


def match_tensors(ref: Sequence[np.ndarray], names: Sequence[str], values: dict[str, Any]) -> list[tuple[str, int]]:
    """Pair eager tensors with graph tensors of the same shape, latest produced first (a module's result is
    normally its last tensor read outside it). Where several eager tensors share a shape (an LSTM's h and c),
    the graph tensor goes to the one it is closest to. Returns (graph tensor, eager index) pairs, eager order."""
    pairs: list[tuple[str, int]] = []
    free = list(range(len(ref)))
    for name in reversed([n for n in names if n in values]):
        same = [i for i in free if tuple(np.shape(values[name])) == tuple(ref[i].shape)]
        if not same:
            continue
        best = min(same, key=lambda i: _distance(values[name], ref[i])) if len(same) > 1 else same[0]
        pairs.append((name, best))
        free.remove(best)
    return sorted(pairs, key=lambda p: p[1])


def _distance(a: Any, b: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        d = float(np.nanmax(np.abs(np.asarray(a, np.float64) - b.astype(np.float64)))) if b.size else 0.0
    return d if np.isfinite(d) else float("inf")


def _checks(
    judge: Judge, ref: Sequence[np.ndarray], pairs: list[tuple[str, int]], values: dict[str, Any]
) -> list[OutputCheck]:
    out = []
    for name, i in pairs:
        c = judge.check(name, values[name], ref[i])
        scale = float(np.max(np.abs(ref[i].astype(np.float64)))) if ref[i].size else 0.0
        c.norm_error = c.max_abs / (scale + 1e-12) if ref[i].size else 0.0  # type: ignore[attr-defined]
        out.append(c)
    return out


def compare_graph(
    graph: TapGraph, values: dict[str, Any], calls: dict[str, ModuleCall], judge: Judge
) -> tuple[list[ModuleRow], dict[str, list[tuple[str, OutputCheck]]]]:
    """One row per module (completion order) and, per module, its matched *input* tensors' checks."""
    rows, inputs = [], {}
    for path, call in calls.items():
        row = ModuleRow(path, call.cls.__name__, call.order, [], [])
        if call.calls > 1:
            row.note = f"called {call.calls} times: one name, several outputs; not compared"
        elif not graph.owned(path):
            row.note = "no node of its own (fused, folded or a no-op)"
        else:
            pairs = match_tensors(call.outputs, graph.module_outputs(path), values)
            row.tensors = [n for n, _ in pairs]
            row.checks = _checks(judge, call.outputs, pairs, values)
            if not pairs:
                row.note = "no artifact tensor of the same shape leaves its nodes"
            ins = [to_numpy(t) for t in call.inputs]
            in_pairs = match_tensors(ins, graph.module_inputs(path), values)
            inputs[path] = [(n, c) for (n, _), c in zip(in_pairs, _checks(judge, ins, in_pairs, values), strict=True)]
        rows.append(row)
    return rows, inputs


@dataclasses.dataclass
class Culprit:
    """The module named, where in the graph it showed, and why it was chosen."""

    path: str
    cls: str
    source: str
    nodes: list[str]
    seen_at: str
    reason: str
    region: list[str]

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["class"] = data.pop("cls")
        return {"module": user_path(self.path), **data}


def name_culprit(
    graph: TapGraph,
    rows: list[ModuleRow],
    inputs: dict[str, list[tuple[str, OutputCheck]]],
    classes: dict[str, type],
) -> Culprit | None:
    """The first failing row's culprit (see the module doc); None when every compared module agrees."""
    first = next((r for r in rows if r.compared and not r.passed), None)
    if first is None:
        return None
    passed = {r.path for r in rows if r.compared and r.passed}
    verified = [t for r in rows if r.compared and r.passed for t in r.tensors]
    verified += [n for ins in inputs.values() for n, c in ins if c.passed]
    bad_inputs = [n for n, c in inputs.get(first.path, []) if not c.passed]
    if bad_inputs:
        region = first_unverified(graph, bad_inputs, verified)
        seen = f"the input of {user_path(first.path)} ({', '.join(bad_inputs)})"
    else:
        failing = [t for t, c in zip(first.tensors, first.checks, strict=True) if not c.passed]
        region = [n for n in first_unverified(graph, failing, verified) if n.owner and within(n.owner, first.path)]
        seen = f"the output of {user_path(first.path)} ({', '.join(failing)})"
    path, reason = _pick(graph, region, passed, first.path)
    cls = classes.get(path)
    return Culprit(
        path,
        cls.__name__ if cls else "?",
        source_of(cls) if cls else "?",
        _nodes_of(graph, path)[:30],
        seen,
        reason,
        [f"{n.name} ({n.op}) <- {user_path(n.owner) if n.owner else '?'}" for n in region][:30],
    )


def _nodes_of(graph: TapGraph, path: str) -> list[str]:
    """The nodes a module became: those scoped to it, and those reading its parameters (a fused node is scoped
    to another module)."""
    mine = {p for p, owner in graph.params.items() if owner and within(owner, path)}
    out = []
    for n in graph.nodes:
        if n.owner is not None and within(n.owner, path):
            out.append(f"{n.name} ({n.op})")
        elif mine & set(n.inputs):
            out.append(f"{n.name} ({n.op}, scoped to {user_path(n.owner) if n.owner else '?'})")
    return out


def _pick(graph: TapGraph, region: list[GraphNode], passed: set[str], fallback: str) -> tuple[str, str]:
    for node in region:
        for t in node.inputs:
            owner = graph.params.get(t)
            if owner and owner not in passed:
                return owner, f"the first diverging region reads its parameter {t} (node {node.name})"
    for node in region:
        if node.owner and node.owner not in passed:
            return node.owner, f"it owns the first node of the diverging region ({node.name}, {node.op})"
    return fallback, "the first module whose output disagrees"
