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

from edgekit.core.errors import BackendUnavailable

if TYPE_CHECKING:
    from edgekit.bench.config import BenchConfig
    from edgekit.bench.run import BenchResult
    from edgekit.core.model import LoadedModel
    from edgekit.export.driver import ExportResult
    from edgekit.training.recipe import Recipe

Progress = Callable[[str, float], None]

PIPELINE_BENCH = {"batches": (1, 32), "seconds": 0.5, "warmup": 10}
"""Benchmark settings of the pipeline: short, so that ``edgekit pipeline cnn`` finishes in minutes on 2 cores."""


def int8_unavailable_reason() -> str | None:
    """None when :func:`int8_artifacts` can run here (torchao's pt2e flow imports), else why not (with the fix);
    checked before training so ``--int8`` fails fast."""
    try:
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e  # noqa: F401
    except ImportError as exc:
        return f"--int8 needs torchao's pt2e quantization ({exc}); pip install 'torchao>=0.14'"
    return None


INT8_METHODS = ("ptq", "qat")
"""What ``--int8`` produces: PTQ (16 calibration batches, min/max) and QAT (the recipe's fine-tune), side by side."""


def int8_artifacts(model: LoadedModel, recipe: Recipe, out_dir: Path, progress: Callable[[str], None]) -> list[Path]:
    """Quantize the trained ``model`` with PTQ and QAT, write both INT8 encodings of each into ``out_dir`` (the
    TensorRT file, symmetric int8, and the ONNX Runtime CPU file, uint8 activations: TRAPS.md), add them to
    ``out_dir/manifest.json`` with ``details.precision = "int8"`` and their encoding, and return their paths.

    Raises:
        VerificationFailed: an INT8 file fails its checks (zero points, agreement with the torch Q/DQ model).
    """
    from edgekit.quant.ptq_run import run_ptq
    from edgekit.quant.qat import run_qat

    checkpoint = Path(model.checkpoint) if model.checkpoint else None
    reports = []
    for method in INT8_METHODS:
        progress(f"INT8 {method.upper()}")
        run = run_ptq if method == "ptq" else run_qat
        report = run(recipe.name, out_dir, checkpoint=checkpoint)
        if report is not None:
            reports.append((method, report))
    return add_int8_to_manifest(out_dir, reports)


def add_int8_to_manifest(out_dir: Path, reports: list[tuple[str, dict[str, Any]]]) -> list[Path]:
    """Add one manifest entry per INT8 file (both encodings of every method), hashed from the bytes on disk, through
    :func:`edgekit.artifacts.manifest.update_entries` (under the folder's lock); returns the files."""
    from edgekit.artifacts import manifest as mf

    entries, files = [], []
    for method, report in reports:
        for target, encoding in (
            ("trt", "trt-int8 (symmetric, zero point 0: for TensorRT)"),
            ("ort", "ort-uint8 (uint8 activations: for ONNX Runtime CPU)"),
        ):
            art = report["artifacts"][target]
            path = Path(art["path"])
            entries.append(
                {
                    "format": "onnx",
                    **mf.file_entry(path),
                    "status": art["verification"],
                    "details": {
                        "precision": "int8",
                        "method": method,
                        "encoding": encoding,
                        "max_abs_vs_torch_int8": art["max_abs_vs_torch_int8"],
                        "frozen_axes": report.get("details", {}).get("frozen_axes", []),
                    },
                }
            )
            files.append(path)
    mf.update_entries(out_dir, entries)
    return files


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
        return [r.format for r in self.exports if r.verification is not None and r.status in ("FAIL", "error")]


def run_pipeline(
    recipe_ref: str,
    *,
    checkpoint: Path | None = None,
    out_dir: Path | None = None,
    epochs: int | None = None,
    int8: bool = False,
    config: BenchConfig | None = None,
    progress: Progress | None = None,
) -> PipelineResult:
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
    from edgekit.bench.config import BenchConfig
    from edgekit.bench.report import write_reports
    from edgekit.bench.run import run_bench
    from edgekit.export.driver import export_all
    from edgekit.intake.load import load_model
    from edgekit.training.recipe import get_recipe
    from edgekit.training.train import save_checkpoint, train_recipe

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
        module, train_metrics = train_recipe(recipe, epochs=epochs)  # its own thread default (see TRAIN_THREADS)
        checkpoint = save_checkpoint(module, out / "checkpoint.pt", recipe, train_metrics)
    seconds["train"] = time.perf_counter() - t0
    model = load_model(recipe_ref, checkpoint=checkpoint)

    t0 = time.perf_counter()
    art_dir = out / "artifacts"
    from edgekit.artifacts.formats import available_formats

    formats = available_formats()
    exports = export_all(model, formats, art_dir, progress=lambda m: report(m, 0.5))
    files = [r.path for r in exports if r.error is None and r.path is not None and r.path.exists()]
    if int8:
        report("quantizing to INT8", 0.6)
        files += int8_artifacts(model, recipe, art_dir, lambda m: report(m, 0.6))
    seconds["export_verify"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    # the artifacts were written by this run (sha256 still checked against its manifest): its own output is trusted,
    # an AOTInductor package (native code) included
    result = run_bench(model, files, config, trust_checkpoint=True, progress=lambda m, f: report(m, 0.65 + 0.35 * f))
    seconds["bench"] = time.perf_counter() - t0

    data = result.to_json()
    data["pipeline"] = {
        "recipe": recipe.name,
        "checkpoint": str(checkpoint),
        "trained": trained,
        "train_metrics": train_metrics,
        "exports": [
            {
                "format": r.format,
                "file": r.path.name if r.path else None,
                "status": r.status,
                "error": str(r.error) if r.error else None,
                "exporter": r.details.get("exporter") or r.details.get("method"),
            }
            for r in exports
        ],
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "bench_again": f"edgekit bench {shlex.quote(recipe_ref)} --checkpoint {shlex.quote(str(checkpoint))} "
        f"{shlex.quote(str(art_dir))}",
    }
    title = f"edgekit pipeline {recipe.name}"
    reports = write_reports(
        data, json_path=out / "report.json", markdown_path=out / "report.md", html_path=out / "report.html", title=title
    )
    report("done", 1.0)
    return PipelineResult(out, checkpoint, trained, train_metrics, exports, result, data, reports, seconds)
