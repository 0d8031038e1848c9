"""``edgekit qat`` and ``edgekit quantize``: INT8 for TensorRT and ONNX Runtime, with an accuracy gate.

Registered in :mod:`edgekit.cli.main`; also runnable alone (``python -m edgekit.cli.quant qat cnn``), which is
how the torchrun test launches it: ``torchrun --nproc_per_node 2 -m edgekit.cli.quant qat cnn -o out``.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from edgekit.cli.common import EdgekitGroup, ModelOptions, cli_errors, console, model_options


class Method(str, Enum):
    minmax = "minmax"
    percentile = "percentile"
    entropy = "entropy"


class ConvTranspose(str, Enum):
    per_tensor = "per-tensor"
    float = "float"


OutputOpt = Annotated[Path, typer.Option("--output", "-o", help="Output directory.")]
MaxDropOpt = Annotated[
    float | None,
    typer.Option(
        "--max-drop",
        help="Exit 1 when INT8 loses more than this against fp32 on the validation split, in the recipe "
        "metric's units (top1 0.01 = one point).",
    ),
]
RecipeOpt = Annotated[
    str | None,
    typer.Option("--recipe", "-r", help="Recipe whose data and metric to use (default: MODEL's own recipe)."),
]
ConvTransposeOpt = Annotated[
    ConvTranspose,
    typer.Option("--conv-transpose", help="ConvTranspose layers: int8 with per-tensor weights, or kept float."),
]
SkipOpt = Annotated[
    list[str] | None, typer.Option("--skip", help="Module name to keep float (repeatable), e.g. --skip features.0.")
]
KeepFloatOpt = Annotated[
    str | None,
    typer.Option(
        "--keep-float",
        help="Layers kept float: NAME[,NAME] (as the report's layer list names them), or auto with --max-drop: the "
        "smallest set (greedy by per-layer sensitivity) that meets the drop.",
    ),
]
SeedOpt = Annotated[int, typer.Option(help="Seed (fp32 training when no --checkpoint, shuffling).")]


def _policy(conv_transpose: ConvTranspose, skip: list[str] | None) -> Any:
    from edgekit.quant.quantizer import QuantPolicy

    return QuantPolicy(conv_transpose=conv_transpose.value.replace("-", "_"), skip=tuple(skip or ()))


@cli_errors
@model_options()
def qat(
    m: ModelOptions,
    recipe: RecipeOpt = None,
    epochs: Annotated[int | None, typer.Option(help="Fine-tuning epochs (default 3).")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate (default: the recipe's x 0.1).")] = None,
    max_drop: MaxDropOpt = None,
    output: OutputOpt = Path("out"),
    conv_transpose: ConvTransposeOpt = ConvTranspose.per_tensor,
    skip: SkipOpt = None,
    keep_float: KeepFloatOpt = None,
    seed: SeedOpt = 0,
) -> None:
    """Quantization-aware training: insert fake INT8 quantization, fine-tune on the recipe's data, and write
    MODEL.qat.int8.trt.onnx (TensorRT), MODEL.qat.int8.ort.onnx (ONNX Runtime CPU), the fine-tuned checkpoint
    and a report of fp32 vs INT8. Runs unchanged under torchrun (DDP); rank 0 writes. Exit 1 when a file fails
    its checks or the --max-drop gate."""
    from edgekit.quant.qat import run_qat

    with console.status("quantization-aware training"):
        report = run_qat(
            m.ref,
            output,
            recipe_ref=recipe,
            checkpoint=m.checkpoint,
            epochs=epochs,
            lr=lr,
            max_drop=max_drop,
            policy=_policy(conv_transpose, skip),
            keep_float=keep_float,
            inputs=m.inputs,
            dynamic=m.dynamic,
            static=m.static,
            trust_checkpoint=m.trust_files,
            seed=seed,
        )
    if report is not None:
        _print(report)


@cli_errors
@model_options()
def quantize(
    m: ModelOptions,
    calibrate: Annotated[int, typer.Option("--calibrate", help="Calibration batches (of 32 samples).")] = 16,
    method: Annotated[Method, typer.Option("--method", help="Activation range calibrator.")] = Method.minmax,
    max_drop: MaxDropOpt = None,
    output: OutputOpt = Path("out"),
    data: Annotated[
        Path | None,
        typer.Option("--data", help=".npz with one array per model input (default: the recipe's training split)."),
    ] = None,
    recipe: RecipeOpt = None,
    conv_transpose: ConvTransposeOpt = ConvTranspose.per_tensor,
    skip: SkipOpt = None,
    keep_float: KeepFloatOpt = None,
    seed: SeedOpt = 0,
) -> None:
    """Post-training INT8 quantization with --calibrate N batches: writes MODEL.ptq.int8.trt.onnx (TensorRT),
    MODEL.ptq.int8.ort.onnx (ONNX Runtime CPU) and a report of fp32 vs INT8. Exit 1 when a file fails its checks
    or the --max-drop gate."""
    from edgekit.quant.ptq_run import run_ptq

    with console.status(f"calibrating ({method.value}, {calibrate} batches)"):
        report = run_ptq(
            m.ref,
            output,
            calibrate_batches=calibrate,
            method=method.value,
            data_file=data,
            recipe_ref=recipe,
            checkpoint=m.checkpoint,
            max_drop=max_drop,
            policy=_policy(conv_transpose, skip),
            keep_float=keep_float,
            inputs=m.inputs,
            dynamic=m.dynamic,
            static=m.static,
            trust_checkpoint=m.trust_files,
            seed=seed,
        )
    _print(report)


def _print(report: dict[str, Any]) -> None:
    """Metrics table, gate, files, quantized/float layer counts."""
    from rich.table import Table

    if "metrics" in report:
        table = Table(title=f"fp32 vs INT8 ({report['method']})", title_justify="left")
        runs = list(report["metrics"])
        table.add_column("metric")
        for r in runs:
            table.add_column(r.replace("int8_", "int8 ").replace("_", " "))
        for k in report["metrics"]["fp32"]:
            table.add_row(k, *(f"{report['metrics'][r].get(k, float('nan')):.4f}" for r in runs))
        console.print(table)
        console.print(
            escape(
                f"gate: {report['gate']['status']}"
                + (f" ({report['gate']['message']})" if "message" in report["gate"] else "")
            ),
            soft_wrap=True,
        )
    for a in report["artifacts"].values():
        console.print(escape(f"{a['path']}  [{a['backend']}]  verification: {a['verification']}"))
    if "keep_float" in report:
        _print_keep_float(report["keep_float"])
    for title, layers in (("quantized layers", report["quantized_layers"]), ("float layers", report["float_layers"])):
        console.print(f"{title}:" + ("" if layers else " none"))
        for name, why in layers.items():
            console.print(escape(f"  {name}  {why}"))


def _print_keep_float(kf: dict[str, Any]) -> None:
    """The keep-float trade: each step's float layers and the drop it bought."""
    if kf["mode"] == "names":
        console.print(escape(f"kept float by request: {', '.join(kf['layers'])}"))
        return
    console.print(escape(f"keep-float auto ({kf['search']}); drop measured as {kf['measure']}:"))
    for step in kf["steps"]:
        layers = ", ".join(step["float_layers"]) or "none (all INT8)"
        console.print(escape(f"  float: {layers}  drop {step['drop']:.4g}  (bought {step['bought']:.4g})"))
    verdict = "meets" if kf["met"] else "does not meet"
    console.print(escape(f"  {len(kf['chosen'])} float layers {verdict} --max-drop {kf['max_drop']:g}"))


app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False, cls=EdgekitGroup)
app.command()(qat)
app.command()(quantize)

if __name__ == "__main__":
    app()
