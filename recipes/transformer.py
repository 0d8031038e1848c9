"""transformer: a small encoder classifier (nn.TransformerEncoder, 2 layers, d_model 32) reading digit rows as
tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgekit.core.spec import InputSpec
from edgekit.training.data import digits_classification
from edgekit.training.recipe import Data, Recipe
from edgekit.training.tasks import Classification

if TYPE_CHECKING:
    from torch import nn


def build() -> nn.Module:
    from recipes._blocks import TransformerClassifier

    return TransformerClassifier(features=8, d_model=32, heads=4, layers=2, ff=64, classes=10, max_len=64)


def data() -> Data:
    return digits_classification("x", layout="rows")


RECIPE = Recipe(
    name="transformer",
    description="Transformer encoder classifier: (B, T, 8) digit rows as tokens -> 10 logits",
    build=build,
    inputs=(InputSpec("x", (1, 8, 8), dynamic=(0, 1)),),
    outputs=("logits",),
    data=data,
    task=Classification(epochs=40, lr=3e-3),
    atol=1e-4,
    rtol=1e-3,
    extra={"gate": 0.9},  # what full training must reach (a ceiling where lower is better)
    notes="Each of the 8 digit rows is a token (8 pixels -> Linear to d_model 32) plus a learned position "
    "embedding (up to 64 tokens, so the sequence axis is dynamic up to 64); 2 post-norm encoder layers, "
    "4 heads, mean-pooled. Eager eval may take PyTorch's fused encoder fast path; exports use the math "
    "path. Metric: val top-1.",
)
