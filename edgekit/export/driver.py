"""Export a model to several formats, verify each artifact, and write ``manifest.json``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.artifacts import manifest as mf
from edgekit.artifacts.formats import FormatInfo
from edgekit.artifacts.manifest import MANIFEST, versions
from edgekit.artifacts.verify import Verification, verify_artifact
from edgekit.core.errors import BadInput, EdgekitError
from edgekit.core.model import LoadedModel
from edgekit.core.spec import freeze_axes

__all__ = ["MANIFEST", "ExportResult", "export_all", "versions", "without_axes", "write_manifest"]


@dataclasses.dataclass
class ExportResult:
    """One format's outcome: the artifact and its verification, or the error that stopped it."""

    format: str
    path: Path | None
    details: dict[str, Any]
    verification: Verification | None = None
    error: EdgekitError | None = None

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        return self.verification.status if self.verification else "not verified"


def export_all(
    model: LoadedModel,
    formats: Sequence[FormatInfo],
    out_dir: Path,
    *,
    stem: str = "model",
    samples: int = 1,
    options: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    data: dict[str, np.ndarray] | None = None,
    data_source: str = "",
) -> list[ExportResult]:
    """Export ``model`` to every format in ``out_dir``, verify each artifact (on random inputs at the shape plan,
    and on ``data``'s real samples when given: see :func:`~edgekit.artifacts.verify.verify_runner`), and write
    the manifest.

    A format that fails (unsupported operator, unavailable backend) is reported in its result and the others go on;
    its file is never left behind, and neither is a killed earlier run's ``.partial`` file. Returns one result per
    format, in order.

    Args:
        options: exporter options (None values count as not given); each format's exporter gets only those its
            :attr:`~edgekit.artifacts.formats.FormatInfo.options` declare.

    Raises:
        BadInput: an option none of ``formats`` takes, or ``out_dir`` is a file.
    """
    given = {k: v for k, v in (options or {}).items() if v is not None}  # None: not given
    taken = {o for f in formats for o in f.options}
    refused = sorted(set(given) - taken)
    if refused:
        raise BadInput(
            f"export option(s) {refused} apply to none of the formats {[f.name for f in formats]}; "
            f"options by format: {', '.join(f'{f.name}: {list(f.options) or None}' for f in formats)}"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInput(f"output directory '{out_dir}' is an existing file; give a directory with -o")
    if out_dir.is_dir():
        mf.remove_stale_partials(out_dir)  # a killed run's leftovers go even if this run writes nothing
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for fmt in formats:
        if progress:
            progress(f"exporting {fmt.name}")
        own = {k: v for k, v in given.items() if k in fmt.options}  # each exporter gets only what it declares
        path = out_dir / f"{stem}{fmt.suffix}"
        results.append(_export_one(model, fmt, path, samples, own, (data, data_source)))
    if any(r.path is not None for r in results):  # nothing exported: leave the directory as it was
        write_manifest(model, results, out_dir)
    return results


def _export_one(
    model: LoadedModel,
    fmt: FormatInfo,
    path: Path,
    samples: int,
    options: dict[str, Any],
    real: tuple[dict[str, np.ndarray] | None, str] = (None, ""),
) -> ExportResult:
    from edgekit.core.errors import BackendUnavailable

    reason = fmt.unavailable_reason()
    if reason is not None:
        return ExportResult(fmt.name, None, {}, error=BackendUnavailable(f"--format {fmt.name}: {reason}"))
    try:
        details = fmt.export_fn()(model, path, **options)
    except EdgekitError as exc:
        return ExportResult(fmt.name, None, {}, error=exc)
    checked = without_axes(model, details.get("frozen_axes", []))
    try:
        device = "cuda" if fmt.backend == "tensorrt" else "cpu"  # TensorRT runs on the GPU only
        verification = verify_artifact(
            checked, str(path), fmt.name, samples=samples, device=device, data=real[0], data_source=real[1]
        )
    except EdgekitError as exc:
        return ExportResult(fmt.name, path, details, error=exc)
    if details.get("frozen_axes"):
        verification.details["frozen_axes"] = details["frozen_axes"]
    return ExportResult(fmt.name, path, details, verification)


def without_axes(model: LoadedModel, frozen: Sequence[str]) -> LoadedModel:
    """``model`` with the ``NAME:AXIS`` axes made static: an artifact whose exporter froze an axis is verified
    at the sizes it accepts, and the frozen axes are reported beside the verdict."""
    if not frozen:
        return model
    return dataclasses.replace(model, inputs=freeze_axes(model.inputs, frozen))


def output_specs(model: LoadedModel) -> list[dict[str, Any]]:
    """Output names, example shapes and dtypes (from one eager run at the example shape)."""
    from edgekit.core.spec import random_inputs

    outs = model.predict(random_inputs(model.inputs))
    return [{"name": n, "shape": list(a.shape), "dtype": str(a.dtype)} for n, a in outs.items()]


def write_manifest(model: LoadedModel, results: Sequence[ExportResult], out_dir: Path) -> Path:
    """Merge this run's entries into ``out_dir/manifest.json`` (:func:`edgekit.artifacts.manifest.merge`: under the
    folder's lock, atomically; entries of earlier exports into the folder stay): versions, I/O specs, dynamic axes,
    the input binding, sha256 of every artifact and companion file, and the verification results."""
    artifacts = []
    for r in results:
        entry: dict[str, Any] = {"format": r.format, "status": r.status, "details": r.details}
        if r.path is not None and r.path.exists():
            entry.update(mf.file_entry(r.path, r.details))
        elif r.path is None:
            continue  # nothing was written for this format: no entry to list (the CLI reports the error)
        if r.verification is not None:
            entry["verification"] = r.verification.to_json()
        if r.error is not None:
            entry["error"] = str(r.error)
        artifacts.append(entry)
    header = {
        "model": {
            "source": model.source,
            "recipe": model.recipe.name if model.recipe else None,
            "checkpoint": model.checkpoint,
        },
        "inputs": [s.to_json() for s in model.inputs],
        "outputs": output_specs(model),
        "tolerances": {"atol": model.atol, "rtol": model.rtol},
        "binding": model.binding,
    }
    return mf.merge(out_dir, header, artifacts)
