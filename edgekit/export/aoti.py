"""AOTInductor packages (``aoti``): the ExportedProgram of :mod:`edgekit.export.pt2` compiled ahead of time by
``torch._inductor.aoti_compile_and_package`` into a ``.aoti.pt2`` package (a zip holding a shared library and the
weights), loaded by ``torch._inductor.aoti_load_package`` in Python or by ``AOTIModelPackageLoader`` in C++.

The package runs the model without Python graph guards or pytree work per call (``ExportedProgram.module()`` does
both), at the price of a C++ compile at export time (about 30 s for a small CNN with gcc 12 on 2 cores, reported
apart as ``details["compile_seconds"]``). It accepts only the sizes it was compiled for: the ranges torch.export
derived for every dynamic axis are written into the package's metadata (``edgekit_input_ranges``), and
:class:`~edgekit.backends.aoti_runner.AotiRunner` refuses an input outside them instead of running it (AOTInductor
itself checks inputs only with ``AOTI_RUNTIME_CHECK_INPUTS=1``).

CPU packages are built and verified here. ``device="cuda"`` compiles for the GPU (the program is exported from a
copy of the model on CUDA); that path is written but has not been run on a GPU in this project.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import torch

from edgekit.backends.aoti_runner import METADATA_KEY
from edgekit.core.errors import BackendUnavailable, BadInput, one_line
from edgekit.core.io import atomic_path
from edgekit.core.model import LoadedModel
from edgekit.core.spec import EXPORT_MIN_DYNAMIC
from edgekit.export.common import quiet_export
from edgekit.export.pt2 import export_program


def unavailable_reason() -> str | None:
    """None when this torch has AOTInductor packaging and a C++ compiler is on PATH."""
    import shutil

    inductor = getattr(torch, "_inductor", None)
    if inductor is None or not hasattr(inductor, "aoti_compile_and_package"):
        return f"this torch ({torch.__version__}) has no torch._inductor.aoti_compile_and_package; upgrade to 2.6+"
    if not any(shutil.which(c) for c in ("g++", "c++", "clang++")):
        return "AOTInductor needs a C++ compiler and none is on PATH: apt-get install g++ (or set CXX)"
    return None


def export_aoti(model: LoadedModel, path: Path, device: str = "cpu", **_: Any) -> dict[str, Any]:
    """Export ``model`` with torch.export, compile it with AOTInductor for ``device`` and write the package to
    ``path`` atomically.

    Returns:
        details: ``method``, ``device``, ``compile_seconds`` (the AOTInductor compile alone, export excluded),
        ``export_seconds``, ``input_ranges`` and ``frozen_axes`` when torch.export froze requested axes.

    Raises:
        BadInput: torch.export or the AOTInductor compile fails (first line of the reason).
        BackendUnavailable: ``device="cuda"`` without a CUDA build of torch and a GPU.
    """
    if device == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailable(
            f"aoti for cuda: this torch ({torch.__version__}) sees no CUDA GPU; compile with --device cpu"
        )
    subject = model if device == "cpu" else _on_device(model, device)
    start = time.perf_counter()
    program, frozen = export_program(subject)
    exported = time.perf_counter()
    ranges = input_ranges(program, model)
    with atomic_path(path) as tmp, quiet_export():
        try:
            torch._inductor.aoti_compile_and_package(
                program,
                package_path=str(tmp),
                inductor_configs={"aot_inductor.metadata": {METADATA_KEY: json.dumps(ranges)}},
            )
        except Exception as exc:  # inductor lowering and the C++ compiler raise many types
            raise BadInput(
                f"AOTInductor compile failed: {one_line(exc)}; the .pt2 export of the same model may still work "
                f"(--format pt2)"
            ) from exc
    details: dict[str, Any] = {
        "method": "torch._inductor.aoti_compile_and_package",
        "device": device,
        "export_seconds": round(exported - start, 3),
        "compile_seconds": round(time.perf_counter() - exported, 3),
        "input_ranges": ranges,
    }
    if frozen:
        details["frozen_axes"] = frozen
    return details


def _on_device(model: LoadedModel, device: str) -> LoadedModel:
    """A copy of ``model`` whose module lives on ``device`` (export traces on the device it will run on)."""
    import dataclasses

    return dataclasses.replace(model, module=copy.deepcopy(model.module).to(device))


def input_ranges(program: torch.export.ExportedProgram, model: LoadedModel) -> dict[str, list[list[int | None]]]:
    """Per input, per axis, the ``[min, max]`` sizes ``program`` accepts (``max`` None: unbounded; a static axis
    has min == max), from its placeholders' shapes and ``range_constraints``. torch.export reports a lower bound
    of 2 for dims it keeps dynamic past its 0/1 specialization even where the program runs at 1; such a bound is
    widened to the axis' declared minimum (1 for the batch), and the shape plan then verifies the package there."""
    placeholders = [
        n for n in program.graph.nodes if n.op == "placeholder" and n.name in program.graph_signature.user_inputs
    ]
    constraints = {str(k): v for k, v in program.range_constraints.items()}
    out: dict[str, list[list[int | None]]] = {}
    for spec, node in zip(model.inputs, placeholders, strict=False):
        axes: list[list[int | None]] = []
        for ax, dim in enumerate(node.meta["val"].shape):
            if isinstance(dim, int) or (isinstance(dim, torch.SymInt) and dim.node.expr.is_number):
                axes.append([int(dim), int(dim)])
                continue
            vr = constraints.get(str(dim.node.expr))
            lower = int(vr.lower) if vr is not None else 0
            declared = spec.ranges.get(ax, (1, None))[0]
            if lower == EXPORT_MIN_DYNAMIC and declared < lower:
                lower = declared  # torch's 0/1 specialization reports >= 2; verification runs the smaller size
            axes.append([lower, _finite(vr.upper) if vr is not None else None])
        out[spec.name] = axes
    return out


def _finite(bound: Any) -> int | None:
    """A sympy range bound as an int, None for infinity (torch's ``int_oo``)."""
    if getattr(bound, "is_finite", None) is not True:
        return None
    try:
        return int(bound)
    except (TypeError, ValueError, OverflowError, AttributeError):
        return None
