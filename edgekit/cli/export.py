"""``edgekit export``: export a model to several formats and verify every artifact against eager PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from edgekit.artifacts.formats import FORMATS
from edgekit.cli.common import ModelOptions, SamplesOpt, cli_errors, console, model_options, plan_outputs


@cli_errors
@model_options(tolerances=True)
def export(
    m: ModelOptions,
    format: Annotated[
        str, typer.Option("--format", "-f", help=f"Comma-separated: {','.join(FORMATS)}, or all.")
    ] = "torchscript,pt2,onnx",
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory.")] = Path("out"),
    samples: SamplesOpt = 1,
    opset: Annotated[int | None, typer.Option(help="ONNX opset (TensorRT 10 parses <= 20) [default: 18].")] = None,
    exporter: Annotated[
        str | None,
        typer.Option(help="ONNX exporter: auto (dynamo, legacy on failure), dynamo, legacy [default: auto]."),
    ] = None,
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
    PyTorch at several input sizes, and write manifest.json. Exit 1 when a verification fails or an artifact fails
    to run at a verified shape; an output that random inputs cannot check (all zeros, below atol) is reported as
    "not checked", never as "pass"."""
    from edgekit.artifacts.formats import parse_formats
    from edgekit.bench.accuracy import eval_set
    from edgekit.cli.render import export_table, verification_table
    from edgekit.export.driver import export_all

    formats = parse_formats(format)
    loaded = m.load()
    real = eval_set(loaded, None, data) if data is not None else None
    plan_outputs(*(output / f"model{f.suffix}" for f in formats), output / "manifest.json")
    with console.status("exporting") as status:
        results = export_all(
            loaded,
            formats,
            output,
            samples=samples,
            options={"opset": opset, "exporter": exporter},
            progress=lambda msg: status.update(escape(msg)),
            data=real.inputs if real else None,
            data_source=real.source if real else "",
        )
    verified = [r.verification for r in results if r.verification is not None]
    if verified:
        console.print(verification_table(verified))
    if any(r.path is not None for r in results):
        console.print(export_table(results))
        console.print(f"manifest: {escape(str(output / 'manifest.json'))}", soft_wrap=True)
    exit_with(results, hint=f"edgekit debug {m.ref} ARTIFACT")


def exit_with(results: list[Any], hint: str = "") -> None:
    """The command's exit (:func:`edgekit.cli.verdict.decide`): the first export error's code, else 1 when an
    artifact failed to run at a shape or differs from eager, else 0 (with warnings for what was not checked)."""
    from edgekit.cli.verdict import decide, exit_on

    errors = [(f"export {r.format}", r.error) for r in results if r.error is not None]
    exit_on(decide([r.verification for r in results if r.verification is not None], errors=errors, hint=hint))
