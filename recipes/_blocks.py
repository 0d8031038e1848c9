"""nn building blocks of the shipped recipes.

Every module here is export-friendly by construction: eval mode is deterministic, ``forward`` never samples,
has no data-dependent Python control flow, and reads sizes only from its input's shape (so batch and sequence
axes stay dynamic). Recurrent layers are ``batch_first`` with initial states created from the input's batch size,
never packed sequences.
"""

from __future__ import annotations

import torch
from torch import nn


def mlp_classifier(features: int = 64, hidden: int = 128, classes: int = 10) -> nn.Module:
    """Two hidden layers, ReLU, dropout: (B, features) -> logits (B, classes)."""
    return nn.Sequential(
        nn.Linear(features, hidden),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(hidden, hidden // 2),
        nn.ReLU(),
        nn.Linear(hidden // 2, classes),
    )


def digits_cnn(classes: int = 10) -> nn.Module:
    """Conv-BN-ReLU x2, max-pool, two Linear: (B, 1, 8, 8) -> logits (B, classes)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(64, classes),
    )


def defect_cnn(classes: int = 2) -> nn.Module:
    """Three Conv-BN-ReLU stages (the first strided, the second max-pooled), then a global max-pool (a defect is
    small: its strongest response matters, not the average) and a Linear head: (B, 1, H, W) -> logits
    (B, classes), any H, W >= 4."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, stride=2, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
        nn.Linear(64, classes),
    )


class RecurrentClassifier(nn.Module):
    """An RNN, LSTM or GRU over (B, T, features), classifying from the last step's output.

    Args:
        cell: ``rnn``, ``lstm`` or ``gru``.
        features, hidden, classes, layers: sizes.
    """

    def __init__(self, cell: str, features: int = 8, hidden: int = 64, classes: int = 10, layers: int = 1) -> None:
        super().__init__()
        kinds: dict[str, type[nn.Module]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
        self.cell = cell
        self.hidden = hidden
        self.layers = layers
        self.rnn = kinds[cell](features, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # explicit zero states sized from the input: exporters then keep the batch axis dynamic
        h0 = x.new_zeros(self.layers, x.shape[0], self.hidden)
        if self.cell == "lstm":
            out, _ = self.rnn(x, (h0, torch.zeros_like(h0)))
        else:
            out, _ = self.rnn(x, h0)
        return self.head(out[:, -1])


class TransformerClassifier(nn.Module):
    """Tokens (B, T, features) -> Linear embedding + learned positions -> ``nn.TransformerEncoder`` ->
    mean over tokens -> logits. T may vary up to ``max_len``."""

    def __init__(
        self,
        features: int = 8,
        d_model: int = 32,
        heads: int = 4,
        layers: int = 2,
        ff: int = 64,
        classes: int = 10,
        max_len: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(features, d_model)
        self.pos = nn.Parameter(torch.randn(1, max_len, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout=dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x) + self.pos[:, : x.shape[1]]
        return self.head(self.encoder(h).mean(dim=1))


def mlp_generator(latent: int = 16, hidden: int = 128) -> nn.Module:
    """z (B, latent) -> image (B, 1, 8, 8) in [0, 1]."""
    return nn.Sequential(
        nn.Linear(latent, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, 2 * hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(2 * hidden, 64),
        nn.Sigmoid(),
        nn.Unflatten(1, (1, 8, 8)),
    )


def mlp_discriminator(hidden: int = 128) -> nn.Module:
    """Image (B, 1, 8, 8) -> one logit per sample (B, 1). Training only; never exported."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Linear(hidden, 1))


def dcgan_generator(latent: int = 16, width: int = 64) -> nn.Module:
    """z (B, latent) -> (B, latent, 1, 1) -> ConvTranspose-BN-ReLU to 4x4 and 8x8 -> Conv -> image in [0, 1]."""
    return nn.Sequential(
        nn.Unflatten(1, (latent, 1, 1)),
        nn.ConvTranspose2d(latent, width, 4, 1, 0, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
        nn.BatchNorm2d(width // 2),
        nn.ReLU(),
        nn.Conv2d(width // 2, 1, 3, padding=1),
        nn.Sigmoid(),
    )


def conv_discriminator(width: int = 32) -> nn.Module:
    """Image (B, 1, 8, 8) -> one logit per sample (B, 1). Training only; never exported."""
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, 2, 1),
        nn.LeakyReLU(0.2),
        nn.Dropout(0.3),
        nn.Flatten(),
        nn.Linear(2 * width * 16, 1),
    )


class AnomalyAutoencoder(nn.Module):
    """(B, features) -> (reconstruction, score): an MLP autoencoder with a bottleneck; ``score`` is each sample's
    mean squared reconstruction error, the anomaly score, computed inside the model so every backend emits it."""

    def __init__(self, features: int = 64, hidden: int = 32, code: int = 8) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, code), nn.ReLU())
        self.decoder = nn.Sequential(nn.Linear(code, hidden), nn.ReLU(), nn.Linear(hidden, features), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        recon = self.decoder(self.encoder(x))
        return recon, (recon - x).pow(2).mean(dim=1)


class DigitsVAE(nn.Module):
    """MLP VAE on (B, 1, 8, 8) images. ``forward`` is the deployed deterministic path: the encoder's mean,
    decoded -- (reconstruction, latent_mean). ``encode``/``decode_logits`` serve the ELBO in training."""

    def __init__(self, hidden: int = 128, latent: int = 8) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU())
        self.mean = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        self.decoder = nn.Sequential(
            nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, 64), nn.Unflatten(1, (1, 8, 8))
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.mean(h), self.logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.mean(self.encoder(x))
        return self.decode(mean), mean


def denoise_autoencoder(width: int = 32) -> nn.Module:
    """Noisy (B, 1, H, W) -> denoised (B, 1, H, W) in [0, 1], H and W even: Conv, strided Conv down,
    ConvTranspose up, Conv out."""
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, 1, 3, padding=1),
        nn.Sigmoid(),
    )
