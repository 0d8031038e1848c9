"""The recurrent recipes (rnn, lstm, gru) differ only in their cell: one declaration serves all three.

No torch import at module level: listing recipes stays fast.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from edgekit.core.spec import InputSpec
from edgekit.training.data import digits_classification
from edgekit.training.recipe import Data, Recipe
from edgekit.training.tasks import Classification

if TYPE_CHECKING:
    from torch import nn


def _build(cell: str) -> nn.Module:
    from recipes._blocks import RecurrentClassifier

    return RecurrentClassifier(cell, features=8, hidden=64, classes=10)


def _data() -> Data:
    return digits_classification("x", layout="rows")


def recurrent_recipe(cell: str, title: str, *, epochs: int, lr: float) -> Recipe:
    """A ``cell`` (rnn, lstm, gru) sequence classifier of digits read row by row, (B, T, 8) -> 10 logits."""
    return Recipe(
        name=cell,
        description=f"{title} sequence classifier: (B, T, 8) digit rows -> 10 logits",
        build=functools.partial(_build, cell),
        # the time axis is dynamic too: the model runs on any number of rows
        inputs=(InputSpec("x", (1, 8, 8), dynamic=(0, 1)),),
        outputs=("logits",),
        data=_data,
        task=Classification(epochs=epochs, lr=lr),
        atol=1e-4,
        rtol=1e-3,
        extra={"gate": 0.9},  # what full training must reach
        notes="scikit-learn digits read row by row: 8 time steps of 8 pixels; batch_first, zero initial state "
        "built from the batch size inside forward, classification from the last step. Both batch and time "
        "axes are dynamic (see TRAPS.md: the dynamo ONNX exporter may freeze the time axis of recurrent "
        "layers; verification at other lengths catches it). Metric: val top-1.",
    )
