"""Fixtures for the INT8 tests: small trained checkpoints (seconds on a CPU) and tiny models of each shape
family (conv+BN, ConvTranspose, recurrent, attention) as user factory files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

TINY_MODELS = textwrap.dedent('''
    import torch
    from torch import nn


    class ConvNet(nn.Module):
        """Conv-BN-ReLU-MaxPool, Linear: the CNN pattern."""

        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                          nn.MaxPool2d(2))
            self.head = nn.Linear(8 * 4 * 4, 3)

        def forward(self, x):
            return self.head(torch.flatten(self.features(x), 1))


    class Mixed(nn.Module):
        """ConvTranspose + BN, an LSTM and a Linear on 3-D input: every placement rule at once."""

        def __init__(self):
            super().__init__()
            self.up = nn.ConvTranspose2d(4, 4, 2, stride=2)
            self.bn = nn.BatchNorm2d(4)
            self.lstm = nn.LSTM(16, 8, batch_first=True)
            self.proj = nn.Linear(8, 5)

        def forward(self, x):
            y = torch.relu(self.bn(self.up(x)))          # (B, 4, 4, 4)
            seq = y.flatten(2).transpose(1, 2)           # (B, 16, 4)
            seq = seq.reshape(seq.shape[0], 4, 16)       # (B, 4, 16)
            out, _ = self.lstm(seq)
            return self.proj(out)                        # Linear on (B, T, 8)


    class NormOnly(nn.Module):
        """Nothing an INT8 quantizer can take."""

        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm(6)

        def forward(self, x):
            return self.norm(x) * 2


    def conv_net():
        return ConvNet()


    def mixed():
        return Mixed()


    def norm_only():
        return NormOnly()
''')


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A factory file with ConvNet, Mixed and NormOnly, in a folder whose path holds a space."""
    folder = tmp_path_factory.mktemp("tiny models")
    path = folder / "tiny.py"
    path.write_text(TINY_MODELS)
    return path


@pytest.fixture(scope="session")
def mlp_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mlp recipe trained for 3 epochs (about a second)."""
    from edgekit.training.recipe import get_recipe
    from edgekit.training.train import save_checkpoint, train_recipe

    model, metrics = train_recipe(get_recipe("mlp"), epochs=3, seed=0)
    return save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "mlp.pt", "mlp", metrics)


@pytest.fixture(scope="session")
def mlp_fp32(mlp_checkpoint: Path):  # type: ignore[no-untyped-def]
    """(LoadedModel, recipe, data) for the trained mlp."""
    from edgekit.intake.load import load_model

    loaded = load_model("mlp", checkpoint=mlp_checkpoint)
    return loaded, loaded.recipe, loaded.recipe.data()
