"""Shared fixtures: user model files written into folders whose paths contain spaces (as Ultralytics does)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

USER_MODELS = textwrap.dedent('''
    import torch
    from torch import nn


    class TwoHead(nn.Module):
        """Two inputs, two outputs (a dict): a family no recipe covers."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.fc = nn.Linear(8 + 4, 5)

        def forward(self, image, meta):
            f = self.conv(image).relu().mean((2, 3))
            return {"logits": self.fc(torch.cat([f, meta], 1)), "feat": f}


    def two_head():
        return TwoHead()


    class Tagger(nn.Module):
        """Token ids in, per-token tags out: an int64 input and a dynamic sequence axis."""

        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(50, 16)
            self.gru = nn.GRU(16, 16, batch_first=True)
            self.out = nn.Linear(16, 4)

        def forward(self, ids):
            h, _ = self.gru(self.emb(ids))
            return self.out(h)


    def tagger():
        return Tagger()


    def example_inputs():
        return (torch.randn(1, 3, 16, 16), torch.randn(1, 4))


    def not_a_module():
        return 42


    class Noisy(nn.Module):
        """Samples in forward (like a VAE's reparameterization): eager itself is random."""

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            mu = self.fc(x)
            return mu + torch.randn_like(mu)


    def noisy():
        return Noisy()


    class Unsupported(nn.Module):
        def forward(self, x):
            return torch.linalg.svd(x)[1]


    def unsupported():
        return Unsupported()
''')


@pytest.fixture()
def spaced_dir(tmp_path: Path) -> Path:
    d = tmp_path / "my models dir"
    d.mkdir()
    return d


@pytest.fixture()
def user_models(spaced_dir: Path) -> Path:
    """A user's model file (path with spaces) with several factories and ``example_inputs()``."""
    path = spaced_dir / "user_models.py"
    path.write_text(USER_MODELS)
    return path
