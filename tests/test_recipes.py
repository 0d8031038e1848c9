"""Every shipped recipe: builds, runs its example inputs and the verification shapes, matches its data, and
(slow) trains to its quality gate. Also train_recipe / save_checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from edgekit.core.errors import BadInput
from edgekit.core.model import FlatOutputs, flatten_outputs
from edgekit.core.spec import random_inputs, shape_plan
from edgekit.training.recipe import Recipe, get_recipe, recipe_names
from edgekit.training.train import eager_predict, save_checkpoint, train_recipe

FAMILIES = [
    "autoencoder",
    "cnn",
    "dcgan",
    "defect",
    "denoise",
    "gan",
    "gru",
    "lstm",
    "mlp",
    "rnn",
    "transformer",
    "vae",
]
SEQUENCE_FAMILIES = ["gru", "lstm", "rnn", "transformer"]


def _run(recipe: Recipe, module: torch.nn.Module, feed: dict[str, np.ndarray]) -> list[torch.Tensor]:
    with torch.inference_mode():
        return flatten_outputs(module(*(torch.from_numpy(feed[s.name]) for s in recipe.inputs)))


def test_every_family_has_a_recipe() -> None:
    assert recipe_names() == FAMILIES


@pytest.mark.parametrize("name", FAMILIES)
def test_recipe_is_well_formed(name: str) -> None:
    recipe = get_recipe(name)
    assert recipe.name == name and recipe.description and recipe.notes
    assert recipe.outputs and len(set(recipe.outputs)) == len(recipe.outputs)
    assert all(0 in s.dynamic for s in recipe.inputs)
    assert 0 < recipe.atol <= 1e-3 and 0 < recipe.rtol <= 1e-2
    assert isinstance(recipe.extra.get("gate"), float)
    assert recipe.task.metric and isinstance(recipe.task.higher_is_better, bool)


@pytest.mark.parametrize("name", SEQUENCE_FAMILIES)
def test_sequence_recipes_have_a_dynamic_time_axis(name: str) -> None:
    (spec,) = get_recipe(name).inputs
    assert spec.dynamic == (0, 1) and spec.shape == (1, 8, 8)


@pytest.mark.parametrize("name", FAMILIES)
def test_recipe_runs_its_example_and_verification_shapes(name: str) -> None:
    recipe = get_recipe(name)
    torch.manual_seed(0)
    module = recipe.build().eval()
    for sizes in shape_plan(recipe.inputs):
        feed = random_inputs(recipe.inputs, sizes)
        outs = _run(recipe, module, feed)
        assert len(outs) == len(recipe.outputs)
        batch = feed[recipe.inputs[0].name].shape[0]
        assert all(o.shape[0] == batch for o in outs), [tuple(o.shape) for o in outs]
        assert all(torch.isfinite(o).all() for o in outs)
        again = _run(recipe, module, feed)
        assert all(torch.equal(a, b) for a, b in zip(outs, again, strict=True)), "eval mode must be deterministic"


@pytest.mark.parametrize("name", FAMILIES)
def test_recipe_data_matches_its_inputs(name: str) -> None:
    recipe = get_recipe(name)
    data = recipe.data()
    for split in (data.train, data.val):
        for spec in recipe.inputs:
            arr = split[spec.name]
            assert str(arr.dtype) == spec.dtype
            assert arr.ndim == len(spec.shape)
            fixed = [i for i in range(arr.ndim) if i not in spec.dynamic]
            assert [arr.shape[i] for i in fixed] == [spec.shape[i] for i in fixed]
        assert 100 <= len(data.val[recipe.inputs[0].name]) <= 500  # a few hundred: evaluation stays fast


@pytest.mark.parametrize("name", FAMILIES)
def test_data_runs_through_the_model(name: str) -> None:
    recipe = get_recipe(name)
    data = recipe.data()
    out = eager_predict(recipe.build(), recipe)({s.name: data.val[s.name][:3] for s in recipe.inputs})
    assert list(out) == list(recipe.outputs)
    metrics = recipe.task.evaluate(eager_predict(recipe.build(), recipe), data, recipe)
    assert recipe.task.metric in metrics and np.isfinite(metrics[recipe.task.metric])


def test_importing_recipes_does_not_import_torch() -> None:
    """Listings import every recipe module: that must stay cheap (torch loads only when a model is built)."""
    code = (
        "import sys; from edgekit.training.recipe import get_recipe, recipe_names\n"
        "[get_recipe(n) for n in recipe_names()]\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


def test_recipe_by_path() -> None:
    path = Path(__file__).parents[1] / "recipes" / "cnn.py"
    assert get_recipe(str(path)).name == "cnn"


def test_train_recipe_is_reproducible_and_checkpoints(tmp_path: Path) -> None:
    recipe = get_recipe("mlp")
    model, metrics = train_recipe(recipe, epochs=1, seed=3, threads=1)
    model2, metrics2 = train_recipe(recipe, epochs=1, seed=3, threads=1)
    assert metrics["top1"] == metrics2["top1"] and metrics["params"] == 17226
    for (k, v), v2 in zip(model.state_dict().items(), model2.state_dict().values(), strict=True):
        assert torch.equal(v, v2), k
    path = save_checkpoint(model, tmp_path / "sub dir" / "mlp.pt", recipe, metrics)
    assert sorted(os.listdir(path.parent)) == ["mlp.pt"]  # no temp file left behind
    saved = torch.load(path, weights_only=True)
    assert saved["recipe"] == "mlp" and saved["metrics"]["top1"] == metrics["top1"]
    fresh = recipe.build()
    fresh.load_state_dict(saved["state_dict"])
    x = recipe.data().val["x"][:8]
    np.testing.assert_array_equal(
        eager_predict(fresh, recipe)({"x": x})["logits"], eager_predict(model, recipe)({"x": x})["logits"]
    )


def test_checkpoint_loads_through_intake(tmp_path: Path) -> None:
    from edgekit.intake.load import load_model

    recipe = get_recipe("rnn")
    model, metrics = train_recipe(recipe, epochs=1, threads=1)
    path = save_checkpoint(model, tmp_path / "rnn.pt", recipe, metrics)
    loaded = load_model("rnn", checkpoint=path)
    assert isinstance(loaded.module, FlatOutputs)
    x = recipe.data().val["x"][:4]
    np.testing.assert_array_equal(loaded.predict({"x": x})["logits"], eager_predict(model, recipe)({"x": x})["logits"])


def test_train_recipe_refuses_bad_arguments() -> None:
    with pytest.raises(BadInput, match="epochs"):
        train_recipe(get_recipe("mlp"), epochs=0)
    with pytest.raises(BadInput, match="threads"):
        train_recipe(get_recipe("mlp"), threads=0)


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_full_training_reaches_the_gate(name: str) -> None:
    recipe = get_recipe(name)
    _, metrics = train_recipe(recipe, seed=0)
    value, gate = metrics[recipe.task.metric], recipe.extra["gate"]
    print(
        f"{name}: {recipe.task.metric}={value:.4f} (gate {gate}) in {metrics['train_seconds']:.1f}s, "
        f"{int(metrics['params'])} params"
    )
    if recipe.task.higher_is_better:
        assert value >= gate
    else:
        assert value <= gate
    if name == "cnn":
        assert value >= 0.95
    if name in ("lstm", "gru"):
        assert value >= 0.90
