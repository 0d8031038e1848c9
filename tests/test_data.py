"""Recipe data: digits splits and layouts, anomaly/denoise/generation views, generated defect images."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.core.errors import BadInput
from edgekit.training import data


def test_digits_split_is_fixed_stratified_and_scaled() -> None:
    a, b = data.digits_classification("x", "image"), data.digits_classification("x", "image")
    assert a.train["x"].shape == (1437, 1, 8, 8) and a.val["x"].shape == (360, 1, 8, 8)
    assert a.train["x"].dtype == np.float32 and a.train["labels"].dtype == np.int64
    np.testing.assert_array_equal(a.val["x"], b.val["x"])
    np.testing.assert_array_equal(a.train["labels"], b.train["labels"])
    assert 0.0 <= a.train["x"].min() and a.train["x"].max() <= 1.0
    counts = np.bincount(a.val["labels"], minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38  # stratified: ~36 per class


def test_digits_layouts_hold_the_same_pixels() -> None:
    flat = data.digits_classification("x", "flat").val["x"]
    rows = data.digits_classification("x", "rows").val["x"]
    image = data.digits_classification("img", "image").val["img"]
    assert flat.shape == (360, 64) and rows.shape == (360, 8, 8)
    np.testing.assert_array_equal(flat, rows.reshape(360, 64))
    np.testing.assert_array_equal(rows, image[:, 0])


def test_returned_arrays_are_copies() -> None:
    a = data.digits_classification("x", "rows")
    a.train["x"][:] = 0
    assert data.digits_classification("x", "rows").train["x"].max() > 0


def test_unknown_layout_is_bad_input() -> None:
    with pytest.raises(BadInput, match="layout"):
        data.digits_classification("x", "grid")


def test_digits_anomaly_trains_on_normal_classes_only() -> None:
    d = data.digits_anomaly("x", "flat", normal=(0, 1, 2))
    assert set(np.unique(d.train["labels"])) == {0, 1, 2}
    assert not d.train["anomaly"].any()
    np.testing.assert_array_equal(d.val["anomaly"], ~np.isin(d.val["labels"], [0, 1, 2]))
    assert d.val["x"].shape == (360, 64)


@pytest.mark.parametrize("normal", [(), tuple(range(10)), (3, 11)])
def test_digits_anomaly_refuses_bad_normal_sets(normal: tuple[int, ...]) -> None:
    with pytest.raises(BadInput, match="normal classes"):
        data.digits_anomaly(normal=normal)


def test_digits_denoise_noise_is_fixed_and_clipped() -> None:
    d = data.digits_denoise("noisy", noise_std=0.3)
    assert d.val["noisy"].shape == d.val["clean"].shape == (360, 1, 8, 8)
    assert d.val["noisy"].min() >= 0.0 and d.val["noisy"].max() <= 1.0
    diff = d.val["noisy"] - d.val["clean"]
    assert 0.15 < diff.std() < 0.3  # std 0.3 before clipping
    np.testing.assert_array_equal(d.val["noisy"], data.digits_denoise("noisy", noise_std=0.3).val["noisy"])


def test_digits_generation_shapes() -> None:
    d = data.digits_generation("z", latent=16, n_val=100)
    assert d.train["z"].shape == (1437, 16) and d.val["z"].shape == (100, 16)
    assert d.train["real"].shape == (1437, 1, 8, 8) and d.val["real"].shape == (360, 1, 8, 8)
    assert d.train["z"].dtype == np.float32


def test_defect_images_are_balanced_bounded_and_reproducible() -> None:
    a = data.defect_images("x", n_train=40, n_val=20, size=24)
    b = data.defect_images("x", n_train=40, n_val=20, size=24)
    assert a.train["x"].shape == (40, 1, 24, 24) and a.val["x"].shape == (20, 1, 24, 24)
    assert a.train["x"].dtype == np.float32 and 0.0 <= a.train["x"].min() and a.train["x"].max() <= 1.0
    assert a.train["labels"].sum() == 20 and a.val["labels"].sum() == 10
    np.testing.assert_array_equal(a.train["x"], b.train["x"])


def test_defects_stand_out_from_the_texture() -> None:
    """A defect is a local extreme: the largest deviation from the image's median is bigger on defective
    images than on ok ones, on average (the texture alone varies by a few hundredths)."""
    d = data.defect_images("x", n_train=200, n_val=2)
    x, y = d.train["x"].reshape(200, -1), d.train["labels"]
    peak = np.abs(x - np.median(x, axis=1, keepdims=True)).max(axis=1)
    assert peak[y == 1].mean() > 1.5 * peak[y == 0].mean()
