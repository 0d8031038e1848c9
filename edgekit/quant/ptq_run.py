"""``edgekit quantize`` as a library call: post-training INT8 from calibration batches, the keep-float choice
(:mod:`edgekit.quant.sensitivity`), both encodings, the report and the gate. The calibration itself is
:mod:`edgekit.quant.ptq`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.core.errors import BadInput
from edgekit.quant.ptq import METHODS, batches_of, calibrate, load_npz
from edgekit.quant.quantizer import QuantPolicy
from edgekit.quant.sensitivity import apply_keep_float, parse_keep_float


def run_ptq(
    model_ref: str,
    output: Path,
    *,
    calibrate_batches: int = 16,
    method: str = "minmax",
    batch_size: int = 32,
    data_file: Path | None = None,
    recipe_ref: str | None = None,
    checkpoint: Path | None = None,
    max_drop: float | None = None,
    policy: QuantPolicy | None = None,
    keep_float: str | None = None,
    inputs: tuple[str, ...] = (),
    dynamic: tuple[str, ...] = (),
    static: bool = False,
    trust_checkpoint: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """``edgekit quantize``: PTQ with ``calibrate_batches`` batches, both INT8 encodings, report and gate.

    ``keep_float``: ``NAME[,NAME]`` layers kept float, or ``auto`` (with ``max_drop``): the float layers chosen
    by :mod:`edgekit.quant.sensitivity` (in the recipe metric, else in relative output error, then the gate is
    the search's own and the recipe gate is not set).

    Raises:
        BadInput: bad options, data or model (exit 2).
        VerificationFailed: a file fails its checks or the gate (exit 1), after the report is written.
    """
    from edgekit.quant.report import check_max_drop, finish, prepare_fp32

    keep = parse_keep_float(keep_float)
    check_max_drop(max_drop, None, need_recipe=False)
    if calibrate_batches < 1:
        raise BadInput(f"--calibrate must be >= 1 (batches of {batch_size}), got {calibrate_batches}")
    if method not in METHODS:
        from edgekit.core.errors import suggest

        raise BadInput(f"unknown --method '{method}'; expected one of {', '.join(METHODS)}.{suggest(method, METHODS)}")
    loaded, recipe, data, origin = prepare_fp32(
        model_ref,
        recipe_ref=recipe_ref,
        checkpoint=checkpoint,
        inputs=inputs,
        dynamic=dynamic,
        static=static,
        trust_checkpoint=trust_checkpoint,
        seed=seed,
    )
    if keep != "auto" or recipe is not None:  # auto without a recipe measures the drop in output error
        check_max_drop(max_drop, recipe)
    if data_file is not None:
        source = f"--data {data_file}"
        batches = batches_of(load_npz(data_file), loaded.input_names, batch_size, calibrate_batches)
    elif data is not None:
        source = f"recipe {recipe.name if recipe else ''} training split"
        batches = batches_of(data.train, loaded.input_names, batch_size, calibrate_batches)
    else:
        raise BadInput(
            f"no calibration data for '{model_ref}': pass --data FILE.npz (one array per input: "
            f"{', '.join(loaded.input_names)}) or --recipe NAME"
        )
    policy, extra = apply_keep_float(
        keep, loaded, batches, recipe=recipe, data=data, max_drop=max_drop, policy=policy, method=method
    )
    qmodel = calibrate(loaded, batches, method, policy)
    qmodel.details["calibration_source"] = source
    gate = max_drop if recipe is not None else None
    return finish(
        loaded, qmodel, recipe, data, output, fp32_origin=origin, calibration=batches, max_drop=gate, extra=extra
    )
