"""Recipe data: scikit-learn's digits (real, ships with the package, offline) and procedurally generated images.

Every function returns a :class:`~edgekit.training.recipe.Data` whose ``train`` and ``val`` dicts hold the model's
inputs under the input names (so ``Data.train`` doubles as calibration data for quantization) plus task keys:
``labels`` (class ids), ``anomaly`` (1 = anomalous), ``clean`` (denoising targets), ``real`` (images a generator
should imitate). Splits are fixed: they depend on :data:`SPLIT_SEED` only, never on the training seed, so every
model of a family is scored on the same validation samples.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from edgekit.core.errors import BadInput
from edgekit.training.recipe import Data

SPLIT_SEED = 0
"""Seed of every split and generated data set."""

DIGITS_VAL = 360
"""Validation samples taken from the 1,797 digits (20 %, stratified by class)."""

LAYOUTS = ("flat", "image", "rows")
"""Digits layouts: ``flat`` (N, 64), ``image`` (N, 1, 8, 8), ``rows`` (N, 8 steps, 8 features)."""


@functools.lru_cache(maxsize=1)
def _digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The digits as (x_train, y_train, x_val, y_val); images (N, 8, 8) scaled to [0, 1]."""
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]
    from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=DIGITS_VAL, random_state=SPLIT_SEED, stratify=y)
    for a in (x_tr, x_va, y_tr, y_va):
        a.setflags(write=False)  # cached and shared: callers get copies from _layout
    return x_tr, y_tr, x_va, y_va


def _layout(images: np.ndarray, layout: str) -> np.ndarray:
    if layout == "flat":
        return images.reshape(len(images), 64).copy()
    if layout == "image":
        return images.reshape(len(images), 1, 8, 8).copy()
    if layout == "rows":
        return images.copy()
    raise BadInput(f"unknown digits layout '{layout}'; expected one of {', '.join(LAYOUTS)}")


def digits_classification(name: str = "x", layout: str = "image") -> Data:
    """Digits for a classifier: ``{name: images, "labels": int64}`` (1,437 train / 360 val).

    Args:
        name: the model's input name.
        layout: one of :data:`LAYOUTS`.
    """
    x_tr, y_tr, x_va, y_va = _digits_split()
    return Data(
        train={name: _layout(x_tr, layout), "labels": y_tr.copy()},
        val={name: _layout(x_va, layout), "labels": y_va.copy()},
    )


def digits_anomaly(name: str = "x", layout: str = "flat", normal: Sequence[int] = (0, 1, 2, 3, 4)) -> Data:
    """Digits for anomaly detection: train holds only the ``normal`` classes; val holds every class, with
    ``anomaly`` = 1 for the others. ``labels`` (the digit) is kept in both for analysis.

    Raises:
        BadInput: ``normal`` is empty or not a proper subset of 0-9.
    """
    normal_set = sorted(set(int(c) for c in normal))
    if not normal_set or not set(normal_set) < set(range(10)):
        raise BadInput(f"normal classes must be a non-empty proper subset of 0-9, got {list(normal)}")
    x_tr, y_tr, x_va, y_va = _digits_split()
    keep = np.isin(y_tr, normal_set)
    return Data(
        train={
            name: _layout(x_tr[keep], layout),
            "labels": y_tr[keep].copy(),
            "anomaly": np.zeros(int(keep.sum()), np.int64),
        },
        val={
            name: _layout(x_va, layout),
            "labels": y_va.copy(),
            "anomaly": (~np.isin(y_va, normal_set)).astype(np.int64),
        },
    )


def digits_denoise(name: str = "noisy", layout: str = "image", noise_std: float = 0.3) -> Data:
    """Digits with additive Gaussian noise (clipped to [0, 1]): ``{name: noisy, "clean": clean}``.

    The noise is fixed (seeded); a training loop may draw fresh noise from ``clean`` each step.
    """
    x_tr, _, x_va, _ = _digits_split()
    rng = np.random.default_rng(SPLIT_SEED)
    out = []
    for clean in (_layout(x_tr, layout), _layout(x_va, layout)):
        noisy = np.clip(clean + noise_std * rng.standard_normal(clean.shape), 0.0, 1.0).astype(np.float32)
        out.append({name: noisy, "clean": clean})
    return Data(train=out[0], val=out[1])


def digits_generation(name: str = "z", latent: int = 16, n_val: int = 360) -> Data:
    """Noise vectors and the real digits a generator imitates.

    ``train``: ``{name: z (1437, latent), "real": (1437, 1, 8, 8), "labels"}``; ``val``: ``{name: z (n_val, latent),
    "real": (360, 1, 8, 8), "labels"}``. The z arrays are fixed standard-normal draws (calibration data and a
    fixed evaluation set); training draws fresh noise.
    """
    x_tr, y_tr, x_va, y_va = _digits_split()
    rng = np.random.default_rng(SPLIT_SEED)
    z_tr = rng.standard_normal((len(x_tr), latent)).astype(np.float32)
    z_va = rng.standard_normal((n_val, latent)).astype(np.float32)
    return Data(
        train={name: z_tr, "real": _layout(x_tr, "image"), "labels": y_tr.copy()},
        val={name: z_va, "real": _layout(x_va, "image"), "labels": y_va.copy()},
    )


# -- generated industrial-defect images --------------------------------------------------------------------------


def defect_images(name: str = "x", n_train: int = 2000, n_val: int = 400, size: int = 32) -> Data:
    """Procedural surface-inspection images: ``{name: (N, 1, size, size) float32 in [0, 1], "labels"}``,
    label 1 = defect (a scratch or a spot), 0 = ok; half of each split is defective.

    Every image is a brushed-metal-like texture (random oriented gratings, a lighting gradient, sensor noise);
    defects are thin line segments (scratches) or small blobs (spots, pits), brighter or darker than the
    surface, with random position, size and contrast, some of them faint.
    """
    rng = np.random.default_rng(SPLIT_SEED + 1)
    x_tr, y_tr = _defect_set(rng, n_train, size)
    x_va, y_va = _defect_set(rng, n_val, size)
    return Data(train={name: x_tr, "labels": y_tr}, val={name: x_va, "labels": y_va})


def _defect_set(rng: np.random.Generator, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.permutation(np.arange(n) % 2).astype(np.int64)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    images = np.empty((n, 1, size, size), np.float32)
    for i in range(n):
        img = _texture(rng, xx, yy)
        if labels[i]:
            img = img + _defect(rng, xx * size, yy * size)
        images[i, 0] = np.clip(img, 0.0, 1.0)
    return images, labels


def _texture(rng: np.random.Generator, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    base = rng.uniform(0.35, 0.65)
    img = np.full_like(xx, base)
    angle = rng.uniform(0, np.pi)  # brushing direction, shared by the gratings
    for _ in range(3):
        a = angle + rng.normal(0, 0.15)
        freq = rng.uniform(4, 14)
        img += rng.uniform(0.01, 0.05) * np.sin(
            2 * np.pi * freq * (xx * np.cos(a) + yy * np.sin(a)) + rng.uniform(0, 2 * np.pi)
        )
    img += rng.uniform(-0.08, 0.08) * (xx - 0.5) + rng.uniform(-0.08, 0.08) * (yy - 0.5)
    return img + rng.normal(0, rng.uniform(0.01, 0.03), xx.shape)


def _defect(rng: np.random.Generator, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    size = px.shape[0]
    sign = rng.choice([-1.0, 1.0])
    contrast = rng.uniform(0.12, 0.35)
    if rng.random() < 0.5:  # scratch: distance to a line segment, soft 1-2 px profile
        x0, y0 = rng.uniform(4, size - 4, 2)
        length, a = rng.uniform(size * 0.25, size * 0.7), rng.uniform(0, np.pi)
        dx, dy = np.cos(a) * length, np.sin(a) * length
        t = np.clip(((px - x0) * dx + (py - y0) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
        dist = np.hypot(px - (x0 + t * dx), py - (y0 + t * dy))
        width = rng.uniform(0.5, 1.0)
        return sign * contrast * np.exp(-0.5 * (dist / width) ** 2)
    cx, cy = rng.uniform(3, size - 3, 2)  # spot
    radius = rng.uniform(1.0, 2.5)
    return sign * (contrast + 0.05) * np.exp(-0.5 * ((px - cx) ** 2 + (py - cy) ** 2) / radius**2)
