"""ExecuTorch export (``.pte``) lowered to XNNPACK: the torch.export ExportedProgram with its dynamic axes,
``to_edge_transform_and_lower(partitioner=[XnnpackPartitioner()])``, then ``to_executorch()``. Operators XNNPACK
does not take stay in ExecuTorch's portable kernels (counted in the details). When lowering refuses the dynamic
axes, the model is re-exported with them at the example size and the frozen axes are reported.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from edgekit.core.errors import BackendUnavailable, BadInput, one_line
from edgekit.core.io import atomic_path
from edgekit.core.model import LoadedModel
from edgekit.core.quiet import native_quiet
from edgekit.core.spec import freeze_axes
from edgekit.export.edge_common import unsupported_line

PIP = "pip install 'edgekit[executorch]'"
MAX_DYNAMIC = 64  # upper bound of every dynamic axis: ExecuTorch plans memory for the largest size


def unavailable_reason() -> str | None:
    """None when executorch's exir and its XNNPACK partitioner import."""
    try:
        with native_quiet():
            import executorch.exir  # noqa: F401
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner  # noqa: F401
    except ImportError:
        return f"executorch is not installed: {PIP}"
    return None


def lower(program: Any) -> tuple[bytes, dict[str, Any]]:
    """Lower an ExportedProgram to an XNNPACK-delegated ExecuTorch program; returns its bytes and details
    (delegated vs portable operator counts)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    with native_quiet():
        edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
        graph = edge.exported_program().graph
        calls = [n for n in graph.nodes if n.op == "call_function"]
        delegates = sum("executorch_call_delegate" in str(n.target) for n in calls)
        portable = sorted({str(n.target).split(".")[-2] for n in calls if str(n.target).startswith("aten.")})
        buffer = edge.to_executorch().buffer
    return buffer, {"xnnpack_delegates": delegates, "portable_ops": portable}


def bounded_program(model: LoadedModel, max_size: int, kind: str = "DYNAMIC") -> tuple[Any, list[str]]:
    """``torch.export.export`` with every dynamic axis ``Dim.<kind>(min=1, max=max_size)``: ExecuTorch's memory
    planning needs an upper bound (unbounded, it planned a batch of 15 and refused 64). Returns the program and
    the axes torch froze (``NAME:AXIS``).

    Raises:
        BadInput: torch.export fails (its first line).
    """
    import torch

    from edgekit.core.model import FlatOutputs
    from edgekit.core.spec import dynamic_dims
    from edgekit.export.common import export_example, quiet_export
    from edgekit.export.pt2 import frozen_axes

    names = dynamic_dims(model.inputs)
    if kind == "DYNAMIC":  # named Dims, shared by inputs that share a dimension (the batch)
        dims = {n: torch.export.Dim(n, min=1, max=max_size) for axes in names.values() for n in axes.values()}
        per_input = tuple({ax: dims[n] for ax, n in names[s.name].items()} for s in model.inputs)
    else:
        per_input = tuple({ax: torch.export.Dim.AUTO(min=1, max=max_size) for ax in s.dynamic} for s in model.inputs)
    # FlatOutputs.forward(*args) takes them as one "args" entry; a converted INT8 GraphModule by position
    shapes: Any = {"args": per_input} if isinstance(model.module, FlatOutputs) else per_input
    with quiet_export(), torch.no_grad():
        try:
            program = torch.export.export(model.module, export_example(model), dynamic_shapes=shapes, strict=False)
        except Exception as exc:  # torch.export raises many types
            if kind == "DYNAMIC":
                return bounded_program(model, max_size, "AUTO")
            raise BadInput(f"torch.export failed: {one_line(exc)}; mark fewer axes dynamic (--static)") from exc
    return program, frozen_axes(program, model)


def export_executorch(model: LoadedModel, path: Path, max_size: int = MAX_DYNAMIC, **_: Any) -> dict[str, Any]:
    """Export ``model`` to an XNNPACK-lowered ``.pte`` at ``path`` (atomically).

    Args:
        max_size: upper bound of every dynamic axis (the program refuses larger inputs; reported in details).

    Raises:
        BackendUnavailable: executorch is not installed.
        BadInput: torch.export or the lowering fails (the operator and the module that uses it, when known).
    """
    reason = unavailable_reason()
    if reason:
        raise BackendUnavailable(f"--format executorch: {reason}")
    if not 2 <= max_size <= 1 << 16:
        raise BadInput(f"executorch max_size {max_size}: expected 2..65536 (default {MAX_DYNAMIC})")
    program, frozen = bounded_program(model, max_size)
    try:
        buffer, details = lower(program)
        problem = quick_check(buffer, model, frozen)
    except Exception as exc:  # exir raises many types; retry with every axis static before giving up
        problem = unsupported_line("ExecuTorch", program, str(exc)) or one_line(exc)
    if problem:
        buffer, details, frozen = _lower_static(model, problem)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer)
    import importlib.metadata as md

    details.update(
        {
            "method": "to_edge_transform_and_lower(XnnpackPartitioner).to_executorch()",
            "exporter": f"executorch {md.version('executorch')}",
            "precision": "fp32",
        }
    )
    if frozen:
        details["frozen_axes"] = frozen
    planned = planned_sizes(buffer)
    bounded = {
        f"{s.name}:{ax}": [1, planned[i][ax]]
        for i, s in enumerate(model.inputs)
        for ax in s.dynamic
        if f"{s.name}:{ax}" not in frozen and i < len(planned)
    }
    if bounded:  # what the memory plan holds: ExecuTorch 1.5.1 planned 15 for the cnn's batch with max_size 64
        details["bounded_axes"] = bounded
    return details


def planned_sizes(buffer: bytes) -> list[list[int]]:
    """Each input's memory-planned (largest) shape in the lowered program."""
    import tempfile

    from executorch.runtime import Runtime

    with tempfile.TemporaryDirectory(prefix="edgekit-et-") as tmp, native_quiet():
        pte = Path(tmp) / "plan.pte"
        pte.write_bytes(buffer)
        meta = Runtime.get().load_program(str(pte)).load_method("forward").metadata
        infos = [meta.input_tensor_meta(i) for i in range(int(meta.num_inputs()))]
        return [list(t.sizes() if callable(t.sizes) else t.sizes) for t in infos]


def quick_check(buffer: bytes, model: LoadedModel, frozen: list[str]) -> str | None:
    """Run the lowered program once at every size of the shape plan (the runtime's own kernels can refuse a size
    the lowering accepted: ExecuTorch 1.5.1's ``full`` fails to resize for the GRU recipe's zero state at batch
    1). Returns None when every size runs, else the first failure as one line."""
    import tempfile

    import torch
    from executorch.runtime import Runtime

    from edgekit.core.spec import random_inputs, shape_plan

    specs = freeze_axes(model.inputs, frozen)
    with tempfile.TemporaryDirectory(prefix="edgekit-et-") as tmp, native_quiet():
        pte = Path(tmp) / "check.pte"
        pte.write_bytes(buffer)
        method = Runtime.get().load_program(str(pte)).load_method("forward")
        for sizes in shape_plan(specs):
            feed = random_inputs(specs, sizes, 0)
            try:
                method.execute([torch.from_numpy(feed[s.name]) for s in specs])
            except Exception as exc:  # the runtime raises RuntimeError with an error code
                shapes = {k: list(v.shape) for k, v in feed.items()}
                return f"the ExecuTorch runtime failed at {shapes}: {one_line(exc)}"
    return None


def _lower_static(model: LoadedModel, first: str) -> tuple[bytes, dict[str, Any], list[str]]:
    """Lower with every dynamic axis frozen at the export example size; raises BadInput with ``first`` if it
    fails too."""
    frozen = [f"{s.name}:{ax}" for s in model.inputs for ax in s.dynamic]
    static = dataclasses.replace(model, inputs=freeze_axes(model.inputs, frozen))  # the sizes verify will use
    program = None
    try:
        program, _ = bounded_program(static, 2)
        buffer, details = lower(program)
    except Exception as exc:  # both failed: the dynamic attempt's reason is the one to show, and the static one
        second = unsupported_line("ExecuTorch", program, str(exc)) if program is not None else None
        again = second or one_line(exc)
        raise BadInput(
            f"cannot lower to ExecuTorch/XNNPACK: {first}"
            + (f"; with static shapes: {again}" if again != first else "")
        ) from exc
    details["static_because"] = first
    return buffer, details, frozen
