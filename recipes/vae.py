"""vae: a variational autoencoder on 8x8 digits, deployed as its deterministic path (encoder mean -> decoder)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgekit.core.spec import InputSpec
from edgekit.training.data import digits_classification
from edgekit.training.recipe import Data, Recipe
from edgekit.training.tasks import VAE

if TYPE_CHECKING:
    from torch import nn


def build() -> nn.Module:
    from recipes._blocks import DigitsVAE

    return DigitsVAE(hidden=128, latent=8)


def data() -> Data:
    return digits_classification("x", layout="image")


RECIPE = Recipe(
    name="vae",
    description="VAE, deterministic path: (B, 1, 8, 8) image -> (reconstruction, latent_mean)",
    build=build,
    inputs=(InputSpec("x", (1, 1, 8, 8)),),
    outputs=("reconstruction", "latent_mean"),
    data=data,
    task=VAE(epochs=60, lr=3e-3),
    atol=1e-4,
    rtol=1e-3,
    extra={"gate": 0.04},  # what full training must reach (a ceiling where lower is better)
    notes="forward() decodes the encoder's mean: no sampling, so eager is deterministic and exports verify "
    "exactly. The reparameterized sample (mean + std * noise) exists only in the training loss (ELBO: "
    "Bernoulli likelihood + KL). latent_mean is the 8-d embedding. Metric: val recon_mse (lower is better).",
)
