"""``edgekit debug MODEL ARTIFACT``: the first torch module whose output the artifact stops reproducing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from edgekit.cli.common import (
    AtolOpt,
    CheckpointOpt,
    DynamicOpt,
    InputOpt,
    ModelArg,
    RtolOpt,
    StaticOpt,
    TrustOpt,
    cli_errors,
    console,
    err_console,
    load,
)


@cli_errors
def debug(
    model: ModelArg,
    artifact: Annotated[Path, typer.Argument(metavar="ARTIFACT", help="An exported .onnx, .pt2 or .ts/.pt file.")],
    checkpoint: CheckpointOpt = None,
    input: InputOpt = None,
    dynamic: DynamicOpt = None,
    static: StaticOpt = False,
    trust_checkpoint: TrustOpt = False,
    atol: AtolOpt = None,
    rtol: RtolOpt = None,
    seed: Annotated[int, typer.Option(help="Base seed of the random inputs (compare's verification shapes).")] = 1234,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the findings as JSON (for CI).")] = None,
    save_inputs: Annotated[
        Path | None, typer.Option("--save-inputs", help="Write the inputs that showed the divergence (.npz).")
    ] = None,
    fp16: Annotated[
        bool,
        typer.Option(
            "--fp16", help="Instead: find the layers of an fp32 ONNX that overflow or lose precision in fp16."
        ),
    ] = False,
    write_fp16: Annotated[
        Path | None,
        typer.Option("--write-fp16", help="With --fp16: write the fp16 ONNX with those layers kept fp32 here."),
    ] = None,
) -> None:
    """Compare ARTIFACT's intermediate tensors with eager MODEL's, module by module in execution order, and name
    the first module whose error jumps beyond tolerance (path, class, file:line, the nodes it became, the
    inputs). ONNX, .pt2 and TorchScript can be inspected; TensorRT engines cannot. Exit 1 when a module
    diverges, 0 when every compared module agrees."""
    from edgekit.core.errors import BadInput
    from edgekit.core.io import write_json
    from edgekit.debug.run import debug_artifact

    if not artifact.exists():
        raise BadInput(f"artifact '{artifact}' does not exist; give an exported .onnx, .pt2 or .ts file")
    loaded = load(model, checkpoint, input, dynamic, static, trust_checkpoint, atol, rtol)
    if fp16 or write_fp16 is not None:
        _fp16(loaded, artifact, seed, write_fp16, json_path)
        return
    with console.status("comparing intermediates"):
        report = debug_artifact(loaded, artifact, atol=atol, rtol=rtol, seed=seed)
    console.print(_table(report))
    data = report.to_json()
    if save_inputs is not None:
        _save_inputs(loaded, report, save_inputs, seed)
        data["inputs"]["file"] = str(save_inputs)
    if json_path is not None:
        write_json(json_path, data)
    _summary(report)
    if report.culprit is not None or not report.output_passed:
        raise typer.Exit(1)


def _table(report: Any) -> Any:
    from rich.table import Table

    from edgekit.debug.capture import user_path

    table = Table(
        title=f"{Path(report.artifact).name} ({report.precision}) vs {report.reference}: error by module",
        title_justify="left",
    )
    for col in ("#", "module", "class", "artifact tensors", "norm error", "cosine", ""):
        table.add_column(col)
    first = report.culprit.path if report.culprit else None
    for row in report.rows:
        j = row.to_json()
        status = row.note or ("ok" if row.passed else "[bold red]DIVERGES[/]")
        mark = " <- first" if first and row.path == first else ""
        table.add_row(
            str(row.order),
            escape(user_path(row.path)) + mark,
            row.cls,
            escape(", ".join(row.tensors)[:40]),
            f"{j['norm_error']:.2e}" if j["norm_error"] is not None else "-",
            f"{j['cosine']:.6f}" if j["cosine"] is not None else "-",
            status,
        )
    return table


def _summary(report: Any) -> None:
    from edgekit.debug.capture import user_path

    c = report.culprit
    shapes = ", ".join(f"{k}:{'x'.join(map(str, v))}" for k, v in report.feed["shapes"].items())
    if c is None:
        msg = "every compared module agrees" + ("" if report.output_passed else ", but the final outputs differ")
        console.print(f"[green]{msg}[/] ({report.method}; inputs {shapes})")
        return
    err_console.print(
        f"[bold red]first diverging module:[/] {escape(user_path(c.path))} ({c.cls}), defined at {escape(c.source)}",
        soft_wrap=True,
    )
    for label, value in (
        ("seen at", c.seen_at),
        ("why this module", c.reason),
        ("its nodes", ", ".join(c.nodes[:12]) + (" ..." if len(c.nodes) > 12 else "")),
        ("inputs", f"{shapes} (random, seed {report.feed['seed']}; --save-inputs F.npz writes them)"),
        ("reference", report.reference),
    ):
        err_console.print(f"  {label}: {escape(value)}", soft_wrap=True)


def _save_inputs(loaded: Any, report: Any, path: Path, seed: int) -> None:
    import numpy as np

    from edgekit.core.io import atomic_path
    from edgekit.core.spec import random_inputs, shape_plan

    sizes = shape_plan(loaded.inputs)[report.feed["index"]]
    feed = random_inputs(loaded.inputs, sizes, seed + 97 * report.feed["index"])
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **feed)  # type: ignore[arg-type]


def _fp16(loaded: Any, artifact: Path, seed: int, write: Path | None, json_path: Path | None) -> None:
    """``--fp16``: the layers kept fp32, one line each (exit 0: finding them is the point, not a failure)."""
    from edgekit.core.io import write_json
    from edgekit.debug.fp16 import fp16_unsafe_modules

    with console.status("converting to fp16 and comparing every node"):
        found = fp16_unsafe_modules(loaded, artifact, seed=seed, write=write)
    if json_path is not None:
        write_json(json_path, found)
    if not found["layers"]:
        console.print(f"[green]no layer overflows or loses precision in fp16[/] (tolerance {found['tolerance']:g})")
    for layer in found["layers"]:
        console.print(
            escape(
                f"keep fp32: {layer['module'] or '?'} ({layer['class'] or '?'}), node {layer['node']} "
                f"({layer['op']}): {layer['reason']}"
            ),
            soft_wrap=True,
        )
    if found["fp16_onnx"]:
        console.print(escape(f"fp16 ONNX with {len(found['layers'])} layers kept fp32: {found['fp16_onnx']}"))
