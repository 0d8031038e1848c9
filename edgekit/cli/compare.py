"""``edgekit compare``: the CI gate — verify existing artifacts against eager PyTorch; exit 1 on any mismatch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgekit.cli.common import (AtolOpt, CheckpointOpt, DynamicOpt, InputOpt, ModelArg, RtolOpt, SamplesOpt,
                                StaticOpt, TrustOpt, cli_errors, console, err_console, load)


@cli_errors
def compare(
    model: ModelArg,
    artifacts: Annotated[list[Path], typer.Argument(
        metavar="ARTIFACT...", help="Exported files (.ts/.pt, .pt2, .onnx, .engine) or directories holding them.")],
    checkpoint: CheckpointOpt = None,
    input: InputOpt = None,
    dynamic: DynamicOpt = None,
    static: StaticOpt = False,
    trust_checkpoint: TrustOpt = False,
    atol: AtolOpt = None,
    rtol: RtolOpt = None,
    samples: SamplesOpt = 3,
    backend: Annotated[str | None, typer.Option(help="Run every artifact with this backend instead of its "
                                                     "format's default.")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON.")] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML (one test per artifact and shape).")]
    = None,
) -> None:
    """Verify ARTIFACTs against eager MODEL on fresh random inputs at several sizes per dynamic axis.
    Exit 1 on any mismatch, 2 on an artifact that does not load."""
    from edgekit.cli.render import verification_table
    from edgekit.errors import BadInput
    from edgekit.export.driver import without_axes
    from edgekit.formats import format_of
    from edgekit.io import write_json
    from edgekit.reports_junit import write_junit
    from edgekit.verify import verify_artifact

    loaded = load(model, checkpoint, input, dynamic, static, trust_checkpoint, atol, rtol)
    files = expand_artifacts(artifacts)
    if not files:
        raise BadInput(f"no artifacts found in {', '.join(map(str, artifacts))}; expected .ts/.pt/.pt2/.onnx/.engine "
                       f"files or a directory written by edgekit export")
    results = []
    for path in files:
        fmt = format_of(path)
        checked = without_axes(loaded, frozen_axes_of(path))
        results.append(verify_artifact(checked, str(path), fmt.name, backend, device=device, samples=samples))
    console.print(verification_table(results))
    if json_path:
        write_json(json_path, {"schema": 1, "model": loaded.source, "results": [r.to_json() for r in results]})
    if junit:
        write_junit(junit, results)
    bad = [Path(r.artifact).name for r in results if r.status == "FAIL"]
    for r in results:
        if r.nondeterministic:
            err_console.print(f"[yellow]warning:[/] {Path(r.artifact).name}: eager PyTorch is nondeterministic; "
                              f"its outputs were not compared", soft_wrap=True)
    if bad:
        err_console.print(f"[bold red]mismatch:[/] {', '.join(bad)} differ from eager beyond atol={results[0].atol} "
                          f"rtol={results[0].rtol}", soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"[green]all {len(results)} artifacts match eager[/]")


SUFFIXES = (".ts", ".pt", ".pt2", ".onnx", ".engine")


def expand_artifacts(paths: list[Path]) -> list[Path]:
    """Files as given; directories expanded to the artifacts they hold (sorted)."""
    from edgekit.errors import BadInput

    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.suffix in SUFFIXES and not f.name.startswith("."))
        elif p.is_file():
            out.append(p)
        else:
            raise BadInput(f"artifact '{p}' does not exist; give exported files or the directory edgekit export wrote")
    return out


def frozen_axes_of(path: Path) -> list[str]:
    """Axes the manifest beside ``path`` says its exporter froze."""
    import json

    manifest = path.parent / "manifest.json"
    if not manifest.is_file():
        return []
    try:
        entries = json.loads(manifest.read_text()).get("artifacts", [])
    except ValueError:
        return []
    for e in entries:
        if e.get("file") == path.name:
            return list(e.get("details", {}).get("frozen_axes", []))
    return []
