"""INT8 for ExecuTorch: the same pt2e flow as :mod:`edgekit.quant.ptq` (capture with torch.export, prepare,
calibrate, convert), annotated by ExecuTorch's ``XNNPACKQuantizer`` (symmetric int8, per-channel weights) instead
of edgekit's TensorRT placement rules, then lowered to XNNPACK like the fp32 ``.pte``.

PTQ only: QAT (``prepare_qat_pt2e`` with ``get_symmetric_quantization_config(is_qat=True)``) would reuse
:func:`edgekit.quant.qat.quantization_aware_training`'s loop, which is written around edgekit's TensorRT quantizer;
it is not wired here (see docs/edge.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from edgekit.core.errors import BackendUnavailable, BadInput, one_line
from edgekit.core.model import LoadedModel

Arrays = dict[str, Any]


def xnnpack_quantizer(per_channel: bool = True) -> Any:
    """ExecuTorch's XNNPACK quantizer with its symmetric int8 config for every supported op.

    Raises:
        BackendUnavailable: executorch is not installed.
    """
    try:
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer,
            get_symmetric_quantization_config,
        )
    except ImportError as exc:
        raise BackendUnavailable("executorch is not installed: pip install 'edgekit[executorch]'") from exc
    return XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=per_channel))


def calibrate_xnnpack(model: LoadedModel, batches: Iterable[Arrays]) -> LoadedModel:
    """Post-training INT8 of ``model`` for XNNPACK, calibrated on ``batches`` (dicts of input arrays).

    Returns:
        The converted Q/DQ graph as a LoadedModel (its ``predict`` is the INT8 torch reference).

    Raises:
        BadInput: capture or calibration fails; BackendUnavailable: executorch missing.
    """
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e  # type: ignore[import-untyped]

    from edgekit.quant.ptq import check_calibration
    from edgekit.quant.quantizer import as_loaded, capture, convert

    batches = list(batches)
    check_calibration(batches, model.inputs)
    gm, captured = capture(model, train=False)
    prepared = prepare_pt2e(gm, xnnpack_quantizer())
    with torch.no_grad():
        for batch in batches:
            try:
                prepared(*model.tensors(batch))
            except Exception as exc:  # shapes the captured graph rejects
                raise BadInput(f"XNNPACK calibration failed: {one_line(exc, 200)}") from exc
    return as_loaded(convert(prepared), captured, f"{model.source} (int8 xnnpack ptq)")


def export_executorch_int8(qmodel: LoadedModel, path: Path) -> dict[str, Any]:
    """Lower the converted INT8 model to an XNNPACK ``.pte`` at ``path`` (atomically): the Q/DQ pairs around each
    supported op become XNNPACK's int8 kernels.

    Raises:
        BadInput: torch.export or the lowering fails.
    """
    from edgekit.core.io import atomic_path
    from edgekit.export.executorch import bounded_program, lower

    program, frozen = bounded_program(qmodel, 64)
    try:
        buffer, details = lower(program)
    except Exception as exc:  # exir raises many types
        raise BadInput(f"cannot lower the INT8 model to ExecuTorch/XNNPACK: {one_line(exc)}") from exc
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer)
    details.update({"precision": "int8", "quantizer": "XNNPACKQuantizer (symmetric, per-channel)"})
    if frozen:
        details["frozen_axes"] = frozen
    return details
