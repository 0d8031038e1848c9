"""``edgekit bench``, ``edgekit doctor`` and ``edgekit pipeline``: thin commands over :mod:`edgekit.bench`,
:mod:`edgekit.jobs.doctor` and :mod:`edgekit.jobs.pipeline`. Nothing heavy is imported until a command runs."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from edgekit.artifacts.formats import suffix_text
from edgekit.backends.registry import backend_names
from edgekit.cli.common import (
    CheckpointOpt,
    ModelOptions,
    NoManifestOpt,
    cli_errors,
    console,
    err_console,
    model_options,
    plan_outputs,
)
from edgekit.core.errors import BadInput

BackendOpt = Annotated[
    str | None,
    typer.Option(
        "--backend",
        "-b",
        help=f"Backend(s) for the artifacts, comma-separated ({backend_names()}), or auto: the fastest "
        "available per artifact. Default: each format's own.",
    ),
]
DeviceOpt = Annotated[str, typer.Option("--device", "-d", help="cpu or cuda.")]
BatchOpt = Annotated[str, typer.Option("--batch", help="Batch sizes, comma-separated, e.g. 1,8,32.")]
WarmupOpt = Annotated[int, typer.Option("--warmup", help="Untimed calls per artifact and batch.")]
ItersOpt = Annotated[int | None, typer.Option("--iters", help="Timed calls per artifact and batch.")]
SecondsOpt = Annotated[
    float | None,
    typer.Option("--seconds", help="Timing budget per artifact and batch (default 2 s; the pipeline: 0.5 s)."),
]
ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        "--threads", help="Intra-op threads for every backend (default: this machine's cores). Recorded in reports."
    ),
]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="Write the JSON report (docs/bench-schema.md).")]
MarkdownOpt = Annotated[Path | None, typer.Option("--markdown", help="Write a Markdown report.")]
HtmlOpt = Annotated[Path | None, typer.Option("--html", help="Write a self-contained HTML report with charts.")]


def parse_batches(text: str) -> tuple[int, ...]:
    """``1,8,32`` -> (1, 8, 32).

    Raises:
        BadInput: a value that is not an integer >= 1.
    """
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part.lstrip("-").isdigit():
            raise BadInput(f"--batch '{text}': '{part}' is not an integer; expected sizes like 1 or 1,8,32")
        if int(part) < 1:
            raise BadInput(f"--batch {part}: every batch size must be >= 1, got '{text}'")
        out.append(int(part))
    return tuple(out)


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[str, float], None]]:
    """A rich progress bar on stderr, refreshed by the callback it yields (never by a background thread: the
    refresh then happens between timed calls, never during one)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("[bold]{task.fields[stage]}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err_console,
        auto_refresh=False,
        transient=True,
    )
    task = bar.add_task(label, total=1.0, stage=label)
    last = [0.0]

    def update(stage: str, fraction: float) -> None:
        bar.update(task, completed=fraction, stage=escape(stage))  # artifact names are not markup
        now = time.perf_counter()
        if now - last[0] > 0.25 or fraction >= 1.0:
            last[0] = now
            bar.refresh()

    with bar:
        yield update


def show(report: dict[str, Any]) -> None:
    """The table, the picks and the notes on stdout."""
    from rich.markup import escape

    from edgekit.bench.format import notes, pipeline_lines, summary_lines
    from edgekit.bench.report import rich_table

    console.print(rich_table(report))
    for line in summary_lines(report) + pipeline_lines(report):
        console.print(escape(line), soft_wrap=True)
    for line in notes(report):
        console.print(f"[yellow]note:[/] {escape(line)}", soft_wrap=True)


@cli_errors
@model_options(model=False)
def bench(
    m: ModelOptions,
    targets: Annotated[
        list[str],
        typer.Argument(
            metavar="MODEL_OR_ARTIFACTS...",
            help=f"Artifacts ({suffix_text()}) or directories written by edgekit export, and/or the MODEL they "
            "came from (recipe, file.py:factory). A MODEL alone is exported here to every available format.",
        ),
    ],
    backend: BackendOpt = None,
    device: DeviceOpt = "cpu",
    batch: BatchOpt = "1",
    warmup: WarmupOpt = 10,
    iters: ItersOpt = None,
    seconds: SecondsOpt = None,
    threads: ThreadsOpt = None,
    recipe: Annotated[
        str | None, typer.Option("--recipe", help="Score every artifact with this recipe's metric on its val split.")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help=".npz with one array per model input (+ optional labels): top-1 or MSE."),
    ] = None,
    no_manifest: NoManifestOpt = False,
    precision: Annotated[
        str,
        typer.Option(
            "--precision",
            help="On cuda, also run backends that derive reduced precision from the fp32 model "
            "(torch-cudagraph, tensorrt) at these, e.g. fp32,fp16.",
        ),
    ] = "fp32",
    no_interleave: Annotated[
        bool, typer.Option("--no-interleave", help="Time artifacts one after another instead of round-robin.")
    ] = False,
    isolate: Annotated[
        bool | None,
        typer.Option(
            "--isolate/--no-isolate",
            help="Also time each engine alone in its own process (engines' thread pools disturb each other in "
            "one process); rows say how they were timed. Default: on with --backend auto, else off.",
        ),
    ] = None,
    json_path: JsonOpt = None,
    markdown: MarkdownOpt = None,
    html: HtmlOpt = None,
) -> None:
    """Latency (p50/p90/p99, throughput, cold start, load time, memory) and accuracy of every artifact on every
    backend, with eager PyTorch measured in the same run as the baseline ("eager": the MODEL run by PyTorch; with
    artifacts only, the .pt2 or TorchScript artifact's program run by torch). --input/--dynamic/--static shape the
    MODEL as in export. Rows timed while other processes took cores are marked disturbed."""
    from edgekit.bench.report import write_reports
    from edgekit.bench.run import BenchConfig, run_bench, split_refs

    if recipe is not None and data is not None:
        raise BadInput("give --recipe or --data, not both")
    config = BenchConfig(
        device=device,
        threads=threads,
        batches=parse_batches(batch),
        warmup=warmup,
        iters=iters,
        seconds=seconds,
        backend=backend,
        recipe=recipe,
        data=data,
        interleave=not no_interleave,
        manifest=not no_manifest,
        isolate=backend == "auto" if isolate is None else isolate,
        precisions=tuple(p.strip() for p in precision.split(",") if p.strip()) or ("fp32",),
    )
    config.validate()
    ref, artifacts = split_refs(targets)
    plan_outputs(*(p for p in (json_path, markdown, html) if p is not None))
    model: Any = ref
    if m.shapes_given:
        model = dataclasses.replace(m, model=ref or _saved_baseline(artifacts)).load()
    with progress_bar("benchmarking") as update:
        result = run_bench(
            model, artifacts, config, checkpoint=m.checkpoint, trust_checkpoint=m.trust_files, progress=update
        )
    report = result.to_json()
    show(report)
    for path in write_reports(report, json_path=json_path, markdown_path=markdown, html_path=html):
        console.print(f"wrote {escape(str(path))}", soft_wrap=True)


def _saved_baseline(artifacts: list[Path]) -> str:
    """The .pt2 (else TorchScript) artifact that --input shapes when bench is given artifacts only.

    Raises:
        BadInput: none among the artifacts.
    """
    from edgekit.bench.run import expand

    files = expand(artifacts) if artifacts else []
    for suffix in (".pt2", ".ts", ".pt"):
        for f in files:
            if f.suffix.lower() == suffix:
                return str(f)
    raise BadInput(
        "--input/--dynamic/--static shape the eager baseline, and there is none to shape: give the MODEL the "
        "artifacts came from (e.g. edgekit bench file.py:factory --input x:1x3x224x224 out/) or a .pt2 artifact"
    )


@cli_errors
def doctor(
    json_path: JsonOpt = None,
) -> None:
    """What this machine can do: Python, torch, GPU, ONNX Runtime providers that really work, TensorRT, pycuda,
    Jetson/DLA, and the export formats and backends available here."""
    from edgekit.core.io import write_json
    from edgekit.jobs.doctor import diagnose, render

    report = diagnose()
    for table in render(report):
        console.print(table)
    if json_path is not None:
        write_json(json_path, report)
        console.print(f"wrote {escape(str(json_path))}", soft_wrap=True)


@cli_errors
def pipeline(
    recipe: Annotated[str, typer.Argument(help="A recipe name (see edgekit recipes) or path.")],
    checkpoint: CheckpointOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Output directory (default runs/RECIPE).")
    ] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Training epochs (default: the recipe's).")] = None,
    int8: Annotated[bool, typer.Option("--int8", help="Also quantize to INT8 and benchmark it.")] = False,
    device: DeviceOpt = "cpu",
    batch: BatchOpt = "1,32",
    seconds: SecondsOpt = 0.5,
    threads: ThreadsOpt = None,
) -> None:
    """Train RECIPE (unless --checkpoint), export every format available here, verify, benchmark against eager
    PyTorch, and write report.json / report.md / report.html. Exit 1 when an artifact fails verification."""
    from edgekit.bench.run import BenchConfig
    from edgekit.jobs.pipeline import run_pipeline

    if epochs is not None and epochs < 1:
        raise BadInput(f"--epochs must be >= 1, got {epochs}")
    config = BenchConfig(device=device, threads=threads, batches=parse_batches(batch), seconds=seconds)
    config.validate()
    start = time.perf_counter()
    with progress_bar("pipeline") as update:
        result = run_pipeline(
            recipe, checkpoint=checkpoint, out_dir=output, epochs=epochs, int8=int8, config=config, progress=update
        )
    show(result.report)
    for path in result.reports:
        console.print(f"wrote {escape(str(path))}", soft_wrap=True)
    console.print(f"pipeline finished in {time.perf_counter() - start:.0f} s")
    # the same exit decision as export: a format available here that failed to export, an artifact that fails to
    # run at a shape or differs from eager
    from edgekit.cli.verdict import decide, exit_on

    errors = [(f"export {r.format}", r.error) for r in result.exports if r.error is not None]
    exit_on(decide([r.verification for r in result.exports if r.verification is not None], errors=errors))
