"""defect: the small industrial defect-detector CNN, on procedurally generated surface images."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgekit.core.spec import InputSpec
from edgekit.training.data import defect_images
from edgekit.training.recipe import Data, Recipe
from edgekit.training.tasks import Classification

if TYPE_CHECKING:
    from torch import nn


def build() -> nn.Module:
    from recipes._blocks import defect_cnn

    return defect_cnn(classes=2)


def data() -> Data:
    return defect_images("x", n_train=2000, n_val=400, size=32)


RECIPE = Recipe(
    name="defect",
    description="defect-detector CNN: (B, 1, 32, 32) surface image -> logits (ok, defect)",
    build=build,
    inputs=(InputSpec("x", (1, 1, 32, 32)),),
    outputs=("logits",),
    data=data,
    task=Classification(epochs=8, lr=3e-3),
    atol=1e-4,
    rtol=1e-3,
    extra={"gate": 0.95},  # what full training must reach (a ceiling where lower is better)
    notes="Generated data (edgekit.training.data.defect_images, fixed seed): brushed-metal textures, half of them "
    "with a "
    "scratch or a spot of random contrast; 2,000 train / 400 val. Global max-pool head, so any input size "
    ">= 4x4 runs. Metric: val top-1 (ok vs defect).",
)
