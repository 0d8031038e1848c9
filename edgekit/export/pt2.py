"""ExportedProgram export with ``torch.export`` (``.pt2``), dynamic dimensions declared per input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from edgekit.core.errors import BadInput, one_line
from edgekit.core.io import atomic_path
from edgekit.core.model import LoadedModel
from edgekit.export.common import export_example, quiet_export


def unavailable_reason() -> str | None:
    """None when this torch has ``torch.export.export`` and ``torch.export.save``."""
    if not hasattr(torch, "export") or not hasattr(torch.export, "save"):
        return f"this torch ({torch.__version__}) has no torch.export; upgrade torch to 2.6 or newer"
    return None


def dynamic_shapes(
    model: LoadedModel, kind: str = "DYNAMIC", *, onnx_names: bool = False
) -> dict[str, tuple[dict[int, Any], ...]]:
    """``dynamic_shapes`` for torch.export of :class:`~edgekit.core.model.FlatOutputs` (``forward(*args)``).

    With ``kind="DYNAMIC"``: axes of one named dim (the user's names, and the shared ``batch``) get ONE
    ``torch.export.Dim`` carrying the dim's range, so torch.export keeps them equal and in range; an unnamed axis
    gets ``Dim.DYNAMIC`` (with its range, if declared), an error if torch must specialize it. With ``kind="AUTO"``
    every axis is ``Dim.AUTO``: torch may specialize (the frozen axes are reported). With ``onnx_names`` (the
    dynamo ONNX exporter) an unnamed axis is given as its name string (``ids_axis1``), which becomes the ONNX dim
    name (ONNX has no ranges).
    """
    from edgekit.core.spec import dim_groups

    if kind == "AUTO":
        return {"args": tuple({ax: torch.export.Dim.AUTO for ax in s.dynamic} for s in model.inputs)}
    named = {n for s in model.inputs for n in s.dims.values()} | {"batch"}
    by_axis: dict[tuple[str, int], Any] = {}
    for g in dim_groups(model.inputs, link=False).values():
        bounds: dict[str, int] = {"min": g.low} | ({"max": g.high} if g.high is not None else {})
        if onnx_names and g.name not in named:
            dim: Any = g.name
        elif g.name in named:
            dim = torch.export.Dim(g.name, **bounds)
        elif g.declared:
            dim = torch.export.Dim.DYNAMIC(**bounds)
        else:
            dim = torch.export.Dim.DYNAMIC
        by_axis.update({m: dim for m in g.members})
    return {"args": tuple({ax: by_axis[(s.name, ax)] for ax in s.dynamic} for s in model.inputs)}


def export_program(model: LoadedModel) -> tuple[torch.export.ExportedProgram, list[str]]:
    """``torch.export.export`` of ``model`` under no_grad, with its dynamic axes.

    When torch.export refuses to keep an axis dynamic (``nn.RNN`` unrolls over time, for one), the export is
    retried with ``Dim.AUTO`` and the axes it froze are returned as ``NAME:AXIS`` strings, to be reported.

    Raises:
        BadInput: the model cannot be exported (the exporter's reason, first line).
    """
    example = export_example(model)
    with quiet_export(), torch.no_grad():
        try:
            return torch.export.export(model.module, example, dynamic_shapes=dynamic_shapes(model), strict=False), []
        except Exception as exc:  # torch.export raises many types (UserError, constraint violations ...)
            first = exc
        try:
            program = torch.export.export(
                model.module, example, dynamic_shapes=dynamic_shapes(model, "AUTO"), strict=False
            )
        except Exception:  # the first failure is the one worth reporting
            raise BadInput(
                f"torch.export failed: {one_line(first)}; check that forward has no data-dependent "
                f"control flow, or mark fewer axes dynamic (--static)"
            ) from first
    return program, frozen_axes(program, model)


def frozen_axes(program: torch.export.ExportedProgram, model: LoadedModel) -> list[str]:
    """Requested dynamic axes that ``program`` holds static, as ``NAME:AXIS``."""
    placeholders = [
        n for n in program.graph.nodes if n.op == "placeholder" and n.name in program.graph_signature.user_inputs
    ]
    frozen = []
    for spec, node in zip(model.inputs, placeholders, strict=False):
        shape = node.meta["val"].shape
        frozen += [f"{spec.name}:{ax}" for ax in spec.dynamic if _is_static(shape[ax])]
    return frozen


def _is_static(dim: Any) -> bool:
    """A plain int, or a SymInt that torch specialized to a constant."""
    return not isinstance(dim, torch.SymInt) or bool(dim.node.expr.is_number)


def export_pt2(model: LoadedModel, path: Path) -> dict[str, Any]:
    """Export ``model`` with torch.export and save it to ``path`` atomically."""
    program, frozen = export_program(model)
    with atomic_path(path) as tmp:
        torch.export.save(program, str(tmp))
    details: dict[str, Any] = {"method": "torch.export.export"}
    if frozen:
        details["frozen_axes"] = frozen
    return details
