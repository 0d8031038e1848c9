"""autoencoder: an MLP autoencoder that scores anomalies by reconstruction error (trained on digits 0-4 only;
digits 5-9 are the anomalies)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgekit.core.spec import InputSpec
from edgekit.training.data import digits_anomaly
from edgekit.training.recipe import Data, Recipe
from edgekit.training.tasks import AnomalyReconstruction

if TYPE_CHECKING:
    from torch import nn

NORMAL = (0, 1, 2, 3, 4)


def build() -> nn.Module:
    from recipes._blocks import AnomalyAutoencoder

    return AnomalyAutoencoder(features=64, hidden=32, code=8)


def data() -> Data:
    return digits_anomaly("x", layout="flat", normal=NORMAL)


RECIPE = Recipe(
    name="autoencoder",
    description="anomaly autoencoder: (B, 64) pixels -> (reconstruction, per-sample anomaly score)",
    build=build,
    inputs=(InputSpec("x", (1, 64)),),
    outputs=("reconstruction", "score"),
    data=data,
    task=AnomalyReconstruction(epochs=80, lr=3e-3),
    atol=1e-4,
    rtol=1e-3,
    extra={"gate": 0.85},  # what full training must reach (a ceiling where lower is better)
    notes="Trained with MSE on digits 0-4 only; at validation every digit is scored and 5-9 count as anomalies. "
    "The model itself outputs the score (mean squared reconstruction error per sample), so a deployed "
    "artifact thresholds it directly. Metrics: auroc (headline) and recon_mse on normal val samples.",
)
