"""``edgekit pipeline RECIPE``: the whole job in one command — train (unless a checkpoint is given), export every
format available on this machine, verify each artifact, benchmark them all against eager PyTorch, and write JSON,
Markdown and HTML reports.

Output directory layout::

    OUT/checkpoint.pt          trained weights (only when training ran)
    OUT/artifacts/             model.ts, model.pt2, model.onnx (, model.engine, INT8 files) + manifest.json
    OUT/report.json            the bench report (docs/bench-schema.md) with a ``pipeline`` section
    OUT/report.md, report.html
"""

from __future__ import annotations

import dataclasses
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekit.errors import BackendUnavailable

if TYPE_CHECKING:
    from edgekit.bench.run import BenchConfig, BenchResult
    from edgekit.export.driver import ExportResult
    from edgekit.model import LoadedModel
    from edgekit.recipe import Recipe

Progress = Callable[[str, float], None]

PIPELINE_BENCH = {"batches": (1, 32), "seconds": 0.5, "warmup": 10}
"""Benchmark settings of the pipeline: short, so that ``edgekit pipeline cnn`` finishes in minutes on 2 cores."""


def int8_unavailable_reason() -> str | None:
    """SLOT for INT8 quantization (issue 4), checked before training so ``--int8`` fails fast: None when
    :func:`int8_artifacts` can run here, else why not (with the fix)."""
    return ("--int8: INT8 quantization has not joined the pipeline yet (issue 4); run without --int8, or use "
            "edgekit quantize / edgekit qat and then edgekit bench")


def int8_artifacts(model: LoadedModel, recipe: Recipe, out_dir: Path, progress: Callable[[str], None]) -> list[Path]:
    """SLOT for INT8 quantization (issue 4 fills it; the pipeline calls it with ``--int8``).

    Contract: quantize ``model`` (trained, eval mode) for ``recipe`` — calibration data from ``recipe.data()``
    (e.g. :func:`edgekit.tasks.calibration_batches`) — write the INT8 artifacts into ``out_dir`` (the pipeline's
    artifacts directory), add an entry for each to ``out_dir/manifest.json`` with ``details["precision"] = "int8"``
    (and the target encoding, e.g. ``"encoding": "ort-uint8"`` / ``"trt-int8"``), and return their paths. The bench
    then measures and scores them like every other artifact (precision column, recipe metric, agreement with eager).

    Raises:
        BackendUnavailable: when :func:`int8_unavailable_reason` says so.
    """
    reason = int8_unavailable_reason()
    raise BackendUnavailable(reason or "--int8: int8_artifacts() is not implemented")


@dataclasses.dataclass
class PipelineResult:
    """What a pipeline run produced; ``report`` is the JSON written to ``report.json`` (the bench report plus a
    ``pipeline`` section)."""

    out_dir: Path
    checkpoint: Path
    trained: bool
    train_metrics: dict[str, float]
    exports: list[ExportResult]
    bench: BenchResult
    report: dict[str, Any]
    reports: list[Path]
    seconds: dict[str, float]

    @property
    def failed_verifications(self) -> list[str]:
        return [r.format for r in self.exports if r.verification is not None and r.status == "FAIL"]


def available_formats() -> list[Any]:
    """Every format of :data:`edgekit.formats.FORMATS` that can be exported here (a check that raises counts as
    unavailable: its module may belong to a backend not installed)."""
    from edgekit.formats import FORMATS

    out = []
    for f in FORMATS.values():
        try:
            if f.unavailable_reason() is None:
                out.append(f)
        except Exception:  # noqa: BLE001 - a broken capability check means the format is not available here
            continue
    return out


def run_pipeline(recipe_ref: str, *, checkpoint: Path | None = None, out_dir: Path | None = None,
                 epochs: int | None = None, int8: bool = False, config: BenchConfig | None = None,
                 progress: Progress | None = None) -> PipelineResult:
    """Train (unless ``checkpoint``), export, verify, benchmark and report ``recipe_ref``.

    Args:
        recipe_ref: a recipe name or path.
        checkpoint: trained weights; when None the recipe is trained here and saved as ``OUT/checkpoint.pt``.
        out_dir: output directory (default ``runs/<recipe>``).
        epochs: training epochs (default: the recipe's).
        int8: also quantize to INT8 (:func:`int8_artifacts`).
        config: benchmark settings (default :data:`PIPELINE_BENCH`).
        progress: called with a description and the fraction done.

    Raises:
        BadInput: unknown recipe, bad checkpoint or options.
        BackendUnavailable: ``--int8`` before quantization joined, ``--device cuda`` without a GPU.
    """
    from edgekit.bench.report import write_reports
    from edgekit.bench.run import BenchConfig, run_bench
    from edgekit.export.driver import export_all
    from edgekit.intake import load_model
    from edgekit.recipe import get_recipe
    from edgekit.train import save_checkpoint, train_recipe

    report = progress or (lambda _m, _f: None)
    config = config or BenchConfig(**PIPELINE_BENCH)  # type: ignore[arg-type]
    config.validate()
    recipe = get_recipe(recipe_ref)
    if int8 and (reason := int8_unavailable_reason()) is not None:
        raise BackendUnavailable(reason)
    out = out_dir or Path("runs") / recipe.name
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    train_metrics: dict[str, float] = {}
    trained = checkpoint is None
    t0 = time.perf_counter()
    if checkpoint is None:
        report(f"training {recipe.name}", 0.0)
        module, train_metrics = train_recipe(recipe, epochs=epochs, threads=config.thread_count)
        checkpoint = save_checkpoint(module, out / "checkpoint.pt", recipe, train_metrics)
    seconds["train"] = time.perf_counter() - t0
    model = load_model(recipe_ref, checkpoint=checkpoint)

    t0 = time.perf_counter()
    art_dir = out / "artifacts"
    formats = available_formats()
    exports = export_all(model, formats, art_dir, progress=lambda m: report(m, 0.5))
    files = [r.path for r in exports if r.error is None and r.path is not None and r.path.exists()]
    if int8:
        report("quantizing to INT8", 0.6)
        files += int8_artifacts(model, recipe, art_dir, lambda m: report(m, 0.6))
    seconds["export_verify"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    result = run_bench(model, files, config, progress=lambda m, f: report(m, 0.65 + 0.35 * f))
    seconds["bench"] = time.perf_counter() - t0

    data = result.to_json()
    data["pipeline"] = {
        "recipe": recipe.name, "checkpoint": str(checkpoint), "trained": trained, "train_metrics": train_metrics,
        "exports": [{"format": r.format, "file": r.path.name if r.path else None, "status": r.status,
                     "error": str(r.error) if r.error else None,
                     "exporter": r.details.get("exporter") or r.details.get("method")} for r in exports],
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "bench_again": f"edgekit bench {shlex.quote(recipe_ref)} --checkpoint {shlex.quote(str(checkpoint))} "
                       f"{shlex.quote(str(art_dir))}",
    }
    title = f"edgekit pipeline {recipe.name}"
    reports = write_reports(data, json_path=out / "report.json", markdown_path=out / "report.md",
                            html_path=out / "report.html", title=title)
    report("done", 1.0)
    return PipelineResult(out, checkpoint, trained, train_metrics, exports, result, data, reports, seconds)
