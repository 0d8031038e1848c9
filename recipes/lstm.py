"""lstm: an LSTM sequence classifier reading each 8x8 digit row by row (8 steps x 8 features)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgekit.data import digits_classification
from edgekit.recipe import Data, Recipe
from edgekit.spec import InputSpec
from edgekit.tasks import Classification

if TYPE_CHECKING:
    from torch import nn


def build() -> nn.Module:
    from recipes._blocks import RecurrentClassifier

    return RecurrentClassifier("lstm", features=8, hidden=64, classes=10)


def data() -> Data:
    return digits_classification("x", layout="rows")


RECIPE = Recipe(
    name="lstm",
    description="LSTM sequence classifier: (B, T, 8) digit rows -> 10 logits",
    build=build,
    # the time axis is dynamic too: the model runs on any number of rows
    inputs=(InputSpec("x", (1, 8, 8), dynamic=(0, 1)),),
    outputs=("logits",),
    data=data,
    task=Classification(epochs=25, lr=0.005),
    atol=1e-4,
    rtol=1e-3,
    extra={"gate": 0.9},  # what full training must reach (a ceiling where lower is better)
    notes="scikit-learn digits read row by row: 8 time steps of 8 pixels; batch_first, zero initial state "
          "built from the batch size inside forward, classification from the last step. Both batch and time "
          "axes are dynamic (see TRAPS.md: the dynamo ONNX exporter may freeze the time axis of recurrent "
          "layers; verification at other lengths catches it). Metric: val top-1.",
)
