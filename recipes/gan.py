"""gan: an MLP generator (noise z -> 8x8 digit image), trained adversarially; only the generator deploys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgekit.core.spec import InputSpec
from edgekit.training.data import digits_generation
from edgekit.training.recipe import Data, Recipe
from edgekit.training.tasks import Generator

if TYPE_CHECKING:
    from torch import nn

LATENT = 16


def build() -> nn.Module:
    from recipes._blocks import mlp_generator

    return mlp_generator(latent=LATENT, hidden=128)


def discriminator() -> nn.Module:
    from recipes._blocks import mlp_discriminator

    return mlp_discriminator(hidden=128)


def data() -> Data:
    return digits_generation("z", latent=LATENT)


RECIPE = Recipe(
    name="gan",
    description="MLP GAN generator: (B, 16) noise -> (B, 1, 8, 8) digit image in [0, 1]",
    build=build,
    inputs=(InputSpec("z", (1, LATENT)),),
    outputs=("image",),
    data=data,
    task=Generator(discriminator=discriminator, epochs=100, lr=2e-3),
    atol=1e-4,
    rtol=1e-3,
    extra={"gate": 3.0},  # what full training must reach (a ceiling where lower is better)
    notes="The discriminator (an MLP) exists only during training and is not exported. The noise is an input, "
    "so the deployed generator is deterministic. Metrics: digit_score (1-10, an Inception-score analogue "
    "with a frozen logistic-regression digits classifier), nn_mse, and psnr_vs_eager against a reference.",
)
