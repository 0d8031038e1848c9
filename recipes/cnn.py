"""cnn: a small convolutional digits classifier (Conv-BN-ReLU x2, max-pool, two Linear) on 1x8x8 images."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgekit.core.spec import InputSpec
from edgekit.training.data import digits_classification
from edgekit.training.recipe import Data, Recipe
from edgekit.training.tasks import Classification

if TYPE_CHECKING:
    from torch import nn


def build() -> nn.Module:
    from recipes._blocks import digits_cnn

    return digits_cnn(classes=10)


def data() -> Data:
    return digits_classification("x", layout="image")


RECIPE = Recipe(
    name="cnn",
    description="CNN digits classifier: (B, 1, 8, 8) image -> 10 logits",
    build=build,
    inputs=(InputSpec("x", (1, 1, 8, 8)),),
    outputs=("logits",),
    data=data,
    task=Classification(epochs=25, lr=3e-3),
    atol=1e-4,
    rtol=1e-3,
    extra={"gate": 0.95},  # what full training must reach (a ceiling where lower is better)
    notes="scikit-learn digits (1,437 train / 360 val), pixels in [0, 1]; BatchNorm runs on running statistics "
    "in eval mode (exports fold or keep it); metric: val top-1.",
)
