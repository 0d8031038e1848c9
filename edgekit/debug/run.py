"""``edgekit debug MODEL ARTIFACT``: where an artifact starts to disagree with eager PyTorch, by module.

What can be inspected, and how:

============  ===========  ==============================================================================
artifact      inspected    intermediates
============  ===========  ==============================================================================
``.onnx``     yes          every module's output/input tensors added as graph outputs in a temp copy (ORT)
``.pt2``      yes          every FX node's value (``torch.fx.Interpreter``), owners from ``nn_module_stack``
``.ts/.pt``   yes          each traced submodule run on eager's inputs to it (a local error per module)
``.engine``   no           a built engine keeps no layer outputs: :mod:`edgekit.debug.trt` marks them
                           before building (``network.mark_output``), unverified without a GPU here
============  ===========  ==============================================================================

The reference is eager fp32, or, for INT8 artifacts, the torch Q/DQ model when the caller has one
(``reference=``); INT8 against eager fp32 is judged by cosine (the report says which reference was used).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.core.errors import BadInput
from edgekit.core.model import LoadedModel
from edgekit.core.spec import random_inputs, shape_plan
from edgekit.debug.capture import ModuleCall, capture_modules, source_of, user_path
from edgekit.debug.locate import Culprit, Judge, ModuleRow, compare_graph, name_culprit

INSPECTABLE = {
    "onnx": "ONNX: module tensors exposed as graph outputs in a temporary copy, run in ONNX Runtime",
    "pt2": ".pt2: every node of ExportedProgram.module() evaluated with torch.fx.Interpreter",
    "torchscript": "TorchScript: each traced submodule run on the inputs eager gave it (local error)",
}
NOT_INSPECTABLE = {
    "trt": "a built TensorRT engine exposes only its bindings; rebuild it from the ONNX with every layer output "
    "marked (edgekit.debug.trt.mark_all_outputs, network.mark_output: unverified without a GPU here), or "
    "debug the ONNX it was built from",
}


@dataclasses.dataclass
class DebugReport:
    """What ``edgekit debug`` found."""

    artifact: str
    format: str
    precision: str
    reference: str
    method: str
    tolerance: dict[str, float | None]
    feed: dict[str, Any]
    rows: list[ModuleRow]
    culprit: Culprit | None
    output_passed: bool
    seconds: float = 0.0
    notes: list[str] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": 1,
            "artifact": self.artifact,
            "format": self.format,
            "precision": self.precision,
            "reference": self.reference,
            "method": self.method,
            "tolerance": self.tolerance,
            "inputs": self.feed,
            "diverged": self.culprit is not None,
            "first_diverging": self.culprit.to_json() if self.culprit else None,
            "output_passed": self.output_passed,
            "modules": [r.to_json() for r in self.rows],
            "seconds": round(self.seconds, 3),
            "notes": self.notes,
        }


def judge_for(precision: str, atol: float, rtol: float) -> Judge:
    """Tolerances per precision (:func:`edgekit.backends.precision.tolerance_for`, the one tolerance table)."""
    from edgekit.backends.precision import tolerance_for

    if precision not in ("fp32", "fp16", "int8"):
        precision = "fp32"
    tol = tolerance_for(precision, "cpu", atol, rtol)
    return Judge(tol.atol, tol.rtol, tol.min_cosine if precision == "int8" else None)


def debug_artifact(
    model: LoadedModel,
    path: Path,
    *,
    atol: float | None = None,
    rtol: float | None = None,
    reference: LoadedModel | None = None,
    seed: int = 1234,
    feeds: list[dict[str, np.ndarray]] | None = None,
) -> DebugReport:
    """Compare ``path``'s intermediates with ``model``'s (or ``reference``'s) module by module.

    Args:
        model: the eager model the artifact came from (its module paths name the result).
        atol, rtol: fp32 tolerances (default the model's); fp16/int8 widen them as verification does.
        reference: the torch Q/DQ model of an INT8 artifact, when there is one.
        seed: base seed of the random inputs (the verification shapes, as ``compare`` draws them).
        feeds: explicit inputs instead (the first one that shows a divergence is reported).

    Raises:
        BadInput: an artifact that cannot be inspected here, or that does not load.
    """
    from edgekit.artifacts.formats import format_of

    start = time.perf_counter()
    fmt = format_of(path).name
    if fmt in NOT_INSPECTABLE:
        raise BadInput(f"cannot inspect '{path}': {NOT_INSPECTABLE[fmt]}")
    atol = model.atol if atol is None else atol
    rtol = model.rtol if rtol is None else rtol
    prepared = _prepare(fmt, path, model, reference)
    judge = judge_for(prepared.precision, atol, rtol)
    plan = feeds or [
        random_inputs(model.inputs, sizes, seed + 97 * i) for i, sizes in enumerate(shape_plan(model.inputs))
    ]
    report = None
    notes: list[str] = []
    for i, feed in enumerate(plan):
        try:
            report = _one_feed(prepared, model, feed, judge)
        except BadInput as exc:  # the artifact refuses a later verification shape (a frozen axis)
            if report is None:
                raise
            notes.append(f"inputs {_shapes(feed)}: {exc}")
            break
        report.feed = {"index": i, "seed": None if feeds else seed + 97 * i, "shapes": _shapes(feed)}
        if report.culprit is not None or not report.output_passed:
            break
    assert report is not None  # shape_plan always holds the example shape
    report.artifact, report.format = str(path), fmt
    report.notes += notes
    report.tolerance = {"atol": judge.atol, "rtol": judge.rtol, "min_cosine": judge.min_cosine}
    report.seconds = time.perf_counter() - start
    return report


def _shapes(feed: dict[str, np.ndarray]) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in feed.items()}


@dataclasses.dataclass
class _Prepared:
    fmt: str
    path: Path
    precision: str
    reference: str
    method: str
    ref_module: Any
    graph: Any = None
    session: Any = None
    fx: Any = None


def _prepare(fmt: str, path: Path, model: LoadedModel, reference: LoadedModel | None) -> _Prepared:
    from edgekit.debug.taps import load_onnx, load_pt2_module, onnx_precision, onnx_taps

    ref_module = (reference or model).module
    modules = {p for p, _ in model.module.named_modules() if p}
    precision = onnx_precision(load_onnx(path)) if fmt == "onnx" else "fp32"
    if precision == "int8" and reference is not None:
        ref = "torch Q/DQ model (the INT8 reference)"
    elif precision == "int8":
        ref = "eager fp32 (no torch Q/DQ model given; judged by cosine)"
    else:
        ref = "eager PyTorch fp32"
    prep = _Prepared(fmt, path, precision, ref, INSPECTABLE[fmt], ref_module)
    if fmt == "onnx":
        prep.graph, prep.session = onnx_taps(path, modules)
    elif fmt == "pt2":
        prep.fx = load_pt2_module(path)
    return prep


def _one_feed(prep: _Prepared, model: LoadedModel, feed: dict[str, np.ndarray], judge: Judge) -> DebugReport:
    from edgekit.debug.locate import match_tensors

    args = model.tensors(feed)
    calls = capture_modules(model.module, args)
    if prep.ref_module is not model.module:
        calls = _reference_calls(prep.ref_module, model, args, calls)
    classes = {p: c.cls for p, c in calls.items()}
    if prep.fmt == "torchscript":
        return _local(prep, model, feed, calls, judge)
    if prep.fmt == "onnx":
        values = prep.session.run(feed)
        graph = prep.graph
    else:
        from edgekit.debug.taps import fx_taps

        graph, values = fx_taps(prep.fx, set(calls), args)
    rows, inputs = compare_graph(graph, values, calls, judge)
    culprit = name_culprit(graph, rows, inputs, classes)
    ref_out = model.predict(feed) if prep.ref_module is model.module else _predict(prep.ref_module, model, args)
    outs = [o for o in graph.graph_outputs if o in values]
    pairs = match_tensors(list(ref_out.values()), outs, values)
    output_passed = all(judge.check(n, values[n], list(ref_out.values())[i]).passed for n, i in pairs)
    return DebugReport("", prep.fmt, prep.precision, prep.reference, prep.method, {}, {}, rows, culprit, output_passed)


def _predict(module: Any, model: LoadedModel, args: tuple[Any, ...]) -> dict[str, np.ndarray]:
    import torch

    with torch.inference_mode():
        outs = module(*args)
    return {n: t.detach().numpy() for n, t in zip(model.outputs, outs, strict=True)}


def _reference_calls(
    ref_module: Any, model: LoadedModel, args: tuple[Any, ...], calls: dict[str, ModuleCall]
) -> dict[str, ModuleCall]:
    """Per-module outputs of a Q/DQ reference (an FX graph without submodules): each module's output is the
    reference graph's tensor leaving that module's nodes, matched by shape to eager's."""
    from edgekit.debug.locate import match_tensors
    from edgekit.debug.taps import fx_taps

    graph, values = fx_taps(ref_module, set(calls), args)
    out: dict[str, ModuleCall] = {}
    for path, call in calls.items():
        pairs = match_tensors(call.outputs, graph.module_outputs(path), values)
        if len(pairs) == len(call.outputs):
            out[path] = dataclasses.replace(call, outputs=[values[n] for n, _ in pairs])
    return out


def _local(
    prep: _Prepared, model: LoadedModel, feed: dict[str, np.ndarray], calls: dict[str, ModuleCall], judge: Judge
) -> DebugReport:
    """TorchScript: each submodule's local error; the first failing one (a child before its parent) is named."""
    from edgekit.debug.taps import torchscript_local

    got = torchscript_local(prep.path, calls)
    rows = []
    for path, call in calls.items():
        row = ModuleRow(path, call.cls.__name__, call.order, [], [])
        res = got.get(path)
        if isinstance(res, str) or res is None:
            row.note = res or "not run"
        elif len(res) != len(call.outputs):
            row.note = f"returned {len(res)} tensors, eager {len(call.outputs)}"
        else:
            row.tensors = [f"{user_path(path)}[{i}]" for i in range(len(res))]
            row.checks = [judge.check(t, g, r) for t, g, r in zip(row.tensors, res, call.outputs, strict=True)]
        rows.append(row)
    first = next((r for r in rows if r.compared and not r.passed), None)
    culprit = None
    if first is not None:
        cls = calls[first.path].cls
        culprit = Culprit(
            first.path,
            cls.__name__,
            source_of(cls),
            [f"{user_path(first.path)}.forward (TorchScript)"],
            f"its own output on eager's inputs to it ({', '.join(first.tensors)})",
            "the first module (a child before its parent) whose local output disagrees",
            [],
        )
    ref = model.predict(feed)
    root = got.get("module")
    output_passed = not isinstance(root, list) or all(
        judge.check(k, g, r).passed for k, g, r in zip(ref, root, ref.values(), strict=False)
    )
    return DebugReport(
        "", prep.fmt, prep.precision, prep.reference, prep.method, {}, {}, rows, culprit, output_passed and not first
    )
