"""``edgekit build MODEL.onnx -o model.engine``: a TensorRT engine from an ONNX file, as trtexec builds one.

Register in the main app with ``app.command("build")(build)``. Imports nothing heavy at module level.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import typer

from edgekit.cli.common import cli_errors, console


class Precision(str, enum.Enum):
    fp32 = "fp32"
    fp16 = "fp16"
    int8 = "int8"


SHAPE_HELP = "NAME:DIMS as trtexec writes it (x:1x3x32x32; several comma-separated; repeatable)"


@cli_errors
def build(
    model: Annotated[Path, typer.Argument(help="the ONNX file to build (int8: a Q/DQ ONNX from edgekit quantize/qat)")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="engine path [default: MODEL.engine]")] = None,
    min_shape: Annotated[list[str] | None, typer.Option("--min-shape", help=f"profile minimum: {SHAPE_HELP}")] = None,
    opt_shape: Annotated[list[str] | None, typer.Option("--opt-shape", help=f"profile optimum: {SHAPE_HELP}")] = None,
    max_shape: Annotated[list[str] | None, typer.Option("--max-shape", help=f"profile maximum: {SHAPE_HELP}")] = None,
    workspace: Annotated[int | None, typer.Option(help="workspace pool limit in MiB [default: TensorRT's]")] = None,
    precision: Annotated[
        Precision, typer.Option(help="fp32 | fp16 | int8 (TensorRT 11: fp16 converts the graph)")
    ] = Precision.fp32,
    timing_cache: Annotated[
        Path | None, typer.Option(help="timing cache file, reused and updated across builds")
    ] = None,
    dla_core: Annotated[int | None, typer.Option(help="build for this DLA core (Jetson); fp16/int8 only")] = None,
    gpu_fallback: Annotated[
        bool,
        typer.Option(help="with --dla-core, let layers DLA cannot run fall back to the GPU (the report lists them)"),
    ] = True,
    tf32: Annotated[bool, typer.Option(help="allow TF32 in fp32 builds (off: fp32 matches eager)")] = False,
    cache: Annotated[bool, typer.Option(help="reuse an identical engine from the engine cache")] = True,
    fallback: Annotated[
        bool,
        typer.Option(
            help="without TensorRT/pycuda/GPU, say what runs the ONNX instead (ONNX Runtime CUDA or CPU EP) and exit 0"
        ),
    ] = False,
) -> None:
    """Build a TensorRT engine from an ONNX file (parse, profile, precision, timing cache, DLA), cached.

    Exit 3 with the missing piece (TensorRT, pycuda or a GPU) unless --fallback is given.
    """
    _build(
        model,
        output or model.with_suffix(".engine"),
        min_shape or [],
        opt_shape or [],
        max_shape or [],
        workspace=workspace,
        precision=precision.value,
        timing_cache=timing_cache,
        dla_core=dla_core,
        gpu_fallback=gpu_fallback,
        tf32=tf32,
        use_cache=cache,
        fallback=fallback,
    )


def _build(
    model: Path,
    output: Path,
    min_shape: list[str],
    opt_shape: list[str],
    max_shape: list[str],
    *,
    fallback: bool,
    **options: Any,
) -> None:
    from edgekit.backends.trt.fallback import decide
    from edgekit.core.errors import BadInput

    if not model.is_file():
        raise BadInput(f"'{model}' does not exist; expected an ONNX file (edgekit export MODEL --format onnx)")
    decision = decide("tensorrt", allow_fallback=fallback)
    if decision.backend != "tensorrt":
        _report_fallback(model, decision.describe(), decision.backend, decision.device)
        return
    from edgekit.backends.trt.build import build_engine

    details = build_engine(model, output, min_shapes=min_shape, opt_shapes=opt_shape, max_shapes=max_shape, **options)
    for line in summary_lines(details):
        console.print(line, markup=False)


def _report_fallback(model: Path, why: str, backend: str, device: str) -> None:
    """Check that the fallback backend loads the ONNX, and say so: no engine is written."""
    from edgekit.backends.registry import create_runner

    with create_runner(backend, model, device=device) as runner:
        providers = runner.details.get("providers", [])
    console.print(f"no engine written: {why}", markup=False)
    console.print(
        f"{model} loads in {backend} on {device} (providers {providers}); run it with --backend {backend}", markup=False
    )


def summary_lines(details: dict[str, Any]) -> list[str]:
    """What ``edgekit build`` prints: the engine, what built it, how, and what the DLA could not run."""
    cache = details.get("cache") or {}
    build = details.get("build") or {}
    lines = [
        f"engine: {details.get('engine')} ({'from the engine cache' if cache.get('hit') else 'built'}"
        + (f" in {build.get('seconds')} s" if build.get("seconds") is not None else "")
        + ")",
        f"TensorRT {details.get('trt_version')} on {details.get('gpu')}",
        f"precision: {(details.get('precision') or {}).get('description')}",
        "profile: "
        + "; ".join(
            f"{n}: {_dims(r['min'], 'min')}, {_dims(r['opt'], 'opt')}, {_dims(r['max'], 'max')}"
            for n, r in (details.get("profiles") or {}).items()
        ),
    ]
    parse = details.get("parse") or {}
    if parse.get("fp16_converter"):
        lines.append(f"fp16 graph: {parse.get('fp16_onnx')} (converter: {parse['fp16_converter']}, fp32 I/O)")
    if build.get("timing_cache") not in (None, "none"):
        lines.append(f"timing cache: {build['timing_cache']}")
    dla = details.get("dla")
    if dla:
        gpu_layers = dla.get("gpu_layers") or []
        lines.append(
            f"DLA core {dla['core']}: {dla['layers'] - len(gpu_layers)} of {dla['layers']} layers on DLA; "
            f"on the GPU: " + (", ".join(f"{g['layer']} ({g['type']})" for g in gpu_layers) or "none")
        )
    lines.append(f"sidecar: {details.get('engine')}.json")
    return lines


def _dims(shape: list[int], label: str) -> str:
    return f"{label} {'x'.join(map(str, shape))}"
