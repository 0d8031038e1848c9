"""Per-layer INT8 sensitivity and the keep-float choice (``--keep-float auto --max-drop X``).

For each quantized layer: the drop with that layer kept float (everything else INT8) and with only that layer
quantized (everything else float). Layers are ranked by what keeping them float buys (drop with all INT8 minus
drop with it float). The keep-float set is then chosen **greedily**: float layers are added in rank order, each
step re-measured, until the drop meets ``max_drop``. Greedy by sensitivity is not guaranteed to be the smallest
set (layers interact), only a small one; the report lists each step and the drop it bought.

The drop is the recipe metric on the validation split (fp32 minus INT8, in the metric's units, the torch Q/DQ
model scored) when there is a recipe, else the relative output error ``||int8 - fp32|| / ||fp32||`` on the
calibration batches. Every measurement is one PTQ calibration (min/max unless told otherwise); QAT chooses its
float layers with these PTQ measurements, then fine-tunes once with them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from edgekit.core.errors import BadInput
from edgekit.core.model import LoadedModel
from edgekit.quant.ptq import QuantizedModel, calibrate
from edgekit.quant.quantizer import QuantPolicy
from edgekit.training.recipe import Arrays, Data, Recipe

Measure = Callable[[LoadedModel], float]


def parse_keep_float(text: str | None) -> tuple[str, ...] | str | None:
    """``--keep-float``: None, ``auto``, or ``NAME[,NAME]`` -> a tuple of names.

    Raises:
        BadInput: an empty list.
    """
    if text is None:
        return None
    if text.strip() == "auto":
        return "auto"
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise BadInput(f"--keep-float '{text}' names no layer; expected NAME[,NAME] (e.g. features.0) or auto")
    return names


def output_error_measure(fp32: LoadedModel, batches: Sequence[Arrays]) -> Measure:
    """Relative output error of an INT8 model against ``fp32`` on ``batches``: mean over outputs of
    ``||int8 - fp32||_2 / ||fp32||_2`` (0 = identical)."""
    refs = [fp32.predict(b) for b in batches]

    def measure(int8: LoadedModel) -> float:
        errs = []
        for batch, ref in zip(batches, refs, strict=True):
            got = int8.predict(batch)
            for k, r in ref.items():
                r64, g64 = r.astype(np.float64), got[k].astype(np.float64)
                errs.append(float(np.linalg.norm(g64 - r64) / (np.linalg.norm(r64) + 1e-12)))
        return float(np.mean(errs))

    return measure


def metric_measure(fp32: LoadedModel, recipe: Recipe, data: Data) -> Measure:
    """The recipe metric's drop (fp32 minus INT8, positive = worse) on the validation split."""
    from edgekit.quant.report import drop_of

    task = recipe.task
    base = task.evaluate(fp32.predict, data, recipe)[task.metric]
    return lambda int8: drop_of(base, task.evaluate(int8.predict, data, recipe)[task.metric], task.higher_is_better)


@dataclasses.dataclass
class LayerSensitivity:
    """One layer: the drop with it kept float, with only it quantized, and what keeping it float buys."""

    layer: str
    drop_kept_float: float
    drop_only_this_int8: float
    gain: float

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class KeepFloatChoice:
    """The greedy search's outcome."""

    measure: str
    max_drop: float
    drop_all_int8: float
    ranking: list[LayerSensitivity]
    steps: list[dict[str, Any]]
    chosen: list[str]
    met: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": "auto",
            "measure": self.measure,
            "max_drop": self.max_drop,
            "drop_all_int8": self.drop_all_int8,
            "sensitivity": [r.to_json() for r in self.ranking],
            "steps": self.steps,
            "chosen": self.chosen,
            "met": self.met,
            "search": "greedy by sensitivity (each step re-measured); small, not guaranteed smallest",
        }


def _quantize(model: LoadedModel, batches: Sequence[Arrays], method: str, policy: QuantPolicy) -> QuantizedModel:
    return calibrate(model, batches, method, policy)


def sensitivity(
    model: LoadedModel, batches: Sequence[Arrays], measure: Measure, *, method: str = "minmax", policy: QuantPolicy
) -> tuple[float, list[LayerSensitivity]]:
    """The drop with every layer INT8, and each layer's sensitivity, most sensitive first.

    Raises:
        BadInput: from calibration (nothing to quantize, data that does not fit).
    """
    base = _quantize(model, batches, method, policy)
    layers = list(base.quantized)
    drop_all = measure(base.model)
    rows = []
    for layer in layers:
        kept = dataclasses.replace(policy, skip=policy.skip + (layer,))
        # the only layer kept float is the fp32 model (drop 0): there is nothing left to calibrate
        drop_kept = measure(_quantize(model, batches, method, kept).model) if len(layers) > 1 else 0.0
        others = tuple(x for x in layers if x != layer)
        only = measure(_quantize(model, batches, method, dataclasses.replace(policy, skip=policy.skip + others)).model)
        rows.append(LayerSensitivity(layer, drop_kept, only, drop_all - drop_kept))
    rows.sort(key=lambda r: (-r.gain, -r.drop_only_this_int8))
    return drop_all, rows


def choose_keep_float(
    model: LoadedModel,
    batches: Sequence[Arrays],
    measure: Measure,
    max_drop: float,
    *,
    measure_name: str,
    method: str = "minmax",
    policy: QuantPolicy | None = None,
) -> KeepFloatChoice:
    """Greedy keep-float search (see the module doc): float layers added in sensitivity order until the drop
    is <= ``max_drop``. Keeping every layer float is fp32 (drop 0), so the search always ends."""
    policy = policy or QuantPolicy()
    drop_all, ranking = sensitivity(model, batches, measure, method=method, policy=policy)
    steps: list[dict[str, Any]] = [{"float_layers": [], "drop": drop_all, "bought": 0.0}]
    chosen: list[str] = []
    drop = drop_all
    kept_alone = {r.layer: r.drop_kept_float for r in ranking}
    for row in ranking:
        if drop <= max_drop + 1e-12:
            break
        chosen.append(row.layer)
        if len(chosen) == len(ranking):
            new = 0.0  # everything float: the fp32 model
        elif len(chosen) == 1:
            new = kept_alone[row.layer]  # already measured
        else:
            skip = dataclasses.replace(policy, skip=policy.skip + tuple(chosen))
            new = measure(_quantize(model, batches, method, skip).model)
        steps.append({"float_layers": list(chosen), "drop": new, "bought": drop - new})
        drop = new
    return KeepFloatChoice(measure_name, max_drop, drop_all, ranking, steps, chosen, drop <= max_drop + 1e-12)


def apply_keep_float(
    keep: tuple[str, ...] | str | None,
    model: LoadedModel,
    batches: Sequence[Arrays],
    *,
    recipe: Recipe | None,
    data: Data | None,
    max_drop: float | None,
    policy: QuantPolicy | None,
    method: str = "minmax",
) -> tuple[QuantPolicy, dict[str, Any]]:
    """The policy with ``--keep-float``'s layers skipped, and the report's ``keep_float`` entry.

    Args:
        keep: from :func:`parse_keep_float`.
        batches: calibration batches (the output-error measure's data too).
        recipe, data: the metric's task and validation split (None: relative output error).

    Raises:
        BadInput: ``auto`` without ``--max-drop``.
    """
    policy = policy or QuantPolicy()
    if keep is None:
        return policy, {}
    if isinstance(keep, tuple):
        return dataclasses.replace(policy, skip=policy.skip + keep), {
            "keep_float": {"mode": "names", "layers": list(keep)}
        }
    if max_drop is None:
        raise BadInput("--keep-float auto needs --max-drop X: the drop the float layers must bring INT8 within")
    if recipe is not None and data is not None:
        measure, name = metric_measure(model, recipe, data), f"{recipe.task.metric} drop on the validation split"
    else:
        measure, name = output_error_measure(model, batches), "relative output error on the calibration batches"
    choice = choose_keep_float(model, batches, measure, max_drop, measure_name=name, method=method, policy=policy)
    return dataclasses.replace(policy, skip=policy.skip + tuple(choice.chosen)), {"keep_float": choice.to_json()}
