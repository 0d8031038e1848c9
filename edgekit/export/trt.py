"""``--format trt``: the ONNX export, then a TensorRT engine built from it
(:func:`edgekit.backends.trt.build.build_engine`).

Exporting and building are two steps composed here, so the TensorRT backend never imports an exporter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.backends.trt import build
from edgekit.backends.trt.options import ENGINE_OPTIONS
from edgekit.backends.trt.profiles import align_with_onnx, derive_profile
from edgekit.core.errors import BackendUnavailable
from edgekit.core.model import LoadedModel
from edgekit.export.onnx import export_onnx


def export_engine(model: LoadedModel, path: Path, **options: Any) -> dict[str, Any]:
    """``--format trt``: export ``model`` to ONNX beside ``path`` (``model.trt.onnx`` for ``model.engine``) with
    :func:`edgekit.export.onnx.export_onnx`, then build the engine at ``path``.

    Axes the exporter froze (declared dynamic in the model, fixed in the ONNX) are built at the file's size and
    listed in the details as ``frozen_axes`` (``NAME:AXIS``), as the ONNX exporter reports them.

    Args:
        options: ``onnx`` (build from this existing ONNX instead, e.g. the Q/DQ file for int8), ``opset``,
            ``exporter``, and every keyword of :func:`build_engine` except ``profiles`` (derived from the model's
            input specs and ``min_shapes``/``opt_shapes``/``max_shapes``).

    Raises:
        BackendUnavailable: TensorRT, pycuda or a GPU is missing (checked before anything is exported).
        BadInput: bad options, an ONNX TensorRT cannot parse, or a failed build.
    """
    reason = build.unavailable_reason()
    if reason is not None:
        raise BackendUnavailable(reason)
    path = Path(path)
    given = options.pop("onnx", None)
    details: dict[str, Any] = {}
    if given is not None:
        onnx_path = Path(given)
        details["onnx_export"] = {"path": str(onnx_path), "exporter": "given"}
    else:
        # not MODEL.onnx: `--format onnx,trt` writes that one, verified as its own artifact
        onnx_path = path.with_name(path.stem + ".trt.onnx")
        onnx_opts = {k: options.pop(k) for k in ("opset", "exporter") if k in options}
        details["onnx_export"] = {"path": str(onnx_path), **export_onnx(model, onnx_path, **onnx_opts)}
    specs, frozen = align_with_onnx(model.inputs, onnx_path)
    if frozen:  # the exporter froze these axes: the engine can only be built and verified at their size
        details["frozen_axes"] = frozen
    profile = derive_profile(
        specs,
        min_shapes=options.pop("min_shapes", ()),
        opt_shapes=options.pop("opt_shapes", ()),
        max_shapes=options.pop("max_shapes", ()),
    )
    known = (*ENGINE_OPTIONS, "inspect")
    build_opts = {k: v for k, v in options.items() if k in known}
    details.update(build.build_engine(onnx_path, path, profiles=profile, **build_opts))
    return details
