"""Quantization-aware training: capture in training mode, insert fake quantization (torchao pt2e with
:class:`~edgekit.quant.quantizer.TensorRTInt8Quantizer`), fine-tune, convert.

Runs unchanged under ``torchrun --nproc_per_node N``: when ``WORLD_SIZE`` > 1 the process group is initialized
(gloo on CPU, NCCL on CUDA), the prepared model is wrapped in ``DistributedDataParallel`` (which broadcasts rank
0's weights and buffers at the start and every step, and averages gradients), every rank trains on its own
stride of each batch (:func:`edgekit.training.tasks.shuffled_batches`). After training every rank's hash of its trained
weights is gathered into the report (identical weights are checked, not assumed), then rank 0's observer ranges and
BatchNorm statistics are broadcast, so every rank converts the same model. Only rank 0 writes artifacts.

Fine-tuning loss: the recipe task's own (classification, anomaly reconstruction, denoising), which only need
``forward``. A GAN's task would start a fresh discriminator and a VAE's needs ``encode``/``decode``, which the
captured graph does not have: those fine-tune by distillation (MSE between the fake-quantized outputs and
the fp32 model's on the training inputs), recorded in the report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgekit.core.model import LoadedModel
from edgekit.quant.ptq import QuantizedModel
from edgekit.quant.quantizer import (
    QuantPolicy,
    TensorRTInt8Quantizer,
    allow_train_eval,
    as_loaded,
    capture,
    convert,
    float_layers,
    frozen_axes,
    require_quantizable,
)
from edgekit.training.recipe import Data, Recipe

DEFAULT_EPOCHS = 3
LR_FACTOR = 0.1
"""QAT fine-tunes at this fraction of the task's training learning rate unless --lr is given."""


@dataclasses.dataclass(frozen=True)
class DistInfo:
    """This process's place in a torch.distributed run (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


@contextlib.contextmanager
def distributed(device: str = "cpu") -> Iterator[DistInfo]:
    """Join the process group torchrun set up (``RANK``/``WORLD_SIZE`` in the environment): gloo on CPU, NCCL
    on CUDA; leave it at exit if we joined it. Outside torchrun: rank 0 of 1."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        yield DistInfo(dist.get_rank(), dist.get_world_size(), dist.get_backend())
        return
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or "RANK" not in os.environ or not dist.is_available():
        yield DistInfo()
        return
    backend = "nccl" if device == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    try:
        yield DistInfo(dist.get_rank(), dist.get_world_size(), backend)
    finally:
        dist.destroy_process_group()


def state_hash(module: torch.nn.Module, params_only: bool = False) -> str:
    """SHA-256 over a module's state_dict (or only its parameters): names, dtypes, shapes and bytes, in order."""
    h = hashlib.sha256()
    items = module.named_parameters() if params_only else module.state_dict().items()
    for name, t in sorted(items, key=lambda kv: kv[0]):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


def _sync_from_rank0(module: torch.nn.Module, info: DistInfo) -> dict[str, Any]:
    """Gather every rank's hash of its trained parameters (DDP must have kept them identical: this is the check),
    then broadcast rank 0's whole state (observer ranges and BatchNorm statistics, which each rank updated on
    its own data in the last step) and gather the hashes of the full state."""
    if info.world == 1:
        return {
            "rank_weight_sha256": [state_hash(module, True)],
            "rank_state_sha256": [state_hash(module)],
            "ranks_identical": True,
        }
    import torch.distributed as dist

    weights: list[Any] = [None] * info.world
    dist.all_gather_object(weights, state_hash(module, params_only=True))
    with torch.no_grad():
        for t in module.state_dict().values():
            dist.broadcast(t, src=0)
    states: list[Any] = [None] * info.world
    dist.all_gather_object(states, state_hash(module))
    return {
        "rank_weight_sha256": weights,
        "rank_state_sha256": states,
        "ranks_identical": len(set(weights)) == 1 and len(set(states)) == 1,
    }


def _uses_task_loss(recipe: Recipe) -> bool:
    from edgekit.training.tasks import AnomalyReconstruction, Classification, Denoise

    return isinstance(recipe.task, (Classification, AnomalyReconstruction, Denoise))


def _distill(
    net: torch.nn.Module, teacher: LoadedModel, data: Data, epochs: int, lr: float, seed: int, batch_size: int = 64
) -> list[float]:
    """Fine-tune ``net`` to reproduce the fp32 ``teacher``'s outputs on the training inputs (each output's MSE
    scaled by the teacher output's variance, so outputs of any magnitude weigh alike)."""
    from edgekit.core.spec import random_inputs
    from edgekit.training.tasks import fit

    names = teacher.input_names
    if all(n in data.train for n in names):
        inputs = {n: data.train[n] for n in names}
    else:  # no stored inputs (a generator's noise, say): draw them from the input specs
        sizes = {s.name: {0: 1024} for s in teacher.inputs}
        inputs = random_inputs(teacher.inputs, sizes, seed)
    targets = teacher.predict(inputs)
    scales = {k: float(np.var(v)) + 1e-8 for k, v in targets.items()}

    def loss_of(idx: np.ndarray) -> torch.Tensor:
        args = [torch.from_numpy(np.ascontiguousarray(inputs[n][idx])) for n in names]
        outs = net(*args)
        return sum(
            (
                torch.mean((o - torch.from_numpy(np.ascontiguousarray(targets[k][idx]))) ** 2) / scales[k]
                for k, o in zip(teacher.outputs, outs, strict=True)
            ),
            torch.zeros(()),
        )

    n = len(next(iter(inputs.values())))
    return fit(net, net.parameters(), loss_of, n, epochs, batch_size, lr, seed)


def quantization_aware_training(
    model: LoadedModel,
    data: Data,
    recipe: Recipe,
    *,
    epochs: int | None = None,
    lr: float | None = None,
    seed: int = 0,
    policy: QuantPolicy | None = None,
    info: DistInfo | None = None,
) -> tuple[QuantizedModel, dict[str, torch.Tensor]]:
    """Fine-tune ``model`` with fake quantization and convert it.

    Args:
        model: the trained fp32 model (eval mode); it is not modified.
        data, recipe: training data and the task whose loss fine-tunes (see the module doc).
        epochs: fine-tuning epochs (default :data:`DEFAULT_EPOCHS`).
        lr: learning rate (default: the task's x :data:`LR_FACTOR`).
        seed: shuffling seed (the same on every rank).
        policy: placement options.
        info: the distributed context (see :func:`distributed`); default: not distributed.

    Returns:
        The converted model, and the fine-tuned float weights under the original module's names (a checkpoint
        ``--checkpoint`` accepts) plus the fake-quant state.

    Raises:
        BadInput: nothing to quantize, bad epochs/lr, or a model torch.export cannot capture.
    """
    from torch.nn.parallel import DistributedDataParallel
    from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e  # type: ignore[import-untyped]

    from edgekit.core.errors import BadInput

    info = info or DistInfo()
    epochs = DEFAULT_EPOCHS if epochs is None else epochs
    base_lr = float(getattr(recipe.task, "lr", 1e-3))
    lr = base_lr * LR_FACTOR if lr is None else lr
    if epochs < 1 or lr <= 0:
        raise BadInput(f"QAT needs --epochs >= 1 and --lr > 0; got epochs={epochs}, lr={lr}")
    quantizer = TensorRTInt8Quantizer(dataclasses.replace(policy or QuantPolicy(), qat=True))
    gm, captured = capture(model, train=True)
    prepared = prepare_qat_pt2e(gm, quantizer)
    require_quantizable(quantizer, model)
    allow_train_eval(prepared)
    torch.manual_seed(seed)
    net: torch.nn.Module = DistributedDataParallel(prepared) if info.world > 1 else prepared
    if _uses_task_loss(recipe):
        task = dataclasses.replace(recipe.task, lr=lr) if dataclasses.is_dataclass(recipe.task) else recipe.task
        task.train(net, data, recipe, epochs=epochs, seed=seed)
        loss = f"task ({type(recipe.task).__name__})"
    else:
        _distill(net, model, data, epochs, lr, seed)
        loss = "distillation from the fp32 model (MSE on every output)"
    prepared.eval()
    sync = _sync_from_rank0(prepared, info)
    checkpoint = _checkpoint_state(prepared, model)
    converted = convert(prepared)
    details = {
        "epochs": epochs,
        "lr": lr,
        "loss": loss,
        "seed": seed,
        "world_size": info.world,
        "backend": info.backend or "none",
        **sync,
    }
    if frozen_axes(model, captured):
        details["frozen_axes"] = frozen_axes(model, captured)
    qmodel = QuantizedModel(
        as_loaded(converted, captured, f"{model.source} (int8 qat)"),
        "qat",
        dict(quantizer.quantized),
        {**float_layers(model.module, quantizer.quantized), **quantizer.float_ops},
        details,
    )
    return qmodel, checkpoint


def _checkpoint_state(prepared: torch.nn.Module, model: LoadedModel) -> dict[str, torch.Tensor]:
    """The prepared graph's state split in two: tensors named like the original module's state_dict (the
    fine-tuned float weights, loadable with ``--checkpoint``) and, under ``quant.``, the fake-quant state."""
    own = model.module.state_dict()
    root = "module."  # FlatOutputs wraps the user's module
    out: dict[str, torch.Tensor] = {}
    for name, t in prepared.state_dict().items():
        key = name if name in own else None
        if key is None:
            out["quant." + name] = t.detach().clone()
        else:
            out[key.removeprefix(root)] = t.detach().clone()
    return out


def run_qat(
    model_ref: str,
    output: Path,
    *,
    recipe_ref: str | None = None,
    checkpoint: Path | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    max_drop: float | None = None,
    policy: QuantPolicy | None = None,
    keep_float: str | None = None,
    inputs: tuple[str, ...] = (),
    dynamic: tuple[str, ...] = (),
    static: bool = False,
    trust_checkpoint: bool = False,
    seed: int = 0,
) -> dict[str, Any] | None:
    """``edgekit qat``: fine-tune with fake quantization, write both INT8 encodings, the fine-tuned checkpoint
    and the report, apply the gate. Under torchrun every rank trains; rank 0 alone writes and returns the
    report (other ranks return None). ``keep_float`` as in :func:`edgekit.quant.ptq_run.run_ptq`; ``auto`` chooses the
    float layers with PTQ (min/max) measurements on the calibration batches, then fine-tunes once with them.

    Raises:
        BadInput: bad options or model, or no recipe to train with (exit 2).
        VerificationFailed: a file fails its checks or the gate (exit 1), after the report is written.
    """
    from edgekit.core.errors import BadInput
    from edgekit.core.io import atomic_path
    from edgekit.quant.report import artifact_paths, check_max_drop, finish, prepare_fp32
    from edgekit.quant.sensitivity import apply_keep_float, parse_keep_float

    keep = parse_keep_float(keep_float)
    check_max_drop(max_drop, None, need_recipe=False)
    if epochs is not None and epochs < 1:
        raise BadInput(f"--epochs must be >= 1, got {epochs}")
    if lr is not None and not lr > 0:
        raise BadInput(f"--lr must be > 0, got {lr}")
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
    check_max_drop(max_drop, recipe)
    if recipe is None or data is None:
        raise BadInput(
            f"QAT needs training data and a loss: '{model_ref}' is not a recipe; pass --recipe NAME "
            f"to train with that recipe's data and task (or use edgekit quantize --data for PTQ)"
        )
    calibration = _calibration(loaded, data, seed)
    policy, extra = apply_keep_float(
        keep, loaded, calibration, recipe=recipe, data=data, max_drop=max_drop, policy=policy
    )
    with distributed() as info:
        qmodel, state = quantization_aware_training(
            loaded, data, recipe, epochs=epochs, lr=lr, seed=seed, policy=policy, info=info
        )
        if not info.is_main:
            return None
        name = recipe.name if loaded.recipe is not None else "model"
        ckpt = artifact_paths(output, name, "qat")["trt"].parent / f"{name}.qat.pth"
        output.mkdir(parents=True, exist_ok=True)
        with atomic_path(ckpt) as tmp:
            torch.save(
                {
                    "state_dict": {k: v for k, v in state.items() if not k.startswith("quant.")},
                    "quant_state": {k: v for k, v in state.items() if k.startswith("quant.")},
                    "recipe": recipe.name,
                    "method": "qat",
                },
                tmp,
            )
        return finish(
            loaded,
            qmodel,
            recipe,
            data,
            output,
            fp32_origin=origin,
            calibration=calibration,
            max_drop=max_drop,
            extra={"checkpoint": str(ckpt), **extra},
        )


def _calibration(loaded: LoadedModel, data: Data, seed: int) -> list[dict[str, np.ndarray]]:
    """Input batches for the ORT encoding's ranges, the verification and the keep-float search."""
    from edgekit.quant.ptq import batches_of

    if all(n in data.train for n in loaded.input_names):
        return batches_of(data.train, loaded.input_names, 32, 8)
    from edgekit.core.spec import random_inputs  # the task feeds the model something else (a denoiser's noise)

    return [random_inputs(loaded.inputs, {s.name: {0: 32} for s in loaded.inputs}, seed)]
