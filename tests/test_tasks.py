"""Metrics on hand-made arrays, batched evaluation, and short training runs of each task."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]

from edgekit.core.errors import BadInput
from edgekit.core.spec import InputSpec
from edgekit.training import tasks
from edgekit.training.data import digits_generation
from edgekit.training.recipe import Data, Recipe, get_recipe
from edgekit.training.train import eager_predict, seed_everything

# -- metrics -----------------------------------------------------------------------------------------------------


def test_top1_on_hand_made_logits() -> None:
    logits = np.array([[0.1, 0.9, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 5.0], [1.0, 3.0, 2.0]])
    assert tasks.top1(logits, np.array([1, 0, 2, 2])) == 0.75


def test_auroc_hand_made() -> None:
    assert tasks.auroc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])) == 1.0
    assert tasks.auroc(np.array([0.9, 0.8, 0.2, 0.1]), np.array([0, 0, 1, 1])) == 0.0
    assert tasks.auroc(np.array([0.5, 0.5, 0.5, 0.5]), np.array([0, 1, 0, 1])) == 0.5  # ties count half


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_matches_sklearn_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.standard_normal(300) + labels, 1)  # rounding makes many ties
    assert tasks.auroc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_auroc_needs_both_classes() -> None:
    with pytest.raises(BadInput, match="both classes"):
        tasks.auroc(np.array([0.1, 0.2]), np.array([1, 1]))


def test_psnr_and_mse() -> None:
    a = np.zeros((4, 8), np.float32)
    assert tasks.mse(a, a + 0.1) == pytest.approx(0.01)
    assert tasks.psnr(a, a + 0.1) == pytest.approx(20.0)
    assert tasks.psnr(a, a + 0.5, data_range=2.0) == pytest.approx(10 * math.log10(4 / 0.25))
    assert tasks.psnr(a, a) == tasks.PSNR_CAP


def test_class_score_ranks_real_digits_above_a_single_mode() -> None:
    d = digits_generation()
    real = tasks.class_score(d.val["real"], d.train["real"], d.train["labels"])
    one_mode = tasks.class_score(np.repeat(d.val["real"][:1], 100, axis=0), d.train["real"], d.train["labels"])
    assert real > 5.0
    assert one_mode == pytest.approx(1.0, abs=1e-6)


def test_predict_batched_splits_and_concatenates_in_order() -> None:
    seen: list[int] = []

    def predict(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        seen.append(len(feed["x"]))
        assert set(feed) == {"x"}
        return {"y": feed["x"] * 2, "n": np.full(len(feed["x"]), len(feed["x"]))}

    arrays: dict[str, np.ndarray] = {"x": np.arange(600, dtype=np.float32), "labels": np.zeros(600)}
    out = tasks.predict_batched(predict, arrays, ["x"], batch_size=256)
    assert seen == [256, 256, 88]
    np.testing.assert_array_equal(out["y"], np.arange(600) * 2)


def test_calibration_batches_hold_only_model_inputs() -> None:
    recipe = get_recipe("cnn")
    batches = list(tasks.calibration_batches(recipe.data(), recipe, batch_size=32, limit=3))
    assert len(batches) == 3
    assert all(set(b) == {"x"} and b["x"].shape == (32, 1, 8, 8) for b in batches)


# -- short training ----------------------------------------------------------------------------------------------


def _with(recipe: Recipe, **task_fields: object) -> Recipe:
    """The recipe with a fresh task instance (tasks keep a loss history)."""
    task: Any = recipe.task
    return dataclasses.replace(recipe, task=dataclasses.replace(task, **task_fields))


def _score(recipe: Recipe, model: torch.nn.Module, data: Data) -> dict[str, float]:
    return recipe.task.evaluate(eager_predict(model, recipe), data, recipe)


def test_classification_short_training_learns() -> None:
    recipe = _with(get_recipe("mlp"))
    data = recipe.data()
    seed_everything(0)
    model = recipe.build()
    before = _score(recipe, model, data)["top1"]
    recipe.task.train(model, data, recipe, epochs=3)
    after = _score(recipe, model, data)["top1"]
    assert before < 0.3 and after > 0.8
    history = recipe.task.history  # type: ignore[attr-defined]
    assert len(history) == 3 and history[-1] < history[0]


def test_autoencoder_short_training_lowers_reconstruction_error() -> None:
    recipe = _with(get_recipe("autoencoder"))
    data = recipe.data()
    seed_everything(0)
    model = recipe.build()
    before = _score(recipe, model, data)
    recipe.task.train(model, data, recipe, epochs=5)
    after = _score(recipe, model, data)
    assert after["recon_mse"] < before["recon_mse"]
    assert 0.0 <= after["auroc"] <= 1.0


def test_anomaly_score_output_is_the_reconstruction_error() -> None:
    recipe = get_recipe("autoencoder")
    x = recipe.data().val["x"][:5]
    out = eager_predict(recipe.build(), recipe)({"x": x})
    np.testing.assert_allclose(out["score"], ((out["reconstruction"] - x) ** 2).mean(axis=1), rtol=1e-5)


def test_vae_deploys_a_deterministic_path_and_trains() -> None:
    recipe = _with(get_recipe("vae"))
    data = recipe.data()
    seed_everything(0)
    model = recipe.build()
    before = _score(recipe, model, data)["recon_mse"]
    recipe.task.train(model, data, recipe, epochs=3)
    predict = eager_predict(model, recipe)
    feed = {"x": data.val["x"][:16]}
    first, second = predict(feed), predict(feed)
    np.testing.assert_array_equal(first["reconstruction"], second["reconstruction"])
    assert first["latent_mean"].shape == (16, 8)
    assert _score(recipe, model, data)["recon_mse"] < before


def test_vae_task_refuses_a_module_without_encode_decode() -> None:
    recipe = get_recipe("vae")
    with pytest.raises(BadInput, match="encode"):
        recipe.task.train(torch.nn.Identity(), recipe.data(), recipe, epochs=1)


def test_denoise_short_training_lowers_loss() -> None:
    recipe = _with(get_recipe("denoise"))
    seed_everything(0)
    model = recipe.build()
    recipe.task.train(model, recipe.data(), recipe, epochs=3)
    history = recipe.task.history  # type: ignore[attr-defined]
    assert history[-1] < history[0]


def test_generator_trains_and_scores_against_a_reference() -> None:
    recipe = _with(get_recipe("gan"))
    data = recipe.data()
    seed_everything(0)
    model = recipe.build()
    names_before = set(model.state_dict())
    recipe.task.train(model, data, recipe, epochs=1)
    assert set(model.state_dict()) == names_before  # the discriminator stays in the task
    predict = eager_predict(model, recipe)
    metrics = recipe.task.evaluate(predict, data, recipe, reference=predict)
    assert metrics["psnr_vs_eager"] == tasks.PSNR_CAP
    assert 1.0 <= metrics["digit_score"] <= 10.0 and metrics["nn_mse"] > 0.0


def test_missing_task_keys_are_bad_input() -> None:
    recipe = get_recipe("cnn")
    data = recipe.data()
    broken = Data(train={"x": data.train["x"]}, val=data.val)
    with pytest.raises(BadInput, match="labels"):
        recipe.task.train(recipe.build(), broken, recipe, epochs=1)


def test_multi_input_classification() -> None:
    """Tasks feed every declared input, by name and in order."""

    class TwoInputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = torch.nn.Linear(3, 2), torch.nn.Linear(4, 2)

        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return self.a(a) + self.b(b)

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((200, 3)).astype(np.float32), rng.standard_normal((200, 4)).astype(np.float32)
    labels = (a[:, 0] + b[:, 1] > 0).astype(np.int64)
    split: dict[str, np.ndarray] = {"a": a, "b": b, "labels": labels}
    recipe = Recipe(
        "two",
        "two inputs",
        TwoInputs,
        (InputSpec("a", (1, 3)), InputSpec("b", (1, 4))),
        ("logits",),
        lambda: Data(split, split),
        tasks.Classification(epochs=30, lr=0.05),
    )
    seed_everything(0)
    model = TwoInputs()
    recipe.task.train(model, recipe.data(), recipe)
    assert _score(recipe, model, recipe.data())["top1"] > 0.9


def test_set_training_handles_exported_graph_modules() -> None:
    """Quantization trains pt2e-prepared graph modules, which refuse .train(): dropout must switch anyway."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.5))
    graph = torch.export.export(model, (torch.randn(2, 4),)).module()
    x = torch.ones(2, 4)
    tasks.set_training(graph, True)
    assert not torch.equal(graph(x), graph(x))
    tasks.set_training(graph, False)
    assert torch.equal(graph(x), graph(x))
