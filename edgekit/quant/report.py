"""What every INT8 run ends with: both ONNX encodings written, validated and verified; fp32 vs INT8 scored on
the validation split; the accuracy gate; a JSON + Markdown report naming quantized and float layers.

Files in the output directory, for ``NAME`` (the recipe's name, else ``model``) and ``METHOD`` (``qat``/``ptq``):

* ``NAME.METHOD.int8.trt.onnx`` -- for TensorRT (symmetric int8, zero point 0);
* ``NAME.METHOD.int8.ort.onnx`` -- for ONNX Runtime on CPU (uint8 activations);
* ``NAME.METHOD.quant.json`` / ``.md`` -- this report; the Markdown also shows the other method's numbers when
  its report is in the same directory (QAT and PTQ side by side);
* ``NAME.qat.pth`` -- QAT only: the fine-tuned weights (``--checkpoint``-compatible) and fake-quant state.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.core.errors import BadInput, VerificationFailed
from edgekit.core.model import LoadedModel
from edgekit.training.recipe import Data, Recipe

TRT_TOLERANCE = 0.02
"""TensorRT file vs the torch Q/DQ model: max |diff| per output, as a fraction of max |output| (rounding at a
quantization step differs between runtimes)."""
ORT_TOLERANCE = 0.08
"""ONNX Runtime file vs the torch Q/DQ model: looser, its non-negative activations use a finer grid."""


def check_max_drop(max_drop: float | None, recipe: Recipe | None, *, need_recipe: bool = True) -> None:
    """Raises BadInput for a negative ``--max-drop``, or (``need_recipe``) one without a recipe metric to
    measure it in."""
    if max_drop is None:
        return
    if not math.isfinite(max_drop) or max_drop < 0:
        raise BadInput(f"--max-drop must be a number >= 0 (in the recipe metric's units), got {max_drop}")
    if need_recipe and recipe is None:
        raise BadInput(
            "--max-drop needs a metric to measure the drop in: use a recipe model, or --recipe NAME "
            "for a factory model, so the validation split and metric are known"
        )


def drop_of(fp32: float, int8: float, higher_is_better: bool) -> float:
    """How much worse ``int8`` is than ``fp32`` (positive = worse), in the metric's units."""
    return fp32 - int8 if higher_is_better else int8 - fp32


def artifact_paths(output: Path, name: str, method: str) -> dict[str, Path]:
    base = "qat" if method == "qat" else "ptq"
    return {
        "trt": output / f"{name}.{base}.int8.trt.onnx",
        "ort": output / f"{name}.{base}.int8.ort.onnx",
        "json": output / f"{name}.{base}.quant.json",
        "md": output / f"{name}.{base}.quant.md",
    }


def finish(
    fp32: LoadedModel,
    qmodel: Any,
    recipe: Recipe | None,
    data: Data | None,
    output: Path,
    *,
    fp32_origin: str,
    calibration: list[dict[str, Any]],
    max_drop: float | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Export both encodings, validate and verify them, score fp32 vs INT8, write the report, apply the gate.

    Args:
        fp32: the fp32 model the INT8 one came from.
        qmodel: the :class:`~edgekit.quant.ptq.QuantizedModel`.
        recipe, data: the task and validation split (None: no metric, no gate).
        output: output directory.
        fp32_origin: where the fp32 weights came from (checkpoint path, "trained now ...").
        calibration: input batches: output ranges of the ORT encoding, and the verification inputs.
        max_drop: the gate, in the metric's units.
        extra: more entries for the report (checkpoint path ...).

    Returns:
        The report (also written as JSON and Markdown).

    Raises:
        VerificationFailed: after writing the report, when a file fails validation or verification, or the
            INT8 metric drops more than ``max_drop``.
    """
    from edgekit.core.io import sha256, write_json, write_text
    from edgekit.quant.onnx_int8 import export_qdq, make_ort_encoding, validate_trt

    name = recipe.name if recipe is not None and fp32.recipe is not None else "model"
    paths = artifact_paths(output, name, qmodel.method)
    output.mkdir(parents=True, exist_ok=True)
    export = export_qdq(qmodel.model, paths["trt"])
    problems: list[str] = []
    try:
        qdq = [q.describe() for q in validate_trt(paths["trt"])]
    except VerificationFailed as exc:
        qdq, problems = [], [str(exc)]
    encoding = make_ort_encoding(paths["trt"], paths["ort"], calibration)
    sample = calibration[0] if calibration else None
    artifacts: dict[str, Any] = {}
    for key, tol, backend in (
        ("trt", TRT_TOLERANCE, "TensorRT (symmetric int8, zero point 0)"),
        ("ort", ORT_TOLERANCE, "ONNX Runtime CPU (uint8 activations)"),
    ):
        v = verify_int8(qmodel.model, paths[key], tol, sample=sample)
        artifacts[key] = {
            "path": str(paths[key]),
            "backend": backend,
            "sha256": sha256(paths[key]),
            "verification": v.status,
            "max_abs_vs_torch_int8": v.max_abs,
            "tolerance": tol,
            "failures": v.failures(),
        }
        if not v.passed:
            problems.append(f"{paths[key].name} disagrees with the torch Q/DQ model: {'; '.join(v.failures()[:3])}")
    artifacts["trt"].update(export=export, qdq_nodes=qdq)
    artifacts["ort"].update(reencoding=encoding)
    report: dict[str, Any] = {
        "model": fp32.source,
        "recipe": recipe.name if recipe else None,
        "method": qmodel.method,
        "fp32_weights": fp32_origin,
        "artifacts": artifacts,
        "quantized_layers": qmodel.quantized,
        "float_layers": qmodel.float_layers,
        "details": qmodel.details,
        **(extra or {}),
    }
    if recipe is not None and data is not None:
        report.update(score(fp32, qmodel.model, recipe, data, paths))
    report["gate"] = gate(report, max_drop)
    write_json(paths["json"], report)
    write_text(paths["md"], render_markdown(report, output, name))
    if report["gate"]["status"] == "FAIL":
        problems.append(report["gate"]["message"])
    if problems:
        raise VerificationFailed("; ".join(problems) + f" (report: {paths['json']})")
    return report


def score(fp32: LoadedModel, int8: LoadedModel, recipe: Recipe, data: Data, paths: dict[str, Path]) -> dict[str, Any]:
    """The recipe's metrics on the validation split for fp32 (eager), INT8 torch (Q/DQ graph) and both ONNX
    files in ONNX Runtime (the TensorRT file's numbers stand in for TensorRT's until it runs there)."""
    from edgekit.backends.registry import create_runner

    metrics: dict[str, dict[str, float]] = {
        "fp32": recipe.task.evaluate(fp32.predict, data, recipe),
        "int8_torch": recipe.task.evaluate(int8.predict, data, recipe),
    }
    for key in ("trt", "ort"):
        with create_runner("onnxruntime", paths[key]) as runner:
            metrics[f"int8_{key}_onnx"] = recipe.task.evaluate(runner.infer, data, recipe)
    main = recipe.task.metric
    hib = recipe.task.higher_is_better
    drops = {k: drop_of(metrics["fp32"][main], v[main], hib) for k, v in metrics.items() if k != "fp32"}
    return {"metric": main, "higher_is_better": hib, "metrics": metrics, "drop": drops}


def gate(report: dict[str, Any], max_drop: float | None) -> dict[str, Any]:
    """Pass when neither ONNX file loses more than ``max_drop`` of the headline metric against fp32."""
    if max_drop is None or "drop" not in report:
        return {"status": "not set", "max_drop": max_drop}
    worst_key = max(("int8_trt_onnx", "int8_ort_onnx"), key=lambda k: report["drop"][k])
    worst = report["drop"][worst_key]
    status = "pass" if worst <= max_drop + 1e-12 else "FAIL"
    message = (
        f"accuracy gate: INT8 {report['metric']} drops {worst:.4g} against fp32 ({worst_key}); "
        f"--max-drop is {max_drop:g}"
        + (
            ""
            if status == "pass"
            else "; fine-tune longer (edgekit qat --epochs), try another --method, or keep sensitive layers float"
        )
    )
    return {"status": status, "max_drop": max_drop, "worst": worst_key, "worst_drop": worst, "message": message}


# -- verification against the torch Q/DQ model --------------------------------------------------------------------


def verify_int8(
    reference: LoadedModel,
    path: str | Path,
    tolerance: float,
    seed: int = 1234,
    sample: dict[str, np.ndarray] | None = None,
) -> Any:
    """Run ``path`` in ONNX Runtime at every verification shape (:func:`edgekit.core.spec.shape_plan`) and compare
    each output with the torch Q/DQ model. Rounding at a quantization step differs between runtimes, so an
    output passes when |onnx - torch| <= ``tolerance`` x max |torch| (per output).

    Args:
        sample: real inputs (a batch of the data); the verification inputs are then built from them, tiled or
            cropped to each shape, rather than drawn at random: calibrated ranges clip out-of-distribution
            values, in both runtimes but not always at the same step.

    Returns:
        An :class:`edgekit.artifacts.verify.Verification`.
    """
    from edgekit.artifacts.verify import ShapeCheck, Verification, _label, compare_arrays
    from edgekit.backends.registry import create_runner
    from edgekit.core.spec import random_inputs, shape_plan

    plans = []
    for i, sizes in enumerate(shape_plan(reference.inputs)):
        feed = random_inputs(reference.inputs, sizes, seed + 97 * i)
        if sample is not None:
            feed = {k: _tile_to(sample[k], v.shape) for k, v in feed.items()}
        plans.append((_label(sizes), feed))
    with create_runner("onnxruntime", path, threads=1) as runner:
        result = Verification(str(path), "onnx-int8", runner.backend, tolerance, 0.0, [], details=dict(runner.details))
        for label, feed in plans:
            ref = reference.predict(feed)
            shapes = {k: list(v.shape) for k, v in feed.items()}
            try:
                got = runner.infer(feed)
            except Exception as exc:  # a frozen axis shows up as a failure to run at a new size
                result.checks.append(ShapeCheck(label, shapes, [], f"failed to run at {shapes}: {exc}"))
                continue
            outs = [
                compare_arrays(name, g, ref[name], tolerance * float(np.max(np.abs(ref[name])) + 1e-6), 0.0)
                for name, g in zip(ref, got.values(), strict=True)
            ]
            result.checks.append(ShapeCheck(label, shapes, outs))
    return result


def _tile_to(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``array`` cropped or repeated (wrapping) along each axis to ``shape``."""
    for axis, size in enumerate(shape):
        array = np.take(array, np.arange(size) % array.shape[axis], axis=axis)
    return np.ascontiguousarray(array)


# -- Markdown ------------------------------------------------------------------------------------------------------


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def render_markdown(report: dict[str, Any], output: Path, name: str) -> str:
    """The report as Markdown: metrics (with the other method's, when its report is beside this one), the
    gate, artifacts and the layer lists."""
    lines = [
        f"# INT8 report: {report['model']} ({report['method']})",
        "",
        f"fp32 weights: {report['fp32_weights']}",
        "",
    ]
    if "metrics" in report:
        lines += _metrics_table(report, output, name)
        g = report["gate"]
        lines += ["", f"Gate: **{g['status']}**" + (f" — {g['message']}" if "message" in g else ""), ""]
    lines += ["## Artifacts", "", "| file | for | verification vs torch INT8 | max abs |", "|---|---|---|---|"]
    for a in report["artifacts"].values():
        lines.append(
            f"| {Path(a['path']).name} | {a['backend']} | {a['verification']} | {_fmt(a['max_abs_vs_torch_int8'])} |"
        )
    lines += ["", "## Quantized layers", ""] + [f"- `{k}`: {v}" for k, v in report["quantized_layers"].items()]
    lines += ["", "## Float layers", ""] + ([f"- `{k}`: {v}" for k, v in report["float_layers"].items()] or ["- none"])
    lines += ["", "## Details", "", "```json", json.dumps(report["details"], indent=2), "```", ""]
    return "\n".join(lines)


def _metrics_table(report: dict[str, Any], output: Path, name: str) -> list[str]:
    columns = [("fp32", report["metrics"]["fp32"])]
    label = "QAT" if report["method"] == "qat" else report["method"].upper()
    runs = [(label, report)]
    other = output / f"{name}.{'ptq' if report['method'] == 'qat' else 'qat'}.quant.json"
    if other.is_file():
        try:
            o = json.loads(other.read_text())
            if "metrics" in o and o.get("fp32_weights") == report["fp32_weights"]:
                runs.append(("QAT" if o["method"] == "qat" else o["method"].upper(), o))
        except (ValueError, KeyError):
            pass
    for lab, r in runs:
        columns += [
            (f"{lab} torch", r["metrics"]["int8_torch"]),
            (f"{lab} trt.onnx", r["metrics"]["int8_trt_onnx"]),
            (f"{lab} ort.onnx", r["metrics"]["int8_ort_onnx"]),
        ]
    keys = list(report["metrics"]["fp32"])
    out = ["| metric | " + " | ".join(c for c, _ in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for k in keys:
        out.append(
            f"| {k}{' (gate)' if k == report['metric'] else ''} | "
            + " | ".join(_fmt(m.get(k, "")) for _, m in columns)
            + " |"
        )
    return out


# -- the fp32 starting point ---------------------------------------------------------------------------------------


def prepare_fp32(
    model_ref: str,
    *,
    recipe_ref: str | None = None,
    checkpoint: Path | None = None,
    inputs: tuple[str, ...] = (),
    dynamic: tuple[str, ...] = (),
    static: bool = False,
    trust_checkpoint: bool = False,
    seed: int = 0,
) -> tuple[LoadedModel, Recipe | None, Data | None, str]:
    """Load MODEL and make sure its fp32 weights are the trained ones.

    A recipe model without ``--checkpoint`` is trained first with the recipe's defaults (quantizing random
    weights would measure nothing). ``recipe_ref`` lends a recipe's data and metric to a non-recipe model.

    Returns:
        (model, recipe or None, data or None, where the fp32 weights came from).

    Raises:
        BadInput: from loading, or a ``--recipe`` whose inputs do not match the model's.
    """
    from edgekit.intake.load import load_model
    from edgekit.training.recipe import get_recipe

    loaded = load_model(
        model_ref,
        checkpoint=checkpoint,
        inputs=inputs,
        dynamic=dynamic,
        static=static,
        trust_checkpoint=trust_checkpoint,
    )
    recipe = get_recipe(recipe_ref) if recipe_ref else loaded.recipe
    if recipe is not None and [s.name for s in recipe.inputs] != loaded.input_names:
        raise BadInput(
            f"--recipe {recipe.name} feeds inputs {[s.name for s in recipe.inputs]} but the model takes "
            f"{loaded.input_names}; pick a recipe with the same inputs or rename them with --input"
        )
    if checkpoint is not None:
        origin = f"checkpoint {checkpoint}"
    elif loaded.recipe is not None:
        from edgekit.training.train import train_recipe

        trained, metrics = train_recipe(loaded.recipe, seed=seed)
        inner: Any = loaded.module.module  # the recipe's module inside FlatOutputs
        inner.load_state_dict(trained.state_dict())
        loaded.module.eval()
        origin = (
            f"trained now with the recipe's defaults (seed {seed}, {metrics.get('params', 0):.0f} params); "
            f"pass --checkpoint to quantize your own weights"
        )
    else:
        origin = f"as loaded from {model_ref}"
    return loaded, recipe, (recipe.data() if recipe is not None else None), origin
