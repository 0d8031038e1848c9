"""``edgekit compare``: the CI gate — verify existing artifacts against eager PyTorch; exit 1 on any mismatch."""

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
def compare(
    model: ModelArg,
    artifacts: Annotated[
        list[Path],
        typer.Argument(
            metavar="ARTIFACT...", help="Exported files (.ts/.pt, .pt2, .onnx, .engine) or directories holding them."
        ),
    ],
    checkpoint: CheckpointOpt = None,
    input: InputOpt = None,
    dynamic: DynamicOpt = None,
    static: StaticOpt = False,
    trust_checkpoint: TrustOpt = False,
    atol: AtolOpt = None,
    rtol: RtolOpt = None,
    samples: SamplesOpt = 3,
    backend: Annotated[
        str | None, typer.Option(help="Run every artifact with this backend instead of its format's default.")
    ] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON.")] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write JUnit XML (one test per artifact and shape).")
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
    """Verify ARTIFACTs against eager MODEL on fresh random inputs at several sizes per dynamic axis (and on the
    samples of --data).
    Exit 1 on any mismatch, 2 on an artifact that does not load."""
    from edgekit.artifacts.junit import write_junit
    from edgekit.artifacts.verify import verify_artifact
    from edgekit.bench.accuracy import eval_set
    from edgekit.bench.run import expand
    from edgekit.bench.subjects import artifact_model, read_artifact
    from edgekit.cli.render import verification_table
    from edgekit.core.io import write_json
    from edgekit.export.driver import without_axes

    loaded = load(model, checkpoint, input, dynamic, static, trust_checkpoint, atol, rtol)
    real = eval_set(loaded, None, data) if data is not None else None
    files = expand(artifacts)
    results, skipped = [], []
    for path in files:
        art = read_artifact(path)
        if art.precision != "fp32":
            skipped.append(
                f"{path.name}: {art.precision} artifact, verified when it was made against its own "
                f"quantized torch model (see its .quant.json); compare checks fp32 artifacts"
            )
            continue
        # the artifact's own input specs (a static export) and the axes its exporter froze, from its manifest
        checked = without_axes(artifact_model(loaded, art), art.frozen_axes)
        results.append(
            verify_artifact(
                checked,
                str(path),
                art.format,
                backend,
                device=device,
                samples=samples,
                data=real.inputs if real else None,
                data_source=real.source if real else "",
            )
        )
    if results:
        console.print(verification_table(results))
    if json_path:
        write_json(
            json_path,
            {"schema": 1, "model": loaded.source, "results": [r.to_json() for r in results], "skipped": skipped},
        )
    if junit:
        write_junit(junit, results)
    for line in skipped:
        err_console.print(f"[yellow]skipped:[/] {escape(line)}", soft_wrap=True)
    for r in results:
        if r.nondeterministic:
            err_console.print(
                f"[yellow]warning:[/] {Path(r.artifact).name}: eager PyTorch is nondeterministic; "
                f"its outputs were not compared",
                soft_wrap=True,
            )
    bad = [Path(r.artifact).name for r in results if r.status == "FAIL"]
    if bad:
        err_console.print(
            f"[bold red]mismatch:[/] {', '.join(bad)} differ from eager beyond atol={results[0].atol} "
            f"rtol={results[0].rtol}",
            soft_wrap=True,
        )
        raise typer.Exit(1)
    compared = [r for r in results if r.passed]
    if not compared:
        err_console.print(
            "[bold red]error:[/] no artifact could be compared with eager (see above); a gate that "
            "compared nothing does not pass",
            soft_wrap=True,
        )
        raise typer.Exit(1)
    not_compared = len(files) - len(compared)
    console.print(
        f"[green]{len(compared)} artifacts match eager[/]"
        + (f"; {not_compared} not compared (see above)" if not_compared else "")
    )
