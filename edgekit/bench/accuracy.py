"""Accuracy of every benchmarked artifact: the recipe's metric on its validation split, or top-1 / MSE on a
user's ``--data FILE.npz``, and always the agreement with eager PyTorch (top-1 agreement, max abs diff).

Every backend is scored through its runner's ``infer`` as a :data:`~edgekit.training.recipe.Predict`, by the same code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.core.errors import BadInput, one_line
from edgekit.core.model import LoadedModel
from edgekit.core.spec import random_inputs
from edgekit.training.recipe import Arrays, Predict, Recipe

AGREEMENT_RANDOM = 64
"""Random samples used for agreement with eager when neither a recipe nor --data gives real ones."""


@dataclasses.dataclass
class EvalSet:
    """What every artifact is scored on.

    Args:
        source: words for reports (``recipe cnn: val split (360 samples)``).
        inputs: the model's inputs, full arrays (axis 0: samples).
        metric: the headline metric's name (``top1``, ``mse``, ``auroc`` ...), None for agreement only.
        higher_is_better: the metric's direction.
        recipe: score with ``recipe.task.evaluate`` when set.
        recipe_data: the recipe's :class:`~edgekit.training.recipe.Data`.
        labels: ``--data`` labels, when given.
        classifier: the first output holds class scores (top-1 agreement is meaningful).
    """

    source: str
    inputs: Arrays
    metric: str | None = None
    higher_is_better: bool = True
    recipe: Recipe | None = None
    recipe_data: Any = None
    labels: np.ndarray | None = None
    classifier: bool = False

    @property
    def samples(self) -> int:
        return len(next(iter(self.inputs.values())))


def eval_set(model: LoadedModel, recipe: Recipe | None, data_file: Path | None) -> EvalSet:
    """The evaluation set for ``model``: ``data_file`` if given, else ``recipe``'s val split, else random inputs
    (agreement only).

    Raises:
        BadInput: a data file that does not exist, is not an .npz, or whose arrays do not match the inputs.
    """
    if data_file is not None:
        return _npz_set(model, data_file)
    if recipe is not None:
        data = recipe.data()
        names = model.input_names
        missing = [n for n in names if n not in data.val]
        if missing:
            raise BadInput(
                f"recipe {recipe.name}'s val split lacks the model inputs {missing} (it holds "
                f"{sorted(data.val)}); bench the recipe's own model, or pass --data FILE.npz"
            )
        n = len(data.val[names[0]])
        classifier = type(recipe.task).__name__ == "Classification" or recipe.task.metric == "top1"
        return EvalSet(
            f"recipe {recipe.name}: val split ({n} samples)",
            {k: data.val[k] for k in names},
            recipe.task.metric,
            recipe.task.higher_is_better,
            recipe,
            data,
            classifier=classifier,
        )
    batch_sizes = {s.name: {0: AGREEMENT_RANDOM} for s in model.inputs if 0 in s.dynamic}
    inputs = random_inputs(model.inputs, batch_sizes, seed=4321)
    classifier = any("logit" in o.lower() for o in model.outputs[:1])
    return EvalSet(
        f"random inputs ({len(next(iter(inputs.values())))} samples; no recipe or --data)",
        inputs,
        classifier=classifier,
    )


def _npz_set(model: LoadedModel, path: Path) -> EvalSet:
    if not path.is_file():
        raise BadInput(
            f"--data file '{path}' does not exist; expected an .npz with one array per model input "
            f"({', '.join(model.input_names)}) and optional 'labels'"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise BadInput(
            f"--data '{path}' is not a readable .npz ({one_line(exc, 120, kind=False)}); write it with "
            f"numpy.savez(path, {', '.join(f'{n}=...' for n in model.input_names)}, labels=...)"
        ) from exc
    inputs = {}
    for spec in model.inputs:
        if spec.name not in arrays:
            raise BadInput(
                f"--data '{path}' has no array '{spec.name}': expected arrays named after the model "
                f"inputs {model.input_names} (+ optional labels), got {sorted(arrays)}"
            )
        arr = arrays[spec.name]
        fixed = [(i, d) for i, d in enumerate(spec.shape) if i not in spec.dynamic]
        if arr.ndim != len(spec.shape) or any(arr.shape[i] != d for i, d in fixed):
            want = "x".join("N" if i in spec.dynamic else str(d) for i, d in enumerate(spec.shape))
            raise BadInput(
                f"--data '{path}': array '{spec.name}' has shape {list(arr.shape)}, expected {want} "
                f"(N: any size); save arrays shaped like the model input"
            )
        if arr.dtype != np.dtype(spec.dtype) and not np.can_cast(arr.dtype, spec.dtype, "same_kind"):
            raise BadInput(f"--data '{path}': array '{spec.name}' is {arr.dtype}, expected {spec.dtype}")
        inputs[spec.name] = np.ascontiguousarray(arr.astype(spec.dtype, copy=False))
    counts = {k: len(v) for k, v in inputs.items()}
    labels = arrays.get("labels")
    if labels is not None:
        counts["labels"] = len(labels)
    if len(set(counts.values())) != 1:
        raise BadInput(f"--data '{path}': arrays hold different numbers of samples {counts}; expected one N")
    unknown = sorted(set(arrays) - set(inputs) - {"labels"})
    if unknown:
        raise BadInput(
            f"--data '{path}': unexpected arrays {unknown}; expected the model inputs "
            f"{model.input_names} and optional labels"
        )
    n = next(iter(counts.values()))
    if labels is None:
        return EvalSet(f"{path.name} ({n} samples, no labels)", inputs)
    classifier = np.issubdtype(labels.dtype, np.integer) and labels.ndim == 1
    return EvalSet(
        f"{path.name} ({n} samples)",
        inputs,
        "top1" if classifier else "mse",
        classifier,
        labels=labels,
        classifier=bool(classifier),
    )


def chunked(predict: Predict, size: int) -> Predict:
    """``predict`` for an artifact whose batch is fixed at ``size``: inputs split into chunks of ``size`` (the
    last one padded by repetition), outputs trimmed and concatenated."""

    def run(feed: Arrays) -> Arrays:
        n = len(next(iter(feed.values())))
        parts: dict[str, list[np.ndarray]] = {}
        for start in range(0, n, size):
            chunk = {k: v[start : start + size] for k, v in feed.items()}
            m = len(next(iter(chunk.values())))
            if m < size:
                chunk = {k: np.concatenate([v, np.repeat(v[-1:], size - m, axis=0)]) for k, v in chunk.items()}
            for k, v in predict(chunk).items():
                parts.setdefault(k, []).append(np.asarray(v)[:m])
        return {k: np.concatenate(v) for k, v in parts.items()}

    return run


def outputs_on(predict: Predict, inputs: Arrays, names: Sequence[str], batch: int = 256) -> list[np.ndarray]:
    """``predict``'s outputs over all of ``inputs``, in output order, batched along axis 0."""
    from edgekit.training.tasks import predict_batched

    out = predict_batched(predict, inputs, list(names), batch)
    return list(out.values())


def agreement(got: Sequence[np.ndarray], ref: Sequence[np.ndarray], classifier: bool) -> dict[str, Any]:
    """Agreement of an artifact's outputs with eager's: ``max_abs_diff`` over all outputs, and ``top1_pct`` (the
    percentage of samples whose arg-max class matches) when the first output holds class scores."""
    if len(got) != len(ref):
        return {"error": f"{len(got)} outputs vs eager's {len(ref)}"}
    diffs = []
    for g, r in zip(got, ref, strict=True):
        if g.shape != r.shape:
            return {"error": f"output shape {list(g.shape)} vs eager's {list(r.shape)}"}
        diffs.append(float(np.max(np.abs(g.astype(np.float64) - r.astype(np.float64)))) if g.size else 0.0)
    out: dict[str, Any] = {"max_abs_diff": max(diffs, default=0.0), "samples": int(len(ref[0])) if ref else 0}
    if classifier and ref and ref[0].ndim >= 2:
        out["top1_pct"] = float(100.0 * np.mean(np.argmax(got[0], -1) == np.argmax(ref[0], -1)))
    return out


def score(
    evalset: EvalSet, predict: Predict, reference: Predict, outputs: Sequence[np.ndarray], model: LoadedModel
) -> dict[str, float]:
    """The metric(s) of one artifact: the recipe task's, or top-1 / MSE against ``--data`` labels.

    Args:
        outputs: the artifact's outputs on ``evalset.inputs`` (used for --data labels).
    """
    if evalset.recipe is not None:
        task = evalset.recipe.task
        return {k: float(v) for k, v in task.evaluate(predict, evalset.recipe_data, evalset.recipe, reference).items()}
    if evalset.labels is None or evalset.metric is None:
        return {}
    first = outputs[0]
    if evalset.metric == "top1":
        if first.ndim < 2:
            raise BadInput(
                f"--data labels are class ids but the model's first output '{model.outputs[0]}' has "
                f"shape {list(first.shape)}; expected (N, classes)"
            )
        return {"top1": float(np.mean(np.argmax(first, -1) == evalset.labels))}
    if first.shape != evalset.labels.shape:
        raise BadInput(
            f"--data labels have shape {list(evalset.labels.shape)} but the first output "
            f"'{model.outputs[0]}' has {list(first.shape)}; expected integer class ids (N,) or "
            f"targets shaped like the output"
        )
    return {"mse": float(np.mean((first.astype(np.float64) - evalset.labels.astype(np.float64)) ** 2))}
