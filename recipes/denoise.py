"""denoise: a small convolutional denoising autoencoder on 8x8 digits with Gaussian noise (std 0.3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgekit.core.spec import InputSpec
from edgekit.training.data import digits_denoise
from edgekit.training.recipe import Data, Recipe
from edgekit.training.tasks import Denoise

if TYPE_CHECKING:
    from torch import nn

NOISE_STD = 0.3


def build() -> nn.Module:
    from recipes._blocks import denoise_autoencoder

    return denoise_autoencoder(width=16)


def data() -> Data:
    return digits_denoise("noisy", layout="image", noise_std=NOISE_STD)


RECIPE = Recipe(
    name="denoise",
    description="conv denoising autoencoder: (B, 1, 8, 8) noisy image -> (B, 1, 8, 8) denoised",
    build=build,
    inputs=(InputSpec("noisy", (1, 1, 8, 8)),),
    outputs=("denoised",),
    data=data,
    task=Denoise(epochs=30, lr=3e-3, noise_std=NOISE_STD),
    atol=1e-4,
    rtol=1e-3,
    extra={"gate": 15.0},  # what full training must reach (a ceiling where lower is better)
    notes="Conv -> strided Conv (8x8 -> 4x4) -> ConvTranspose (-> 8x8) -> Conv -> sigmoid. Training re-noises "
    "clean digits every step (std 0.3, clipped to [0, 1]); validation uses fixed noise. Metric: psnr of "
    "denoised vs clean (psnr_noisy is the input's, the baseline).",
)
