"""mlp: a multilayer perceptron classifying the 8x8 digits, flattened to 64 features."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgekit.core.spec import InputSpec
from edgekit.training.data import digits_classification
from edgekit.training.recipe import Data, Recipe
from edgekit.training.tasks import Classification

if TYPE_CHECKING:
    from torch import nn


def build() -> nn.Module:
    from recipes._blocks import mlp_classifier

    return mlp_classifier(features=64, hidden=128, classes=10)


def data() -> Data:
    return digits_classification("x", layout="flat")


RECIPE = Recipe(
    name="mlp",
    description="MLP digits classifier: (B, 64) pixels -> 10 logits",
    build=build,
    inputs=(InputSpec("x", (1, 64)),),
    outputs=("logits",),
    data=data,
    task=Classification(epochs=30, lr=3e-3),
    atol=1e-4,
    rtol=1e-3,
    extra={"gate": 0.93},  # what full training must reach (a ceiling where lower is better)
    notes="scikit-learn digits (1,437 train / 360 val), pixels scaled to [0, 1]; metric: val top-1.",
)
