"""The one table of export formats (after Ultralytics): name, file suffix, exporter, the backend that verifies it,
and a capability check. ``export``, ``compare``, ``bench`` and ``doctor`` are all driven from it.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgekit.backends.trt.options import EXPORT_OPTIONS
from edgekit.core.errors import BadInput, suggest


@dataclasses.dataclass(frozen=True)
class FormatInfo:
    """An export format.

    Args:
        name: the ``--format`` value.
        suffix: the artifact's file suffix.
        exporter: ``module:function`` with signature ``(model: LoadedModel, path: Path, **options) -> dict``
            (the dict: details for the manifest, e.g. which exporter produced the file).
        backend: the backend that loads and verifies the artifact.
        check: ``module:function`` returning ``None`` when the format can be produced here, else the reason.
        description: one line for listings.
        options: keyword options its exporter takes (it is given only these; an option no requested format
            takes is refused).
        extra: the pip extra that installs what it needs (``pip install 'edgekit[EXTRA]'``).
    """

    name: str
    suffix: str
    exporter: str
    backend: str
    check: str
    description: str
    options: tuple[str, ...] = ()
    extra: str | None = None

    def export_fn(self) -> Callable[..., dict[str, Any]]:
        return _load(self.exporter)  # type: ignore[no-any-return]

    def unavailable_reason(self) -> str | None:
        """``None`` when this format can be exported on this machine, else why not (with the fix). A check whose
        module does not import counts as unavailable, with that reason."""
        try:
            reason: str | None = _load(self.check)()
        except ImportError as exc:
            reason = f"its capability check ({self.check}) cannot be imported: {exc}"
        if reason is not None and self.extra and "pip install" not in reason:
            reason += f"; pip install 'edgekit[{self.extra}]'"
        return reason


FORMATS: dict[str, FormatInfo] = {
    f.name: f
    for f in (
        FormatInfo(
            "torchscript",
            ".ts",
            "edgekit.export.torchscript:export_torchscript",
            "torchscript",
            "edgekit.export.torchscript:unavailable_reason",
            "TorchScript (torch.jit.trace), deprecated upstream",
        ),
        FormatInfo(
            "pt2",
            ".pt2",
            "edgekit.export.pt2:export_pt2",
            "pt2",
            "edgekit.export.pt2:unavailable_reason",
            "torch.export ExportedProgram",
        ),
        FormatInfo(
            "onnx",
            ".onnx",
            "edgekit.export.onnx:export_onnx",
            "onnxruntime",
            "edgekit.export.onnx:unavailable_reason",
            "ONNX (dynamo exporter, legacy fallback), opset <= 20",
            options=("opset", "exporter"),
        ),
        FormatInfo(
            "trt",
            ".engine",
            "edgekit.export.trt:export_engine",
            "tensorrt",
            "edgekit.backends.trt.build:unavailable_reason",
            "TensorRT engine built from the ONNX export",
            options=EXPORT_OPTIONS,
            extra="trt",
        ),
        FormatInfo(
            "aoti",
            ".aoti.pt2",
            "edgekit.export.aoti:export_aoti",
            "aoti",
            "edgekit.export.aoti:unavailable_reason",
            "AOTInductor package compiled from the ExportedProgram (C++ compile, ~30 s; CPU verified here)",
        ),
        FormatInfo(
            "openvino",
            ".xml",
            "edgekit.export.openvino:export_openvino",
            "openvino",
            "edgekit.export.openvino:unavailable_reason",
            "OpenVINO IR (.xml + .bin) from the ExportedProgram, or the ONNX export when that fails",
            extra="openvino",
        ),
        FormatInfo(
            "executorch",
            ".pte",
            "edgekit.export.executorch:export_executorch",
            "executorch",
            "edgekit.export.executorch:unavailable_reason",
            "ExecuTorch program lowered to XNNPACK (dynamic axes bounded by max_size)",
            options=("max_size",),
            extra="executorch",
        ),
        FormatInfo(
            "ncnn",
            ".ncnn.param",
            "edgekit.export.ncnn:export_ncnn",
            "ncnn",
            "edgekit.export.ncnn:unavailable_reason",
            "NCNN .ncnn.param + .ncnn.bin through pnnx (batch run sample by sample)",
            extra="ncnn",
        ),
    )
}


def format_reasons(device: str | None = None) -> dict[str, str | None]:
    """The one decision of "which formats can be exported here": per format, None when it can, else why not (with
    the fix). A check that raises counts as unavailable, with its error as the reason. With ``device``, a format
    whose verifying backend does not run on that device (the TensorRT engine on ``cpu``) is unavailable too."""
    from edgekit.backends.registry import BACKENDS
    from edgekit.core.errors import one_line

    out: dict[str, str | None] = {}
    for f in FORMATS.values():
        row = BACKENDS.get(f.backend)
        if device is not None and row is not None and device not in row.devices:
            out[f.name] = f"its artifacts run on {'/'.join(row.devices)} ({f.backend}), not {device}"
            continue
        try:
            out[f.name] = f.unavailable_reason()
        except Exception as exc:  # a capability check failing in its own way: not available here
            out[f.name] = f"its capability check ({f.check}) failed: {one_line(exc)}"
    return out


def available_formats(device: str | None = None) -> list[FormatInfo]:
    """The formats :func:`format_reasons` finds available here (on ``device``, when given), in table order."""
    return [FORMATS[name] for name, reason in format_reasons(device).items() if reason is None]


def suffixes() -> tuple[str, ...]:
    """Every artifact suffix edgekit reads (``.pt`` is TorchScript too), from :data:`FORMATS`; a two-part suffix
    (``.ncnn.param``) is listed whole and by its last part (what ``Path.suffix`` gives)."""
    full = [f.suffix for f in FORMATS.values()]
    return tuple(dict.fromkeys([*full, ".pt", *(Path("x" + s).suffix for s in full)]))


def suffix_text() -> str:
    """``.ts/.pt2/.onnx/.engine/.pt``: every artifact suffix, for help texts and messages."""
    return "/".join(suffixes())


def parse_formats(text: str) -> list[FormatInfo]:
    """``torchscript,pt2,onnx`` -> format infos; ``all`` means every format available here.

    Raises:
        BadInput: an unknown format name, with the closest one.
    """
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return available_formats()
    out = []
    for n in names:
        if n not in FORMATS:
            raise BadInput(f"unknown format '{n}'; expected one of {', '.join(FORMATS)} or all.{suggest(n, FORMATS)}")
        out.append(FORMATS[n])
    if not out:
        raise BadInput(f"--format is empty; expected a comma-separated list of {', '.join(FORMATS)}")
    return out


def format_of(path: str | Path) -> FormatInfo:
    """The format of an existing artifact, from its suffix (``.pt`` is TorchScript too).

    Raises:
        BadInput: an unknown suffix.
    """
    name = Path(path).name.lower()
    suffix = Path(path).suffix.lower()
    if suffix == ".pt":
        return FORMATS["torchscript"]
    for f in sorted(FORMATS.values(), key=lambda f: -len(f.suffix)):  # .aoti.pt2 before .pt2
        if name.endswith(f.suffix):
            return f
    known = ", ".join(sorted(suffixes()))
    raise BadInput(f"cannot tell the format of '{path}' from its suffix '{suffix}'; expected one of {known}")


def _load(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)
