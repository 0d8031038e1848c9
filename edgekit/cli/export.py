"""``edgekit export``: export a model to several formats and verify every artifact against eager PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from edgekit.cli.common import (
    AtolOpt,
    CheckpointOpt,
    DynamicOpt,
    InputOpt,
    ModelArg,
    RtolOpt,
    SamplesOpt,
    StaticOpt,
    TrustOpt,
    cli_errors,
    console,
    err_console,
    load,
)


@cli_errors
def export(
    model: ModelArg,
    format: Annotated[
        str, typer.Option("--format", "-f", help="Comma-separated: torchscript,pt2,onnx,trt, or all.")
    ] = "torchscript,pt2,onnx",
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory.")] = Path("out"),
    checkpoint: CheckpointOpt = None,
    input: InputOpt = None,
    dynamic: DynamicOpt = None,
    static: StaticOpt = False,
    trust_checkpoint: TrustOpt = False,
    atol: AtolOpt = None,
    rtol: RtolOpt = None,
    samples: SamplesOpt = 1,
    opset: Annotated[int, typer.Option(help="ONNX opset (TensorRT 10 parses <= 20).")] = 18,
    exporter: Annotated[
        str, typer.Option(help="ONNX exporter: auto (dynamo, legacy on failure), dynamo, legacy.")
    ] = "auto",
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help=".npz with one array per model input (axis 0: samples): verify on these real samples as well as "
            "on random ones.",
        ),
    ] = None,
) -> None:
    """Export MODEL to TorchScript / ExportedProgram / ONNX (/ TensorRT), verify each artifact against eager
    PyTorch at several input sizes, and write manifest.json. Exit 1 when a verification fails."""
    from edgekit.artifacts.formats import parse_formats
    from edgekit.bench.accuracy import eval_set
    from edgekit.cli.render import export_table, verification_table
    from edgekit.export.driver import export_all

    formats = parse_formats(format)
    loaded = load(model, checkpoint, input, dynamic, static, trust_checkpoint, atol, rtol)
    real = eval_set(loaded, None, data) if data is not None else None
    with console.status("exporting") as status:
        results = export_all(
            loaded,
            formats,
            output,
            samples=samples,
            options={"opset": opset, "exporter": exporter},
            progress=lambda msg: status.update(msg),
            data=real.inputs if real else None,
            data_source=real.source if real else "",
        )
    verified = [r.verification for r in results if r.verification is not None]
    if verified:
        console.print(verification_table(verified))
    if any(r.path is not None for r in results):
        console.print(export_table(results))
        console.print(f"manifest: {output / 'manifest.json'}")
    exit_with(results)


def exit_with(results: list) -> None:  # type: ignore[type-arg]
    """The command's exit: the first export error's code, else 1 on any failed verification, else 0."""
    for r in results:
        if r.error is not None:
            err_console.print(f"[bold red]error:[/] {escape(str(r.error))}", soft_wrap=True, emoji=False)
            raise typer.Exit(r.error.exit_code)
    for r in results:
        if r.verification is not None and r.verification.nondeterministic:
            err_console.print(
                f"[yellow]warning:[/] {r.format}: eager PyTorch gives different outputs for the same "
                f"input (sampling or dropout in forward); outputs cannot be compared — deploy a "
                f"deterministic path (e.g. a VAE's mean)",
                soft_wrap=True,
            )
    failed = [r.format for r in results if r.verification is not None and r.status == "FAIL"]
    if failed:
        err_console.print(
            f"[bold red]error:[/] verification failed for {', '.join(failed)}: outputs differ from "
            f"eager beyond atol/rtol (see the table); loosen --atol/--rtol only if the difference is "
            f"expected",
            soft_wrap=True,
        )
        raise typer.Exit(1)
