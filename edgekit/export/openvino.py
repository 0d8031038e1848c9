"""OpenVINO IR export (``.xml`` + ``.bin``): ``openvino.convert_model`` of the torch.export ExportedProgram, or of
the ONNX export when the ExportedProgram does not convert. Inputs and outputs get the model's names, the static
axes stay static and the dynamic ones dynamic (``-1``); weights are kept in fp32 (``compress_to_fp16=False``;
OpenVINO's default would halve them silently).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.core.errors import BackendUnavailable, BadInput, one_line
from edgekit.core.model import LoadedModel
from edgekit.core.quiet import native_quiet
from edgekit.export.edge_common import atomic_files, unsupported_line

PIP = "pip install 'edgekit[openvino]'"


def unavailable_reason() -> str | None:
    """None when ``openvino`` imports (the IR is written by openvino itself)."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return f"openvino is not installed: {PIP}"
    return None


def export_openvino(model: LoadedModel, path: Path, **_: Any) -> dict[str, Any]:
    """Convert ``model`` to an OpenVINO IR at ``path`` (``.xml``) with its weights in ``path.with_suffix('.bin')``.

    Returns:
        details for the manifest: method, source graph ("ExportedProgram" or "ONNX" and why), frozen axes,
        precision, and ``companions`` (the ``.bin``).

    Raises:
        BackendUnavailable: openvino is not installed.
        BadInput: neither the ExportedProgram nor the ONNX export converts (both reasons).
    """
    reason = unavailable_reason()
    if reason:
        raise BackendUnavailable(f"--format openvino: {reason}")
    import openvino as ov

    ov_model, details = _convert(model)
    _name_and_shape(ov_model, model, details.get("frozen_axes", []))
    companion = path.with_suffix(".bin").name
    with atomic_files(path, [companion]) as tmp:
        ov.save_model(ov_model, str(tmp / path.name), compress_to_fp16=False)
    details.update(
        {
            "companions": [companion],
            "precision": "fp32",
            "exporter": f"openvino {ov.__version__.split('-')[0]} convert_model",
        }
    )
    return details


def _convert(model: LoadedModel) -> tuple[Any, dict[str, Any]]:
    """The ov.Model and its details: from the ExportedProgram first, else from a fresh ONNX export."""
    import openvino as ov

    from edgekit.export.pt2 import export_program

    program = None
    try:
        program, frozen = export_program(model)
        with native_quiet():
            converted = ov.convert_model(program)
        if frozen:  # the ONNX export keeps an RNN's time axis dynamic where torch.export froze it
            try:
                why = f"torch.export froze {frozen}; the ONNX export keeps them dynamic"
                return _from_onnx(model), {"method": "openvino.convert_model(ONNX)", "fallback_reason": why}
            except Exception:  # noqa: BLE001 - keep the ExportedProgram's conversion and report the frozen axes
                pass
        details: dict[str, Any] = {"method": "openvino.convert_model(ExportedProgram)"}
        return converted, ({**details, "frozen_axes": frozen} if frozen else details)
    except BadInput as exc:
        first = one_line(exc)
    except Exception as exc:  # openvino's frontends raise their own types (OpConversionFailure, GeneralFailure)
        first = unsupported_line("OpenVINO", program, str(exc)) or one_line(exc)
    try:
        return _from_onnx(model), {"method": "openvino.convert_model(ONNX)", "fallback_reason": first}
    except Exception as exc:  # the ONNX export or its conversion: report both reasons
        raise BadInput(
            f"cannot convert to OpenVINO: from the ExportedProgram: {first}; from ONNX: {one_line(exc)}; "
            f"expected operators OpenVINO's PyTorch or ONNX frontend supports"
        ) from exc


def _from_onnx(model: LoadedModel) -> Any:
    import tempfile

    import openvino as ov

    from edgekit.export.onnx import export_onnx

    with tempfile.TemporaryDirectory(prefix="edgekit-ov-") as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        export_onnx(model, onnx_path)
        with native_quiet():
            return ov.convert_model(str(onnx_path))


def _name_and_shape(ov_model: Any, model: LoadedModel, frozen: list[str]) -> None:
    """Give the IR's inputs/outputs the model's names, and declare each input's shape: dynamic axes -1, others
    (and the axes the export froze) the example size, so a wrong-shape input fails loudly rather than silently."""
    import openvino as ov

    frozen_set = set(frozen)
    shapes = {}
    for spec, port in zip(model.inputs, ov_model.inputs, strict=True):
        port.get_tensor().set_names({spec.name})
        dims = [
            -1 if (ax in spec.dynamic and f"{spec.name}:{ax}" not in frozen_set) else n
            for ax, n in enumerate(spec.shape)
        ]
        shapes[spec.name] = ov.PartialShape(dims)
    for name, port in zip(model.outputs, ov_model.outputs, strict=True):
        port.get_tensor().set_names({name})
    ov_model.reshape(shapes)
