"""``edgekit compare``: the CI gate — verify existing artifacts against eager PyTorch; exit 1 on any mismatch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgekit.artifacts.formats import suffix_text
from edgekit.cli.common import ModelOptions, NoManifestOpt, SamplesOpt, cli_errors, console, model_options, say_warning


@cli_errors
@model_options(tolerances=True)
def compare(
    m: ModelOptions,
    artifacts: Annotated[
        list[Path],
        typer.Argument(metavar="ARTIFACT...", help=f"Exported files ({suffix_text()}) or directories holding them."),
    ],
    no_manifest: NoManifestOpt = False,
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
    """Verify ARTIFACTs against eager MODEL on fresh random inputs at several sizes per dynamic axis, and on the
    real samples of --data when given.
    Each artifact listed in a manifest.json must still exist with the sha256 recorded there (--no-manifest: bare
    files). Exit 1 on any mismatch, changed file, artifact that fails to run at a verified shape, or when nothing
    was checked (every output all zeros or within atol of zero: "not checked"); 2 on an artifact that does not load
    or would run code."""
    from edgekit.artifacts.junit import write_junit
    from edgekit.artifacts.verify import verify_artifact
    from edgekit.bench.accuracy import eval_set
    from edgekit.bench.run import expand
    from edgekit.bench.subjects import artifact_model, other_model, read_artifact
    from edgekit.cli.render import verification_table
    from edgekit.cli.verdict import Decision, decide, exit_on
    from edgekit.core.io import write_json
    from edgekit.export.driver import without_axes

    loaded = m.load()
    real = eval_set(loaded, None, data) if data is not None else None
    files = expand(artifacts, use_manifest=not no_manifest)
    arts = [read_artifact(p, use_manifest=not no_manifest, trust=m.trust_files) for p in files]
    results, skipped, origins = [], [], {}
    for path, art in zip(files, arts, strict=True):
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
        origins[str(path)] = other_model(loaded, art)
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
        say_warning(line, label="skipped")
    foreign = next((origins[r.artifact] for r in results if not r.passed and origins.get(r.artifact)), None)
    if foreign:  # the manifest says the file came from another model: say that, not "outputs differ"
        exit_on(Decision(1, foreign, label="mismatch"))
    exit_on(decide(results, gate=True, skipped=len(skipped), hint=f"edgekit debug {m.ref} ARTIFACT"))
