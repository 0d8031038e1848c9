"""dcgan: a DCGAN-style generator (ConvTranspose + BatchNorm) mapping noise to 8x8 digit images."""

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
    from recipes._blocks import dcgan_generator

    return dcgan_generator(latent=LATENT, width=32)


def discriminator() -> nn.Module:
    from recipes._blocks import conv_discriminator

    return conv_discriminator(width=16)


def data() -> Data:
    return digits_generation("z", latent=LATENT)


RECIPE = Recipe(
    name="dcgan",
    description="DCGAN generator: (B, 16) noise -> ConvTranspose/BatchNorm -> (B, 1, 8, 8) image in [0, 1]",
    build=build,
    inputs=(InputSpec("z", (1, LATENT)),),
    outputs=("image",),
    data=data,
    task=Generator(discriminator=discriminator, epochs=20, lr=2e-3),
    atol=1e-4,
    rtol=1e-3,
    extra={"gate": 3.0},  # what full training must reach (a ceiling where lower is better)
    notes="z is reshaped to (B, 16, 1, 1) inside the model; two ConvTranspose2d + BatchNorm2d + ReLU stages "
    "(1x1 -> 4x4 -> 8x8), a 3x3 Conv and a sigmoid. BatchNorm uses running statistics in eval mode. The "
    "convolutional discriminator is training-only. Metrics as for gan.",
)
