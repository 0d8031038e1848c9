"""TorchScript export by ``torch.jit.trace``. TorchScript is deprecated upstream in favour of torch.export; it is
kept because users ask for it, behind :func:`unavailable_reason`, with its warnings silenced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from edgekit.core.errors import BadInput, one_line
from edgekit.core.io import atomic_path
from edgekit.core.model import LoadedModel
from edgekit.export.common import export_example, quiet_export


def unavailable_reason() -> str | None:
    """None when this torch still has ``torch.jit.trace`` and ``torch.jit.save``."""
    jit = getattr(torch, "jit", None)
    if jit is None or not hasattr(jit, "trace") or not hasattr(jit, "save"):
        return (
            f"this torch ({torch.__version__}) has no TorchScript (torch.jit.trace/save); use --format pt2 "
            f"(torch.export) instead"
        )
    return None


def export_torchscript(model: LoadedModel, path: Path) -> dict[str, Any]:
    """Trace ``model`` and save it to ``path`` atomically.

    Raises:
        BadInput: tracing fails (an unsupported construct in forward), naming the error.
    """
    example = export_example(model)
    with quiet_export(), torch.no_grad():
        try:
            traced = torch.jit.trace(model.module, example, check_trace=False, strict=False)
        except Exception as exc:  # tracing surfaces whatever the user's forward raises
            raise BadInput(
                f"TorchScript tracing failed: {one_line(exc)}; the model may use Python control flow "
                f"on tensor values; try --format pt2,onnx"
            ) from exc
        with atomic_path(path) as tmp:
            torch.jit.save(traced, str(tmp))
    return {"method": "torch.jit.trace"}
