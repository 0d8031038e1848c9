"""Which modules cannot run in fp16: :func:`edgekit.backends.trt.fp16_guard.find_unsafe` on an fp32 ONNX file,
its nodes mapped back to the modules that became them, and (optionally) the fp16 file written with those nodes
kept in fp32 (the converter's block list)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.core.model import LoadedModel
from edgekit.core.spec import random_inputs, shape_plan


def fp16_unsafe_modules(
    model: LoadedModel, path: Path, *, seed: int = 1234, write: Path | None = None
) -> dict[str, Any]:
    """The fp16-unsafe layers of the fp32 ONNX file at ``path``, judged on the verification inputs.

    Args:
        model: the eager model the file came from (names the modules).
        seed: base seed of the random inputs.
        write: where to write the fp16 file with the unsafe nodes kept fp32 (None: not written).

    Returns:
        ``{"layers": [{node, op, module, class, reason, norm_error}], "fp16_onnx": path or None, ...}``.

    Raises:
        BadInput: the file does not load or is not fp32.
    """
    import onnx

    from edgekit.backends.trt.fp16_guard import FP16_REL_TOL, find_unsafe
    from edgekit.backends.trt.precision import write_fp16
    from edgekit.core.errors import BadInput
    from edgekit.debug.capture import user_path
    from edgekit.debug.graph import onnx_graph
    from edgekit.debug.taps import load_onnx, onnx_precision

    proto = load_onnx(path)
    if onnx_precision(proto) != "fp32":
        raise BadInput(f"--fp16 checks an fp32 ONNX file; '{path}' is {onnx_precision(proto)}: give the fp32 export")
    feeds = [random_inputs(model.inputs, s, seed + 97 * i) for i, s in enumerate(shape_plan(model.inputs))]
    unsafe = find_unsafe(proto, feeds)
    modules = {p: type(m) for p, m in model.module.named_modules() if p}
    owners = {n.name: n.owner for n in onnx_graph(onnx.load(str(path)), set(modules)).nodes}
    layers = []
    for u in unsafe:
        owner = owners.get(u.node)
        cls = modules.get(owner) if owner else None
        layers.append(
            {
                **u.to_json(),
                "module": user_path(owner) if owner else None,
                "class": cls.__name__ if cls else None,
            }
        )
    out: dict[str, Any] = {"artifact": str(path), "tolerance": FP16_REL_TOL, "layers": layers, "fp16_onnx": None}
    if write is not None:
        out["fp16_onnx"] = str(write)
        out["converter"] = write_fp16(path, write, converter="edgekit", block=[u.node for u in unsafe])
    return out
