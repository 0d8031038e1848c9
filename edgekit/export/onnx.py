"""ONNX export: the dynamo exporter first, the legacy TorchScript-based exporter when dynamo fails to export *or*
when its file fails a quick check in ONNX Runtime at several sizes per dynamic axis (TRAPS.md: dynamo silently
freezes the time axis of ``nn.RNN``; legacy fails on ``nn.TransformerEncoder``; no single exporter serves every
family). Opset 18 by default, within the band TensorRT 10 parses (<= 20). ``onnx.checker`` (full check, with
shape inference) must pass. The details say which exporter produced the file and why the other was not used.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import torch

from edgekit.core.errors import BadInput, one_line
from edgekit.core.io import temp_path
from edgekit.core.model import LoadedModel
from edgekit.core.spec import dynamic_dims
from edgekit.export.common import export_example, quiet_export

DEFAULT_OPSET = 18
MAX_OPSET = 20  # TensorRT 10.0 parses opsets 9-20


def unavailable_reason() -> str | None:
    """None when onnx and onnxruntime import (onnxscript is needed by the dynamo exporter only)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed: pip install onnx onnxruntime"
    return None


def export_onnx(
    model: LoadedModel, path: Path, opset: int = DEFAULT_OPSET, exporter: str = "auto", **_: Any
) -> dict[str, Any]:
    """Export ``model`` to ``path`` (atomically) and return details for the manifest.

    Args:
        opset: ONNX opset, 17-20 (TensorRT's band).
        exporter: ``auto`` (dynamo, then legacy on failure), ``dynamo`` or ``legacy``.

    Raises:
        BadInput: a bad opset, or no exporter could produce a valid file (both reasons given).
    """
    if not 7 <= opset <= MAX_OPSET:
        raise BadInput(
            f"opset {opset} is outside the band TensorRT 10 parses; expected 7..{MAX_OPSET} (default {DEFAULT_OPSET})"
        )
    order = {"auto": ["dynamo", "legacy"], "dynamo": ["dynamo"], "legacy": ["legacy"]}.get(exporter)
    if order is None:
        raise BadInput(f"unknown exporter '{exporter}'; expected auto, dynamo or legacy")
    attempts: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        fallback: tuple[str, Path] | None = None
        for name in order:
            tmp = stack.enter_context(temp_path(path))
            try:
                _EXPORTERS[name](model, tmp, opset)
                check_onnx(tmp)
            except BadInput as exc:
                attempts[name] = str(exc)
                continue
            problem = quick_check(model, tmp)
            if problem is None:
                os.replace(tmp, path)
                return {"exporter": name, "opset": opset, "rejected": attempts}
            attempts[name] = problem
            fallback = fallback or (name, tmp)
        if fallback is not None:  # every file failed the check: keep the first, verification reports why
            os.replace(fallback[1], path)
            return {"exporter": fallback[0], "opset": opset, "rejected": attempts}
    raise BadInput("ONNX export failed: " + "; ".join(f"{k} exporter: {v}" for k, v in attempts.items()))


def _dynamo(model: LoadedModel, path: Path, opset: int) -> None:
    from edgekit.export.pt2 import dynamic_shapes

    with quiet_export(), torch.no_grad():
        try:
            program = torch.onnx.export(
                model.module,
                export_example(model),
                dynamo=True,
                opset_version=opset,
                input_names=model.input_names,
                output_names=model.outputs,
                dynamic_shapes=dynamic_shapes(model),
                optimize=True,
                verbose=False,
            )
            if program is None:
                raise RuntimeError("the exporter returned no program")
            program.save(str(path), external_data=False)
        except Exception as exc:  # the exporter raises many types; the first line names the unsupported op
            raise BadInput(one_line(exc)) from exc
    _ensure_opset(path, opset)


def _ensure_opset(path: Path, opset: int) -> None:
    """The dynamo exporter builds at opset 18 and does not always down-convert: convert with onnx's converter,
    and refuse the file (so the legacy exporter is tried) when the converted model is invalid."""
    import onnx
    from onnx import version_converter

    model = onnx.load(str(path))
    found = opset_of(model)
    if found == opset:
        return
    try:
        converted = version_converter.convert_version(model, opset)
        onnx.checker.check_model(converted, full_check=True)
    except Exception as exc:  # the converter raises assorted errors on ops it cannot rewrite
        raise BadInput(
            f"produced opset {found}, and converting it to opset {opset} failed ({one_line(exc, 120)})"
        ) from exc
    onnx.save(converted, str(path))


def opset_of(model: Any) -> int:
    """The default-domain opset of an ``onnx.ModelProto``."""
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)


def _legacy(model: LoadedModel, path: Path, opset: int) -> None:
    axes = {name: dict(dims) for name, dims in dynamic_dims(model.inputs).items() if dims}
    for out in model.outputs:  # let every output follow the batch; shape inference fixes the rest
        axes.setdefault(out, {0: "batch"}) if any(0 in s.dynamic for s in model.inputs) else None
    with quiet_export(), torch.no_grad():
        try:
            torch.onnx.export(
                model.module,
                export_example(model),
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=model.input_names,
                output_names=model.outputs,
                dynamic_axes=axes,
                do_constant_folding=True,
            )
        except Exception as exc:  # names the unsupported aten op when there is one
            raise BadInput(one_line(exc)) from exc


_EXPORTERS = {"dynamo": _dynamo, "legacy": _legacy}


def check_onnx(path: Path) -> None:
    """``onnx.checker`` with full check (strict shape inference included).

    Raises:
        BadInput: the checker's first complaint.
    """
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:  # onnx raises ValidationError / InferenceError
        raise BadInput(f"onnx.checker rejected the export: {one_line(exc)}") from exc


def quick_check(model: LoadedModel, path: Path) -> str | None:
    """Run the file in ONNX Runtime at every verification shape against eager; ``None`` when it agrees.
    A nondeterministic model is not judged here (both exporters would fail it)."""
    from edgekit.artifacts.verify import verify_runner
    from edgekit.backends.registry import create_runner

    try:
        with create_runner("onnxruntime", path, threads=1) as runner:
            result = verify_runner(model, runner, str(path), "onnx")
    except BadInput as exc:
        return str(exc)
    if result.passed or result.nondeterministic:
        return None
    return "verification in ONNX Runtime failed (" + "; ".join(result.failures()[:3]) + ")"
