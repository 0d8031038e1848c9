"""Train a recipe's model on CPU, reproducibly, score it with eager inference, and save a checkpoint.

The checkpoint is a plain dict of tensors, strings and floats (``{"state_dict", "recipe", "metrics"}``), so
``torch.load(weights_only=True)`` reads it and ``edgekit export RECIPE --checkpoint`` accepts it.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgekit.core.errors import BadInput
from edgekit.training.recipe import Predict, Recipe

if TYPE_CHECKING:
    from torch import nn

TRAIN_THREADS = 1
"""Default intra-op threads for training. The recipe models are small, so a second thread gains little, and on
a shared 2-core machine a second thread waiting for a busy core stalls every op. Measured here (2 cores shared
with other jobs, same seed and epochs): in quiet moments 2 threads trained the CNNs 1.4-1.7x faster; under
load they ran up to 10x slower (gru 52 s vs 5.5 s, transformer 105 s vs 10 s, defect 17.7 s vs 2.6 s)."""


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU) so that building and training repeat exactly."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def eager_predict(module: nn.Module, recipe: Recipe) -> Predict:
    """``module`` (put in eval mode) as a :data:`~edgekit.training.recipe.Predict` over the recipe's input/output
    names."""
    from edgekit.core.model import FlatOutputs, LoadedModel

    module.eval()
    loaded = LoadedModel(
        FlatOutputs(module),
        list(recipe.inputs),
        list(recipe.outputs),
        f"recipe:{recipe.name}",
        recipe,
        recipe.atol,
        recipe.rtol,
    )
    return loaded.predict


def train_recipe(
    recipe: Recipe, *, epochs: int | None = None, seed: int = 0, threads: int | None = TRAIN_THREADS
) -> tuple[nn.Module, dict[str, float]]:
    """Build ``recipe``'s model, train it on CPU and score it on the validation split with eager inference.

    Args:
        recipe: the recipe (see :func:`edgekit.training.recipe.get_recipe`).
        epochs: overrides the task's default number of epochs.
        seed: seeds model initialization, shuffling and noise; the data split never changes with it.
        threads: ``torch.set_num_threads`` while training and scoring (restored afterwards); ``None`` keeps
            torch's setting. Default :data:`TRAIN_THREADS`. Results repeat exactly for a given seed and thread
            count (float sums may differ between thread counts).

    Returns:
        The trained module in eval mode, and its metrics: the task's (``recipe.task.metric`` among them) plus
        ``train_seconds`` (wall time of training alone) and ``params`` (parameter count).

    Raises:
        BadInput: ``epochs`` or ``threads`` below 1, or data that does not fit the task.
    """
    import torch

    if epochs is not None and epochs < 1:
        raise BadInput(f"epochs must be >= 1, got {epochs}")
    if threads is not None and threads < 1:
        raise BadInput(f"threads must be >= 1, got {threads}")
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        data = recipe.data()
        seed_everything(seed)
        model = recipe.build()
        start = time.perf_counter()
        recipe.task.train(model, data, recipe, epochs=epochs, seed=seed)
        seconds = time.perf_counter() - start
        metrics = recipe.task.evaluate(eager_predict(model, recipe), data, recipe)
    finally:
        torch.set_num_threads(previous)
    metrics["train_seconds"] = round(seconds, 3)
    metrics["params"] = float(sum(p.numel() for p in model.parameters()))
    return model, metrics


def save_checkpoint(
    model: nn.Module, path: str | Path, recipe: Recipe | str, metrics: dict[str, float] | None = None
) -> Path:
    """Write ``{"state_dict", "recipe", "metrics"}`` to ``path`` atomically (temp file, then rename).

    Returns:
        The path written.
    """
    import torch

    from edgekit.core.io import atomic_path

    path = Path(path)
    name = recipe if isinstance(recipe, str) else recipe.name
    payload = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "recipe": name,
        "metrics": {k: float(v) for k, v in (metrics or {}).items()},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path
